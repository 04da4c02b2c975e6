// The sports day's scoreboard: the live leaderboard, the next fixtures and latest results, and
// the announcements, with the latest urgent one across the top until it expires. Live over the
// event's socket (the seed's topics; the box sends each topic's state on joining, so a
// reconnect rebuilds everything), never polling. A private event needs a token in the link
// (`#token=`). Team names and announcements are rendered as text, never as markup.
'use strict';

const TOKEN_KEY = 'venuebox.sportsToken';
const MAX_RECONNECT_MS = 10_000;
const SHOWN_FIXTURES = 5;
const SHOWN_NEWS = 5;

const eventId = Number(location.pathname.split('/').filter(Boolean)[1]);
const state = { token: null, leaderboard: [], schedule: [], announcements: new Map(), ranks: new Map() };
let reconnectMs = 1000;

function takeToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    sessionStorage.setItem(TOKEN_KEY, hash.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const signed = (n) => (n > 0 ? `+${n}` : String(n));

function renderLeaderboard() {
  const rows = state.leaderboard.map((r) => {
    const tr = el('tr', null, { 'data-team': r.team_id });
    const before = state.ranks.get(r.team_id);
    if (before !== undefined && before !== r.rank) tr.classList.add('moved');
    if (r.rank === 1 && r.played > 0) tr.classList.add('leader');
    tr.append(
      el('td', r.rank, { class: 'rank' }),
      el('td', r.team ?? `Team ${r.team_id}`, { class: 'team' }),
      el('td', r.played), el('td', r.won), el('td', r.drawn), el('td', r.lost),
      el('td', r.goals_for, { class: 'wide-only' }), el('td', r.goals_against, { class: 'wide-only' }),
      el('td', signed(r.goal_difference)),
      el('td', r.points, { class: 'points' }),
    );
    return tr;
  });
  state.ranks = new Map(state.leaderboard.map((r) => [r.team_id, r.rank]));
  $('rows').replaceChildren(...rows);
  $('no-teams').hidden = state.leaderboard.length > 0;
}

function fixtureItem(f, withScore) {
  const li = el('li', null, { 'data-fixture': f.id, 'data-status': f.status });
  const teams = el('span', null, { class: 'teams' });
  const home = f.home_team.name ?? `Team ${f.home_team.id}`;
  const away = f.away_team.name ?? `Team ${f.away_team.id}`;
  if (withScore && f.result) {
    teams.append(el('span', home), el('span', `${f.result.home_score} – ${f.result.away_score}`, { class: 'score' }), el('span', away));
  } else {
    teams.textContent = `${home} v ${away}`;
  }
  const note = f.status === 'cancelled' ? 'cancelled' : f.status === 'rescheduled' ? `moved to ${time(f.starts_at)}` : time(f.starts_at);
  li.append(teams, el('span', note, { class: 'when' }));
  return li;
}

function renderSchedule() {
  const upcoming = state.schedule.filter((f) => f.status !== 'final').slice(0, SHOWN_FIXTURES);
  const done = state.schedule.filter((f) => f.status === 'final').slice(-SHOWN_FIXTURES).reverse();
  $('next').replaceChildren(...upcoming.map((f) => fixtureItem(f, false)));
  $('results').replaceChildren(...done.map((f) => fixtureItem(f, true)));
  $('no-next').hidden = upcoming.length > 0;
  $('no-results').hidden = done.length > 0;
}

const live = (a) => !a.expires_at || Date.parse(a.expires_at) > Date.now();

function renderNews() {
  for (const [id, a] of state.announcements) if (!live(a)) state.announcements.delete(id);
  const newest = [...state.announcements.values()].sort((a, b) => b.id - a.id);
  const urgent = newest.find((a) => a.priority === 'urgent');
  $('urgent').hidden = !urgent;
  if (urgent) {
    $('urgent-title').textContent = urgent.title;
    $('urgent-message').textContent = urgent.message;
  }
  $('news').replaceChildren(...newest.filter((a) => a !== urgent).slice(0, SHOWN_NEWS).map((a) => {
    const li = el('li', null, { 'data-priority': a.priority });
    li.append(el('strong', a.title), el('span', ` ${a.message}`), el('span', time(a.created_at), { class: 'when' }));
    return li;
  }));
  $('no-news').hidden = newest.length > (urgent ? 1 : 0);
}

function setLink(ok, text) {
  $('link').dataset.state = ok ? 'ok' : 'off';
  $('link').textContent = text;
}

function onMessage(frame) {
  const data = frame.data ?? {};
  switch (frame.type) {
    case 'leaderboard_update': state.leaderboard = data.leaderboard ?? []; renderLeaderboard(); break;
    case 'schedule_update': state.schedule = data.schedule ?? []; renderSchedule(); break;
    case 'announcement_update': {
      const a = data.announcement;
      if (a.status === 'active') state.announcements.set(a.id, a); else state.announcements.delete(a.id);
      renderNews();
      break;
    }
    default: break; // result_update: the schedule that follows carries it; pong, subscribed.
  }
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = state.token ? `?token=${encodeURIComponent(state.token)}` : '';
  const ws = new WebSocket(`${scheme}//${location.host}/ws/events/${eventId}/stream/${query}`);
  ws.onopen = () => {
    reconnectMs = 1000;
    // The box sends every topic's state again: start the announcements afresh.
    state.announcements.clear();
    ws.send(JSON.stringify({ type: 'subscribe_schedule' }));
    ws.send(JSON.stringify({ type: 'subscribe_announcements' }));
    setLink(true, 'live');
    say('');
  };
  ws.onmessage = (event) => {
    try { onMessage(JSON.parse(event.data)); } catch { /* a frame this page does not read */ }
  };
  ws.onclose = () => {
    setLink(false, 'reconnecting…');
    setTimeout(start, reconnectMs);
    reconnectMs = Math.min(reconnectMs * 2, MAX_RECONNECT_MS);
  };
}

/** Reads the event (its name, and whether this page may see it), then goes live. */
async function start() {
  try {
    const event = await callBox(state.token, 'GET', `/api/events/${eventId}`);
    $('title').textContent = event.name;
    document.title = `${event.name} · Scoreboard`;
    connect();
  } catch (error) {
    if (error.status === 403) {
      say('This event is private: open the scoreboard from a link that carries a staff or team token.', 'error');
      setLink(false, 'no access');
    } else if (error.status === 404) {
      say(`There is no event ${eventId} on this box.`, 'error');
      setLink(false, 'no event');
    } else {
      setLink(false, 'box unreachable');
      setTimeout(start, reconnectMs);
      reconnectMs = Math.min(reconnectMs * 2, MAX_RECONNECT_MS);
    }
  }
}

setInterval(() => {
  $('clock').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  if ([...state.announcements.values()].some((a) => !live(a))) renderNews();
}, 1000);

takeToken();
start();
