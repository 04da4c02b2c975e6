// Starts the real venuebox binary on a loopback port with its own data dir, and connects real
// socket.io-client stations to it. Shared by every *.test.mjs file here.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.VENUEBOX_BIN ?? resolve(here, '../../target/debug/venuebox');

if (!existsSync(BIN)) {
  throw new Error(`venuebox binary not found at ${BIN}: run \`cargo build\` first (or set VENUEBOX_BIN)`);
}

/** A program to run the binary with (`qemu-aarch64 -L /usr/aarch64-linux-gnu` for the Pi build). */
const RUNNER = (process.env.VENUEBOX_RUNNER ?? '').split(' ').filter(Boolean);
const command = (args) => (RUNNER.length ? [RUNNER[0], [...RUNNER.slice(1), BIN, ...args]] : [BIN, args]);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The environment that runs the box under Debian's libfaketime (`env`), its wall clock moved
 * by the offset `jump` writes ("+0", "-3h", "+2d", "@1970-01-02 00:00:00"), read by the box at
 * every clock reading. The monotonic clock is left alone, as a real jump leaves it.
 */
export function fakeClock() {
  const offsetFile = join(tmpdir(), `venuebox-clock-${process.pid}-${madeHere.length}`);
  madeHere.push(offsetFile);
  const found = readdirSync('/usr/lib')
    .map((dir) => join('/usr/lib', dir, 'faketime', 'libfaketime.so.1'))
    .find((path) => existsSync(path));
  if (!found) throw new Error('libfaketime is missing: install the Debian package faketime (tests/run.sh does)');
  const jump = (offset) => writeFileSync(offsetFile, `${offset}\n`);
  jump('+0');
  return {
    jump,
    env: {
      LD_PRELOAD: found,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
  };
}

// Asks `check` every 50 ms until it answers something truthy, and returns that; fails naming
// `what` after `limitMs`. For states the box reaches on its own time: never a fixed sleep.
export async function until(check, what, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const answer = await check();
    if (answer) return answer;
    if (Date.now() > deadline) throw new Error(`not within ${limitMs} ms: ${what}`);
    await sleep(50);
  }
}

// Waits until the box has marked `deviceId` disconnected (its close has been processed).
export async function stationGone(box, deviceId) {
  await until(async () => {
    const devices = (await box.http('GET', '/api/state')).json.devices ?? [];
    return !devices.some((d) => d.deviceId === deviceId && d.connected);
  }, `${deviceId} is marked disconnected`);
}

// The data dirs and configs this test process made, removed when it exits (set
// KEEP_BOX_DATA=1 to look at them after a failure).
const madeHere = [];
process.on('exit', () => {
  if (process.env.KEEP_BOX_DATA) return;
  for (const path of madeHere) rmSync(path, { recursive: true, force: true });
});

/** Starts a box. `config` is extra TOML; returns a handle that can kill and restart it. */
export async function startBox({ config = '', dataDir, env = {} } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'venuebox-test-'));
  const configPath = join(dir, '..', `${dir.split('/').pop()}.toml`);
  if (!dataDir) madeHere.push(dir, configPath);
  writeFileSync(configPath, config);
  // `env`: more environment for the box's process (a test's LD_PRELOAD, say); `box.env` may be
  // changed between launches.
  const box = { dataDir: dir, configPath, proc: null, url: null, password: null, stderr: '', env };
  // The box prints the venue PIN on its first start only; the file it keeps the PIN in is the
  // one source that holds it on every start (read when asked, so after the box is listening).
  let printedPin = null;
  Object.defineProperty(box, 'viewerPin', {
    enumerable: true,
    get() {
      try {
        return readFileSync(join(dir, 'viewer-pin'), 'utf8').trim() || printedPin;
      } catch {
        return printedPin;
      }
    },
  });

  /** Starts the box; `samePort` keeps the address it had, as a restarted box in a venue does. */
  box.launch = async ({ samePort = false } = {}) => {
    const listen = samePort && box.url ? new URL(box.url).host : '127.0.0.1:0';
    const proc = spawn(...command(['serve', '--listen', listen, '--data', dir, '--config', configPath]), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'venuebox=warn', ...box.env },
    });
    box.proc = proc;
    proc.stderr.on('data', (d) => { box.stderr += d; if (process.env.BOX_STDERR) process.stderr.write(d); });
    box.url = await new Promise((resolveUrl, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`box did not start:\n${out}\n${box.stderr}`)), 15000);
      proc.stdout.on('data', (d) => {
        out += d;
        box.stdout = out;
        const pw = out.match(/admin password is (\S+)/);
        if (pw) box.password = pw[1];
        const pin = out.match(/venue PIN (\S+)/);
        if (pin) printedPin = pin[1];
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) { clearTimeout(timer); resolveUrl(m[1]); }
      });
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`box exited ${code}:\n${out}\n${box.stderr}`)); });
    });
    return box;
  };

  /** Stops the box; SIGKILL models a power cut. */
  box.stop = async (signal = 'SIGTERM') => {
    const proc = box.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
    proc.kill(signal);
    return exited;
  };

  /** Runs a maintenance command of the box's CLI on this box's data, as a technician would (on
   * the box's machine: with the box's environment, its clock included). */
  box.cli = (...args) => execFileSync(...command([...args, '--data', dir]), { env: { ...process.env, ...box.env } }).toString();

  /** Mints a token with the box's own CLI, as a technician pairing a station would. */
  box.token = (role, sub, ttl = '1h') =>
    execFileSync(...command(['token', '--role', role, '--sub', sub, '--ttl', ttl, '--data', dir]), { env: { ...process.env, ...box.env } }).toString().trim();

  /**
   * A token made by hand, as an attacker who knows the format would: `alg` in the header
   * (`none` leaves it unsigned; HS256/384/512 sign with `key`, the box secret unless given).
   */
  box.forgeToken = (claims, { alg = 'HS256', key } = {}) => {
    const secret = key ?? readFileSync(join(dir, 'box-secret'), 'utf8').trim();
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
    if (alg === 'none') return `${body}.`;
    const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
    return `${body}.${createHmac(hash, secret).update(body).digest('base64url')}`;
  };

  /** A token signed with the box secret but already expired, `agoSecs` ago. */
  box.expiredToken = (role, sub, agoSecs = 3600) => {
    const now = Math.floor(Date.now() / 1000);
    return box.forgeToken({ sub, role, iat: now - 7200, exp: now - agoSecs });
  };

  box.http = async (method, path, { body, token, raw } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(box.url + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) })
      .catch((e) => {
        // undici says only "fetch failed": name the request and what the socket did.
        throw new Error(`${method} ${path}: ${e.message} (${e.cause?.code ?? e.cause?.message ?? 'no cause'})`, { cause: e });
      });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json, text, headers: res.headers };
  };

  box.adminToken = async () => {
    const res = await box.http('POST', '/api/admin/auth', { body: { password: box.password } });
    if (res.status !== 200) throw new Error(`admin login failed: ${res.text}`);
    return res.json.token;
  };

  box.createSession = async (body = { name: 'Test night' }) => {
    const res = await box.http('POST', '/api/session', { body, token: await box.adminToken() });
    if (res.status !== 201) throw new Error(`session create failed: ${res.status} ${res.text}`);
    return res.json;
  };

  await box.launch();
  return box;
}

