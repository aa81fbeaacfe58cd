// The browser tests' harness: the real ringcast binary (clients/js/test/server.js: a free port,
// a temporary --data-dir, restartable on the same port and data) serving this checkout's web/
// and SDK, and headless Chromium from Debian (/usr/bin/chromium, or $CHROMIUM) driven by
// playwright-core. Each user is a browser context of its own (its own storage and network).
// Screenshots go to $RINGCAST_SCREENSHOTS (default: build/browser-screenshots/).

import {execFileSync} from 'node:child_process';
import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {after, before} from 'node:test';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

import {RingcastServer} from '../../clients/js/test/server.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS =
    path.resolve(process.env.RINGCAST_SCREENSHOTS ?? path.join(repo, 'build/browser-screenshots'));
export const PASSWORD = 'correct horse battery staple';
/** Bound of every wait: a test fails with what it waited for, never hangs. */
export const WAIT_MS = 10000;

/**
 * The server's flags that serve this checkout's app (web/ and the SDK), and a short presence
 * grace: a closed page is offline (with its last seen) within a second.
 */
export const APP_ARGS = [
  '--web-root', path.join(repo, 'web'), '--sdk-root', path.join(repo, 'clients/js/src'),
  '--presence-grace', '1'
];

// With RINGCAST_BROWSER_PG=1 and RINGCAST_TEST_DATABASE_URL (tools/pgtmp run), each server
// stores in a PostgreSQL database of its own, created here and dropped at dispose().
const pgUrl = process.env.RINGCAST_BROWSER_PG === '1' ? process.env.RINGCAST_TEST_DATABASE_URL : '';
let databases = 0;

