/**
 * Market sessions on the dashboard (pure, node-tested): the market-state badge, the label of the day
 * change ("today", "since Fri close", "Fri close"), and the chart's time axis and range name.
 * The server decides the session (asset_update: market_state, session_date, change_since, next_open,
 * exchange_timezone); these only word it, in the exchange's own time zone.
 */

const DAY_MS = 86_400_000;

/** `Mon` for an ISO date `2026-11-30` (the trading day itself, no time zone shift). */
export function weekdayOf(isoDate) {
  if (!isoDate) return null;
  const [y, m, d] = String(isoDate).split('-').map(Number);
  if (!y || !m || !d) return null;
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });
}

/** `Mon 09:30` for an instant, in `timeZone` (the exchange's); null when absent. */
export function weekdayTime(ms, timeZone) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  const options = { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-US', { ...options, timeZone: timeZone || 'UTC' }).formatToParts(new Date(ms));
  } catch {
    parts = new Intl.DateTimeFormat('en-US', { ...options, timeZone: 'UTC' }).formatToParts(new Date(ms));
  }
  const part = (type) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('weekday')} ${part('hour')}:${part('minute')}`;
}

/** {state, text, title} of the market-state badge, or null without a market state. */
export function marketBadge(quote) {
  const state = quote?.marketState;
  if (!state) return null;
  const where = quote.exchange && !['CRYPTO', 'UNKNOWN'].includes(quote.exchange) ? quote.exchange : null;
  const title = [where, quote.timezone, quote.marketNote].filter(Boolean).join(' · ');
  if (state === 'pre') return { state, text: 'Pre-market', title };
  if (state === 'post') return { state, text: 'After hours', title };
  if (state === 'regular') return { state, text: quote.exchange === 'CRYPTO' ? 'Open 24/7' : 'Open', title };
  const until = weekdayTime(quote.nextOpen, quote.timezone);
  return { state: 'closed', text: until ? `Closed until ${until}` : 'Closed', title };
}

/** What the day change is measured against: `today`, `since Fri close` (pre-market), `Fri close` (closed). */
export function changeLabel(quote) {
  const state = quote?.marketState;
  if (!state || state === 'regular' || state === 'post') return 'today';
  if (state === 'pre') {
    const since = weekdayOf(quote.changeSince);
    return since ? `since ${since} close` : 'today';
  }
  const day = weekdayOf(quote.sessionDate);
  return day ? `${day} close` : 'last close';
}

/** The span of a series in words: `45 min`, `6 h`, `3 days`. */
export function spanLabel(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return 'no time';
  if (ms < 3_600_000) return `${Math.max(1, Math.round(ms / 60_000))} min`;
  if (ms < 2 * DAY_MS) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / DAY_MS)} days`;
}

/** Time labels under the chart: [{x (0..1 of the width), text}], first, middle and last point. */
export function timeTicks(points, timeZone) {
  if (points.length < 2) return [];
  const t0 = points[0].t;
  const t1 = points.at(-1).t;
  if (!(t1 > t0)) return [];
  const long = t1 - t0 >= DAY_MS;
  const options = long
    ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
    : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  let format;
  try { format = new Intl.DateTimeFormat('en-US', { ...options, timeZone }); } catch { format = new Intl.DateTimeFormat('en-US', options); }
  return [t0, (t0 + t1) / 2, t1].map((t) => ({ x: (t - t0) / (t1 - t0), text: format.format(new Date(t)) }));
}
