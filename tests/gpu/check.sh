#!/usr/bin/env bash
# Everything a GPU machine must verify, in one run (the steps' time limits add up to 8 minutes; each
# step prints its seconds):
#   bash tests/gpu/check.sh            # from the repository root, with cupy installed
# 1. installs mfbench into the current python3 without touching its dependencies and without a
#    build environment (the GPU machine has no network: --no-build-isolation uses its setuptools);
# 2. says which cupy distributions are installed (exactly one is right: mfbench[gpu12] or [gpu13]);
# 3. runs every GPU test (pytest -m gpu: parity of each GPU path with the CPU, the CUDA kernel,
#    the memory probe; with MFBENCH_REQUIRE_GPU=1 a test that cannot reach the GPU fails rather
#    than skips), the conformance suite's GPU cases (every GPU algorithm's checks on the device),
#    then the GPU-path tests that also run on the numpy stand-in;
# 4. runs the GPU benchmarks: CPU (numba) against GPU in one table, data drawn on the GPU;
# 5. runs `mfbench run --algos als,adam_sgd --dataset ml-100k --device gpu`.
# MovieLens comes from MFBENCH_DATA_DIR, else from .gpu-data/ in the checkout (git-ignored: only
# the checkout travels to a GPU machine, so `bash tests/gpu/carry-data.sh` copies ml-100k there
# and the run carries it), else ../shared/data. CI=true is set, so a test that needs the data
# fails instead of skipping when it is missing.
# The output goes to the terminal and to $OUT/gpu-check.log when OUT is set. Exits non-zero
# when any step fails, after running the others. MFBENCH_CHECK_UNTIL=install stops after the
# install and a CPU smoke run (tests/gpu/rehearse.sh runs that much in CI, without a GPU).
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-}"
log=/dev/null
if [ -n "$out" ]; then mkdir -p "$out"; log="$out/gpu-check.log"; fi
py="${PYTHON:-python3}"
status=0
table="| step | exit | seconds | limit |"$'\n'"| --- | --- | --- | --- |"
# step NAME LIMIT_SECONDS COMMAND...: each step with its own time limit (exit 124 when it ran
# past it), so that one slow step cannot eat the others' time; every step lands in the table
step() {
    local name="$1" limit="$2"; shift 2
    echo "### $name: $*" | tee -a "$log"
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "### $name: exit $rc in $((SECONDS - started)) s" | tee -a "$log"
    table+=$'\n'"| $name | $rc | $((SECONDS - started)) | $limit |"
    [ "$rc" -eq 0 ] || status=1
}
finish() {
    echo "$table" | tee -a "$log"
    if [ -n "$out" ]; then echo "$table" > "$out/gpu-check-table.md"; fi
    echo "### gpu check$1: $([ $status -eq 0 ] && echo passed || echo FAILED)" | tee -a "$log"
    exit $status
}

step install 60 "$py" -m pip install --no-deps --no-build-isolation --quiet -e .
if [ "${MFBENCH_CHECK_UNTIL:-}" = install ]; then
    smoke="$(mktemp -d)"
    MFBENCH_CACHE_DIR="$smoke/cache" step smoke 120 "$py" -m mfbench run --algos biases,sgd --data-param synthetic.n_ratings=20000 \
        --out "$smoke" --quiet --no-calibrate
    step conformance-selection 60 "$py" -m pytest -q -p no:cacheprovider --collect-only tests/conformance -k "gpu or devices_agree"
    finish " (until install)"
fi
step cupy 30 "$py" -c "
import importlib.metadata as md, cupy
from mfbench.devices import describe_gpu, driver_cuda_major
names = sorted({d.metadata['Name'] for d in md.distributions() if d.metadata['Name'].lower().startswith('cupy')})
print('cupy distributions:', names, '| driver CUDA', driver_cuda_major(), '|', describe_gpu())
assert len(names) == 1, 'more than one cupy distribution: keep the one of the driver (mfbench[gpu12] or [gpu13])'
"
data="${MFBENCH_DATA_DIR:-}"
if [ -z "$data" ]; then
    if [ -d .gpu-data/ml-100k ]; then data="$PWD/.gpu-data"; else data="../shared/data"; fi
fi
export CI="${CI:-true}"  # the real-data tests fail, never skip, when the data is missing
# platformdirs (the cache folder's default) is not on the GPU machine: name the cache folder
export MFBENCH_CACHE_DIR="${MFBENCH_CACHE_DIR:-$(mktemp -d)}"
export MFBENCH_DATA_DIR="$data"
export MFBENCH_REQUIRE_GPU=1  # a GPU test that cannot reach the GPU fails here instead of skipping
step gpu-tests 120 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/unit tests/integration
# the conformance cases that run on the device: the parametrized [gpu] ones, and the check that
# compares the devices (not parametrized; tests/unit/test_gpu_check.py holds this selection)
conformance_gpu_k="gpu or devices_agree"
step conformance-gpu 60 "$py" -m pytest -q -p no:cacheprovider tests/conformance -k "$conformance_gpu_k"
step gpu-paths 45 "$py" -m pytest -q -p no:cacheprovider tests/unit/test_gpu_paths.py tests/unit/test_gpu_plans.py tests/unit/test_gpu_sgd.py tests/unit/test_gpu_minibatch.py
MFBENCH_BENCH_SCALE="${MFBENCH_BENCH_SCALE:-0.25}" step benchmarks 120 "$py" -m pytest -q -p no:cacheprovider -s \
    tests/benchmarks/test_gpu_scale.py
dataset=synthetic
if [ -d "$data/ml-100k" ]; then dataset=ml-100k; fi
results="$(mktemp -d)"
step mfbench-run 45 "$py" -m mfbench run --algos als,adam_sgd --dataset "$dataset" --device gpu --out "$results" --quiet
finish ""
