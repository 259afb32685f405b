"""Side-by-side peers for the benchmark: the reference's stack (Channels on daphne) and a bare gevent relay."""
