"""Infrastructure: the bus and the Redis-backed stores, one class per backend (memory for embedded mode, Redis).

It sits between the pure layers (`protocol`, `models`) and the processes that use it (`app`, `tasks`):
it may import Flask and redis, never `app` or `tasks`.
"""
