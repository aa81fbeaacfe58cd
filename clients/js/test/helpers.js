// Helpers of the SDK's tests: clients wired to a test server, and bounded waits (a test fails
// with what it was waiting for, never hangs).

import {after, before} from 'node:test';
import {WebSocket} from 'ws';

import {MemoryStorage, RingcastClient} from '../src/index.js';

import {RingcastServer} from './server.js';

export const PASSWORD = 'correct horse battery staple';
/** Every server test is bounded: it fails, never hangs. */
export const BOUNDED = {
  timeout: 30000
};
let counter = 0;

/** A fresh username (≤ 32 characters of the allowed set). @param {string} prefix */
export function uniqueName(prefix) {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 6);
  return `${prefix.slice(0, 10)}_${process.pid}_${counter}_${random}`;
}

/**
 * A client of `server` with test-sized timings (reconnects within a second).
 * @param {{baseUrl: string}} server
 * @param {import('../src/client.js').ClientOptions} [options]
 */
export function newClient(server, options = {}) {
  return new RingcastClient({
    baseUrl: server.baseUrl,
    WebSocket,
    storage: new MemoryStorage(),
    reconnect: {baseDelayMs: 50, maxDelayMs: 400},
    ...options,
  });
}

/**
 * Registers a fresh user and logs the client in as it.
 * @param {RingcastClient} client @param {string} prefix
 */
export async function signUp(client, prefix) {
  const username = uniqueName(prefix);
  await client.register(username, PASSWORD);
  return client.login(username, PASSWORD);
}

/**
 * Two fresh users, alice and bob, sharing a 1:1, both connected and synced.
 * @param {() => RingcastClient} makeClient a new client (the caller closes it)
 * @param {() => RingcastClient} [makeBob] bob's, when it differs from alice's
 * @returns {Promise<{alice: RingcastClient, bob: RingcastClient, conv: number}>}
 */
export async function connectedPair(makeClient, makeBob = makeClient) {
  const alice = makeClient();
  const bob = makeBob();
  await signUp(alice, 'alice');
  const bobSession = await signUp(bob, 'bob');
  const conv = await alice.openDirect(bobSession.user_id);
  const synced = [waitFor(alice, 'synced'), waitFor(bob, 'synced')];
  alice.connect();
  bob.connect();
  await Promise.all(synced);
  return {alice, bob, conv};
}

/**
 * One server for a test file, started before its tests and disposed after them, and the clients
 * made on it (`client`, `pair`), closed after them. `server` is there once the tests run.
 * @param {ConstructorParameters<typeof RingcastServer>[0]} [serverOptions]
 */
export function serverForFile(serverOptions) {
  /** @type {RingcastServer | undefined} */
  let server;
  /** @type {RingcastClient[]} */
  const clients = [];
  before(async () => {
    server = await new RingcastServer(serverOptions).start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.dispose();
  });
  /** @param {import('../src/client.js').ClientOptions} [options] */
  const client = (options) => {
    const c = newClient(/** @type {RingcastServer} */ (server), options);
    clients.push(c);
    return c;
  };
  return {
    get server() {
      return /** @type {RingcastServer} */ (server);
    },
    client,
    /**
     * Two connected, synced users sharing a 1:1, on clients made with `options`.
     * @param {import('../src/client.js').ClientOptions} [options]
     */
    pair: (options = {}) => connectedPair(() => client(options)),
  };
}

/**
 * Resolves with the first `name` event that satisfies `predicate`.
 * @template {keyof import('../src/client.js').ClientEvents} K
 * @param {RingcastClient} client @param {K} name
 * @param {(event: import('../src/client.js').ClientEvents[K]) => boolean} [predicate]
 * @param {number} [timeoutMs]
 * @returns {Promise<import('../src/client.js').ClientEvents[K]>}
 */
export function waitFor(client, name, predicate = () => true, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(name)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(name, (event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/**
 * Polls `condition` until it holds. @param {() => boolean} condition @param {string} what
 * @param {number} [timeoutMs]
 */
export async function until(condition, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Records every `message` event per conversation, and fails on any order violation as it
 * happens (the SDK's promise: per conversation, seq 1 after the cursor, +1 each time).
 * @param {RingcastClient} client
 */
export function recordMessages(client) {
  /** @type {Map<number, import('../src/types.js').Message[]>} */
  const byConv = new Map();
  /** @type {string[]} */
  const violations = [];
  client.on('message', (message) => {
    const list = byConv.get(message.conv) ?? [];
    const last = list[list.length - 1];
    if (last && message.seq !== last.seq + 1) {
      violations.push(`conv ${message.conv}: seq ${message.seq} after ${last.seq}`);
    }
    list.push(message);
    byConv.set(message.conv, list);
  });
  return {
    /** @param {number} conv */
    of: (conv) => byConv.get(conv) ?? [],
    violations,
  };
}

/**
 * The whole history of `conv`, oldest first, read over HTTP with the client's token (not
 * through the SDK: this is what the server stored).
 * @param {{baseUrl: string}} server @param {RingcastClient} client @param {number} conv
 * @returns {Promise<import('../src/types.js').Message[]>}
 */
export async function storedHistory(server, client, conv) {
  const out = [];
  let before = 0;
  for (;;) {
    const query = before > 0 ? `?limit=200&before=${before}` : '?limit=200';
    const response = await fetch(
        `${server.baseUrl}/api/conversations/${conv}/messages${query}`,
        {headers: {Authorization: `Bearer ${client.session?.token}`}});
    if (response.status !== 200) throw new Error(`history: HTTP ${response.status}`);
    const page = await response.json();
    out.push(...page.messages);
    if (!page.more || page.messages.length === 0) break;
    before = page.messages[page.messages.length - 1].seq;
  }
  return out.reverse();
}

/** @param {number} ms */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
