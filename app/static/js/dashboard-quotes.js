/**
 * The dashboard's prices: the latest quote per symbol (painted wherever the symbol is shown, flashing
 * on moves), each symbol's price history (REST history plus live points) and the selected chart.
 */

import { direction, formatPercent, formatPrice, historyPoints, listOf } from './dashboard-format.js';
import { drawSparkline, h, paintQuote } from './dashboard-dom.js';
import { spanLabel, timeTicks } from './dashboard-market.js';

const MAX_POINTS = 600;
const definedOnly = (obj) => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null && v !== undefined));
const $ = (id) => document.getElementById(id);

export class QuoteBoard {
  /** api(path) fetches JSON; config {staleAfterMs, historyDays}; onChange() runs after every merged quote. */
  constructor({ api, config, onChange = () => {} }) {
    this.api = api;
    this.config = config;
    this.onChange = onChange;
    this.quotes = new Map(); // symbol -> {price, change_percent, source, asOf, stale, ...}
    this.history = new Map(); // symbol -> [{t, price}]
    this.historyLoaded = new Set();
    this.chartSymbol = null;
  }

  get(symbol) { return this.quotes.get(symbol); }

  /** Merge a quote unless it is older than the one shown; repaint and flash where it moved. */
  merge(symbol, incoming) {
    const prev = this.quotes.get(symbol);
    if (prev?.asOf != null && incoming.asOf != null && incoming.asOf < prev.asOf) return;
    const next = { ...prev, ...definedOnly(incoming) };
    if (incoming.asOf != null) next.stale = incoming.stale; // a newer as-of replaces an old stale flag
    this.quotes.set(symbol, next);
    const moved = prev?.price != null && next.price != null && next.price !== prev.price
      ? (next.price > prev.price ? 'up' : 'down') : null;
    paintQuote(symbol, next, { now: Date.now(), staleAfterMs: this.config.staleAfterMs, moved });
    if (next.price != null) this.appendPoint(symbol, { t: next.asOf ?? Date.now(), price: next.price });
    this.onChange();
  }

  appendPoint(symbol, point) {
    const points = this.history.get(symbol) ?? [];
    const last = points.at(-1);
    if (last && point.t <= last.t) return;
    points.push(point);
    if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
    this.history.set(symbol, points);
    this.redraw(symbol);
  }

  /** Redraw the watchlist sparkline of `symbol`, and the big chart when it shows `symbol`. */
  redraw(symbol) {
    const points = this.history.get(symbol) ?? [];
    const spark = document.querySelector(`#watchlist [data-symbol="${CSS.escape(symbol)}"] svg.spark`);
    if (spark) drawSparkline(spark, points);
    if (symbol === this.chartSymbol) this.renderChart();
  }

  /** Fetch the stored history once (again after a failure), keeping live points newer than it. */
  async loadHistory(symbol) {
    if (this.historyLoaded.has(symbol)) return;
    this.historyLoaded.add(symbol);
    try {
      const body = await this.api(`/api/prices/${encodeURIComponent(symbol)}/history?days=${this.config.historyDays}`);
      const past = historyPoints(listOf(body, ['history', 'prices', 'items', 'data']));
      const cut = past.at(-1)?.t ?? -Infinity;
      const live = (this.history.get(symbol) ?? []).filter((p) => p.t > cut);
      this.history.set(symbol, [...past, ...live].slice(-MAX_POINTS));
      this.redraw(symbol);
    } catch (error) {
      this.historyLoaded.delete(symbol); // asked again on the next reconnect
      console.warn('[dashboard] history of', symbol, error.message);
    }
  }

  select(symbol) {
    this.chartSymbol = symbol;
    this.markSelected();
    this.loadHistory(symbol);
    this.renderChart();
  }

  /** aria-pressed on every symbol button (call again after adding rows). */
  markSelected() {
    for (const el of document.querySelectorAll('[data-select]')) el.setAttribute('aria-pressed', String(el.dataset.select === this.chartSymbol));
  }

  renderChart() {
    const symbol = this.chartSymbol;
    const points = this.history.get(symbol) ?? [];
    $('chart-symbol').textContent = symbol ?? '—';
    drawSparkline($('chart'), points);
    const prices = points.map((p) => p.price);
    const span = prices.length > 1 ? points.at(-1).t - points[0].t : null;
    // The range is named by what it holds (the history asked for may reach back further than the data).
    $('chart-span').textContent = span === null ? '' : `· ${spanLabel(span)}`;
    const zone = this.quotes.get(symbol)?.timezone ?? undefined;
    $('chart-axis').replaceChildren(...timeTicks(points, zone).map((tick) => {
      const label = h('span', { 'data-testid': 'chart-tick' }, tick.text);
      label.style.left = `${(tick.x * 100).toFixed(2)}%`; // CSSOM, not a style attribute: the CSP forbids those
      return label;
    }));
    $('chart-range').textContent = prices.length > 1
      ? `Low ${formatPrice(Math.min(...prices))} · High ${formatPrice(Math.max(...prices))} · ${prices.length} points`
      : 'Waiting for prices…';
    $('chart-price').textContent = formatPrice(this.quotes.get(symbol)?.price);
    const first = prices[0];
    const change = prices.length > 1 ? ((prices.at(-1) - first) / first) * 100 : null;
    $('chart-change').textContent = change === null ? '' : formatPercent(change);
    $('chart-change').dataset.direction = direction(change);
  }
}
