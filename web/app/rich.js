// A message body as elements: a small markdown subset (```code blocks```, `code`, **bold**,
// *italic* / _italic_), http(s) links, and highlighted mentions. Built from text nodes and
// elements only (never innerHTML of what a user wrote), so a hostile body stays text; a link
// is made only of an http:// or https:// URL (never javascript: or data:), opens in a new tab
// with rel="noopener noreferrer".

import {h} from './dom.js';

// One inline token: code, bold, italic (not inside a word, so snake_case stays), a URL, a
// mention (not right after a username character, as the server reads them).
const INLINE = new RegExp(
    [
      '`([^`\\n]+)`',
      '\\*\\*(.+?)\\*\\*',
      '(?<![\\w*])\\*([^*\\s](?:[^*\\n]*?[^*\\s])?)\\*(?![\\w*])',
      '(?<![A-Za-z0-9_])_([^_\\s](?:[^_\\n]*?[^_\\s])?)_(?![A-Za-z0-9_])',
      '(https?://[^\\s<>"]+)',
      '(?<![A-Za-z0-9_.\\-])@([A-Za-z0-9_.\\-]+)',
    ].join('|'),
    'g');

/**
 * @typedef {object} Context
 * @property {Set<string>} mentioned lowercased names of the members the message mentions
 * @property {string} me the user's own name, lowercased
 */

/** @param {string} body @param {Context} context @returns {DocumentFragment} */
export function renderBody(body, context) {
  const out = document.createDocumentFragment();
  const parts = body.split(/```/);
  // Even parts are text, odd ones code blocks (an unclosed ``` stays text).
  const closed = parts.length % 2 === 1 ? parts.length : parts.length - 1;
  parts.forEach((part, i) => {
    if (i % 2 === 1 && i < closed) {
      out.append(h('pre', {class: 'code-block'}, [h('code', {text: part.replace(/^\n/, '')})]));
    } else {
      appendInline(out, i % 2 === 1 ? `\`\`\`${part}` : part, context);
    }
  });
  return out;
}

/** @param {Node} parent @param {string} text @param {Context} context */
function appendInline(parent, text, context) {
  let at = 0;
  INLINE.lastIndex = 0;
  for (let m = INLINE.exec(text); m; m = INLINE.exec(text)) {
    const [whole, code, bold, star, under, url, mention] = m;
    let end = m.index + whole.length;
    if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
    if (code !== undefined) {
      parent.appendChild(h('code', {text: code}));
    } else if (bold !== undefined) {
      const strong = h('strong');
      appendInline(strong, bold, context);
      parent.appendChild(strong);
    } else if (star !== undefined || under !== undefined) {
      const em = h('em');
      appendInline(em, star ?? under, context);
      parent.appendChild(em);
    } else if (url !== undefined) {
      const href = url.replace(/[.,;:!?)\]'"]+$/, '');
      end = m.index + href.length;
      parent.appendChild(link(href));
    } else {
      const name = mention.replace(/\.+$/, '');
      end = m.index + 1 + name.length;
      const lower = name.toLowerCase();
      if (context.mentioned.has(lower)) {
        parent.appendChild(h('span', {
          class: lower === context.me ? 'mention me' : 'mention',
          text: `@${name}`,
        }));
      } else {
        parent.appendChild(document.createTextNode(`@${name}`));
      }
    }
    at = end;
    INLINE.lastIndex = end;
  }
  if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
}

/** @param {string} href an http(s) URL */
function link(href) {
  /** @type {URL | null} */
  let url = null;
  try {
    url = new URL(href);
  } catch {
    // Not a URL after all: text.
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return document.createTextNode(href);
  }
  return h('a', {href: url.href, target: '_blank', rel: 'noopener noreferrer', text: href});
}
