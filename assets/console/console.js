// The staff console: a page served by the box that drives its admin API. It keeps the admin
// token in this tab's sessionStorage, reads the box's state once a second, and renders every
// value as text (names and ids come from devices in the room, never as markup).
'use strict';

const TOKEN_KEY = 'venuebox.adminToken';
const REFRESH_MS = 1000;

let refreshTimer = null;
let lastHardware = null;
/** When the box last answered a full refresh (ms since the epoch), for "updated N s ago". */
let lastAnswerAt = 0;

/** A table row; each cell carries its column's name, which a phone shows beside it (cards). */
function row(cells, labels = []) {
  const tr = document.createElement('tr');
  cells.forEach((cell, i) => tr.append(el('td', cell, labels[i] ? { 'data-label': labels[i] } : {})));
  return tr;
}

/** The column names of the table around `tbody`. */
const columnsOf = (tbody) => [...tbody.closest('table').querySelectorAll('thead th')].map((th) => th.textContent);
const number = (n) => Number(n).toLocaleString('en-US');
/** Where the video catalogue says how long each video runs (seconds). */
const videoSeconds = new Map();
/** The box's clock minus this device's, from the last `GET /api/predictions`. */
let clockOffsetMs = 0;

function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

/** Calls the box with this tab's staff token (`callBox` in /shared/page.js). */
const api = (method, path, body) => callBox(sessionStorage.getItem(TOKEN_KEY), method, path, body);

/** The box's refusal as a sentence staff can act on, its code in small print. */
function explain(e) {
  if (e instanceof TypeError) return 'The box did not answer: check its Wi-Fi and power.';
  const said = {
    INVALID_TOKEN: 'That is not the staff password.',
    RATE_LIMITED: 'Too many tries in a short time: wait a minute.',
  }[e.code] ?? e.message;
  return `${said} (${e.code})`;
}

/**
 * Runs a staff action and reports its outcome next to the control that started it (`near`),
 * where a thumb on a phone can see it; a lapsed login goes back to the login form.
 */
async function act(label, call, near) {
  try {
    await call();
    report(`${label}: done`, 'info', near);
    await refresh();
  } catch (e) {
    if (e.status === 401) return showLogin('Your login has expired; log in again.');
    report(`${label}: ${explain(e)}`, 'error', near);
  }
}

/** Shows an outcome under `near` (a form or a button), else in the page's status line. */
function report(text, kind, near) {
  const anchor = near?.closest('form, li, .actions, section');
  if (!anchor) return say(text, kind);
  let line = anchor.querySelector(':scope > .outcome');
  if (!line) {
    line = el('p', null, { class: 'outcome', role: 'status' });
    anchor.append(line);
  }
  line.textContent = text;
  line.dataset.kind = kind;
  clearTimeout(line.timer);
  line.timer = setTimeout(() => line.remove(), kind === 'error' ? 15_000 : 5000);
}

function showLogin(why = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  // On the login form too, the pill says whether the box answers.
  refreshTimer = setInterval(checkHealth, 5000);
  checkHealth();
  $('dashboard').hidden = true;
  $('clock-offer').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  say(why, why ? 'error' : 'info');
  $('password').focus();
}

async function checkHealth() {
  try {
    renderHealth(await api('GET', '/healthz'));
  } catch (e) {
    renderHealth(e instanceof TypeError ? null : { status: 'fault', storage: e.message });
  }
}

const TV_VIEWS = { scores: 'the scores', tournament: 'tournament', draft: 'draft', sports: 'sports day' };
/** What the TVs show now, in words (never the link: a tournament's carries a token). */
function renderTvShow(chosen) {
  const what = TV_VIEWS[chosen.view] ?? chosen.view;
  $('tv-now').textContent = `The TVs at /tv show ${what}${chosen.id ? ` ${chosen.id}` : ''}.`;
  $('tv-view').value = chosen.view;
  if (chosen.id) $('tv-id').value = chosen.id;
}

