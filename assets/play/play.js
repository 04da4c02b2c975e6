// The viewer's phone: `/join` logs in with a name and the venue PIN, `/play` follows the
// predictions live over `/realtime` (the box's own channels, never polling) and votes with big
// buttons. The countdown runs on the box's clock (its time from `GET /api/predictions`, so a
// phone with a wrong clock still counts right); totals come as the box sends them (at most four
// times a second); the phone reconnects by itself and resumes with `lastSeq`, and logs in again
// (its name keeps its key) when its token runs out. Everything typed by a guest is shown as
// text, never as markup.
'use strict';

const VIEWER_KEY = 'venuebox.viewer';
const MAX_RECONNECT_MS = 10_000;
const CLOSE_TOKEN_EXPIRED = 4001;
/** Streamers one phone follows (the box allows a client 32 channels). */
const MAX_STREAMERS = 8;

const saved = () => { try { return JSON.parse(localStorage.getItem(VIEWER_KEY)) ?? {}; } catch { return {}; } };
const save = (viewer) => localStorage.setItem(VIEWER_KEY, JSON.stringify(viewer));

/** The box's sentence for an error, with its code in small print. */
function explain(error) {
  switch (error.code) {
    case 'NAME_TAKEN': return 'Someone else already plays under that name: pick another one.';
    case 'INVALID_TOKEN': return 'That PIN is not right: it is on the venue’s screen.';
    case 'RATE_LIMITED': return 'Too many tries: wait a minute, then try again.';
    case 'INSUFFICIENT_BALANCE': return 'You do not have enough points for that.';
    case 'CONFLICT': return 'Voting on this question has closed.';
    default: return `${error.message} (${error.code ?? 'error'})`;
  }
}

/** Logs in with the saved or given name and PIN; the name's key proves it is still this phone. */
async function login(name, pin) {
  const viewer = saved();
  const viewerKey = viewer.name === name ? viewer.viewerKey : undefined;
  const answer = await callBox(null, 'POST', '/api/auth', { name, pin, ...(viewerKey ? { viewerKey } : {}) });
  save({ name, pin, userId: answer.userId, token: answer.token, viewerKey: answer.viewerKey ?? viewerKey });
}

// --- /join ------------------------------------------------------------------------------------

function startJoin() {
  const viewer = saved();
  const fromLink = new URLSearchParams(location.search).get('pin');
  $('name').value = viewer.name ?? '';
  $('pin').value = fromLink ?? viewer.pin ?? '';
  $('join-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('join-btn').disabled = true;
    say('Joining…');
    try {
      await login($('name').value.trim(), $('pin').value.trim());
      location.assign('/play');
    } catch (error) {
      say(explain(error), 'error');
      $('join-btn').disabled = false;
    }
  });
}

// --- /play ------------------------------------------------------------------------------------

const game = {
  viewer: null,
  predictions: new Map(),
  clockOffsetMs: 0,
  streamers: [],
  lastSeq: {},
  stake: 1,
  mine: new Map(),
};
let reconnectMs = 1000;

const boxNow = () => Date.now() + game.clockOffsetMs;

/** The question on screen: the newest open one, else the one that closed last. */
function current() {
  const all = [...game.predictions.values()];
  const open = all.filter((p) => p.status === 'open').sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  if (open.length) return open[0];
  return all.filter((p) => p.status === 'closed').sort((a, b) => Date.parse(b.result?.closedAt ?? 0) - Date.parse(a.result?.closedAt ?? 0))[0];
}

