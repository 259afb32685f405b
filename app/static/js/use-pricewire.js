/**
 * React hook over PricewireSocket. React is a peer dependency that is passed in (createUsePricewire)
 * or read from globalThis.React, never imported by bare specifier, so this loads in a browser as-is.
 */
import { PricewireSocket, normalizeSymbol, normalizeUpdate, resolveClock } from './pricewire-client.js';

export const initialState = Object.freeze({
  connectionState: 'idle',
  isConnected: false,
  reconnectAt: null,
  reconnectInMs: null,
  connectionId: null,
  lastMessage: null,
  connectionError: null,
  authRequired: false,
  feedStatus: null,
  assetPrices: {},
  portfolioValues: {},
});

const isStale = (prev, next) => !next.snapshot && prev?.seq != null && next.seq != null && Number(next.seq) <= Number(prev.seq);

/** State after one server message (pure). Replayed/duplicate updates (seq not newer, no snapshot) are ignored. */
export function applyMessage(state, message) {
  const data = message?.data ?? {};
  const next = { ...state, lastMessage: message };
  switch (message?.type) {
    case 'connection':
      return { ...next, connectionId: data.connection_id ?? null, connectionError: null, authRequired: false };
    case 'asset_update': {
      const symbol = normalizeSymbol(data.symbol);
      if (!symbol || isStale(state.assetPrices[symbol], data)) return next;
      return { ...next, assetPrices: { ...state.assetPrices, [symbol]: normalizeUpdate(data) } };
    }
    case 'portfolio_update': {
      const id = data.portfolio_id;
      if (id == null || isStale(state.portfolioValues[id], data)) return next;
      return { ...next, portfolioValues: { ...state.portfolioValues, [id]: normalizeUpdate(data) } };
    }
    case 'feed_status':
      return { ...next, feedStatus: data };
    case 'error':
      return { ...next, connectionError: { kind: 'server', ...data } };
    default:
      return next;
  }
}

/** State after a connection-state change reported by the client (pure). */
export function applyConnectionState(state, { state: connectionState, reconnectAt = null, reconnectInMs = null }) {
  const open = connectionState === 'open';
  return {
    ...state,
    connectionState,
    isConnected: open,
    reconnectAt,
    reconnectInMs,
    connectionId: open ? state.connectionId : null,
    connectionError: open ? null : state.connectionError,
  };
}

/** Drop cached values of channels the page unsubscribed from, so nothing frozen stays on screen (pure). */
export function forgetChannels(state, kind, ids) {
  const key = kind === 'asset' ? 'assetPrices' : 'portfolioValues';
  const copy = { ...state[key] };
  for (const id of ids) delete copy[kind === 'asset' ? normalizeSymbol(id) : id];
  return { ...state, [key]: copy };
}

/** The hook's reducer: actions message | state | error | auth_required | tick | forget. */
export function reducer(state, action) {
  switch (action.type) {
    case 'message': return applyMessage(state, action.message);
    case 'state': return applyConnectionState(state, action);
    case 'error': return { ...state, connectionError: action.error };
    case 'auth_required': return { ...state, authRequired: true };
    case 'tick':
      return state.reconnectAt == null ? state : { ...state, reconnectInMs: Math.max(0, state.reconnectAt - action.now) };
    case 'forget': return forgetChannels(state, action.kind, action.ids);
    default: return state;
  }
}

const asList = (value) => (Array.isArray(value) ? value : [value]);
const CALLBACKS = ['onConnect', 'onDisconnect', 'onError', 'onMessage', 'onStateChange', 'onAuthRequired'];

