// Frames no WebSocket library would send, written byte by byte over a raw TCP connection to
// every WebSocket endpoint of the box: each is answered with the RFC 6455 close code for what
// the client got wrong (1002 a frame the protocol forbids, 1007 text that is not UTF-8, 1009 a
// frame over the limit), and a well-behaved client on the same endpoint never notices. On the
// GM stations' Socket.IO (whose WebSocket belongs to the Engine.IO library) a bad frame or
// Engine.IO garbage ends that one connection cleanly, and the stations keep scanning.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { emitAck, startBox, station } from './harness.mjs';

/** One client frame; `mask: false` sends it unmasked, `declared` lies about its length. */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, declared } = {}) {
  const length = declared ?? BigInt(payload.length);
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

const TEXT = 0x1;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const closePayload = (code, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

/** The abuse, each with the close code RFC 6455 asks for. */
const ABUSE = [
  ['an unmasked client frame', () => frame(TEXT, Buffer.from('{}'), { mask: false }), 1002],
  ['a reserved data opcode (0x3)', () => frame(0x3, Buffer.from('x')), 1002],
  ['a reserved control opcode (0xB)', () => frame(0xb), 1002],
  ['a reserved bit set', () => frame(TEXT, Buffer.from('{}'), { rsv: 0b100 }), 1002],
  ['a fragmented ping', () => frame(PING, Buffer.from('a'), { fin: false }), 1002],
  ['a ping of 126 bytes', () => frame(PING, Buffer.alloc(126, 0x61)), 1002],
  ['a declared length of 2^63', () => frame(TEXT, Buffer.alloc(0), { declared: 1n << 63n }), 1009],
  ['a declared length of 2^63 - 1', () => frame(TEXT, Buffer.alloc(0), { declared: (1n << 63n) - 1n }), 1009],
  ['text that is not UTF-8', () => frame(TEXT, Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 1007],
  ['a continuation with nothing to continue', () => frame(CONTINUATION, Buffer.from('x')), 1002],
  ['a close with code 999', () => frame(CLOSE, closePayload(999)), 1002],
  ['a close with code 1005 (never sent on the wire)', () => frame(CLOSE, closePayload(1005)), 1002],
  ['a close with a one-byte body', () => frame(CLOSE, Buffer.from([3])), 1002],
];

/**
 * A raw WebSocket: the upgrade written by hand, then whatever bytes the test wants. `closed`
 * resolves with the server's close code, `'no close frame'` if the connection ended without
 * one, or `'still open'` if nothing happened within the limit.
 */
async function rawSocket(url, { protocols = [], headers = {} } = {}) {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const lines = [
    `GET ${pathname}${search} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...(protocols.length ? [`Sec-WebSocket-Protocol: ${protocols.join(', ')}`] : []),
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let buffered = Buffer.alloc(0);
  let status;
  let onData = () => {};
  const ended = new Promise((resolve) => {
    socket.on('close', resolve);
    socket.on('error', () => {});
  });
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (status === undefined) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      status = Number(buffered.subarray(0, end).toString().split(' ')[1]);
      buffered = buffered.subarray(end + 4);
    }
    onData();
  });
  await new Promise((resolve) => { onData = resolve; if (status !== undefined) resolve(); });
  assert.equal(status, 101, `${url} upgrades`);

  /** The server's frames as far as they are whole: [opcode, payload]. */
  const frames = () => {
    const out = [];
    let at = 0;
    while (buffered.length - at >= 2) {
      const opcode = buffered[at] & 0x0f;
      let length = buffered[at + 1] & 0x7f;
      let start = at + 2;
      if (length === 126) { length = buffered.readUInt16BE(at + 2); start += 2; }
      else if (length === 127) { length = Number(buffered.readBigUInt64BE(at + 2)); start += 8; }
      if (buffered.length < start + length) break;
      out.push([opcode, buffered.subarray(start, start + length)]);
      at = start + length;
    }
    return out;
  };
  return {
    /** Waits for a text frame from the server that starts with `prefix`. */
    async text(prefix, limitMs = 5000) {
      for (const started = Date.now(); Date.now() - started < limitMs; await new Promise((r) => setTimeout(r, 20))) {
        const found = frames().find(([opcode, body]) => opcode === TEXT && body.toString().startsWith(prefix));
        if (found) return found[1].toString();
      }
      throw new Error(`no text frame starting ${prefix} from ${url}`);
    },
    write: (bytes) => socket.write(bytes),
    destroy: () => socket.destroy(),
    async closed(limitMs = 5000) {
      const outcome = await Promise.race([
        ended.then(() => 'ended'),
        new Promise((r) => setTimeout(() => r('still open'), limitMs)),
      ]);
      socket.destroy();
      const close = frames().find(([opcode]) => opcode === CLOSE);
      if (close) return close[1].length >= 2 ? close[1].readUInt16BE(0) : 'close without a code';
      return outcome === 'ended' ? 'no close frame' : 'still open';
    },
  };
}

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
