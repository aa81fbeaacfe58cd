// Runs the real ringcast binary for the SDK's tests: 127.0.0.1, a free port, a temporary
// --data-dir (SQLite), scrypt cost 10 (the default cost would dominate the run). The binary is
// $RINGCAST_BIN (relative to clients/js), by default the debug build of this checkout.
// stop()/start() keep the port and the data dir, so a test can restart the server under its
// clients' feet; stderr goes to a file that a failing test prints.

import {spawn} from 'node:child_process';
import {closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const jsRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BINARY =
    path.resolve(jsRoot, process.env.RINGCAST_BIN ?? '../../build/debug/core/ringcast');

/**
 * A port nothing listens on right now (the kernel's pick; the browser tests' servers take theirs
 * here too). @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RingcastServer {
  /** @param {{args?: string[], threads?: number}} [options] extra flags; shards (default 2) */
  constructor(options = {}) {
    if (!existsSync(BINARY)) {
      throw new Error(`no ringcast binary at ${BINARY}: build it, or set RINGCAST_BIN`);
    }
    this.args = options.args ?? [];
    this.threads = options.threads ?? 2;
    this.dir = mkdtempSync(path.join(tmpdir(), 'ringcast-sdk-'));
    this.dataDir = path.join(this.dir, 'data');
    this.stderrPath = path.join(this.dir, 'stderr');
    /** @type {number | null} */
    this.port = null;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    /** @type {Promise<number | null> | null} resolves with the exit code */
    this.exited = null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const fixedPort = this.port !== null;
    for (let attempt = 0;; attempt++) {
      if (!fixedPort) this.port = await freePort();
      this._spawn();
      try {
        await this._waitReady(15000);
        return this;
      } catch (error) {
        await this.stop('SIGKILL');
        // Another test process took the port between the pick and the bind: pick again.
        if (!fixedPort && attempt < 2 && /in use/i.test(this.stderr())) continue;
        throw error;
      }
    }
  }

  _spawn() {
    // Every flag also reads a RINGCAST_* variable: none of the test runner's may leak in.
    const env = Object.fromEntries(
        Object.entries(process.env).filter(([key]) => !key.startsWith('RINGCAST_')));
    const err = openSync(this.stderrPath, 'a');
    this.proc = spawn(
        BINARY,
        [
          '--host',
          '127.0.0.1',
          '--port',
          String(this.port),
          '--threads',
          String(this.threads),
          '--data-dir',
          this.dataDir,
          '--password-cost',
          '10',
          '--login-rate-ip',
          '10000',
          '--register-rate-ip',
          '10000',
          ...this.args,
        ],
        {stdio: ['ignore', err, err], env});
    closeSync(err);
    const proc = this.proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  /** @param {number} timeoutMs */
  async _waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc?.exitCode !== null) {
        throw new Error(`ringcast exited with ${this.proc?.exitCode}:\n${this.stderr()}`);
      }
      try {
        const response = await fetch(`${this.baseUrl}/health`, {signal: AbortSignal.timeout(1000)});
        if (response.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await sleep(50);
    }
    throw new Error(`ringcast not ready within ${timeoutMs} ms:\n${this.stderr()}`);
  }

  /**
   * Stops the server (SIGTERM: graceful, clients get a close 1001) and waits for it to exit;
   * SIGKILL after 10 s. Returns the exit code. @param {NodeJS.Signals} [signal]
   */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc) return null;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    const code = await this.exited;
    clearTimeout(killer);
    return code;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, {recursive: true, force: true});
  }

  stderr() {
    try {
      return readFileSync(this.stderrPath, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  }
}
