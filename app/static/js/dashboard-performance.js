/**
 * The dashboard's returns: TWR/MWR per period from portfolio_update, and the value-and-contributions chart
 * of one period from GET /api/portfolios/<id>/performance.
 */

import { toNumber } from './pricewire-client.js';
import { formatPercent } from './dashboard-format.js';
import { h } from './dashboard-dom.js';

const PERIODS = ['1D', '1W', '1M', 'YTD', '1Y', 'ALL'];

/**
 * SVG paths of the value line and the contributions line (start value plus cumulative net flows) over
 * `series` ([{value, flows}]) on one shared scale; null with fewer than 2 points.
 */
export function chartPaths(series, startValue, width, height, pad = 4) {
  if (!Array.isArray(series) || series.length < 2) return null;
  let contributed = toNumber(startValue) ?? 0;
  const values = [];
  const contributions = [];
  for (const point of series) {
    contributed += toNumber(point.flows) ?? 0;
    values.push(toNumber(point.value) ?? 0);
    contributions.push(contributed);
  }
  const all = [...values, ...contributions];
  const min = Math.min(...all);
  const span = Math.max(...all) - min || 1;
  const step = (width - 2 * pad) / (series.length - 1);
  const path = (ys) => 'M' + ys.map((y, i) => `${(pad + i * step).toFixed(1)},${(pad + (1 - (y - min) / span) * (height - 2 * pad)).toFixed(1)}`).join('L');
  return { value: path(values), contributions: path(contributions) };
}

/** Fill the returns table from a portfolio_update's `returns` block. */
export function renderReturns(returns) {
  const body = document.getElementById('returns-body');
  if (!body || !returns) return;
  body.replaceChildren(...PERIODS.filter((p) => returns[p]).map((period) => h('tr', { 'data-period': period },
    h('th', { scope: 'row' }, period),
    h('td', { class: 'num', 'data-cell': 'twr' }, formatPercent(returns[period].twr_percent)),
    h('td', { class: 'num', 'data-cell': 'mwr' }, formatPercent(returns[period].mwr_percent)),
  )));
}

/** Draw the chart of `period` (fetched with `api`) into #performance-chart. */
export async function loadPerformance(api, portfolioId, period) {
  const svg = document.getElementById('performance-chart');
  if (!svg || portfolioId === null) return;
  const body = await api(`/api/portfolios/${portfolioId}/performance?period=${encodeURIComponent(period)}`);
  const paths = chartPaths(body?.series ?? [], body?.start_value, 600, 160);
  const ns = 'http://www.w3.org/2000/svg';
  const line = (d, cls) => {
    const el = document.createElementNS(ns, 'path');
    el.setAttribute('d', d);
    el.setAttribute('class', cls);
    return el;
  };
  svg.replaceChildren(...(paths ? [line(paths.contributions, 'contrib'), line(paths.value, 'value')] : []));
  document.getElementById('performance-note').textContent = paths
    ? `${period}: time-weighted ${formatPercent(body.twr_percent)}, money-weighted ${formatPercent(body.mwr_period_percent)} over the period`
    : 'Not enough history for a chart yet (one point a day).';
}

/** Wire the period picker; draw the default period. */
export function initPerformance({ api, portfolioId }) {
  const picker = document.getElementById('performance-period');
  if (!picker || portfolioId === null) return;
  const draw = () => loadPerformance(api, portfolioId, picker.value).catch((error) => {
    document.getElementById('performance-note').textContent = `Could not load returns: ${error.message}`;
  });
  picker.addEventListener('change', draw);
  draw();
}
