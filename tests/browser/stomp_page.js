// The STOMP browser tests' page (stomp.test.js, stomp_cluster.test.js): a page of a ringcast
// server's origin with @stomp/stompjs's browser bundle loaded and `window.peer(name, token,
// config)`, a stompjs client over Chromium's own WebSocket that records what it receives.

import {createRequire} from 'node:module';

import {WAIT_MS} from './harness.js';

// The package's browser (UMD) bundle, what `require` resolves to: it defines window.StompJs.
const bundle = createRequire(import.meta.url).resolve('@stomp/stompjs');

/**
 * A page of the server's origin with stompjs loaded (window.StompJs) and `window.peer(name,
 * token, config)`: a client that records what it receives (window.peers[name]).
 */
export async function stompPage(browser, server) {
  const context = await browser.newContext({baseURL: server.baseUrl});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(WAIT_MS);
  // A page the server serves (the app's sign-in screen, left alone): Chromium lets a page
  // reach a loopback address only when the page itself comes from one (Local Network Access).
  await page.goto('/');
  await page.addScriptTag({path: bundle});
  await page.evaluate(() => {
    window.peers = {};
    window.peer = (name, token, config = {}) => {
      const record =
          {messages: [], receipts: [], errors: [], heartbeats: 0, connected: null, closed: null};
      const client = new StompJs.Client({
        brokerURL: `ws://${location.host}/stomp`,
        connectHeaders: {passcode: token},
        reconnectDelay: 0,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        ...config,
      });
      client.onConnect = (frame) => {
        record.connected = frame.headers;
      };
      client.onStompError = (frame) => record.errors.push(frame.headers.message);
      client.onHeartbeatReceived = () => {
        record.heartbeats += 1;
      };
      client.onWebSocketClose = (event) => {
        record.closed = {code: event.code};
      };
      record.client = client;
      record.protocol = () => client.webSocket?.protocol;
      record.subscribe = (destination) => new Promise((resolve) => {
        const receipt = `sub-${destination}`;
        client.watchForReceipt(receipt, () => resolve());
        client.subscribe(destination, (message) => {
          record.messages.push(
              {destination, headers: message.headers, event: JSON.parse(message.body)});
        }, {receipt});
      });
      record.publish = (destination, headers, body = '') => new Promise((resolve) => {
        if (headers.receipt) {
          client.watchForReceipt(headers.receipt, () => {
            record.receipts.push(headers.receipt);
            resolve();
          });
        }
        client.publish({destination, headers, body});
        if (!headers.receipt) resolve();
      });
      window.peers[name] = record;
      client.activate();
    };
  });
  return {context, page, errors};
}

/** Waits until `predicate(record)` holds for the page's peer `name`. */
export function until(page, name, predicate, arg) {
  return page.waitForFunction(([peerName, source, value]) => {
    const record = window.peers[peerName];
    return record && new Function('r', 'arg', `return (${source})(r, arg)`)(record, value);
  }, [name, predicate.toString(), arg]);
}
