/**
 * DOM pieces of the dashboard: element builder, sparkline drawing, flash, and the rows of the
 * positions table and the watchlist. Elements showing a quote carry `data-quote="SYM"` and
 * `data-field`, so one quote update reaches every place that symbol is shown.
 */

import {
  direction, formatAge, formatMoney, formatPercent, formatPrice, formatSignedMoney, sourceLabel, sparklinePaths,
} from './dashboard-format.js';
import { changeLabel, marketBadge } from './dashboard-market.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** document.createElement with attributes (`class`, `data-*`, `hidden`...) and text/element children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
}

/** Redraw `svgEl` (which has a viewBox) as a line + soft area over `points`; a dashed rule when too few. */
export function drawSparkline(svgEl, points) {
  const [, , width, height] = svgEl.getAttribute('viewBox').split(/\s+/).map(Number);
  const paths = sparklinePaths(points, width, height);
  svgEl.replaceChildren();
  if (!paths) {
    svgEl.append(svg('line', { x1: 2, x2: width - 2, y1: height / 2, y2: height / 2, class: 'spark-empty' }));
    svgEl.dataset.trend = 'flat';
    return;
  }
  svgEl.dataset.trend = paths.trend;
  svgEl.dataset.points = String(points.length);
  svgEl.append(
    svg('path', { d: paths.area, class: 'spark-area' }),
    svg('path', { d: paths.line, class: 'spark-line', 'vector-effect': 'non-scaling-stroke' }),
  );
}

/** Restart the up/down flash animation on `el`. */
export function flash(el, dir) {
  el.classList.remove('flash-up', 'flash-down');
  if (dir !== 'up' && dir !== 'down') return;
  void el.offsetWidth; // force a reflow so the same animation can run again
  el.classList.add(`flash-${dir}`);
}

/** Write one quote into every element bound to its symbol; flash prices when `moved` is up/down. */
export function paintQuote(symbol, quote, { now, staleAfterMs, moved }) {
  for (const el of document.querySelectorAll(`[data-quote="${CSS.escape(symbol)}"]`)) {
    switch (el.dataset.field) {
      case 'price':
        el.textContent = formatPrice(quote.price);
        if (moved) flash(el, moved);
        break;
      case 'change_percent':
        el.textContent = formatPercent(quote.change_percent);
        el.dataset.direction = direction(quote.change_percent);
        break;
      case 'market':
        paintMarket(el, quote);
        break;
      case 'change_label':
        el.textContent = quote.marketState ? changeLabel(quote) : '';
        break;
      default:
        paintAge(el, quote, now, staleAfterMs);
    }
  }
}

/** The market-state badge: `Open`, `Pre-market`, `After hours`, `Closed until Mon 09:30`; hidden without one. */
export function paintMarket(el, quote) {
  const badge = marketBadge(quote);
  el.hidden = badge === null;
  if (badge === null) return;
  el.textContent = badge.text;
  el.dataset.state = badge.state;
  el.title = badge.title;
}

/** Whether a shown price is stale: the server's session-judged flag, or too old while its market trades. */
export function isStale(quote, age, staleAfterMs) {
  if (quote.price == null) return false; // nothing to call stale: the age text says "no price yet"
  if (quote.stale) return true;
  const trading = quote.marketState == null || quote.marketState === 'regular';
  return trading && age != null && age > staleAfterMs;
}

/** `Source · 3 s ago` and the stale badge, from the quote's as-of time and its market's session. */
export function paintAge(el, quote, now, staleAfterMs) {
  const age = quote.asOf == null ? null : now - quote.asOf;
  const stale = isStale(quote, age, staleAfterMs);
  if (el.dataset.field === 'age') {
    el.textContent = quote.price == null ? 'no price yet' : `${sourceLabel(quote.source)} · ${formatAge(age)}`;
    if (quote.asOf != null) el.title = `as of ${new Date(quote.asOf).toLocaleString()}`;
  } else if (el.dataset.field === 'stale') {
    el.hidden = !stale;
  }
}

function quoteCells(symbol) {
  return {
    price: h('span', { class: 'price num', 'data-quote': symbol, 'data-field': 'price' }, '—'),
    change: h('span', { class: 'chg num', 'data-quote': symbol, 'data-field': 'change_percent' }, '—'),
    age: h('span', { class: 'age', 'data-quote': symbol, 'data-field': 'age' }, 'no price yet'),
    stale: h('span', { class: 'badge badge-stale', 'data-quote': symbol, 'data-field': 'stale', hidden: true }, 'Stale'),
    market: h('span', { class: 'badge badge-market', 'data-quote': symbol, 'data-field': 'market', 'data-testid': 'market-badge', hidden: true }),
    label: h('span', { class: 'chg-label', 'data-quote': symbol, 'data-field': 'change_label', 'data-testid': 'change-label' }),
  };
}