/** Records every event a socket receives, and lets a test wait for one. */
export function recorder(socket) {
  const events = [];
  const waiters = [];
  socket.onAny((name, payload) => {
    events.push({ name, payload });
    for (const w of [...waiters]) {
      if (w.name === name && w.match(payload)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(payload);
      }
    }
  });
  return {
    events,
    named: (name) => events.filter((e) => e.name === name).map((e) => e.payload),
    clear: () => { events.length = 0; },
    next(name, match = () => true, timeoutMs = 5000) {
      const seen = events.find((e) => e.name === name && match(e.payload));
      if (seen) return Promise.resolve(seen.payload);
      return new Promise((resolveWait, reject) => {
        const w = { name, match, resolve: resolveWait };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timed out waiting for ${name}; got ${JSON.stringify(events.map((e) => e.name))}`)); }
        }, timeoutMs);
      });
    },
  };
}

/** Opens a socket.io-client connection the way a GM station does. */
export function connect(box, { token, reconnection = false } = {}) {
  const socket = io(box.url, {
    transports: ['websocket'],
    auth: token ? { token } : {},
    reconnection,
    forceNew: true,
  });
  const rec = recorder(socket);
  return { socket, rec };
}

/** Connects and identifies a station; resolves once `gm:identified` arrives. */
export async function station(box, stationId, opts = {}) {
  const token = opts.token ?? box.token('gm', stationId);
  const s = connect(box, { token });
  const identified = s.rec.next('gm:identified');
  s.socket.emit('gm:identify', { stationId, version: '1.0.0' });
  s.identified = await identified;
  s.close = () => s.socket.disconnect();
  return s;
}

/** Emits with an acknowledgement and resolves with the ack payload. */
export function emitAck(socket, event, data, timeoutMs = 5000) {
  return socket.timeout(timeoutMs).emitWithAck(event, data);
}

/** Resolves when the socket is disconnected (with the reason). */
export function disconnected(socket, timeoutMs = 10000) {
  if (!socket.connected) return Promise.resolve('already');
  return new Promise((resolveDisc, reject) => {
    const t = setTimeout(() => reject(new Error('socket was not disconnected')), timeoutMs);
    socket.once('disconnect', (reason) => { clearTimeout(t); resolveDisc(reason); });
  });
}

/**
 * A `ws` WebSocket's JSON frames as they arrive: every frame, a wait for one matching,
 * whether it is open, how it closed. `describe` says what was received when a wait times out.
 */
export function jsonFrames(ws, describe = (frames) => JSON.stringify(frames)) {
  const frames = [];
  const waiters = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    frames.push(frame);
    for (const w of [...waiters]) if (w.match(frame)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(frame); }
  });
  const next = (match, what = 'a frame', timeoutMs = 8000) => {
    const seen = frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ match, resolve });
      setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${describe(frames)}`)), timeoutMs);
    });
  };
  const open = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { frames, next, open, closed };
}

/** Headless Chromium (Debian's, installed by tests/run.sh; or $CHROMIUM), kept off the network. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}: run tests/run.sh (it installs Debian's chromium) or set CHROMIUM`);
  }
  return chromium.launch({
    executablePath,
    // This machine has no network beyond loopback: keep Chromium from trying. `venuebox.local`
    // is the box as guests' phones reach it: over plain http, a page that is not a secure
    // context (no `crypto.randomUUID`, no clipboard), unlike 127.0.0.1.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP venuebox.local 127.0.0.1'],
  });
}
