// Seed 003 in headless Chromium against the real binary: the seed's own WebSocket and
// EventSource snippets, run as the seed writes them, and the box's scoreboard page for the
// venue's TV (live leaderboard, the latest urgent announcement until it expires), with
// screenshots at TV, laptop and phone sizes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startBox } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');

// The seed's "Frontend WebSocket Connection" and "Frontend SSE Connection" examples, word for
// word; only the seed's development host (localhost:8000) becomes the box's.
const SEED_WEBSOCKET = `
// Connect to event stream
const ws = new WebSocket('ws://localhost:8000/ws/events/1/stream/');

ws.onopen = () => {
    // Subscribe to results updates
    ws.send(JSON.stringify({ type: 'subscribe_results' }));
    
    // Subscribe to schedule updates
    ws.send(JSON.stringify({ type: 'subscribe_schedule' }));
    
    // Subscribe to announcements
    ws.send(JSON.stringify({ type: 'subscribe_announcements' }));
};

ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    
    switch (data.type) {
        case 'leaderboard_update':
            updateLeaderboard(data.data.leaderboard);
            break;
        case 'schedule_update':
            updateSchedule(data.data.schedule);
            break;
        case 'announcement_update':
            showAnnouncement(data.data.announcement);
            break;
        case 'result_update':
            updateResult(data.data.result);
            break;
    }
};
`;

const SEED_EVENTSOURCE = `
// Connect to results stream
const eventSource = new EventSource('/api/events/1/stream/results/');

eventSource.onmessage = (event) => {
    const data = JSON.parse(event.data);
    updateLeaderboard(data.leaderboard);
};

eventSource.onerror = (error) => {
    console.error('SSE connection error:', error);
};
`;

