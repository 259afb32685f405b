import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyConnectionState, applyMessage, initialState, reducer } from '../../app/static/js/use-pricewire.js';

const msg = (type, data) => ({ type, data, timestamp: 't', connection_id: 'c-1' });

test('asset_update stores a display copy (Numbers) keyed by symbol, raw payload kept', () => {
  const data = { symbol: 'aapl', price: '189.2500', change_percent: '0.51', seq: 3, channel: 'asset:AAPL' };
  const state = applyMessage(initialState, msg('asset_update', data));
  assert.equal(state.assetPrices.AAPL.price, 189.25);
  assert.equal(state.assetPrices.AAPL.change_percent, 0.51);
  assert.equal(state.assetPrices.AAPL.raw.price, '189.2500');
  assert.equal(state.lastMessage.data, data);
  assert.deepEqual(initialState.assetPrices, {}); // pure
});

test('replayed or duplicate updates do not overwrite newer values; snapshots always do', () => {
  let state = applyMessage(initialState, msg('asset_update', { symbol: 'AAPL', price: 2, seq: 10 }));
  state = applyMessage(state, msg('asset_update', { symbol: 'AAPL', price: 1, seq: 9, resumed: true }));
  assert.equal(state.assetPrices.AAPL.price, 2);
  state = applyMessage(state, msg('asset_update', { symbol: 'AAPL', price: 5, seq: 1, snapshot: true }));
  assert.equal(state.assetPrices.AAPL.price, 5);
});

test('portfolio_update is keyed by portfolio_id with numeric totals', () => {
  const state = applyMessage(initialState, msg('portfolio_update', {
    portfolio_id: 7, name: 'Main', total_value: '12345.67', daily_change: -3, daily_change_percent: '-0.02', seq: 1,
  }));
  assert.deepEqual([state.portfolioValues[7].total_value, state.portfolioValues[7].daily_change_percent], [12345.67, -0.02]);
});

test('feed_status, error and connection messages', () => {
  let state = applyMessage(initialState, msg('feed_status', { status: 'stale', message: 'no ticks' }));
  assert.equal(state.feedStatus.status, 'stale');
  state = applyMessage(state, msg('error', { code: 4404, message: 'no such portfolio' }));
  assert.deepEqual(state.connectionError, { kind: 'server', code: 4404, message: 'no such portfolio' });
  state = applyMessage(state, msg('connection', { connection_id: 'abc' }));
  assert.equal(state.connectionId, 'abc');
  assert.equal(state.connectionError, null);
});

test('connection state changes and the countdown tick', () => {
  let state = applyConnectionState(initialState, { state: 'open' });
  assert.equal(state.isConnected, true);
  state = reducer(state, { type: 'state', state: 'reconnecting', reconnectAt: 10_000, reconnectInMs: 4000 });
  assert.deepEqual([state.isConnected, state.connectionState, state.reconnectInMs], [false, 'reconnecting', 4000]);
  state = reducer(state, { type: 'tick', now: 7500 });
  assert.equal(state.reconnectInMs, 2500);
  state = reducer(state, { type: 'tick', now: 20_000 });
  assert.equal(state.reconnectInMs, 0);
});

test('forget removes cached values of unsubscribed channels', () => {
  let state = applyMessage(initialState, msg('asset_update', { symbol: 'AAPL', price: 1 }));
  state = applyMessage(state, msg('portfolio_update', { portfolio_id: 7, total_value: 1 }));
  state = reducer(state, { type: 'forget', kind: 'asset', ids: ['aapl'] });
  state = reducer(state, { type: 'forget', kind: 'portfolio', ids: [7] });
  assert.deepEqual([state.assetPrices, state.portfolioValues], [{}, {}]);
});

test('unknown actions return the same state object', () => {
  assert.equal(reducer(initialState, { type: 'nope' }), initialState);
});
