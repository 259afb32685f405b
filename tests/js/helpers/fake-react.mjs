/**
 * Tiny synchronous stand-in for React's hook runtime: one component, hooks by call order,
 * effects after each render (cleanup on deps change/unmount), state updates re-render synchronously.
 */
const depsChanged = (a, b) => !a || !b || a.length !== b.length || a.some((v, i) => !Object.is(v, b[i]));

export function createFakeReact() {
  let current = null;

  function slot(init) {
    const inst = current;
    const i = inst.index++;
    if (!(i in inst.slots)) inst.slots[i] = init(inst);
    return inst.slots[i];
  }

  const React = {
    useReducer(reducer, initialArg, init) {
      const s = slot((inst) => {
        const cell = { state: init ? init(initialArg) : initialArg };
        cell.dispatch = (action) => {
          if (inst.unmounted) throw new Error('dispatch after unmount');
          const next = reducer(cell.state, action);
          if (Object.is(next, cell.state)) return;
          cell.state = next;
          inst.requestRender();
        };
        return cell;
      });
      return [s.state, s.dispatch];
    },
    useState(initial) {
      return React.useReducer((s, a) => (typeof a === 'function' ? a(s) : a), initial, (v) => (typeof v === 'function' ? v() : v));
    },
    useRef(initial) { return slot(() => ({ current: initial })); },
    useMemo(fn, deps) {
      const s = slot(() => ({ deps: undefined, value: undefined }));
      if (depsChanged(s.deps, deps)) { s.value = fn(); s.deps = deps; }
      return s.value;
    },
    useCallback(fn, deps) { return React.useMemo(() => fn, deps); },
    useEffect(fn, deps) {
      const s = slot(() => ({ deps: undefined, cleanup: undefined, first: true }));
      if (s.first || depsChanged(s.deps, deps)) {
        s.first = false;
        s.deps = deps;
        current.pendingEffects.push(s);
        s.fn = fn;
      }
    },
  };

  /** Render hook(...args); returns {result, renders, rerender(...args), unmount()}. */
  function renderHook(hook, ...args) {
    const inst = { slots: [], index: 0, pendingEffects: [], busy: false, dirty: false, unmounted: false, renders: 0, args, result: undefined };
    inst.requestRender = () => {
      if (inst.busy) inst.dirty = true;
      else render();
    };
    function render() {
      inst.busy = true;
      try {
        do {
          inst.dirty = false;
          inst.index = 0;
          current = inst;
          try { inst.result = hook(...inst.args); } finally { current = null; }
          inst.renders += 1;
          for (const effect of inst.pendingEffects.splice(0)) {
            effect.cleanup?.();
            effect.cleanup = effect.fn();
          }
        } while (inst.dirty && !inst.unmounted);
      } finally {
        inst.busy = false;
      }
    }
    render();
    return {
      get result() { return inst.result; },
      get renders() { return inst.renders; },
      rerender(...nextArgs) { inst.args = nextArgs; render(); },
      unmount() {
        inst.unmounted = true; // dispatches from cleanups are bugs too (React ignores them)
        inst.busy = true;
        for (const s of inst.slots) s?.cleanup?.();
      },
    };
  }

  return { React, renderHook };
}
