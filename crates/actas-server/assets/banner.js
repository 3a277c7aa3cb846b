/*
 * actas banner: shows on every page of the host app, while a support agent
 * acts as a customer, who is acting as whom, who approved it, what is
 * allowed, how long is left, and an Exit button.
 *
 *   <script src="https://ACTAS/banner.js" data-token="IMPERSONATION_TOKEN"
 *           data-leave-url="/support/leave" defer></script>
 *
 * The actas base URL is taken from this script's own address. The token is
 * the session's impersonation token; it is sent as a Bearer header to read,
 * heartbeat and end its own session, nothing else. The API answers CORS
 * requests only from origins registered for the app (`--origin`).
 * `data-leave-url` (optional, http or https, resolved against the page) is
 * where "Leave the customer's account" goes once the session has ended;
 * without it that button reloads the page.
 *
 * - A custom element <actas-banner> with a closed shadow root, appended to
 *   <html>; its own styles are !important on :host, which wins over any
 *   !important rule of the page, so host CSS can neither restyle nor hide it.
 *   Its sizes follow the browser's default font size (`all: initial` gives
 *   `medium`), never the page's own font sizes.
 * - The element is a manual popover, so it sits in the top layer above any
 *   z-index, raised again whenever a dialog or popover of the page opens;
 *   while a modal dialog is open the element moves into it, because
 *   everything outside the topmost modal dialog is inert.
 * - Wide screens: one bar that wraps as needed. Phone widths (640 px and
 *   less): a single line whose texts end in an ellipsis rather than wrap,
 *   so its height does not depend on the fonts: the agent, the customer,
 *   the time left, a disclosure button (aria-expanded, aria-controls) for
 *   the approver and the allowed actions, and Exit. Exit is the banner's
 *   first tab stop, and the banner is the page's first (the element is the
 *   first child of <html>, or of the open modal dialog).
 * - Pushes the page down by exactly its own height (padding-top on <body>,
 *   scroll-padding-top on <html>): synchronously after every change that
 *   may change the height (session read, scope, warnings, disclosure, Exit
 *   pending), and from a ResizeObserver for everything else (fonts, width).
 * - Polls the session every second and tells the other tabs at once
 *   (BroadcastChannel) when it ends. Once ended, in every tab, the banner
 *   becomes an opaque panel over the whole viewport (still in the top layer,
 *   above modals) that says why the session ended and offers "Leave the
 *   customer's account"; focus moves to that button and stays in the panel,
 *   so nothing of the customer's page stays readable or usable. The page
 *   offset keeps its last live value under the panel.
 * - Heartbeats at most every 30 s while the agent is active on the page.
 * - Names are set with textContent only.
 * - A step-up (one change asked of a lead, SPEC §10): the latest one of
 *   the session, in words, below the bar: waiting, approved with the time
 *   left to make it, denied with the lead's reason, made, or run out.
 * - A break-glass session (started without a lead's approval, SPEC §10)
 *   says so on a line of its own below the bar, on phones too.
 * - State for scripts and tests, on the element: data-state (loading, live,
 *   ended), data-end-reason, data-account, data-agent, data-approver,
 *   data-allowed, data-countdown, data-warning, data-stepup (the latest
 *   step-up's status), data-breakglass. `actas:session-ended` is
 *   dispatched on window when the session ends.
 */