function symbolButton(symbol, name) {
  return h('button', { type: 'button', class: 'symbol', 'data-select': symbol, title: `Show the ${symbol} chart` },
    h('strong', {}, symbol), name && name !== symbol ? h('span', { class: 'name' }, name) : null);
}

/** A positions-table row for `symbol` (values filled by updatePositionRow). */
export function positionRow(symbol, name) {
  const q = quoteCells(symbol);
  q.price.dataset.testid = 'position-price';
  return h('tr', { 'data-symbol': symbol, 'data-testid': 'position-row' },
    h('th', { scope: 'row' }, symbolButton(symbol, name), h('div', { class: 'meta' }, q.age, ' ', q.market, ' ', q.stale)),
    h('td', { class: 'num' }, q.price, h('div', { class: 'sub' }, q.change, ' ', q.label)),
    h('td', { class: 'num' }, h('span', { 'data-cell': 'value' }, '—'),
      h('div', { class: 'sub' }, h('span', { 'data-cell': 'value-base', 'data-testid': 'position-value-base' }),
        h('span', { 'data-cell': 'quantity' }), h('span', { class: 'weight-inline', 'data-cell': 'weight-inline' }))),
    h('td', { class: 'num col-day' }, h('span', { 'data-cell': 'daily_change' }, '—'),
      h('div', { class: 'sub', 'data-cell': 'daily_change_percent' })),
    h('td', { class: 'num col-weight' }, h('span', { 'data-cell': 'weight', 'data-testid': 'position-weight' }, '—'),
      h('div', { class: 'weight-bar', 'aria-hidden': 'true' }, h('span', { 'data-cell': 'weight-bar' }))),
  );
}

/**
 * Write a position's valuation into its row; flash the value when it moved. The value is in the
 * position's own currency (with the base value under it when they differ); today's change is in base.
 */
export function updatePositionRow(row, position, currency) {
  const cell = (name) => row.querySelector(`[data-cell="${name}"]`);
  const valueEl = cell('value');
  const before = Number(valueEl.dataset.raw);
  const value = Number(position.current_value);
  const own = position.currency ?? currency;
  valueEl.textContent = formatMoney(position.current_value, own);
  cell('value-base').textContent = own === currency || position.value_in_base == null
    ? '' : `${formatMoney(position.value_in_base, currency)} · `;
  if (Number.isFinite(value)) {
    if (Number.isFinite(before) && value !== before) flash(valueEl, value > before ? 'up' : 'down');
    valueEl.dataset.raw = String(value);
  }
  const qty = Number(position.quantity);
  cell('quantity').textContent = Number.isFinite(qty) ? `${qty.toLocaleString('en-US', { maximumFractionDigits: 4 })} sh` : '';
  const day = cell('daily_change');
  const dayChange = position.daily_change_in_base ?? position.daily_change;
  day.textContent = formatSignedMoney(dayChange, currency);
  day.dataset.direction = direction(dayChange);
  const dayPct = cell('daily_change_percent');
  dayPct.textContent = formatPercent(position.daily_change_percent);
  dayPct.dataset.direction = direction(position.daily_change_percent);
  const weight = position.weight == null ? NaN : Number(position.weight); // percent of the total
  const pct = Number.isFinite(weight) ? weight : null;
  cell('weight').textContent = pct === null ? '—' : `${pct.toFixed(1)}%`;
  cell('weight-inline').textContent = pct === null ? '' : ` · ${pct.toFixed(1)}%`; // phones show weight here
  cell('weight-bar').style.width = pct === null ? '0' : `${Math.min(100, pct)}%`;
}

/** A watchlist entry for `symbol` with its sparkline and remove button. */
export function watchlistItem(symbol, name) {
  const q = quoteCells(symbol);
  q.price.dataset.testid = 'watchlist-price';
  return h('li', { class: 'wl-item', 'data-symbol': symbol, 'data-testid': 'watchlist-item' },
    symbolButton(symbol, name),
    svg('svg', { class: 'spark', viewBox: '0 0 96 32', preserveAspectRatio: 'none', 'aria-hidden': 'true' }),
    h('div', { class: 'wl-quote' }, q.price, q.change, q.label),
    h('div', { class: 'meta' }, q.age, ' ', q.market, ' ', q.stale),
    h('button', { type: 'button', class: 'remove', 'data-remove': symbol, 'aria-label': `Remove ${symbol} from the watchlist` }, '×'),
  );
}
