#!/usr/bin/env bash
# One-command install of mmdtme and the OpenMMLab stack it runs on, into the active Python.
#
#   bash tools/install.sh
#
# mmcv 2.1.0 only ships an sdist on PyPI and its compiled ops are needed by mmseg at import time,
# so it is built here once (about 11 minutes on 2 CPU cores) and the wheel is cached under
#   ${MMDTME_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/mmdtme}/wheels/<mmcv>-<torch>-<python>/
# Later runs reuse that wheel and finish in seconds.
set -euo pipefail

PYTHON=${PYTHON:-python}
PIP=("$PYTHON" -m pip)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
CACHE_DIR=${MMDTME_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdtme}

say() { printf '\n[mmdtme install] %s\n' "$*"; }

# Returns 0 when every "name==version" requirement given is already installed.
installed() {
    "$PYTHON" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for req in sys.argv[1:]:
    name, _, wanted = req.partition('==')
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if wanted and have.split('+')[0] != wanted:
        sys.exit(1)
EOF
}

say "python: $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

if installed "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"; then
    say "torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION already installed"
else
    say "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION"
    "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# mmcv's setup.py imports pkg_resources (removed in setuptools 82) and mmengine uses it at run time;
# torch 2.14 needs setuptools >= 77.0.3.
say "build tools: setuptools>=77.0.3,<82, wheel, ninja"
"${PIP[@]}" install -q "setuptools>=77.0.3,<82" wheel ninja

PY_TAG=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
TORCH_TAG=$("$PYTHON" -c 'import torch; print(torch.__version__.replace("+", "_"))')
WHEEL_DIR="$CACHE_DIR/wheels/mmcv-$MMCV_VERSION-torch$TORCH_TAG-$PY_TAG"

mmcv_ops_import() {
    "$PYTHON" -c 'import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != "'"$MMCV_VERSION"'")' 2>/dev/null
}

if mmcv_ops_import; then
    say "mmcv $MMCV_VERSION with compiled ops already installed"
else
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $MMCV_VERSION with ops from source: this takes about 11 minutes on 2 cores, once"
        BUILD_DIR=$(mktemp -d)
        trap 'rm -rf "$BUILD_DIR"' EXIT
        "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
        tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
        SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
        # torch 2.14's headers need C++20; mmcv 2.1.0 hard-codes C++17.
        sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        mkdir -p "$WHEEL_DIR"
        (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} \
            "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$WHEEL_DIR.partial" .)
        mv "$WHEEL_DIR.partial"/mmcv-*.whl "$WHEEL_DIR"/ && rmdir "$WHEEL_DIR.partial"
        say "cached $(ls "$WHEEL_DIR"/mmcv-*.whl)"
    else
        say "reusing cached mmcv wheel $(ls "$WHEEL_DIR"/mmcv-*.whl)"
    fi
    "${PIP[@]}" install "$WHEEL_DIR"/mmcv-*.whl
fi

say "runtime and test requirements (mmengine, mmsegmentation, timm, ...)"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

say "mmdtme itself (editable)"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"

say "checking the stack imports"
"$PYTHON" - <<'EOF'
import mmcv, mmcv.ops, mmengine, mmseg, mmseg.models, mmseg.datasets, timm, torch
import mmdtme
print(f'torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmseg {mmseg.__version__}, timm {timm.__version__}, mmdtme {mmdtme.__version__}')
EOF
say "done"
