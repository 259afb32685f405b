import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../app/static/js/pricewire-client.js';
import { makeClient } from './helpers/client-harness.mjs';
import { sequenceRandom } from './helpers/fake-clock.mjs';

test('backoffDelay is full jitter over a capped exponential', () => {
  const opts = { base: 1000, cap: 30000 };
  assert.equal(backoffDelay(0, { ...opts, random: () => 1 }), 1000);
  assert.equal(backoffDelay(3, { ...opts, random: () => 1 }), 8000);
  assert.equal(backoffDelay(3, { ...opts, random: () => 0.25 }), 2000);
  assert.equal(backoffDelay(5, { ...opts, random: () => 1 }), 30000);
  assert.equal(backoffDelay(1000, { ...opts, random: () => 1 }), 30000);
  assert.equal(backoffDelay(4, { ...opts, random: () => 0 }), 0);
});

test('failed connects back off exponentially with the injected random, capped at 30 s', () => {
  const { client, ws, fireReconnect, events } = makeClient({ random: sequenceRandom(1, 0.5, 1, 1, 0.5, 1, 1, 1) });
  client.connect();
  const delays = [];
  ws().serverClose(1006);
  for (let i = 0; i < 8; i += 1) {
    assert.equal(client.state, 'reconnecting');
    delays.push(client.reconnectDelayMs);
    fireReconnect().serverClose(1006);
  }
  // attempt:    0     1     2     3      4      5(cap) 6      7
  // ceiling: 1000  2000  4000  8000  16000  30000  30000  30000
  assert.deepEqual(delays, [1000, 1000, 4000, 8000, 8000, 30000, 30000, 30000]);
  assert.ok(events.disconnects.every((d) => d.willReconnect));
});

test('reconnectAt / reconnectInDelayMs count down for a "reconnecting in N s" display', () => {
  const { client, clock, open, ws } = makeClient();
  open();
  ws().serverClose(1006);
  assert.equal(client.reconnectInDelayMs, 1000);
  assert.equal(client.reconnectAt, clock.now() + 1000);
  clock.advance(400);
  assert.equal(client.reconnectInDelayMs, 600);
  clock.advance(600);
  assert.equal(client.state, 'connecting');
  assert.equal(client.reconnectInDelayMs, null);
});

test('a clean server close (1000) the client did not ask for still reconnects', () => {
  const { client, open, ws, WS } = makeClient();
  open();
  ws().serverClose(1000, 'bye', true);
  assert.equal(client.state, 'reconnecting');
  assert.equal(WS.instances.length, 1);
});

for (const code of [1001, 1011, 1012, 4408, 4503]) {
  test(`close ${code} reconnects with backoff`, () => {
    const { client, open, ws } = makeClient();
    open();
    ws().serverClose(code);
    assert.equal(client.state, 'reconnecting');
    assert.equal(client.reconnectDelayMs, 1000);
  });
}

test('disconnect() closes cleanly and never reconnects', () => {
  const { client, clock, open, WS, events } = makeClient();
  const socket = open();
  client.disconnect();
  assert.equal(client.state, 'closed');
  assert.deepEqual(socket.closeCalls, [{ code: 1000, reason: 'client disconnect' }]);
  socket.serverClose(1000, '', true); // late close event of the old socket is ignored
  clock.advance(120_000);
  assert.equal(WS.instances.length, 1);
  assert.equal(events.disconnects.length, 1);
  assert.equal(events.disconnects[0].byClient, true);
});

test('disconnect() during the reconnect wait cancels the reconnect', () => {
  const { client, clock, open, ws, WS } = makeClient();
  open();
  ws().serverClose(1006);
  client.disconnect();
  clock.advance(60_000);
  assert.equal(client.state, 'closed');
  assert.equal(WS.instances.length, 1);
});

test('connect() during the reconnect wait connects at once', () => {
  const { client, open, ws, WS } = makeClient();
  open();
  ws().serverClose(1006);
  client.connect();
  assert.equal(client.state, 'connecting');
  assert.equal(WS.instances.length, 2);
});

test('the attempt counter resets only after a connection stayed open with its connection message', () => {
  const { client, clock, ws, open, fireReconnect } = makeClient({ stableConnectionMs: 5000 });
  client.connect();
  ws().serverClose(1006);
  fireReconnect().serverClose(1006);
  assert.equal(client.reconnectAttempt, 2);
  fireReconnect().serverOpen();
  ws().serverHello();
  ws().serverClose(4503); // flapped right after the greeting: keep backing off
  assert.equal(client.reconnectAttempt, 3);
  assert.equal(client.reconnectDelayMs, 4000);
  fireReconnect();
  open();
  clock.advance(5000);
  assert.equal(client.reconnectAttempt, 0);
  ws().serverClose(1006);
  assert.equal(client.reconnectDelayMs, 1000);
});

test('a socket that never opens is abandoned after connectTimeout and retried', () => {
  const { client, clock, ws, WS } = makeClient({ connectTimeout: 7000 });
  client.connect();
  const first = ws();
  clock.advance(7000);
  assert.equal(client.state, 'reconnecting');
  assert.equal(first.closeCalls[0].code, 4000);
  clock.advance(client.reconnectInDelayMs);
  assert.equal(WS.instances.length, 2);
});

test('maxReconnectAttempts (default unlimited) stops retrying when set', () => {
  const { client, ws, fireReconnect } = makeClient({ maxReconnectAttempts: 2 });
  client.connect();
  ws().serverClose(1006);
  fireReconnect().serverClose(1006);
  fireReconnect().serverClose(1006);
  assert.equal(client.state, 'closed');
});
