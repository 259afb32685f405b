import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeClient } from './helpers/client-harness.mjs';

for (const code of [4401, 4403, 4413]) {
  test(`final close code ${code} does not reconnect`, () => {
    const { client, clock, open, ws, WS, events } = makeClient();
    open();
    ws().serverClose(code, 'nope', true);
    clock.advance(600_000);
    assert.equal(client.state, 'closed');
    assert.equal(WS.instances.length, 1);
    assert.equal(events.disconnects.at(-1).willReconnect, false);
    assert.equal(events.disconnects.at(-1).code, code);
  });

  test(`1006 right after an error message with code ${code} is treated as ${code}`, () => {
    const { client, clock, open, ws, WS, events } = makeClient();
    open();
    ws().serverSend('error', { code, message: 'final' });
    ws().serverClose(1006);
    clock.advance(600_000);
    assert.equal(client.state, 'closed');
    assert.equal(WS.instances.length, 1);
    assert.deepEqual([events.disconnects[0].code, events.disconnects[0].rawCode], [code, 1006]);
  });
}

test('4401 calls onAuthRequired once and stays closed', () => {
  const { client, open, ws, events } = makeClient();
  open();
  ws().serverSend('error', { code: 4401, message: 'login required' });
  ws().serverClose(1006);
  assert.equal(events.authRequired.length, 1);
  assert.equal(events.authRequired[0].code, 4401);
  assert.equal(client.state, 'closed');
});

test('other final codes do not call onAuthRequired', () => {
  const { open, ws, events } = makeClient();
  open();
  ws().serverClose(4403);
  assert.equal(events.authRequired.length, 0);
});

test('an old error code is not applied to a much later network drop', () => {
  const { client, clock, open, ws } = makeClient({ errorCloseWindowMs: 5000 });
  open({ heartbeat_interval: 3600 });
  ws().serverSend('error', { code: 4403, message: 'portfolio 9 is not yours' }); // app-level, socket stays up
  clock.advance(60_000);
  ws().serverClose(1006);
  assert.equal(client.state, 'reconnecting');
});

test('an error flagged closing names the close code however late the 1006 comes', () => {
  const { client, clock, open, ws } = makeClient({ errorCloseWindowMs: 5000 });
  open({ heartbeat_interval: 3600 });
  ws().serverSend('error', { code: 4403, message: 'origin not allowed', closing: true });
  clock.advance(60_000);
  ws().serverClose(1006);
  assert.equal(client.state, 'closed');
});

test('a real close code wins over a remembered error code', () => {
  const { client, open, ws } = makeClient();
  open();
  ws().serverSend('error', { code: 4403, message: 'not for you' });
  ws().serverClose(1011);
  assert.equal(client.state, 'reconnecting');
});

test('error codes sent as strings are understood', () => {
  const { client, open, ws } = makeClient();
  open();
  ws().serverSend('error', { code: '4413', message: 'too big' });
  ws().serverClose(1006);
  assert.equal(client.state, 'closed');
});

test('4429 after an error with retry_after waits that long (plus injected jitter)', () => {
  const { client, clock, open, ws, WS } = makeClient({ random: () => 0 });
  open();
  ws().serverSend('error', { code: 4429, message: 'too many connections', retry_after: 12 });
  ws().serverClose(1006);
  assert.equal(client.state, 'reconnecting');
  assert.equal(client.reconnectDelayMs, 12_000);
  clock.advance(11_999);
  assert.equal(WS.instances.length, 1);
  clock.advance(1);
  assert.equal(WS.instances.length, 2);
});

test('4429 jitter is at most baseReconnectDelay on top of retry_after', () => {
  const { client, open, ws } = makeClient({ random: () => 0.5 });
  open();
  ws().serverSend('error', { code: 4429, message: 'slow down', retry_after: '3' });
  ws().serverClose(4429);
  assert.equal(client.reconnectDelayMs, 3500);
});

test('4429 without retry_after waits the default 60 s', () => {
  const { client, open, ws } = makeClient({ random: () => 0 });
  open();
  ws().serverClose(4429);
  assert.equal(client.reconnectDelayMs, 60_000);
});

test('the remembered error is per socket: a new socket starts clean', () => {
  const { client, open, ws, fireReconnect } = makeClient();
  open();
  ws().serverSend('error', { code: 4503, message: 'slow consumer' });
  ws().serverClose(1006);
  assert.equal(client.state, 'reconnecting');
  fireReconnect().serverClose(1006);
  assert.equal(client.state, 'reconnecting');
});
