// The venue's TV: the board (teams ranked, in big type, with thousands separators), the scores
// over the session as a chart drawn here, the video now playing with its time left, and the PIN
// with a QR code to join. Live over `/api/tv/stream` (EventSource reconnects by itself; the box
// sends the whole board again on every connect), never polling. A toast when the lead changes
// or a team completes a group. Team names are shown as text, never as markup.
'use strict';

const TOAST_MS = 6000;
const MAX_TOASTS = 3;
// Twelve colours far apart from each other (at least 99 apart in RGB), all bright on the dark board.
const COLOURS = ['#58a6ff', '#3fb950', '#f0883e', '#f778ba', '#affaa8', '#8c25f4', '#aff425', '#25f4af', '#f4256a', '#2547f4', '#f425f4', '#bca8fa'];

const tv = { board: null, video: null, videoAt: 0, colours: new Map() };

const number = (n) => Number(n).toLocaleString('en-US');

/** A colour per team: the twelve chosen ones, then hues spread by the golden angle (a room of more teams gets some close ones). */
function colourOf(teamId) {
  if (!tv.colours.has(teamId)) {
    const n = tv.colours.size;
    tv.colours.set(teamId, n < COLOURS.length ? COLOURS[n] : `hsl(${Math.round((n * 137.508) % 360)} 70% 62%)`);
  }
  return tv.colours.get(teamId);
}

function toast(text, kind = 'lead') {
  const box = $('toasts');
  // Only the newest leader is news: a lead toast replaces the one before it.
  if (kind === 'lead') box.querySelectorAll('.toast[data-kind="lead"]').forEach((old) => old.remove());
  while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
  const item = el('div', text, { class: 'toast', 'data-kind': kind });
  box.append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

/** Toasts for what changed between two boards: a new leader, a group completed. */
function announce(before, after) {
  if (!before) return;
  const leaderBefore = before.teams[0];
  const leaderNow = after.teams[0];
  if (leaderNow && leaderNow.score > 0 && leaderBefore?.teamId !== leaderNow.teamId) {
    // Worded for any team name, one player or many ("Owls", "Team 3").
    toast(`New leader: ${leaderNow.teamId}`);
  }
  const groupsBefore = new Map(before.teams.map((t) => [t.teamId, new Set(t.completedGroups)]));
  for (const team of after.teams) {
    for (const group of team.completedGroups) {
      if (!groupsBefore.get(team.teamId)?.has(group)) toast(`${team.teamId} completed ${group}!`, 'group');
    }
  }
}

function renderBoard(board) {
  const before = new Map((tv.board?.teams ?? []).map((t) => [t.teamId, t.rank]));
  const status = { paused: ' (paused)', archived: ' — final standings' }[board.session?.status] ?? '';
  $('session').textContent = board.session ? `${board.session.name}${status}` : 'venuebox';
  $('board').replaceChildren(...board.teams.map((t) => {
    const li = el('li', null, { 'data-team': t.teamId });
    // The team's colour on the chart, so a row and its line read as one.
    li.style.setProperty('--swatch', colourOf(t.teamId));
    if (before.has(t.teamId) && before.get(t.teamId) !== t.rank) li.classList.add('moved');
    const team = el('span', t.teamId, { class: 'team' });
    if (t.completedGroups.length) team.append(el('span', `★ ${t.completedGroups.join(', ')}`, { class: 'groups' }));
    li.append(el('span', t.rank, { class: 'rank' }), team, el('span', number(t.score), { class: 'score' }));
    return li;
  }));
  $('no-teams').hidden = board.teams.length > 0;
  renderChart(board.chart);
  renderVideo(board.video);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Each team's score over the session, on one time axis. */
function renderChart(chart) {
  const [W, H, PAD] = [600, 260, 36];
  const series = Object.entries(chart ?? {}).map(([team, points]) => [team, points.map(([t, s]) => [Date.parse(t), s])]);
  const all = series.flatMap(([, p]) => p);
  const plot = $('chart');
  plot.replaceChildren();
  $('legend').replaceChildren();
  $('chart-card').hidden = !all.length;
  if (!all.length) return;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(t0 + 1, ...all.map((p) => p[0]));
  const top = Math.max(1, ...all.map((p) => p[1]));
  const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (W - PAD - 8);
  const y = (s) => H - PAD + 8 - (s / top) * (H - PAD - 8);
  plot.append(svg('line', { class: 'axis', x1: PAD, y1: y(0), x2: W - 8, y2: y(0) }), svg('line', { class: 'axis', x1: PAD, y1: y(0), x2: PAD, y2: y(top) }));
  const label = (text, attrs) => { const t = svg('text', attrs); t.textContent = text; return t; };
  plot.append(label(number(top), { x: 2, y: y(top) + 4 }), label('0', { x: 2, y: y(0) + 4 }));
  for (const [team, points] of series) {
    // A step line: a score holds until the next scan.
    const steps = points.flatMap(([t, s], i) => (i ? [[t, points[i - 1][1]], [t, s]] : [[t, s]]));
    plot.append(svg('polyline', { points: steps.map(([t, s]) => `${x(t).toFixed(1)},${y(s).toFixed(1)}`).join(' '), stroke: colourOf(team), 'data-team': team }));
  }
  $('legend').replaceChildren(...series.map(([team]) => {
    const li = el('li', team);
    li.style.setProperty('--swatch', colourOf(team));
    return li;
  }));
}

function renderVideo(video) {
  if (!video) {
    tv.video = null;
    $('video-card').hidden = true;
    return;
  }
  if (tv.video?.tokenId !== video.tokenId) tv.video = { tokenId: video.tokenId };
  tv.video.paused = video.paused;
  $('video-card').hidden = false;
  $('video-title').textContent = `${video.tokenId}${video.paused ? ' (paused)' : ''}`;
  tickVideo();
}

function tickVideo() {
  const v = tv.video;
  if (!v) return;
  const duration = v.duration ?? 0;
  const elapsed = (v.position ?? 0) + (v.paused ? 0 : (Date.now() - tv.videoAt) / 1000);
  const pos = duration ? Math.min(duration, elapsed) : elapsed;
  $('video-bar').style.width = duration ? `${(100 * pos) / duration}%` : '0';
  const left = Math.max(0, Math.round(duration - pos));
  $('video-left').textContent = duration ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left` : '';
}

function onMessage(data) {
  switch (data.type) {
    case 'tv:hello':
      $('pin').textContent = data.pin;
      $('join-link').textContent = data.joinLink;
      break;
    case 'tv:board':
      announce(tv.board, data);
      renderBoard(data);
      tv.board = data;
      break;
    case 'tv:video':
      if (tv.video && tv.video.tokenId === data.tokenId) {
        Object.assign(tv.video, { position: data.position, duration: data.duration });
        tv.videoAt = Date.now();
        tickVideo();
      }
      break;
    default:
      break;
  }
}

function setLink(ok) {
  $('link').dataset.state = ok ? 'ok' : 'off';
  $('link').textContent = ok ? 'live' : 'reconnecting…';
}

setInterval(tickVideo, 500);
// One stream: the board, the video and what staff choose for the TVs (/shared/page.js).
followTheTvChoice(onMessage, setLink);
