#!/usr/bin/env bash
# A rehearsal of tests/gpu/check.sh on a machine without a GPU (CI runs it): an environment with
# only the GPU machine's packages (tests/gpu/machine-packages.txt, no pooch or platformdirs), the
# checkout installed exactly as check.sh installs it with the package index switched off (the GPU
# machine has no network), then check.sh up to the point where it needs cupy: the install, a
# CPU smoke run through the command line and the selection of the device's conformance cases.
set -euo pipefail
cd "$(dirname "$0")/../.."
env_dir="${REHEARSAL_ENV:-$(mktemp -d)/gpu-like}"
python3 -m venv "$env_dir"
grep -v '^#' tests/gpu/machine-packages.txt | xargs "$env_dir/bin/pip" install -q
for absent in pooch platformdirs; do
    if "$env_dir/bin/python" -c "import $absent" 2>/dev/null; then
        "$env_dir/bin/pip" uninstall -q -y "$absent"  # a dependency of the list pulled it in
    fi
done
export PIP_NO_INDEX=1  # from here on, as on the GPU machine: nothing can be downloaded
PYTHON="$env_dir/bin/python" MFBENCH_CHECK_UNTIL=install bash tests/gpu/check.sh
