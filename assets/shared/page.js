// What every page of the box shares: building elements as text (names and ids come from devices
// in the room, never as markup), the status line, and calls to the box's HTTP API that turn its
// JSON errors into exceptions carrying the error code. Loaded before each page's own script.
'use strict';

const $ = (id) => document.getElementById(id);

/** An element with text content and optional attributes. */
function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

/** Shows `text` in the page's status line (`#message`); an empty text hides it. */
function say(text, kind = 'info') {
  const box = $('message');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

/** Calls the box with `token`; resolves to the JSON body, or throws an Error with the box's code. */
async function callBox(token, method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!res.ok) {
    const error = new Error(json?.message ?? `${res.status} ${res.statusText}`);
    error.code = json?.code ?? String(res.status);
    error.status = res.status;
    throw error;
  }
  return json;
}
