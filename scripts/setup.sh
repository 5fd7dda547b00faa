#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a venv in .venv with the pinned stack, the package in editable mode.
# Usage: bash scripts/setup.sh [--browser]   (--browser also installs Debian's Chromium for the UI tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--browser" ]; then
  bash scripts/install_browser.sh
fi