/** @param {string[]} [extraArgs] more of the server's flags (a smaller limit, say) */
export async function startServer(extraArgs = []) {
  const store = [];
  let dropDatabase = () => {};
  if (pgUrl) {
    databases += 1;
    const name = `rc_browser_${process.pid}_${databases}`;
    const psql = (sql) =>
        execFileSync('psql', [pgUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {stdio: 'pipe'});
    psql(`CREATE DATABASE ${name} TEMPLATE template0`);
    const url = new URL(pgUrl);
    url.pathname = `/${name}`;
    store.push('--database-url', url.href);
    dropDatabase = () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
  const server = new RingcastServer({args: [...APP_ARGS, ...store, ...extraArgs]});
  const dispose = server.dispose.bind(server);
  server.dispose = async () => {
    await dispose();
    dropDatabase();
  };
  return server.start();
}

const clusterDatabaseUrl = process.env.RINGCAST_TEST_DATABASE_URL;
const clusterRedisUrl = process.env.RINGCAST_TEST_REDIS_URL;
/** Why a cluster test is skipped (false: it runs): it needs a PostgreSQL server and a Redis. */
export const clusterSkip = !(clusterDatabaseUrl && clusterRedisUrl) &&
    'needs RINGCAST_TEST_DATABASE_URL and RINGCAST_TEST_REDIS_URL (tools/pgtmp, redistmp)';

/**
 * Two cluster nodes, n1 and n2, serving the app (APP_ARGS) on one fresh database (named
 * `rc_<name>_<pid>`, dropped by dispose()) of RINGCAST_TEST_DATABASE_URL's server and on
 * RINGCAST_TEST_REDIS_URL, which is emptied first: the keys of an earlier cluster (presence,
 * the registry, busy marks) would be this one's, as user ids restart with every database.
 * @param {string} name @param {string[]} [extraArgs] more flags for both nodes
 * @returns {Promise<{nodes: RingcastServer[], dispose: () => Promise<void>}>}
 */
export async function startClusterNodes(name, extraArgs = []) {
  const database = `rc_${name}_${process.pid}`;
  const psql = (/** @type {string} */ sql) =>
      execFileSync('psql', [String(clusterDatabaseUrl), '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  psql(`CREATE DATABASE ${database} TEMPLATE template0`);
  const url = new URL(String(clusterDatabaseUrl));
  url.pathname = `/${database}`;
  execFileSync('redis-cli', ['-u', String(clusterRedisUrl), 'FLUSHALL']);
  /** @type {RingcastServer[]} */
  const nodes = [];
  const dispose = async () => {
    for (const node of nodes) await node.dispose();
    psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  };
  try {
    for (const id of ['n1', 'n2']) {
      const args = [...APP_ARGS, '--database-url', url.href, '--redis', String(clusterRedisUrl)];
      args.push('--node-id', id, '--jwt-secret', `browser-${name}-cluster-secret-0123456789`);
      nodes.push(await new RingcastServer({args: [...args, ...extraArgs]}).start());
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return {nodes, dispose};
}

/** @param {string[]} [extraArgs] more of Chromium's flags (fake media devices, say) */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // Root (CI containers) cannot use Chromium's sandbox. Playwright gives each launch a
    // temporary profile directory of its own and removes it at close().
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), ...extraArgs],
    timeout: 30000,
  });
}

/** The test file's server and browser (live bindings: set by serveThisFile's before hook). */
export let server;
export let browser;

/**
 * Starts one server (with `extraArgs`) and one browser before the file's tests and stops them
 * after (node:test hooks); the tests read them as `server` and `browser` from this module.
 * @param {string[]} [extraArgs]
 */
export function serveThisFile(extraArgs = []) {
  before(async () => {
    server = await startServer(extraArgs);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.dispose();
  });
}

let counter = 0;
/** A fresh username that sorts by its prefix. @param {string} prefix */
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}${process.pid % 10000}${counter}${Math.random().toString(36).slice(2, 5)}`;
}

/**
 * A user in a browser context of their own, registered through the app's form.
 * @param {import('playwright-core').Browser} browser @param {RingcastServer} server
 * @param {string} username @param {{width: number, height: number}} [viewport]
 */
export async function newUser(browser, server, username, viewport = {
  width: 1100,
  height: 720
}) {
  const context = await browser.newContext({viewport, baseURL: server.baseUrl});
  const link = await routeChat(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(WAIT_MS);
  await page.goto('/');
  await page.fill('#login-username', username);
  await page.fill('#login-password', PASSWORD);
  await page.click('button[data-action=register]');
  await connected(page);
  const userId =
      await page.evaluate(() => JSON.parse(localStorage.getItem('ringcast:session')).user_id);
  return {context, page, username, userId, errors, link, token: () => token(page)};
}

/**
 * newUser for each prefix at once, each with a fresh name (uniqueName).
 * @param {import('playwright-core').Browser} browser @param {RingcastServer} server
 * @param {string[]} prefixes
 */
export function newUsers(browser, server, prefixes) {
  return Promise.all(prefixes.map((n) => newUser(browser, server, uniqueName(n))));
}

/**
 * Runs `body` with a user for each prefix (newUsers, on the file's server) and closes their
 * browser contexts when it ends, passed or failed.
 * @param {string[]} prefixes @param {(...users: object[]) => Promise<unknown>} body
 */
export async function withUsers(prefixes, body) {
  const users = await newUsers(browser, server, prefixes);
  try {
    return await body(...users);
  } finally {
    await Promise.all(users.map((u) => u.context.close()));
  }
}

/**
 * withUsers for alice and bob, with their 1:1 open on both sides: alice starts it and sends
 * `first`, bob opens it and sees that. Runs `body({alice, bob, conv})`.
 * @param {string} first @param {(chat: object) => Promise<unknown>} body
 */
export function withOpenChat(first, body) {
  return withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await startChat(alice.page, [bob.username]);
    await send(alice.page, first);
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await waitForBubbles(bob.page, [first]);
    return body({alice, bob, conv});
  });
}

/**
 * Every chat WebSocket of `context` goes through the test, which can make it fail the ways a
 * network does: `link.mode` 'pass' forwards both ways; 'deaf' forwards what the page sends
 * but drops what the server sends (the connection died after the request left: a lost ack);
 * 'down' refuses new connections, and `link.cut()` closes the open ones.
 * @param {import('playwright-core').BrowserContext} context
 */
async function routeChat(context) {
  const open = new Set();
  const link = {
    mode: 'pass',
    cut() {
      for (const ws of open) ws.close({code: 4000, reason: 'test: network down'});
      open.clear();
    },
  };
  await context.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    if (link.mode === 'down') {
      ws.close({code: 4000, reason: 'test: network down'});
      return;
    }
    open.add(ws);
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    server.onMessage((message) => {
      if (link.mode === 'pass') ws.send(message);
    });
  });
  return link;
}

/** The session's token, for checks against the server's HTTP API. */
async function token(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('ringcast:session')).token);
}

/** @param {import('playwright-core').Page} page */
export async function connected(page) {
  await page.waitForFunction(() => document.body.dataset.connection === 'connected');
}

/**
 * Starts a chat from the "New chat" dialog: finds each name by its first letters and picks it.
 * @param {import('playwright-core').Page} page @param {string[]} usernames @param {string}
 *     [groupName]
 * @param {(page: import('playwright-core').Page) => Promise<void>} [beforeStart] (a screenshot)
 */
export async function startChat(page, usernames, groupName, beforeStart = async () => {}) {
  await page.click('#new-chat-button');
  for (const name of usernames) {
    await page.fill('#user-search', name.slice(0, name.length - 2));
    await page.click(`#user-results button .person-name:text-is("${name}")`);
  }
  if (groupName) await page.fill('#group-name', groupName);
  await beforeStart(page);
  await page.click('#new-chat-start');
  await page.waitForSelector('#new-chat', {state: 'hidden'});
  await page.waitForSelector('#composer:not([hidden])');
  return Number(await page.getAttribute('#conv-name', 'data-open-conv'));
}

