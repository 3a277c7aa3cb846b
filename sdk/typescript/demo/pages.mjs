// The pages of Acme Billing.

import express from 'express';
import { ActasProblem, endReasonWords, readEndedPage, refusalWords } from '@actas/host';

import { html, raw } from './html.mjs';

/** A refusal of `authorize`, in the words this app shows its users. */
const REFUSALS = new Map([
  ['not_in_scope', 'this action is not among those approved for the support session'],
  ['session_ended', 'the support session has ended'],
  ['session_expired', 'the support session has expired'],
  ['idle_timeout', 'the support session ended after a period without activity'],
  ['session_revoked', 'a lead revoked the support session'],
  ['staff_disabled', "the support agent's account was disabled"],
  ['ticket_closed', 'the support ticket was solved or closed'],
  ['customer_revoked', 'the customer withdrew their permission for support to access the account'],
  ['wrong_account', 'the support session is for another customer account'],
  ['unknown_action', 'actas does not know this action'],
  ['bad_token', 'the support session token is not valid'],
  ['wrong_app', 'the support session token is not valid'],
]);

/** How long the customer may let support in: the form's values and words. */
const PERMISSION_HOURS = [
  ['1', '1 hour'],
  ['4', '4 hours'],
  ['24', '24 hours'],
];

const CSS =
  'body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}' +
  'header.top{background:#0b3d91;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}' +
  'header.top a{color:#fff}.brand{font-weight:700;text-decoration:none}nav{display:flex;flex-wrap:wrap;gap:.8rem}' +
  'main{padding:1rem;max-width:52rem}form{margin:.8rem 0;padding:.8rem;background:#fff;border:1px solid #d0d7de;border-radius:6px}' +
  'label{display:block;margin:.3rem 0}input,select,textarea{font:inherit;padding:.3rem;max-width:100%;box-sizing:border-box}button{font:inherit;padding:.35rem .8rem}' +
  '.support{color:#8a4b00;font-weight:600}.refusal{background:#ffebe9;border:1px solid #cf222e;padding:.8rem;border-radius:6px}' +
  '.ok{background:#dafbe1;border:1px solid #1a7f37;padding:.8rem;border-radius:6px}table{border-collapse:collapse}.scroll{overflow-x:auto;max-width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}';

/**
 * A change refused as `not_in_scope`, `{ action, target_type, target_id,
 * changes, back }`: what "Ask a lead for this one change" sends, and the
 * page to go back to.
 */
function offerFor(accountId, action, target, changes) {
  return {
    action,
    target_type: target ? target[0] : null,
    target_id: target ? target[1] : null,
    changes,
    back: `/accounts/${encodeURIComponent(accountId)}`,
  };
}

/** `refused` (an answer of `ask`) with "Back to the page" going to `path` once a lead is asked. */
function backTo(refused, path) {
  if (refused?.offer) {
    refused.offer.back = path;
  }
  return refused;
}

/** An offer read back from the form's hidden field, or `null` when it is not one of ours. */
function readOffer(text) {
  let o;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  const isText = (v) => typeof v === 'string';
  const maybeText = (v) => v === undefined || v === null || typeof v === 'string';
  if (
    !o ||
    typeof o !== 'object' ||
    !isText(o.action) ||
    !maybeText(o.target_type) ||
    !maybeText(o.target_id) ||
    !Array.isArray(o.changes) ||
    !isText(o.back) ||
    !o.changes.every((c) => c && typeof c === 'object' && isText(c.field) && maybeText(c.old) && maybeText(c.new))
  ) {
    return null;
  }
  const changes = o.changes.map((c) => {
    const change = { field: c.field };
    if (typeof c.old === 'string') {
      change.old = c.old;
    }
    if (typeof c.new === 'string') {
      change.new = c.new;
    }
    return change;
  });
  return { action: o.action, target_type: o.target_type ?? null, target_id: o.target_id ?? null, changes, back: o.back };
}

/** "plan from Pro to Basic", for the agent. */
function offerWords(offer) {
  const parts = offer.changes.map((c) => {
    const field = c.field.replace(/[_.]/g, ' ');
    if (c.new !== undefined && c.old !== undefined) {
      return `${field} from ${c.old} to ${c.new}`;
    }
    return c.new !== undefined ? `${field} to ${c.new}` : field;
  });
  return parts.length === 0 ? `this change (${offer.action})` : parts.join(', ');
}

