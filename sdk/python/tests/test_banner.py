"""The banner's script tag: the attributes the demo host app uses, escaped."""

from __future__ import annotations

from actas_host import BannerTag, banner_tag


def test_the_tag_has_the_demo_attributes() -> None:
    tag = banner_tag("https://actas.example.com/", "eyJ.a.b")
    assert tag == (
        '<script src="https://actas.example.com/banner.js" data-token="eyJ.a.b" '
        'data-leave-url="/support/leave" defer></script>'
    )
    assert banner_tag("https://actas.example.com", "t", leave_url=None) == (
        '<script src="https://actas.example.com/banner.js" data-token="t" defer></script>'
    )


def test_every_attribute_is_escaped() -> None:
    tag = banner_tag('https://a.test/"><img src=x onerror=alert(1)>', '"><script>alert(1)</script>', leave_url="/leave?a=1&b='2'")
    assert "<img" not in tag and "<script>alert" not in tag
    assert 'data-token="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in tag
    assert 'data-leave-url="/leave?a=1&amp;b=&#x27;2&#x27;"' in tag
    assert 'src="https://a.test/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;/banner.js"' in tag
    assert tag.count('"') == 6 and tag.count("<") == 2


def test_templates_render_the_tag_as_is() -> None:
    from django.utils.html import conditional_escape

    tag = banner_tag("https://actas.example.com", "a&b")
    assert isinstance(tag, BannerTag) and tag.__html__() == str(tag)
    assert conditional_escape(tag) == tag
    assert 'data-token="a&amp;b"' in conditional_escape(tag)
