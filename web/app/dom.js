// Small DOM helpers: element creation and keyed list updates. No framework: the app's views
// keep their elements and update them in place, so focus and scroll positions survive updates.

/**
 * An element with attributes and children. `attrs` keys: `class`, `text` (textContent),
 * `dataset` (an object), `on` (event → listener), any other name is an attribute (boolean
 * true: present, false/null/undefined: absent). Text is always set as text, never as HTML.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {(Node | string | null | undefined | false)[]} [children]
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') {
      el.className = value;
    } else if (name === 'text') {
      el.textContent = value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'on') {
      for (const [event, listener] of Object.entries(value)) el.addEventListener(event, listener);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** @param {string} id @returns {any} the element (the page's own markup: it exists) */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/**
 * The page's dialog `id`, with its × button (`${id}-close`) closing it.
 * @param {string} id
 * @returns {HTMLDialogElement}
 */
export function dialogById(id) {
  const dialog = /** @type {HTMLDialogElement} */ (byId(id));
  byId(`${id}-close`).addEventListener('click', () => dialog.close());
  return dialog;
}

/**
 * Makes `parent`'s children the elements of `items`, in order: an item whose key has an element
 * already keeps it (updated by `update`), others get a new one (`create`, then `update`), and
 * elements of keys no longer listed are removed. Elements are moved only when out of place, so
 * a focused element keeps its focus.
 * @template T
 * @param {HTMLElement} parent
 * @param {T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(el: HTMLElement, item: T) => void} update
 */
export function reconcile(parent, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of /** @type {HTMLElement[]} */ ([...parent.children])) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
  }
  const wanted = new Set();
  let position = 0;
  for (const item of items) {
    const key = keyOf(item);
    wanted.add(key);
    let el = existing.get(key);
    if (!el) {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    const at = parent.children[position];
    if (at !== el) parent.insertBefore(el, at ?? null);
    position += 1;
  }
  for (const [key, el] of existing) {
    if (!wanted.has(key)) el.remove();
  }
}

/** Sets text only when it changed (no needless mutations for screen readers). */
export function setText(/** @type {Element} */ el, /** @type {string} */ text) {
  if (el.textContent !== text) el.textContent = text;
}
