/** Deterministic clock: timers fire only when the test calls advance(). */
export function createFakeClock(start = 1_700_000_000_000) {
  let now = start;
  let nextId = 1;
  const timers = new Map(); // id -> {at, fn, order}

  const clock = {
    now: () => now,
    setTimeout(fn, ms = 0) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn, order: id });
      return id;
    },
    clearTimeout(id) { timers.delete(id); },
    /** Move time forward by ms, firing due timers in time order (timers set meanwhile included). */
    advance(ms) {
      const target = now + ms;
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, t]) => t.at <= target)
          .sort(([, a], [, b]) => a.at - b.at || a.order - b.order)[0];
        if (!due) break;
        const [id, timer] = due;
        timers.delete(id);
        now = timer.at;
        timer.fn();
      }
      now = target;
    },
    /** Delays (ms from now) of the pending timers, soonest first. */
    pendingDelays() { return [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b); },
    get pendingCount() { return timers.size; },
  };
  return clock;
}

/** random() that returns the given values in turn (the last one repeats). */
export function sequenceRandom(...values) {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}
