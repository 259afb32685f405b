/** Fake browser WebSocket: the test plays the server through serverOpen/serverSend/serverClose. */
export function createFakeWebSocketClass() {
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static instances = [];

    static get last() { return FakeWebSocket.instances.at(-1); }

    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closeCalls = [];
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      FakeWebSocket.instances.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error('InvalidStateError: socket not open');
      this.sent.push(JSON.parse(text));
    }

    close(code, reason) {
      this.closeCalls.push({ code, reason });
      this.readyState = 2;
    }

    /** Messages the client sent, optionally of one type. */
    sentOfType(type) { return this.sent.filter((m) => m.type === type); }

    serverOpen() {
      this.readyState = 1;
      this.onopen?.({ type: 'open' });
    }

    serverSend(type, data = {}) {
      this.serverSendRaw(JSON.stringify({ type, data, timestamp: '2024-01-01T00:00:00Z', connection_id: 'c-1' }));
    }

    serverSendRaw(text) { this.onmessage?.({ type: 'message', data: text }); }

    /** Server `connection` greeting. */
    serverHello(extra = {}) {
      this.serverSend('connection', { status: 'connected', connection_id: 'c-1', authenticated: true, user_id: 1, limits: {}, ...extra });
    }

    serverClose(code = 1006, reason = '', wasClean = code !== 1006) {
      this.readyState = 3;
      if (!wasClean) this.onerror?.({ type: 'error' });
      this.onclose?.({ type: 'close', code, reason, wasClean });
    }
  }
  return FakeWebSocket;
}
