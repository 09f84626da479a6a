#!/usr/bin/env bash
# Sets everything up, then runs the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check ivr tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
