"""`sample` with the next block's draws made ahead on a helper thread (`draw_ahead=True`, the default) against all on
one thread (`False`), one intra-op thread, interleaved rounds (the order alternates). Wall time is what the user
waits; process CPU time shows the helper's work on a second core. Median per row of the per-round wall ratios.

    OMP_NUM_THREADS=1 python docs/perf_results/s23/draw_ahead_ab.py > docs/perf_results/s23/draw_ahead_ab_1.txt
    OMP_NUM_THREADS=1 python docs/perf_results/s23/draw_ahead_ab.py auto > docs/perf_results/s23/draw_ahead_ab_2.txt

With ``auto`` as the argument the second column is ``draw_ahead="auto"`` (the probe picks per run) instead of True.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from ebmlab.samplers import HMC, MALA, ULA, draw_ahead, sample
from user_energies import build_problem

ROWS = [  # energy, chains, kernel, steps
    ("many-well", 4096, "ula", 200),
    ("many-well", 4096, "mala", 200),
    ("mlp", 4096, "ula", 80),
    ("mlp", 4096, "mala", 80),
    ("mlp", 4096, "hmc", 10),
    ("mlp-module", 4096, "ula", 80),
    ("mlp", 128, "mala", 600),
    ("mog8", 128, "mala", 4000),
]
ROUNDS = 7


def kernel(name: str, step: float):
    return {"ula": ULA(step), "mala": MALA(step), "hmc": HMC(step, n_leapfrog=5)}[name]


CHOSEN: list[bool | None] = []  # what each run's BlockDraws settled on (auto: the probe's choice)
_close = draw_ahead.BlockDraws.close


def _recording_close(self) -> None:
    CHOSEN.append(self.chosen)
    _close(self)


draw_ahead.BlockDraws.close = _recording_close  # type: ignore[method-assign]


def main(second: bool | str) -> None:
    torch.set_num_threads(1)
    tune_malloc()
    print(f"torch {torch.__version__}; load {open('/proc/loadavg').read().split()[:3]}; {ROUNDS} rounds")
    print(f"second column: draw_ahead={second!r}")
    print(f"{'row':28s} {'off ms':>9s} {'ahead ms':>9s} {'ahead/off wall':>15s} {'range':>13s} {'cpu ahead/off':>14s}")
    for energy, n, kname, steps in ROWS:
        problem = build_problem(energy)
        x0 = problem.x0(n)
        k = kernel(kname, problem.step_size)

        def run(ahead: bool, energy=problem.energy, k=k, x0=x0, steps=steps) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            sample(energy, k, x0, steps, seed=0, diagnostics=False, draw_ahead=second if ahead else False)
            return time.perf_counter() - wall, time.process_time() - cpu

        run(True), run(False)  # warm
        CHOSEN.clear()
        walls: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        for r in range(ROUNDS):
            for ahead in (True, False) if r % 2 else (False, True):
                w, c = run(ahead)
                walls[ahead].append(w)
                cpus[ahead].append(c)
        ratios = [a / o for a, o in zip(walls[True], walls[False], strict=True)]
        cpu_ratio = statistics.median(a / o for a, o in zip(cpus[True], cpus[False], strict=True))
        print(
            f"{energy + ' ' + str(n) + ' ' + kname:28s} {statistics.median(walls[False]) / steps * 1e3:9.3f} "
            f"{statistics.median(walls[True]) / steps * 1e3:9.3f} {statistics.median(ratios):15.3f} "
            f"{min(ratios):6.3f}–{max(ratios):.3f} {cpu_ratio:14.3f}  ahead in {sum(c is True for c in CHOSEN)} of "
            f"{len(CHOSEN)} draw loops",
            flush=True,
        )
    print(f"load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main("auto" if sys.argv[1:] == ["auto"] else True)
