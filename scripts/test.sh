#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (private mosquitto and PostgreSQL
# servers are started by the tests themselves on free 127.0.0.1 ports). Extra arguments go
# to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_venv dev
ensure_mosquitto
ensure_chromium
ensure_postgresql
ensure_promtool
ensure_pycuda
cd "$REPO_ROOT"
echo "== ruff"; "$VENV/bin/ruff" check edge_app tests
"$VENV/bin/ruff" format --check edge_app tests
echo "== mypy"; "$VENV/bin/mypy"
echo "== layers"; "$VENV/bin/lint-imports" --no-cache
echo "== pytest"; exec "$VENV/bin/python" -m pytest "$@"
