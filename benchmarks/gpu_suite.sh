#!/usr/bin/env bash
# The GPU measurements of docs/performance.md, one script (run from the repository root, results in $OUT).
# Each part has its own time limit so that one slow part cannot starve the others.
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# blackjax travels as a pure-Python package in pylib/ (the JAX peer's subprocess inherits PYTHONPATH)
[ -d pylib ] && export PYTHONPATH=$PYTHONPATH:$PWD/pylib
(nvidia-smi -L; python3 -c "import torch, jax; print(torch.__version__, jax.__version__, torch.cuda.get_device_name())") > "$OUT/env.txt" 2>&1
timeout 25 python3 benchmarks/capture_check.py --device cuda --modes eager,auto,graph > "$OUT/capture_check.txt" 2>&1
timeout 210 python3 benchmarks/samplers_user.py --device cuda --capture off,auto --steps-scale 0.3 --json "$OUT/samplers_gpu.json" > "$OUT/samplers_gpu.txt" 2>&1
timeout 50 python3 benchmarks/training.py --device cuda --steps 50 --json "$OUT/training_gpu.json" > "$OUT/training_gpu.txt" 2>&1
timeout 50 python3 benchmarks/samplers_user.py --device cuda --capture compile --only ula,mala --energies mog8,mlp --chains 4096 --jax off --steps-scale 0.5 --json "$OUT/compile_gpu.json" > "$OUT/compile_gpu.txt" 2>&1
echo done >> "$OUT/env.txt"
cat "$OUT/env.txt" "$OUT/capture_check.txt"; tail -5 "$OUT/training_gpu.txt" "$OUT/compile_gpu.txt"; tail -40 "$OUT/samplers_gpu.txt"
