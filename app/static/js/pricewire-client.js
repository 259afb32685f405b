/**
 * Pricewire realtime client: one WebSocket with backoff reconnects, resume by seq, heartbeat.
 * Plain ES module, no dependencies, no DOM access: runs in browsers and in Node (pass WebSocketImpl).
 */

export const STATES = Object.freeze(['idle', 'connecting', 'open', 'reconnecting', 'closed']);
/** Close codes after which reconnecting cannot help (auth, forbidden/origin, message too big). */
export const FINAL_CODES = Object.freeze([4401, 4403, 4413]);
export const CODE_AUTH_REQUIRED = 4401;
export const CODE_RATE_LIMITED = 4429;
/** Synthetic close code the client uses when it gives up on a silent socket (connect/heartbeat timeout). */
export const CODE_CLIENT_TIMEOUT = 4000;
export const DEFAULT_PATH = '/ws/realtime/';
/** The server rejects subscribe/unsubscribe frames naming more symbols than this. */
export const MAX_SYMBOLS_PER_MESSAGE = 50;
const DEFAULT_RETRY_AFTER_S = 60;
const NUMERIC_FIELDS = [
  'price', 'change', 'change_percent', 'volume', 'high', 'low', 'market_cap', 'previous_close',
  'total_value', 'daily_change', 'daily_change_percent', 'stale_share_percent',
];
const noop = () => {};

