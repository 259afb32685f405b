"""Browser tests: Playwright driving Debian Chromium against the embedded server."""