/** Types and sends with Enter. @param {import('playwright-core').Page} page @param {string} text */
export async function send(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/**
 * Calls `check` until it answers something other than null or undefined, and returns that; gives
 * up (with null) after `timeout` ms. A deadline and not a count of tries: on a loaded CI machine
 * each try (a page evaluation, a new browser context) takes far longer than here.
 */
export async function poll(check, {timeout = WAIT_MS, interval = 50} = {}) {
  const deadline = performance.now() + timeout;
  for (;;) {
    const answer = await check();
    if (answer !== null && answer !== undefined) return answer;
    if (performance.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The texts of the conversation's message bubbles, in order. */
export async function bubbles(page) {
  return page.$$eval('#messages .msg .body', (els) => els.map((el) => el.textContent));
}

/** Waits until the bubbles are exactly `texts` (within `timeout` ms: WAIT_MS by default). */
export async function waitForBubbles(page, texts, {timeout = WAIT_MS} = {}) {
  await page
      .waitForFunction(
          (want) => {
            const got =
                [...document.querySelectorAll('#messages .msg .body')].map((el) => el.textContent);
            return JSON.stringify(got) === JSON.stringify(want);
          },
          texts, {timeout})
      .catch(async (error) => {
        throw new Error(`bubbles ${JSON.stringify(await bubbles(page))}, wanted ${
            JSON.stringify(texts)}: ${error.message}`);
      });
}

/**
 * The tick state of one's own message `text` (by its text content: a body with markup, a
 * mention or a link, is matched by what it reads).
 */
export async function tickOf(page, text) {
  return page.evaluate((want) => {
    const body = [...document.querySelectorAll('#messages .msg.own .body')].find(
        (el) => el.textContent === want);
    return body?.closest('.msg').dataset.state;
  }, text);
}

export async function waitForTick(page, text, state) {
  await page.waitForFunction(([want, wantState]) => {
    const body = [...document.querySelectorAll('#messages .msg.own .body')].find(
        (el) => el.textContent === want);
    return body?.closest('.msg').dataset.state === wantState;
  }, [text, state]);
}

/** The conversation's stored messages, from the server's HTTP history (newest last). */
export async function storedBodies(server, user, conv) {
  const response = await fetch(
      `${server.baseUrl}/api/conversations/${conv}/messages?limit=200`,
      {headers: {Authorization: `Bearer ${await user.token()}`}});
  const {messages} = await response.json();
  return messages.map((m) => m.body).reverse();
}

/** The conversation as the server lists it for `user` (GET /api/conversations). */
export async function storedConversation(server, user, conv) {
  const response = await fetch(
      `${server.baseUrl}/api/conversations`,
      {headers: {Authorization: `Bearer ${await user.token()}`}});
  const {conversations} = await response.json();
  return conversations.find((c) => c.id === conv);
}

/** @param {import('playwright-core').Page} page @param {string} name */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, {recursive: true});
  await page.screenshot({path: path.join(SCREENSHOTS, `${name}.png`)});
}
