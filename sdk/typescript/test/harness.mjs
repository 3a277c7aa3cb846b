// A real actas server for the tests: a fresh SQLite file set up through
// the CLI (staff, a host app), `actas serve` on a free port, and the HTTP
// API for the staff's side of the flow (ticket, request, approval, start).

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The actas binary: `ACTAS_BIN`, or the workspace's debug build. */
export const BIN = process.env.ACTAS_BIN || path.resolve(here, '..', '..', '..', 'target', 'debug', 'actas');

export const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
export const TICKET = 'TS-48192';
export const REASON = 'Customer cannot change the invoice email after the plan change';
export const AGENT_NAME = 'Maria Lopez';

/** A fresh database file in `dir` with its own key-encryption key. */
function newDatabase(dir, name) {
  const db = path.join(dir, `${name}.db`);
  const kek = path.join(dir, `${name}.kek`);
  execFileSync(BIN, ['key', 'new-kek', kek], { stdio: 'ignore' });
  return { db, kek };
}

/** Runs the CLI on the database `d`; answers its standard output. */
function cliOn(d, args, input) {
  return execFileSync(BIN, ['--database', d.db, ...args], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_KEY_ENCRYPTION_KEY_FILE: d.kek },
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

const lastLine = (out) => out.trim().split('\n').pop().trim();

/** `actas serve` on `d`; resolves with `{child, base, log()}` once it listens. */
function serveOn(d, args = []) {
  const child = spawn(BIN, ['--database', d.db, 'serve', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_LOG: 'info', ACTAS_KEY_ENCRYPTION_KEY_FILE: d.kek },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`actas did not start:\n${log}`)), 20000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      // eslint-disable-next-line no-control-regex
      const m = log.replace(/\x1b\[[0-9;]*m/g, '').match(/actas is listening.*addr=(127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: `http://${m[1]}`, log: () => log });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`actas exited with ${code}:\n${log}`));
    });
  });
}

/**
 * A running actas with Maria (agent), Sam (lead), a host app with the
 * `tickets` permission, and a ticket on acct_42:
 * `{base, appId, appKey, maria, sam, api, must, session, end, cli, close}`.
 */
export async function startActas() {
  const dir = mkdtempSync(path.join(tmpdir(), 'actas-host-'));
  const d = newDatabase(dir, 'actas');
  const maria = lastLine(cliOn(d, ['staff', 'add', 'maria', '--name', AGENT_NAME, '--role', 'agent']));
  const sam = lastLine(cliOn(d, ['staff', 'add', 'sam', '--name', 'Sam Lee', '--role', 'lead']));
  const added = cliOn(d, ['app', 'add', 'Acme Billing', '--tickets', '--origin', 'http://127.0.0.1:3000']);
  const appKey = lastLine(added);
  const appId = added.match(/\b(app_[a-z0-9]+)\b/)?.[1];
  if (!appId) {
    throw new Error(`no app id in:\n${added}`);
  }
  const server = await serveOn(d);
  const base = server.base;

  const api = async (method, p, token, body) => {
    const res = await fetch(`${base}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const must = async (want, method, p, token, body) => {
    const r = await api(method, p, token, body);
    if (r.status !== want) {
      throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r.body;
  };

  await must(201, 'POST', '/tickets', appKey, {
    ref: TICKET,
    account_id: ACCOUNT.id,
    account_name: ACCOUNT.name,
    subject: 'Invoice email cannot be changed',
  });

  let live = null;
  /** Ends Maria's live session, if any, and starts a new one: `{sid, token}`. */
  const session = async (actions = ['settings.view', 'invoice_email.update'], minutes) => {
    if (live) {
      await api('POST', `/sessions/${live.sid}/end`, maria);
    }
    const body = { ticket: TICKET, reason: REASON, actions };
    if (minutes) {
      body.minutes = minutes;
    }
    const req = await must(201, 'POST', '/requests', maria, body);
    if (req.status === 'pending') {
      await must(200, 'POST', `/requests/${req.id}/approve`, sam, {});
    }
    const started = await must(201, 'POST', `/requests/${req.id}/start`, maria, {});
    live = { sid: started.session.id, token: started.token };
    return live;
  };
  /** Maria ends her session `sid`. */
  const end = (sid) => must(200, 'POST', `/sessions/${sid}/end`, maria, {});

  const close = async () => {
    if (server.child.exitCode === null) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return { base, appId, appKey, maria, sam, api, must, session, end, cli: (args, input) => cliOn(d, args, input), log: server.log, close };
}

/** The decoded header (0) or payload (1) of a compact JWS. */
export function part(token, i) {
  return JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString('utf8'));
}

/** `token` with its header, payload or signature replaced. */
export function reencode(token, { header, payload, signature } = {}) {
  const [h, p, s] = token.split('.');
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return [header ? enc(header) : h, payload ? enc(payload) : p, signature ?? s].join('.');
}

/**
 * A tiny HTTP proxy in front of `target` that counts and records what goes
 * through, and can be taken down (`down = true`: every request's
 * connection is dropped) and cut (`cut()`: open connections are dropped).
 */
export async function startProxy(target) {
  const seen = [];
  const sockets = new Set();
  const state = { down: false };
  const server = createServer(async (req, res) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    if (state.down) {
      req.socket.destroy();
      return;
    }
    const chunks = [];
    for await (const c of req) {
      chunks.push(c);
    }
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
      const up = await fetch(target + req.url, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        signal: ac.signal,
      });
      const out = {};
      up.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') {
          out[k] = v;
        }
      });
      res.writeHead(up.status, out);
      res.flushHeaders();
      if (up.body) {
        for await (const c of up.body) {
          res.write(c);
        }
      }
      res.end();
    } catch {
      res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    seen,
    state,
    /** Requests to `path` seen so far. */
    count: (p) => seen.filter((r) => r.url === p || r.url.startsWith(p + '?')).length,
    cut: () => {
      for (const s of sockets) {
        s.destroy();
      }
    },
    close: async () => {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

/** Waits until `check()` is truthy, or fails after `ms`. */
export async function waitFor(what, check, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) {
      return v;
    }
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The next value of an async iterator, or a failure after `ms`. */
export async function next(iterator, ms = 5000, what = 'the next change') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    const r = await Promise.race([iterator.next(), timeout]);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}
