#!/usr/bin/env bash
# The GPU check in one command: bash tools/gpu_check.sh [--out DIR] [--config CONFIG] [--iters N] [--force]
# (see tools/gpu_check.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python tools/gpu_check.py "$@"
