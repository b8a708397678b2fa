#!/usr/bin/env bash
# Install and run the product on its embedded default: SQLite under instance/, service tasks in-process,
# every diagram in bpmn/ deployed, demo users seeded; serves http://127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv  # reuse an existing one
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements.txt
# Invoice PDFs need a TrueType font with Cyrillic (INVOICE_FONT); Debian's DejaVu by default.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && apt-get install -y -qq fonts-dejavu-core >/dev/null) || echo "fonts-dejavu-core not installed; set INVOICE_FONT"
fi
export FLASK_APP=web
.venv/bin/flask --app web init-db
.venv/bin/flask --app web deploy bpmn/
.venv/bin/flask --app web demo
exec .venv/bin/flask --app web run --host 127.0.0.1 --port 5000
