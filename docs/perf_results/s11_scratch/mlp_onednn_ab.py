"""MLPEnergy.energy_and_grad with ``onednn_linear`` True (the rule) and False (the default BLAS), interleaved:
µs per call, medians of 9 rounds, CPU time, one thread.

    OMP_NUM_THREADS=1 python docs/perf_results/s11_scratch/mlp_onednn_ab.py
"""

import statistics
import time

import torch

from ebmlab.energies import MLPEnergy

torch.set_num_threads(1)
torch.manual_seed(0)
cases = [(2, (128, 128), 128), (2, (128, 128), 1024), (64, (256, 256), 16), (64, (256, 256), 128),
         (64, (256, 256), 4096), (784, (512, 512), 128)]  # fmt: skip
print(
    "| MLPEnergy(dim, hidden), rows | BLAS µs | rule µs | rule ÷ BLAS | max abs. Δ∇E (relative ‖Δ‖) |\n|---|---|---|---|---|"
)
for dim, hidden, rows in cases:
    energy, x = MLPEnergy(dim, hidden), torch.randn(rows, dim)
    times: dict[bool, list[float]] = {True: [], False: []}
    reps = max(5, 20000 // rows)
    for _ in range(9):
        for flag in (True, False):
            energy.onednn_linear = flag
            start = time.process_time()
            for _ in range(reps):
                energy.energy_and_grad(x)
            times[flag].append((time.process_time() - start) / reps * 1e6)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    energy.onednn_linear = True
    g_rule = energy.energy_and_grad(x)[1]
    energy.onednn_linear = False
    g_blas = energy.energy_and_grad(x)[1]
    delta = g_rule - g_blas
    diff = f"{float(delta.abs().max()):.1e} ({float(delta.norm() / g_blas.norm()):.1e})"
    print(f"| ({dim}, {hidden}), {rows} | {off:.0f} | {on:.0f} | {on / off:.2f} | {diff} |")
