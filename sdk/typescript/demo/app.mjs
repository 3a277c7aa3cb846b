// Acme Billing: a small billing SaaS that shows how a host app uses actas,
// through the kit `@actas/host`.
//
// Customers use it as themselves. Support enters through
// `/support/enter?code=...` with a one-time code from the staff console,
// which the kit's middleware exchanges for the session's token; from then on
// every page carries the actas banner, every change and every view of
// sensitive data is asked of actas first (`authorize`), refusals are shown
// in plain words, the activity feed labels what support did, and the
// customer sees who accessed their account and the note actas queued when
// the session ended, and allows support in for some hours or withdraws
// that permission at once (which ends any live support session). Password
// reset values never leave this app.
//
// The accounts live in memory: this is a demo, not a billing system.

import { setTimeout as sleep } from 'node:timers/promises';

import express from 'express';
import { createActas } from '@actas/host';

import { errorPage, landing, pages } from './pages.mjs';

/** The cookie that carries the impersonation token. */
export const TOKEN_COOKIE = 'actas_token';

/** How often customer notes are asked for, in milliseconds. */
const NOTES_EVERY = 1000;

function newAccount(id, name, invoiceEmail, plan) {
  return {
    id,
    name,
    timezone: 'UTC',
    taxId: 'EU123456789',
    invoiceEmail,
    plan,
    invoices: [
      { number: 'INV-1001', amount: '€49.00', status: 'paid' },
      { number: 'INV-1002', amount: '€49.00', status: 'paid' },
      { number: 'INV-1003', amount: '€98.00', status: 'open' },
    ],
    // Sensitive: shown only after actas was asked.
    bankAccount: 'DE89 3704 0044 0532 0130 00',
    // What happened, newest last: { at, text, bySupport }.
    activity: [{ at: '2026-11-20 09:12 UTC', text: 'You changed the plan to Business', bySupport: false }],
    // Notes for the customer from actas.
    inbox: [],
  };
}

/** The demo's customer accounts, by id. */
export function seed() {
  return new Map([
    ['acct_42', newAccount('acct_42', 'Acme Corp', 'billing@acme.test', 'Business')],
    ['acct_7', newAccount('acct_7', 'Globex', 'ap@globex.test', 'Starter')],
    ['acct_99', newAccount('acct_99', 'Initech', 'finance@initech.test', 'Enterprise')],
  ]);
}

/**
 * Acme Billing for the actas at `url`, registered there as `appId` with the
 * key `appKey`: `{ app, stop() }`. It follows the session feed (so a session
 * ended anywhere is refused from the next request on) and delivers customer
 * notes until `stop()`.
 */
export function createDemo({ url, appId, appKey }) {
  const actas = createActas({ url, appId, appKey, token: { cookie: TOKEN_COOKIE }, routes: { landing } });
  const demo = { accounts: seed(), actas };

  const app = express();
  app.disable('x-powered-by');
  // Reads the token, handles /support/enter and /support/leave, sends
  // requests of ended sessions to /support/ended, and sets req.actas.
  app.use(actas.express());
  app.use(pages(demo));
  app.use(errorPage);

  const stopping = new AbortController();
  void deliverNotes(demo, stopping.signal);
  return {
    app,
    stop() {
      stopping.abort();
      actas.close();
    },
  };
}

/**
 * Reads customer notes from actas, puts each in its account's inbox, and
 * tells actas it was delivered; about once a second until `signal` aborts.
 */
async function deliverNotes(demo, signal) {
  const { client } = demo.actas;
  let after = 0;
  while (!signal.aborted) {
    try {
      for (const note of await client.notices(after, { signal })) {
        after = Math.max(after, note.seq);
        if (note.delivered_at) {
          continue;
        }
        demo.accounts.get(note.account_id)?.inbox.push(note.text);
        try {
          await client.noticeDelivered(note.id, { signal });
        } catch (e) {
          if (!signal.aborted) {
            console.warn(`could not acknowledge a customer note: ${e.message}`);
          }
        }
      }
    } catch {
      // actas is unavailable for now: asked again in a second.
    }
    await sleep(NOTES_EVERY, undefined, { signal }).catch(() => {});
  }
}
