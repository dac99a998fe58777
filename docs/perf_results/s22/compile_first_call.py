"""Where the first `capture="compile"` call of a process goes (MALA on mog8, 128 chains, 4096 steps), with inductor's
disk cache already holding the kernels: cProfile's cumulative times of the main parts, then the second call.

    OMP_NUM_THREADS=1 python docs/perf_results/s22/compile_first_call.py   # run twice: the first fills the cache
"""

import cProfile
import pstats
import time

import torch

from ebmlab.samplers import MALA, sample
from ebmlab.targets import get_target

torch.set_num_threads(1)
target = get_target("mog8")
x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
profile = cProfile.Profile()
start = time.perf_counter()
profile.enable()
sample(target, MALA(0.3), x0, 4096, seed=1, diagnostics=False, capture="compile", thin=100)
profile.disable()
first = time.perf_counter() - start
start = time.perf_counter()
sample(target, MALA(0.3), x0, 4096, seed=1, diagnostics=False, capture="compile", thin=100)
second = time.perf_counter() - start
parts = {
    "torch.compile() itself (imports)": "__init__.py:2609(compile)",
    "dynamo: trace the block": "convert_frame.py:931(run_tracer)",
    "AOT / inductor: load from the cache": "autograd_cache.py:989(try_load)",
    "inductor: probe the CPU's vector ISA (subprocesses)": "cpu_vec_isa.py:133(_probe_load)",
}
stats = pstats.Stats(profile).stats
print(f"first call {first:.2f} s (under cProfile), second call {second:.2f} s; the parts nest (the trace holds the")
print("cache load, which holds the ISA probe); torch.compile() itself is separate from them")
for label, suffix in parts.items():
    cum = sum(v[3] for k, v in stats.items() if f"{k[0]}:{k[1]}({k[2]})".endswith(suffix))
    print(f"  {label:55s} {cum:5.2f} s")
