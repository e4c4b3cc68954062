#!/usr/bin/env bash
# The main job on the embedded defaults: the daemon on the built-in synthetic store camera.
# Extra arguments go to `edge-app demo` (e.g. --duration 30 --no-live).
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_venv onnx
cd "$REPO_ROOT"
exec "$VENV/bin/edge-app" demo "$@"