/** `today 14:05 UTC`: when something happened, for the activity feed. */
function nowText() {
  return `today ${new Date().toISOString().slice(11, 16)} UTC`;
}

/** `14:05 UTC` of an RFC 3339 time. */
function clock(time) {
  return `${new Date(time).toISOString().slice(11, 16)} UTC`;
}

/** `2026-11-30 14:05` of an RFC 3339 time. */
function dayAndClock(time) {
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ');
}

/** A whole page, with the banner's script tag in `banner` during a support session. */
function layout(title, banner, account, body) {
  return html`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · Acme Billing</title><style>${raw(CSS)}</style>${banner}</head><body><header class="top"><a class="brand" href="/">Acme Billing</a>${account ? accountNav(account) : ''}</header><main><h1>${title}</h1>${body}</main></body></html>`;
}

function accountNav(a) {
  const at = `/accounts/${encodeURIComponent(a.id)}`;
  return html`<nav aria-label="Account"><a href="${at}">Overview</a><a href="${at}/settings">Settings</a><a href="${at}/plan">Plan</a><a href="${at}/invoices">Invoices</a><a href="${at}/bank">Bank details</a><a href="${at}/activity">Activity</a><a href="${at}/access">Who accessed my account</a></nav>`;
}

function send(res, status, page) {
  res.status(status).type('html').send(String(page));
}

/**
 * The last handler of the app: a form the body parser refuses (too large,
 * badly encoded) is the sender's fault (4xx); anything else is this app's
 * (500). Either way the page says that nothing was changed.
 */
