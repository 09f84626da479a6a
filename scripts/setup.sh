#!/usr/bin/env bash
# Installs everything the hotline needs on a fresh Debian or Ubuntu machine, as root.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: its systemd-analyze checks the units scripts/install.sh writes (tests/test_ops_install.py).
APT_PACKAGES=(ffmpeg sox libsox-fmt-all espeak-ng chromium chromium-driver python3 python3-venv python3-pip nginx openssl
              systemd)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# npm installs the web UI's browser-side files (below); any Node 18+ will do, Debian's if none is there.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version))"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv (log: .venv/pip.log)"
  if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install -e '.[dev]'; } >.venv/pip.log 2>&1; then
    tail -40 .venv/pip.log
    echo "setup: pip install failed; the whole log is in .venv/pip.log"
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Browser-side packages from npm (web/package.json, pinned by web/package-lock.json): the web UI serves
# them itself, never from a CDN, and the browser tests inject axe-core from here.
wstamp=web/node_modules/.installed-$(cat web/package.json web/package-lock.json | sha256sum | cut -c1-16)
if [ ! -f "$wstamp" ]; then
  echo "setup: installing web assets from npm into web/node_modules (log: web/npm.log)"
  if ! (cd web && npm ci --no-audit --no-fund) >web/npm.log 2>&1; then
    tail -20 web/npm.log
    echo "setup: npm ci failed; the whole log is in web/npm.log"
    exit 1
  fi
  rm -f web/node_modules/.installed-*
  touch "$wstamp"
fi
