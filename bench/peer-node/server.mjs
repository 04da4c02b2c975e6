// The benchmark peer: a GM-station orchestrator written the way a Node.js team would write the
// seed 004 system, on socket.io 4.x. Same events, same envelopes, same durability promise:
// each accepted scan is appended to a log file and fsynced before `transaction:new` and the ack.
//
//   node server.mjs --port 3100 --data /tmp/peer-data
//
// It does less than venuebox (bench/RESULTS.md lists what): no token signature check, no
// rate limits, no replay on reconnection, no group commit (one fsync per scan, as written here).
import { createServer } from 'node:http';
import { mkdirSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Server } from 'socket.io';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const port = Number(args.port ?? 3100);
const dataDir = args.data ?? './peer-data';
mkdirSync(dataDir, { recursive: true });
const log = openSync(join(dataDir, 'transactions.jsonl'), 'a');

const session = { id: randomUUID(), name: 'Benchmark', status: 'active', startTime: new Date().toISOString() };
const scores = new Map();
const claimed = new Set();
const transactions = [];

const envelope = (event, data) => ({ event, data, timestamp: new Date().toISOString() });
const gameState = () => ({
  sessionId: session.id,
  scores: [...scores.entries()].map(([teamId, score]) => ({ teamId, currentScore: score })),
  recentTransactions: transactions.slice(-10),
});

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(http, { maxHttpBufferSize: 64 * 1024 });

io.on('connection', (socket) => {
  const token = socket.handshake.auth?.token ?? '';
  if (token.startsWith('admin')) socket.join('admin');

  socket.on('gm:identify', (data, ack) => {
    socket.data.stationId = data?.stationId;
    socket.join('gm-stations');
    socket.broadcast.to('gm-stations').emit('device:connected', envelope('device:connected', { deviceId: data?.stationId, type: 'gm' }));
    const identified = { success: true, sessionId: session.id, state: gameState() };
    socket.emit('gm:identified', identified);
    if (typeof ack === 'function') ack(identified);
  });

  socket.on('transaction:submit', (data, ack) => {
    const { tokenId, teamId } = data ?? {};
    if (typeof tokenId !== 'string' || typeof teamId !== 'string') {
      const error = { code: 'INVALID_DATA', message: 'tokenId and teamId are required' };
      socket.emit('error', envelope('error', error));
      if (typeof ack === 'function') ack({ success: false, error });
      return;
    }
    const duplicate = claimed.has(tokenId.toLowerCase());
    const points = duplicate ? 0 : 100;
    if (!duplicate) claimed.add(tokenId.toLowerCase());
    const transaction = {
      id: randomUUID(), tokenId, teamId, scannerId: socket.data.stationId, sessionId: session.id,
      status: duplicate ? 'duplicate' : 'accepted', points, timestamp: new Date().toISOString(),
      clientScanId: typeof data.scanId === 'string' ? data.scanId : null,
    };
    // Durable before acknowledged: append and fsync, then tell everyone.
    writeSync(log, `${JSON.stringify(transaction)}\n`);
    fsyncSync(log);
    scores.set(teamId, (scores.get(teamId) ?? 0) + points);
    transactions.push(transaction);
    if (transactions.length > 100) transactions.shift();
    io.to(['gm-stations', 'admin']).emit('transaction:new', envelope('transaction:new', transaction));
    io.to(['gm-stations', 'admin']).emit('state:update', envelope('state:update', gameState()));
    if (typeof ack === 'function') ack({ success: true, transaction });
  });

  socket.on('heartbeat', (data, ack) => {
    if (typeof ack === 'function') ack({ success: true, serverTime: new Date().toISOString() });
  });
});

http.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on http://127.0.0.1:${http.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
