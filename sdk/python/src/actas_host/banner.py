"""The banner's script tag (SPEC §7): one tag on every page of a support session."""

from __future__ import annotations

import html

__all__ = ["BannerTag", "banner_tag"]


class BannerTag(str):
    """Markup that templates must not escape again.

    It has ``__html__``, which Django's ``conditional_escape``, Jinja2 and
    MarkupSafe honour, so ``{{ banner }}`` renders the tag as is.
    """

    def __html__(self) -> str:
        return str(self)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def banner_tag(actas_url: str, token: str, *, leave_url: str | None = "/support/leave") -> BannerTag:
    """``<script src="ACTAS/banner.js" data-token="..." data-leave-url="..." defer></script>``.

    ``actas_url`` is actas's public base URL (as the browser reaches it),
    ``token`` the session's impersonation token, ``leave_url`` where the
    banner's Exit button sends the agent after ending the session (``None``
    leaves it out). Every value is attribute-escaped.
    """
    src = f"{actas_url.rstrip('/')}/banner.js"
    parts = [f'<script src="{_attr(src)}"', f'data-token="{_attr(token)}"']
    if leave_url is not None:
        parts.append(f'data-leave-url="{_attr(leave_url)}"')
    parts.append("defer></script>")
    return BannerTag(" ".join(parts))
