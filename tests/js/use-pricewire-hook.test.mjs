import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUsePricewire, usePricewire } from '../../app/static/js/use-pricewire.js';
import { createFakeReact } from './helpers/fake-react.mjs';
import { createFakeClock } from './helpers/fake-clock.mjs';
import { createFakeWebSocketClass } from './helpers/fake-websocket.mjs';

function setup(extra = {}) {
  const { React, renderHook } = createFakeReact();
  const clock = createFakeClock();
  const WS = createFakeWebSocketClass();
  const useHook = createUsePricewire(React);
  const options = { WebSocketImpl: WS, clock, random: () => 1, onError: () => {}, ...extra };
  const view = renderHook((url, opts) => useHook(url, opts), 'ws://test/ws/realtime/', options);
  return { view, clock, WS, options };
}

test('connects on mount and reflects connection state', () => {
  const { view, WS } = setup();
  assert.equal(WS.instances.length, 1);
  assert.equal(view.result.connectionState, 'connecting');
  assert.equal(view.result.isConnected, false);
  WS.last.serverOpen();
  WS.last.serverHello();
  assert.equal(view.result.isConnected, true);
  assert.equal(view.result.connectionState, 'open');
  assert.equal(view.result.connectionId, 'c-1');
});

test('subscriptions requested during render are sent on open; updates land in assetPrices/portfolioValues', () => {
  const { React, renderHook } = createFakeReact();
  const WS = createFakeWebSocketClass();
  const useHook = createUsePricewire(React);
  const view = renderHook(() => {
    const api = useHook('ws://test/', { WebSocketImpl: WS, clock: createFakeClock(), onError: () => {} });
    const asked = React.useRef(false);
    if (!asked.current) { // like a component subscribing before the socket exists
      asked.current = true;
      api.subscribeToAsset(['AAPL']);
      api.subscribeToPortfolio(7);
    }
    return api;
  });
  WS.last.serverOpen();
  assert.deepEqual(WS.last.sent.map((m) => m.type).sort(), ['subscribe_asset', 'subscribe_portfolio']);
  WS.last.serverSend('asset_update', { symbol: 'AAPL', price: '190.10', seq: 1, channel: 'asset:AAPL' });
  WS.last.serverSend('portfolio_update', { portfolio_id: 7, total_value: 1000.5, seq: 1, channel: 'portfolio:7' });
  assert.equal(view.result.assetPrices.AAPL.price, 190.1);
  assert.equal(view.result.portfolioValues[7].total_value, 1000.5);
  assert.equal(view.result.lastMessage.type, 'portfolio_update');
});

test('unsubscribe sends, and drops the cached value', () => {
  const { view, WS } = setup();
  WS.last.serverOpen();
  assert.equal(view.result.subscribeToAsset('MSFT'), true);
  WS.last.serverSend('asset_update', { symbol: 'MSFT', price: 1, seq: 1 });
  assert.ok(view.result.assetPrices.MSFT);
  view.result.unsubscribeFromAsset('MSFT');
  assert.equal(view.result.assetPrices.MSFT, undefined);
  assert.deepEqual(WS.last.sent.at(-1).data, { symbol: 'MSFT' });
});

test('reconnecting exposes a countdown that ticks down, then reconnects and restores subscriptions', () => {
  const { view, WS, clock } = setup({ random: () => 1 });
  WS.last.serverOpen();
  view.result.subscribeToPortfolio(7);
  WS.last.serverSend('portfolio_update', { portfolio_id: 7, total_value: 1, seq: 9, channel: 'portfolio:7' });
  WS.last.serverClose(1006);
  assert.equal(view.result.connectionState, 'reconnecting');
  assert.equal(view.result.reconnectInMs, 1000);
  clock.advance(400);
  WS.last.serverClose(1006); // stale socket: ignored
  assert.equal(view.result.reconnectInMs, 1000); // next tick is at 1000 ms (min(1 s, remaining))
  clock.advance(600);
  assert.equal(view.result.connectionState, 'connecting');
  WS.last.serverOpen();
  assert.deepEqual(WS.last.sent[0].data, { portfolio_id: 7, last_seq: 9 });
});

test('the countdown ticks once a second for long waits', () => {
  const { view, WS, clock } = setup({ random: () => 0 });
  WS.last.serverOpen();
  WS.last.serverSend('error', { code: 4429, message: 'busy', retry_after: 5 });
  WS.last.serverClose(1006);
  assert.equal(view.result.reconnectInMs, 5000);
  clock.advance(1000);
  assert.equal(view.result.reconnectInMs, 4000);
  clock.advance(2000);
  assert.equal(view.result.reconnectInMs, 2000);
});

test('4401 sets authRequired and calls the page callback', () => {
  const calls = [];
  const { view, WS } = setup({ onAuthRequired: (info) => calls.push(info.code) });
  WS.last.serverOpen();
  WS.last.serverClose(4401);
  assert.equal(view.result.authRequired, true);
  assert.equal(view.result.connectionState, 'closed');
  assert.deepEqual(calls, [4401]);
});

test('page callbacks in options are called with the latest options object', () => {
  const seen = [];
  const { view, WS, options } = setup({ onMessage: () => seen.push('old') });
  view.rerender('ws://test/ws/realtime/', { ...options, onMessage: (m) => seen.push(m.type) });
  WS.last.serverOpen();
  WS.last.serverSend('notification', { message: 'x' });
  assert.deepEqual(seen, ['notification']);
  assert.equal(WS.instances.length, 1); // same url: same socket
});

test('server errors surface as connectionError; sendMessage goes through the client', () => {
  const { view, WS } = setup();
  WS.last.serverOpen();
  WS.last.serverSend('error', { code: 4400, message: 'bad' });
  assert.equal(view.result.connectionError.code, 4400);
  assert.equal(view.result.sendMessage('ping', {}), true);
  assert.equal(WS.last.sent.at(-1).type, 'ping');
  view.result.sendMessage('subscribe_asset', { symbol: 'IBM' });
  assert.deepEqual(WS.last.sent.at(-1).data, { symbol: 'IBM' });
});

test('a url change closes the old socket and opens a new one with the same subscriptions', () => {
  const { view, WS, options } = setup();
  WS.last.serverOpen();
  view.result.subscribeToAsset('AAPL');
  const old = WS.last;
  view.rerender('ws://other/ws/realtime/', options);
  assert.equal(old.closeCalls.length, 1);
  assert.equal(WS.last.url, 'ws://other/ws/realtime/');
  WS.last.serverOpen();
  assert.deepEqual(WS.last.sent[0].data, { symbol: 'AAPL' });
});

test('unmount disconnects and dispatches nothing afterwards', () => {
  const { view, WS, clock } = setup();
  WS.last.serverOpen();
  const socket = WS.last;
  view.unmount(); // the fake React throws on dispatch after unmount
  assert.deepEqual(socket.closeCalls, [{ code: 1000, reason: 'client disconnect' }]);
  socket.serverClose(1000, '', true);
  clock.advance(120_000);
  assert.equal(WS.instances.length, 1);
});

test('usePricewire uses globalThis.React and says so when it is missing', () => {
  const { React, renderHook } = createFakeReact();
  const WS = createFakeWebSocketClass();
  assert.throws(() => usePricewire('ws://x/', {}), /globalThis.React/);
  globalThis.React = React;
  try {
    const view = renderHook(() => usePricewire('ws://x/', { WebSocketImpl: WS, clock: createFakeClock() }));
    assert.equal(view.result.connectionState, 'connecting');
    view.unmount();
  } finally {
    delete globalThis.React;
  }
});
