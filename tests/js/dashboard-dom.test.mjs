import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paintAge } from '../../app/static/js/dashboard-dom.js';

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const STALE_AFTER = 300_000;
const el = (field) => ({ dataset: { field }, textContent: '', title: '', hidden: true });

test('the age line names the source and how old the price is', () => {
  const age = el('age');
  paintAge(age, { price: 10, source: 'yahoo_finance', asOf: NOW - 42_000 }, NOW, STALE_AFTER);
  assert.equal(age.textContent, 'Yahoo Finance · 42 s ago');
  assert.match(age.title, /^as of /);
  paintAge(age, { price: null, source: null, asOf: null }, NOW, STALE_AFTER);
  assert.equal(age.textContent, 'no price yet');
});

test('the stale badge shows once a price is older than the threshold', () => {
  const badge = el('stale');
  paintAge(badge, { price: 10, asOf: NOW - STALE_AFTER }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, true);
  paintAge(badge, { price: 10, asOf: NOW - STALE_AFTER - 1000 }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, false);
});

test('without an as-of time the server\'s stale flag decides; without a price there is no badge', () => {
  const badge = el('stale');
  paintAge(badge, { price: 10, asOf: null, stale: true }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, false);
  paintAge(badge, { price: 10, asOf: null, stale: false }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, true);
  paintAge(badge, { price: null, asOf: null, stale: true }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, true);
});

test('a closed market\'s old price is not stale unless the server says so; an open market\'s is', () => {
  const badge = el('stale');
  const days = 2 * 86_400_000;
  paintAge(badge, { price: 10, asOf: NOW - days, marketState: 'closed', stale: false }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, true);
  paintAge(badge, { price: 10, asOf: NOW - days, marketState: 'closed', stale: true }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, false);
  paintAge(badge, { price: 10, asOf: NOW - days, marketState: 'regular', stale: false }, NOW, STALE_AFTER);
  assert.equal(badge.hidden, false);
});
