import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeClient } from './helpers/client-harness.mjs';

const subscribes = (socket) => socket.sent.filter((m) => m.type.startsWith('subscribe_')).map((m) => [m.type, m.data]);

test('subscriptions made before connecting are sent on open, seq-less symbols in one message', () => {
  const { client, open, events } = makeClient();
  assert.equal(client.subscribeToAsset(['aapl', 'MSFT']), false);
  client.subscribeToPortfolio(7);
  const socket = open();
  assert.deepEqual(subscribes(socket), [
    ['subscribe_portfolio', { portfolio_id: 7 }],
    ['subscribe_asset', { symbols: ['AAPL', 'MSFT'] }],
  ]);
  assert.deepEqual(client.subscriptions, ['asset:AAPL', 'asset:MSFT', 'portfolio:7']);
  assert.equal(events.connects, 1);
});

test('subscribing while open sends at once, with numeric stream options', () => {
  const { client, open } = makeClient();
  const socket = open();
  assert.equal(client.subscribeToAsset('TSLA', { maxHz: '2', min_change_percent: 0.1 }), true);
  assert.deepEqual(subscribes(socket), [['subscribe_asset', { symbol: 'TSLA', max_hz: 2, min_change_percent: 0.1 }]]);
});

test('more than 50 new symbols are split into messages of at most 50', () => {
  const { client, open } = makeClient();
  client.subscribeToAsset(Array.from({ length: 120 }, (_, i) => `S${i}`));
  const sizes = subscribes(open()).map(([, data]) => data.symbols.length);
  assert.deepEqual(sizes, [50, 50, 20]);
});

test('after a reconnect every subscription is restored with the last seq of its channel', () => {
  const { client, open, ws, fireReconnect } = makeClient();
  client.subscribeToAsset(['AAPL', 'MSFT', 'GOOG'], { max_hz: 4 });
  client.subscribeToPortfolio(7);
  open();
  ws().serverSend('asset_update', { symbol: 'AAPL', price: '189.2500', seq: 17, channel: 'asset:AAPL' });
  ws().serverSend('asset_update', { symbol: 'AAPL', price: 189.3, seq: 18, channel: 'asset:AAPL' });
  ws().serverSend('asset_update', { symbol: 'MSFT', price: 410, seq: 5 }); // channel derived from symbol
  ws().serverSend('portfolio_update', { portfolio_id: 7, total_value: '1000.00', seq: 3, channel: 'portfolio:7' });
  assert.deepEqual(client.lastSeq, { 'asset:AAPL': 18, 'asset:MSFT': 5, 'portfolio:7': 3 });

  ws().serverClose(1006);
  fireReconnect().serverOpen();
  assert.deepEqual(subscribes(ws()), [
    ['subscribe_asset', { symbol: 'AAPL', max_hz: 4, last_seq: 18 }],
    ['subscribe_asset', { symbol: 'MSFT', max_hz: 4, last_seq: 5 }],
    ['subscribe_portfolio', { portfolio_id: 7, last_seq: 3 }],
    ['subscribe_asset', { symbol: 'GOOG', max_hz: 4 }],
  ]);
});

test('seq never moves backwards on replays, but a snapshot may reset it', () => {
  const { client, open, ws } = makeClient();
  open();
  ws().serverSend('asset_update', { symbol: 'AAPL', seq: 10, channel: 'asset:AAPL' });
  ws().serverSend('asset_update', { symbol: 'AAPL', seq: 8, channel: 'asset:AAPL', resumed: true });
  assert.equal(client.getLastSeq('asset:AAPL'), 10);
  ws().serverSend('asset_update', { symbol: 'AAPL', seq: 2, channel: 'asset:AAPL', snapshot: true });
  assert.equal(client.getLastSeq('asset:AAPL'), 2);
});

test('unsubscribing forgets the channel and its seq, so it is not restored', () => {
  const { client, open, ws, fireReconnect } = makeClient();
  client.subscribeToAsset(['AAPL', 'MSFT']);
  client.subscribeToPortfolio(7);
  open();
  ws().serverSend('asset_update', { symbol: 'AAPL', seq: 4, channel: 'asset:AAPL' });
  assert.equal(client.unsubscribeFromAsset('aapl'), true);
  assert.equal(client.unsubscribeFromPortfolio(7), true);
  assert.deepEqual(ws().sent.filter((m) => m.type.startsWith('unsub')).map((m) => m.data), [{ symbol: 'AAPL' }, { portfolio_id: 7 }]);
  assert.equal(client.getLastSeq('asset:AAPL'), undefined);
  ws().serverClose(1006);
  fireReconnect().serverOpen();
  assert.deepEqual(subscribes(ws()), [['subscribe_asset', { symbol: 'MSFT' }]]);
});

test('sendMessage routes subscription types through the registry (no duplicates on open)', () => {
  const { client, open } = makeClient();
  assert.equal(client.sendMessage('subscribe_asset', { symbol: 'NVDA' }), false);
  assert.equal(client.sendMessage('subscribe_portfolio', { portfolio_id: 3 }), false);
  const socket = open();
  assert.deepEqual(subscribes(socket), [['subscribe_portfolio', { portfolio_id: 3 }], ['subscribe_asset', { symbol: 'NVDA' }]]);
});

test('other messages are queued while not open and sent after subscriptions on reconnect; ping is dropped', () => {
  const { client, open, ws, fireReconnect } = makeClient({ heartbeatInterval: 3_600_000 });
  client.subscribeToAsset('AAPL');
  open();
  ws().serverClose(1006);
  assert.equal(client.sendMessage('custom_a', { n: 1 }), false);
  assert.equal(client.sendMessage('ping', {}), false);
  client.sendMessage('custom_b', { n: 2 });
  fireReconnect().serverOpen();
  assert.deepEqual(ws().sent.map((m) => m.type), ['subscribe_asset', 'custom_a', 'custom_b']);
  assert.deepEqual(ws().sent[1].data, { n: 1 });
  assert.equal(typeof ws().sent[1].timestamp, 'string');
});

test('the queue is bounded: the oldest messages are dropped first', () => {
  const { client, open } = makeClient({ maxQueueSize: 2 });
  for (const n of [1, 2, 3]) client.sendMessage('custom', { n });
  assert.deepEqual(open().sent.filter((m) => m.type === 'custom').map((m) => m.data.n), [2, 3]);
});

test('disconnect() drops the queue but keeps subscriptions for a later connect()', () => {
  const { client, WS } = makeClient();
  client.subscribeToAsset('AAPL');
  client.sendMessage('custom', {});
  client.disconnect();
  client.connect();
  WS.last.serverOpen();
  assert.deepEqual(WS.last.sent.map((m) => m.type), ['subscribe_asset']);
});
