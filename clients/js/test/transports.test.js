// Transports (README.md, "Transports"; PROTOCOL.md, "Chat transports"): the
// SDK forced onto SSE and onto long polling chats with a WebSocket client; with `auto` behind a
// proxy that refuses WebSocket upgrades it falls back to SSE by itself, behind one that also
// holds the stream back (a buffering proxy) to long polling; a dropped stream resumes its
// session with Last-Event-ID (no new hello, no gap, no duplicate); a proxy that lets upgrades
// through again gets WebSocket back at the next connection.

import assert from 'node:assert/strict';
import {createServer, request} from 'node:http';
import {describe, test} from 'node:test';

import {BOUNDED, connectedPair, recordMessages, serverForFile, until, waitFor} from './helpers.js';

const fixture = serverForFile();

/**
 * A proxy in front of the test server that never lets a WebSocket upgrade through (answers
 * 403), as a corporate proxy may. `bufferStreams`: an SSE answer's head goes on but none of its
 * body (a proxy that buffers event streams). `dropStreams()` cuts the SSE streams open now.
 * @param {number} port the server's
 */
async function refusingProxy(port) {
  const state = {upgrades: 0, bufferStreams: false, refuse: true, resumes: 0};
  /** @type {Set<import('node:http').ServerResponse>} */
  const streams = new Set();
  const proxy = createServer((req, res) => {
    if (req.headers['last-event-id']) state.resumes += 1;
    const upstream = request(
        {host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers},
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          const stream = String(answer.headers['content-type']).startsWith('text/event-stream');
          if (stream) {
            streams.add(res);
            res.on('close', () => {
              streams.delete(res);
              answer.destroy();
            });
            res.flushHeaders();
            if (state.bufferStreams) return;  // Holds the body back, as a buffering proxy.
          }
          answer.pipe(res);
        });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  proxy.on('upgrade', (req, socket, head) => {
    state.upgrades += 1;
    if (state.refuse) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    // Let through: a plain TCP pipe to the server, the handshake first.
    const upstream = request({host: '127.0.0.1', port, path: req.url, headers: req.headers});
    upstream.on('upgrade', (answer, upSocket, upHead) => {
      const lines = [`HTTP/1.1 101 Switching Protocols`];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
      }
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.pipe(socket).pipe(upSocket);
      socket.on('error', () => upSocket.destroy());
      upSocket.on('error', () => socket.destroy());
    });
    upstream.on('error', () => socket.destroy());
    upstream.end();
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (proxy.address());
  return {
    state,
    baseUrl: `http://127.0.0.1:${address.port}`,
    dropStreams() {
      for (const res of streams) res.destroy();
    },
    close() {
      proxy.closeAllConnections();
      proxy.close();
    },
  };
}

/** Alice on `options`, Bob on WebSocket straight to the server, sharing a 1:1, both synced. */
function pairWith(/** @type {any} */ options) {
  return connectedPair(() => fixture.client(options), () => fixture.client());
}

/** Messages both ways, each seen once, in order, on both sides. */
async function chatBothWays(alice, bob, conv, label) {
  const aliceSeen = recordMessages(alice);
  const bobSeen = recordMessages(bob);
  const ack = await alice.send(conv, `${label}: from alice`).acked;
  const reply = await bob.send(conv, `${label}: from bob`).acked;
  assert.equal(reply.seq, ack.seq + 1);
  await until(
      () => aliceSeen.of(conv).length === 2 && bobSeen.of(conv).length === 2,
      'both have both messages');
  for (const seen of [aliceSeen, bobSeen]) {
    assert.deepEqual(
        seen.of(conv).map((m) => m.body), [`${label}: from alice`, `${label}: from bob`]);
    assert.deepEqual(seen.violations, []);
  }
  // A read receipt from the HTTP side reaches the WebSocket side.
  const receipt = waitFor(bob, 'receipt', (r) => r.user === alice.userId && r.read === reply.seq);
  alice.markRead(conv, reply.seq);
  await receipt;
}

describe('transports', () => {
  for (const transport of /** @type {const} */ (['sse', 'poll'])) {
    test(`forced ${transport}: chats with a WebSocket client`, BOUNDED, async () => {
      const {alice, bob, conv} = await pairWith({transport});
      assert.equal(alice.transport, transport);
      assert.equal(bob.transport, 'websocket');
      await chatBothWays(alice, bob, conv, transport);
      // The outbox's promise holds: a send made while the session is being replaced is
      // acked once, with its cid.
      const handle = alice.send(conv, `${transport}: across a reconnect`);
      const synced = waitFor(alice, 'synced');
      alice.reconnectNow();
      const ack = await handle.acked;
      assert.equal(ack.cid, handle.cid);
      await synced;
      assert.equal(alice.transport, transport);
      const seen = await bob.history(conv);
      assert.equal(seen.messages.filter((m) => m.body === handle.body).length, 1);
    });
  }

  test(
      'auto: an upgrade refused by a proxy falls back to SSE, then WebSocket returns', BOUNDED,
      async () => {
        const proxy = await refusingProxy(/** @type {number} */ (fixture.server.port));
        try {
          const {alice, bob, conv} = await pairWith({baseUrl: proxy.baseUrl, fallbackMs: 1500});
          assert.ok(proxy.state.upgrades >= 1, 'the WebSocket was tried first');
          assert.equal(alice.transport, 'sse');
          await chatBothWays(alice, bob, conv, 'fallback');

          // The stream drops: resumed with Last-Event-ID, the same session (no new hello),
          // and what was sent meanwhile arrives once.
          const aliceSeen = recordMessages(alice);
          const connections = alice.stats.connections;
          proxy.dropStreams();
          const sent = [];
          for (let i = 0; i < 3; i++)
            sent.push((await bob.send(conv, `while dropped ${i}`).acked).seq);
          await until(() => aliceSeen.of(conv).length === 3, 'alice has the 3 messages');
          assert.deepEqual(aliceSeen.of(conv).map((m) => m.seq), sent);
          assert.ok(proxy.state.resumes >= 1, 'the stream resumed with Last-Event-ID');
          assert.equal(alice.stats.connections, connections, 'no new connection');

          // The network lets WebSocket through again: the next connection takes it.
          proxy.state.refuse = false;
          const up = waitFor(alice, 'state', (s) => s.state === 'connected');
          alice.reconnectNow();
          assert.equal((await up).transport, 'websocket');
          await chatBothWays(alice, bob, conv, 'back on websocket');
        } finally {
          proxy.close();
        }
      });

  test(
      'auto: a proxy that also buffers the stream falls back to long polling', BOUNDED,
      async () => {
        const proxy = await refusingProxy(/** @type {number} */ (fixture.server.port));
        proxy.state.bufferStreams = true;
        try {
          const {alice, bob, conv} = await pairWith({baseUrl: proxy.baseUrl, fallbackMs: 1000});
          assert.equal(alice.transport, 'poll');
          await chatBothWays(alice, bob, conv, 'polled');
        } finally {
          proxy.close();
        }
      });
});
