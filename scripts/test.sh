#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's Chromium for browser tests) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed; browser tests will skip or fail"
fi
if [ ! -x /usr/sbin/dovecot ] && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && apt-get install -y -qq dovecot-imapd >/dev/null) || echo "dovecot-imapd not installed; IMAP tests will skip or fail"
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
