import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  direction, formatAge, formatMoney, formatPercent, formatPrice, formatSignedMoney, historyPoints, listOf, parseTime,
  quoteOf, sourceLabel, sparklinePaths,
} from '../../app/static/js/dashboard-format.js';

test('money, prices and percentages format for display, with a dash when absent', () => {
  assert.equal(formatMoney('12345.6'), '$12,345.60');
  assert.equal(formatMoney(5, 'EUR'), '€5.00');
  assert.equal(formatMoney(null), '—');
  assert.equal(formatPrice('189.5'), '189.50');
  assert.equal(formatPrice(0.91234), '0.9123');
  assert.equal(formatPrice(1.08431), '1.0843');
  assert.equal(formatPrice(12.3), '12.30');
  assert.equal(formatPrice(undefined), '—');
  assert.equal(formatPercent(1.234), '+1.23%');
  assert.equal(formatPercent(-0.4), '−0.40%');
  assert.equal(formatPercent(0), '0.00%');
  assert.equal(formatPercent(-0.001), '0.00%');
  assert.equal(formatSignedMoney(-0.001), '$0.00');
  assert.equal(formatSignedMoney('-12'), '−$12.00');
  assert.equal(formatSignedMoney(3.5), '+$3.50');
});

test('direction reads the sign', () => {
  assert.equal(direction('2'), 'up');
  assert.equal(direction(-1), 'down');
  assert.equal(direction(0), 'flat');
  assert.equal(direction(null), 'flat');
});

test('ages are short and human', () => {
  assert.equal(formatAge(500), 'just now');
  assert.equal(formatAge(12_400), '12 s ago');
  assert.equal(formatAge(4 * 60_000 + 5), '4 min ago');
  assert.equal(formatAge(3 * 3_600_000), '3 h ago');
  assert.equal(formatAge(2 * 86_400_000), '2 d ago');
  assert.equal(formatAge(-3000), 'just now');
  assert.equal(formatAge(null), 'no data');
});

test('timestamps parse from ISO strings and epoch numbers', () => {
  assert.equal(parseTime('2024-01-02T03:04:05Z'), Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(parseTime(1_700_000_000), 1_700_000_000_000);
  assert.equal(parseTime(1_700_000_000_000), 1_700_000_000_000);
  assert.equal(parseTime('nonsense'), null);
  assert.equal(parseTime(null), null);
});

test('sources get readable names', () => {
  assert.equal(sourceLabel('yahoo_finance'), 'Yahoo Finance');
  assert.equal(sourceLabel('simulated'), 'Simulated');
  assert.equal(sourceLabel('my_feed'), 'my feed');
  assert.equal(sourceLabel(null), 'unknown source');
});

test('listOf finds the list inside REST answers', () => {
  assert.deepEqual(listOf([1, 2]), [1, 2]);
  assert.deepEqual(listOf({ items: [3] }), [3]);
  assert.deepEqual(listOf({ history: [4] }, ['history']), [4]);
  assert.deepEqual(listOf({ nothing: 1 }), []);
  assert.deepEqual(listOf(null), []);
});

test('quoteOf flattens watchlist items, asset updates and positions', () => {
  const item = quoteOf({ symbol: 'aapl', name: 'Apple', quote: { price: '190.1', change_percent: -1.5, source: 'simulated', as_of: '2024-01-01T00:00:00Z', seq: 4 } });
  assert.deepEqual(item, {
    symbol: 'AAPL', name: 'Apple', price: 190.1, change: null, change_percent: -1.5, source: 'simulated',
    asOf: Date.UTC(2024, 0, 1), stale: false, seq: 4, marketState: null, sessionDate: null, changeSince: null,
    nextOpen: null, exchange: null, timezone: null, marketNote: null,
  });
  const empty = quoteOf({ symbol: 'NVDA', name: 'NVDA', quote: null });
  assert.equal(empty.price, null);
  assert.equal(empty.asOf, null);
  const position = quoteOf({ symbol: 'MSFT', current_price: 400, stale: true });
  assert.equal(position.price, 400);
  assert.equal(position.stale, true);
});

test('historyPoints keeps valid rows, sorted by time', () => {
  const points = historyPoints([
    { timestamp: '2024-01-02T00:00:00Z', price: '2' },
    { timestamp: '2024-01-01T00:00:00Z', price: 1 },
    { timestamp: 'bad', price: 3 },
    { timestamp: '2024-01-03T00:00:00Z', price: null },
  ]);
  assert.deepEqual(points, [{ t: Date.UTC(2024, 0, 1), price: 1 }, { t: Date.UTC(2024, 0, 2), price: 2 }]);
});

test('sparklinePaths spans the box and reports the trend', () => {
  assert.equal(sparklinePaths([{ price: 1 }], 100, 20), null);
  const up = sparklinePaths([{ price: 1 }, { price: 3 }, { price: 2 }], 100, 20, 0);
  assert.equal(up.line, 'M0.0,20.0L50.0,0.0L100.0,10.0');
  assert.equal(up.area, 'M0.0,20.0L50.0,0.0L100.0,10.0L100.0,20L0.0,20Z');
  assert.equal(up.trend, 'up');
  assert.equal(sparklinePaths([{ price: 2 }, { price: 1 }], 10, 10).trend, 'down');
  const flat = sparklinePaths([{ price: 5 }, { price: 5 }], 10, 10, 0);
  assert.equal(flat.line, 'M0.0,5.0L10.0,5.0');
});

test('money keeps its own currency\'s decimals, and pence are shown in pounds', () => {
  assert.equal(formatMoney('2410', 'EUR'), '€2,410.00');
  assert.equal(formatMoney('123456', 'JPY'), '¥123,456');
  assert.equal(formatMoney('1.2345', 'KWD'), 'KWD 1.235'.replace(' ', '\u00a0'));
  assert.equal(formatMoney('72340', 'GBp'), '£723.40');
  assert.equal(formatMoney('5', 'XYZ1'), '5.00');
});

test('the value-and-contributions chart shares one scale', async () => {
  const { chartPaths } = await import('../../app/static/js/dashboard-performance.js');
  assert.equal(chartPaths([{ value: 1, flows: 0 }], 0, 100, 50), null);
  // start 100, +100 deposited on day 2; values 100, 250: contributions 100, 200; scale 100..250
  const paths = chartPaths([{ value: 100, flows: 0 }, { value: 250, flows: 100 }], 100, 104, 54, 2);
  assert.equal(paths.value, 'M2.0,52.0L102.0,2.0');
  assert.equal(paths.contributions, 'M2.0,52.0L102.0,18.7');
});
