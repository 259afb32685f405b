/**
 * The dashboard's ledger: create a portfolio, record a trade, list the ledger (REST; the portfolio_update
 * the server publishes after each change repaints the positions by itself).
 */

import { formatMoney, formatPrice } from './dashboard-format.js';
import { h } from './dashboard-dom.js';

const TYPES_WITH_SYMBOL = new Set(['buy', 'sell', 'dividend', 'split', 'transfer_in', 'transfer_out']);

/** The form's filled fields as a transaction body (empty fields left out; a local date-time sent as UTC). */
export function tradeBody(form) {
  const data = Object.fromEntries(new FormData(form).entries());
  const body = {};
  for (const [name, value] of Object.entries(data)) {
    const text = String(value).trim();
    if (text) body[name] = text;
  }
  if (body.executed_at) body.executed_at = new Date(body.executed_at).toISOString();
  if (!TYPES_WITH_SYMBOL.has(body.type)) delete body.symbol;
  return body;
}

/** One ledger row: date, type, symbol, quantity, price in its currency, fees. */
export function ledgerRow(tx) {
  const when = String(tx.executed_at ?? '').slice(0, 10);
  return h('tr', { 'data-testid': 'ledger-row', 'data-id': String(tx.id) },
    h('td', {}, when),
    h('td', {}, tx.type),
    h('td', {}, tx.symbol ?? '—'),
    h('td', { class: 'num' }, String(tx.quantity ?? '')),
    h('td', { class: 'num' }, tx.type === 'split' ? '—' : formatPrice(tx.price) + ' ' + (tx.currency ?? '')),
    h('td', { class: 'num' }, Number(tx.fees) ? formatMoney(tx.fees, tx.currency) : '—'),
  );
}

/** Wire the create-portfolio and record-trade forms and the ledger table. */
export function initLedger({ api, portfolioId }) {
  const $ = (id) => document.getElementById(id);
  const say = (id, message, kind = 'info') => {
    const el = $(id);
    if (!el) return;
    el.textContent = message;
    el.dataset.kind = kind;
  };

  async function loadLedger() {
    if (portfolioId === null || !$('ledger-body')) return;
    const body = await api(`/api/portfolios/${portfolioId}/transactions?per_page=50`);
    $('ledger-body').replaceChildren(...(body?.transactions ?? []).map(ledgerRow));
    $('ledger-empty').hidden = (body?.transactions ?? []).length > 0;
  }

  $('portfolio-form')?.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      const created = await api('/api/portfolios', { method: 'POST', body: tradeBody(form) });
      location.assign(`/?portfolio=${created.id}`);
    } catch (error) {
      say('portfolio-message', `Could not create it: ${error.message}`, 'error');
    }
  });

  $('trade-form')?.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const body = tradeBody(form);
      await api(`/api/portfolios/${portfolioId}/transactions`, { method: 'POST', body });
      say('trade-message', `Recorded: ${body.type} ${body.symbol ?? ''}`.trim());
      for (const name of ['quantity', 'price', 'fees', 'fx_rate']) form.elements[name].value = '';
      await loadLedger();
    } catch (error) {
      say('trade-message', `Not recorded: ${error.message}`, 'error');
    } finally {
      button.disabled = false;
    }
  });

  // The buttons are rendered disabled so nothing submits natively before these handlers exist.
  for (const id of ['portfolio-form', 'trade-form']) {
    const button = $(id)?.querySelector('button[type="submit"]');
    if (button) button.disabled = false;
  }
  loadLedger().catch((error) => say('trade-message', `Could not load the ledger: ${error.message}`, 'error'));
  return { loadLedger };
}
