import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  changeLabel, marketBadge, spanLabel, timeTicks, weekdayOf, weekdayTime,
} from '../../app/static/js/dashboard-market.js';
import { quoteOf, sparklinePaths } from '../../app/static/js/dashboard-format.js';

const saturday = quoteOf({
  symbol: 'AAPL', price: 150, market_state: 'closed', session_date: '2026-11-27', change_since: '2026-11-25',
  next_open: '2026-11-30T14:30:00Z', exchange: 'XNYS', exchange_timezone: 'America/New_York',
});

test('a closed market says until when, in its own time zone', () => {
  assert.deepEqual(marketBadge(saturday), { state: 'closed', text: 'Closed until Mon 09:30', title: 'XNYS · America/New_York' });
  const london = { ...saturday, nextOpen: Date.parse('2026-11-30T08:00:00Z'), timezone: 'Europe/London', exchange: 'XLON' };
  assert.equal(marketBadge(london).text, 'Closed until Mon 08:00');
  assert.equal(marketBadge({ ...saturday, nextOpen: null }).text, 'Closed');
});

test('open, pre-market, after hours, 24/7 and no state at all', () => {
  assert.equal(marketBadge({ ...saturday, marketState: 'regular' }).text, 'Open');
  assert.equal(marketBadge({ ...saturday, marketState: 'pre' }).text, 'Pre-market');
  assert.equal(marketBadge({ ...saturday, marketState: 'post' }).text, 'After hours');
  assert.equal(marketBadge({ marketState: 'regular', exchange: 'CRYPTO' }).text, 'Open 24/7');
  assert.equal(marketBadge({}), null);
});

test('the day change is labelled by the session it measures', () => {
  assert.equal(changeLabel(saturday), 'Fri close');
  assert.equal(changeLabel({ marketState: 'pre', changeSince: '2026-11-27' }), 'since Fri close');
  assert.equal(changeLabel({ marketState: 'regular' }), 'today');
  assert.equal(changeLabel({ marketState: 'post' }), 'today');
  assert.equal(changeLabel({}), 'today');
});

test('weekday helpers', () => {
  assert.equal(weekdayOf('2026-11-27'), 'Fri');
  assert.equal(weekdayOf(null), null);
  assert.equal(weekdayTime(Date.parse('2026-11-30T14:30:00Z'), 'America/New_York'), 'Mon 09:30');
  assert.equal(weekdayTime(Date.parse('2026-11-30T14:30:00Z'), 'Not/AZone'), 'Mon 14:30');
});

test('the chart spaces points by time and labels its axis', () => {
  const points = [
    { t: Date.parse('2026-11-26T20:00:00Z'), price: 1 },
    { t: Date.parse('2026-11-27T17:00:00Z'), price: 3 },
    { t: Date.parse('2026-11-27T18:00:00Z'), price: 2 },
  ];
  const paths = sparklinePaths(points, 220, 20, 0);
  // 21 of 22 hours lie between the first two points: the second point sits at x = 210, not in the middle.
  assert.equal(paths.line, 'M0.0,20.0L210.0,0.0L220.0,10.0');
  const ticks = timeTicks(points, 'America/New_York');
  assert.deepEqual(ticks.map((t) => t.text), ['15:00', '02:00', '13:00']);
  assert.deepEqual(ticks.map((t) => t.x), [0, 0.5, 1]);
  assert.deepEqual(timeTicks(points.slice(0, 1), 'UTC'), []);
  const days = [{ t: 0, price: 1 }, { t: 3 * 86_400_000, price: 2 }];
  assert.equal(timeTicks(days, 'UTC')[0].text, 'Jan 1, 00:00');
});

test('the range is named by what the series holds', () => {
  assert.equal(spanLabel(45 * 60_000), '45 min');
  assert.equal(spanLabel(6 * 3_600_000), '6 h');
  assert.equal(spanLabel(3 * 86_400_000), '3 days');
  assert.equal(spanLabel(0), 'no time');
});
