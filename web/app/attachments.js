// Files in the app: the tray of uploads above the composer (upload button, drag and drop,
// pasted images; a progress bar and Cancel each; the server's reason when one is refused), and
// attachments in message bubbles (images as their thumbnails, opened full size in a viewer;
// other files as cards with name, size and a download link).

import {attachmentUrl, formatSize, isImage, upload} from '/sdk/index.js';

import {byId, dialogById, h, setText} from './dom.js';

/**
 * @typedef {object} Item one file of the tray
 * @property {HTMLElement} el
 * @property {'uploading' | 'done' | 'failed'} state
 * @property {string} [id] the upload's id once done
 * @property {Promise<void>} settled
 * @property {() => void} cancel
 */

export class UploadTray {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, list: HTMLElement,
   *          onChange: () => void}} parts
   */
  constructor({client, list, onChange}) {
    this._client = client;
    this._list = list;
    this._onChange = onChange;
    /** @type {Item[]} */
    this._items = [];
  }

  /** Uploads start at once, so that Send usually finds them done. @param {Iterable<File>} files */
  add(files) {
    for (const file of files) this._start(file);
    this._render();
  }

  /** @param {File} file */
  _start(file) {
    const bar = /** @type {HTMLProgressElement} */ (h('progress', {max: '1', value: '0'}));
    const status = h('span', {class: 'upload-status', text: formatSize(file.size)});
    const el = h('li', {class: 'upload', dataset: {state: 'uploading'}}, [
      h('span', {class: 'upload-name', text: file.name || 'pasted image'}),
      bar,
      status,
    ]);
    const handle = upload(this._client, file, {
      name: file.name || 'pasted-image.png',
      onProgress: ({loaded, total}) => {
        bar.value = total ? loaded / total : 0;
      },
    });
    /** @type {Item} */
    const item = {el, state: 'uploading', settled: Promise.resolve(), cancel: () => {}};
    const remove = () => {
      handle.cancel();
      this._items = this._items.filter((i) => i !== item);
      this._render();
    };
    item.cancel = remove;
    el.append(h('button', {
      type: 'button',
      class: 'upload-cancel',
      text: '×',
      'aria-label': `Remove ${file.name || 'the pasted image'}`,
      on: {click: remove},
    }));
    item.settled = handle.done.then(
        (stored) => {
          item.state = 'done';
          item.id = stored.id;
          bar.value = 1;
        },
        (/** @type {any} */ error) => {
          if (error.code === 'cancelled') return;
          item.state = 'failed';
          setText(status, `Not uploaded: ${error.message}`);
        });
    item.settled.then(() => {
      el.dataset.state = item.state;
      this._onChange();
    });
    this._items.push(item);
  }

  _render() {
    this._list.replaceChildren(...this._items.map((i) => i.el));
    this._list.hidden = this._items.length === 0;
    this._onChange();
  }

  get empty() {
    return this._items.length === 0;
  }

  /** Whether some file is still on its way up. */
  get busy() {
    return this._items.some((i) => i.state === 'uploading');
  }

  /** Whether some file was refused (removing it, or Cancel, lets the message go). */
  get failed() {
    return this._items.some((i) => i.state === 'failed');
  }

  /** Waits for the files on their way up. @returns {Promise<void>} */
  async settled() {
    await Promise.all(this._items.map((i) => i.settled));
  }

  /** The ids of the uploaded files, in the order they were added. */
  ids() {
    return this._items.filter((i) => i.state === 'done').map((i) => /** @type {string} */ (i.id));
  }

  /** Empties the tray (sent, or another conversation opened: those uploads are cancelled). */
  clear({cancel = false} = {}) {
    if (cancel)
      for (const item of this._items) item.cancel();
    this._items = [];
    this._render();
  }
}

/**
 * The attachments of a message, as elements.
 * @param {import('/sdk/index.js').RingcastClient} client
 * @param {import('/sdk/types.js').Attachment[]} attachments
 * @param {(attachment: import('/sdk/types.js').Attachment) => void} onView opens an image
 */
export function renderAttachments(client, attachments, onView) {
  return h('span', {class: 'attachments'}, attachments.map((a) => {
    if (isImage(a)) {
      // The thumbnail is at most 320 px on its long side; shown at most 240.
      const scale = Math.min(1, 240 / Math.max(a.width ?? 240, a.height ?? 240));
      return h(
          'button', {
            type: 'button',
            class: 'att-image',
            'aria-label': `View ${a.name}`,
            on: {click: () => onView(a)},
          },
          [h('img', {
            src: attachmentUrl(client, a, {thumb: true}),
            alt: a.name,
            width: Math.round((a.width ?? 240) * scale),
            height: Math.round((a.height ?? 240) * scale),
            loading: 'lazy',
            referrerpolicy: 'no-referrer',
          })]);
    }
    return h(
        'a', {
          class: 'att-file',
          href: attachmentUrl(client, a),
          download: a.name,
          rel: 'noopener noreferrer',
          referrerpolicy: 'no-referrer',
          'aria-label': `Download ${a.name}, ${formatSize(a.size)}`,
        },
        [
          fileIcon(),
          h('span', {class: 'att-name', text: a.name}),
          h('span', {class: 'att-size', text: formatSize(a.size)}),
        ]);
  }));
}

/** The full-size image viewer (a dialog: Escape or its button closes it). */
export class ImageViewer {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    this._dialog = dialogById('viewer');
    this._img = /** @type {HTMLImageElement} */ (byId('viewer-image'));
    this._name = byId('viewer-name');
    this._download = /** @type {HTMLAnchorElement} */ (byId('viewer-download'));
    this._dialog.addEventListener('close', () => this._img.removeAttribute('src'));
  }

  /** @param {import('/sdk/types.js').Attachment} a */
  open(a) {
    const url = /** @type {string} */ (attachmentUrl(this._client, a));
    this._img.src = url;
    this._img.alt = a.name;
    setText(this._name, `${a.name} (${formatSize(a.size)})`);
    this._download.href = url;
    this._download.download = a.name;
    this._dialog.showModal();
  }
}

/**
 * An SVG element with these attributes.
 * @param {string} tag @param {Record<string, string>} attrs
 */
function svgElement(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  return el;
}

/** A document outline (an SVG: emoji fonts are not everywhere). */
function fileIcon() {
  const svg = svgElement('svg', {
    viewBox: '0 0 24 24', width: '20', height: '20', 'aria-hidden': 'true', class: 'att-icon',
  });
  svg.append(svgElement('path', {
    d: 'M6 2h8l5 5v15H6zM14 2v5h5', fill: 'none', stroke: 'currentColor', 'stroke-width': '2',
    'stroke-linejoin': 'round',
  }));
  return svg;
}
