/**
 * The live dashboard: REST for the initial state and watchlist edits, one PricewireSocket for
 * portfolio and price updates. The page (templates/dashboard.html) provides the skeleton.
 */

import { PricewireSocket, normalizeSymbol, toNumber } from './pricewire-client.js';
import {
  direction, formatAge, formatMoney, formatPercent, formatSignedMoney, listOf, quoteOf, sourceLabel,
} from './dashboard-format.js';
import { flash, paintAge, paintQuote, positionRow, updatePositionRow, watchlistItem } from './dashboard-dom.js';
import { QuoteBoard } from './dashboard-quotes.js';
import { initLedger } from './dashboard-ledger.js';
import { initPerformance, renderReturns } from './dashboard-performance.js';

const $ = (id) => document.getElementById(id);
const root = $('dashboard');
// The server's one symbol rule (protocol/symbols.py; tests/protocol/test_symbols.py keeps them equal).
const SYMBOL_RE = /^\^?[A-Z0-9]+(?:[.\-=][A-Z0-9]+)*$/;
const MAX_SYMBOL_LENGTH = 20;
const REFRESH_EVERY_MS = 5 * 60 * 1000; // below the feed's 10-minute window for requested symbols
const config = {
  portfolioId: toNumber(root.dataset.portfolioId),
  currency: root.dataset.currency || 'USD',
  staleAfterMs: (toNumber(root.dataset.staleAfter) ?? 300) * 1000,
  historyDays: toNumber(root.dataset.historyDays) ?? 7,
};
const assetNames = JSON.parse($('asset-names')?.textContent || '{}');
const state = {
  positions: new Set(), // symbols held in the shown portfolio
  watchlist: [], // symbols in display order
  sessionEnded: false,
  connectedOnce: false,
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** The session's CSRF token, which the server wants back on every change made with the cookie. */
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';

/** fetch() a same-origin JSON endpoint; a 401 ends the session on the page. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try { payload = await response.json(); } catch { /* empty or non-JSON body */ }
  if (response.status === 401) endSession();
  if (!response.ok) {
    const error = payload?.error;
    const message = typeof error === 'string' ? error : error?.message ?? payload?.message ?? `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return payload;
}

const board = new QuoteBoard({ api, config, onChange: () => renderMarketStatus() });

// ---- portfolio ----

function renderSummary(data) {
  const currency = data.base_currency ?? data.currency ?? config.currency;
  const total = $('total-value');
  const before = toNumber(total.dataset.raw);
  const value = toNumber(data.total_value);
  if (value !== null) {
    total.textContent = formatMoney(value, currency);
    if (before !== null && value !== before) flash(total, value > before ? 'up' : 'down');
    total.dataset.raw = String(value);
  }
  const change = $('daily-change');
  change.textContent = formatSignedMoney(data.daily_change, currency);
  change.dataset.direction = direction(data.daily_change);
  const pct = $('daily-change-percent');
  pct.textContent = formatPercent(data.daily_change_percent);
  pct.dataset.direction = direction(data.daily_change_percent);
  $('daily-change-card').dataset.direction = direction(data.daily_change);
}

function renderPositions(positions, currency) {
  const body = $('positions-body');
  const seen = new Set();
  for (const position of positions) {
    const symbol = normalizeSymbol(position.symbol ?? position.asset?.symbol);
    if (!symbol) continue;
    seen.add(symbol);
    let row = body.querySelector(`tr[data-symbol="${CSS.escape(symbol)}"]`);
    if (!row) row = positionRow(symbol, position.name ?? assetNames[symbol] ?? '');
    body.append(row); // keeps the server's order
    updatePositionRow(row, position, currency);
    // Positions carry a price but no as-of: it only fills in until the asset's own update arrives.
    if (board.get(symbol)?.price == null) board.merge(symbol, quoteOf(position));
  }
  for (const row of [...body.querySelectorAll('tr[data-symbol]')]) if (!seen.has(row.dataset.symbol)) row.remove();
  state.positions = seen;
  $('positions-empty').hidden = seen.size > 0;
  $('position-count').textContent = String(seen.size);
  subscribeNew([...seen]);
  if (!board.chartSymbol && seen.size) board.select([...seen][0]);
  board.markSelected();
}

/** Subscribe only symbols not yet subscribed: every frame counts against the server's rate limit. */
function subscribeNew(symbols) {
  const have = new Set(socket.subscriptions);
  const fresh = symbols.filter((symbol) => !have.has(`asset:${symbol}`));
  if (fresh.length) socket.subscribeToAsset(fresh);
}

function applyPortfolio(data) {
  const id = toNumber(data.portfolio_id ?? data.id);
  if (config.portfolioId === null || (id !== null && id !== config.portfolioId)) return;
  renderSummary(data);
  renderReturns(data.returns);
  if (Array.isArray(data.positions)) renderPositions(data.positions, data.base_currency ?? config.currency);
  else for (const position of data.positions_updated ?? []) applyPosition({ ...position, portfolio_id: config.portfolioId });
}

function applyPosition(data) {
  const symbol = normalizeSymbol(data.symbol);
  const row = $('positions-body').querySelector(`tr[data-symbol="${CSS.escape(symbol)}"]`);
  if (!row || toNumber(data.portfolio_id) !== config.portfolioId) return;
  updatePositionRow(row, data, config.currency);
}

// ---- watchlist ----

function addWatchItem(item) {
  const list = $('watchlist');
  if (!list.querySelector(`[data-symbol="${CSS.escape(item.symbol)}"]`)) {
    list.append(watchlistItem(item.symbol, item.name));
    state.watchlist.push(item.symbol);
    board.markSelected();
  }
  board.merge(item.symbol, item);
  paintQuote(item.symbol, board.get(item.symbol) ?? {}, { now: Date.now(), staleAfterMs: config.staleAfterMs });
  board.redraw(item.symbol);
  board.loadHistory(item.symbol);
  subscribeNew([item.symbol]);
  $('watchlist-empty').hidden = true;
}

function removeWatchItem(symbol) {
  $('watchlist').querySelector(`[data-symbol="${CSS.escape(symbol)}"]`)?.remove();
  state.watchlist = state.watchlist.filter((s) => s !== symbol);
  if (!state.positions.has(symbol)) socket.unsubscribeFromAsset(symbol);
  $('watchlist-empty').hidden = state.watchlist.length > 0;
}

/**
 * Ask the feed for these symbols now. The feed tracks held assets by itself; a symbol only watched is
 * tracked for ten minutes after such a request, so the page repeats it while open (REFRESH_EVERY_MS).
 */
async function requestPrices(symbols) {
  const wanted = symbols.filter((symbol) => !state.positions.has(symbol)).slice(0, 50);
  if (!wanted.length || state.sessionEnded) return;
  try {
    await api('/api/prices/refresh', { method: 'POST', body: { symbols: wanted } });
  } catch (error) {
    console.warn('[dashboard] price refresh', error.message);
  }
}

async function loadWatchlist() {
  const items = listOf(await api('/api/watchlist'), ['items', 'watchlist', 'data']).map(quoteOf).filter((i) => i.symbol);
  const wanted = new Set(items.map((i) => i.symbol));
  for (const symbol of [...state.watchlist]) if (!wanted.has(symbol)) removeWatchItem(symbol);
  for (const item of items) addWatchItem(item);
  $('watchlist-empty').hidden = items.length > 0;
  requestPrices(state.watchlist);
}

let sayTimer = null;

/** A status line under the watchlist form; confirmations clear themselves, errors stay until the next one. */
function say(message, kind = 'info') {
  const el = $('watchlist-message');
  el.textContent = message;
  el.dataset.kind = kind;
  clearTimeout(sayTimer);
  if (kind === 'info') sayTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}

async function onWatchSubmit(event) {
  event.preventDefault();
  const input = $('watch-symbol');
  const symbol = normalizeSymbol(input.value);
  if (!SYMBOL_RE.test(symbol) || symbol.length > MAX_SYMBOL_LENGTH) return say('Enter a ticker such as NVDA or EURUSD=X.', 'error');
  if (state.watchlist.includes(symbol)) return say(`${symbol} is already on the watchlist.`, 'error');
  const button = $('watch-add');
  button.disabled = true;
  try {
    const body = await api('/api/watchlist', { method: 'POST', body: { symbol } });
    const item = quoteOf(body?.item ?? body?.watchlist_item ?? body ?? { symbol });
    addWatchItem({ ...item, symbol: item.symbol || symbol });
    requestPrices([symbol]);
    if (normalizeSymbol(input.value) === symbol) input.value = ''; // keep what was typed meanwhile
    say(`Added ${symbol}.`);
  } catch (error) {
    say(`Could not add ${symbol}: ${error.message}`, 'error');
  } finally {
    button.disabled = false;
    input.focus();
  }
}

async function onWatchRemove(symbol, button) {
  button.disabled = true;
  try {
    await api(`/api/watchlist/${encodeURIComponent(symbol)}`, { method: 'DELETE' });
    const next = button.closest('li')?.nextElementSibling?.querySelector('.remove');
    removeWatchItem(symbol);
    (next ?? $('watch-symbol')).focus(); // keep keyboard users in the list
    say(`Removed ${symbol}.`);
  } catch (error) {
    button.disabled = false;
    say(`Could not remove ${symbol}: ${error.message}`, 'error');
  }
}

// ---- connection, feed, session ----

function renderConnection() {
  const el = $('connection-status');
  let status = socket.state;
  let label = 'Connecting…';
  if (state.sessionEnded) [status, label] = ['logged-out', 'Logged out'];
  else if (status === 'open') label = 'Connected';
  else if (status === 'reconnecting') label = `Reconnecting in ${Math.ceil((socket.reconnectInDelayMs ?? 0) / 1000)} s`;
  else if (status === 'closed') label = 'Disconnected';
  if (el.dataset.state !== status) $('connection-announce').textContent = label.replace(/ in \d+ s$/, '…');
  el.dataset.state = status;
  el.querySelector('.conn-text').textContent = label;
  $('reconnect-now').hidden = state.sessionEnded || !['reconnecting', 'closed'].includes(status);
}

function renderMarketStatus() {
  let latest = null;
  const sources = new Set();
  for (const quote of board.quotes.values()) {
    if (quote.asOf != null && (latest === null || quote.asOf > latest)) latest = quote.asOf;
    if (quote.source) sources.add(sourceLabel(quote.source));
  }
  $('last-tick').textContent = latest === null ? 'No prices yet' : `Last price ${formatAge(Date.now() - latest)}`;
  $('sources').textContent = sources.size ? [...sources].join(', ') : '—';
  // feed_status: failover/recovered/stale/ok from the feed, degraded/recovered from the server's bus relay.
  const feed = socket.feedStatus;
  const el = $('feed-state');
  let label = 'Live prices';
  if (feed?.status === 'failover') label = `Fallback: ${sourceLabel(feed.source)}`;
  else if (feed?.status === 'stale') label = 'Prices delayed';
  else if (feed?.status === 'degraded') label = 'Updates interrupted';
  el.textContent = label;
  el.dataset.state = label === 'Live prices' ? 'ok' : 'warn';
  el.title = feed?.message ?? '';
}

function endSession() {
  if (state.sessionEnded) return;
  state.sessionEnded = true;
  socket.disconnect(1000, 'session ended');
  $('session-ended').hidden = false;
  $('watch-symbol').disabled = true;
  $('watch-add').disabled = true;
  renderConnection();
  $('session-ended').querySelector('a').focus();
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-field="age"], [data-field="stale"]')) {
    const quote = board.get(el.dataset.quote);
    if (quote) paintAge(el, quote, now, config.staleAfterMs);
  }
  renderMarketStatus();
}

const socket = new PricewireSocket({
  onStateChange: renderConnection,
  onAuthRequired: endSession,
  onError: (err) => { if (err.kind !== 'socket') console.warn('[pricewire]', err.kind, err.message); },
});

socket.onMessageType('connection', (data) => {
  const limit = toNumber(data.limits?.stale_after_seconds ?? data.stale_after_seconds);
  if (limit) config.staleAfterMs = limit * 1000;
  if (state.connectedOnce) {
    // Catch up on edits made elsewhere while we were away; subscriptions resume by themselves.
    loadWatchlist().catch((error) => console.warn('[dashboard] watchlist', error.message));
    for (const symbol of state.watchlist) board.loadHistory(symbol);
  }
  state.connectedOnce = true;
});
socket.onMessageType('asset_update', (data) => board.merge(normalizeSymbol(data.symbol), quoteOf(data)));
socket.onMessageType('portfolio_update', applyPortfolio);
socket.onMessageType('position_update', applyPosition);
socket.onMessageType('feed_status', renderMarketStatus);

$('watchlist-form').addEventListener('submit', onWatchSubmit);
root.addEventListener('click', (event) => {
  const remove = event.target.closest('[data-remove]');
  if (remove) return onWatchRemove(remove.dataset.remove, remove);
  const select = event.target.closest('[data-select]');
  if (select) board.select(select.dataset.select);
});
$('reconnect-now').addEventListener('click', () => socket.connect());
$('logout-form')?.addEventListener('submit', () => { state.sessionEnded = true; socket.disconnect(1000, 'logout'); });
$('portfolio-select')?.addEventListener('change', (event) => event.target.form.submit());
addEventListener('online', () => { if (!state.sessionEnded) socket.connect(); });

if (config.portfolioId !== null) {
  socket.subscribeToPortfolio(config.portfolioId);
  api(`/api/portfolios/${config.portfolioId}`)
    .then((data) => applyPortfolio({ ...data, portfolio_id: config.portfolioId }))
    .catch((error) => console.warn('[dashboard] portfolio', error.message));
}
loadWatchlist().catch((error) => say(`Could not load the watchlist: ${error.message}`, 'error'));
initLedger({ api, portfolioId: config.portfolioId });
initPerformance({ api, portfolioId: config.portfolioId });
socket.connect();
renderConnection();
setInterval(tick, 1000);
setInterval(() => requestPrices(state.watchlist), REFRESH_EVERY_MS);
setInterval(() => { if (socket.state === 'reconnecting') renderConnection(); }, 250);
