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

/**
 * A random UUID (v4). `crypto.randomUUID` exists only on https and localhost, and a guest's phone
 * opens the box over plain http (`http://venuebox.local/...`); `getRandomValues` exists on both.
 */
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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

/**
 * A page the venue's TV opened (`?tv` in its address, and `/tv` itself) follows what staff
 * choose for the TVs (`tv:show` on `/api/tv/stream`): when the choice is another page, it goes
 * there. `onMessage` gets the stream's other messages, `onLink(ok)` whether it is connected.
 * The stream comes back by itself: after a restart of the box, and (every 2 s) after a refusal (an
 * address holding too many streams), which a browser would not retry on its own.
 */
function followTheTvChoice(onMessage, onLink = () => {}) {
  const params = new URLSearchParams(location.search);
  if (!params.has('tv') && location.pathname !== '/tv') return;
  const here = () => {
    const p = new URLSearchParams(location.search);
    p.delete('tv');
    const query = p.toString().replace(/=(&|$)/g, '$1');
    return location.pathname + (query ? `?${query}` : '');
  };
  let events = null;
  const again = (ms) => {
    events?.close();
    onLink(false);
    setTimeout(open, ms);
  };
  function open() {
    events = new EventSource('/api/tv/stream');
    events.onopen = () => onLink(true);
    events.onerror = () => {
      onLink(false);
      if (events.readyState === EventSource.CLOSED) again(2000);
    };
    events.addEventListener('close', () => again(2000));
    events.onmessage = (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      if (data.type === 'tv:show') {
        const [target, hash] = data.url.split('#');
        if (target !== here()) {
          const glue = target.includes('?') ? '&' : '?';
          location.assign(`${target}${target === '/tv' ? '' : `${glue}tv`}${hash ? `#${hash}` : ''}`);
        }
        return;
      }
      if (onMessage) onMessage(data);
    };
  }
  open();
}
// The TV's own page starts the stream itself, with its handlers.
if (!document.currentScript?.hasAttribute('data-own-tv-stream')) followTheTvChoice();
