#!/usr/bin/env bash
# The developer install (tests, lint, offline encoders, test media) into the active Python environment
# (use a venv); users who only run mer need `pip install .` after torch (see README, "Install").
#
# torch comes first so the requirements' `torch>=2.1` is already met by the build you chose. TORCH_SPEC
# (default: the CPU build this project is tested with) is taken from a local wheel when pip has one
# (pip's find-links), else from the PyTorch CPU index. On a GPU machine set TORCH_SPEC=torch to take
# your platform's default (CUDA) build from the package index instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"
spec="${TORCH_SPEC:-torch==2.13.0}"
if [ -n "${TORCH_SPEC:-}" ]; then
    python -m pip install "$spec"
elif python -m pip install --no-index --no-deps "$spec" 2>/dev/null; then
    python -m pip install "$spec"  # the local wheel is in; its own dependencies come from the package index
else
    echo "no local $spec wheel: taking the CPU build from $TORCH_CPU_INDEX" >&2
    python -m pip install "$spec" --index-url "$TORCH_CPU_INDEX"
fi
# mer's one distribution now holds mer_builder too; drop a builder installed on its own by an older checkout.
if python -m pip show --quiet mer-builder 2>/dev/null; then python -m pip uninstall --yes mer-builder; fi
python -m pip install -r requirements-dev.txt -r requirements-offline.txt
python -m pip install --no-deps -r requirements-offline-nodeps.txt -r requirements-dev-nodeps.txt
python -c "import mer, mer_builder, torch; print('mer installed; torch', torch.__version__)"
