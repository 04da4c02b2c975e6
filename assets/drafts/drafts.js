// A draft's spectator page: the board from the API, refreshed when an entry arrives on the
// draft's socket (no polling); the history behind a button with its count, newest first;
// toasts for picks, ties, start and completion. With a captain's or staff token it picks too.
// Every name is rendered as text, never as markup.
'use strict';

/** A captain's or staff token from the page's link (`#token=`); staff also from the console. */
const TOKEN_KEY = 'venuebox.draftToken';
const STAFF_KEY = 'venuebox.adminToken';
const TOASTED = new Set(['player_picked', 'tie_roll', 'draft_started', 'draft_completed']);
const MAX_RECONNECT_MS = 10_000;
const TOAST_MS = 6000;

const draftId = Number(location.pathname.split('/').filter(Boolean)[1]);
const state = { token: null, claims: null, board: null, events: new Map() };
let reconnectMs = 1000;
let refreshing = null;
let refreshAgain = false;

function claimsOf(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}

function takeToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    sessionStorage.setItem(TOKEN_KEY, hash.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = sessionStorage.getItem(TOKEN_KEY) ?? sessionStorage.getItem(STAFF_KEY);
  const claims = token ? claimsOf(token) : null;
  if (claims && claims.exp * 1000 > Date.now()) {
    state.token = token;
    state.claims = claims;
  }
}

const isStaff = () => state.claims?.role === 'admin';
const api = (method, path, body) => callBox(state.token, method, path, body);

// --- the history ------------------------------------------------------------------------------

/** The seed's sentence for an entry. */
function describe(event) {
  const p = event.payload;
  switch (event.event_type) {
    case 'player_picked': return `${p.captain_name} picked ${p.picked_name} (Round ${p.round})`;
    case 'tie_roll': {
      const names = new Map(p.tied_captains.map((c) => [c.id, c.name]));
      const rolls = p.roll_rounds.map((round) => round.map((r) => `${names.get(r.captain_id) ?? r.captain_id} rolled ${r.roll}`).join(', '));
      return `Tie! ${rolls.join('; re-roll: ')} → ${p.winner_name} wins`;
    }
    case 'captain_assigned': return `${p.captain_name} is on the clock (Round ${p.round})`;
    case 'draft_started': return 'Draft started';
    case 'draft_completed': return 'Draft completed';
    case 'pick_undone': return `Round ${p.round} pick undone`;
    default: return event.event_type;
  }
}

function renderHistory() {
  const list = $('history');
  const atTop = list.scrollTop <= 4;
  const newestFirst = [...state.events.values()].sort((a, b) => b.id - a.id);
  list.replaceChildren(...newestFirst.map((e) => {
    const li = el('li', null, { 'data-type': e.event_type, 'data-id': e.id });
    li.append(el('span', describe(e)), el('time', new Date(e.created_at).toLocaleTimeString([], { hourCycle: 'h23' }), { datetime: e.created_at }));
    return li;
  }));
  // Only a reader already at the top is brought to the newest entry.
  if (atTop) list.scrollTop = 0;
  $('fab-count').textContent = String(state.events.size);
}

/** Toasts on screen at once: a burst (a pick, a tie) must not bury the board. */
const MAX_TOASTS = 3;

function toast(event) {
  const box = $('toasts');
  while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
  const button = el('button', describe(event), { type: 'button', class: 'toast' });
  button.addEventListener('click', () => { button.remove(); openModal(); });
  box.append(button);
  setTimeout(() => button.remove(), TOAST_MS);
}

/** An entry from the socket: dropped if already known (a reconnect replays the latest). */
function receive(event, replay) {
  if (!event || state.events.has(event.id)) return;
  state.events.set(event.id, event);
  renderHistory();
  if (!replay) {
    const fab = $('fab');
    fab.classList.remove('pulse');
    void fab.offsetWidth;
    fab.classList.add('pulse');
    if (TOASTED.has(event.event_type)) toast(event);
  }
  refreshBoard();
}

function openModal() {
  $('modal').hidden = false;
  $('history').scrollTop = 0;
  $('modal-close').focus();
}

function closeModal() {
  $('modal').hidden = true;
}

// --- the board --------------------------------------------------------------------------------

