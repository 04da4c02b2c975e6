// Raw WebSocket clients for tests that must send what no WebSocket library would: frames built
// byte by byte (unmasked, reserved opcodes, lying lengths) over a hand-written upgrade. Used by
// raw_frames.test.mjs and the soak.
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

/** One client frame; `mask: false` sends it unmasked, `declared` lies about its length. */
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, declared } = {}) {
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

export const TEXT = 0x1;
export const CONTINUATION = 0x0;
export const CLOSE = 0x8;
export const PING = 0x9;
const closePayload = (code, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

/** The abuse, each with the close code RFC 6455 asks for. */
export const ABUSE = [
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
export async function rawSocket(url, { protocols = [], headers = {} } = {}) {
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
