// A throwaway coturn for the browser tests: Debian's /usr/bin/turnserver (or $TURNSERVER) started
// the way tools/coturn_server.py starts it for the integration tests (its flags, and --verbose:
// loopback only, UDP and TCP on a free port, relays from 127.0.0.1 with loopback peers allowed, the
// TURN REST API's shared secret, no TLS, no CLI, its log in a temporary directory), ready once a
// STUN Binding request is answered. That module has no command line, and a Node test should not
// need Python to start one process.

import {spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import dgram from 'node:dgram';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {freePort} from '../../clients/js/test/server.js';

const HOST = '127.0.0.1';
const REALM = 'ringcast.test';

/**
 * Whether a STUN Binding request (RFC 8489 §6: type 0x0001, no attributes) to UDP `port` gets a
 * Binding success (0x0101) with our transaction id.
 * @param {number} port
 */
function stunAnswered(port) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const transaction = randomBytes(12);
    const request = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), transaction]);
    const done = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    socket.on('message', (answer) => {
      done(answer.readUInt16BE(0) === 0x0101 && answer.subarray(8, 20).equals(transaction));
    });
    socket.on('error', () => done(false));
    socket.send(request, port, HOST);
  });
}

export class Coturn {
  /** @param {string} secret the `static-auth-secret`, ringcast's `--turn-secret` */
  constructor(secret) {
    this.secret = secret;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'coturn-'));
    this.logPath = path.join(this.dir, 'turn.log');
    this.port = 0;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.process = null;
  }

  /** @param {string} secret @returns {Promise<Coturn>} */
  static async start(secret) {
    const binary = process.env.TURNSERVER ?? '/usr/bin/turnserver';
    if (!existsSync(binary)) {
      throw new Error(`${binary} not found: install Debian's coturn (tools/deps.sh test)`);
    }
    const coturn = new Coturn(secret);
    // Debian's /etc/turnserver.conf is never read: this empty file stands in for it.
    writeFileSync(path.join(coturn.dir, 'turnserver.conf'), '');
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (await coturn._spawn(binary)) return coturn;
    }
    const log = coturn.log().slice(-2000);
    coturn.stop();
    throw new Error(`turnserver did not answer STUN: ${log}`);
  }

  /** @param {string} binary */
  async _spawn(binary) {
    // A TCP port free now (coturn takes UDP and TCP on it; a taken one fails the start, retried).
    this.port = await freePort();
    // Relay ports above Linux's ephemeral range, where the listener's free port comes from.
    const args = [
      '-c', path.join(this.dir, 'turnserver.conf'), '--listening-ip', HOST, '--relay-ip', HOST,
      '--listening-port', String(this.port), '--min-port', '61000', '--max-port', '61999',
      '--use-auth-secret', '--static-auth-secret', this.secret, '--realm', REALM, '--no-tls',
      '--no-dtls', '--no-cli', '--allow-loopback-peers', '--no-stdout-log', '--simple-log',
      '--log-file', this.logPath, '--pidfile', path.join(this.dir, 'turnserver.pid'), '--userdb',
      path.join(this.dir, 'turndb'),
      // Verbose: each session and allocation in the log, the test's proof the media went
      // through this server.
      '--verbose'
    ];
    const child = spawn(binary, args, {stdio: 'ignore'});
    this.process = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !exited) {
      if (await stunAnswered(this.port)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!exited) child.kill('SIGKILL');
    return false;
  }

  /** @param {'udp' | 'tcp'} [transport] */
  url(transport = 'udp') {
    return `turn:${HOST}:${this.port}?transport=${transport}`;
  }

  get stunUrl() {
    return `stun:${HOST}:${this.port}`;
  }

  /** The server's log so far (allocations, authentication failures). */
  log() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  stop() {
    this.process?.kill('SIGTERM');
    this.process = null;
    rmSync(this.dir, {recursive: true, force: true});
  }
}