function renderQuestion() {
  const p = current();
  $('waiting').hidden = Boolean(p);
  $('question').hidden = !p;
  if (!p) return;
  $('title').textContent = p.title;
  $('cost').textContent = `${p.costPerVote} point${p.costPerVote === 1 ? '' : 's'} a vote`;
  const totals = p.totals ?? {};
  const sum = Object.values(totals).reduce((a, b) => a + b, 0);
  const mine = game.mine.get(p.id) ?? {};
  const buttons = p.options.map((o) => {
    let button = $('options').querySelector(`[data-option="${CSS.escape(o.id)}"]`);
    if (!button) {
      button = el('button', null, { type: 'button', class: 'option', 'data-option': o.id });
      button.append(el('span', null, { class: 'bar' }), el('span', o.label, { class: 'label' }), el('span', '', { class: 'points' }));
      button.addEventListener('click', () => vote(o.id));
    }
    const points = totals[o.id] ?? 0;
    button.querySelector('.bar').style.width = sum ? `${(100 * points) / sum}%` : '0';
    button.querySelector('.points').textContent = `${points.toLocaleString()} pts`;
    button.disabled = p.status !== 'open';
    button.dataset.winner = String(p.result?.optionId === o.id);
    button.dataset.mine = String(Boolean(mine[o.id]));
    return button;
  });
  // Updated in place: a thumb on a button is not lost to a redraw.
  if ($('options').dataset.prediction !== p.id) {
    $('options').replaceChildren(...buttons);
    $('options').dataset.prediction = p.id;
    $('vote-message').hidden = true;
  }
  const result = $('result');
  result.hidden = p.status === 'open';
  if (p.status !== 'open') {
    const winner = p.options.find((o) => o.id === p.result?.optionId);
    const backed = Object.keys(mine);
    result.textContent = winner
      ? `${winner.label} wins.${backed.length ? (mine[winner.id] ? ' You backed it!' : ' Not your pick this time.') : ''}`
      : 'Closed with no votes.';
  }
  tick();
  renderPast(p);
}

function renderPast(shown) {
  const closed = [...game.predictions.values()]
    .filter((p) => p.status === 'closed' && p !== shown)
    .sort((a, b) => Date.parse(b.result?.closedAt ?? 0) - Date.parse(a.result?.closedAt ?? 0))
    .slice(0, 5);
  $('past-card').hidden = closed.length === 0;
  $('past').replaceChildren(...closed.map((p) => {
    const winner = p.options.find((o) => o.id === p.result?.optionId);
    return el('li', `${p.title}: ${winner ? winner.label : 'no votes'}`);
  }));
}

