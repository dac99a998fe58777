"""MLPEnergy(64, (W, W)).energy_and_grad alone in a fresh process under glibc's defaults (no interleaving): ms and page
faults per call over 50 calls. MODE: one (blocks disabled), blocks (the default rule) or a row count.

    OMP_NUM_THREADS=1 python fresh_process_eg.py ROWS W one|blocks|512
"""

import resource
import sys
import time

import torch

from ebmlab.energies import neural

torch.set_num_threads(1)

rows, width, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if mode == "one":
    neural.block_rows = lambda w: 1 << 30
elif mode != "blocks":
    neural.block_rows = lambda w, r=int(mode): r
torch.manual_seed(0)
m = neural.MLPEnergy(64, (width, width))
x = torch.randn(rows, 64)
for _ in range(3):
    m.energy_and_grad(x)
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = time.process_time()
for _ in range(50):
    m.energy_and_grad(x)
print(
    rows,
    width,
    mode,
    f"{(time.process_time() - t) / 50 * 1e3:.2f} ms",
    (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 50,
    "faults",
)
