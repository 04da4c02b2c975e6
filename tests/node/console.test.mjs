// The staff web console in a real browser: headless Chromium (Debian's, installed by
// tests/run.sh) driven by playwright-core, against the real binary. Stations are the stock
// socket.io-client, as in the room.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, emitAck, fakeClock, launchChromium, startBox, until } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');

describe('the staff console', () => {
  let box;
  let browser;
  let page;
  const pageErrors = [];
  /** What the page asked staff to confirm, and how the next question is answered. */
  const dialogs = [];
  let answerDialogs = true;

  // The box runs under libfaketime, so a test can put its clock off as a power cut does.
  const faked = fakeClock();

  before(async () => {
    box = await startBox({ env: faked.env });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      return answerDialogs ? d.accept() : d.dismiss();
    });
  });
  after(async () => {
    await browser?.close();
    await box?.stop();
  });

  /** Waits until the element's text matches. */
  const textOf = async (selector, pattern, timeout = 8000) => {
    await page.waitForFunction(
      ([sel, source]) => new RegExp(source).test(document.querySelector(sel)?.textContent ?? ''),
      [selector, pattern.source],
      { timeout },
    );
    return page.textContent(selector);
  };

  it('is served by the box at / and refuses a wrong password with the box error', async () => {
    const res = await page.goto(box.url + '/');
    assert.equal(new URL(page.url()).pathname, '/console');
    assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
    assert.equal(await page.isVisible('#login'), true);
    await page.fill('#password', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    assert.match(await textOf('#message', /Login refused/), /not the staff password.*\(INVALID_TOKEN\)/);
    assert.equal(await page.isVisible('#dashboard'), false);
    // The login form says whether the box answers, not "connecting…" forever.
    await textOf('#health', /^ok/);
  });

  it('logs in, starts a session with teams, and shows a station scan in the scores', async () => {
    await page.fill('#password', box.password);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#dashboard', { state: 'visible' });
    await textOf('#health', /^ok/);
    // Staff see how GM stations get in on this box.
    await textOf('#station-auth', /staff password .*station_auth = password/);
    await page.fill('#session-name', 'Console night');
    await page.fill('#session-teams', 'TEAM_A, TEAM_B');
    await page.click('#session-form button[type=submit]');
    assert.match(await textOf('#session-summary', /Console night — active/), /teams TEAM_A, TEAM_B/);

    // A GM station whose name is markup: the console shows it as text and runs nothing.
    const gm = connect(box, { token: box.token('gm', 'GM_CONSOLE') });
    const identified = gm.rec.next('gm:identified');
    gm.socket.emit('gm:identify', { stationId: 'GM_CONSOLE', version: '1.0.0', name: '<img src=x onerror="window.pwned=1">' });
    await identified;
    const ack = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
    assert.equal(ack.success, true);
    await textOf('#scores', new RegExp(`^1TEAM_A${ack.transaction.points.toLocaleString('en-US')}`));
    await textOf('#scans', /mem001/);
    // A scan that did not count says why on screen, not only in a tooltip.
    const again = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_B' });
    assert.equal(again.transaction.status, 'duplicate');
    await textOf('#scans tr:first-child', /duplicate.+\S/);
    assert.ok((await page.textContent('#scans tr:first-child td[data-label="Why"]')).length > 0);
    await textOf('#devices', /<img src=x/);
    assert.equal(await page.$$eval('#devices img', (imgs) => imgs.length), 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    gm.socket.disconnect();
  });

  it('pauses, resumes, and resets the session with the simulated button', async () => {
    await page.click('[data-session="paused"]');
    await textOf('#session-summary', /— paused/);
    await textOf('#pattern', /session_paused/);
    await page.click('[data-session="active"]');
    await textOf('#session-summary', /— active/);
    const before = await page.getAttribute('#session-summary', 'data-session-id');
    // A click is not enough to reset the live game: staff confirm first.
    answerDialogs = false;
    await page.click('#press-button');
    assert.match(dialogs.at(-1), /Hold the reset button\?/);
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal(await page.getAttribute('#session-summary', 'data-session-id'), before, 'not reset without a yes');
    answerDialogs = true;
    await page.click('#press-button');
    // The press holds for the configured 3 s, then the box resets the session.
    await page.waitForFunction(
      (old) => { const id = document.querySelector('#session-summary').dataset.sessionId; return id && id !== old; },
      before,
      { timeout: 10000 },
    );
    assert.match(await page.textContent('#session-summary'), /Console night — active/, 'same name and teams');
    // The reset session is listed with its final scores.
    assert.match(await textOf('#history', /Console night/), /TEAM_A \d+ · TEAM_B 0 — 2 scans/);
    assert.equal(await page.getAttribute('#history li', 'data-session-id'), before);
    const state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.scores.every((s) => s.score === 0), true, 'a fresh game');
    // The staff actions list what this console did, and the button, newest first.
    const audit = await textOf('#audit', /the reset button/);
    assert.match(audit, /the reset button\s*the box\s*session reset/);
    assert.match(audit, /staff \(logged in [\d:]+\)\s*127\.0\.0\.1\s*session paused/);
    assert.match(audit, /session created/);
  });

  it('plays and stops a token video, and reports a refused action', async () => {
    await page.fill('#video-token', 'vid001');
    await page.click('#video-form button[data-video="play"]');
    await textOf('#video-now', /vid001: (loading|playing)/);
    await textOf('#leds', /video_playing/);
    await page.click('.actions [data-video="stop"]');
    await textOf('#video-now', /Nothing playing/);
    await page.fill('#video-token', 'no-such-token');
    await page.click('#video-form button[data-video="play"]');
    await textOf('#message', /Video play: .+ \([A-Z_]+\)$/);
    assert.equal(await page.getAttribute('#message', 'data-kind'), 'error');
  });

  it('opens a prediction, shows its votes, and closes it with a result', async () => {
    await page.fill('#prediction-title', 'Which team wins?');
    await page.fill('#prediction-options', 'Team A, Team B');
    await page.click('#prediction-form button[type=submit]');
    await textOf('#predictions', /Which team wins\?.*closes in [45]:\d\d — 0 votes/);
    const staff = await box.adminToken();
    // Ada joins from her phone as "Ada"; staff type "Ada" and pick her from the list.
    const { token } = (await box.http('POST', '/api/auth', { body: { name: 'Ada', pin: box.viewerPin } })).json;
    await page.fill('#grant-user', 'Ad');
    await page.waitForFunction(() => [...document.querySelectorAll('#viewer-list option')].some((o) => o.value === 'ada'));
    assert.match(await page.textContent('#viewer-list option'), /Ada \(0 points\)/);
    await page.fill('#grant-user', 'Ada');
    await page.fill('#grant-amount', '100');
    const asked = dialogs.length;
    await page.click('#grant-form button[type=submit]');
    await textOf('#grant-form .outcome', /Grant to Ada: done/);
    assert.equal(dialogs.length, asked, 'a viewer who joined needs no confirmation');
    const viewers = (await box.http('GET', '/api/viewers', { token: staff })).json.viewers;
    assert.deepEqual(viewers.map((v) => [v.userId, v.balance]), [['ada', 100]], 'one account: the Ada who joined');
    // The API applies the login's rule to a name staff type by hand.
    const byHand = await box.http('POST', '/api/users/ADA/grants', { token: staff, body: { amount: 1, reason: 'typo' } });
    assert.equal(byHand.json.userId, 'ada');
    const id = await page.getAttribute('#predictions li', 'data-prediction-id');
    const vote = await box.http('POST', `/api/predictions/${id}/votes`, { token, body: { optionId: 'team-b', votes: 3, clientVoteId: 'c-1' } });
    assert.equal(vote.status, 200, vote.text);
    await textOf('#predictions', /3 votes — .*Team B: 30/);
    // The button survives the refreshes: a slow tap lands on the same element.
    const close = await page.$('#predictions li button.close');
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(await close.evaluate((b) => b.isConnected), 'the same button after two refreshes');
    await close.click();
    await textOf('#predictions', /closed.*result: Team B/);
  });

  it('confirms a clock that agrees with this device, and offers to set one that does not', async () => {
    const token = await page.evaluate(() => sessionStorage.getItem('venuebox.adminToken'));
    const boxClock = async () => (await box.http('GET', '/api/clock', { token })).json;
    // Logged in on a device that agrees: confirmed without a word.
    await until(async () => (await boxClock()).confirmed, 'the login confirmed the clock');
    assert.ok(await page.isHidden('#clock-offer'));

    // A power cut, and the box comes back three hours behind with nobody to vouch for it.
    await box.stop('SIGKILL');
    faked.jump('-3h');
    await box.launch({ samePort: true });
    assert.equal((await boxClock()).confirmed, false);
    await page.reload();
    assert.match(await textOf('#clock-offer-text', /behind this device/), /3 h 0 min behind/);
    for (const [name, width, height] of [['laptop', 1366, 768], ['phone', 390, 844]]) {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(SHOTS, `console-clock-${name}.png`) });
    }
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.click('#clock-set');
    await page.waitForSelector('#clock-offer', { state: 'hidden' });
    const set = await boxClock();
    assert.equal(set.confirmed, true);
    assert.ok(Math.abs(set.nowMs - Date.now()) < 10_000, `the box runs on this device's time: ${set.now}`);
    const trail = (await box.http('GET', '/api/audit', { token })).json.entries;
    assert.deepEqual(trail[0].did, ['ClockSet'], 'the step is in the staff trail');
    await textOf('#audit', /clock set/i);
  });

  it('fits a TV, a laptop and a phone without sideways scrolling (screenshots in target/screenshots/)', async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const [name, width, height] of [['tv', 1920, 1080], ['laptop', 1366, 768], ['phone', 390, 844]]) {
      await page.setViewportSize({ width, height });
      await page.waitForSelector('#station-auth:not(:empty)');
      await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the screen`);
    }
    await page.setViewportSize({ width: 1366, height: 768 });
  });

  it('says when the box is unreachable, greys what is stale, and recovers by itself', async () => {
    await box.stop();
    await textOf('#health', /^box unreachable$/);
    await page.waitForSelector('#dashboard[data-stale="true"]');
    assert.match(await textOf('#freshness', /updated \d+ s ago/), /not answering/);
    await page.screenshot({ path: join(SHOTS, 'console-unreachable.png') });
    await box.launch({ samePort: true });
    await textOf('#health', /^ok/, 15000);
    await page.waitForSelector('#dashboard[data-stale="false"]');
    assert.ok(await page.isHidden('#freshness'));
  });

  it('goes back to the login form when its token no longer works', async () => {
    await page.evaluate(() => sessionStorage.setItem('venuebox.adminToken', 'expired.or.forged'));
    await page.waitForSelector('#login', { state: 'visible', timeout: 5000 });
    assert.match(await page.textContent('#message'), /log in again/);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});
