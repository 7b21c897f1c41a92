#!/usr/bin/env bash
# The prepared GPU check of issue 16: environment, install, CUDA tests, benchmarks on cuda, CPU<->GPU
# agreement. docs/gpu.md says how to run it and what each part measures.
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh                              # on the GPU machine (~6 min)
#   OUT=/tmp/gpucheck_out GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh     # dry run: CPU, tiny sizes
#
# Settings (environment variables):
#   OUT               required: where the results go (created if missing)
#   GPU_CHECK_DRY=1   run every part on the CPU with tiny sizes (proves the script, not the GPU)
#   GPU_CHECK_BUDGET  seconds for the whole run (default 450); each part's own limit is cut to what is
#                     left, and a part with under 15 s left is skipped
#   GPU_CHECK_PARTS   space-separated subset of the part names below (default: all, in this order)
#   GPU_CHECK_INSTALL=0  skip `pip install -e .` and import the tree through PYTHONPATH
#   PYTHON            the interpreter (default python3)
# Parts, in order: env install pytest_cuda gpu_agreement sim_throughput pacecar_latency learner_cost pytest_related
#
# $OUT receives four files (the device tool returns at most eight), rewritten after every part so a run
# cut short still returns what finished: summary.md (headline figures against the issue's targets; also
# printed last), results.json (everything), figures.csv (figure,value) and logs.tar.gz (each part's log,
# JSON and junit XML). Every part runs under `timeout`; a part that fails or times out is recorded and
# the next one runs. Exit code: 0 when every part that ran exited 0, else 1.

set -u -o pipefail

cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
if [ -z "${OUT:-}" ]; then
    echo "gpu_check.sh: error: OUT: set it to the output directory" >&2
    exit 2
fi
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY:-0}
BUDGET=${GPU_CHECK_BUDGET:-450}
case "$BUDGET" in '' | *[!0-9]*)
    echo "gpu_check.sh: error: GPU_CHECK_BUDGET: expected whole seconds, got '$BUDGET'" >&2
    exit 2
    ;;
esac
for part in ${GPU_CHECK_PARTS:-}; do
    case " env install pytest_cuda gpu_agreement sim_throughput pacecar_latency learner_cost pytest_related " in
    *" $part "*) ;;
    *)
        echo "gpu_check.sh: error: GPU_CHECK_PARTS: unknown part '$part'" >&2
        exit 2
        ;;
    esac
done
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
DEADLINE=$((START + BUDGET))
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gpucheck.XXXXXX") || exit 2
mkdir -p "$STAGE/json" "$STAGE/junit" "$STAGE/logs"
: >"$STAGE/status.tsv"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
unset CI # not CI: tests of extras this machine lacks (SUMO, MuJoCo, gymnasium, pyglet) skip instead of failing
FAILED=0

if [ "$DRY" = 1 ]; then # tiny sizes on the CPU: every part and option runs, in a few minutes
    DEV=cpu
    SIM_WORKLOADS="16x10 4x50 1x2000" SIM_ROUNDS=2
    PACE_ENVS="4 16" PACE_REPEATS=2
    LC_EPOCHS=1 LC_WARMUP=1 LC_ENVS=8
    AG_STEPS=100 AG_ENVS=4
else # issue 16's sizes
    DEV=cuda
    SIM_WORKLOADS="1024x100 4096x1000 1x1000000" SIM_ROUNDS=5
    PACE_ENVS="64 4096" PACE_REPEATS=5
    LC_EPOCHS=10 LC_WARMUP=2 LC_ENVS=64
    AG_STEPS=1000 AG_ENVS=64
fi

publish() { # results.json, figures.csv, summary.md and logs.tar.gz in $OUT, from what has finished so far
    "$PY" benchmarks/gpu_summary.py --stage "$STAGE" --out "$OUT" "$@" 2>>"$STAGE/logs/summary.log" ||
        echo "gpu_check.sh: gpu_summary.py failed (see logs/summary.log)"
    tar -czf "$OUT/.logs.tar.gz.tmp" -C "$STAGE" . 2>/dev/null && mv -f "$OUT/.logs.tar.gz.tmp" "$OUT/logs.tar.gz"
}

wanted() { [ -z "${GPU_CHECK_PARTS:-}" ] || [[ " $GPU_CHECK_PARTS " == *" $1 "* ]]; }

run_part() { # run_part NAME LIMIT_S COMMAND...: the command under timeout, its output in logs/NAME.log
    local name=$1 limit=$2 note="" left rc t0 t1 secs
    shift 2
    wanted "$name" || return 0
    left=$((DEADLINE - $(date +%s) - 10)) # 10 s kept for the last summary
    if [ "$left" -lt 15 ]; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" 125 0 0 "skipped: budget spent" >>"$STAGE/status.tsv"
        echo "-- $name: skipped (budget spent)"
        FAILED=1
        return 0
    fi
    if [ "$limit" -gt "$left" ]; then
        limit=$left
        note="limit cut to the budget left; "
    fi
    echo "\$ $*" >"$STAGE/logs/$name.log"
    t0=$(date +%s%N)
    timeout --kill-after=10 "$limit" "$@" >>"$STAGE/logs/$name.log" 2>&1 </dev/null
    rc=$?
    t1=$(date +%s%N)
    secs=$(((t1 - t0) / 1000000))
    secs="$((secs / 1000)).$(printf '%03d' $((secs % 1000)))"
    case $rc in
    0) note="${note}ok" ;;
    124 | 137) note="${note}TIMED OUT after ${limit} s" ;;
    *) note="${note}FAILED (exit $rc)" ;;
    esac
    [ "$rc" = 0 ] || FAILED=1
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$limit" "$note" >>"$STAGE/status.tsv"
    echo "-- $name: $note, ${secs} s (limit ${limit} s)"
    if [ "$rc" != 0 ]; then tail -n 8 "$STAGE/logs/$name.log" | cut -c1-300 | sed 's/^/   | /'; fi
    publish --quiet
}