(function () {
  'use strict';

  var TAG = 'actas-banner';
  var POLL_MS = 1000;
  var HEARTBEAT_MS = 30 * 1000;
  var WARN_MS = 2 * 60 * 1000;
  var REQUEST_TIMEOUT_MS = 8000;

  var script = document.currentScript;
  if (!script || !window.customElements || customElements.get(TAG)) {
    return;
  }
  var token = (script.getAttribute('data-token') || '').trim();
  var base = baseUrl(script.src);
  var claims = decodeClaims(token);
  if (!claims || typeof claims.sid !== 'string' || !base) {
    if (window.console) {
      console.warn('actas banner: data-token is missing or is not an impersonation token');
    }
    return;
  }
  var sid = claims.sid;
  var sessionUrl = base + '/api/v1/sessions/' + encodeURIComponent(sid);
  var leaveUrl = webUrl(script.getAttribute('data-leave-url'));

  var REASONS = {
    ended: 'exited by the agent',
    expired: 'time is up',
    idle_timeout: 'no activity for too long',
    revoked: 'revoked by a lead',
    staff_disabled: "the agent's account was disabled",
    superseded: 'replaced by a new session',
    ticket_closed: 'the ticket was solved or closed',
    customer_revoked: 'the customer withdrew their permission',
    token_refused: 'its token is no longer accepted',
    not_found: 'the session no longer exists'
  };

  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  var HIDDEN =
    'position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;' +
    ' overflow: hidden; clip-path: inset(50%); white-space: nowrap;';

  var CSS = [
    ':host {',
    '  all: initial !important; display: block !important; position: fixed !important;',
    '  inset: 0 0 auto 0 !important; width: 100% !important; max-width: none !important;',
    '  height: auto !important; min-height: 0 !important; max-height: none !important;',
    '  margin: 0 !important; padding: 0 !important; box-sizing: border-box !important;',
    '  overflow: visible !important; visibility: visible !important; opacity: 1 !important;',
    '  transform: none !important; filter: none !important; clip-path: none !important;',
    '  mask: none !important; z-index: 2147483647 !important; pointer-events: auto !important;',
    '  contain: none !important; background: #ffb300 !important; color: #1a1a1a !important;',
    '  border: 0 !important; border-bottom: 4px solid #1a1a1a !important;',
    '  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.35) !important;',
    '}',
    // Ended: an opaque panel over the whole viewport.
    ':host([data-state="ended"]) {',
    '  inset: 0 !important; height: auto !important; overflow: auto !important;',
    '  background: #263238 !important; color: #ffffff !important; border: 0 !important;',
    '  box-shadow: none !important; overscroll-behavior: contain !important;',
    '}',
    '.bar {',
    '  display: block; margin: 0; padding: 8px 16px; color: inherit; background: transparent;',
    '  font: 0.9375em/1.45 ' + FONT + ';',
    '  text-align: left; letter-spacing: normal; word-spacing: normal; text-transform: none;',
    '  visibility: visible; opacity: 1;',
    '}',
    '.row { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 6px 16px; }',
    '.info { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 18px; flex: 1 1 16em; min-width: 0; }',
    '.info span { min-width: 0; overflow-wrap: anywhere; }',
    '.more { display: contents; }',
    '.approver:empty { display: none; }',
    '.badge { font-weight: 800; text-transform: uppercase; letter-spacing: 0.04em; font-size: 0.8667em; }',
    'b { font-weight: 700; }',
    '.countdown { font-variant-numeric: tabular-nums; }',
    '.short, .toggle, .full { display: none; }',
    '.hidden { ' + HIDDEN + ' }',
    'button {',
    '  flex: 0 0 auto; margin: 0; min-height: 36px; padding: 6px 14px; border: 2px solid #1a1a1a;',
    '  border-radius: 4px; background: #1a1a1a; color: #ffffff; cursor: pointer;',
    '  font: 700 1em/1.2 ' + FONT + ';',
    '}',
    'button:hover { background: #3a3a3a; }',
    'button:focus { outline: 3px solid #1a1a1a; outline-offset: 2px; }',
    'button:focus:not(:focus-visible) { outline: none; }',
    '.exit[disabled] { cursor: progress; opacity: 0.8; }',
    '.toggle {',
    '  align-items: center; justify-content: center; min-width: 36px; padding: 0;',
    '  background: transparent; color: #1a1a1a;',
    '}',
    '.toggle:hover { background: rgba(0, 0, 0, 0.12); }',
    '.chev {',
    '  display: block; width: 8px; height: 8px; margin-top: -4px; border: solid currentColor;',
    '  border-width: 0 2.5px 2.5px 0; transform: rotate(45deg);',
    '}',
    '.toggle[aria-expanded="true"] .chev { margin: 4px 0 0; transform: rotate(-135deg); }',
    '.warn { margin-top: 4px; font-weight: 700; overflow-wrap: anywhere; }',
    '.warn:empty { display: none; }',
    '.stepup { margin-top: 4px; padding-top: 4px; border-top: 1px solid rgba(0, 0, 0, 0.3); overflow-wrap: anywhere; }',
    '.stepup:empty { display: none; }',
    '.glass { margin-top: 4px; padding-top: 4px; border-top: 1px solid rgba(0, 0, 0, 0.3); font-weight: 700; overflow-wrap: anywhere; }',
    '.glass:empty { display: none; }',
    // Phones: one line that never wraps; the rest behind the disclosure.
    '.account-short { display: none; }',
    '@media (max-width: 640px) {',
    '  .bar { padding: 6px 8px; font-size: 0.875em; }',
    '  .row { justify-content: flex-start; gap: 4px 6px; }',
    '  .info { display: contents; }',
    '  .badge { display: none; }',
    '  .who {',
    '    order: 1; flex: 1 1 0; display: flex; align-items: baseline; min-width: 0;',
    '    overflow: hidden; white-space: nowrap;',
    '  }',
    '  .who > * { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }',
    // The customer keeps the most room; the agent gives way first.
    '  .who > .agent { flex-shrink: 3; min-width: min(3.5em, 30%); }',
    '  .who > .verb { ' + HIDDEN + ' }',
    '  .who > .account { display: none; }',
    '  .who > .account-short { display: block; }',
    '  .who > .short { display: block; flex: none; margin: 0 0.3em; }',
    '  .time { order: 2; flex: none; white-space: nowrap; }',
    '  .time > .label { ' + HIDDEN + ' }',
    '  .toggle { order: 3; display: inline-flex; min-width: 34px; }',
    '  .exit { order: 4; padding: 4px 10px; }',
    '  .exit > .long { display: none; }',
    '  .exit > .short { display: inline; }',
    '  .more {',
    '    order: 5; flex: 0 0 100%; display: none; margin-top: 2px; padding: 4px 0 0;',
    '    border-top: 1px solid rgba(0, 0, 0, 0.3); overflow-wrap: break-word;',
    '  }',
    '  .more span { overflow-wrap: break-word; }',
    // Open: below the line, the line in full, the approver, the allowed actions.
    '  .open .more { display: block; }',
    '  .more > span { display: block; }',
    '}',
    ':host([data-state="ended"]) .row { display: none; }',
    ':host([data-state="ended"]) .warn, :host([data-state="ended"]) .stepup, :host([data-state="ended"]) .glass { ' + HIDDEN + ' }',
    ':host([data-state="ended"]) .bar {',
    '  display: flex; min-height: 100%; box-sizing: border-box; padding: 24px 20px;',
    '}',
    // Centred while it fits, scrolled from its top when it does not.
    '.ended { width: 100%; max-width: 34em; margin: auto; }',
    '.ended h2 { margin: 0 0 0.6em; font: 800 1.6em/1.25 ' + FONT + '; color: #ffb300; }',
    '.ended p { margin: 0 0 0.8em; overflow-wrap: anywhere; }',
    '.ended .leave {',
    '  margin-top: 0.6em; min-height: 44px; padding: 10px 18px; border-color: #ffb300;',
    '  background: #ffb300; color: #1a1a1a;',
    '}',
    '.ended .leave:hover { background: #ffca4f; }',
    '.ended .leave:focus { outline-color: #ffffff; outline-offset: 3px; }'
  ].join('\n');

  // --- the element -------------------------------------------------------

  var onConnected = null;

  class ActasBanner extends HTMLElement {
    connectedCallback() {
      if (onConnected) {
        onConnected();
      }
    }
  }
  customElements.define(TAG, ActasBanner);

  var host = document.createElement(TAG);
  host.setAttribute('role', 'region');
  host.setAttribute('aria-label', 'Support session in progress');
  host.setAttribute('data-state', 'loading');
  var root = host.attachShadow({ mode: 'closed' });

  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function') {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      appendStyle();
    }
  } else {
    appendStyle();
  }
  function appendStyle() {
    var style = document.createElement('style');
    style.textContent = CSS;
    root.appendChild(style);
  }

  function el(tag, cls, parent) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (parent) {
      parent.appendChild(e);
    }
    return e;
  }
  function text(parent, s) {
    parent.appendChild(document.createTextNode(s));
  }

  host.setAttribute('popover', 'manual');
  var bar = el('div', 'bar', root);
  var row = el('div', 'row', bar);
  var info = el('div', 'info', row);
  var badge = el('span', 'badge', info);
  badge.textContent = 'Support session';
  var who = el('span', 'who', info);
  var agentEl = el('b', 'agent', who);
  var verbEl = el('span', 'verb', who);
  verbEl.textContent = ' is acting as ';
  var verbShort = el('span', 'short', who);
  verbShort.setAttribute('aria-hidden', 'true');
  verbShort.textContent = 'as';
  var accountEl = el('b', 'account', who);
  // Phones: the customer's name alone on the line; the id is in the details.
  var accountShort = el('b', 'account-short', who);
  accountShort.setAttribute('aria-hidden', 'true');
  var timeEl = el('span', 'time', info);
  text(el('span', 'label', timeEl), 'Ends in ');
  var countdownEl = el('b', 'countdown', timeEl);
  countdownEl.setAttribute('role', 'timer');
  countdownEl.textContent = '--:--';
  var moreEl = el('div', 'more', info);
  moreEl.id = 'more';
  // The line in full, for phones, where the line itself is cut short.
  var fullEl = el('span', 'full', moreEl);
  var fullAgent = el('b', '', fullEl);
  text(fullEl, ' is acting as ');
  var fullAccount = el('b', '', fullEl);
  var approverEl = el('span', 'approver', moreEl);
  var allowedEl = el('span', 'allowed', moreEl);
  text(allowedEl, 'Allowed: ');
  var labelsEl = el('span', 'labels', allowedEl);
  // Phones only: the approver and the allowed actions on demand.
  var toggleBtn = el('button', 'toggle', row);
  toggleBtn.type = 'button';
  toggleBtn.setAttribute('aria-expanded', 'false');
  toggleBtn.setAttribute('aria-controls', 'more');
  text(el('span', 'hidden', toggleBtn), 'Approver and allowed actions');
  el('span', 'chev', toggleBtn).setAttribute('aria-hidden', 'true');
  // Exit: last in the tree and on screen, first in the tab order (a
  // positive tabindex counts only inside this shadow root).
  var exitBtn = el('button', 'exit', row);
  exitBtn.type = 'button';
  exitBtn.tabIndex = 1;
  var exitLong = el('span', 'long', exitBtn);
  var exitShort = el('span', 'short', exitBtn);
  exitShort.setAttribute('aria-hidden', 'true');
  exitLabel('Exit support session', 'Exit');
  var warnEl = el('div', 'warn', bar);
  warnEl.setAttribute('aria-live', 'polite');
  warnEl.setAttribute('role', 'status');
  // A step-up (one change asked of a lead) and its answer.
  var stepEl = el('div', 'stepup', bar);
  stepEl.setAttribute('aria-live', 'polite');
  stepEl.setAttribute('role', 'status');
  // Break-glass: nobody approved this session.
  var glassEl = el('div', 'glass', bar);
  var leaveBtn = null;

  function exitLabel(long, short) {
    exitLong.textContent = long;
    exitShort.textContent = short;
    exitBtn.setAttribute('aria-label', long);
  }

  // --- state -------------------------------------------------------------

  var session = null;
  var stepup = null;
  var ended = false;
  var skewMs = 0;
  var lastBeat = 0;
  var polling = false;
  var unreachableSince = 0;
  var timers = [];
  var channel = null;

  function now() {
    return Date.now() + skewMs;
  }

  function setText(node, attr, value) {
    if (node.textContent !== value) {
      node.textContent = value;
    }
    if (attr && host.getAttribute(attr) !== value) {
      host.setAttribute(attr, value);
    }
  }

  function showFull() {
    setText(fullAgent, null, agentEl.textContent);
    setText(fullAccount, null, accountEl.textContent);
  }

  function accountText(name, id) {
    return name && name !== id ? name + ' (' + id + ')' : id;
  }

  // Until the session is read, show what the token says.
  function showClaims() {
    var act = claims.act || {};
    setText(agentEl, 'data-agent', String(act.name || act.sub || 'A support agent'));
    setText(accountEl, 'data-account', String(claims.sub || ''));
    setText(accountShort, null, String(claims.sub || ''));
    var scope = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    setText(labelsEl, 'data-allowed', scope.join(', '));
    setText(approverEl, 'data-approver', '');
    showFull();
    renderClock();
    pushPage();
  }

  function applySession(s) {
    if (ended || !s || typeof s !== 'object') {
      return;
    }
    session = s;
    setText(agentEl, 'data-agent', String(s.agent_name || s.agent || ''));
    setText(accountEl, 'data-account', accountText(s.account_name, String(s.account_id || '')));
    setText(accountShort, null, String(s.account_name || s.account_id || ''));
    // Every approver, in plain words ("approved by Sam Lee", "approved
    // automatically by the support policy, then by Sam Lee").
    var words = typeof s.approved_by === 'string' && s.approved_by ? s.approved_by : '';
    if (!words) {
      words = s.approver === 'policy' ? 'approved by policy' : 'approved by ' + String(s.approver_name || s.approver || '');
    }
    var approver = words.charAt(0).toUpperCase() + words.slice(1);
    setText(approverEl, 'data-approver', approver);
    var labels = (s.scope || []).map(function (a) {
      return String((a && (a.label || a.name)) || '');
    });
    setText(labelsEl, 'data-allowed', labels.join(', '));
    setText(
      glassEl,
      'data-breakglass',
      s.breakglass === true ? 'Break-glass: no lead approved this session; a lead reviews it afterwards.' : ''
    );
    showFull();
    if (s.state === 'ended') {
      end(s.end_reason || 'ended', s.end_note, true);
      return;
    }
    host.setAttribute('data-state', 'live');
    stepup = Array.isArray(s.stepups) && s.stepups.length ? s.stepups[0] : null;
    renderClock();
    pushPage();
  }

  // The latest step-up in words: waiting, approved (with the time left to
  // use it), denied (with the lead's reason), used or run out.
  function stepupWords(x) {
    if (!x || typeof x !== 'object') {
      return '';
    }
    var what = String(x.summary || (x.action && x.action.label) || 'one change');
    var by = x.decided_by ? String(x.decided_by) : 'A lead';
    switch (x.status) {
      case 'pending':
        return 'Waiting for a lead to approve one change: ' + what + '.';
      case 'approved': {
        var useBy = parseTime(x.use_by);
        if (!(useBy - now() > 0)) {
          return 'The approval for one change ran out: ' + what + '.';
        }
        // A fixed time, not a countdown: this line is read out when it changes.
        var at = new Date(useBy - skewMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        return by + ' approved one change: ' + what + '. Make it once, before ' + at + '.';
      }
      case 'denied':
        return by + ' denied one change: ' + what + (x.decision_note ? ' (\u201c' + String(x.decision_note) + '\u201d)' : '') + '.';
      case 'used':
        return 'The approved change was made: ' + what + '. Another one needs a new approval.';
      case 'expired':
        return 'The approval for one change ran out unused: ' + what + '.';
      default:
        return '';
    }
  }

  function parseTime(v) {
    if (typeof v !== 'string') {
      return NaN;
    }
    // Keep milliseconds: not every engine reads nanoseconds.
    return Date.parse(v.replace(/(\.\d{3})\d+/, '$1'));
  }

  function mmss(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(total / 60);
    var sec = total % 60;
    return (m < 10 ? '0' : '') + m + ':' + (sec < 10 ? '0' : '') + sec;
  }

  function renderClock() {
    if (ended) {
      return;
    }
    var endsAt = session ? parseTime(session.ends_at) : (claims.exp || 0) * 1000;
    if (!isFinite(endsAt) || endsAt <= 0) {
      return;
    }
    var left = endsAt - now();
    setText(countdownEl, 'data-countdown', mmss(left));
    var warning = '';
    var idleAt = session ? parseTime(session.idle_deadline) : NaN;
    if (left <= WARN_MS) {
      warning = 'Less than 2 minutes left in this support session.';
    } else if (isFinite(idleAt) && idleAt - now() <= WARN_MS) {
      warning = 'This support session ends within 2 minutes for inactivity. Keep working to keep it open.';
    } else if (unreachableSince && Date.now() - unreachableSince > 5000) {
      warning = 'Cannot reach actas to check this session; retrying.';
    }
    setText(warnEl, 'data-warning', warning);
    setText(stepEl, null, stepupWords(stepup));
    var state = stepup && typeof stepup.status === 'string' ? stepup.status : '';
    if (host.getAttribute('data-stepup') !== state) {
      host.setAttribute('data-stepup', state);
    }
    pushPage();
  }

  function end(reason, note, announce) {
    if (ended) {
      return;
    }
    ended = true;
    timers.forEach(clearInterval);
    timers = [];
    var words = REASONS[reason] || String(reason).replace(/_/g, ' ');
    if (reason === 'revoked' && note) {
      words += ': ' + String(note);
    }
    var line = 'Support session ended (' + words + ')';
    exitBtn.disabled = true;
    showEnded(words);
    host.setAttribute('aria-label', 'Support session ended');
    host.setAttribute('data-state', 'ended');
    host.setAttribute('data-end-reason', String(reason));
    setText(warnEl, 'data-warning', line + '.');
    if (leaveBtn) {
      try {
        leaveBtn.focus({ preventScroll: true });
      } catch (e) {
        /* focus is a nicety */
      }
    }
    if (announce && channel) {
      try {
        channel.postMessage({ type: 'ended', reason: reason, note: note || null });
      } catch (e) {
        /* the other tabs still poll */
      }
    }
    try {
      window.dispatchEvent(new CustomEvent('actas:session-ended', { detail: { session: sid, reason: reason } }));
    } catch (e) {
      /* old browsers */
    }
  }

  // The panel over the whole viewport once the session has ended: why, who
  // was acting as whom, and the way out. The customer's page stays hidden
  // behind it and focus stays in it.
  function showEnded(words) {
    var panel = el('div', 'ended', bar);
    el('h2', '', panel).textContent = 'Support session ended';
    el('p', 'reason', panel).textContent = 'Reason: ' + words + '.';
    var p = el('p', 'who-was', panel);
    el('b', '', p).textContent = agentEl.textContent || 'The support agent';
    text(p, ' was acting as ');
    el('b', '', p).textContent = accountEl.textContent || 'a customer';
    text(p, '.');
    el('p', '', panel).textContent = "The customer's pages stay hidden now that the session is over.";
    leaveBtn = el('button', 'leave', panel);
    leaveBtn.type = 'button';
    leaveBtn.textContent = "Leave the customer's account";
    leaveBtn.addEventListener('click', function () {
      if (leaveUrl) {
        window.location.assign(leaveUrl);
      } else {
        window.location.reload();
      }
    });
    document.addEventListener(
      'focusin',
      function (e) {
        if (e.target !== host && leaveBtn && host.isConnected) {
          try {
            leaveBtn.focus({ preventScroll: true });
          } catch (err) {
            /* focus is a nicety */
          }
        }
      },
      true
    );
  }

  // --- talking to actas --------------------------------------------------

  function call(method, path) {
    var sent = Date.now();
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl
      ? setTimeout(function () {
          ctrl.abort();
        }, REQUEST_TIMEOUT_MS)
      : 0;
    return fetch(sessionUrl + path, {
      method: method,
      headers: { Authorization: 'Bearer ' + token },
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      signal: ctrl ? ctrl.signal : undefined
    }).then(
      function (res) {
        clearTimeout(timer);
        unreachableSince = 0;
        // Correct only a browser clock that is plainly wrong. The Date
        // header has whole seconds and a late answer carries its delay, so
        // small offsets are noise: following them would make the countdown
        // jump back up.
        var date = Date.parse(res.headers.get('date') || '');
        if (isFinite(date)) {
          var received = Date.now();
          var off = date + 500 - (sent + received) / 2;
          if (Math.abs(off) <= 30000) {
            skewMs = 0;
          } else if (Math.abs(off - skewMs) > 5000) {
            skewMs = off;
          }
        }
        return res.json().then(
          function (body) {
            return { status: res.status, body: body };
          },
          function () {
            return { status: res.status, body: null };
          }
        );
      },
      function (err) {
        clearTimeout(timer);
        if (!unreachableSince) {
          unreachableSince = Date.now();
        }
        throw err;
      }
    );
  }

  // 401, 403 and 404 mean this token will never work again.
  function handle(r) {
    if (r.status === 200) {
      applySession(r.body);
    } else if (r.status === 401 || r.status === 403) {
      var endsAt = session ? parseTime(session.ends_at) : (claims.exp || 0) * 1000;
      end(isFinite(endsAt) && now() >= endsAt - 1000 ? 'expired' : 'token_refused', null, true);
    } else if (r.status === 404) {
      end('not_found', null, true);
    }
  }

  function poll() {
    if (ended || polling) {
      return;
    }
    polling = true;
    call('GET', '').then(
      function (r) {
        polling = false;
        handle(r);
      },
      function () {
        polling = false;
      }
    );
  }

  function activity() {
    if (ended || host.getAttribute('data-state') !== 'live') {
      return;
    }
    var t = Date.now();
    if (t - lastBeat < HEARTBEAT_MS) {
      return;
    }
    lastBeat = t;
    call('POST', '/heartbeat').then(
      function (r) {
        if (r.status === 409) {
          poll();
        } else {
          handle(r);
        }
      },
      function () {
        lastBeat = 0;
      }
    );
  }

  exitBtn.addEventListener('click', function () {
    if (ended || exitBtn.disabled) {
      return;
    }
    exitBtn.disabled = true;
    exitLabel('Ending…', 'Ending…');
    pushPage();
    call('POST', '/end').then(
      function (r) {
        if (r.status === 200 && r.body && r.body.state === 'ended') {
          end(r.body.end_reason || 'ended', r.body.end_note, true);
        } else if (r.status === 409) {
          poll();
        } else {
          handle(r);
        }
        if (!ended) {
          exitBtn.disabled = false;
          exitLabel('Exit support session', 'Exit');
          setText(warnEl, 'data-warning', 'The session could not be ended; try again.');
          pushPage();
        }
      },
      function () {
        exitBtn.disabled = false;
        exitLabel('Exit support session', 'Exit');
        setText(warnEl, 'data-warning', 'Cannot reach actas to end the session; try again.');
        pushPage();
      }
    );
  });

  toggleBtn.addEventListener('click', function () {
    var open = toggleBtn.getAttribute('aria-expanded') !== 'true';
    toggleBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
    bar.classList.toggle('open', open);
    pushPage();
  });

  if (typeof BroadcastChannel === 'function') {
    try {
      channel = new BroadcastChannel('actas-session-' + sid);
      channel.onmessage = function (e) {
        var m = e.data || {};
        if (m.type === 'ended') {
          end(String(m.reason || 'ended'), m.note, false);
        }
      };
    } catch (e) {
      channel = null;
    }
  }

  // --- staying on top ----------------------------------------------------

  var modals = [];

  function isModal(d) {
    try {
      return d.isConnected && d.open && d.matches(':modal');
    } catch (e) {
      return false;
    }
  }

  // Everything outside the topmost modal dialog is inert, so while one is
  // open the banner lives inside it; otherwise directly under <html>. It is
  // the first child of either, so that Tab from the top of the page reaches
  // its Exit before anything of the page.
  function place() {
    modals = modals.filter(isModal);
    var open = document.querySelectorAll('dialog[open]');
    for (var i = 0; i < open.length; i++) {
      if (isModal(open[i]) && modals.indexOf(open[i]) < 0) {
        modals.push(open[i]);
      }
    }
    var parent = modals.length ? modals[modals.length - 1] : document.documentElement;
    if (host.parentNode !== parent) {
      parent.insertBefore(host, parent.firstChild);
    }
  }

  function raise() {
    if (typeof host.showPopover !== 'function' || !host.isConnected) {
      return;
    }
    try {
      if (host.matches(':popover-open')) {
        host.hidePopover();
      }
      host.showPopover();
    } catch (e) {
      /* still fixed at the top with the largest z-index */
    }
  }

  onConnected = function () {
    raise();
  };

  function watchTopLayer() {
    new MutationObserver(function (records) {
      var opened = false;
      for (var i = 0; i < records.length; i++) {
        var t = records[i].target;
        if (records[i].type === 'attributes' && t.nodeName === 'DIALOG' && t.hasAttribute('open')) {
          opened = true;
          if (isModal(t)) {
            modals = modals.filter(function (d) {
              return d !== t;
            });
            modals.push(t);
          }
        }
      }
      place();
      if (opened) {
        raise();
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['open'] });
    document.addEventListener(
      'toggle',
      function (e) {
        if (e.target !== host && e.newState === 'open') {
          place();
          raise();
        }
      },
      true
    );
    document.addEventListener('fullscreenchange', raise, true);
  }

  // --- pushing the page down ---------------------------------------------

  var basePadding = null;
  var pushed = -1;

  // The page starts exactly where the banner ends. Called after every change
  // of the banner's content and by a ResizeObserver; once ended, the panel
  // covers everything and the page keeps its last offset.
  function pushPage() {
    var body = document.body;
    if (!body || ended || !host.isConnected) {
      return;
    }
    if (basePadding === null) {
      basePadding = parseFloat(getComputedStyle(body).paddingTop) || 0;
    }
    var h = Math.ceil(host.getBoundingClientRect().height);
    if (h === pushed && body.style.getPropertyPriority('padding-top') === 'important') {
      return;
    }
    pushed = h;
    body.style.setProperty('padding-top', basePadding + h + 'px', 'important');
    document.documentElement.style.setProperty('scroll-padding-top', h + 'px');
  }

  // --- start -------------------------------------------------------------

  function start() {
    document.documentElement.insertBefore(host, document.documentElement.firstChild);
    showClaims();
    place();
    raise();
    watchTopLayer();
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(pushPage).observe(host);
    }
    pushPage();
    ['pointerdown', 'pointermove', 'keydown', 'wheel', 'scroll', 'focus', 'touchstart'].forEach(function (type) {
      window.addEventListener(type, activity, { capture: true, passive: true });
    });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') {
        poll();
      }
    });
    timers.push(setInterval(renderClock, 1000));
    timers.push(setInterval(poll, POLL_MS));
    poll();
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start, { once: true });
  }

  // --- helpers -----------------------------------------------------------

  function baseUrl(src) {
    try {
      var u = new URL(src, document.baseURI);
      u.search = '';
      u.hash = '';
      var path = u.pathname.replace(/\/[^/]*$/, '');
      return u.origin + path;
    } catch (e) {
      return '';
    }
  }

  // An absolute http or https URL, resolved against the page; '' otherwise.
  function webUrl(v) {
    if (!v || !String(v).trim()) {
      return '';
    }
    try {
      var u = new URL(String(v).trim(), document.baseURI);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '';
    } catch (e) {
      return '';
    }
  }

  function decodeClaims(t) {
    try {
      var part = t.split('.')[1];
      var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) {
        b64 += '=';
      }
      var bin = atob(b64);
      var bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) {
        bytes[i] = bin.charCodeAt(i);
      }
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }
})();
