// The draft's spectator page in headless Chromium against the real binary: the seed's own
// scenario (four captains at 5000 MMR tie on the first assignment; the history button counts
// entries, its modal shows the rolls; a pick adds to both), toasts for live entries only,
// duplicate-free reconnects, and screenshots at TV, laptop and phone sizes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startBox } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');
const CAPTAINS = ['CaptainA', 'CaptainB', 'CaptainC', 'CaptainD'].map((name, i) => ({ id: `c${i + 1}`, name, mmr: 5000 }));
const PLAYERS = Array.from({ length: 8 }, (_, i) => ({ id: `p${i + 1}`, name: `Player ${String.fromCharCode(65 + i)}`, mmr: 3000 + 250 * i }));

describe('the draft page', () => {
  let box;
  let admin;
  let browser;
  let draftId;
  let captainTokens;
  let spectator;
  let phone;

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    const tournament = (await box.http('POST', '/api/tournaments', { token: admin, body: { name: 'Draft Night' } })).json;
    const draft = await box.http('POST', `/api/tournaments/${tournament.id}/drafts`, { token: admin, body: { captains: CAPTAINS, players: PLAYERS } });
    draftId = draft.json.id;
    captainTokens = draft.json.captain_tokens;
    browser = await launchChromium();
    const open = async (viewport, hash = '') => {
      const page = await (await browser.newContext({ viewport })).newPage();
      page.on('dialog', (dialog) => dialog.accept());
      await page.goto(`${box.url}/drafts/${draftId}${hash}`);
      await page.waitForSelector('#link[data-state="ok"]');
      return page;
    };
    spectator = await open({ width: 1366, height: 768 });
    phone = await open({ width: 390, height: 844 });
  });
  after(async () => {
    await browser?.close();
    await box?.stop();
  });

  const count = async (page) => Number(await page.textContent('#fab-count'));

  it('the seed’s scenario: a tie on start shows its rolls in the history, and a pick adds to it', async () => {
    assert.equal(await count(spectator), 0);
    assert.match(await spectator.textContent('#on-the-clock'), /Waiting/);
    const started = await box.http('POST', `/api/drafts/${draftId}/start`, { token: admin });
    assert.equal(started.status, 200, started.text);
    await spectator.waitForFunction(() => Number(document.querySelector('#fab-count').textContent) >= 1);
    await spectator.click('#fab');
    await spectator.waitForSelector('#modal:not([hidden])');
    const tie = await spectator.textContent('#history li[data-type="tie_roll"]');
    assert.match(tie, /rolled/);
    const named = CAPTAINS.filter((c) => tie.includes(`${c.name} rolled`));
    assert.ok(named.length >= 2, tie);
    assert.ok((tie.match(/rolled [1-6]/g) ?? []).length >= 2, tie);
    assert.match(tie, /^Tie! .* → Captain[A-D] wins/);
    const before = await count(spectator);
    // The captain on the clock picks from their own phone page (their link carries the token).
    const board = (await box.http('GET', `/api/drafts/${draftId}`)).json;
    const captainPage = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await captainPage.goto(`${box.url}/drafts/${draftId}#token=${captainTokens[board.on_the_clock.captain_id]}`);
    await captainPage.waitForSelector('#pool button');
    assert.ok(!captainPage.url().includes('token'), 'the token leaves the address bar');
    await captainPage.click('#pool li[data-player="p8"] button');
    await spectator.waitForFunction((n) => Number(document.querySelector('#fab-count').textContent) > n, before);
    const pick = await spectator.textContent('#history li[data-type="player_picked"]');
    assert.equal(pick.replace(/\d\d:\d\d:\d\d$/, '').trim(), `${board.on_the_clock.captain_name} picked Player H (Round 1)`);
    // Newest first: the pick and its next captain sit above the tie.
    const order = await spectator.$$eval('#history li', (items) => items.map((li) => li.dataset.type));
    assert.ok(order.indexOf('player_picked') < order.lastIndexOf('tie_roll'), order.join());
    assert.equal(order.at(-1), 'draft_started', 'the oldest entry at the bottom');
    await spectator.click('#modal-close');
    await captainPage.close();
  });

  it('toasts live picks but not captain assignments, and not the history replayed on a reload', async () => {
    const first = (await box.http('GET', `/api/drafts/${draftId}`)).json;
    const next = first.players.find((p) => p.team_id === null);
    await box.http('POST', `/api/drafts/${draftId}/picks`, { token: admin, body: { player_id: next.id } });
    await phone.waitForFunction((name) => [...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes(`picked ${name}`)), next.name);
    const toasts = await phone.$$eval('#toasts .toast', (items) => items.map((t) => t.textContent));
    assert.ok(!toasts.some((t) => /is on the clock/.test(t)), `no toast for captain_assigned: ${toasts.join(' | ')}`);
    await phone.reload();
    await phone.waitForSelector('#link[data-state="ok"]');
    await phone.waitForFunction(() => Number(document.querySelector('#fab-count').textContent) >= 5);
    assert.equal(await phone.locator('#toasts .toast').count(), 0, 'replayed history raises no toast');
    // A toast opens the history.
    const board = (await box.http('GET', `/api/drafts/${draftId}`)).json;
    const player = board.players.find((p) => p.team_id === null);
    await box.http('POST', `/api/drafts/${draftId}/picks`, { token: admin, body: { player_id: player.id } });
    await phone.waitForSelector('#toasts .toast');
    await phone.click('#toasts .toast');
    await phone.waitForSelector('#modal:not([hidden])');
    await phone.click('#modal-close');
  });

  it('shows the whole history and the board as the box has them, and fits every screen', async () => {
    // The spectator was there from the start: every entry the box logged, none twice.
    const board = (await box.http('GET', `/api/drafts/${draftId}`)).json;
    await spectator.waitForFunction((n) => Number(document.querySelector('#fab-count').textContent) === n, board.events);
    const ids = await spectator.$$eval('#history li', (items) => items.map((li) => Number(li.dataset.id)));
    const logged = (await box.http('GET', `/api/drafts/${draftId}/events?limit=100`)).json.events.map((e) => e.id);
    assert.deepEqual(ids, logged, 'newest first, as logged');
    await spectator.waitForFunction((round) => document.querySelector('#on-the-clock').textContent.startsWith(`Round ${round}:`), board.on_the_clock.round);
    assert.equal(await spectator.locator('.team').count(), 4);
    assert.equal(await spectator.locator(`.team[data-on-clock="true"][data-team="${board.on_the_clock.team_id}"]`).count(), 1);
    assert.equal(await spectator.locator('#pool li').count(), board.players.filter((p) => p.team_id === null).length);
    assert.equal(await spectator.locator('#pool button').count(), 0, 'a spectator cannot pick');
    mkdirSync(SHOTS, { recursive: true });
    const tv = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    await tv.goto(`${box.url}/drafts/${draftId}`);
    await tv.waitForSelector('.team');
    await phone.click('#fab');
    await phone.waitForSelector('#modal:not([hidden])');
    for (const [name, page] of [['tv', tv], ['laptop', spectator], ['phone', phone]]) {
      await page.screenshot({ path: join(SHOTS, `draft-${name}.png`), fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the screen`);
    }
  });
});
