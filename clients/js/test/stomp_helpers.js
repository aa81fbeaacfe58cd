// @stomp/stompjs (a real STOMP client) against the server's STOMP endpoint (proto/PROTOCOL.md,
// "STOMP 1.2 over WebSocket"), for stomp.test.js and stomp_cluster.test.js: a client wired to a
// server, and bounded waits on what it receives.

import {Client, Versions} from '@stomp/stompjs';
import {WebSocket} from 'ws';

import {until} from './helpers.js';

/**
 * What one stompjs client has received, in order, and its ERROR frames and close.
 * @typedef {{
 *   client: Client,
 *   messages: Array<{destination: string, headers: Record<string, string>, event: any}>,
 *   receipts: string[],
 *   errors: Array<{message: string, headers: Record<string, string>, body: string}>,
 *   heartbeats: number,
 *   connected: Record<string, string> | null,
 *   closed: {code: number, reason: string} | null,
 * }} StompPeer
 */

/**
 * A stompjs client of `port` with `token` in CONNECT's passcode (browsers cannot put it on the
 * upgrade), no reconnects, and what it receives recorded. Not yet activated.
 * @param {number} port @param {string} token
 * @param {Partial<import('@stomp/stompjs').StompConfig>} [config]
 * @returns {StompPeer}
 */
export function stompPeer(port, token, config = {}) {
  const url = `ws://127.0.0.1:${port}/stomp`;
  /** @type {StompPeer} */
  const peer = {
    client: new Client({
      // Node 20 has no global WebSocket: stompjs takes a factory, and offers its versions as
      // subprotocols (v10.stomp, v11.stomp, v12.stomp) as a browser's would.
      webSocketFactory: () => new WebSocket(url, Versions.default.protocolVersions()),
      connectHeaders: {passcode: token},
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      ...config,
    }),
    messages: [],
    receipts: [],
    errors: [],
    heartbeats: 0,
    connected: null,
    closed: null,
  };
  peer.client.onConnect = (frame) => {
    peer.connected = frame.headers;
  };
  peer.client.onStompError = (frame) => {
    peer.errors.push({message: frame.headers.message, headers: frame.headers, body: frame.body});
  };
  peer.client.onHeartbeatReceived = () => {
    peer.heartbeats += 1;
  };
  peer.client.onWebSocketClose = (event) => {
    peer.closed = {code: event.code, reason: event.reason};
  };
  return peer;
}

/**
 * Activates `peer` and waits for CONNECTED.
 * @param {StompPeer} peer
 */
export async function connectPeer(peer) {
  peer.client.activate();
  await until(() => peer.connected !== null || peer.closed !== null, 'CONNECTED');
  if (peer.connected === null) {
    throw new Error(`not connected: ${JSON.stringify(peer.errors)} ${JSON.stringify(peer.closed)}`);
  }
}

/**
 * Subscribes `peer` to `destination` (recording each MESSAGE with its JSON event) and waits for
 * the subscription's RECEIPT.
 * @param {StompPeer} peer @param {string} destination
 * @param {Record<string, string>} [headers]
 */
export async function subscribe(peer, destination, headers = {}) {
  const receipt = `sub-${destination}-${Math.random().toString(36).slice(2)}`;
  const got = waitReceipt(peer, receipt);
  peer.client.subscribe(destination, (message) => {
    peer.messages.push({destination, headers: message.headers, event: JSON.parse(message.body)});
  }, {...headers, receipt});
  await got;
}

/**
 * Resolves once the RECEIPT for `receipt` arrives (stompjs's watchForReceipt).
 * @param {StompPeer} peer @param {string} receipt @returns {Promise<void>}
 */
export function waitReceipt(peer, receipt) {
  return new Promise((resolve) => {
    peer.client.watchForReceipt(receipt, () => {
      peer.receipts.push(receipt);
      resolve();
    });
  });
}

/**
 * The first recorded MESSAGE on `destination` whose event matches `predicate`, waited for.
 * @param {StompPeer} peer @param {string} destination @param {(event: any) => boolean} predicate
 * @param {number} [timeoutMs]
 */
export async function waitMessage(peer, destination, predicate, timeoutMs = 10000) {
  const find = () => peer.messages.find((m) => m.destination === destination && predicate(m.event));
  await until(() => find() !== undefined, `a message on ${destination}`, timeoutMs);
  return /** @type {{destination: string, headers: Record<string, string>, event: any}} */ (find());
}
