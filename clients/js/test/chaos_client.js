// SDK clients for the chaos test (tests/integration/chaos.py, `SdkClients`): real RingcastClients
// in Node, through the load balancer, while faults are injected into the cluster behind it. They
// rely on the SDK alone to survive the faults: reconnect, resume by sync, resend unacked sends
// with their cids.
//
//   node chaos_client.js BASE_URL PASSWORD WATCH_CONV OWN_CONV PER_CLIENT USER...
//
// Each USER logs in and connects; once all are synced the script prints `ready`, and each sends
// PER_CLIENT messages into OWN_CONV (a group of these users alone), one every 50 ms, each awaited
// until acked; it also records every message of WATCH_CONV (the round's group, where the Python
// senders write). On the line `finish N` on stdin (N: how many messages WATCH_CONV holds by then),
// every client waits (45 s at most) until it holds seq 1..N of WATCH_CONV and 1..USERS×PER_CLIENT
// of OWN_CONV, then the script prints one JSON line: per client, the seqs it received in each
// conversation in arrival order, the acks of its sends, and the order violations seen (a seq that
// is not the last + 1).

import {createInterface} from 'node:readline';
import {WebSocket} from 'ws';

import {MemoryStorage, RingcastClient} from '../src/index.js';

const [baseUrl, password, watchText, ownText, perText, ...usernames] = process.argv.slice(2);
const watchConv = Number(watchText);
const ownConv = Number(ownText);
const perClient = Number(perText);

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {() => boolean} condition @param {number} timeoutMs */
async function until(condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

const clients = usernames.map((username) => {
  const client = new RingcastClient({
    baseUrl,
    WebSocket,
    storage: new MemoryStorage(),
    reconnect: {baseDelayMs: 50, maxDelayMs: 1000},
  });
  /** @type {Record<number, number[]>} */
  const seen = {[watchConv]: [], [ownConv]: []};
  /** @type {string[]} */
  const violations = [];
  client.on('message', (message) => {
    const list = seen[message.conv];
    if (list === undefined) return;
    const last = list[list.length - 1] ?? 0;
    if (message.seq !== last + 1) {
      violations.push(`conv ${message.conv}: seq ${message.seq} after ${last}`);
    }
    list.push(message.seq);
  });
  return {username, client, seen, violations, acks: /** @type {Array<[string, number]>} */ ([])};
});

/** @param {(typeof clients)[number]} c */
async function sendAll(c) {
  for (let k = 0; k < perClient; k += 1) {
    const handle = c.client.send(ownConv, `${c.username} #${k}`);
    const ack = await handle.acked;
    c.acks.push([handle.cid, ack.seq]);
    await sleep(50);
  }
}

async function main() {
  // A conversation known at a client's first connection is followed from its last_seq then
  // (client.js): both groups are still empty now, so each client follows them from seq 1.
  const synced = [];
  for (const c of clients) {
    await c.client.login(c.username, password);
    synced.push(new Promise((resolve) => {
      const off = c.client.on('synced', () => {
        off();
        resolve(undefined);
      });
    }));
    c.client.connect();
  }
  await Promise.all(synced);
  process.stdout.write('ready\n');
  const sending = Promise.all(clients.map(sendAll));
  const lines = createInterface({input: process.stdin});
  let watchTotal = -1;
  for await (const line of lines) {
    const match = /^finish (\d+)$/.exec(line.trim());
    if (match) {
      watchTotal = Number(match[1]);
      break;
    }
  }
  const sent = await Promise.race([sending.then(() => true), sleep(45000).then(() => false)]);
  const ownTotal = clients.length * perClient;
  const complete = (/** @type {number[]} */ seqs, /** @type {number} */ total) =>
      new Set(seqs).size >= total && seqs.every((s) => s >= 1 && s <= total);
  const settled = await until(
      () => clients.every(
          (c) => complete(c.seen[watchConv], watchTotal) && complete(c.seen[ownConv], ownTotal)),
      45000);
  process.stdout.write(`${JSON.stringify({
    sent,
    settled,
    clients: clients.map((c) => ({
                           username: c.username,
                           watch: c.seen[watchConv],
                           own: c.seen[ownConv],
                           acks: c.acks,
                           violations: c.violations,
                         })),
  })}\n`);
  for (const c of clients) c.client.close();
  process.exit(0);  // Not waiting for the timers of the race above.
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({error: String(error?.stack ?? error)})}\n`);
  process.exit(1);
});