function showDashboard() {
  api('GET', '/api/tv/show').then(renderTvShow).catch(() => {});
  checkClock();
  clearInterval(refreshTimer);
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('logout').hidden = false;
  refresh();
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

/** A time with its date, as the clock offer shows both clocks. */
const dateAndTime = (ms) => new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short', hourCycle: 'h23' });

/** "2 h 28 min", "3 min", "45 s". */
function span(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min`;
}

/**
 * The box has no battery clock: this device's (staff's laptop or phone, which keeps good time)
 * confirms it when the two agree, quietly, and offers to set it when they do not.
 */
async function checkClock() {
  let clock;
  try {
    clock = await api('GET', '/api/clock');
  } catch {
    return;
  }
  const offset = Date.now() - clock.nowMs;
  if (Math.abs(offset) <= clock.agreementMs) {
    $('clock-offer').hidden = true;
    if (!clock.confirmed) api('POST', '/api/clock', { time: Date.now() }).catch(() => {});
    return;
  }
  const ahead = offset < 0 ? 'ahead of' : 'behind';
  $('clock-offer-text').textContent = clock.confirmed
    ? `The box's clock (${dateAndTime(clock.nowMs)}) was confirmed by staff, and is ${span(offset)} ${ahead} this device's (${dateAndTime(Date.now())}). Check this device's clock before you set the box's.`
    : `The box's clock says ${dateAndTime(clock.nowMs)}, ${span(offset)} ${ahead} this device's (${dateAndTime(Date.now())}). Times in the log and on the screens follow the box's clock.`;
  $('clock-offer').hidden = false;
}

/** The pill: ok, a storage fault, or (`null`) a box that does not answer at all. */
function renderHealth(health) {
  const pill = $('health');
  const ok = health && health.status === 'ok';
  pill.dataset.state = ok ? 'ok' : 'fault';
  if (!health) pill.textContent = 'box unreachable';
  else pill.textContent = ok ? `ok · v${health.version}` : `storage fault: ${health.storage}`;
}

/** Greys the panels when what they show is old, and says how old. */
function renderFreshness(reachable) {
  const stale = !reachable && lastAnswerAt > 0;
  $('dashboard').dataset.stale = String(stale);
  const age = Math.round((Date.now() - lastAnswerAt) / 1000);
  $('freshness').hidden = !stale;
  $('freshness').textContent = stale ? `The box is not answering: what you see was updated ${age} s ago.` : '';
}

function renderSession(state) {
  const s = state.session;
  const running = s && (s.status === 'active' || s.status === 'paused');
  $('session-summary').textContent = s
    ? `${s.name} — ${s.status} since ${clock(s.startTime)}${s.teams ? ` — teams ${s.teams.join(', ')}` : ''}`
    : 'No session. Start one below.';
  $('session-summary').dataset.sessionId = s ? s.id : '';
  $('session-summary').dataset.status = s ? s.status : 'none';
  document.querySelector('[data-session="paused"]').disabled = !(s && s.status === 'active');
  document.querySelector('[data-session="active"]').disabled = !(s && s.status === 'paused');
  document.querySelector('[data-session="ended"]').disabled = !running;
  $('reset-session').disabled = !running;
  $('session-form').hidden = Boolean(running);
}

function renderScores(state) {
  const labels = columnsOf($('scores'));
  const ranked = [...state.scores].sort((a, b) => b.score - a.score || a.teamId.localeCompare(b.teamId));
  $('scores').replaceChildren(...ranked.map((t, i) =>
    row([i + 1, t.teamId, number(t.score), number(t.baseScore), number(t.bonusPoints), t.tokensScanned, t.completedGroups.join(', ')], labels)));
}

function renderScans(state) {
  const recent = [...state.recentTransactions].reverse();
  const labels = columnsOf($('scans'));
  $('scans').replaceChildren(...recent.map((t) => {
    // Why a scan did not count is on screen, not only in a tooltip.
    const why = t.status === 'accepted' ? '' : (t.rejectionReason ?? (t.status === 'duplicate' ? 'already scanned' : ''));
    const tr = row([clock(t.timestamp), t.tokenId, t.teamId ?? '', t.scannerId, t.status, number(t.points), why], labels);
    tr.dataset.status = t.status;
    return tr;
  }));
}

function renderVideo(state) {
  const v = state.currentVideo;
  $('video-now').textContent = v ? `${v.tokenId}: ${v.status}` : 'Nothing playing.';
  const duration = v && videoSeconds.get(v.tokenId);
  const progress = $('video-progress');
  progress.hidden = !duration;
  if (duration) {
    // Counted from when it started on the box's clock; a paused video shows where it stopped
    // being counted, which the player reports on the TV.
    const played = Math.min(duration, Math.max(0, (Date.now() + clockOffsetMs - Date.parse(v.startedAt)) / 1000));
    progress.max = duration;
    progress.value = played;
    const left = Math.round(duration - played);
    $('video-now').textContent += ` · ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left`;
  }
  const queue = state.videoQueue ?? [];
  $('video-queue').textContent = queue.length
    ? `Queued: ${queue.map((q) => q.tokenId ?? q).join(', ')}`
    : '';
  if (!state.systemStatus.videoDisplayReady) $('video-now').textContent += ' (video player down: restarting)';
}

/** How GM stations identify on this box (`[gm] station_auth`), in words staff can act on. */
const STATION_AUTH = {
  password: 'GM stations log in with the staff password or their own token (station_auth = password).',
  token: 'GM stations need their own token: venuebox token --role gm --sub <station> (station_auth = token).',
  open: 'GM stations connect without any token: anyone on the box\u2019s Wi-Fi can score (station_auth = open).',
};
function renderStationAuth(status) {
  const el = $('station-auth');
  el.dataset.mode = status.stationAuth;
  el.textContent = STATION_AUTH[status.stationAuth] ?? `station_auth = ${status.stationAuth}`;
}

function renderDevices(state) {
  const labels = columnsOf($('devices'));
  $('devices').replaceChildren(...state.devices.map((d) =>
    row([d.deviceId, d.type, d.name ?? '', d.connected ? 'yes' : `no (${d.disconnectReason ?? '—'})`, clock(d.lastSeen)], labels)));
}

function renderHardware(hw) {
  lastHardware = hw;
  for (const led of document.querySelectorAll('.led')) {
    led.dataset.on = String(Boolean(hw.leds[led.dataset.led]));
  }
  $('pattern').textContent = hw.pattern;
  $('hardware-summary').textContent =
    `LEDs and button: ${hw.backend} · video player: ${hw.video.player} (${hw.video.ready ? 'ready' : 'down'})` +
    ` · pattern ${hw.pattern}${hw.button.held ? ' · reset button held' : ''}`;
  const press = $('press-button');
  press.hidden = !hw.button.simulated;
  press.textContent = `Hold the reset button (${hw.button.holdSecs} s)`;
}

/**
 * The questions, each updated in place: its item and its "Close now" button stay the same
 * elements from one refresh to the next, so a slow tap is never lost to a redraw.
 */
function renderPredictions(list) {
  if (list.serverTime) clockOffsetMs = Date.parse(list.serverTime) - Date.now();
  const box = $('predictions');
  const items = list.events.map((p) => {
    let li = box.querySelector(`li[data-prediction-id="${CSS.escape(p.id)}"]`);
    if (!li) {
      li = el('li', null, { 'data-prediction-id': p.id });
      li.append(el('strong', p.title), el('span', '', { class: 'totals' }), el('span', '', { class: 'result' }));
      const close = el('button', 'Close now', { type: 'button', class: 'close' });
      close.addEventListener('click', () => {
        if (!confirm(`Close "${p.title}" now? Voting ends and the leading option wins.`)) return;
        act(`Close "${p.title}"`, () => api('POST', `/api/predictions/${encodeURIComponent(p.id)}/close`), close);
      });
      li.append(' ', close);
    }
    const totals = p.options.map((o) => `${o.label}: ${p.totals[o.id] ?? 0}`).join(' · ');
    const points = Object.values(p.totals).reduce((a, b) => a + b, 0);
    const votes = p.costPerVote ? Math.round(points / p.costPerVote) : 0;
    const left = Math.max(0, Math.round((Date.parse(p.closesAt) - Date.now() - clockOffsetMs) / 1000));
    const when = p.status === 'open' ? `closes in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}` : p.status;
    li.querySelector('.totals').textContent = ` [${p.streamerId}] ${when} — ${votes} vote${votes === 1 ? '' : 's'} — ${totals}`;
    const winner = p.result && p.options.find((o) => o.id === p.result.optionId);
    li.querySelector('.result').textContent = p.result ? ` — result: ${winner ? winner.label : 'no votes'}` : '';
    li.querySelector('button.close').hidden = Boolean(p.result);
    return li;
  });
  const same = items.length === box.children.length && items.every((li, i) => box.children[i] === li);
  if (!same) box.replaceChildren(...items);
}

function renderHistory(sessions) {
  const items = sessions.archived.map((a) => {
    const s = a.session;
    const ranked = [...a.scores].sort((x, y) => y.score - x.score);
    const scores = ranked.map((t) => `${t.teamId} ${t.score}`).join(' · ') || 'no scores';
    const li = el('li', `${s.name} (${clock(s.startTime)}–${clock(s.endTime)}): ${scores} — ${a.transactionCount} scans`);
    li.dataset.sessionId = s.id;
    return li;
  });
  $('history').replaceChildren(...(items.length ? items : [el('li', 'None yet tonight.')]));
}

function renderPresence(presence) {
  const entries = Object.entries(presence.channels);
  $('presence').replaceChildren(...(entries.length
    ? entries.map(([channel, n]) => el('li', `${channel}: ${n}`))
    : [el('li', 'Nobody is subscribed.')]));
}

/** How the trail names who acted: the button, a station, or staff with their login time. */
function actorOf(entry) {
  if (entry.role === 'button') return 'the reset button';
  if (entry.role === 'admin') return entry.loggedInAt ? `staff (logged in ${clock(entry.loggedInAt)})` : 'staff';
  return `${entry.who} (${entry.role})`;
}

/** Event names as words: "SessionReset" → "session reset". */
const words = (name) => name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();

/** The log sequence the trail was last read at: it is read again only when the log grew. */
let auditReadAt = -1;
async function refreshAudit(seq) {
  if (seq === auditReadAt) return;
  const { entries } = await api('GET', '/api/audit?limit=20');
  auditReadAt = seq;
  const labels = columnsOf($('audit'));
  $('audit').replaceChildren(...(entries.length
    // A time from a clock nobody vouched for (a box back from a power cut) says so.
    ? entries.map((e) => row([`${clock(e.at)}${e.clockConfirmed === false ? ' (clock unconfirmed)' : ''}`, actorOf(e), e.address ?? 'the box', e.did.map(words).join(', ')], labels))
    : [row(['', 'Nothing yet tonight.', '', ''], labels)]));
}

/** Viewers who joined with a name starting with `text`. */
async function viewersNamed(text) {
  try {
    return (await api('GET', `/api/viewers?q=${encodeURIComponent(text.trim())}`)).viewers;
  } catch {
    return [];
  }
}

/** Offers the joined viewers matching what staff type, with their points, to pick from. */
async function findViewers(text) {
  const found = await viewersNamed(text);
  $('viewer-list').replaceChildren(...found.map((v) => el('option', `${v.name} (${v.balance} points)`, { value: v.userId })));
}

let tokensLoaded = false;
async function loadVideoTokens() {
  if (tokensLoaded) return;
  const catalog = await api('GET', '/api/tokens');
  const videos = catalog.tokens.filter((t) => t.video);
  for (const t of videos) if (t.videoDuration) videoSeconds.set(t.id, t.videoDuration);
  $('video-tokens').replaceChildren(...videos.map((t) => el('option', null, { value: t.id })));
  tokensLoaded = true;
}

let refreshing = false;
async function refresh() {
  if (refreshing || !sessionStorage.getItem(TOKEN_KEY)) return;
  refreshing = true;
  try {
    const health = await api('GET', '/healthz').catch((e) => (e instanceof TypeError ? null : { status: 'fault', storage: e.message }));
    renderHealth(health);
    if (!health) {
      renderFreshness(false);
      return;
    }
    const [state, hw, predictions, presence, sessions, status] = await Promise.all([
      api('GET', '/api/state'), api('GET', '/api/hardware'), api('GET', '/api/predictions'), api('GET', '/api/presence'),
      api('GET', '/api/sessions'), api('GET', '/api/state/status'),
    ]);
    renderStationAuth(status);
    renderSession(state);
    renderScores(state);
    renderScans(state);
    renderVideo(state);
    renderDevices(state);
    renderHardware(hw);
    renderPredictions(predictions);
    renderPresence(presence);
    renderHistory(sessions);
    await refreshAudit(state.lastEventSeq);
    document.body.dataset.seq = String(state.lastEventSeq);
    lastAnswerAt = Date.now();
    renderFreshness(true);
    await loadVideoTokens();
  } catch (e) {
    if (e.status === 401) showLogin('Your login has expired; log in again.');
    else if (e instanceof TypeError) { renderHealth(null); renderFreshness(false); }
    else renderHealth({ status: 'fault', storage: e.message });
  } finally {
    refreshing = false;
  }
}

/** A list typed as "a, b, c", without empty entries. */
const listOf = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** An option id from its label: lower case letters, digits and dashes. */
function optionId(label, index) {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return slug || `option-${index + 1}`;
}

function wire() {
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const { token } = await api('POST', '/api/admin/auth', { password: $('password').value });
      sessionStorage.setItem(TOKEN_KEY, token);
      $('password').value = '';
      say('');
      showDashboard();
    } catch (e) {
      say(`Login refused: ${explain(e)}`, 'error');
    }
  });
  $('logout').addEventListener('click', () => showLogin());
  $('clock-set').addEventListener('click', () =>
    act("Set the box's clock", async () => {
      await api('POST', '/api/clock', { time: Date.now(), set: true });
      $('clock-offer').hidden = true;
    }));
  $('clock-dismiss').addEventListener('click', () => { $('clock-offer').hidden = true; });

  $('session-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const teams = listOf($('session-teams').value);
    const body = { name: $('session-name').value.trim() };
    if (teams.length) body.teams = teams;
    act('Start session', () => api('POST', '/api/session', body), event.target);
  });
  for (const button of document.querySelectorAll('[data-session]')) {
    const status = button.dataset.session;
    button.addEventListener('click', () => {
      if (status === 'ended' && !confirm('End the session? It is archived with its scores.')) return;
      act(`Session ${status}`, () => api('PUT', '/api/session', { status }), button);
    });
  }
  $('reset-session').addEventListener('click', () => {
    if (!confirm('Reset: archive this session and start a fresh one with the same teams?')) return;
    act('Reset session', () => api('POST', '/api/session/reset'), $('reset-session'));
  });

  $('video-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const action = event.submitter?.dataset.video ?? 'play';
    act(`Video ${action}`, () => api('POST', '/api/video/control', { action, tokenId: $('video-token').value.trim() }));
  });
  for (const button of document.querySelectorAll('.actions [data-video]')) {
    const action = button.dataset.video;
    button.addEventListener('click', () => {
      // Stopping also clears the queue: it asks first, as every destructive action does.
      if (action === 'stop' && !confirm('Stop the video and clear the queue?')) return;
      act(`Video ${action}`, () => api('POST', '/api/video/control', { action }), button);
    });
  }

  $('press-button').addEventListener('click', () => {
    // As destructive as the Reset button: it resets the live game.
    if (!confirm('Hold the reset button? It archives the session and starts a fresh one, as the real button does.')) return;
    const holdMs = Math.round(((lastHardware?.button.holdSecs) ?? 3) * 1000) + 200;
    act('Reset button held', () => api('POST', '/api/hardware/button', { press_ms: holdMs }), $('press-button'));
  });

  $('prediction-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const labels = listOf($('prediction-options').value);
    const minutes = Number($('prediction-minutes').value);
    const body = {
      streamerId: $('prediction-streamer').value.trim(),
      title: $('prediction-title').value.trim(),
      options: labels.map((label, i) => ({ id: optionId(label, i), label })),
      costPerVote: Number($('prediction-cost').value),
      // Counted on the box's clock: this device's clock and the box's may disagree.
      closesInSecs: Math.round(minutes * 60),
    };
    act('Open question', () => api('POST', '/api/predictions', body), event.target);
  });
  // One search after staff stop typing, not one per key.
  let typing = null;
  $('grant-user').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => findViewers($('grant-user').value), 250);
  });
  $('grant-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const typed = $('grant-user').value.trim();
    const found = await viewersNamed(typed);
    const viewer = found.find((v) => v.userId === typed || v.name.toLowerCase() === typed.toLowerCase());
    if (!viewer && !confirm(`Nobody has joined as "${typed}" yet. Grant the points anyway (they wait for that name)?`)) return;
    const user = viewer?.userId ?? typed;
    const body = { amount: Number($('grant-amount').value), reason: $('grant-reason').value.trim() };
    act(`Grant to ${viewer?.name ?? typed}`, () => api('POST', `/api/users/${encodeURIComponent(user)}/grants`, body), form);
  });
  $('tv-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const view = $('tv-view').value;
    const body = view === 'scores' ? { view } : { view, id: Number($('tv-id').value) };
    act('Show on the TVs', async () => renderTvShow(await api('PUT', '/api/tv/show', body)), event.target);
  });
  $('notice-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act('Notice', () => api('POST', '/api/notices', { message: $('notice-text').value }), event.target);
  });
}

wire();
if (sessionStorage.getItem(TOKEN_KEY)) showDashboard();
else showLogin();