function tick() {
  const p = current();
  if (!p || p.status !== 'open') {
    $('countdown').textContent = p ? 'Closed' : '';
    $('countdown').dataset.soon = 'false';
    return;
  }
  const left = Math.max(0, Math.ceil((Date.parse(p.closesAt) - boxNow()) / 1000));
  $('countdown').textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left` : 'Closing…';
  $('countdown').dataset.soon = String(left <= 10);
}

function voteSays(text, kind = 'info') {
  $('vote-message').textContent = text;
  $('vote-message').dataset.kind = kind;
  $('vote-message').hidden = !text;
}

async function vote(optionId) {
  const p = current();
  if (!p || p.status !== 'open') return;
  const votes = game.stake;
  try {
    const answer = await callBox(game.viewer.token, 'POST', `/api/predictions/${encodeURIComponent(p.id)}/votes`, {
      optionId, votes, clientVoteId: uuid(),
    });
    const mine = game.mine.get(p.id) ?? {};
    mine[optionId] = (mine[optionId] ?? 0) + answer.votes;
    game.mine.set(p.id, mine);
    setBalance(answer.balance);
    const label = p.options.find((o) => o.id === optionId)?.label ?? optionId;
    voteSays(`${answer.votes} vote${answer.votes === 1 ? '' : 's'} on ${label} (${answer.points} points).`);
    renderQuestion();
  } catch (error) {
    if (error.status === 401) return relogin();
    voteSays(explain(error), 'error');
  }
}

function setBalance(balance) {
  $('balance').textContent = Number(balance).toLocaleString();
}

function notice(payload) {
  if (['RESUMED', 'SNAPSHOT'].includes(payload.code)) return;
  $('notice').textContent = payload.message;
  $('notice').hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { $('notice').hidden = true; }, 15_000);
}

function onMessage(msg) {
  if (msg.channel && msg.seq) game.lastSeq[msg.channel] = Math.max(game.lastSeq[msg.channel] ?? 0, msg.seq);
  const p = msg.payload ?? {};
  switch (msg.type) {
    case 'EVENT_CREATED':
      game.predictions.set(p.event.id, { ...p.event, status: 'open', totals: {}, createdAt: new Date(boxNow()).toISOString() });
      break;
    case 'EVENT_UPDATED': {
      const known = game.predictions.get(p.eventId);
      if (known) Object.assign(known, { totals: p.totals, ...(p.closesAt ? { closesAt: p.closesAt } : {}) });
      break;
    }
    case 'EVENT_CLOSED': {
      const known = game.predictions.get(p.eventId);
      if (known) Object.assign(known, { status: 'closed', totals: p.result.totals, result: { optionId: p.result.optionId, closedAt: new Date(boxNow()).toISOString() } });
      break;
    }
    case 'BALANCE_UPDATED': setBalance(p.balance); return;
    case 'SYSTEM_NOTICE': notice(p); return;
    default: return;
  }
  renderQuestion();
}

function setLink(ok, text) {
  $('link').dataset.state = ok ? 'ok' : 'off';
  $('link').textContent = text;
}

/** Reads the whole state (predictions, the box's clock, the balance) before going live. */
async function refresh() {
  const list = await callBox(null, 'GET', '/api/predictions');
  game.clockOffsetMs = Date.parse(list.serverTime) - Date.now();
  game.predictions = new Map(list.events.map((e) => [e.id, e]));
  // Every streamer with a question on the box (newest first, the console's "stage" always),
  // or the one a link names (`/play?streamer=quiz`); a new streamer's first question is seen
  // after the next reconnect.
  const wanted = new URLSearchParams(location.search).get('streamer');
  const newestFirst = [...list.events].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  game.streamers = wanted ? [wanted] : [...new Set([...newestFirst.map((e) => e.streamerId), 'stage'])].slice(0, MAX_STREAMERS);
  const balance = await callBox(game.viewer.token, 'GET', `/api/users/${encodeURIComponent(game.viewer.userId)}/balance`);
  setBalance(balance.balance);
  // What changed after these reads (a grant while the page loads, a question opened) comes
  // from the box's log when the socket subscribes from where each read was taken.
  const from = (channel, seq) => { game.lastSeq[channel] = Math.max(game.lastSeq[channel] ?? 0, seq ?? 0); };
  for (const s of game.streamers) from(`streamer:${s}`, list.seq);
  from(`user:${game.viewer.userId}`, balance.seq);
  renderQuestion();
}

async function relogin() {
  try {
    await login(game.viewer.name, game.viewer.pin);
    game.viewer = saved();
    return true;
  } catch (error) {
    say(`${explain(error)} Join again.`, 'error');
    setTimeout(() => location.assign('/join'), 3000);
    return false;
  }
}

async function start() {
  try {
    await refresh();
  } catch (error) {
    if (error.status === 401 && await relogin()) return start();
    setLink(false, 'box unreachable');
    setTimeout(start, reconnectMs);
    reconnectMs = Math.min(reconnectMs * 2, MAX_RECONNECT_MS);
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/realtime?token=${encodeURIComponent(game.viewer.token)}`);
  ws.onopen = () => {
    reconnectMs = 1000;
    const channels = [...game.streamers.map((s) => `streamer:${s}`), `user:${game.viewer.userId}`];
    const lastSeq = Object.fromEntries(channels.filter((c) => game.lastSeq[c]).map((c) => [c, game.lastSeq[c]]));
    ws.send(JSON.stringify({ action: 'subscribe', channels, lastSeq }));
    setLink(true, 'live');
    say('');
  };
  ws.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    for (const msg of Array.isArray(frame) ? frame : [frame]) onMessage(msg);
  };
  ws.onclose = async (event) => {
    setLink(false, 'reconnecting…');
    if (event.code === CLOSE_TOKEN_EXPIRED && !(await relogin())) return;
    setTimeout(start, reconnectMs);
    reconnectMs = Math.min(reconnectMs * 2, MAX_RECONNECT_MS);
  };
}

function startPlay() {
  game.viewer = saved();
  if (!game.viewer.token) {
    location.replace('/join');
    return;
  }
  $('who').textContent = game.viewer.name;
  for (const button of document.querySelectorAll('[data-stake]')) {
    button.addEventListener('click', () => {
      game.stake = Number(button.dataset.stake);
      for (const b of document.querySelectorAll('[data-stake]')) b.setAttribute('aria-pressed', String(b === button));
    });
  }
  // The name keeps its key on this phone: coming back to it later still works.
  $('leave').addEventListener('click', () => save({ ...saved(), token: undefined }));
  setInterval(tick, 250);
  start();
}

if (document.body.classList.contains('join')) startJoin(); else startPlay();
