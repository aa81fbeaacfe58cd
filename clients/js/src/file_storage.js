// A StorageLike (storage.js) in one JSON file, for Node programs and tests: what a browser keeps
// in localStorage survives the process here. Node only (node:fs); the browser entry point never
// imports it. Writes go to a temporary file renamed over the old one, so a crash mid-write
// leaves the previous content, never a torn file.

import {readFileSync, renameSync, writeFileSync} from 'node:fs';

export class FileStorage {
  /** @param {string} path the JSON file (created on the first write) */
  constructor(path) {
    this.path = path;
  }

  /** @returns {Record<string, string>} */
  _read() {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8'));
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return {};
      throw error;
    }
  }

  /** @param {Record<string, string>} content */
  _write(content) {
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(content));
    renameSync(temporary, this.path);
  }

  /** @param {string} key */
  getItem(key) {
    return this._read()[key] ?? null;
  }

  /** @param {string} key @param {string} value */
  setItem(key, value) {
    const content = this._read();
    content[key] = String(value);
    this._write(content);
  }

  /** @param {string} key */
  removeItem(key) {
    const content = this._read();
    if (!(key in content)) return;
    delete content[key];
    this._write(content);
  }
}
