import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PersonalFinanceWebSocket, PricewireSocket, normalizeUpdate, resolveUrl, toNumber,
} from '../../app/static/js/pricewire-client.js';
import { makeClient } from './helpers/client-harness.mjs';

test('PersonalFinanceWebSocket is the same class (reference API alias)', () => {
  assert.equal(PersonalFinanceWebSocket, PricewireSocket);
});

test('resolveUrl derives ws:// or wss:// from the page location', () => {
  assert.equal(resolveUrl(undefined, { protocol: 'https:', host: 'pw.example:8443' }), 'wss://pw.example:8443/ws/realtime/');
  assert.equal(resolveUrl(null, { protocol: 'http:', host: 'localhost:5000' }), 'ws://localhost:5000/ws/realtime/');
  assert.equal(resolveUrl('/other/', { protocol: 'http:', host: 'h' }), 'ws://h/other/');
  assert.equal(resolveUrl('https://h/ws/realtime/'), 'wss://h/ws/realtime/');
  assert.equal(resolveUrl('ws://x/y'), 'ws://x/y');
  assert.throws(() => resolveUrl(undefined, undefined), /options.url is required/);
});

test('the client uses the location option when no url is given', () => {
  const { client, WS } = makeClient({ url: undefined, location: { protocol: 'https:', host: 'a.b' } });
  client.connect();
  assert.equal(WS.last.url, 'wss://a.b/ws/realtime/');
});

test('without any WebSocket implementation connect() reports and ends closed', () => {
  const { client, events } = makeClient({ WebSocketImpl: null });
  client.WebSocketImpl = undefined;
  client.connect();
  assert.equal(client.state, 'closed');
  assert.equal(events.errors[0].kind, 'connect');
});

test('states go idle -> connecting -> open -> reconnecting -> connecting -> open -> closed', () => {
  const { client, open, ws, fireReconnect, events } = makeClient();
  assert.equal(client.state, 'idle');
  open();
  assert.equal(client.isConnected, true);
  assert.equal(client.connectionId, 'c-1');
  ws().serverClose(1006);
  assert.equal(client.connectionId, null);
  fireReconnect().serverOpen();
  client.disconnect();
  assert.deepEqual(events.states, ['connecting', 'open', 'reconnecting', 'connecting', 'open', 'closed']);
});

test('several handlers per type; the returned function removes one; a throwing handler does not stop the others', () => {
  const { client, open, ws, events } = makeClient();
  const seen = [];
  const offA = client.onMessageType('notification', (data) => seen.push(['a', data.message]));
  client.onMessageType('notification', () => { throw new Error('boom'); });
  client.onMessageType('notification', (data, message) => seen.push(['c', message.type]));
  open();
  ws().serverSend('notification', { message: 'hi' });
  offA();
  ws().serverSend('notification', { message: 'again' });
  assert.deepEqual(seen, [['a', 'hi'], ['c', 'notification'], ['c', 'notification']]);
  assert.deepEqual(events.errors.map((e) => e.kind), ['handler', 'handler']);
  assert.equal(events.messages.filter((m) => m.type === 'notification').length, 2);
});

test('invalid JSON is reported, not thrown', () => {
  const { open, ws, events } = makeClient();
  open();
  ws().serverSendRaw('{not json');
  assert.equal(events.errors.at(-1).kind, 'parse');
});

test('server error messages reach onError with their code', () => {
  const { open, ws, events } = makeClient();
  open();
  ws().serverSend('error', { code: 4404, message: 'unknown portfolio' });
  assert.deepEqual([events.errors.at(-1).kind, events.errors.at(-1).code], ['server', 4404]);
});

test('feed_status and connection data are kept on the client', () => {
  const { client, open, ws } = makeClient();
  open({ limits: { max_subscriptions: 200 } });
  ws().serverSend('feed_status', { status: 'degraded', message: 'provider slow' });
  assert.equal(client.feedStatus.status, 'degraded');
  assert.deepEqual(client.serverInfo.limits, { max_subscriptions: 200 });
});

test('prices as exact-decimal strings or numbers both normalize for display, raw kept', () => {
  assert.equal(toNumber('189.2500'), 189.25);
  assert.equal(toNumber(12), 12);
  assert.equal(toNumber(''), null);
  assert.equal(toNumber('n/a'), null);
  const raw = { symbol: 'AAPL', price: '189.2500', change: -1.5, volume: '1000', source: 'x' };
  const out = normalizeUpdate(raw);
  assert.deepEqual([out.price, out.change, out.volume, out.source], [189.25, -1.5, 1000, 'x']);
  assert.equal(out.raw, raw);
  assert.equal(raw.price, '189.2500');
});
