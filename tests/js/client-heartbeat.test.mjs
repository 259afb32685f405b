import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeClient } from './helpers/client-harness.mjs';

const pings = (socket) => socket.sentOfType('ping').length;

test('sends an app-level ping every heartbeatInterval while open', () => {
  const { clock, open, ws } = makeClient({ heartbeatInterval: 25_000, heartbeatTimeout: 10_000 });
  open();
  clock.advance(24_999);
  assert.equal(pings(ws()), 0);
  clock.advance(1);
  assert.equal(pings(ws()), 1);
  ws().serverSend('pong');
  clock.advance(25_000);
  assert.equal(pings(ws()), 2);
});

test('no pong within heartbeatTimeout: the socket is closed and the client reconnects', () => {
  const { client, clock, open, ws, WS, events } = makeClient({ heartbeatInterval: 25_000, heartbeatTimeout: 10_000 });
  open();
  const dead = ws();
  clock.advance(25_000 + 9_999);
  assert.equal(client.state, 'open');
  clock.advance(1);
  assert.deepEqual(dead.closeCalls, [{ code: 4000, reason: 'heartbeat timeout' }]);
  assert.equal(client.state, 'reconnecting');
  assert.equal(events.disconnects.at(-1).reason, 'heartbeat timeout');
  clock.advance(client.reconnectInDelayMs);
  assert.equal(WS.instances.length, 2);
  dead.serverClose(1006); // the dead socket's late close event changes nothing
  assert.equal(client.state, 'connecting');
});

test('any message (not only pong) counts as a sign of life', () => {
  const { client, clock, open, ws } = makeClient({ heartbeatInterval: 25_000, heartbeatTimeout: 10_000 });
  open();
  clock.advance(30_000);
  ws().serverSend('asset_update', { symbol: 'AAPL', seq: 1 });
  clock.advance(10_000);
  assert.equal(client.state, 'open');
});

test('the server-announced heartbeat_interval is used when no heartbeatInterval option is given', () => {
  const { clock, open, ws } = makeClient({ heartbeatInterval: undefined });
  open({ heartbeat_interval: 5 });
  clock.advance(5_000);
  assert.equal(pings(ws()), 1);
});

test('an explicit heartbeatInterval option wins over the server value', () => {
  const { clock, open, ws } = makeClient({ heartbeatInterval: 20_000 });
  open({ heartbeat_interval: 5 });
  clock.advance(19_999);
  assert.equal(pings(ws()), 0);
});

test('no timers are left after disconnect()', () => {
  const { client, clock, open } = makeClient();
  open();
  client.disconnect();
  assert.equal(clock.pendingCount, 0);
});
