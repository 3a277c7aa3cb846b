// Shared setup of the banner's browser tests: a real actas server on a
// fresh SQLite file (driven through the CLI and the HTTP API), a tiny host
// app serving the fixture pages, and Debian's Chromium through
// playwright-core (which never downloads a browser).

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const screenshots = path.join(root, 'target', 'screenshots');

export const BIN = process.env.ACTAS_BIN || path.join(root, 'target', 'debug', 'actas');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Debian's Chromium, headless, through playwright-core. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export const AGENT_NAME = 'Maria <img src=x onerror=alert(1)>';
export const LEAD_NAME = 'Sam Lee';
export const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
export const TICKET = 'E2E-48192';
export const REASON = 'Customer cannot change the invoice email after the plan change';
export const ACTIONS = ['settings.view', 'invoice_email.update'];
export const LABELS = ['View account settings', 'Update invoice email'];

/** The key-encryption key file beside a test database (see `setup`). */
const kekOf = (db) => path.join(path.dirname(db), 'key-encryption-key');

/** Runs the actas CLI and answers its last line (the printed secret). */
function cli(db, args) {
  const out = execFileSync(BIN, ['--database', db, ...args], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_KEY_ENCRYPTION_KEY_FILE: kekOf(db) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = out.trim().split('\n');
  return lines[lines.length - 1].trim();
}

/** Serves `fixtures/NAME.html?token=...` with the banner's script tag in it. */
function startHostApp(actasBase) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://host.invalid');
    const name = url.pathname.replace(/^\//, '');
    if (!/^[a-z0-9-]+\.html$/.test(name) || !existsSync(path.join(here, 'fixtures', name))) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const token = url.searchParams.get('token') || '';
    const tag = `<script src="${attr(actasBase.value + '/banner.js')}" data-token="${attr(token)}" defer></script>`;
    const html = readFileSync(path.join(here, 'fixtures', name), 'utf8').replace('<!--ACTAS-BANNER-->', tag);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function attr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** Starts `actas serve` on a free port; resolves with its base URL. */
function startActas(db, policy) {
  const args = ['--database', db, 'serve', '--listen', '127.0.0.1:0', ...(policy ? ['--policy', policy] : [])];
  const child = spawn(BIN, args, {
    env: { ...process.env, NO_COLOR: '1', ACTAS_LOG: 'info', ACTAS_KEY_ENCRYPTION_KEY_FILE: kekOf(db) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`actas did not start:\n${log}`)), 20000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      for (const line of log.split('\n')) {
        // eslint-disable-next-line no-control-regex
        const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
        const m = plain.includes('actas is listening') && plain.match(/addr=(127\.0\.0\.1:\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve({ child, base: `http://${m[1]}`, log: () => log });
          return;
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`actas exited with ${code}:\n${log}`));
    });
  });
}

/**
 * Everything the tests need; `close()` stops and removes it all. With
 * `idleMinutes`, actas runs the shipped policy with that idle timeout.
 */
