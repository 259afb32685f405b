"""Shared test helpers: service discovery, polling, subprocess servers."""
