#!/usr/bin/env bash
# Builds the r2e wheel, installs it into a fresh virtual environment and runs
# the Python tests from there (not from the source tree), so that a missing
# packaging step fails. Needs Docker, the base image, and the r2e CLI built
# (cargo build -p r2e-cli) for the demo tasks; uv and maturin come from PyPI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
for tool in uv maturin; do
  command -v "$tool" >/dev/null || "$python" -m pip install -q "$tool"
done
wheels="$root/target/wheels"
rm -rf "$wheels"
maturin build --manifest-path "$here/Cargo.toml" --out "$wheels" "$@"
venv="$(mktemp -d)/venv"
uv venv -q --python "$python" "$venv"
uv pip install -q --python "$venv/bin/python" "$wheels"/r2e-*.whl pytest
cd "$(mktemp -d)"
R2E_BIN="${R2E_BIN:-$root/target/debug/r2e}" "$venv/bin/python" -m pytest -q "$here/tests"
