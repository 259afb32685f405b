"""A minimal Django Channels relay configured as the reference configures it (run by daphne, bench venv)."""
