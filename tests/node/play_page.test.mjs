// The viewers' phone pages in headless Chromium against the real binary: join with a name and
// the venue PIN, see a question appear live, vote with the big buttons, watch another guest's
// votes move the totals, see the close and the result; wrong PINs and taken names in plain
// words; the phone comes back by itself after the box restarts. Screenshots at phone, laptop
// and TV sizes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startBox } from './harness.mjs';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../target/screenshots');

describe('the viewers’ phone page', () => {
  let box;
  let staff;
  let browser;
  let phone;
  const errors = [];

  before(async () => {
    box = await startBox();
    staff = await box.adminToken();
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await box?.stop();
  });

  /** The box as a guest's phone reaches it (the TV's QR code): a name, over plain http. */
  const guestUrl = () => box.url.replace('127.0.0.1', 'venuebox.local');

  const newPhone = async (viewport = { width: 390, height: 844 }) => {
    const page = await (await browser.newContext({ viewport })).newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    return page;
  };

  it('refuses a wrong PIN in plain words, then joins and lands on /play', async () => {
    phone = await newPhone();
    await phone.goto(`${guestUrl()}/vote`);
    await phone.waitForURL(/\/join$/);
    assert.equal(await phone.evaluate(() => window.isSecureContext), false, 'a guest\'s page is not a secure context');
    await phone.fill('#name', 'Ada Lovelace');
    await phone.fill('#pin', '000000' === box.viewerPin ? '111111' : '000000');
    await phone.click('#join-btn');
    // "Joining…" first, then the box's answer.
    await phone.waitForFunction(() => /not right/.test(document.querySelector('#message').textContent));
    assert.match(await phone.textContent('#message'), /^That PIN is not right: it is on the venue’s screen\.$/);
    await phone.fill('#pin', box.viewerPin);
    await phone.click('#join-btn');
    await phone.waitForURL(/\/play$/);
    await phone.waitForSelector('#link[data-state="ok"]');
    assert.equal(await phone.textContent('#who'), 'Ada Lovelace');
    assert.match(await phone.textContent('#waiting'), /Waiting/);
    await phone.screenshot({ path: join(SHOTS, 'play-waiting-phone.png') });
  });

  it('a name another phone holds is refused with a sentence', async () => {
    const other = await newPhone();
    await other.goto(`${box.url}/join?pin=${box.viewerPin}`);
    assert.equal(await other.inputValue('#pin'), box.viewerPin, 'the PIN from the venue’s link');
    await other.fill('#name', 'ada lovelace');
    await other.click('#join-btn');
    await other.waitForFunction(() => /name/.test(document.querySelector('#message').textContent));
    assert.match(await other.textContent('#message'), /already plays under that name/);
    await other.close();
  });

  it('shows a question live, votes with a tap, follows the totals and the close', async () => {
    const userId = 'ada-lovelace';
    await box.http('POST', `/api/users/${userId}/grants`, { token: staff, body: { amount: 500, reason: 'welcome drink' } });
    await phone.waitForFunction(() => Number(document.querySelector('#balance').textContent.replace(/\D/g, '')) >= 500, null, { timeout: 2000 });
    const before = Number((await phone.textContent('#balance')).replace(/\D/g, ''));
    const closesInSecs = 6;
    const created = await box.http('POST', '/api/predictions', {
      token: staff,
      body: { streamerId: 'stage', title: 'Who wins the quiz?', options: [{ id: 'owls', label: 'The Owls' }, { id: 'foxes', label: 'The Foxes' }], costPerVote: 10, closesInSecs },
    });
    assert.equal(created.status, 201, created.text);
    await phone.waitForSelector('#question:not([hidden])', { timeout: 1000 });
    assert.equal(await phone.textContent('#title'), 'Who wins the quiz?');
    assert.match(await phone.textContent('#countdown'), /^0:0[2-7] left$/, 'about 6 s on the box’s clock');

    await phone.click('[data-stake="5"]');
    await phone.click('[data-option="owls"]');
    await phone.waitForSelector('#vote-message:not([hidden])');
    assert.match(await phone.textContent('#vote-message'), /5 votes on The Owls \(50 points\)/);
    await phone.waitForFunction((b) => Number(document.querySelector('#balance').textContent.replace(/\D/g, '')) === b - 50, before);

    // Another guest backs the Foxes over HTTP: the totals move on this phone, live.
    const guest = (await box.http('POST', '/api/auth', { body: { name: 'Grace', pin: box.viewerPin } })).json;
    await box.http('POST', `/api/users/${guest.userId}/grants`, { token: staff, body: { amount: 300, reason: 'welcome' } });
    const voted = await box.http('POST', `/api/predictions/${created.json.id}/votes`, { token: guest.token, body: { optionId: 'foxes', votes: 8, clientVoteId: 'g-1' } });
    assert.equal(voted.status, 200, voted.text);
    await phone.waitForFunction(() => document.querySelector('[data-option="foxes"] .points').textContent.startsWith('80'));
    assert.match(await phone.textContent('[data-option="owls"] .points'), /^50 pts/);
    await phone.screenshot({ path: join(SHOTS, 'play-question-phone.png') });
    const laptop = await newPhone({ width: 1366, height: 768 });
    const tv = await newPhone({ width: 1920, height: 1080 });
    for (const [page, name] of [[laptop, 'laptop'], [tv, 'tv']]) {
      await page.goto(`${box.url}/join`);
      await page.evaluate((v) => localStorage.setItem('venuebox.viewer', JSON.stringify(v)), { name: 'Grace', pin: box.viewerPin, userId: guest.userId, token: guest.token, viewerKey: guest.viewerKey });
      await page.goto(`${box.url}/play`);
      await page.waitForSelector('#question:not([hidden])');
      await page.screenshot({ path: join(SHOTS, `play-question-${name}.png`) });
      const clipped = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.ok(!clipped, `nothing wider than the ${name} screen`);
    }

    await phone.waitForSelector('#result:not([hidden])', { timeout: (closesInSecs + 3) * 1000 });
    assert.equal(await phone.textContent('#result'), 'The Foxes wins. Not your pick this time.');
    assert.equal(await phone.getAttribute('[data-option="foxes"]', 'data-winner'), 'true');
    assert.ok(await phone.isDisabled('[data-option="owls"]'), 'no votes after the close');
    assert.equal(await phone.textContent('#countdown'), 'Closed');
    await phone.screenshot({ path: join(SHOTS, 'play-result-phone.png') });
  });

  it('shows staff notices and comes back by itself after the box restarts', async () => {
    const sent = await box.http('POST', '/api/notices', { token: staff, body: { message: 'Second round in five minutes' } });
    assert.equal(sent.status, 200, sent.text);
    await phone.waitForSelector('#notice:not([hidden])');
    assert.equal(await phone.textContent('#notice'), 'Second round in five minutes');
    await box.stop();
    await phone.waitForSelector('#link:not([data-state="ok"])');
    await box.launch({ samePort: true });
    await phone.waitForSelector('#link[data-state="ok"]', { timeout: 15000 });
    const created = await box.http('POST', '/api/predictions', {
      token: await box.adminToken(),
      body: { streamerId: 'stage', title: 'Encore?', options: [{ id: 'yes', label: 'Yes' }, { id: 'no', label: 'No' }], costPerVote: 1, closesInSecs: 60 },
    });
    assert.equal(created.status, 201, created.text);
    await phone.waitForFunction(() => document.querySelector('#title').textContent === 'Encore?', null, { timeout: 3000 });
    assert.deepEqual(errors, []);
  });

  it('misses nothing granted while the page loads: the socket resumes from where the page read', async () => {
    const guest = await newPhone();
    let held = false;
    let grantStatus;
    // The first balance read is answered as the box read it, but only after staff granted
    // points: the grant falls between the page's read and its subscription.
    await guest.route('**/api/users/*/balance', async (route) => {
      if (held) return route.continue();
      held = true;
      // Fetched by the test runner, which knows the box by its address, not the guests' name.
      const response = await route.fetch({ url: route.request().url().replace('venuebox.local', '127.0.0.1') });
      const granted = await box.http('POST', '/api/users/grace-hopper/grants', { token: staff, body: { amount: 70, reason: 'late arrival' } });
      await route.fulfill({ response });
      grantStatus = granted.status;
    });
    await guest.goto(`${guestUrl()}/join`);
    await guest.fill('#name', 'Grace Hopper');
    await guest.fill('#pin', box.viewerPin);
    await guest.click('#join-btn');
    await guest.waitForURL(/\/play$/);
    await guest.waitForSelector('#link[data-state="ok"]');
    assert.ok(held, 'the page read its balance');
    assert.equal(grantStatus, 200, 'staff granted while the page loaded');
    await guest.waitForFunction(() => document.querySelector('#balance').textContent.replace(/\D/g, '') === '70', null, { timeout: 5000 });
    await guest.close();
  });
});
