"""Browser tests: the real app on a real port, driven by Debian's Chromium through Playwright."""
