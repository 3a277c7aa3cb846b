/** The banner's `<script>` tag, for the host app's pages during a support session. */

import { escapeHtml } from './guard.js';
import { trimBase } from './http.js';

/** What the banner tag needs. */
export interface BannerOptions {
  /** The actas base URL (the browser loads `{actasUrl}/banner.js`). */
  actasUrl: string;
  /** The session's impersonation token. */
  token: string;
  /**
   * Where "Leave the customer's account" goes once the session has ended
   * (e.g. `/support/leave`); without it that button reloads the page.
   */
  leaveUrl?: string;
  /** A CSP nonce for the tag. */
  nonce?: string;
}

/**
 * `<script src="{actas}/banner.js" data-token="..." data-leave-url="..." defer></script>`,
 * every attribute escaped. Put it in the `<head>` of every page served in a
 * support session (and in no other page). The actas URL must be http or
 * https; the API answers the banner's calls only from origins registered
 * for the app (`actas app add ... --origin`).
 */
export function bannerTag(options: BannerOptions): string {
  let base: URL;
  try {
    base = new URL(trimBase(options.actasUrl) + '/banner.js');
  } catch {
    throw new TypeError(`the actas URL is not a URL: ${options.actasUrl}`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new TypeError(`the actas URL must be http or https, not ${base.protocol}`);
  }
  const attrs: [string, string][] = [
    ['src', base.href],
    ['data-token', options.token],
  ];
  if (options.leaveUrl !== undefined) {
    attrs.push(['data-leave-url', options.leaveUrl]);
  }
  if (options.nonce !== undefined) {
    attrs.push(['nonce', options.nonce]);
  }
  const text = attrs.map(([k, v]) => `${k}="${escapeHtml(v)}"`).join(' ');
  return `<script ${text} defer></script>`;
}
