"""Compile one block of ULA or HMC on the benchmark's mog8 at 128 chains, so that inductor prints its C++ (long):

TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 TORCH_LOGS=output_code python docs/perf_results/s23/compile_dump.py ula
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers import HMC, ULA
from ebmlab.samplers.chains import run_chains
from user_energies import mog8

torch.set_num_threads(1)
x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
kernel = {"ula": ULA(0.05), "hmc": HMC(0.1, n_leapfrog=5)}[sys.argv[1]]
run_chains(kernel, mog8, x0, 64, torch.Generator().manual_seed(0), block=1 << 16, capture="compile")