export async function setup({ idleMinutes } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'actas-e2e-'));
  const db = path.join(dir, 'e2e.db');
  mkdirSync(screenshots, { recursive: true });
  let policy = null;
  if (idleMinutes) {
    const shipped = readFileSync(path.join(root, 'crates', 'actas-core', 'src', 'default_policy.toml'), 'utf8');
    const changed = shipped.replace(/^idle_minutes\s*=\s*\d+/m, `idle_minutes = ${idleMinutes}`);
    if (changed === shipped) {
      throw new Error('the shipped policy has no idle_minutes line');
    }
    policy = path.join(dir, 'policy.toml');
    writeFileSync(policy, changed);
  }

  const actasBase = { value: '' };
  const hostServer = await startHostApp(actasBase);
  const hostBase = `http://127.0.0.1:${hostServer.address().port}`;

  cli(db, ['key', 'new-kek', kekOf(db)]);
  const maria = cli(db, ['staff', 'add', 'maria', '--name', AGENT_NAME, '--role', 'agent']);
  const sam = cli(db, ['staff', 'add', 'sam', '--name', LEAD_NAME, '--role', 'lead']);
  const appKey = cli(db, ['app', 'add', 'Acme Billing', '--tickets', '--origin', hostBase]);

  const actas = await startActas(db, policy);
  actasBase.value = actas.base;

  const api = async (method, p, token, body) => {
    const res = await fetch(actas.base + '/api/v1' + p, {
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
  const newSession = async (minutes) => {
    if (live) {
      await api('POST', `/sessions/${live.sid}/end`, maria);
    }
    const body = { ticket: TICKET, reason: REASON, actions: ACTIONS };
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

  const browser = await launchBrowser();

  const close = async () => {
    await browser.close().catch(() => {});
    actas.child.kill('SIGTERM');
    await new Promise((r) => hostServer.close(r));
    rmSync(dir, { recursive: true, force: true });
  };

  return { actas, hostBase, maria, sam, appKey, api, must, newSession, browser, close };
}

/** The fixture page `name` of the host app, with the banner for `token`. */
export function pageUrl(env, name, token) {
  return `${env.hostBase}/${name}.html?token=${encodeURIComponent(token)}`;
}

/** The banner's host element attribute, read in the page. */
export function bannerAttr(page, name) {
  return page.evaluate((n) => document.querySelector('actas-banner')?.getAttribute(n) ?? null, name);
}

/** Waits until the banner's `data-state` is `state`. */
export function waitForState(page, state, timeout = 5000) {
  return page.waitForFunction(
    (s) => document.querySelector('actas-banner')?.getAttribute('data-state') === s,
    state,
    { timeout, polling: 50 },
  );
}

/** What `document.elementFromPoint` finds at the centre of the banner. */
export function topElementAtBanner(page) {
  return page.evaluate(() => {
    const host = document.querySelector('actas-banner');
    const r = host.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { isBanner: hit === host, hit: hit ? hit.tagName.toLowerCase() + (hit.id ? '#' + hit.id : '') : null };
  });
}

/**
 * The banner's shadow tree as Chromium's DevTools protocol sees it (it
 * reaches into closed shadow roots, which page scripts cannot): the tag
 * names of every element and every text.
 */
export async function shadowContent(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root: doc } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    const find = (n) => {
      if (n.nodeName === 'ACTAS-BANNER') {
        return n;
      }
      for (const c of [...(n.children || []), ...(n.shadowRoots || [])]) {
        const f = find(c);
        if (f) {
          return f;
        }
      }
      return null;
    };
    const host = find(doc);
    if (!host || !host.shadowRoots || !host.shadowRoots.length) {
      return null;
    }
    const tags = [];
    const texts = [];
    const walk = (n) => {
      if (n.nodeType === 1) {
        tags.push(n.nodeName.toLowerCase());
      } else if (n.nodeType === 3 && n.nodeValue.trim()) {
        texts.push(n.nodeValue);
      }
      for (const c of [...(n.children || []), ...(n.shadowRoots || [])]) {
        walk(c);
      }
    };
    const shadow = host.shadowRoots[0];
    walk(shadow);
    return { mode: shadow.shadowRootType, tags, texts };
  } finally {
    await cdp.detach();
  }
}

/** The centre of the banner's Exit button, found through DevTools. */
export async function exitButtonCentre(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root: doc } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    let button = null;
    const walk = (n, inBanner) => {
      const here = inBanner || n.nodeName === 'ACTAS-BANNER';
      if (here && n.nodeName === 'BUTTON') {
        button = n;
      }
      for (const c of [...(n.children || []), ...(n.shadowRoots || [])]) {
        walk(c, here);
      }
    };
    walk(doc, false);
    if (!button) {
      throw new Error('the banner has no button');
    }
    const { model } = await cdp.send('DOM.getBoxModel', { backendNodeId: button.backendNodeId });
    const q = model.border;
    return { x: (q[0] + q[2] + q[4] + q[6]) / 4, y: (q[1] + q[3] + q[5] + q[7]) / 4 };
  } finally {
    await cdp.detach();
  }
}

/** The focused node of the accessibility tree: `{role, name}`. */
export async function focusedAccessible(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const focused = nodes
      .filter((n) => n.role?.value !== 'RootWebArea')
      .find((n) => (n.properties || []).some((p) => p.name === 'focused' && p.value.value));
    return focused ? { role: focused.role?.value, name: focused.name?.value } : null;
  } finally {
    await cdp.detach();
  }
}

export function shot(page, name) {
  return page.screenshot({ path: path.join(screenshots, `${name}.png`) });
}