// eslint-disable-next-line no-unused-vars
export function errorPage(err, req, res, next) {
  const status = err.status >= 400 && err.status < 500 ? err.status : 500;
  if (status === 500) {
    console.error(`Acme Billing: ${req.method} ${req.path} failed: ${err.stack ?? err}`);
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  const [title, words] =
    status === 500
      ? ['Something went wrong', 'Something went wrong; nothing was changed.']
      : ['Bad request', 'This request could not be read; nothing was changed.'];
  send(res, status, layout(title, '', null, html`<p>${words}</p>`));
}

/** Where support lands: the first page its session may see. */
export function landing(who) {
  const page =
    [
      ['account.view', ''],
      ['settings.view', '/settings'],
      ['invoices.view', '/invoices'],
      ['plan.view', '/plan'],
      ['activity.view', '/activity'],
    ].find(([action]) => who.grants(action))?.[1] ?? '';
  return `/accounts/${encodeURIComponent(who.accountId)}${page}`;
}

/** The routes of the demo: an Express router over the state in `demo`. */
export function pages(demo) {
  const actasUrl = demo.actas.client.base;

  /** A whole page; `who` is the support session, when it is one (it adds the banner). */
  function page(title, who, account, body) {
    return layout(title, who ? raw(demo.actas.bannerTag(who)) : '', account, body);
  }

  /**
   * The page that says actas refused something (403): `refused` is
   * `{ why, offer }`, `why` in plain words and, for a change the session's
   * scope lacks, the `offer` of asking a lead for it.
   */
  function refusal(res, who, account, refused) {
    refusalPage(res, who, account, refused, null, '');
  }

  /**
   * The refusal page; with an offer, the form that asks a lead for the one
   * change (`error` is a refused ask's sentence, then the page is a 422;
   * `reason` what was typed).
   */
  function refusalPage(res, who, account, { why, offer }, error, reason) {
    const body = html`<p class="refusal" id="refusal" role="alert">actas refused this, so nothing was done: ${why}.</p>${
      offer && who
        ? html`<form id="stepup-form" method="post" action="/support/stepup"><h2>Ask a lead for this one change</h2><p>A lead can allow exactly this change, once, within 5 minutes: <strong id="stepup-what">${offerWords(offer)}</strong>.</p>${
            error ? html`<p class="refusal" id="stepup-error" role="alert">${error}</p>` : ''
          }<input type="hidden" name="offer" value="${JSON.stringify(offer)}"><label for="stepup-reason">Why (name what the customer asked for)</label><textarea id="stepup-reason" name="reason" required rows="3" cols="60">${reason}</textarea><p><button type="submit">Ask a lead for this one change</button></p></form>`
        : ''
    }${account ? html`<p><a href="/accounts/${encodeURIComponent(account.id)}">Back to the account</a></p>` : ''}`;
    send(res, error ? 422 : 403, page('Not allowed', who, account, body));
  }

  /**
   * Asks actas when support is acting (customers act for themselves):
   * `null` when the action may go ahead, else `{ why, offer }`: why not, in
   * plain words, and for a change the session's scope lacks, the offer to
   * ask a lead for it. `target` is `[type, id]`.
   */
  async function ask(who, accountId, action, target = null, changes = []) {
    if (!who) {
      return null;
    }
    const options = { target: { account_id: accountId } };
    if (target) {
      options.target.type = target[0];
      options.target.id = target[1];
    }
    if (changes.length > 0) {
      options.changes = changes;
    }
    try {
      // The kit's authorize also makes an answer that the session is over
      // refuse the session's token from the next request on.
      const answer = await demo.actas.authorize(who, action, options);
      if (answer.allowed) {
        return null;
      }
      const why = REFUSALS.get(answer.reason) ?? `actas did not allow it (${answer.reason})`;
      const change = !action.endsWith('.view');
      const offer = answer.reason === 'not_in_scope' && change ? offerFor(accountId, action, target, changes) : null;
      return { why, offer };
    } catch (e) {
      console.warn(`actas did not answer: ${e.message}`);
      return { why: 'actas could not be asked right now', offer: null };
    }
  }

  /**
   * A view: allowed offline when the token grants it, else asked of actas
   * (the scope may have grown, and a refusal is audited).
   */
  function view(who, accountId, action) {
    if (who && who.accountId === accountId && who.grants(action)) {
      return null;
    }
    return ask(who, accountId, action);
  }

  /** Adds a line to the account's activity feed. */
  function record(account, who, what) {
    const text = who ? `${who.agentName} from support, acting for you under ticket ${who.ticket}, ${what}` : `You ${what}`;
    account.activity.push({ at: nowText(), text, bySupport: Boolean(who) });
  }

  /**
   * The fields `names` of a posted form, each given once; `null` when one is
   * missing or the body is no form.
   */
  function formFields(req, names) {
    const fields = {};
    for (const name of names) {
      const value = req.body?.[name];
      if (typeof value !== 'string') {
        return null;
      }
      fields[name] = value;
    }
    return fields;
  }

  function badForm(res, who, account) {
    const body = html`<p class="refusal" role="alert">The form was not filled in as this page expects. Nothing was changed.</p>`;
    send(res, 400, page('Bad request', who, account, body));
  }

  /** Wraps a handler of `/accounts/:id/...`: it gets the account, or a 404 page is sent. */
  function withAccount(handler) {
    return async (req, res) => {
      const account = demo.accounts.get(req.params.id);
      if (!account) {
        const body = html`<p>There is no account ${req.params.id}.</p>`;
        send(res, 404, page('No such account', req.actas, null, body));
        return;
      }
      await handler(req, res, account, req.actas ?? null);
    };
  }

  function methodNotAllowed(req, res) {
    send(res, 405, page('Not allowed here', null, null, html`<p>This page does not take ${req.method} requests.</p>`));
  }

  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  router.get('/', (req, res) => {
    if (req.actas) {
      res.redirect(303, landing(req.actas));
      return;
    }
    const accounts = [...demo.accounts.values()];
    const body = html`<p>Sign in as a customer:</p><ul>${accounts.map(
      (a) => html`<li><a href="/accounts/${encodeURIComponent(a.id)}">${a.name} (${a.id})</a></li>`,
    )}</ul><p>Support enters an account from the actas staff console (<em>Open in the host app</em>), with a one-time code.</p>`;
    send(res, 200, page('Welcome', null, null, body));
  });

  // Where the kit sends an agent whose session ended, who left, or whose
  // entry link was refused: what happened, why, and the way back.
  router.get('/support/ended', async (req, res) => {
    const ended = readEndedPage(req.originalUrl);
    const consoleUrl = (sid) => (sid ? `${actasUrl}/sessions/${encodeURIComponent(sid)}` : `${actasUrl}/`);
    const back = (sid) => html`<p><a id="to-console" href="${consoleUrl(sid)}">Back to the staff console</a></p>`;
    const session = ended.session ? await demo.actas.client.session(ended.session).catch(() => null) : null;
    let title;
    let body;
    if (ended.refused) {
      title = 'Support entry refused';
      body = html`<p id="ended-why" role="alert">${refusalWords(ended.refused)}</p><p>Open the customer's account again from the staff console: each <em>Open in the host app</em> makes a new link.</p>${back(null)}`;
    } else if (session && session.state === 'live') {
      title = "You left the customer's account";
      body = html`<p id="ended-why" role="status">You left ${accountWords(session)}. The support session is still live until ${clock(session.ends_at)}; end it in the staff console when you are done.</p>${back(session.id)}`;
    } else if (session) {
      title = 'Support session ended';
      const note = session.end_note ? ` (\u201c${session.end_note}\u201d)` : '';
      body = html`<p id="ended-why" role="status">The support session on ${accountWords(session)} ended: ${endReasonWords(session.end_reason)}${note}.</p><p>Nothing more can be done in this account under that session. To continue, ask for a new session from the ticket.</p>${back(session.id)}`;
    } else {
      title = 'Support session ended';
      body = html`<p id="ended-why" role="status">The support session has ended.</p>${back(null)}`;
    }
    send(res, 200, page(title, null, null, body));
  });

  // Asks a lead for the one change a refusal offered, with the session's
  // token, in the agent's name.
  router
    .route('/support/stepup')
    .post(form, async (req, res) => {
      const who = req.actas ?? null;
      if (!who) {
        res.redirect(303, '/');
        return;
      }
      const f = formFields(req, ['offer', 'reason']);
      if (!f) {
        return badForm(res, who, null);
      }
      const offer = readOffer(f.offer);
      if (!offer) {
        send(res, 400, page('Not allowed', who, null, html`<p>That form is not one of ours.</p>`));
        return;
      }
      // Only a page of this app, never an address elsewhere.
      const back = offer.back.startsWith('/accounts/') ? offer.back : landing(who);
      const account = demo.accounts.get(who.accountId) ?? null;
      const target = { account_id: who.accountId };
      if (offer.target_type !== null) {
        target.type = offer.target_type;
      }
      if (offer.target_id !== null) {
        target.id = offer.target_id;
      }
      const stepUp = { action: offer.action, target, reason: f.reason };
      if (offer.changes.length > 0) {
        stepUp.changes = offer.changes;
      }
      try {
        await demo.actas.askStepUp(who, stepUp);
      } catch (e) {
        let detail;
        if (e instanceof ActasProblem) {
          detail = e.detail;
        } else {
          console.warn(`actas did not answer: ${e.message}`);
          detail = 'actas could not be asked right now; try again.';
        }
        const refused = { why: REFUSALS.get('not_in_scope'), offer };
        return refusalPage(res, who, account, refused, detail, f.reason);
      }
      const body = html`<p class="ok" id="stepup-asked" role="status">Asked a lead for this one change: <strong>${offerWords(offer)}</strong>. The support banner shows the answer. Once it is approved, make the change again within 5 minutes; it is allowed once.</p><p><a id="stepup-back" href="${back}">Back to the page</a></p>`;
      send(res, 200, page('Asked a lead', who, account, body));
    })
    .all(methodNotAllowed);

  router
    .route('/accounts/:id')
    .get(
      withAccount(async (req, res, a, who) => {
        const refused = await view(who, a.id, 'account.view');
        if (refused) {
          return refusal(res, who, a, refused);
        }
        const body = html`<p>Plan: <strong>${a.plan}</strong></p><p>Invoices go to ${a.invoiceEmail}</p>${
          a.inbox.length > 0
            ? html`<section id="inbox" aria-label="Messages"><h2>Messages</h2>${a.inbox.map((n) => html`<p class="ok">${n}</p>`)}</section>`
            : ''
        }${who ? html`<p><a href="/support/leave">Leave the account</a></p>` : ''}`;
        send(res, 200, page(a.name, who, a, body));
      }),
    )
    .all(methodNotAllowed);

  function settingsPage(res, who, a, notice) {
    const at = `/accounts/${encodeURIComponent(a.id)}`;
    const body = html`${notice ? html`<p class="ok" id="saved" role="status">${notice}</p>` : ''}<form method="post" action="${at}/settings"><h2>Account settings</h2><label>Time zone <input name="timezone" value="${a.timezone}"></label><label>Tax id <input name="tax_id" value="${a.taxId}"></label><button type="submit">Save settings</button></form><form method="post" action="${at}/invoice-email"><h2>Invoice email</h2><label>Send invoices to <input name="invoice_email" type="email" value="${a.invoiceEmail}"></label><button type="submit">Save invoice email</button></form><form method="post" action="${at}/password-reset"><h2>Password</h2><p>Send the account owner a password reset link.</p><button type="submit">Reset password</button></form><form method="post" action="${at}/export"><h2>Export</h2><button type="submit">Export all account data</button></form><button id="open-help" type="button" onclick="document.getElementById('help').showModal()">Open help</button><dialog id="help" aria-label="Help"><p>Settings apply to every user of the account.</p><form method="dialog"><button>Close</button></form></dialog>`;
    send(res, 200, page('Settings', who, a, body));
  }

  router
    .route('/accounts/:id/settings')
    .get(
      withAccount(async (req, res, a, who) => {
        const refused = await view(who, a.id, 'settings.view');
        if (refused) {
          return refusal(res, who, a, refused);
        }
        settingsPage(res, who, a, null);
      }),
    )
    .post(
      form,
      withAccount(async (req, res, a, who) => {
        const f = formFields(req, ['timezone', 'tax_id']);
        if (!f) {
          return badForm(res, who, a);
        }
        const changes = [];
        if (f.timezone !== a.timezone) {
          changes.push({ field: 'timezone', old: a.timezone, new: f.timezone });
        }
        if (f.tax_id !== a.taxId) {
          changes.push({ field: 'tax_id', old: a.taxId, new: f.tax_id });
        }
        const refused = backTo(
          await ask(who, a.id, 'settings.update', ['settings', 'account'], changes),
          `/accounts/${encodeURIComponent(a.id)}/settings`,
        );
        if (refused) {
          return refusal(res, who, a, refused);
        }
        a.timezone = f.timezone;
        a.taxId = f.tax_id;
        record(a, who, 'changed the account settings');
        settingsPage(res, who, a, 'Settings saved.');
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/invoice-email')
    .post(
      form,
      withAccount(async (req, res, a, who) => {
        const f = formFields(req, ['invoice_email']);
        if (!f) {
          return badForm(res, who, a);
        }
        const change = { field: 'invoice_email', old: a.invoiceEmail, new: f.invoice_email };
        const refused = backTo(
          await ask(who, a.id, 'invoice_email.update', ['settings', 'invoice_email'], [change]),
          `/accounts/${encodeURIComponent(a.id)}/settings`,
        );
        if (refused) {
          return refusal(res, who, a, refused);
        }
        a.invoiceEmail = f.invoice_email;
        record(a, who, `changed the invoice email to ${f.invoice_email}`);
        settingsPage(res, who, a, 'Invoice email saved.');
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/plan')
    .get(
      withAccount(async (req, res, a, who) => {
        const refused = await view(who, a.id, 'plan.view');
        if (refused) {
          return refusal(res, who, a, refused);
        }
        const options = ['Starter', 'Business', 'Enterprise'].map(
          (p) => html`<option${p === a.plan ? raw(' selected') : ''}>${p}</option>`,
        );
        const body = html`<p>Current plan: <strong id="plan">${a.plan}</strong></p><form method="post" action="/accounts/${encodeURIComponent(a.id)}/plan"><label>Change to <select name="plan">${options}</select></label><button type="submit">Change plan</button></form>`;
        send(res, 200, page('Plan', who, a, body));
      }),
    )
    .post(
      form,
      withAccount(async (req, res, a, who) => {
        const f = formFields(req, ['plan']);
        if (!f) {
          return badForm(res, who, a);
        }
        const change = { field: 'plan', old: a.plan, new: f.plan };
        const refused = backTo(
          await ask(who, a.id, 'billing.update', ['plan', a.plan], [change]),
          `/accounts/${encodeURIComponent(a.id)}/plan`,
        );
        if (refused) {
          return refusal(res, who, a, refused);
        }
        a.plan = f.plan;
        record(a, who, `changed the plan to ${f.plan}`);
        res.redirect(303, `/accounts/${encodeURIComponent(a.id)}/plan`);
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/invoices')
    .get(
      withAccount(async (req, res, a, who) => {
        const refused = await view(who, a.id, 'invoices.view');
        if (refused) {
          return refusal(res, who, a, refused);
        }
        const rows = a.invoices.map((i) => html`<tr><td>${i.number}</td><td>${i.amount}</td><td>${i.status}</td></tr>`);
        const body = html`<table><thead><tr><th>Invoice</th><th>Amount</th><th>Status</th></tr></thead><tbody>${rows}</tbody></table>`;
        send(res, 200, page('Invoices', who, a, body));
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/bank')
    .get(
      withAccount(async (req, res, a, who) => {
        // Sensitive: always asked, so the view is recorded.
        const refused = await ask(who, a.id, 'sensitive.view', ['bank account', 'primary']);
        if (refused) {
          return refusal(res, who, a, refused);
        }
        send(res, 200, page('Bank details', who, a, html`<p>IBAN: <code>${a.bankAccount}</code></p>`));
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/export')
    .post(
      withAccount(async (req, res, a, who) => {
        const refused = await ask(who, a.id, 'data.export', ['export', 'all data']);
        if (refused) {
          return refusal(res, who, a, refused);
        }
        record(a, who, 'exported the account data');
        const body = html`<p class="ok" id="saved" role="status">The export is being prepared and will be emailed to the account owner.</p>`;
        send(res, 200, page('Export', who, a, body));
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/password-reset')
    .post(
      withAccount(async (req, res, a, who) => {
        // The reset link and any new password stay here: actas hears only that it happened.
        const refused = await ask(who, a.id, 'password.reset', ['user', 'owner'], [{ field: 'password' }]);
        if (refused) {
          return refusal(res, who, a, refused);
        }
        record(a, who, 'sent a password reset link to the account owner');
        const body = html`<p class="ok" id="saved" role="status">A password reset link was sent to the account owner.</p>`;
        send(res, 200, page('Password reset', who, a, body));
      }),
    )
    .all(methodNotAllowed);

  router
    .route('/accounts/:id/activity')
    .get(
      withAccount(async (req, res, a, who) => {
        const refused = await view(who, a.id, 'activity.view');
        if (refused) {
          return refusal(res, who, a, refused);
        }
        const lines = a.activity
          .toReversed()
          .map((e) => html`<li${e.bySupport ? raw(' class="support"') : ''}>${e.at}: ${e.text}</li>`);
        const body = html`<ul id="activity">${lines}</ul>${
          a.inbox.length > 0 ? html`<h2>Messages from support</h2>${a.inbox.map((n) => html`<p class="ok note">${n}</p>`)}` : ''
        }`;
        send(res, 200, page('Activity', who, a, body));
      }),
    )
    .all(methodNotAllowed);

  /** What `?done=` on the access page says after the customer allowed or withdrew support's access. */
  const PERMISSION_DONE = new Map([
    ['allowed', 'You allowed support to access your account.'],
    ['withdrawn', "You withdrew support's access; any live support session ended."],
  ]);

  /**
   * The customer's "Support access" section: whether support may access
   * the account now (the consent read with the app key) and the one form
   * that changes it: allow for some hours, or withdraw at once.
   */
  async function permissionSection(a, done) {
    const at = `/accounts/${encodeURIComponent(a.id)}`;
    const doneText = PERMISSION_DONE.get(done);
    let inner;
    try {
      const consent = await demo.actas.client.consent(a.id);
      if (consent.grant) {
        inner = html`<p id="permission-state">Support may access your account until ${dayAndClock(consent.grant.expires_at)} UTC (allowed by ${consent.grant.granted_by}).</p><form method="post" action="${at}/permission/withdraw"><button type="submit">Withdraw permission now</button></form>`;
      } else {
        const state = consent.required
          ? 'Support cannot access your account unless you allow it.'
          : 'Support may access your account when you ask for help.';
        const options = PERMISSION_HOURS.map(([hours, words]) => html`<option value="${hours}">${words}</option>`);
        inner = html`<p id="permission-state">${state}</p><form method="post" action="${at}/permission"><label for="permission-hours">For how long</label><select id="permission-hours" name="hours">${options}</select> <button type="submit">Allow support to access my account</button></form>`;
      }
    } catch (e) {
      console.warn(`actas did not answer: ${e.message}`);
      inner = html`<p class="refusal" id="permission-state">Whether support may access your account cannot be read right now.</p>`;
    }
    return html`<section id="support-permission" aria-labelledby="support-permission-title"><h2 id="support-permission-title">Support access</h2>${
      doneText ? html`<p class="ok" id="permission-done" role="status">${doneText}</p>` : ''
    }${inner}</section>`;
  }

  /** The refusal of the customer's own pages to a support agent. */
  function forTheCustomer(res, who, a) {
    refusal(res, who, a, { why: 'this page is for the customer', offer: null });
  }

  /** A permission change actas refused or could not take: the page says so; nothing changed. */
  function permissionFailed(res, a, e) {
    let status;
    let words;
    if (e instanceof ActasProblem) {
      status = e.status >= 400 && e.status < 500 ? e.status : 502;
      words = `actas refused this, so nothing was changed: ${e.detail}`;
    } else {
      console.warn(`actas did not answer: ${e.message}`);
      status = 503;
      words = 'actas could not be asked right now, so nothing was changed; try again.';
    }
    const body = html`<p class="refusal" id="refusal" role="alert">${words}</p><p><a href="/accounts/${encodeURIComponent(a.id)}/access">Back to who accessed my account</a></p>`;
    send(res, status, page('Support access', null, a, body));
  }

  /** Only the customer changes whether support may access the account; anything but a POST is not taken. */
  const customerOnly = withAccount(async (req, res, a, who) => {
    if (who) {
      return forTheCustomer(res, who, a);
    }
    methodNotAllowed(req, res);
  });

  router
    .route('/accounts/:id/access')
    .get(
      withAccount(async (req, res, a, who) => {
        if (who) {
          return forTheCustomer(res, who, a);
        }
        let log;
        try {
          const got = await demo.actas.client.accessLog(a.id);
          log = got.entries.length === 0 ? html`<p>Nobody from support has accessed this account.</p>` : accessTable(got.entries);
        } catch {
          log = html`<p class="refusal">The access log cannot be read right now.</p>`;
        }
        const done = typeof req.query.done === 'string' ? req.query.done : '';
        const body = html`${await permissionSection(a, done)}${log}`;
        send(res, 200, page('Who accessed my account', null, a, body));
      }),
    )
    .all(methodNotAllowed);

  // The customer allows support in for some hours ("Allow support to access
  // my account"); actas records the grant.
  router
    .route('/accounts/:id/permission')
    .post(
      form,
      withAccount(async (req, res, a, who) => {
        if (who) {
          return forTheCustomer(res, who, a);
        }
        const f = formFields(req, ['hours']);
        if (!f || !PERMISSION_HOURS.some(([hours]) => hours === f.hours)) {
          return badForm(res, null, a);
        }
        try {
          await demo.actas.client.grantAccess(a.id, { hours: Number(f.hours), grantedBy: a.name });
        } catch (e) {
          return permissionFailed(res, a, e);
        }
        res.redirect(303, `/accounts/${encodeURIComponent(a.id)}/access?done=allowed`);
      }),
    )
    .all(customerOnly);

  // The customer's kill switch: the grant is withdrawn and every live
  // support session on the account ends at once.
  router
    .route('/accounts/:id/permission/withdraw')
    .post(
      withAccount(async (req, res, a, who) => {
        if (who) {
          return forTheCustomer(res, who, a);
        }
        try {
          await demo.actas.client.withdrawAccess(a.id, a.name);
        } catch (e) {
          return permissionFailed(res, a, e);
        }
        res.redirect(303, `/accounts/${encodeURIComponent(a.id)}/access?done=withdrawn`);
      }),
    )
    .all(customerOnly);

  // Any other address.
  router.use((req, res) => {
    send(res, 404, page('Not found', req.actas, null, html`<p>There is no such page.</p>`));
  });

  return router;
}

/** The account's access log, as the customer reads it. */
function accessTable(entries) {
  const rows = entries.map(
    (e) =>
      html`<tr><td>${e.agent_name} (${e.approved_by})</td><td>${dayAndClock(e.started_at)}${
        e.state === 'live' ? ' UTC, in progress' : `\u2013${clock(e.ended_at)}`
      }</td><td>Ticket ${e.ticket}: ${e.reason}</td><td>${e.allowed.join(', ')}</td><td>${
        e.changes.length === 0 ? 'nothing' : e.changes.join('; ')
      }</td></tr>`,
  );
  // Wide: it scrolls inside its box on a narrow screen, never the page.
  return html`<div class="scroll"><table id="access-log"><thead><tr><th>Who</th><th>When</th><th>Why</th><th>Allowed</th><th>Changed</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** `Acme Corp (acct_42)`, or the id alone when the session has no other name for the account. */
function accountWords(session) {
  const name = session.account_name;
  return name && name !== session.account_id ? `${name} (${session.account_id})` : session.account_id;
}
