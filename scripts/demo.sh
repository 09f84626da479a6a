#!/usr/bin/env bash
# Sets everything up, then runs the demo: the Asterisk emulator, the engine, the web UI
# and the transcription worker, with a few scripted calls. Open the printed address.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ivr demo "$@"