/** Build usePricewire(url, options) for the given React (needs useReducer, useRef, useEffect, useCallback). */
export function createUsePricewire(React) {
  const { useReducer, useRef, useEffect, useCallback } = React;

  return function usePricewire(url, options = {}) {
    const [state, dispatch] = useReducer(reducer, initialState);
    const clientRef = useRef(null);
    const wantedRef = useRef(new Map()); // channel -> [kind, id, opts]; survives url changes and early calls
    const optionsRef = useRef(options);
    optionsRef.current = options;

    useEffect(() => {
      let active = true; // no dispatch after unmount / url change
      const send = (action) => { if (active) dispatch(action); };
      const call = (name, ...args) => optionsRef.current[name]?.(...args);
      const passThrough = Object.fromEntries(CALLBACKS.map((name) => [name, (...args) => call(name, ...args)]));
      const client = new PricewireSocket({
        ...optionsRef.current,
        ...passThrough,
        url,
        onStateChange: (next, prev) => {
          send({ type: 'state', state: next, reconnectAt: client.reconnectAt, reconnectInMs: client.reconnectInDelayMs });
          call('onStateChange', next, prev);
        },
        onMessage: (message) => { send({ type: 'message', message }); call('onMessage', message); },
        onError: (error) => { send({ type: 'error', error }); call('onError', error); },
        onAuthRequired: (info) => { send({ type: 'auth_required', info }); call('onAuthRequired', info); },
      });
      for (const [kind, id, opts] of wantedRef.current.values()) {
        if (kind === 'asset') client.subscribeToAsset(id, opts);
        else client.subscribeToPortfolio(id, opts);
      }
      clientRef.current = client;
      if (optionsRef.current.autoConnect !== false) client.connect();
      return () => {
        active = false;
        if (clientRef.current === client) clientRef.current = null;
        client.disconnect();
      };
    }, [url]);

    // Re-render about once a second while waiting, so "reconnecting in N s" counts down.
    useEffect(() => {
      if (state.connectionState !== 'reconnecting' || state.reconnectAt == null) return undefined;
      const clock = resolveClock(optionsRef.current);
      let timer = null;
      const tick = () => {
        const now = clock.now();
        dispatch({ type: 'tick', now });
        if (state.reconnectAt > now) timer = clock.setTimeout(tick, Math.min(1000, state.reconnectAt - now));
      };
      timer = clock.setTimeout(tick, Math.min(1000, Math.max(0, state.reconnectAt - clock.now())));
      return () => clock.clearTimeout(timer);
    }, [state.connectionState, state.reconnectAt]);

    const subscribeToAsset = useCallback((symbols, opts = {}) => {
      for (const id of asList(symbols).map(normalizeSymbol).filter(Boolean)) wantedRef.current.set(`asset:${id}`, ['asset', id, opts]);
      return clientRef.current ? clientRef.current.subscribeToAsset(symbols, opts) : false;
    }, []);

    const unsubscribeFromAsset = useCallback((symbols) => {
      const ids = asList(symbols).map(normalizeSymbol).filter(Boolean);
      for (const id of ids) wantedRef.current.delete(`asset:${id}`);
      dispatch({ type: 'forget', kind: 'asset', ids });
      return clientRef.current ? clientRef.current.unsubscribeFromAsset(ids) : false;
    }, []);

    const subscribeToPortfolio = useCallback((portfolioId, opts = {}) => {
      wantedRef.current.set(`portfolio:${portfolioId}`, ['portfolio', portfolioId, opts]);
      return clientRef.current ? clientRef.current.subscribeToPortfolio(portfolioId, opts) : false;
    }, []);

    const unsubscribeFromPortfolio = useCallback((portfolioId) => {
      wantedRef.current.delete(`portfolio:${portfolioId}`);
      dispatch({ type: 'forget', kind: 'portfolio', ids: [portfolioId] });
      return clientRef.current ? clientRef.current.unsubscribeFromPortfolio(portfolioId) : false;
    }, []);

    const sendMessage = useCallback((type, data = {}) => {
      // Subscription messages go through the hook so they are remembered across url changes too.
      switch (type) {
        case 'subscribe_asset': return subscribeToAsset(data.symbols ?? data.symbol, data);
        case 'unsubscribe_asset': return unsubscribeFromAsset(data.symbols ?? data.symbol);
        case 'subscribe_portfolio': return subscribeToPortfolio(data.portfolio_id, data);
        case 'unsubscribe_portfolio': return unsubscribeFromPortfolio(data.portfolio_id);
        default: return clientRef.current ? clientRef.current.sendMessage(type, data) : false;
      }
    }, []);

    return {
      ...state,
      subscribeToAsset,
      subscribeToPortfolio,
      unsubscribeFromAsset,
      unsubscribeFromPortfolio,
      sendMessage,
    };
  };
}

const hooksByReact = new WeakMap();

/** usePricewire for pages that load React as a global (UMD build): uses globalThis.React. */
export function usePricewire(url, options) {
  const React = globalThis.React;
  if (!React?.useReducer) throw new Error('usePricewire: globalThis.React not found; use createUsePricewire(React)');
  if (!hooksByReact.has(React)) hooksByReact.set(React, createUsePricewire(React));
  return hooksByReact.get(React)(url, options);
}

export default usePricewire;
