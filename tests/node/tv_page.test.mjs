// The venue TV's page in headless Chromium against the real binary: a scan from a stock
// socket.io-client GM station reaches the board and re-ranks it, with a toast
// for the new leader; scores over the session drawn as a chart; the venue PIN with a QR code
// drawn by the box; the video now playing; reconnects after a restart. Screenshots at TV,
// laptop and phone sizes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitAck, launchChromium, startBox, station } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');

describe('the TV page', () => {
  let box;
  let admin;
  let browser;
  let tv;
  let gm;
  const errors = [];
  let streamsOpened = 0;

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    await box.createSession({ name: 'Friday quiz', teams: ['Owls', 'Foxes'] });
    browser = await launchChromium();
    tv = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    tv.on('pageerror', (e) => errors.push(e.message));
    tv.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    tv.on('request', (r) => { if (r.url().endsWith('/api/tv/stream')) streamsOpened += 1; });
    await tv.goto(`${box.url}/tv`);
    await tv.waitForSelector('#link[data-state="ok"]');
    gm = await station(box, 'GM_TV_TEST');
  });
  after(async () => {
    gm?.close();
    await browser?.close();
    await box?.stop();
  });

  const tokens = async () => (await box.http('GET', '/api/tokens', { token: admin })).json.tokens;
  const scan = (tokenId, teamId) => emitAck(gm.socket, 'transaction:submit', { tokenId, teamId });

  it('shows the session, the PIN and a QR code the box drew, over one stream', async () => {
    assert.equal(streamsOpened, 1, 'the board and the staff’s choice share one stream');
    assert.equal(await tv.textContent('#session'), 'Friday quiz');
    assert.equal(await tv.textContent('#pin'), box.viewerPin);
    assert.match(await tv.textContent('#join-link'), new RegExp(`/join\\?pin=${box.viewerPin}$`));
    const qr = await fetch(`${box.url}/tv/join.svg`);
    assert.equal(qr.headers.get('content-type'), 'image/svg+xml');
    assert.match(await qr.text(), /<svg[^>]+viewBox/);
    assert.ok(await tv.evaluate(() => document.querySelector('#qr').naturalWidth > 0), 'the QR code loads under the page’s CSP');
  });

  it('a GM scan reaches the board and re-ranks it, with a toast for the new leader', async () => {
    const scoring = (await tokens()).filter((t) => t.value > 0).sort((a, b) => a.value - b.value);
    assert.ok(scoring.length >= 2, 'the demo tokens score');
    const [small, big] = [scoring[0], scoring.at(-1)];
    let ack = await scan(small.id, 'Owls');
    assert.equal(ack.transaction?.status, 'accepted', JSON.stringify(ack));
    await tv.waitForFunction(() => document.querySelector('#board li')?.dataset.team === 'Owls', null, { timeout: 10000 });
    ack = await scan(big.id, 'Foxes');
    assert.equal(ack.transaction?.status, 'accepted', JSON.stringify(ack));
    await tv.waitForFunction(() => document.querySelector('#board li')?.dataset.team === 'Foxes', null, { timeout: 10000 });
    const score = await tv.textContent('#board li[data-team="Foxes"] .score');
    assert.ok(ack.transaction.points >= 1000, 'a score big enough to need a separator');
    assert.equal(score, ack.transaction.points.toLocaleString('en-US'), 'thousands separators');
    await tv.waitForSelector('.toast', { timeout: 10000 });
    assert.equal(await tv.textContent('#toasts'), 'New leader: Foxes', 'one toast, the newest leader’s');
    // `tv` inside evaluate is the page's own state, not this test's page.
    const leadersWaiting = await tv.evaluate(() => tv.waiting.filter((t) => t.kind === 'lead').length);
    assert.equal(leadersWaiting, 0, 'the new leader’s toast replaces the one before rather than queueing behind it');
    assert.equal(await tv.locator('#chart polyline').count(), 2, 'a line per team');
    for (const team of ['Owls', 'Foxes']) {
      const row = await tv.$eval(`#board li[data-team="${team}"]`, (li) => li.style.getPropertyValue('--swatch'));
      const line = await tv.$eval(`#chart polyline[data-team="${team}"]`, (p) => p.getAttribute('stroke'));
      assert.equal(row, line, `${team}’s row is marked in its chart colour`);
    }
    // Twelve teams' colours, as the browser renders them, pairwise far apart.
    const closest = await tv.evaluate(() => {
      const rgb = (colour) => {
        const probe = document.createElement('i');
        probe.style.color = colour;
        document.body.append(probe);
        const parts = getComputedStyle(probe).color.match(/\d+/g).map(Number);
        probe.remove();
        return parts;
      };
      const colours = Array.from({ length: 12 }, (_, i) => rgb(colourOf(i < 2 ? ['Owls', 'Foxes'][i] : `probe-${i}`)));
      let min = Infinity;
      colours.forEach((a, i) => colours.slice(i + 1).forEach((b) => { min = Math.min(min, Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2])); }));
      return min;
    });
    assert.ok(closest >= 90, `two of twelve teams' colours are only ${closest.toFixed(0)} apart`);
    const overlaps = await tv.evaluate(() => {
      const toast = document.querySelector('.toast').getBoundingClientRect();
      return ['#board li', '#qr'].filter((s) => {
        const r = document.querySelector(s).getBoundingClientRect();
        return toast.left < r.right && r.left < toast.right && toast.top < r.bottom && r.top < toast.bottom;
      });
    });
    assert.deepEqual(overlaps, [], 'the toast hides neither the leader nor the join code');
    assert.match(await tv.textContent('#legend'), /Foxes.*Owls|Owls.*Foxes/);
  });

  it('fits a TV, a laptop and a phone (screenshots)', async () => {
    mkdirSync(SHOTS, { recursive: true });
    await tv.screenshot({ path: join(SHOTS, 'tv-tv.png') });
    for (const [name, viewport] of [['laptop', { width: 1366, height: 768 }], ['phone', { width: 390, height: 844 }]]) {
      const page = await (await browser.newContext({ viewport })).newPage();
      await page.goto(`${box.url}/tv`);
      await page.waitForSelector('#board li');
      await page.screenshot({ path: join(SHOTS, `tv-${name}.png`), fullPage: true });
      const clipped = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.ok(!clipped, `nothing wider than the ${name} screen`);
      await page.close();
    }
  });

  it('fits a room of sixteen teams on a TV: the join code stays on screen, every colour apart (screenshots)', async () => {
    for (const [name, viewport] of [['tv', { width: 1920, height: 1080 }], ['small-tv', { width: 1280, height: 720 }]]) {
      const page = await (await browser.newContext({ viewport })).newPage();
      await page.goto(`${box.url}/tv`);
      await page.waitForSelector('#link[data-state="ok"]');
      const fits = await page.evaluate(() => {
        const names = ['Owls', 'Foxes', 'Bears', 'Wolves', 'Ants', 'Kites', 'Hares', 'Crows', 'Otters', 'Lynxes', 'Moles', 'Newts', 'Pikes', 'Rooks', 'Stags', 'Voles'];
        const teams = names.map((teamId, i) => ({ rank: i + 1, teamId, score: (16 - i) * 1000, completedGroups: [] }));
        const chart = Object.fromEntries(names.map((t, i) => [t, [['2026-12-04T20:00:00Z', 0], ['2026-12-04T20:30:00Z', (16 - i) * 1000]]]));
        renderBoard({ session: { name: 'Big night', status: 'active' }, teams, chart, video: null });
        toast('Group done: Owls completed Animals', 'group');
        toast('New leader: Owls');
        const inside = (selector) => {
          const r = document.querySelector(selector).getBoundingClientRect();
          return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
        };
        // The colours as the browser renders them: the chart's line and the row's mark of each
        // of the sixteen teams, measured with the board they were drawn for.
        const rgb = (colour) => {
          const probe = document.createElement('i');
          probe.style.color = colour;
          document.body.append(probe);
          const parts = getComputedStyle(probe).color.match(/\d+/g).map(Number);
          probe.remove();
          return parts;
        };
        const lines = names.map((t) => document.querySelector(`#chart polyline[data-team="${t}"]`)?.getAttribute('stroke'));
        const marks = names.map((t) => document.querySelector(`#board li[data-team="${t}"]`)?.style.getPropertyValue('--swatch'));
        const colours = lines.map((c) => (c ? rgb(c) : null));
        let closest = Infinity;
        colours.forEach((a, i) => colours.slice(i + 1).forEach((b) => {
          if (a && b) closest = Math.min(closest, Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]));
        }));
        return {
          qr: inside('#qr'),
          leader: inside('#board li:first-child'),
          toasts: document.querySelector('#toasts').textContent,
          lines: lines.filter(Boolean).length,
          marksMatchLines: marks.every((m, i) => m && m === lines[i]),
          closest,
        };
      });
      await page.screenshot({ path: join(SHOTS, `tv-sixteen-${name}.png`) });
      const { closest, ...shape } = fits;
      assert.deepEqual(shape, { qr: true, leader: true, toasts: 'Group done: Owls completed Animals', lines: 16, marksMatchLines: true }, `${name}: ${JSON.stringify(fits)}`);
      assert.ok(closest >= 50, `two of sixteen teams' colours are only ${closest.toFixed(0)} apart`);
      await page.close();
    }
  });

  it('shows what staff choose from the console: a sports day’s scoreboard, then the scores again', async () => {
    const event = (await box.http('POST', '/api/events', { token: admin, body: { name: 'Field day', public: true } })).json;
    const console_ = await (await browser.newContext()).newPage();
    console_.on('dialog', (d) => d.accept());
    await console_.goto(`${box.url}/console`);
    await console_.fill('#password', box.password);
    await console_.click('#login-form button[type=submit]');
    await console_.waitForSelector('#dashboard', { state: 'visible' });
    await console_.selectOption('#tv-view', 'sports');
    await console_.fill('#tv-id', String(event.id));
    await console_.click('#tv-form button[type=submit]');
    // A TV follows within a few seconds: a page it left may hold its stream slot until the box
    // notices the closed connection, and a refused stream is retried every 2 s.
    await tv.waitForURL(new RegExp(`/sports/${event.id}\\?tv$`), { timeout: 10000 });
    await tv.waitForFunction(() => document.querySelector('#title')?.textContent === 'Field day');
    await console_.selectOption('#tv-view', 'scores');
    await console_.click('#tv-form button[type=submit]');
    await tv.waitForURL(/\/tv$/, { timeout: 10000 });
    await tv.waitForSelector('#board li');
    const refused = await box.http('PUT', '/api/tv/show', { body: { view: 'sports', id: event.id } });
    assert.equal(refused.status, 401, 'staff only');
    const guest = await box.http('PUT', '/api/tv/show', { token: box.token('viewer', 'guest'), body: { view: 'scores' } });
    assert.equal(guest.status, 403);
    // A tournament's screen gets a token that speaks for no guest: no login makes its name.
    const tournament = (await box.http('POST', '/api/tournaments', { token: admin, body: { name: 'Open' } })).json;
    const shown = (await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'tournament', id: tournament.id } })).json;
    const token = shown.url.split('#token=')[1];
    assert.equal(JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sub, 'screen:tv');
    await tv.waitForURL(/\/tournament\?t=\d+&screen&tv/, { timeout: 10000 });
    await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'scores' } });
    await tv.waitForURL(/\/tv$/, { timeout: 10000 });
    const unknown = await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'draft', id: 99 } });
    assert.equal(unknown.status, 404);
    await console_.close();
  });

  it('shows the final standings when staff end the session', async () => {
    const ended = await box.http('PUT', '/api/session', { token: admin, body: { status: 'ended' } });
    assert.equal(ended.status, 200, ended.text);
    await tv.waitForFunction(() => document.querySelector('#session').textContent.endsWith('final standings'), null, { timeout: 2000 });
    assert.equal(await tv.getAttribute('#board li:first-child', 'data-team'), 'Foxes');
    assert.ok(await tv.isHidden('#chart-card'), 'no chart between sessions');
    await box.createSession({ name: 'Second half', teams: ['Owls', 'Foxes'] });
    await tv.waitForFunction(() => document.querySelector('#session').textContent === 'Second half');
  });

  it('shows the video now playing, and comes back after a restart', async () => {
    const video = (await tokens()).find((t) => t.video);
    assert.ok(video, 'the demo tokens have a video');
    const played = await box.http('POST', '/api/video/control', { token: admin, body: { action: 'play', tokenId: video.id } });
    assert.equal(played.status, 200, played.text);
    await tv.waitForSelector('#video-card:not([hidden])', { timeout: 2000 });
    assert.match(await tv.textContent('#video-title'), new RegExp(video.id));
    await box.http('POST', '/api/video/control', { token: admin, body: { action: 'stop' } });
    await tv.waitForSelector('#video-card', { state: 'hidden', timeout: 2000 });

    await box.stop();
    await tv.waitForSelector('#link:not([data-state="ok"])');
    await box.launch({ samePort: true });
    await tv.waitForSelector('#link[data-state="ok"]', { timeout: 15000 });
    await tv.waitForFunction(() => document.querySelector('#session').textContent === 'Second half');
    assert.deepEqual(errors, []);
  });

  it('shows what staff chose again after a power cut, on a TV that was on and one switched on after', async () => {
    const event = (await box.http('POST', '/api/events', { token: admin, body: { name: 'Relay night', public: true } })).json;
    const chosen = await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'sports', id: event.id } });
    assert.equal(chosen.status, 200, chosen.text);
    assert.equal(chosen.json.logged, true);
    await tv.waitForURL(new RegExp(`/sports/${event.id}\\?tv$`), { timeout: 10000 });

    await box.stop('SIGKILL');
    await box.launch({ samePort: true });
    const shown = (await box.http('GET', '/api/tv/show')).json;
    assert.deepEqual({ view: shown.view, id: shown.id, url: shown.url }, { view: 'sports', id: event.id, url: `/sports/${event.id}` });
    const later = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    await later.goto(`${box.url}/tv`);
    await later.waitForURL(new RegExp(`/sports/${event.id}\\?tv$`), { timeout: 10000 });
    await later.waitForFunction(() => document.querySelector('#title')?.textContent === 'Relay night');
    await tv.waitForFunction(() => document.querySelector('#title')?.textContent === 'Relay night', null, { timeout: 15000 });
    assert.ok(tv.url().endsWith(`/sports/${event.id}?tv`), `the TV that was on stays: ${tv.url()}`);
    await later.close();

    await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'scores' } });
    await tv.waitForURL(/\/tv$/, { timeout: 10000 });
    // The power cut broke the open streams mid-chunk and refused or reset the first
    // reconnections (a WebSocket caught connecting as the box died reads SOCKET_NOT_CONNECTED):
    // the browser says so; anything else is the pages' own error.
    const afterPowerCut = /net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|SOCKET_NOT_CONNECTED)/;
    assert.deepEqual(errors.filter((e) => !afterPowerCut.test(e)), []);
  });
});

