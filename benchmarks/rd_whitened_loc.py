"""CPU time of EBA training with the raw and the whitened mean of RDEnergy (issue 12, session 6).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/rd_whitened_loc.py

10-D source σ_k² = 4e^{−0.5k}, β = 2, BA-style variant, 2048 chains, 5 MALA steps: 40 training steps per
parametrisation, twice (the first repetition includes warm-up), ``time.process_time``.
"""

from __future__ import annotations

import math
import time

import torch

from ebmlab.experiments.rate_distortion import train_eba
from ebmlab.methods.eba import EBA
from ebmlab.ratedistortion import GaussianSource
from ebmlab.ratedistortion.model import RDEnergy
from ebmlab.samplers.langevin import MALA


def main() -> None:
    src = GaussianSource([4 * math.exp(-0.5 * k) for k in range(10)])
    for rep in range(2):
        for whitened in (False, True):
            torch.manual_seed(0)
            energy = RDEnergy(10, whitened_loc=whitened)
            m = EBA(src, "squared", 2.0, energy, variant="ba", sampler=MALA(0.2), n_chains=2048, n_steps=5)
            t = time.process_time()
            train_eba(m, 40, 0, lr=0.03, average=0.5)
            name = "whitened" if whitened else "raw"
            print(f"repetition {rep}: {name} mean, {time.process_time() - t:.2f} s CPU / 40 steps", flush=True)


if __name__ == "__main__":
    main()
