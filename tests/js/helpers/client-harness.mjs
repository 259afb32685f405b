/** A PricewireSocket wired to a fake WebSocket class, a fake clock and recorded callbacks. */
import { PricewireSocket } from '../../../app/static/js/pricewire-client.js';
import { createFakeClock } from './fake-clock.mjs';
import { createFakeWebSocketClass } from './fake-websocket.mjs';

export function makeClient(options = {}) {
  const clock = createFakeClock();
  const WS = createFakeWebSocketClass();
  const events = { states: [], disconnects: [], errors: [], messages: [], connects: 0, authRequired: [] };
  const client = new PricewireSocket({
    url: 'ws://test/ws/realtime/',
    WebSocketImpl: WS,
    clock,
    random: () => 1,
    onStateChange: (state) => events.states.push(state),
    onDisconnect: (info) => events.disconnects.push(info),
    onError: (err) => events.errors.push(err),
    onMessage: (msg) => events.messages.push(msg),
    onConnect: () => { events.connects += 1; },
    onAuthRequired: (info) => events.authRequired.push(info),
    ...options,
  });
  /** The socket currently in use (the newest one created). */
  const ws = () => WS.last;
  /** Connect (if idle) and complete the handshake on the newest socket. */
  const open = (hello = {}) => {
    if (client.state === 'idle' || client.state === 'closed') client.connect();
    ws().serverOpen();
    ws().serverHello(hello);
    return ws();
  };
  /** Let the pending reconnect timer fire and return the new socket (not yet open). */
  const fireReconnect = () => {
    const before = WS.instances.length;
    clock.advance(client.reconnectInDelayMs);
    if (WS.instances.length !== before + 1) throw new Error(`expected a new socket, state=${client.state}`);
    return ws();
  };
  return { client, clock, WS, ws, open, fireReconnect, events };
}
