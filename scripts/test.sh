#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's Chromium, Dovecot and fonts) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv  # an existing (or linked) venv is reused
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements-dev.txt
# Debian packages the tests drive for real: Chromium (browser tests), Dovecot (IMAP polling),
# DejaVu fonts (invoice PDFs). Installed once, when missing and when we may.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)  # the crash suite's own Redis
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null) || echo "could not install ${need[*]}; their tests will skip or fail"
fi
# The tests start the product again and again (the CLI, gunicorn, RQ workers, schedulers): with
# byte-code caching off in the environment, each of those processes compiled the project's ~230
# modules anew (0.3 s of CPU). The byte-code goes to __pycache__ (ignored by git).
unset PYTHONDONTWRITEBYTECODE
# In parallel on every core (pytest-xdist); `loadgroup` keeps each xdist_group (the crash suite,
# the browser tests) on one worker; `--durations=25` prints the slowest tests of every run.
# Arguments are passed on: `bash scripts/test.sh tests/test_x.py`.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup --durations=25 "$@"
