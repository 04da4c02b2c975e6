// The venue's TV: the board (teams ranked, in big type, with thousands separators), the scores
// over the session as a chart drawn here, the video now playing with its time left, and the PIN
// with a QR code to join. Live over `/api/tv/stream` (EventSource reconnects by itself; the box
// sends the whole board again on every connect), never polling. A toast when the lead changes
// or a team completes a group. Team names are shown as text, never as markup.
'use strict';

const TOAST_MS = 5000;
const MAX_WAITING_TOASTS = 3;
// Twelve colours far apart from each other (at least 99 apart in RGB), all bright on the dark board.
const COLOURS = ['#58a6ff', '#3fb950', '#f0883e', '#f778ba', '#affaa8', '#8c25f4', '#aff425', '#25f4af', '#f4256a', '#2547f4', '#f425f4', '#bca8fa'];

const tv = { board: null, video: null, videoAt: 0, colours: new Map(), toast: null, waiting: [] };

const number = (n) => Number(n).toLocaleString('en-US');

const rgbOfHex = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
function rgbOfHsl(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  return [0, 8, 4].map((n) => Math.round(255 * (l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1)))));
}
const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/** A colour per team: the twelve chosen ones, then for each team after them the bright hue farthest from every colour taken. */
function colourOf(teamId) {
  if (!tv.colours.has(teamId)) {
    const n = tv.colours.size;
    if (n < COLOURS.length) {
      tv.colours.set(teamId, COLOURS[n]);
    } else {
      const taken = [...tv.colours.values()].map((c) => (c.startsWith('#') ? rgbOfHex(c) : c.match(/\d+/g).map(Number)));
      let best = null;
      for (let h = 0; h < 360; h += 5) {
        for (const l of [0.6, 0.75]) {
          const rgb = rgbOfHsl(h, 0.8, l);
          const apart = Math.min(...taken.map((t) => distance(t, rgb)));
          if (!best || apart > best.apart) best = { rgb, apart };
        }
      }
      tv.colours.set(teamId, `rgb(${best.rgb.join(', ')})`);
    }
  }
  return tv.colours.get(teamId);
}

/** One toast at a time, on one line, over the header; the rest wait their turn. A new leader replaces the leader toast shown or waiting: only the newest is news. */
function toast(text, kind = 'lead') {
  if (kind === 'lead') {
    tv.waiting = tv.waiting.filter((t) => t.kind !== 'lead');
    if (tv.toast?.dataset.kind === 'lead') {
      tv.toast.textContent = text;
      return;
    }
  }
  tv.waiting.push({ text, kind });
  if (tv.waiting.length > MAX_WAITING_TOASTS) tv.waiting.shift();
  if (!tv.toast) showNextToast();
}

function showNextToast() {
  const next = tv.waiting.shift();
  tv.toast = next ? el('div', next.text, { class: 'toast', 'data-kind': next.kind, title: next.text }) : null;
  $('toasts').replaceChildren(...(tv.toast ? [tv.toast] : []));
  if (tv.toast) setTimeout(showNextToast, TOAST_MS);
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
  $('board').style.setProperty('--rows', Math.max(8, board.teams.length));
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
  // Past eight teams the legend would push the join code off the screen; the board's rows
  // carry each team's colour anyway.
  $('legend').hidden = series.length > 8;
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
