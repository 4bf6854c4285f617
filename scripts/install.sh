#!/usr/bin/env bash
# Install mer and everything it needs into the active Python environment (use a venv).
# torch comes first so the requirements' `torch>=2.1` is already met by the build you chose:
# TORCH_SPEC defaults to the CPU build this project is tested with; set it (e.g. TORCH_SPEC=torch)
# to take your platform's default build instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -m pip install "${TORCH_SPEC:-torch==2.13.0}"
# mer's one distribution now holds mer_builder too; drop a builder installed on its own by an older checkout.
if python -m pip show --quiet mer-builder 2>/dev/null; then python -m pip uninstall --yes mer-builder; fi
python -m pip install -r requirements-dev.txt -r requirements-offline.txt
python -m pip install --no-deps -r requirements-offline-nodeps.txt
python -c "import mer, mer_builder, torch; print('mer installed; torch', torch.__version__)"