echo "gpu_check.sh: device $DEV, dry run $DRY, budget ${BUDGET} s, python $PY, stage $STAGE, out $OUT"

# 1. environment: interpreter, torch, CUDA device, the packages the project needs (env.json)
cat >"$STAGE/env_check.py" <<'PYEOF'
import importlib.metadata as md, json, os, platform, subprocess, sys
import torch
info = {"python": platform.python_version(), "executable": sys.executable, "torch": torch.__version__,
        "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(),
        "dry_run": sys.argv[2] == "1", "packages": {}}
for name in ("numpy", "pyyaml", "matplotlib", "pytest", "hypothesis", "tensorboard", "triton", "setuptools",
             "wheel", "pip", "pillow", "pytest-timeout", "pytest-xdist", "gymnasium", "mujoco", "pyglet"):
    try:
        info["packages"][name] = md.version(name)
    except md.PackageNotFoundError:
        info["packages"][name] = None
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(device="cuda:0", device_name=p.name, capability=f"{p.major}.{p.minor}",
                device_memory_gib=round(p.total_memory / 2**30, 1), device_count=torch.cuda.device_count())
    x = torch.randn(1024, 1024, device="cuda")
    info["cuda_matmul_ok"] = bool(torch.isfinite(x @ x).all())
else:
    info.update(device="cpu", device_name=platform.processor() or platform.machine())
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem",
                          "--format=csv"], capture_output=True, text=True, timeout=20)
    info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
except (OSError, subprocess.TimeoutExpired) as exc:
    info["nvidia_smi"] = f"unavailable: {exc}"
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info, indent=1))
PYEOF
run_part env 60 "$PY" "$STAGE/env_check.py" "$STAGE/env.json" "$DRY"

# 2. install: editable, no dependencies, nothing fetched; falls back to PYTHONPATH if pip cannot do it
if [ "${GPU_CHECK_INSTALL:-1}" != 0 ]; then
    run_part install 120 "$PY" -m pip install --no-deps --no-build-isolation --no-index -e "$REPO"
fi
if (cd / && "$PY" -c "import difftraffic, learners, viewer" >/dev/null 2>&1); then
    echo editable >"$STAGE/install_mode"
else
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    echo pythonpath >"$STAGE/install_mode"
    echo "-- install: using PYTHONPATH=$REPO (the package is not importable from an install)"
fi

# 3. every CUDA test (the CPU-side suites of the code that runs on CUDA come last, in part 8)
run_part pytest_cuda 180 "$PY" -m pytest -m cuda -p no:cacheprovider -q -rfEs \
    --junitxml="$STAGE/junit/pytest_cuda.xml" tests

# 4. CPU <-> device agreement of a pace-car rollout and its gradients (float64 and float32)
run_part gpu_agreement 120 "$PY" benchmarks/gpu_agreement.py --device "$DEV" --reference cpu \
    --steps "$AG_STEPS" --envs "$AG_ENVS" --json "$STAGE/json/gpu_agreement.json"

# 5. simulator forward and forward+backward throughput (naive, eager, fused, compiled)
# shellcheck disable=SC2086  # the workload list is meant to split into words
run_part sim_throughput 180 "$PY" benchmarks/sim_throughput.py --device "$DEV" --threads 1 \
    --workloads $SIM_WORKLOADS --rounds "$SIM_ROUNDS" --no-pacecar --json "$STAGE/json/sim_throughput.json"

# 6. pace-car env step latency (compiled and eager, with the IDM-only baselines)
# shellcheck disable=SC2086
run_part pacecar_latency 150 "$PY" benchmarks/pacecar_latency.py --device "$DEV" --envs $PACE_ENVS \
    --repeats "$PACE_REPEATS" --json "$STAGE/json/pacecar_latency.json"

# 7. RP and GI-PPO epochs on 10 lanes: per-epoch time, split, ratio, 500 epochs extrapolated
run_part learner_cost 150 "$PY" benchmarks/learner_cost.py --device "$DEV" --tasks 10lane --learners rp,gippo \
    --epochs "$LC_EPOCHS" --warmup "$LC_WARMUP" --num-envs "$LC_ENVS" --json "$STAGE/json/learner_cost.json"

# 8. the simulator and pace-car suites on this machine's torch (their compile paths included); last,
#    because they run on the CPU and the GPU figures matter more when the budget runs short
#    (in a few pytest-xdist workers where that plugin is installed: the compile tests dominate)
XDIST=()
if "$PY" -c "import xdist" >/dev/null 2>&1; then
    WORKERS=$(($(nproc) / 4))
    XDIST=(-p xdist -n "$((WORKERS < 2 ? 2 : WORKERS > 6 ? 6 : WORKERS))")
fi
run_part pytest_related 150 "$PY" -m pytest -m "not cuda" -p no:cacheprovider -q -rfE "${XDIST[@]}" \
    --junitxml="$STAGE/junit/pytest_related.xml" tests/sim tests/pacecar

echo "gpu_check.sh: done in $(($(date +%s) - START)) s; results in $OUT"
publish
rm -rf "$STAGE"
exit "$FAILED"