describe('the TV join code', () => {
  it('made-up Hosts cannot push out the code for the address the TV reached the box on', async () => {
    const box = await startBox();
    try {
      const { hostname, port } = new URL(box.url);
      const svgFor = (host) => new Promise((resolve, reject) => {
        http.get({ hostname, port, path: '/tv/join.svg', headers: { host }, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { body += d; });
          res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${host}: ${res.statusCode} ${body}`))));
        }).on('error', reject);
      });
      // A guest fills the kept codes with made-up names, then spends the drawing budget, all
      // before any TV asked for its own code.
      let made = 0;
      const madeUp = () => svgFor(`guest-${made++}.example:3000`);
      for (let i = 0; i < 40; i += 1) await madeUp();
      // Past the budget a made-up name gets the box's own name's code: two different made-up
      // names answered alike show it is spent. The TV's own address, asked between two such,
      // still gets a code of its own.
      let checked = false;
      for (let attempt = 0; attempt < 20 && !checked; attempt += 1) {
        for (let i = 0; i < 25; i += 1) await madeUp();
        const [before, own, afterwards] = [await madeUp(), await svgFor(`${hostname}:${port}`), await madeUp()];
        if (before !== afterwards) continue;
        assert.notEqual(own, before, 'the TV reached the box on its address and got the box name’s code instead');
        checked = true;
      }
      assert.ok(checked, 'the made-up names never ran out of the drawing budget');
      assert.equal(await svgFor(`${hostname}:${port}`), await svgFor(`${hostname}:${port}`), 'the TV’s own code is kept');
    } finally {
      await box.stop();
    }
  });
});
