// A few DOM helpers. Text always goes through textContent, never innerHTML, so names and server
// messages cannot inject markup (and the CSP forbids inline script anyway).

/**
 * @typedef {Record<string, any>} Attrs  attributes; `on*` functions become listeners,
 *   `testid` becomes data-testid, `class` may be an array, booleans toggle the attribute
 */

/**
 * Create an element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs|null} [attrs]
 * @param {...(Node|string|number|null|undefined|false|(Node|string|null|undefined|false)[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'testid') el.dataset.testid = String(v);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'value' && 'value' in el) /** @type {any} */ (el).value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {any[]} children
 */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/**
 * Replace the children of `el`.
 * @param {Element} el
 * @param {...any} children
 */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * @param {string} sel
 * @returns {HTMLElement}
 */
export function $(sel) {
  const el = document.querySelector(sel);
  if (!(el instanceof HTMLElement)) throw new Error(`missing element ${sel}`);
  return el;
}

/**
 * Read a form's named fields as strings.
 * @param {HTMLFormElement} form
 * @returns {Record<string,string>}
 */
export function formValues(form) {
  /** @type {Record<string,string>} */
  const out = {};
  for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === 'string' ? v.trim() : '';
  return out;
}

/**
 * Local date and time of a Unix ms timestamp.
 * @param {number|null|undefined} ms
 */
export function when(ms) {
  if (!ms) return '–';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * A button that needs a second click to act (resign, leave a running match): the first click
 * arms it, showing `armedText` for 3 s, and returns false; a click while armed returns true
 * (no modal dialog, which a game in progress should not show).
 * @param {HTMLButtonElement} btn
 * @param {string} armedText
 * @returns {boolean}
 */
export function confirmClick(btn, armedText) {
  if (btn.dataset.armed === '1') return true;
  const text = btn.textContent;
  btn.dataset.armed = '1';
  btn.textContent = armedText;
  setTimeout(() => { btn.dataset.armed = ''; btn.textContent = text; }, 3000);
  return false;
}
