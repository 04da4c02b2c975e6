// Every contract refuses every kind of bad token, in one table: a token that is unsigned
// (`alg: none`), signed with another algorithm or another key, without `exp`, not yet valid
// (`nbf`), expired, or of a role the endpoint does not take. Each endpoint is first shown to take
// a good token, so a refusal below is the token's doing and not the endpoint's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, emitAck, startBox } from './harness.mjs';

/** How an upgrade is answered: 101, or the refusal's status and JSON error code. */
function upgrade(url, { protocols = [], headers = {} } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        let code;
        try { code = JSON.parse(body).code; } catch { code = undefined; }
        resolve({ status: res.statusCode, code });
      });
    });
    ws.once('open', () => { ws.close(); resolve({ status: 101 }); });
    ws.once('error', () => {});
  });
}

const now = () => Math.floor(Date.now() / 1000);

describe('tokens, on every contract', () => {
  let box;
  let admin;
  let tournamentSpeaker;
  let sportsTeam;

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    const api = async (method, path, body) => (await box.http(method, path, { body, token: admin })).json;
    const tournament = await api('POST', '/api/tournaments', { name: 'Token Cup' });
    tournamentSpeaker = '00000000-0000-4000-8000-000000000001';
    const team = await api('POST', `/api/tournaments/${tournament.id}/teams`, {
      name: 'Owls',
      speakers: [{ id: tournamentSpeaker, name: 'Ada' }, { id: '00000000-0000-4000-8000-000000000002', name: 'Bo' }],
    });
    assert.ok(team.speakers, JSON.stringify(team));
    sportsTeam = (await api('POST', '/api/teams', {
      name: 'Reds',
      members: [{ user_id: 'reds-player', role: 'player' }],
    })).id;
  });
  after(() => box?.stop());

  // Each endpoint: the role and subject it takes, a role it refuses, and how it answers a token
  // (`accepted`, or the refusal's status and error code).
  const endpoints = [
    {
      contract: 'GM stations (seed 004), Socket.IO auth',
      role: 'gm',
      sub: () => 'GM_TOKEN',
      wrongRole: 'viewer',
      answer: async (token) => {
        const s = connect(box, { token });
        try {
          const refused = s.rec.next('error').then((e) => ({ status: 401, code: e.data.code }));
          const identified = emitAck(s.socket, 'gm:identify', { stationId: 'GM_TOKEN', version: '1' })
            .then((ack) => (ack.success ? { status: 'accepted' } : { status: 401, code: ack.error.code }));
          return await Promise.race([refused, identified]);
        } finally {
          s.socket.disconnect();
        }
      },
    },
    {
      contract: 'staff API, bearer header',
      role: 'admin',
      sub: () => 'staff',
      wrongRole: 'gm',
      answer: async (token) => {
        const res = await box.http('GET', '/api/viewers', { token });
        return res.status === 200 ? { status: 'accepted' } : { status: res.status, code: res.json?.code };
      },
    },
    {
      contract: 'live predictions (seed 002), /realtime',
      role: 'viewer',
      sub: () => 'phone-1',
      wrongRole: 'gm',
      answer: async (token) => {
        const r = await upgrade(`${box.url.replace('http', 'ws')}/realtime?streamerId=stage`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return r.status === 101 ? { status: 'accepted' } : r;
      },
    },
    {
      contract: 'tournaments (seed 000), /ws/stream jwt subprotocol',
      role: 'participant',
      sub: () => tournamentSpeaker,
      wrongRole: 'gm',
      answer: async (token) => {
        const r = await upgrade(`${box.url.replace('http', 'ws')}/ws/stream`, { protocols: ['jwt', token] });
        return r.status === 101 ? { status: 'accepted' } : r;
      },
    },
    {
      contract: 'sports day (seed 003), a team socket',
      role: 'member',
      sub: () => 'reds-player',
      wrongRole: 'gm',
      answer: async (token) => {
        const r = await upgrade(`${box.url.replace('http', 'ws')}/ws/teams/${sportsTeam}/?token=${token}`);
        return r.status === 101 ? { status: 'accepted' } : r;
      },
    },
  ];

  // Each bad token, made for an endpoint's role and subject.
  const badTokens = [
    ['alg none, unsigned', (role, sub) => box.forgeToken({ sub, role, iat: now(), exp: now() + 3600 }, { alg: 'none' })],
    ['HS512 with the box secret', (role, sub) => box.forgeToken({ sub, role, iat: now(), exp: now() + 3600 }, { alg: 'HS512' })],
    ['HS384 with the box secret', (role, sub) => box.forgeToken({ sub, role, iat: now(), exp: now() + 3600 }, { alg: 'HS384' })],
    ['HS256 with another key', (role, sub) => box.forgeToken({ sub, role, iat: now(), exp: now() + 3600 }, { key: 'not-the-box-secret' })],
    ['no exp', (role, sub) => box.forgeToken({ sub, role, iat: now() })],
    ['nbf an hour ahead', (role, sub) => box.forgeToken({ sub, role, iat: now(), nbf: now() + 3600, exp: now() + 7200 })],
    ['expired a minute ago', (role, sub) => box.forgeToken({ sub, role, iat: now() - 3600, exp: now() - 60 })],
    ['a good token given a longer life', (role, sub) => {
      const [header, , signature] = box.token(role, sub).split('.');
      const payload = Buffer.from(JSON.stringify({ sub, role, iat: now(), exp: now() + 30 * 86400 })).toString('base64url');
      return `${header}.${payload}.${signature}`;
    }],
  ];

  for (const endpoint of endpoints) {
    it(`${endpoint.contract}: takes a good token, refuses every bad one`, async () => {
      const sub = endpoint.sub();
      const good = endpoint.role === 'admin' ? admin : box.token(endpoint.role, sub);
      assert.deepEqual(await endpoint.answer(good), { status: 'accepted' }, 'a good token is taken');
      const cases = [
        ...badTokens.map(([what, make]) => [what, make(endpoint.role, sub)]),
        [`a ${endpoint.wrongRole} token`, box.token(endpoint.wrongRole, sub)],
      ];
      for (const [what, token] of cases) {
        const answer = await endpoint.answer(token);
        assert.notEqual(answer.status, 'accepted', `${what} was taken`);
        assert.ok([401, 403].includes(answer.status), `${what}: ${JSON.stringify(answer)}`);
        assert.match(String(answer.code), /^(INVALID_TOKEN|AUTH_REQUIRED|FORBIDDEN|PERMISSION_DENIED|UNAUTHORIZED)$/, `${what}: ${JSON.stringify(answer)}`);
      }
    });
  }

  it('rotate-secret: after a restart every old token is refused and new ones work; a guest keeps their name', async () => {
    const own = await startBox();
    try {
      const oldStation = own.token('gm', 'GM_ROTATE');
      const guest = await own.http('POST', '/api/auth', { body: { name: 'Rosa', pin: own.viewerPin } });
      assert.equal(guest.status, 200, guest.text);
      const oldStaff = await own.adminToken();

      assert.match(own.cli('rotate-secret'), /restart the box/);
      await own.stop();
      await own.launch({ samePort: true });

      const refused = connect(own, { token: oldStation });
      assert.equal((await refused.rec.next('error')).data.code, 'INVALID_TOKEN', 'the station is told to pair again');
      refused.socket.disconnect();
      const staff = await own.http('GET', '/api/viewers', { token: oldStaff });
      assert.equal(staff.status, 401, staff.text);
      const viewer = await upgrade(`${own.url.replace('http', 'ws')}/realtime?streamerId=stage`, {
        headers: { authorization: `Bearer ${guest.json.token}` },
      });
      assert.equal(viewer.status, 401);

      const paired = connect(own, { token: own.token('gm', 'GM_ROTATE') });
      const ack = await emitAck(paired.socket, 'gm:identify', { stationId: 'GM_ROTATE', version: '1' });
      assert.equal(ack.success, true, JSON.stringify(ack));
      paired.socket.disconnect();
      const back = await own.http('POST', '/api/auth', {
        body: { name: 'Rosa', pin: own.viewerPin, viewerKey: guest.json.viewerKey },
      });
      assert.equal(back.status, 200, back.text);
      assert.equal(back.json.userId, guest.json.userId, 'the guest keeps their name and balance');
    } finally {
      await own.stop();
    }
  });
});