function refreshBoard() {
  // One refresh at a time: entries that arrive meanwhile (a pick, a tie, an assignment) ask
  // for one more after it, so the board always ends on the latest state.
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        state.board = await api('GET', `/api/drafts/${draftId}`);
        renderBoard();
      } while (refreshAgain);
    } catch (e) {
      say(e.status === 404 ? 'There is no such draft.' : `The board could not be read: ${e.message}`, 'error');
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function renderBoard() {
  const b = state.board;
  $('title').textContent = `Draft ${b.id}`;
  $('status').textContent = `${b.team_count} teams of ${b.team_size + 1}`;
  const clock = $('on-the-clock');
  if (b.on_the_clock) {
    clock.replaceChildren(`Round ${b.on_the_clock.round}: `, el('strong', b.on_the_clock.captain_name), ' is on the clock');
  } else {
    clock.textContent = b.status === 'completed' ? 'Draft completed' : 'Waiting for the draft to start.';
  }
  $('teams').replaceChildren(...b.teams.map((t) => {
    const card = el('div', null, { class: 'team', 'data-team': t.team_id, 'data-on-clock': String(b.on_the_clock?.team_id === t.team_id) });
    const head = el('h3', `${t.captain.name}`);
    head.append(' ', el('span', `· ${t.total_mmr.toLocaleString()} MMR${t.full ? ' · full' : ''}`, { class: 'total' }));
    const list = el('ul');
    for (const p of t.players) {
      const li = el('li');
      li.append(el('span', p.name), el('span', p.mmr.toLocaleString(), { class: 'mmr' }));
      list.append(li);
    }
    card.append(head, list);
    return card;
  }));
  const pool = b.players.filter((p) => p.team_id === null).sort((x, y) => y.mmr - x.mmr);
  $('pool-count').textContent = `${pool.length} left`;
  // A captain's token names its draft and captain: `<draft id>:<captain id>`.
  const mine = state.claims?.role === 'captain' && state.claims.sub === `${b.id}:${b.on_the_clock?.captain_id}`;
  const canPick = Boolean(b.on_the_clock) && (isStaff() || mine);
  $('pick-hint').hidden = !canPick;
  $('pool').replaceChildren(...pool.map((p) => {
    const li = el('li', null, { 'data-player': p.id });
    if (canPick) {
      const button = el('button', null, { type: 'button' });
      button.append(el('span', p.name), el('span', p.mmr.toLocaleString(), { class: 'mmr' }));
      button.addEventListener('click', () => pick(p));
      li.append(button);
    } else {
      li.append(el('span', p.name), el('span', p.mmr.toLocaleString(), { class: 'mmr' }));
    }
    return li;
  }));
  $('staff-actions').hidden = !isStaff();
  $('start-btn').disabled = b.status !== 'created';
  $('undo-btn').disabled = b.rounds.every((r) => !r.pick);
}

async function act(label, call) {
  try {
    await call();
    say('');
  } catch (e) {
    say(`${label}: ${e.code} — ${e.message}`, 'error');
  }
}

function pick(player) {
  act('Pick', () => api('POST', `/api/drafts/${draftId}/picks`, { player_id: player.id }));
}

// --- the socket -------------------------------------------------------------------------------

function setLink(stateName, text) {
  $('link').dataset.state = stateName;
  $('link').textContent = text;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = state.token ? `?token=${encodeURIComponent(state.token)}` : '';
  const socket = new WebSocket(`${scheme}://${location.host}/ws/draft/${draftId}/${query}`);
  socket.addEventListener('open', () => {
    setLink('ok', 'live');
    reconnectMs = 1000;
    refreshBoard();
  });
  socket.addEventListener('message', (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (frame.type === 'draft.event') receive(frame.payload, frame.replay === true);
  });
  socket.addEventListener('close', (event) => {
    if (event.code === 4004) {
      setLink('fault', 'no such draft');
      say(event.reason || 'There is no such draft.', 'error');
      return;
    }
    setLink('fault', 'reconnecting…');
    setTimeout(connect, reconnectMs);
    reconnectMs = Math.min(MAX_RECONNECT_MS, reconnectMs * 2);
  });
}

$('fab').addEventListener('click', openModal);
$('modal-close').addEventListener('click', closeModal);
$('modal').addEventListener('click', (event) => { if (event.target === $('modal')) closeModal(); });
document.addEventListener('keydown', (event) => { if (event.key === 'Escape') closeModal(); });
$('start-btn').addEventListener('click', () => act('Start', () => api('POST', `/api/drafts/${draftId}/start`)));
$('undo-btn').addEventListener('click', () => {
  if (confirm('Undo the last pick?')) act('Undo', () => api('POST', `/api/drafts/${draftId}/undo`));
});

takeToken();
if (Number.isInteger(draftId) && draftId > 0) {
  connect();
} else {
  setLink('fault', 'no such draft');
  say('This page shows a draft: /drafts/<number>.', 'error');
}
