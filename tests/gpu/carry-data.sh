#!/usr/bin/env bash
# Copy ml-100k into .gpu-data/ of this checkout (git-ignored) so that a GPU machine, which gets
# only the checkout, has it: carry .gpu-data with the run, and tests/gpu/check.sh finds it.
set -euo pipefail
cd "$(dirname "$0")/../.."
src="${MFBENCH_DATA_DIR:-../shared/data}"
if [ ! -f "$src/ml-100k/u.data" ]; then
    echo "no ml-100k in $src (set MFBENCH_DATA_DIR to the folder holding ml-100k/)" >&2
    exit 1
fi
mkdir -p .gpu-data
rm -rf .gpu-data/ml-100k
cp -r "$src/ml-100k" .gpu-data/ml-100k
du -sh .gpu-data
