// The web app over TLS in Chromium (proto/PROTOCOL.md, "TLS"): the server on --tls-port with a
// certificate from a throwaway test CA, Chromium trusting that certificate (its public key's
// hash, --ignore-certificate-errors-spki-list: what Chromium offers tests instead of a CA store
// of their own), the page loaded from https:// and the chat over wss:// by Chromium's own
// network stack (no test route in between). Then the same certificate after a SIGHUP reload
// of a renewed one, and a certificate Chromium does not trust, refused.

import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, test} from 'node:test';

import {freePort} from '../../clients/js/test/server.js';

import * as h from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-tls-'));
const openssl = (...args) => execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'});

/** A leaf for localhost and 127.0.0.1 signed by the test CA: `name`.pem (the chain), `name`.key. */
function issue(name) {
  openssl(
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout',
      `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.leaf`);
  fs.writeFileSync(path.join(dir, `${name}.pem`), Buffer.concat([
    fs.readFileSync(path.join(dir, `${name}.leaf`)), fs.readFileSync(path.join(dir, 'ca.pem'))
  ]));
  // base64(SHA-256(SubjectPublicKeyInfo)), the form --ignore-certificate-errors-spki-list takes.
  const spki = execFileSync(
      'openssl', ['pkey', '-in', `${name}.key`, '-pubout', '-outform', 'der'], {cwd: dir});
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], {input: spki}).toString('base64');
}

let server;
let browser;
let tlsPort;
let trustedSpkis;

before(async () => {
  openssl(
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout',
      'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ringcast test CA');
  const first = issue('first');
  const renewed = issue('renewed');
  issue('stranger');  // Signed by the same CA, but its key is not among those Chromium trusts.
  fs.copyFileSync(path.join(dir, 'first.pem'), path.join(dir, 'live.pem'));
  fs.copyFileSync(path.join(dir, 'first.key'), path.join(dir, 'live.key'));
  tlsPort = await freePort();
  server = await h.startServer([
    '--tls-port', String(tlsPort), '--tls-cert', path.join(dir, 'live.pem'), '--tls-key',
    path.join(dir, 'live.key')
  ]);
  trustedSpkis = [first, renewed];
  browser = await h.launchBrowser([`--ignore-certificate-errors-spki-list=${trustedSpkis}`]);
});

after(async () => {
  await browser?.close();
  await server?.dispose();
  fs.rmSync(dir, {recursive: true, force: true});
});

/** A user registered through the app's form on https://localhost:<tls port>. */
async function tlsUser(prefix) {
  const context = await browser.newContext(
      {baseURL: `https://localhost:${tlsPort}`, viewport: {width: 1100, height: 720}});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(h.WAIT_MS);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const response = await page.goto('/');
  const certificate = (await response.securityDetails())?.subjectName;
  const username = h.uniqueName(prefix);
  await page.fill('#login-username', username);
  await page.fill('#login-password', h.PASSWORD);
  await page.click('button[data-action=register]');
  await h.connected(page);
  return {context, page, username, errors, sockets, certificate};
}

test('the app over https:// chats over wss://, by Chromium\'s own TLS', async () => {
  const alice = await tlsUser('alice');
  const bob = await tlsUser('bob');
  try {
    for (const user of [alice, bob]) {
      assert.equal(await user.page.evaluate(() => location.protocol), 'https:');
      assert.equal(user.certificate, 'first');
      assert.ok(
          user.sockets.length > 0 &&
              user.sockets.every((url) => url.startsWith(`wss://localhost:${tlsPort}/`)),
          user.sockets.join(' '));
    }
    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'sealed in a record');
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await h.waitForBubbles(bob.page, ['sealed in a record']);
    await h.send(bob.page, 'and back');
    await h.waitForBubbles(alice.page, ['sealed in a record', 'and back']);
    await h.waitForTick(alice.page, 'sealed in a record', 'seen');

    // certbot's renewal: new files, then SIGHUP. The open pages keep their connections; a new
    // page gets the new certificate, which Chromium also trusts.
    fs.copyFileSync(path.join(dir, 'renewed.pem'), path.join(dir, 'live.pem'));
    fs.copyFileSync(path.join(dir, 'renewed.key'), path.join(dir, 'live.key'));
    server.proc.kill('SIGHUP');
    await h.send(alice.page, 'after the reload');
    await h.waitForBubbles(bob.page, ['sealed in a record', 'and back', 'after the reload']);
    const certificate = await h.poll(async () => {
      const carol = await tlsUser('carol');
      await carol.context.close();
      return carol.certificate === 'renewed' ? carol.certificate : null;  // Ahead of the reload.
    }, {interval: 100});
    assert.equal(certificate, 'renewed');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test('a certificate Chromium does not trust is refused', async () => {
  fs.copyFileSync(path.join(dir, 'stranger.pem'), path.join(dir, 'live.pem'));
  fs.copyFileSync(path.join(dir, 'stranger.key'), path.join(dir, 'live.key'));
  server.proc.kill('SIGHUP');
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const refused = await h.poll(async () => {
      try {
        await page.goto(`https://localhost:${tlsPort}/`);
        return null;  // The reload is not in yet.
      } catch (error) {
        return error.message;
      }
    }, {interval: 100});
    assert.match(refused ?? 'loaded', /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await context.close();
  }
});
