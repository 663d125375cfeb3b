#!/usr/bin/env bash
# One GPU session of measurements, as recorded in docs/gpu.md and docs/pipeline.md
# ("The gpu profile"): the CUDA tests, the benchmarks at the gpu and paper sizes, then the gpu
# profile's stages for one family, each part timed. Every part has its own time limit and the
# session goes on when one fails. Results are written to a work folder and packed after every
# part into OUT/results.tgz (with OUT/session.log beside it: two files, whatever happens; the
# profiler's traces in OUT/traces.tgz).
#
#   bash bench/gpu_session.sh OUT [FAMILY] [SEEDS]     e.g. bash bench/gpu_session.sh /tmp/out vgg_small "[0]"
#
# Environment:
#   TINY=1      everything at toy sizes on the CPU (a rehearsal of this script)
#   PARTS       which parts run, in this order whatever the order named: tests, profile
#               (torch.profiler of one-shot scoring and of binary/real steps: bench/profile_ops.py),
#               fit, train, paper, supernet, supernet-paper (bench_supernet at the paper sizes),
#               jobs, stages (default "tests train paper supernet fit jobs stages")
#   SN_ARGS, SNP_ARGS, PROF_ARGS, JOBS_ARGS
#               options of bench_supernet (gpu sizes), bench_supernet (paper sizes),
#               profile_ops and bench_jobs in place of the defaults below
#   STAGES      the stages of part "stages" (default "uniform supernet proxy search retrain")
#   STAGE_SET   top-level settings changed in the stages' params file (KEY=VALUE ..., e.g. "jobs=1")
#   PYTHON      (default python3); RUNS, where the stages write (default /tmp/bnn_gpu_runs)
#   BUDGET      seconds for the whole session (each part's limit is cut to what is left; a stage
#               stopped at its limit is recorded with rc 124 and its seconds: its per-item lines
#               show how far it got)
# Needs bnnlib's dependencies but not dvc, dvclive or papermill (the stages run directly). The
# device image of 2026-11 lacks ruamel.yaml (settings): carry its wheel (pure Python). Part
# "stages" also needs Fashion-MNIST there (no network): carry data/raw holding its IDX files.
set -u
OUT=${1:-bench/gpu_out}
FAMILY=${2:-vgg_small}
SEEDS=${3:-[0]}
PY=${PYTHON:-python3}
RUNS=${RUNS:-/tmp/bnn_gpu_runs}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PARTS=${PARTS:-tests train paper supernet fit jobs stages}
STAGES=${STAGES:-uniform supernet proxy search retrain}
want() { case " $PARTS " in *" $1 "*) return 0;; *) return 1;; esac; }
START=$(date +%s)
BUDGET=${BUDGET:-100000}
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$WORK/session.log"; cp "$WORK/session.log" "$OUT/"; }
# the profiler's Chrome traces go apart (traces.tgz): at the gpu sizes they can pass the 16 MiB
# that one returned file may hold, and must not take the results with them
pack() {
    tar czf "$OUT/results.tgz.tmp" --exclude=./traces -C "$WORK" . && mv "$OUT/results.tgz.tmp" "$OUT/results.tgz"
    if [ -d "$WORK/traces" ]; then
        tar czf "$OUT/traces.tgz.tmp" -C "$WORK" traces && mv "$OUT/traces.tgz.tmp" "$OUT/traces.tgz"
    fi
}
part() {  # part NAME LIMIT_S CMD...: run with a time limit, record rc and seconds, show the end
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET - ($(date +%s) - START)))
    if [ "$left" -lt 15 ]; then log "skip $name (budget spent)"; return; fi
    if [ "$limit" -gt "$left" ]; then limit=$left; fi
    log "start $name (limit $limit s)"
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
    echo "{\"part\": \"$name\", \"rc\": $rc, \"seconds\": $secs}" >> "$WORK/parts.jsonl"
    log "end $name rc=$rc ($secs s)"
    tail -n 20 "$WORK/$name.log"
    pack
}

if [ "${TINY:-0}" = 1 ]; then
    DEVICE=cpu
    TR="--steps 1 --rounds 1 --warmup 1"
    SN="--genomes 1 --steps 1 --batch 8 --calib 16 --val 16 --evals 1 --eval-batch 8 16"
    FIT="--images 64 --epochs 2 --batch 16"
    JOBS="--families vgg_small --images 32 --epochs 1 --batch 16 --trainings 2 --jobs 2"
    SNP="--families vgg_small --genomes 1 --steps 1 --batch 8 --calib 16 --val 16 --evals 1 --eval-batch 16 --autotune off"
    PROF="--families vgg_small mobilenet_m1 --what oneshot step --group-conv grouped dense --calib 16 --val 16 --eval-batch 16 --evals 1 --steps 1 --batch 8"
    GPUSIZES="--sizes cpu"; PAPERSIZES="--sizes cpu"; BATCH=8
