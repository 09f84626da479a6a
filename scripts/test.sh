#!/usr/bin/env bash
# Sets everything up, then runs the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Real Asterisk 22 for the tests marked `asterisk`: built from ../shared/asterisk once per machine (the build
# script returns at once when it is already installed). Run after setup.sh, never beside it: both use apt-get.
if [ -d ../shared/asterisk ] || [ "${IVR_TEST_ASTERISK:-}" = 1 ]; then
  echo "== asterisk"
  [ -f ../shared/asterisk/build.sh ] || { echo "IVR_TEST_ASTERISK=1 but ../shared/asterisk/build.sh is missing"; exit 1; }
  bash ../shared/asterisk/build.sh
fi
echo "== ruff"
.venv/bin/ruff check ivr tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# -rs prints why anything was skipped (a clone without Asterisk skips the real-server tests, with the reason).
# Two workers, a test file each at a time: the real-server tests spend most of their time waiting on real
# calls, so they overlap well on two cores (IVR_TEST_WORKERS=0 runs everything in this one process).
workers=${IVR_TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
  exec .venv/bin/pytest -rs "$@"
fi
exec .venv/bin/pytest -rs -n "$workers" --dist loadfile "$@"
