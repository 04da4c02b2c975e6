// The live-predictions contract (seed 002) against the real binary with the `ws` client.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startBox } from './harness.mjs';

let box;
before(async () => { box = await startBox(); });
after(() => box.stop());

function watch(url, headers) {
  const ws = new WebSocket(url, { headers });
  const messages = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    messages.push(msg);
    for (const w of [...waiters]) if (w.match(msg)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(msg); }
  });
  const next = (match, timeoutMs = 8000) => {
    const seen = messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(messages.map((m) => m.type))}`)), timeoutMs);
    });
  };
  return { ws, messages, next, open: new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }) };
}

it('a viewer logs in with the venue PIN, watches a prediction, votes and sees the result', async () => {
  const login = await box.http('POST', '/api/auth', { body: { name: 'Zoë Q', pin: box.viewerPin } });
  assert.equal(login.status, 200, login.text);
  const { token, userId } = login.json;
  assert.equal(userId, 'zoë-q', 'a letter of any script stays in the id');
  const staff = (await box.http('POST', '/api/auth', { body: { password: box.password } })).json.token;

  const client = watch(`${box.url.replace('http', 'ws')}/realtime?streamerId=stage`, { authorization: `Bearer ${token}` });
  await client.open;
  // lastSeq 0: whatever the channel published before this subscription lands is sent too.
  client.ws.send(JSON.stringify({ action: 'subscribe', channels: [`user:${userId}`], lastSeq: { [`user:${userId}`]: 0 } }));
  const granted = await box.http('POST', `/api/users/${userId}/grants`, { body: { amount: 500, reason: 'door prize' }, token: staff });
  assert.equal(granted.json.balance, 500);
  await client.next((m) => m.type === 'BALANCE_UPDATED' && m.payload.balance === 500);

  const closesAt = new Date(Date.now() + 2500).toISOString();
  const created = await box.http('POST', '/api/predictions', {
    token: staff,
    body: { streamerId: 'stage', title: 'Encore?', options: [{ id: 'yes', label: 'Yes' }, { id: 'no', label: 'No' }], costPerVote: 25, closesAt },
  });
  assert.equal(created.status, 201, created.text);
  const eventId = created.json.id;
  const announced = await client.next((m) => m.type === 'EVENT_CREATED');
  assert.equal(announced.payload.event.id, eventId);
  assert.equal(announced.channel, 'streamer:stage');

  const voted = await box.http('POST', `/api/predictions/${eventId}/votes`, { token, body: { optionId: 'yes', votes: 4, clientVoteId: 'z-1' } });
  assert.equal(voted.status, 200, voted.text);
  assert.equal(voted.json.balance, 400);
  const resent = await box.http('POST', `/api/predictions/${eventId}/votes`, { token, body: { optionId: 'yes', votes: 4, clientVoteId: 'z-1' } });
  assert.equal(resent.json.replayed, true);
  assert.equal(resent.json.balance, 400, 'a resend spends nothing');
  const overdraft = await box.http('POST', `/api/predictions/${eventId}/votes`, { token, body: { optionId: 'no', votes: 17, clientVoteId: 'z-2' } });
  assert.equal(overdraft.status, 409);
  assert.equal(overdraft.json.code, 'INSUFFICIENT_BALANCE');

  const totals = await client.next((m) => m.type === 'EVENT_UPDATED' && m.payload.totals.yes === 100);
  assert.equal(totals.payload.eventId, eventId);
  const result = await client.next((m) => m.type === 'EVENT_CLOSED');
  assert.equal(result.payload.result.optionId, 'yes');
  assert.ok(client.messages.every((m) => m.type === 'SYSTEM_NOTICE' || Number.isInteger(m.seq)));
  client.ws.close();
});

it('lets a viewer cast 20 votes a second and refuses the rest with RATE_LIMITED, spending nothing on them', async () => {
  const login = await box.http('POST', '/api/auth', { body: { name: 'Quick Fingers', pin: box.viewerPin } });
  assert.equal(login.status, 200, login.text);
  const { token, userId } = login.json;
  const staff = (await box.http('POST', '/api/auth', { body: { password: box.password } })).json.token;
  await box.http('POST', `/api/users/${userId}/grants`, { body: { amount: 1000, reason: 'stake' }, token: staff });
  const created = await box.http('POST', '/api/predictions', {
    token: staff,
    body: { streamerId: 'rate', title: 'Fast?', options: [{ id: 'yes', label: 'Yes' }, { id: 'no', label: 'No' }], costPerVote: 10,
      closesAt: new Date(Date.now() + 120_000).toISOString() },
  });
  assert.equal(created.status, 201, created.text);
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
    box.http('POST', `/api/predictions/${created.json.id}/votes`, { token, body: { optionId: 'yes', votes: 1, clientVoteId: `fast-${i}` } })));
  const elapsedSecs = (Date.now() - started) / 1000;
  const accepted = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429 && a.json.code === 'RATE_LIMITED').length;
  assert.equal(accepted + limited, 30, answers.map((a) => a.text).join('\n'));
  assert.ok(accepted >= 20, `only ${accepted} of 30 votes were taken`);
  assert.ok(accepted <= 20 + Math.ceil(elapsedSecs * 20), `${accepted} votes taken in ${elapsedSecs} s`);
  const balance = await box.http('GET', `/api/users/${userId}/balance`, { token });
  assert.equal(balance.json.balance, 1000 - 10 * accepted, 'refused votes cost nothing');
});

it('refuses a wrong PIN and a socket without a token', async () => {
  const wrong = await box.http('POST', '/api/auth', { body: { name: 'eve', pin: 'nope' } });
  assert.equal(wrong.status, 401);
  const client = watch(`${box.url.replace('http', 'ws')}/realtime?streamerId=stage`, {});
  await assert.rejects(client.open, /401/);
});

it('staff maintenance notices reach every viewer, and a restart closes with 1012 after one', async () => {
  const own = await startBox();
  try {
    const staff = (await own.http('POST', '/api/auth', { body: { password: own.password } })).json.token;
    const viewer = (await own.http('POST', '/api/auth', { body: { name: 'Ada', pin: own.viewerPin } })).json.token;
    const client = watch(`${own.url.replace('http', 'ws')}/realtime?streamerId=stage`, { authorization: `Bearer ${viewer}` });
    await client.open;
    // The streamer channel from the query is subscribed before the upgrade answers; a notice
    // sent now reaches the viewer.
    const sent = await own.http('POST', '/api/notices', { token: staff, body: { message: 'Voting pauses in five minutes' } });
    assert.equal(sent.status, 200, sent.text);
    assert.equal(sent.json.connections, 1);
    const notice = await client.next((m) => m.type === 'SYSTEM_NOTICE' && m.payload.code === 'MAINTENANCE');
    assert.equal(notice.payload.message, 'Voting pauses in five minutes');

    const empty = await own.http('POST', '/api/notices', { token: staff, body: { message: '  ' } });
    assert.equal(empty.status, 400);
    assert.equal(empty.json.code, 'INVALID_DATA');
    const asViewer = await own.http('POST', '/api/notices', { token: viewer, body: { message: 'hi' } });
    assert.equal(asViewer.status, 403);

    const closed = new Promise((r) => client.ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    const exit = await own.stop('SIGTERM');
    assert.equal(exit.code, 0, own.stderr);
    const { code } = await closed;
    assert.equal(code, 1012);
    assert.ok(client.messages.some((m) => m.type === 'SYSTEM_NOTICE' && /restarting/.test(m.payload.message)));
    // With viewers connected the stop is still a clean one (the engine drained and closed the
    // log), so the next start will not treat it as a power cut.
    assert.ok(existsSync(join(own.dataDir, 'clean-stop')), `not marked as a clean stop:\n${own.stderr}`);
  } finally {
    await own.stop();
  }
});

it('a client that closes gets the close answered with its own code, not a dropped connection', async () => {
  const login = await box.http('POST', '/api/auth', { body: { name: 'Leaving', pin: box.viewerPin } });
  const { ws, open } = watch(`${box.url.replace('http', 'ws')}/realtime?token=${login.json.token}`);
  await open;
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.close(4321, 'bye from the phone');
  // 1006 would mean the box dropped the TCP connection without answering the close frame.
  assert.deepEqual(await closed, { code: 4321, reason: 'bye from the phone' });
});