else
    DEVICE=cuda
    TR="--steps 5 --rounds 2 --warmup 2"
    SN=${SN_ARGS:-"--genomes 1 --steps 4 --evals 12 --calib 1000 --val 5000 --eval-batch 1000 5000"}
    FIT="--images 20000 --epochs 3"
    JOBS=${JOBS_ARGS:-"--families vgg_small mobilenet_m1 --images 55000 --epochs 2 --trainings 6 --jobs 2 3 6"}
    SNP=${SNP_ARGS:-"--genomes 2 --steps 4 --evals 3 --calib 500 --val 1000 --eval-batch 250 --autotune off"}
    PROF=${PROF_ARGS:-"--families mobilenet_m1 mobilenet_m2 vgg_small --what oneshot step --group-conv grouped dense --calib 1000 --val 5000 --eval-batch 5000 --evals 6 --steps 10"}
    GPUSIZES="--sizes gpu"; PAPERSIZES="--sizes paper"; BATCH=512
fi
$PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" \
    | tee "$WORK/device.txt"

# 1. the CUDA paths' tests (fused kernels against the eager formulas, fit on CUDA)
if [ "$DEVICE" = cuda ] && want tests; then
    part cuda_tests 90 $PY -m pytest -q -p no:cacheprovider -o addopts="" \
        tests/test_fused_cuda.py tests/test_train.py -k "cuda"
fi

# 2a. where the time goes: one-shot scoring (M1 missed 1,000/min) and binary vs real steps,
#     grouped convolutions as grouped and as dense kernels (bnnlib.dynamic)
want profile && part profile_ops_gpu 180 $PY bench/profile_ops.py --device $DEVICE $GPUSIZES $PROF \
    --trace "$WORK/traces" --json "$WORK/profile_ops_gpu.json"

# 2b. benchmarks: training step binary vs real, supernet vs static + one-shot evaluations,
#    fit vs the bare step loop
want fit && part bench_fit_gpu 60 $PY bench/bench_fit.py --device $DEVICE $GPUSIZES $FIT \
    --json "$WORK/bench_fit_gpu.json"
want train && part bench_train_gpu 120 $PY bench/bench_train.py --device $DEVICE $GPUSIZES --batch-size $BATCH \
    --expansion 1 4 --groups 1 4 $TR --json "$WORK/bench_train_gpu.json"
want paper && part bench_train_paper 120 $PY bench/bench_train.py --device $DEVICE $PAPERSIZES \
    --expansion 1 4 --groups 1 $TR --json "$WORK/bench_train_paper.json"
want supernet && part bench_supernet_gpu 240 $PY bench/bench_supernet.py --device $DEVICE $GPUSIZES $SN \
    --json "$WORK/bench_supernet_gpu.json"
# supernet vs static at the paper sizes (ImageNet 224 / CIFAR-10; issue 13 asks for both sizes)
want supernet-paper && part bench_supernet_paper 240 $PY bench/bench_supernet.py --device $DEVICE $PAPERSIZES $SNP \
    --json "$WORK/bench_supernet_paper.json"
# several trainings at once (the jobs setting) against one after another
want jobs && part bench_jobs_gpu 240 $PY bench/bench_jobs.py --device $DEVICE $GPUSIZES $JOBS \
    --json "$WORK/bench_jobs_gpu.json"

# 3. the gpu profile's stages for one family, with the given training seeds: a params file
#    derived from profiles/gpu.yaml (only `seeds` changed; toy sizes with TINY=1)
want stages || { log "done"; exit 0; }
rm -rf "$RUNS"
mkdir -p "$RUNS"
SETS=""
for kv in ${STAGE_SET:-}; do SETS="$SETS --set $kv"; done
[ -n "$SETS" ] && log "stages' params with$SETS"
$PY bench/derive_params.py profiles/gpu.yaml "$RUNS/params.yaml" --seeds "$SEEDS" \
    $([ "${TINY:-0}" = 1 ] && echo --tiny) $SETS || { log "derive_params failed"; exit 1; }
cp "$RUNS/params.yaml" "$WORK/params_used.yaml"
# the device image has no Fashion-MNIST and no network: carry data/raw (the four IDX files,
# e.g. copied from /usr/share/datasets/fashion-mnist) or the stages cannot start
$PY -m bnnlib.stages.data "$RUNS/params.yaml" > "$WORK/data.log" 2>&1 || {
    tail -n 5 "$WORK/data.log"
    log "data stage failed (data.log): no stage can run; carry data/raw with Fashion-MNIST's IDX files"
    pack; exit 1; }
# proxy before search: it needs only the supernet; retrain needs the finished search
for stage in $STAGES; do
    part "stage_${stage}_$FAMILY" 300 $PY -m bnnlib.stages "$stage" "$FAMILY" \
        --params "$RUNS/params.yaml" --runs-dir "$RUNS/runs" --metrics-dir "$RUNS/metrics"
    # the stage records so far (no checkpoints), packed with the rest
    (cd "$RUNS" && find . -name '*.json' -not -path '*/live/*' | tar czf "$WORK/gpu_runs.tgz" -T -)
    pack
done
log "done"
