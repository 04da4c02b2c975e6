// The tournament page in headless Chromium against the real binary: staff at a laptop, a
// participant's phone (the link with its token) and the hall's screen, each page on its own
// `WebSocket(url, ['jwt', token])`. A check-in, the draw, the motion reveal, the big timer and
// the standings travel between them live; screenshots of each go to target/screenshots/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, sleep, startBox, until } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');
const uuid = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const MOTION = 'This house would replace exams with coursework';

describe('the tournament page', () => {
  let box;
  let browser;
  let staff;
  let phone;
  let screen;
  let tournamentId;
  let roundId;
  const tokens = {};
  // Every stream frame and HTTP answer the phone and the screen received, to look for the motion.
  const received = { phone: [], screen: [] };
  const timerSyncs = [];

  before(async () => {
    box = await startBox();
    const admin = await box.adminToken();
    const api = (method, path, body) => box.http(method, path, { body, token: admin });
    tournamentId = (await api('POST', '/api/tournaments', { name: 'City Schools Open' })).json.id;
    const names = ['Northside Owls', 'Harbour Academy', 'St Brigid’s', 'Riverside A'];
    for (let t = 0; t < 4; t += 1) {
      const team = await api('POST', `/api/tournaments/${tournamentId}/teams`, {
        name: names[t],
        speakers: [1, 2].map((s) => ({ id: uuid(t * 2 + s), name: `Speaker ${t * 2 + s}` })),
      });
      for (const s of team.json.speakers) tokens[s.id] = s.token;
    }
    await api('POST', `/api/tournaments/${tournamentId}/adjudicators`, { id: uuid(100), name: 'Judge Ada' });
    roundId = (await api('POST', `/api/tournaments/${tournamentId}/rounds`, { motion: MOTION })).json.id;

    browser = await launchChromium();
    const open = async (viewport, path, name) => {
      const page = await (await browser.newContext({ viewport })).newPage();
      page.on('dialog', (dialog) => dialog.accept());
      if (name) {
        page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
          received[name].push(String(payload));
          if (name === 'screen' && String(payload).includes('"timers:sync"')) timerSyncs.push(JSON.parse(payload));
        }));
        page.on('response', async (res) => {
          try { received[name].push(await res.text()); } catch { /* a redirect or an aborted load has no body */ }
        });
      }
      await page.goto(`${box.url}${path}`);
      return page;
    };
    phone = await open({ width: 390, height: 844 }, `/tournament?t=${tournamentId}#token=${tokens[uuid(1)]}`, 'phone');
    screen = await open({ width: 1920, height: 1080 }, `/tournament?t=${tournamentId}&screen#token=${box.token('viewer', 'hall-screen')}`, 'screen');
    staff = await open({ width: 1366, height: 768 }, '/tournament');
    await staff.fill('#password', box.password);
    await staff.click('#login-form button[type=submit]');
    await staff.waitForSelector('#tournaments a');
    await staff.click('#tournaments a');
    for (const page of [phone, screen, staff]) await page.waitForSelector('#link[data-state="ok"]');
  });
  after(async () => {
    await browser?.close();
    await box?.stop();
  });

  it('takes the token out of the address bar and keeps the motion hidden before publish', async () => {
    assert.ok(!phone.url().includes('token'), phone.url());
    assert.equal(await phone.textContent('#title'), 'City Schools Open');
    for (const [name, page] of [['phone', phone], ['screen', screen]]) {
      assert.ok(!(await page.content()).includes(MOTION), `${name}: the motion is not on the page before publish`);
    }
    assert.match(await staff.textContent('#motion'), /Not revealed yet/);
  });

  it('carries a phone check-in to the staff list, and staff check-ins back to the phone', async () => {
    await phone.click('#checkin-btn');
    await staff.waitForSelector(`#checkins input[data-user="${uuid(1)}"]:checked`);
    await phone.waitForSelector('#checkin-btn[data-checked="true"]');
    assert.match(await phone.textContent('#checkin-btn'), /Checked in/);
    for (const n of [3, 5, 7, 100]) await staff.check(`#checkins input[data-user="${uuid(n)}"]`);
    await until(async () => (await box.http('GET', `/api/rounds/${roundId}`, { token: tokens[uuid(1)] })).json.checked_in.length === 5, 'five check-ins stored');
    await staff.waitForFunction(() => document.querySelector('#checkin-count').textContent === '5 of 9');
    // Staff undo the phone's own check-in: the phone sees it at once; it checks in again.
    await staff.uncheck(`#checkins input[data-user="${uuid(1)}"]`);
    await phone.waitForSelector('#checkin-btn[data-checked="false"]');
    await phone.click('#checkin-btn');
    await staff.waitForSelector(`#checkins input[data-user="${uuid(1)}"]:checked`);
  });

  it('shows the draw everywhere once the job is done, the phone’s own room marked', async () => {
    await staff.click('#draw-btn');
    for (const page of [phone, screen, staff]) await page.waitForSelector('#draw tbody tr');
    assert.equal(await phone.locator('#draw tbody tr').count(), 2);
    assert.equal(await phone.locator('#draw tbody tr[data-mine="true"]').count(), 1);
    assert.match(await phone.textContent('#draw tbody tr[data-mine="true"]'), /Northside Owls/);
  });

  it('reveals the motion on every screen at publish, and not a byte of it before', async () => {
    for (const name of ['phone', 'screen']) {
      assert.ok(received[name].length > 0, `${name}: frames and answers were recorded`);
      assert.ok(!received[name].some((text) => text.includes(MOTION)), `${name}: the motion arrived before publish`);
    }
    await staff.click('#publish-btn');
    for (const page of [phone, screen]) {
      await page.waitForFunction((motion) => document.querySelector('#motion').textContent === motion, MOTION);
    }
  });

  it('runs the big timer live, and stops it on pause', async () => {
    await staff.fill('#timer-minutes', '7');
    timerSyncs.length = 0;
    await staff.click('#timer-form button[data-action="start"]');
    await screen.waitForSelector('#timer[data-running="true"]');
    // The screen's own socket gets the start and the box's 5 s sync; the page counts between.
    await until(async () => timerSyncs.length >= 2, 'two timers:sync on the screen\'s socket', 15_000);
    assert.deepEqual(timerSyncs.map((f) => f.payload.seconds_remaining).slice(0, 2), [420, 415]);
    const shown = (page) => page.evaluate(() => {
      const [m, s] = document.querySelector('#timer').textContent.split(':').map(Number);
      return m * 60 + s;
    });
    await phone.waitForFunction(() => /^06:[0-5]\d$/.test(document.querySelector('#timer').textContent));
    assert.ok((await shown(phone)) <= 415, 'the phone counts down');
    await staff.click('#timer-form button[data-action="pause"]');
    await screen.waitForSelector('#timer[data-running="false"]');
    const held = await screen.textContent('#timer');
    await sleep(2500);
    assert.equal(await screen.textContent('#timer'), held, 'a paused timer holds still');
    const persisted = (await box.http('GET', `/api/rounds/${roundId}`, { token: tokens[uuid(1)] })).json.timer;
    assert.equal(persisted.running, false);
    assert.equal(held, `0${Math.floor(persisted.seconds_remaining / 60)}:${String(persisted.seconds_remaining % 60).padStart(2, '0')}`);
  });

  it('enters a ballot at the staff table and updates the standings on the phone', async () => {
    await staff.selectOption('#ballot-winner', 'opposition');
    const room = await staff.inputValue('#ballot-room');
    await staff.click('#ballot-form button[type=submit]');
    await until(async () => (await box.http('GET', `/api/rounds/${roundId}`, { token: tokens[uuid(1)] })).json.ballots === 1, 'the ballot stored');
    assert.equal(room, '1');
    const { json: made } = await box.http('GET', `/api/rounds/${roundId}/draw`, { token: tokens[uuid(1)] });
    const winner = made.rooms.find((r) => r.room === 1).opposition.name;
    for (const page of [phone, screen]) {
      await page.waitForFunction((team) => {
        const first = document.querySelector('#standings tbody tr');
        return first?.children[1].textContent === team && first.children[2].textContent === '1';
      }, winner);
    }
  });

  it('fits a TV, a laptop and a phone without sideways scrolling (screenshots in target/screenshots/)', async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const [name, page] of [['tv', screen], ['laptop', staff], ['phone', phone]]) {
      await page.screenshot({ path: join(SHOTS, `tournament-${name}.png`), fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the screen`);
    }
    // A screen has no controls; a phone has no staff panels.
    assert.equal(await screen.locator('#run-card').isVisible(), false);
    assert.equal(await phone.locator('#checkins-card').isVisible(), false);
  });
});
