// Frames no WebSocket library would send, written byte by byte over a raw TCP connection to
// every WebSocket endpoint of the box: each is answered with the RFC 6455 close code for what
// the client got wrong (1002 a frame the protocol forbids, 1007 text that is not UTF-8, 1009 a
// frame over the limit), and a well-behaved client on the same endpoint never notices. On the
// GM stations' Socket.IO (whose WebSocket belongs to the Engine.IO library) a bad frame or
// Engine.IO garbage ends that one connection cleanly, and the stations keep scanning.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { emitAck, startBox, station } from './harness.mjs';
import { ABUSE, frame, rawSocket, TEXT } from './rawws.mjs';

/** A well-behaved client on the same endpoint: answers a ping, and is open at the end. */
async function bystander(url, { protocols = [], headers = {} } = {}) {
  const ws = new WebSocket(url, protocols, { headers });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let closedWith;
  ws.on('close', (code) => { closedWith = code; });
  return {
    async stillServed() {
      assert.equal(closedWith, undefined, `the bystander on ${url} was closed (${closedWith})`);
      const pong = new Promise((resolve) => ws.once('pong', resolve));
      ws.ping('still there?');
      await pong;
      ws.close();
    },
  };
}

describe('raw WebSocket abuse', () => {
  let box;
  let endpoints;

  before(async () => {
    box = await startBox();
    const admin = await box.adminToken();
    const api = async (method, path, body) => (await box.http(method, path, { body, token: admin })).json;
    const tournament = await api('POST', '/api/tournaments', { name: 'Raw Cup' });
    const speaker = '00000000-0000-4000-8000-000000000011';
    await api('POST', `/api/tournaments/${tournament.id}/teams`, {
      name: 'Owls',
      speakers: [{ id: speaker, name: 'Ada' }, { id: '00000000-0000-4000-8000-000000000012', name: 'Bo' }],
    });
    const team = (await api('POST', '/api/teams', { name: 'Reds', members: [{ user_id: 'reds-player', role: 'player' }] })).id;
    const ws = box.url.replace('http', 'ws');
    endpoints = [
      ['live predictions, /realtime', `${ws}/realtime?streamerId=stage`, { headers: { authorization: `Bearer ${box.token('viewer', 'phone-1')}` } }],
      ['tournaments, /ws/stream', `${ws}/ws/stream`, { protocols: ['jwt', box.token('participant', speaker)] }],
      ['drafts, /ws/tournament/{id}/', `${ws}/ws/tournament/${tournament.id}/`, {}],
      ['sports day, a team socket', `${ws}/ws/teams/${team}/?token=${box.token('member', 'reds-player')}`, {}],
    ];
  });
  after(() => box?.stop());

  it('every JSON WebSocket endpoint answers each bad frame with its RFC 6455 close code', async () => {
    for (const [name, url, opts] of endpoints) {
      const calm = await bystander(url, opts);
      for (const [what, bytes, code] of ABUSE) {
        const raw = await rawSocket(url, opts);
        raw.write(bytes());
        assert.equal(await raw.closed(), code, `${name}: ${what}`);
      }
      await calm.stillServed();
    }
  });

  it('a client still pushing megabytes of an oversized frame reads its 1009 (not a reset)', async () => {
    const [, url, opts] = endpoints[0];
    // Ten times: the close used to be lost to a reset now and then, when the box closed the
    // socket with the client's data still unread.
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const raw = await rawSocket(url, opts);
      raw.write(frame(TEXT, Buffer.alloc(8 * 1024 * 1024, 0x20)));
      assert.equal(await raw.closed(), 1009, `attempt ${attempt + 1}`);
    }
  });

  it('a client still pushing megabytes of a body past the limit reads its 413 (not a reset)', async () => {
    const { hostname, port } = new URL(box.url);
    const admin = await box.adminToken();
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const answer = await new Promise((resolve) => {
        const socket = net.connect(Number(port), hostname);
        let got = '';
        socket.on('data', (d) => { got += d; });
        socket.on('error', () => {});
        socket.on('close', () => resolve(got));
        socket.once('connect', () => {
          const body = Buffer.alloc(4 * 1024 * 1024, 0x20);
          socket.write(`POST /api/notices HTTP/1.1\r\nHost: ${hostname}\r\nauthorization: Bearer ${admin}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
          socket.write(body);
        });
      });
      assert.match(answer, /^HTTP\/1\.1 413/, `attempt ${attempt + 1}: ${answer.slice(0, 80) || 'a reset, no answer'}`);
      assert.match(answer, /"code":"INVALID_DATA"/);
    }
  });

  it('a frame cut off half way holds only its own connection: the others are served meanwhile', async () => {
    const [, url, opts] = endpoints[0];
    const calm = await bystander(url, opts);
    const raw = await rawSocket(url, opts);
    raw.write(frame(TEXT, Buffer.alloc(1000, 0x20)).subarray(0, 500));
    await calm.stillServed();
    raw.destroy();
    const again = await bystander(url, opts);
    await again.stillServed();
  });

  describe('the GM stations\' Socket.IO', () => {
    const eio = () => `${box.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;

    /** A raw Engine.IO socket past its open packet and the Socket.IO connect with a GM token. */
    async function engineIo() {
      const raw = await rawSocket(eio());
      await raw.text('0{');
      raw.write(frame(TEXT, Buffer.from(`40${JSON.stringify({ token: box.token('gm', 'GM_RAW') })}`)));
      await raw.text('40{"sid"');
      return raw;
    }

    before(() => box.createSession());

    it('a bad WebSocket frame ends that connection cleanly; a station on the box keeps scanning', async () => {
      const calm = await station(box, 'GM_CALM');
      for (const [what, bytes] of ABUSE) {
        const raw = await engineIo();
        raw.write(bytes());
        const outcome = await raw.closed();
        assert.notEqual(outcome, 'still open', `Socket.IO: ${what} left the connection open`);
      }
      const ack = await emitAck(calm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
      assert.equal(ack.success, true, JSON.stringify(ack));
      calm.close();
    });

    it('Engine.IO garbage: unknown packet types, attachments that never come, a ping flood', async () => {
      const calm = await station(box, 'GM_CALM2');
      // Each case, and whether the library may keep the connection (Engine.IO answers a client's
      // ping; a pong nobody asked for is ignored): what must never happen is the others hanging.
      const cases = [
        ['an unknown Engine.IO packet type', false, [frame(TEXT, Buffer.from('9hello'))]],
        ['an unknown Socket.IO packet type', false, [frame(TEXT, Buffer.from('49["x"]'))]],
        ['a Socket.IO packet that does not parse', false, [frame(TEXT, Buffer.from('42[{"tokenId":'))]],
        ['a binary event whose attachment never comes, then more text', false, [
          frame(TEXT, Buffer.from('451-["transaction:submit",{"_placeholder":true,"num":0}]')),
          frame(TEXT, Buffer.from('42["gm:identify",{}]')),
        ]],
        ['a thousand attachments announced', false, [
          frame(TEXT, Buffer.from('41000-["transaction:submit",{"_placeholder":true,"num":0}]')),
          ...Array.from({ length: 50 }, () => frame(0x2, Buffer.alloc(1000))),
        ]],
        ['a ping flood', true, Array.from({ length: 5000 }, () => frame(TEXT, Buffer.from('2')))],
        ['a pong flood', true, Array.from({ length: 5000 }, () => frame(TEXT, Buffer.from('3')))],
      ];
      for (const [what, mayStayOpen, frames] of cases) {
        const raw = await engineIo();
        for (const bytes of frames) raw.write(bytes);
        const outcome = await raw.closed(3000);
        if (!mayStayOpen) assert.notEqual(outcome, 'still open', `${what} left the connection open`);
        const ack = await emitAck(calm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_B' })
          .catch((e) => e);
        assert.ok(ack.transaction, `${what}: the calm station is still answered (${JSON.stringify(ack)})`);
      }
      const health = await box.http('GET', '/healthz');
      assert.equal(health.status, 200);
      calm.close();
    });
  });
});
