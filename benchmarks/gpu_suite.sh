#!/usr/bin/env bash
# (no variable here may shadow the environment: CC, CXX, … are read by inductor's compiler calls)
# The GPU measurements of docs/performance.md in one script (run from the repository root; results in $OUT,
# at most 7 files: the device tool brings back 8). Each part has its own time limit and writes its JSON as it
# goes, so one slow part cannot starve the others and a part cut short keeps its finished rows.
#   bash benchmarks/gpu_suite.sh          # on the GPU machine (~9 minutes)
#   bash benchmarks/gpu_suite.sh --dry    # every part at toy sizes on the CPU: checks the script, not speed
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# blackjax travels as a pure-Python package in pylib/ (the JAX peer's subprocess inherits PYTHONPATH)
[ -d pylib ] && export PYTHONPATH=$PYTHONPATH:$PWD/pylib
LOG=$OUT/suite.log
if [ "${1:-}" = "--dry" ]; then
  DEV=cpu; S=3; SMALL="--quick"; CASES="mog8:16"; ONLY="--only ula"; MLP="--rows 16 --repeats 1"; TR="--quick"
  CCHK="--chains 8 --steps 20 --energies mog8 --kernels ula"; SMOKE="--defer"
else
  DEV=cuda; S=1; SMALL="--steps 480"; CASES="mlp:4096,conv:4096,mog8:128,many-well:128,mlp:128,conv:128,mog8:4096,many-well:4096"
  ONLY=""; MLP="--tf32"; TR="--steps 50"; CCHK="--energies mog8,mlp --kernels ula,mala"; SMOKE=""
fi
part() { local limit=$1; shift; echo "== $(date -u +%T) [$limit s] $*" >>"$LOG"; timeout $((limit * S)) "$@"; echo "== rc $?" >>"$LOG"; }
{ nvidia-smi -L; uptime; $PY -c "import torch, jax; print(torch.__version__, jax.__version__)"; git log -1 --oneline 2>/dev/null; } >>"$LOG" 2>&1
# 0. does everything run there? (never run on CUDA yet: first, so a session cut short still has it)
part 120 $PY benchmarks/gpu_smoke.py --device $DEV $SMOKE --json "$OUT/smoke.jsonl" >>"$LOG" 2>&1
# 1. MLP E+∇E variants vs the matmul rate at the same shapes (float32, then TF32 labelled)
part 60 $PY benchmarks/mlp_rate.py --device $DEV $MLP --json "$OUT/mlp_rate.json" >>"$LOG" 2>&1
# 2. capture="compile" (one compiled step, blocks replayed from a CUDA graph), goal rows first; no peers
part 150 $PY benchmarks/samplers_user.py --device $DEV --capture compile --jax off --cases $CASES $ONLY $SMALL \
  --json "$OUT/samplers_compile.json" >>"$LOG" 2>&1
# 3. capture="auto" (the default, bit-exact) on every row, JAX / BlackJAX in the same run at full float32
part 150 $PY benchmarks/samplers_user.py --device $DEV --capture auto --jax-precision highest $ONLY $SMALL \
  --json "$OUT/samplers_auto.json" >>"$LOG" 2>&1
# 4. fit ÷ bare training script
part 35 $PY benchmarks/training.py --device $DEV $TR --json "$OUT/training.json" >>"$LOG" 2>&1
# 5. same chains? (off against auto and compile)
part 40 $PY benchmarks/capture_check.py --device $DEV --modes auto,compile $CCHK >"$OUT/capture_check.jsonl" 2>>"$LOG"
echo "== $(date -u +%T) done" >>"$LOG"
tail -60 "$LOG"
