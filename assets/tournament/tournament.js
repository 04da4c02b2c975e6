// The tournament page: staff run the night from it, a participant's phone checks in and follows
// the round, and a screen (`&screen`) shows the motion, the timer, the draw and the standings in
// big type. It holds no powers of its own: it calls the box's HTTP API and its `/ws/stream`
// channels with the token it was given, and renders every name as text, never as markup.
'use strict';

/** The console's key: staff who logged in there are logged in here too (same tab). */
const STAFF_KEY = 'venuebox.adminToken';
/** A participant's token, from the link staff gave them; kept on the phone across reloads. */
const PARTICIPANT_KEY = 'venuebox.tournamentToken';
const CHANNELS = ['draws:new', 'rounds:live', 'checkins:status', 'timers:sync', 'standings:update'];
const MAX_RECONNECT_MS = 10_000;

const params = new URLSearchParams(location.search);
const screenMode = params.has('screen');

const state = {
  token: null,
  claims: null,
  tournamentId: Number(params.get('t')) || null,
  tournament: null,
  roundId: null,
  draw: null,
  lastSeq: 0,
  timer: { remaining: null, running: false, at: 0 },
};
let socket = null;
let reconnectMs = 1000;
let nextRequestId = 1;
const pending = new Map();

const isStaff = () => state.claims?.role === 'admin';

/** The payload of a JWT (not verified here: the box verifies every call). */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