export const DEMO_LOGINS = ['maria', 'jon', 'sam', 'audrey', 'ada', 'bea'];

/** The console password of every demo staff member. */
export const DEMO_PASSWORD = 'actas-demo-password';

/**
 * Signs `login` in to the console at `base` through the sign-in form, as a
 * person would: the labelled fields, then the button. Resolves once the
 * console's home page is shown.
 */
export async function signIn(page, base, login, password = DEMO_PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/', { waitUntil: 'domcontentloaded' }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** How far the page scrolls sideways, in CSS pixels (0 when it does not). */
export function sidewaysScroll(page) {
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

/**
 * How each Acme Billing is started beside `actas demo --host-app URL`: the
 * command (run from the repository root) and its arguments. Each takes
 * ACTAS_URL, ACTAS_APP_ID, ACTAS_APP_KEY, HOST and PORT from its
 * environment. "rust" is the one `actas demo` runs itself.
 */
export const HOST_APPS = {
  rust: null,
  express: () => [process.execPath, ['sdk/typescript/demo/server.mjs']],
  fastapi: () => [
    process.env.ACTAS_HOST_PYTHON || path.join(root, 'target', 'python-sdk-venv', 'bin', 'python'),
    ['sdk/python/demo/app.py'],
  ],
};

/** A TCP port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Ends `child` with SIGTERM, then SIGKILL after 5 s. */
function stopChild(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `actas demo` (actas and Acme Billing on free ports) and reads what
 * it prints: `{actas, billing, hostApp, password, tokens: {maria, jon, sam,
 * audrey, ada}, appKey, api(), output(), stop()}` (`password`: the staff's
 * console password; `api(method, path, login, body)` calls `/api/v1{path}`
 * as that demo staff member and answers `{status, body}`).
 *
 * `hostApp` names the Acme Billing to run (a key of HOST_APPS): "rust" is
 * the demo's own; the others are started here beside
 * `actas demo --host-app`, with the app id and key it printed, and the
 * demo is ready once the host app answers its home page.
 */
export async function startDemo(hostApp = 'rust') {
  if (!(hostApp in HOST_APPS)) {
    throw new Error(`no host app "${hostApp}"; one of ${Object.keys(HOST_APPS).join(', ')}`);
  }
  mkdirSync(screenshots, { recursive: true });
  const command = HOST_APPS[hostApp];
  const where = command ? ['--host-app', `http://127.0.0.1:${await freePort()}`] : ['--app-listen', '127.0.0.1:0'];
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', ...where], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let host = null; // the host app's process, when it is not the demo's own
  let hostOut = '';
  let started = false;
  const output = () =>
    `stdout:\n${out}\nstderr:\n${err}` + (host ? `\n${hostApp} host app output:\n${hostOut}` : '');
  const stop = async () => {
    await stopChild(host);
    await stopChild(child);
  };
  const demo = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`actas demo did not start:\n${output()}`));
    }, 30000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (started) {
        return;
      }
      const actas = out.match(/^actas demo is running at (http:\/\/\S+)/m);
      const billing = out.match(/^Acme Billing, the demo host app, is (?:at|expected at) (http:\/\/[^\s:]+:\d+)/m);
      const key = out.match(/\((app_\S+)\), key: (actas_app_\S+)/);
      if (!actas || !billing || !key) {
        return;
      }
      const tokens = {};
      for (const line of out.split('\n')) {
        const m = line.match(/^ {2}([a-z]+)\s.*\s(\S+)$/);
        if (m && DEMO_LOGINS.includes(m[1]) && !(m[1] in tokens)) {
          tokens[m[1]] = m[2];
        }
      }
      const missing = DEMO_LOGINS.filter((l) => !tokens[l]);
      started = true;
      clearTimeout(timer);
      if (missing.length) {
        stop();
        reject(new Error(`actas demo printed no token for ${missing.join(', ')}:\n${output()}`));
        return;
      }
      const password = out.match(/password[^:\n]*:\s*([^\s)]+)/i);
      const api = async (method, p, login, body) => {
        const res = await fetch(`${actas[1]}/api/v1${p}`, {
          method,
          headers: { authorization: `Bearer ${tokens[login]}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      };
      resolve({
        child,
        actas: actas[1],
        billing: billing[1],
        hostApp,
        password: password ? password[1] : DEMO_PASSWORD,
        tokens,
        appId: key[1],
        appKey: key[2],
        api,
        output,
        stop,
      });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!started) {
        reject(new Error(`actas demo exited with ${code}:\n${output()}`));
      }
    });
  });
  if (!command) {
    return demo;
  }
  const [program, args] = command();
  const { hostname, port } = new URL(demo.billing);
  host = spawn(program, args, {
    cwd: root,
    env: {
      ...process.env,
      ACTAS_URL: demo.actas,
      ACTAS_APP_ID: demo.appId,
      ACTAS_APP_KEY: demo.appKey,
      HOST: hostname,
      PORT: port,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [host.stdout, host.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      hostOut += chunk;
    });
  }
  const deadline = Date.now() + 30000;
  for (;;) {
    if (host.exitCode !== null || host.signalCode !== null) {
      await stop();
      throw new Error(`the ${hostApp} host app exited:\n${output()}`);
    }
    const res = await fetch(`${demo.billing}/`).catch(() => null);
    if (res?.status === 200) {
      return demo;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the ${hostApp} host app did not answer ${demo.billing}/ within 30 s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The centre of the banner's button named `name` (its text or aria-label),
 * found through DevTools, which reach into the closed shadow root; null when
 * there is none or it is not rendered.
 */
export async function bannerButtonCentre(page, name) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root: doc } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    const textOf = (n) =>
      n.nodeType === 3 ? n.nodeValue : [...(n.children || [])].map(textOf).join('');
    const label = (n) => {
      const attrs = n.attributes || [];
      const i = attrs.indexOf('aria-label');
      return i >= 0 && i % 2 === 0 ? attrs[i + 1] : textOf(n).trim();
    };
    let button = null;
    const walk = (n, inBanner) => {
      const here = inBanner || n.nodeName === 'ACTAS-BANNER';
      if (here && n.nodeName === 'BUTTON' && label(n) === name) {
        button = n;
      }
      for (const c of [...(n.children || []), ...(n.shadowRoots || [])]) {
        walk(c, here);
      }
    };
    walk(doc, false);
    if (!button) {
      return null;
    }
    const box = await cdp.send('DOM.getBoxModel', { backendNodeId: button.backendNodeId }).catch(() => null);
    if (!box) {
      return null;
    }
    const q = box.model.border;
    return {
      x: (q[0] + q[2] + q[4] + q[6]) / 4,
      y: (q[1] + q[3] + q[5] + q[7]) / 4,
      width: box.model.width,
      height: box.model.height,
    };
  } finally {
    await cdp.detach();
  }
}

/** The font setups of the layout tests: fontconfig files in e2e/fonts/. */
export const fontsDir = path.join(here, 'fonts');

/**
 * Debian's Chromium, headless, as `launchBrowser` does, but with the system
 * fonts of the fontconfig file `conf` (FONTCONFIG_FILE) only.
 */
export function launchBrowserWithFonts(conf) {
  return chromium.launch({
    executablePath: CHROMIUM,
    env: { ...process.env, FONTCONFIG_FILE: conf },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh database file in `dir` with its own key-encryption key: `{db, kek}`. */
export function newDatabase(dir, name) {
  const db = path.join(dir, `${name}.db`);
  const kek = path.join(dir, `${name}.kek`);
  execFileSync(BIN, ['key', 'new-kek', kek], { stdio: 'ignore' });
  return { db, kek };
}

/** Runs the CLI on the database `d` (see `newDatabase`); answers its standard output. */
export function cliOn(d, args, input) {
  return execFileSync(BIN, ['--database', d.db, ...args], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_KEY_ENCRYPTION_KEY_FILE: d.kek },
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/**
 * `actas serve` on the database `d` with `args` and `env`; resolves with
 * `{child, base, log()}` once it listens, rejects with the log (and the
 * exit `code`) if it exits first.
 */
export function serveOn(d, args, env = {}) {
  const child = spawn(BIN, ['--database', d.db, 'serve', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, NO_COLOR: '1', ACTAS_LOG: 'info', ACTAS_KEY_ENCRYPTION_KEY_FILE: d.kek, ...env },
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
      reject(Object.assign(new Error(`actas exited with ${code}:\n${log}`), { code, log }));
    });
  });
}
