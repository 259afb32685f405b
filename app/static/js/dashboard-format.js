/**
 * Pure helpers of the dashboard: number/age formatting, REST payload shapes, sparkline geometry.
 * No DOM access, so `node --test tests/js/` covers them.
 */

import { toNumber } from './pricewire-client.js';

const moneyFormats = new Map();
// Quote currencies in a minor unit (as models/currency.py): shown in their major currency.
const MINOR_UNITS = { GBp: ['GBP', 100], GBX: ['GBP', 100], GBx: ['GBP', 100], ILA: ['ILS', 100], ZAc: ['ZAR', 100], ZAC: ['ZAR', 100] };

/**
 * `$12,345.67` in `currency` with that currency's own decimals (`¥1,235`, `KWD 1.235`); pence and other
 * minor units are shown in their major currency (72,340 GBp -> `£723.40`); unknown codes as a plain
 * number with 2 decimals; '—' when absent.
 */
export function formatMoney(value, currency = 'USD') {
  const n = toNumber(value);
  if (n === null) return '—';
  const [major, divisor] = MINOR_UNITS[currency] ?? [currency, 1];
  if (!moneyFormats.has(major)) {
    let format;
    try {
      format = new Intl.NumberFormat('en-US', { style: 'currency', currency: major });
    } catch {
      format = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    moneyFormats.set(major, format);
  }
  return moneyFormats.get(major).format(n / divisor);
}

/** A price with 2 decimals, or 4 below 10 (FX rates, penny stocks); '—' when absent. */
export function formatPrice(value) {
  const n = toNumber(value);
  if (n === null) return '—';
  const digits = Math.abs(n) < 10 ? 4 : 2;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `+1.23%` / `−0.40%` (a real minus sign); '—' when absent. */
export function formatPercent(value, { signed = true } = {}) {
  const n = toNumber(value);
  if (n === null) return '—';
  const text = Math.abs(n).toFixed(2);
  const sign = text === '0.00' ? '' : n > 0 && signed ? '+' : n < 0 ? '−' : ''; // no "−0.00%"
  return `${sign}${text}%`;
}

/** `+$1,234.50` / `−$12.00`; '—' when absent. */
export function formatSignedMoney(value, currency = 'USD') {
  const n = toNumber(value);
  if (n === null) return '—';
  const sign = Math.abs(n) < 0.005 ? '' : n > 0 ? '+' : '−';
  return sign + formatMoney(Math.abs(n), currency);
}

/** 'up' | 'down' | 'flat' for a signed number. */
export function direction(value) {
  const n = toNumber(value);
  if (n === null || n === 0) return 'flat';
  return n > 0 ? 'up' : 'down';
}

/** Epoch ms of an ISO timestamp (or epoch seconds/ms number); null when unparseable. */
export function parseTime(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** `just now`, `12 s ago`, `4 min ago`, `3 h ago`, `2 d ago` from an age in ms. */
export function formatAge(ageMs) {
  if (ageMs === null || ageMs === undefined || !Number.isFinite(ageMs)) return 'no data';
  const s = Math.max(0, Math.floor(ageMs / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Human name of a provider id: `yahoo_finance` -> `Yahoo Finance`. */
export function sourceLabel(source) {
  if (!source) return 'unknown source';
  const known = { yahoo_finance: 'Yahoo Finance', alpha_vantage: 'Alpha Vantage', finnhub: 'Finnhub', simulated: 'Simulated' };
  return known[source] ?? String(source).replace(/_/g, ' ');
}

/** The list inside a REST answer: the array itself or its first array-valued known key. */
export function listOf(payload, keys = ['items', 'data', 'results']) {
  if (Array.isArray(payload)) return payload;
  for (const key of keys) if (Array.isArray(payload?.[key])) return payload[key];
  return [];
}

/** A watchlist item or quote-bearing record flattened to {symbol, name, price, change_percent, source, asOf, ...}. */
export function quoteOf(item) {
  const quote = item?.quote ?? item?.latest_quote ?? item ?? {};
  const symbol = String(item?.symbol ?? item?.asset?.symbol ?? quote.symbol ?? '').toUpperCase();
  return {
    symbol,
    name: item?.name ?? item?.asset?.name ?? quote.name ?? '',
    price: toNumber(quote.price ?? quote.current_price),
    change: toNumber(quote.change),
    change_percent: toNumber(quote.change_percent),
    source: quote.source ?? null,
    asOf: parseTime(quote.as_of ?? quote.last_updated ?? quote.timestamp),
    stale: Boolean(quote.stale),
    seq: toNumber(quote.seq),
    // The session, as the server decided it (absent from REST rows: the asset_update snapshot brings it).
    marketState: quote.market_state ?? null,
    sessionDate: quote.session_date ?? null,
    changeSince: quote.change_since ?? null,
    nextOpen: parseTime(quote.next_open),
    exchange: quote.exchange ?? null,
    timezone: quote.exchange_timezone ?? null,
    marketNote: quote.market_note ?? null,
  };
}

/** History rows [{timestamp, price}] as sorted [{t, price}] with numeric price. */
export function historyPoints(rows) {
  return rows
    .map((row) => ({ t: parseTime(row.timestamp ?? row.time ?? row.date), price: toNumber(row.price ?? row.close) }))
    .filter((p) => p.t !== null && p.price !== null)
    .sort((a, b) => a.t - b.t);
}

/**
 * SVG geometry of a sparkline over `points` ([{price, t?}]) in a width×height box:
 * {line, area, trend} where line/area are path `d` strings; null with fewer than 2 points.
 * With times (`t`, epoch ms) x is real time, so a weekend or a night is a gap, not squeezed away;
 * without them the points are spaced evenly.
 */
export function sparklinePaths(points, width, height, pad = 2) {
  const usable = points.filter((p) => Number.isFinite(p.price));
  if (usable.length < 2) return null;
  const prices = usable.map((p) => p.price);
  const min = Math.min(...prices);
  const max = Math.max(...prices);
  const span = max - min || 1; // a flat series draws a line through the middle
  const t0 = usable[0].t;
  const t1 = usable.at(-1).t;
  const timed = usable.every((p) => Number.isFinite(p.t)) && t1 > t0;
  const inner = width - 2 * pad;
  const coords = usable.map((p, i) => {
    const x = pad + (timed ? ((p.t - t0) / (t1 - t0)) * inner : (i * inner) / (usable.length - 1));
    const y = max === min ? height / 2 : pad + (1 - (p.price - min) / span) * (height - 2 * pad);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = `M${coords.join('L')}`;
  const area = `${line}L${(width - pad).toFixed(1)},${height}L${pad.toFixed(1)},${height}Z`;
  return { line, area, trend: prices.at(-1) >= prices[0] ? 'up' : 'down' };
}
