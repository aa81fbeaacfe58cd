// Files (proto/PROTOCOL.md, "Files: uploads and downloads"): an upload with progress and
// cancel, and the URLs of a message's attachments. Kept apart from the client's connection and
// outbox: an upload is one HTTP request, and a send names its result by id
// (`client.send(conv, body, {attachments: [upload.id]})`).
//
// In a browser the body goes with XMLHttpRequest, the one browser API that reports upload
// progress without a chunked body (the server needs `Content-Length`: a streamed fetch body
// would be refused 501). Elsewhere (Node) with fetch: progress is reported at the start and end.

import {RingcastError} from './errors.js';

/**
 * @typedef {object} Upload the server's answer to an upload
 * @property {string} id @property {string} name @property {number} size
 * @property {string} type @property {string} sha256 @property {string} url
 * @property {string} [signed_url] @property {string} [thumb_url]
 * @property {number} [width] @property {number} [height]
 *
 * @typedef {{loaded: number, total: number}} UploadProgress
 *
 * @typedef {object} UploadHandle
 * @property {Promise<Upload>} done resolves with the stored upload; rejects with a
 *   RingcastError: `status` and the server's reason (413 too large, 507 over the quota), code
 *   `cancelled` after `cancel()`, `network` when the connection broke
 * @property {() => void} cancel stops the upload (the server drops the partial file)
 */

/**
 * Uploads `file` (`POST /api/uploads`).
 * @param {import('./client.js').RingcastClient} client a signed-in client
 * @param {Blob | Uint8Array} file a browser `File`/`Blob`, or bytes
 * @param {{name?: string, type?: string, onProgress?: (p: UploadProgress) => void}} [options]
 *   `name`: default the File's name; `type`: default the Blob's type
 * @returns {UploadHandle}
 */
export function upload(client, file, options = {}) {
  const token = client.session?.token;
  const size = /** @type {any} */ (file).size ?? /** @type {any} */ (file).byteLength;
  const name = options.name ?? /** @type {any} */ (file).name ?? 'file';
  const type = options.type || /** @type {any} */ (file).type || 'application/octet-stream';
  const onProgress = options.onProgress ?? (() => {});
  const url = `${client.baseUrl}/api/uploads?name=${encodeURIComponent(name)}`;
  if (!token) {
    const done = Promise.reject(new RingcastError('not logged in', {code: 'not_logged_in'}));
    done.catch(() => {});
    return {done, cancel() {}};
  }
  const XHR = /** @type {any} */ (globalThis).XMLHttpRequest;
  return XHR ? viaXhr(XHR, url, token, file, type, size, onProgress) :
               viaFetch(url, token, file, type, size, onProgress);
}

/**
 * @param {any} XHR @param {string} url @param {string} token @param {any} file
 * @param {string} type @param {number} size @param {(p: UploadProgress) => void} onProgress
 * @returns {UploadHandle}
 */
function viaXhr(XHR, url, token, file, type, size, onProgress) {
  const xhr = new XHR();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', url);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', type);
    xhr.upload.onprogress = (/** @type {ProgressEvent} */ e) =>
        onProgress({loaded: e.loaded, total: e.lengthComputable ? e.total : size});
    xhr.onload = () => {
      const {status} = xhr;
      if (status === 201) {
        onProgress({loaded: size, total: size});
        resolve(JSON.parse(xhr.responseText));
      } else {
        reject(refusal(status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new RingcastError(
        // The server answers 413 at once and closes: a browser may see only the closed
        // connection while it is still sending.
        'the upload was cut off (the connection closed: a file over the server\'s limit?)',
        {code: 'network'}));
    xhr.onabort = () => reject(new RingcastError('upload cancelled', {code: 'cancelled'}));
    xhr.send(file);
  });
  done.catch(() => {});
  return {done, cancel: () => xhr.abort()};
}

/**
 * @param {string} url @param {string} token @param {any} file @param {string} type
 * @param {number} size @param {(p: UploadProgress) => void} onProgress
 * @returns {UploadHandle}
 */
function viaFetch(url, token, file, type, size, onProgress) {
  const abort = new AbortController();
  const done = (async () => {
    onProgress({loaded: 0, total: size});
    /** @type {any} */
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {'Authorization': `Bearer ${token}`, 'Content-Type': type},
        body: file,
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) throw new RingcastError('upload cancelled', {code: 'cancelled'});
      throw new RingcastError(`cannot reach the server: ${error}`, {code: 'network'});
    }
    const text = await response.text();
    if (response.status !== 201) throw refusal(response.status, text);
    onProgress({loaded: size, total: size});
    return JSON.parse(text);
  })();
  done.catch(() => {});
  return {done, cancel: () => abort.abort()};
}

/** @param {number} status @param {string} text the server's `{"error"}` */
function refusal(status, text) {
  let reason = `HTTP ${status}`;
  try {
    const body = JSON.parse(text);
    if (typeof body?.error === 'string') reason = body.error;
  } catch {
    // Not JSON (a proxy's page): the status says it.
  }
  return new RingcastError(reason, {status});
}

/**
 * The URL of an attachment's file (or its thumbnail) for this user: its `url` with the token
 * as `?token=` (what an `<img src>` or a download link can carry; PROTOCOL.md, "Who may read a
 * file"). Undefined for `thumb` when the file has no thumbnail.
 * @param {import('./client.js').RingcastClient} client
 * @param {{url: string, thumb_url?: string}} attachment @param {{thumb?: boolean}} [options]
 */
export function attachmentUrl(client, attachment, options = {}) {
  const path = options.thumb ? attachment.thumb_url : attachment.url;
  if (!path) return undefined;
  const token = client.session?.token;
  return `${client.baseUrl}${path}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

/**
 * Whether the server made a thumbnail of it (PNG, JPEG, GIF, WebP). @param {{thumb_url?: string}}
 * a
 */
export function isImage(a) {
  return typeof a.thumb_url === 'string';
}

/** "1.5 MB", "820 kB", "12 B" (powers of 1000, as file managers show). @param {number} bytes */
export function formatSize(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