describe('seed 003 in a browser', () => {
  let box;
  let admin;
  let browser;
  const teams = {};
  const fixtures = [];

  const api = async (method, path, body) => {
    const res = await box.http(method, path, { body, token: admin });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json;
  };

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    const event = await api('POST', '/api/events', { name: 'Riverside Sports Day', public: true });
    assert.equal(event.id, 1, 'the seed’s snippets follow event 1');
    for (const name of ['Kingfishers', 'Otters', 'Herons', 'Dragonflies']) {
      teams[name] = (await api('POST', '/api/teams', { name, members: [{ user_id: `${name.toLowerCase()}-coach`, role: 'coach' }] })).id;
      await api('POST', '/api/events/1/registrations', { team_id: teams[name] });
    }
    const pairs = [['Kingfishers', 'Otters'], ['Herons', 'Dragonflies'], ['Kingfishers', 'Herons'], ['Otters', 'Dragonflies']];
    for (const [i, [home, away]] of pairs.entries()) {
      fixtures.push(await api('POST', '/api/events/1/fixtures', {
        home_team_id: teams[home], away_team_id: teams[away], starts_at: `2026-06-01T${10 + i}:00:00Z`,
      }));
    }
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await box?.stop();
  });

  /** A page of the box's origin with the seed's callbacks recording what they are given. */
  async function seedPage() {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${box.url}/api/events/1`);
    await page.evaluate(() => {
      window.seen = { leaderboard: [], schedule: [], announcement: [], result: [] };
      window.updateLeaderboard = (x) => window.seen.leaderboard.push(x);
      window.updateSchedule = (x) => window.seen.schedule.push(x);
      window.showAnnouncement = (x) => window.seen.announcement.push(x);
      window.updateResult = (x) => window.seen.result.push(x);
    });
    return page;
  }

  const seen = (page) => page.evaluate(() => window.seen);

  it('the seed’s WebSocket snippet gets results, leaderboards, schedules and announcements', async () => {
    const page = await seedPage();
    const host = new URL(box.url).host;
    await page.evaluate((code) => { (0, eval)(code); }, SEED_WEBSOCKET.replace('localhost:8000', host));
    await page.waitForFunction(() => window.seen.schedule.length >= 1 && window.seen.leaderboard.length >= 1);

    await api('POST', `/api/fixtures/${fixtures[0].id}/result`, { home_score: 2, away_score: 0 });
    await api('PATCH', `/api/fixtures/${fixtures[3].id}`, { starts_at: '2026-06-01T15:30:00Z' });
    await api('POST', '/api/announcements', { event_id: 1, title: 'Tug of war', message: 'Final at 3 pm by the oak', type: 'schedule_change', priority: 'high' });
    await page.waitForFunction(() => window.seen.announcement.length >= 1 && window.seen.result.length >= 1
      && window.seen.leaderboard.some((l) => l[0].points === 3)
      && window.seen.schedule.some((s) => s.some((f) => f.status === 'rescheduled')), null, { timeout: 5000 });
    const got = await seen(page);
    assert.equal(got.result[0].id, fixtures[0].id);
    assert.deepEqual(got.result[0].result, { home_score: 2, away_score: 0 });
    assert.equal(got.leaderboard.at(-1)[0].team, 'Kingfishers');
    assert.equal(got.announcement[0].title, 'Tug of war');
    assert.equal(got.announcement[0].type, 'schedule_change');
    await page.close();
  });

  it('the seed’s EventSource snippet gets the leaderboard after a result', async () => {
    const page = await seedPage();
    await page.evaluate((code) => { (0, eval)(code); }, SEED_EVENTSOURCE);
    await page.waitForFunction(() => window.seen.leaderboard.some((l) => Array.isArray(l)));
    await api('POST', `/api/fixtures/${fixtures[1].id}/result`, { home_score: 1, away_score: 1 });
    await page.waitForFunction(() => window.seen.leaderboard.some((l) => Array.isArray(l) && l.some((r) => r.drawn === 1)));
    const got = await seen(page);
    const last = got.leaderboard.filter(Array.isArray).at(-1);
    const stored = (await box.http('GET', '/api/events/1/leaderboard')).json.leaderboard;
    assert.deepEqual(last, stored, 'the leaderboard the box stored');
    assert.equal(last.filter((r) => r.drawn === 1).length, 2);
    await page.close();
  });

  it('the scoreboard on the venue’s TV: live standings and the urgent announcement until it expires', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const open = async (viewport) => {
      const page = await (await browser.newContext({ viewport })).newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`${box.url}/sports/1`);
      await page.waitForSelector('#link[data-state="ok"]');
      return { page, errors };
    };
    const tv = await open({ width: 1920, height: 1080 });
    assert.equal(await tv.page.textContent('#title'), 'Riverside Sports Day');
    const order = () => tv.page.$$eval('#rows tr td.team', (cells) => cells.map((c) => c.textContent));
    assert.equal((await order())[0], 'Kingfishers');
    assert.ok(await tv.page.isHidden('#urgent'));

    // Herons win big: they go top, on the screen, without a reload.
    await api('POST', `/api/fixtures/${fixtures[2].id}/result`, { home_score: 0, away_score: 5 });
    await tv.page.waitForFunction(() => document.querySelector('#rows tr td.team')?.textContent === 'Herons', null, { timeout: 2000 });
    assert.match(await tv.page.textContent('#results'), /Kingfishers\s*0 – 5\s*Herons/);

    const soon = new Date(Date.now() + 4000).toISOString();
    await api('POST', '/api/announcements', { event_id: 1, title: 'Lightning nearby', message: 'Everyone into the sports hall now', type: 'emergency', priority: 'urgent', expires_at: soon });
    await tv.page.waitForSelector('#urgent:not([hidden])', { timeout: 2000 });
    assert.equal(await tv.page.textContent('#urgent-title'), 'Lightning nearby');

    const laptop = await open({ width: 1366, height: 768 });
    const phone = await open({ width: 390, height: 844 });
    await laptop.page.waitForSelector('#urgent:not([hidden])');
    await phone.page.waitForSelector('#urgent:not([hidden])');
    await tv.page.screenshot({ path: join(SHOTS, 'sports-tv.png') });
    await laptop.page.screenshot({ path: join(SHOTS, 'sports-laptop.png') });
    await phone.page.screenshot({ path: join(SHOTS, 'sports-phone.png'), fullPage: true });
    for (const { page } of [tv, laptop, phone]) {
      const clipped = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.ok(!clipped, `nothing wider than the screen at ${page.viewportSize().width} px`);
    }
    // The TV shows the whole table without scrolling.
    assert.ok(await tv.page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight));

    await tv.page.waitForSelector('#urgent', { state: 'hidden', timeout: 8000 });
    assert.match(await tv.page.textContent('#news'), /Tug of war/, 'the other announcements stay');
    for (const { errors } of [tv, laptop, phone]) assert.deepEqual(errors, []);
  });

  it('comes back by itself after the box restarts', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${box.url}/sports/1`);
    await page.waitForSelector('#link[data-state="ok"]');
    await box.stop();
    await page.waitForSelector('#link:not([data-state="ok"])');
    assert.equal((await page.$$('#rows tr')).length, 4, 'the standings stay on screen meanwhile');
    await box.launch({ samePort: true });
    await page.waitForSelector('#link[data-state="ok"]', { timeout: 15000 });
    await api('POST', `/api/fixtures/${fixtures[3].id}/result`, { home_score: 3, away_score: 0 });
    await page.waitForFunction(() => document.querySelector('#results li')?.textContent.includes('3 – 0'), null, { timeout: 3000 });
  });
});
