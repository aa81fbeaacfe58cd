// The web app behind an nginx that refuses WebSocket upgrades (PROTOCOL.md, "SSE and long
// polling"; clients/js/README.md, "Transports"): a throwaway nginx (Debian's, not as a
// daemon, on a free port, in a temporary directory) in front of the real binary, with
// `location /ws { return 403; }`. Two users in headless Chromium chat normally over SSE + POST:
// ticks (delivered, seen), typing, a reload that resumes with the conversation intact. A second
// nginx also buffers the event stream (it ignores X-Accel-Buffering): the app falls back to
// long polling and chats the same.

import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {test} from 'node:test';

import {freePort} from '../../clients/js/test/server.js';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';

/**
 * nginx on a free port in front of `upstreamPort`, refusing every upgrade of /ws (403); with
 * `buffering`, /sse answers are buffered whatever the server asks (a proxy that holds streams).
 */
async function startNginx(upstreamPort, {buffering}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringcast-nginx-'));
  const port = await freePort();
  const sse = buffering ? 'proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;' :
                          'proxy_buffering off;';
  writeFileSync(path.join(dir, 'nginx.conf'), `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_read_timeout 120s;
    location /ws { return 403; }
    location /sse { ${sse} proxy_pass http://127.0.0.1:${upstreamPort}; }
    location / { proxy_pass http://127.0.0.1:${upstreamPort}; }
  }
}
`);
  const proc = spawn(
      NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'],
      {stdio: 'ignore'});
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nginx did not start: ${readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    baseUrl,
    accessLog: () => readFileSync(path.join(dir, 'access.log'), 'utf8'),
    async stop() {
      proc.kill('SIGQUIT');
      await new Promise((resolve) => proc.once('exit', resolve));
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

/** h.newUser, with the app loaded through `baseUrl` (its chat traffic goes there too). */
async function newUserVia(baseUrl, prefix) {
  const username = h.uniqueName(prefix);
  const context =
      await browser.newContext({viewport: {width: 1100, height: 720}, baseURL: baseUrl});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(15000);
  await page.goto('/');
  await page.fill('#login-username', username);
  await page.fill('#login-password', h.PASSWORD);
  await page.click('button[data-action=register]');
  await h.connected(page);
  return {context, page, username, errors};
}

async function transportOf(page) {
  return page.evaluate(() => document.body.dataset.transport);
}

async function chatsNormally(proxy, transport) {
  const alice = await newUserVia(proxy.baseUrl, 'alice');
  const bob = await newUserVia(proxy.baseUrl, 'bob');
  try {
    assert.equal(await transportOf(alice.page), transport);
    assert.equal(await transportOf(bob.page), transport);
    // The upgrade was tried and refused by nginx first.
    assert.match(proxy.accessLog(), /GET \/ws\?token=[^ ]* HTTP\/1\.1" 403/);

    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'hello over http');
    await h.waitForTick(alice.page, 'hello over http', 'delivered');
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await h.waitForBubbles(bob.page, ['hello over http']);
    await h.waitForTick(alice.page, 'hello over http', 'seen');

    await bob.page.fill('#composer-input', 'typing over http');
    await alice.page.waitForSelector('#typing:text-is("typing…")');
    await bob.page.press('#composer-input', 'Enter');
    await h.waitForBubbles(alice.page, ['hello over http', 'typing over http']);
    await h.waitForTick(bob.page, 'typing over http', 'seen');

    // A reload: a new session (resumed by sync), the same conversation, and on with it.
    await bob.page.reload();
    await h.connected(bob.page);
    assert.equal(await transportOf(bob.page), transport);
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await h.waitForBubbles(bob.page, ['hello over http', 'typing over http']);
    await h.send(alice.page, 'after the reload');
    await h.waitForBubbles(bob.page, ['hello over http', 'typing over http', 'after the reload']);
    await h.waitForTick(alice.page, 'after the reload', 'seen');
    await h.screenshot(alice.page, `fallback-${transport}`);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
}

/**
 * The app behind a throwaway nginx (`buffering`: it buffers the stream too) chats over
 * `transport`. @param {boolean} buffering @param {'sse' | 'poll'} transport
 */
async function chatsBehindNginx(buffering, transport) {
  const proxy = await startNginx(server.port, {buffering});
  try {
    await chatsNormally(proxy, transport);
  } finally {
    await proxy.stop();
  }
}

test(
    'behind an nginx that refuses upgrades the app chats over SSE',
    () => chatsBehindNginx(false, 'sse'));

test(
    'behind an nginx that also buffers the stream the app chats over long polling',
    () => chatsBehindNginx(true, 'poll'));