/** Turn an exact-decimal string or a number into a display Number; null when absent or invalid. */
export function toNumber(value) {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Copy of an update payload with numeric fields as Numbers and the untouched payload under `raw`. */
export function normalizeUpdate(data) {
  const out = { ...data, raw: data };
  for (const key of NUMERIC_FIELDS) if (key in data) out[key] = toNumber(data[key]);
  return out;
}

/** Canonical ticker form, so `aapl` and the server's `asset:AAPL` name the same channel. */
export function normalizeSymbol(symbol) {
  return String(symbol ?? '').trim().toUpperCase();
}

/** Channel name of an update: `data.channel`, else derived from symbol / portfolio_id. */
export function channelOf(message) {
  const data = message?.data ?? {};
  if (data.channel) return String(data.channel);
  if (message.type === 'asset_update' && data.symbol != null) return `asset:${normalizeSymbol(data.symbol)}`;
  if (message.type === 'portfolio_update' && data.portfolio_id != null) return `portfolio:${data.portfolio_id}`;
  return null;
}

/** Absolute ws(s):// URL from an explicit url, a same-origin path, or the page location. */
export function resolveUrl(url, location = globalThis.location) {
  if (url && /^wss?:\/\//i.test(url)) return url;
  if (url && /^https?:\/\//i.test(url)) return url.replace(/^http/i, 'ws');
  if (!location?.host) throw new Error('PricewireSocket: options.url is required when there is no page location');
  const path = url || DEFAULT_PATH;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path.startsWith('/') ? '' : '/'}${path}`;
}

/** Full-jitter exponential backoff: random() * min(cap, base * 2^attempt). */
export function backoffDelay(attempt, { base = 1000, cap = 30000, random = Math.random } = {}) {
  return random() * Math.min(cap, base * 2 ** Math.min(attempt, 30));
}

/** {now, setTimeout, clearTimeout} from options.clock / top-level injectables / globals. */
export function resolveClock(options = {}) {
  const clock = options.clock ?? {};
  return {
    now: options.now ?? clock.now ?? (() => Date.now()),
    // Wrapped: browsers throw "Illegal invocation" when window.setTimeout is called with another `this`.
    setTimeout: options.setTimeout ?? clock.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms)),
    clearTimeout: options.clearTimeout ?? clock.clearTimeout ?? ((id) => globalThis.clearTimeout(id)),
  };
}

function subOptions(opts = {}) {
  const out = {};
  // The server accepts only JSON numbers here.
  const maxHz = toNumber(opts.max_hz ?? opts.maxHz);
  const minChange = toNumber(opts.min_change_percent ?? opts.minChangePercent);
  if (maxHz !== null) out.max_hz = maxHz;
  if (minChange !== null) out.min_change_percent = minChange;
  return out;
}

const asList = (value) => (Array.isArray(value) ? value : [value]);

function chunks(list, size = MAX_SYMBOLS_PER_MESSAGE) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export class PricewireSocket {
  constructor(options = {}) {
    this.options = options;
    this.url = options.url ?? null;
    this.clock = resolveClock(options);
    this.random = options.random ?? Math.random;
    this.WebSocketImpl = options.WebSocketImpl ?? globalThis.WebSocket;
    this.heartbeatInterval = options.heartbeatInterval ?? 25000;
    this.heartbeatTimeout = options.heartbeatTimeout ?? 10000;
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.baseReconnectDelay = options.baseReconnectDelay ?? 1000;
    this.maxReconnectDelay = options.maxReconnectDelay ?? 30000;
    this.maxReconnectAttempts = options.maxReconnectAttempts ?? Infinity;
    this.stableConnectionMs = options.stableConnectionMs ?? 5000;
    this.errorCloseWindowMs = options.errorCloseWindowMs ?? 3000;
    this.maxQueueSize = options.maxQueueSize ?? 100;
    this.onConnect = options.onConnect ?? noop;
    this.onDisconnect = options.onDisconnect ?? noop;
    this.onError = options.onError ?? ((err) => console.warn('[pricewire]', err.kind, err.message));
    this.onMessage = options.onMessage ?? noop;
    this.onStateChange = options.onStateChange ?? noop;
    this.onAuthRequired = options.onAuthRequired ?? noop;

    this.state = 'idle';
    this.connectionId = null;
    this.serverInfo = null; // data of the last `connection` message (limits, user_id, ...)
    this.feedStatus = null;
    this.lastError = null;
    this.reconnectAttempt = 0;
    this.reconnectAt = null;
    this.reconnectDelayMs = null;
    this._heartbeatFromServer = options.heartbeatInterval == null;
    this._ws = null;
    this._closeRequested = false;
    this._lastServerError = null;
    this._subs = new Map(); // channel -> {kind, id, extra}
    this._seq = new Map(); // channel -> last seen seq
    this._queue = [];
    this._handlers = new Map(); // type -> Set(handler)
    this._timers = {};
  }

  get isConnected() { return this.state === 'open'; }
  /** Milliseconds until the scheduled reconnect (for "reconnecting in N s"), or null. */
  get reconnectInDelayMs() {
    return this.reconnectAt == null ? null : Math.max(0, this.reconnectAt - this.clock.now());
  }
  /** Snapshot {channel: seq} of the last seq seen per channel. */
  get lastSeq() { return Object.fromEntries(this._seq); }
  getLastSeq(channel) { return this._seq.get(channel); }
  /** Remembered subscription channels, e.g. ['asset:AAPL', 'portfolio:7']. */
  get subscriptions() { return [...this._subs.keys()]; }

  /** Open now (also cancels a pending reconnect wait, e.g. on the browser's `online` event). */
  connect() {
    if (this.state === 'connecting' || this.state === 'open') return this;
    if (this.state !== 'reconnecting') this.reconnectAttempt = 0;
    this._closeRequested = false;
    this._clearReconnect();
    this._open();
    return this;
  }

  /** Close cleanly, never reconnect; drops queued messages, keeps subscriptions for a later connect(). */
  disconnect(code = 1000, reason = 'client disconnect') {
    this._closeRequested = true;
    this._clearReconnect();
    this._queue.length = 0;
    const ws = this._ws;
    this._teardown();
    this._setState('closed');
    if (!ws) return;
    try { ws.close(code, reason); } catch { /* already closing */ }
    this.onDisconnect({ code, rawCode: code, reason, wasClean: true, byClient: true, willReconnect: false, reconnectInMs: null });
  }

  /**
   * Send `{type, data, timestamp}`. Returns true only if written now. Subscription types go through
   * the subscription registry (restored on every reconnect); ping is dropped when not open;
   * anything else is queued (at most maxQueueSize, oldest dropped) and sent on the next open.
   */
  sendMessage(type, data = {}) {
    switch (type) {
      case 'subscribe_asset': return this.subscribeToAsset(data.symbols ?? data.symbol, data);
      case 'unsubscribe_asset': return this.unsubscribeFromAsset(data.symbols ?? data.symbol);
      case 'subscribe_portfolio': return this.subscribeToPortfolio(data.portfolio_id, data);
      case 'unsubscribe_portfolio': return this.unsubscribeFromPortfolio(data.portfolio_id);
      default:
    }
    if (this.state === 'open') return this._send(type, data);
    if (type === 'ping') return false;
    this._queue.push({ type, data });
    if (this._queue.length > this.maxQueueSize) this._queue.shift();
    return false;
  }

  /** Subscribe one symbol or an array; opts {max_hz|maxHz, min_change_percent|minChangePercent}. */
  subscribeToAsset(symbols, opts = {}) {
    const list = asList(symbols).map(normalizeSymbol).filter(Boolean);
    const extra = subOptions(opts);
    for (const id of list) this._subs.set(`asset:${id}`, { kind: 'asset', id, extra });
    return this.isConnected && this._sendSubscriptions(list.map((id) => `asset:${id}`));
  }

  unsubscribeFromAsset(symbols) {
    const list = asList(symbols).map(normalizeSymbol).filter(Boolean);
    for (const id of list) this._forget(`asset:${id}`);
    if (!this.isConnected) return false;
    return chunks(list).map((part) => this._send('unsubscribe_asset', part.length === 1 ? { symbol: part[0] } : { symbols: part }))
      .every(Boolean);
  }

  subscribeToPortfolio(portfolioId, opts = {}) {
    const channel = `portfolio:${portfolioId}`;
    this._subs.set(channel, { kind: 'portfolio', id: portfolioId, extra: subOptions(opts) });
    return this.isConnected && this._sendSubscriptions([channel]);
  }

  unsubscribeFromPortfolio(portfolioId) {
    this._forget(`portfolio:${portfolioId}`);
    return this.isConnected && this._send('unsubscribe_portfolio', { portfolio_id: portfolioId });
  }

  /** Add a handler(data, message) for one message type; returns a function that removes it. */
  onMessageType(type, handler) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
    return () => this.offMessageType(type, handler);
  }

  offMessageType(type, handler) { this._handlers.get(type)?.delete(handler); }

  // ---- internals ----

  _open() {
    this._setState('connecting');
    let ws;
    try {
      if (!this.WebSocketImpl) throw new Error('no WebSocket implementation: pass options.WebSocketImpl');
      ws = new this.WebSocketImpl(resolveUrl(this.url, this.options.location ?? globalThis.location));
    } catch (error) {
      // Bad URL / mixed content / no implementation: retrying the same thing cannot succeed.
      this._report('connect', error.message, { error });
      this._setState('closed');
      return;
    }
    this._ws = ws;
    this._lastServerError = null;
    ws.onopen = () => ws === this._ws && this._onOpen();
    ws.onmessage = (event) => ws === this._ws && this._onMessage(event);
    ws.onerror = (event) => ws === this._ws && this._report('socket', 'WebSocket error', { event });
    ws.onclose = (event) => ws === this._ws && this._onClose(event ?? {});
    this._timer('connect', this.connectTimeout, () => this._declareDead('connect timeout'));
  }

  _onOpen() {
    this._clear('connect');
    this._setState('open');
    this._sendSubscriptions([...this._subs.keys()]);
    for (const { type, data } of this._queue.splice(0)) this._send(type, data);
    this._scheduleHeartbeat();
    this.onConnect({ url: this._ws?.url });
  }

  _onMessage(event) {
    this._clear('deadline'); // any traffic proves the socket is alive
    let message;
    try { message = JSON.parse(event.data); } catch (error) {
      this._report('parse', 'invalid JSON from server', { error });
      return;
    }
    if (!message || typeof message.type !== 'string') return this._report('parse', 'message without type', { message });
    const data = message.data ?? {};
    switch (message.type) {
      case 'connection': this._onConnection(data, message); break;
      case 'feed_status': this.feedStatus = data; break;
      case 'error':
        this._lastServerError = {
          code: toNumber(data.code) ?? data.code, retryAfter: toNumber(data.retry_after),
          closing: data.closing === true, at: this.clock.now(),
        };
        this._report('server', data.message ?? 'server error', { code: data.code, data });
        break;
      default: this._trackSeq(message, data);
    }
    this._dispatch(message);
  }

  _onConnection(data, message) {
    this.connectionId = data.connection_id ?? message.connection_id ?? null;
    this.serverInfo = data;
    const serverHeartbeat = toNumber(data.heartbeat_interval);
    if (this._heartbeatFromServer && serverHeartbeat > 0) {
      this.heartbeatInterval = serverHeartbeat * 1000;
      this._scheduleHeartbeat();
    }
    // Backoff resets only once a connection has proven stable, so a flapping server is not hammered.
    if (this.stableConnectionMs > 0) this._timer('stable', this.stableConnectionMs, () => { this.reconnectAttempt = 0; });
    else this.reconnectAttempt = 0;
  }

  _trackSeq(message, data) {
    const channel = channelOf(message);
    const seq = toNumber(data.seq);
    if (!channel || seq === null) return;
    const prev = this._seq.get(channel);
    // Snapshots may restart numbering (server restart); otherwise never move backwards on replays.
    if (data.snapshot || prev === undefined || seq > prev) this._seq.set(channel, seq);
  }

  _dispatch(message) {
    for (const handler of [...(this._handlers.get(message.type) ?? [])]) {
      try { handler(message.data, message); } catch (error) { this._report('handler', error.message, { error, type: message.type }); }
    }
    try { this.onMessage(message); } catch (error) { this._report('handler', error.message, { error, type: message.type }); }
  }

  _onClose(event) {
    const rawCode = event.code ?? 1006;
    const err = this._lastServerError;
    // Chrome reports custom close codes as 1006; the server announces the real one in an `error` first,
    // flagged `closing`. Errors without the flag (a refused subscription on a live socket, or an older
    // server) count only when recent.
    const recent = err && (err.closing || this.clock.now() - err.at <= this.errorCloseWindowMs) ? err : null;
    const code = rawCode === 1006 && typeof recent?.code === 'number' ? recent.code : rawCode;
    this._teardown();
    this._afterClose({ code, rawCode, reason: event.reason ?? '', wasClean: Boolean(event.wasClean) }, recent);
  }

  _declareDead(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._teardown();
    try { ws.close(CODE_CLIENT_TIMEOUT, reason); } catch { /* ignore */ }
    this._afterClose({ code: CODE_CLIENT_TIMEOUT, rawCode: null, reason, wasClean: false }, null);
  }

  _afterClose(info, serverError) {
    const final = this._closeRequested || FINAL_CODES.includes(info.code)
      || this.reconnectAttempt >= this.maxReconnectAttempts;
    let delay = null;
    if (!final && info.code === CODE_RATE_LIMITED) {
      const retryAfter = serverError?.code === CODE_RATE_LIMITED ? serverError.retryAfter : null;
      // Never before retry_after; a little jitter on top so rejected clients do not return in lockstep.
      delay = (retryAfter ?? DEFAULT_RETRY_AFTER_S) * 1000 + this.random() * this.baseReconnectDelay;
    } else if (!final) {
      delay = backoffDelay(this.reconnectAttempt, { base: this.baseReconnectDelay, cap: this.maxReconnectDelay, random: this.random });
    }
    if (final) this._setState('closed');
    else this._scheduleReconnect(delay);
    this.onDisconnect({ ...info, byClient: false, willReconnect: !final, reconnectInMs: delay });
    if (info.code === CODE_AUTH_REQUIRED && !this._closeRequested) this.onAuthRequired(info);
  }

  _scheduleReconnect(delay) {
    this.reconnectAttempt += 1;
    this.reconnectDelayMs = delay;
    this.reconnectAt = this.clock.now() + delay;
    this._timer('reconnect', delay, () => {
      this.reconnectAt = null;
      this.reconnectDelayMs = null;
      this._open();
    });
    this._setState('reconnecting');
  }

  _clearReconnect() {
    this._clear('reconnect');
    this.reconnectAt = null;
    this.reconnectDelayMs = null;
  }

  _scheduleHeartbeat() {
    this._timer('ping', this.heartbeatInterval, () => {
      if (!this.isConnected) return;
      this._send('ping', {});
      if (!this._timers.deadline) this._timer('deadline', this.heartbeatTimeout, () => this._declareDead('heartbeat timeout'));
      this._scheduleHeartbeat();
    });
  }

  /** Send remembered subscriptions with their last seq; seq-less assets with equal options share one message. */
  _sendSubscriptions(channels) {
    const batches = new Map();
    let ok = true;
    for (const channel of channels) {
      const sub = this._subs.get(channel);
      if (!sub) continue;
      const seq = this._seq.get(channel);
      if (sub.kind === 'asset' && seq === undefined) {
        const key = JSON.stringify(sub.extra);
        if (!batches.has(key)) batches.set(key, { extra: sub.extra, symbols: [] });
        batches.get(key).symbols.push(sub.id);
        continue;
      }
      const base = sub.kind === 'asset' ? { symbol: sub.id } : { portfolio_id: sub.id };
      const resume = seq === undefined ? {} : { last_seq: seq };
      ok = this._send(`subscribe_${sub.kind}`, { ...base, ...sub.extra, ...resume }) && ok;
    }
    for (const { extra, symbols } of batches.values()) {
      for (const part of chunks(symbols)) {
        const target = part.length === 1 ? { symbol: part[0] } : { symbols: part };
        ok = this._send('subscribe_asset', { ...target, ...extra }) && ok;
      }
    }
    return ok;
  }

  _forget(channel) {
    this._subs.delete(channel);
    this._seq.delete(channel); // a later re-subscribe should get a fresh snapshot, not an old replay
  }

  _send(type, data) {
    try {
      this._ws.send(JSON.stringify({ type, data, timestamp: new Date(this.clock.now()).toISOString() }));
      return true;
    } catch (error) {
      this._report('send', error.message, { error, type });
      return false;
    }
  }

  _teardown() {
    for (const name of ['connect', 'ping', 'deadline', 'stable']) this._clear(name);
    this._ws = null;
    this.connectionId = null;
  }

  _timer(name, ms, fn) {
    this._clear(name);
    this._timers[name] = this.clock.setTimeout(() => { this._timers[name] = null; fn(); }, ms);
  }

  _clear(name) {
    if (this._timers[name] != null) this.clock.clearTimeout(this._timers[name]);
    this._timers[name] = null;
  }

  _setState(next) {
    if (next === this.state) return;
    const prev = this.state;
    this.state = next;
    this.onStateChange(next, prev);
  }

  _report(kind, message, extra = {}) {
    this.lastError = { kind, message, ...extra };
    try { this.onError(this.lastError); } catch { /* a failing error callback must not break the socket */ }
  }
}

export { PricewireSocket as PersonalFinanceWebSocket };
export default PricewireSocket;