/** A link's `#token=…` goes to this phone's storage and out of the address bar. */
function takeTokenFromLink() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get('token');
  if (token) {
    localStorage.setItem(PARTICIPANT_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

/** Calls the box with this page's token (`callBox` in /shared/page.js). */
const api = (method, path, body) => callBox(state.token, method, path, body);

/** Runs a staff action and says how it went. */
async function act(label, call) {
  try {
    await call();
    say(`${label}: done`);
  } catch (e) {
    if (e.status === 401) return showLogin('Your login has expired; log in again.');
    say(`${label}: ${e.code} — ${e.message}`, 'error');
  }
}

function showLogin(why = '') {
  sessionStorage.removeItem(STAFF_KEY);
  $('main').hidden = true;
  $('pick').hidden = true;
  $('login').hidden = false;
  setLink('off', 'not logged in');
  say(why, why ? 'error' : 'info');
}

function setLink(stateName, text) {
  $('link').dataset.state = stateName;
  $('link').textContent = text;
}

// --- rendering -------------------------------------------------------------------------------

const currentRound = () => state.tournament?.rounds.find((r) => r.id === state.roundId) ?? null;

function participants() {
  const t = state.tournament;
  if (!t) return [];
  return [
    ...t.teams.flatMap((team) => team.speakers.map((s) => ({ ...s, team: team.name, teamId: team.id }))),
    ...t.adjudicators.map((a) => ({ ...a, team: 'adjudicator', teamId: null })),
  ];
}

function myTeamId() {
  return state.tournament?.teams.find((t) => t.speakers.some((s) => s.id === state.claims?.sub))?.id ?? null;
}

function renderRounds() {
  const t = state.tournament;
  $('title').textContent = t.name;
  const select = $('round-select');
  select.replaceChildren(...t.rounds.map((r) => el('option', `Round ${r.number}`, { value: r.id })));
  if (!t.rounds.some((r) => r.id === state.roundId)) state.roundId = t.rounds.at(-1)?.id ?? null;
  if (state.roundId !== null) select.value = String(state.roundId);
  select.parentElement.hidden = t.rounds.length < 2;
}

function renderRound() {
  const round = currentRound();
  $('round-name').textContent = round ? `Round ${round.number}` : 'No round yet';
  const motion = $('motion');
  if (round?.motion && round.published) {
    motion.textContent = round.motion;
    motion.dataset.revealed = 'true';
  } else if (round?.motion) {
    motion.textContent = `Not revealed yet: ${round.motion}`;
    motion.dataset.revealed = 'staff';
  } else {
    motion.textContent = 'The motion is revealed when the round goes live.';
    motion.dataset.revealed = 'false';
  }
  if (round) setTimer(round.timer.seconds_remaining, round.timer.running);
  const mine = round?.checked_in.includes(state.claims?.sub);
  const canCheckIn = state.claims?.role === 'participant' && round && state.tournament && participants().some((p) => p.id === state.claims.sub);
  $('checkin-me').hidden = !canCheckIn || screenMode;
  $('checkin-btn').textContent = mine ? 'Checked in ✓ (tap to undo)' : "I'm here";
  $('checkin-btn').dataset.checked = String(Boolean(mine));
  $('checkin-state').textContent = mine ? 'You are checked in for this round.' : 'Tap when you are in the room.';
  $('draw-btn').disabled = !round || round.draw.status === 'running';
  $('publish-btn').disabled = !round || round.published;
  renderCheckins();
}

function renderCheckins() {
  const round = currentRound();
  const people = participants();
  const present = new Set(round?.checked_in ?? []);
  $('checkin-count').textContent = round ? `${present.size} of ${people.length}` : '';
  const items = people.map((p) => {
    const box = el('input', null, { type: 'checkbox', 'data-user': p.id });
    box.checked = present.has(p.id);
    box.disabled = !round;
    box.addEventListener('change', () => checkIn(p.id, box.checked));
    const label = el('label', null, { class: 'check' });
    label.append(box, el('span', p.name), el('span', p.team, { class: 'hint' }));
    const li = el('li');
    li.append(label);
    return li;
  });
  $('checkins').replaceChildren(...items);
}

async function renderDraw() {
  const round = currentRound();
  state.draw = null;
  if (round?.draw.status === 'done') {
    try {
      state.draw = await api('GET', `/api/rounds/${round.id}/draw`);
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  const draw = state.draw;
  $('draw').hidden = !draw;
  const status = round?.draw.status;
  $('draw-empty').hidden = Boolean(draw);
  $('draw-empty').textContent = status === 'running' ? 'The draw is being made…'
    : status === 'failed' ? `The draw failed: ${round.draw.reason}` : 'No draw yet.';
  const mine = myTeamId();
  const name = (side) => side?.name ?? `#${side?.id}`;
  $('draw').tBodies[0].replaceChildren(...(draw?.rooms ?? []).map((room) => {
    const tr = el('tr');
    if (mine !== null && (room.proposition.id === mine || room.opposition.id === mine)) tr.dataset.mine = 'true';
    tr.append(el('td', room.room), el('td', name(room.proposition)), el('td', name(room.opposition)),
      el('td', room.adjudicator?.name ?? '—'));
    return tr;
  }));
  $('bye').textContent = draw?.bye ? `Bye: ${name(draw.bye)}` : '';
  renderBallotForm();
}

function renderBallotForm() {
  const rooms = state.draw?.rooms ?? [];
  const select = $('ballot-room');
  const chosen = select.value;
  select.replaceChildren(...rooms.map((r) => el('option', `Room ${r.room}: ${r.proposition.name} v ${r.opposition.name}`, { value: r.room })));
  if (rooms.some((r) => String(r.room) === chosen)) select.value = chosen;
  renderScoreInputs();
}

function renderScoreInputs() {
  const room = state.draw?.rooms.find((r) => String(r.room) === $('ballot-room').value);
  const teams = state.tournament?.teams ?? [];
  const speakersOf = (id) => teams.find((t) => t.id === id)?.speakers ?? [];
  const inputs = room ? [...speakersOf(room.proposition.id), ...speakersOf(room.opposition.id)].map((s) => {
    const label = el('label', s.name);
    label.append(el('input', null, { type: 'number', min: '0', max: '100', value: '75', 'data-speaker': s.id, inputmode: 'numeric' }));
    return label;
  }) : [];
  $('ballot-scores').replaceChildren(...inputs);
  $('ballot-form').querySelector('button[type=submit]').disabled = !room;
}

async function renderStandings() {
  if (!state.tournamentId) return;
  const { standings } = await api('GET', `/api/tournaments/${state.tournamentId}/standings`);
  const mine = myTeamId();
  $('standings').tBodies[0].replaceChildren(...standings.map((s) => {
    const tr = el('tr');
    if (s.team_id === mine) tr.dataset.mine = 'true';
    tr.append(el('td', s.rank), el('td', s.team), el('td', s.wins), el('td', s.speaker_points.toLocaleString()));
    return tr;
  }));
}

function renderLinks() {
  const links = JSON.parse(sessionStorage.getItem(`venuebox.tournamentLinks.${state.tournamentId}`) ?? '[]');
  $('links').replaceChildren(...links.map((l) => {
    const li = el('li');
    const a = el('a', l.name, { href: l.url });
    li.append(a, el('span', ` (${l.role})`, { class: 'hint' }));
    return li;
  }));
}

function rememberLinks(people) {
  const key = `venuebox.tournamentLinks.${state.tournamentId}`;
  const links = JSON.parse(sessionStorage.getItem(key) ?? '[]');
  for (const p of people) {
    links.push({ name: p.name, role: p.role, url: `${location.origin}/tournament?t=${state.tournamentId}#token=${p.token}` });
  }
  sessionStorage.setItem(key, JSON.stringify(links));
  renderLinks();
}

// --- the timer -------------------------------------------------------------------------------

function setTimer(remaining, running) {
  state.timer = { remaining, running, at: performance.now() };
  drawTimer();
}

function drawTimer() {
  const { remaining, running, at } = state.timer;
  const node = $('timer');
  if (remaining === null) {
    node.textContent = '--:--';
    $('timer-state').textContent = '';
    return;
  }
  const left = running ? Math.max(0, Math.ceil(remaining - (performance.now() - at) / 1000)) : remaining;
  node.textContent = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
  node.dataset.running = String(running && left > 0);
  node.dataset.ending = String(left <= 30);
  $('timer-state').textContent = left === 0 ? 'Time.' : running ? '' : 'Paused';
}

// --- the stream ------------------------------------------------------------------------------

function send(frame) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected to the box'));
  const id = nextRequestId;
  nextRequestId += 1;
  socket.send(JSON.stringify({ id, ...frame }));
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => { pending.delete(id); reject(new Error('the box did not answer')); }, 10_000);
    pending.set(id, (reply) => {
      clearTimeout(timeout);
      if (reply.ok) resolve(reply);
      else reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
  });
}

async function checkIn(userId, status) {
  const round = currentRound();
  if (!round) return;
  try {
    await send({ channel: 'checkins:update', payload: { round_id: round.id, user_id: userId, status } });
    say(status ? 'Checked in.' : 'Check-in undone.');
  } catch (e) {
    say(`Check-in: ${e.code ?? 'ERROR'} — ${e.message}`, 'error');
    renderCheckins();
  }
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws/stream`, ['jwt', state.token]);
  socket.addEventListener('open', async () => {
    reconnectMs = 1000;
    try {
      const after = state.lastSeq > 0 ? { after: state.lastSeq } : {};
      await send({ action: 'subscribe', tournament_id: state.tournamentId, channels: CHANNELS, ...after });
      // Live only once subscribed: what was missed while away has arrived by now.
      setLink('ok', 'live');
    } catch (e) {
      say(`Could not follow the tournament: ${e.message}`, 'error');
    }
  });
  socket.addEventListener('message', (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    if (frame.reply_to !== undefined) {
      pending.get(frame.reply_to)?.(frame);
      pending.delete(frame.reply_to);
    } else if (frame.ok === false) {
      say(`${frame.error.code} — ${frame.error.message}`, 'error');
    } else if (frame.channel) {
      state.lastSeq = Math.max(state.lastSeq, frame.seq ?? 0);
      onChannel(frame.channel, frame.payload).catch((e) => say(e.message, 'error'));
    }
  });
  socket.addEventListener('close', (event) => {
    socket = null;
    if (event.code === 4001) {
      setLink('fault', 'token expired');
      if (isStaff()) return showLogin('Your login has expired; log in again.');
      say('Your link has expired: ask staff for a new one.', 'error');
      return;
    }
    setLink('fault', 'reconnecting…');
    setTimeout(() => { connect(); reload().catch(() => {}); }, reconnectMs);
    reconnectMs = Math.min(MAX_RECONNECT_MS, reconnectMs * 2);
  });
}

async function onChannel(channel, payload) {
  const round = state.tournament?.rounds.find((r) => r.id === payload.round_id);
  switch (channel) {
    case 'checkins:status':
      if (round) {
        const present = new Set(round.checked_in);
        if (payload.status) present.add(payload.user_id); else present.delete(payload.user_id);
        round.checked_in = [...present];
        if (round.id === state.roundId) renderRound();
      }
      break;
    case 'rounds:live':
      if (round) {
        round.motion = payload.motion;
        round.published = true;
        if (round.id === state.roundId) {
          renderRound();
          $('motion').classList.remove('reveal');
          void $('motion').offsetWidth;
          $('motion').classList.add('reveal');
        }
      }
      break;
    case 'timers:sync':
      // The seed's payload has no running flag: the round says whether it runs.
      if (payload.round_id === state.roundId) {
        const fresh = await api('GET', `/api/rounds/${payload.round_id}`);
        setTimer(fresh.timer.seconds_remaining, fresh.timer.running);
      }
      break;
    case 'draws:new':
    case 'draws:failed':
      if (channel === 'draws:failed') say(`The draw failed: ${payload.reason}`, 'error');
      await reload();
      break;
    case 'standings:update':
      await renderStandings();
      break;
    default:
      break;
  }
}

// --- loading ---------------------------------------------------------------------------------

async function reload() {
  state.tournament = await api('GET', `/api/tournaments/${state.tournamentId}`);
  renderRounds();
  renderRound();
  await renderDraw();
  await renderStandings();
}

async function showPick() {
  $('pick').hidden = false;
  const { tournaments } = await api('GET', '/api/tournaments');
  if (!isStaff() && tournaments.length > 0) {
    location.search = `?t=${tournaments.at(-1).id}${screenMode ? '&screen' : ''}`;
    return;
  }
  $('tournaments').replaceChildren(...tournaments.map((t) => {
    const li = el('li');
    li.append(el('a', `${t.name} (${t.teams} teams, ${t.rounds} rounds)`, { href: `?t=${t.id}` }));
    return li;
  }));
  if (tournaments.length === 0) $('tournaments').append(el('li', 'No tournament yet.', { class: 'hint' }));
}

async function start() {
  takeTokenFromLink();
  state.token = sessionStorage.getItem(STAFF_KEY) ?? localStorage.getItem(PARTICIPANT_KEY);
  state.claims = state.token ? claimsOf(state.token) : null;
  if (!state.claims || state.claims.exp * 1000 < Date.now()) {
    localStorage.removeItem(PARTICIPANT_KEY);
    return showLogin(state.claims ? 'Your link or login has expired.' : '');
  }
  document.body.dataset.role = state.claims.role;
  document.body.classList.toggle('screen', screenMode);
  $('who').textContent = { admin: 'staff', participant: 'participant', viewer: 'screen' }[state.claims.role] ?? state.claims.role;
  $('logout').hidden = false;
  $('login').hidden = true;
  if (!state.tournamentId) return showPick();
  $('main').hidden = false;
  try {
    await reload();
  } catch (e) {
    if (e.status === 401) return showLogin('Your link or login is no longer valid.');
    say(`${e.code} — ${e.message}`, 'error');
    return;
  }
  renderLinks();
  connect();
}

// --- staff actions ---------------------------------------------------------------------------

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { token } = await fetch('/api/admin/auth', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: $('password').value }),
    }).then(async (res) => {
      const json = await res.json();
      if (!res.ok) throw new Error(json.message);
      return json;
    });
    sessionStorage.setItem(STAFF_KEY, token);
    $('password').value = '';
    say('');
    await start();
  } catch (e) {
    say(`Login: ${e.message}`, 'error');
  }
});

$('logout').addEventListener('click', () => {
  if (!isStaff() && !confirm('Log out? You will need your link again to come back.')) return;
  sessionStorage.removeItem(STAFF_KEY);
  localStorage.removeItem(PARTICIPANT_KEY);
  location.href = location.pathname;
});

$('create-tournament').addEventListener('submit', (event) => {
  event.preventDefault();
  act('Create tournament', async () => {
    const t = await api('POST', '/api/tournaments', { name: $('tournament-name').value.trim() });
    location.search = `?t=${t.id}`;
  });
});

$('round-select').addEventListener('change', () => {
  state.roundId = Number($('round-select').value);
  renderRound();
  renderDraw().catch((e) => say(e.message, 'error'));
});

$('checkin-btn').addEventListener('click', () => {
  const round = currentRound();
  checkIn(state.claims.sub, !round?.checked_in.includes(state.claims.sub));
});

$('create-round').addEventListener('submit', (event) => {
  event.preventDefault();
  act('Create round', async () => {
    const round = await api('POST', `/api/tournaments/${state.tournamentId}/rounds`, { motion: $('motion-input').value.trim() });
    $('motion-input').value = '';
    state.roundId = round.id;
    await reload();
  });
});

$('draw-btn').addEventListener('click', () => {
  if (currentRound()?.draw.status === 'done' && !confirm('This round has a draw. Make a new one?')) return;
  act('Draw', async () => {
    await api('POST', `/api/rounds/${state.roundId}/draw`);
    await reload();
  });
});

$('publish-btn').addEventListener('click', () => {
  if (!confirm('Reveal the motion to every phone and screen now?')) return;
  act('Publish', () => api('POST', `/api/rounds/${state.roundId}/publish`));
});

$('timer-form').addEventListener('submit', (event) => event.preventDefault());
for (const button of $('timer-form').querySelectorAll('button')) {
  button.addEventListener('click', () => {
    const action = button.dataset.action;
    if (action === 'reset' && !confirm('Reset the round timer?')) return;
    const seconds = Math.round(Number($('timer-minutes').value) * 60);
    const body = action === 'start' || action === 'reset' ? { action, seconds } : { action };
    act(`Timer ${action}`, async () => {
      const round = await api('POST', `/api/rounds/${state.roundId}/timer`, body);
      setTimer(round.timer.seconds_remaining, round.timer.running);
    });
  });
}

$('ballot-room').addEventListener('change', renderScoreInputs);
$('ballot-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const speakers = [...$('ballot-scores').querySelectorAll('input')].map((i) => ({ id: i.dataset.speaker, score: Number(i.value) }));
  act('Ballot', () => api('POST', `/api/rounds/${state.roundId}/ballots`, {
    room: Number($('ballot-room').value), winner: $('ballot-winner').value, speakers,
  }));
});

$('add-team').addEventListener('submit', (event) => {
  event.preventDefault();
  act('Add team', async () => {
    const names = ['speaker-1', 'speaker-2', 'speaker-3'].map((id) => $(id).value.trim()).filter(Boolean);
    const team = await api('POST', `/api/tournaments/${state.tournamentId}/teams`, {
      name: $('team-name').value.trim(), speakers: names.map((name) => ({ id: uuid(), name })),
    });
    rememberLinks(team.speakers.map((s) => ({ name: `${s.name} (${team.name})`, role: 'speaker', token: s.token })));
    $('add-team').reset();
    await reload();
  });
});

$('add-judge').addEventListener('submit', (event) => {
  event.preventDefault();
  act('Add adjudicator', async () => {
    const judge = await api('POST', `/api/tournaments/${state.tournamentId}/adjudicators`, { id: uuid(), name: $('judge-name').value.trim() });
    rememberLinks([{ name: judge.name, role: 'adjudicator', token: judge.token }]);
    $('add-judge').reset();
    await reload();
  });
});

setInterval(drawTimer, 250);
start();
