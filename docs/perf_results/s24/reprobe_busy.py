"""Does `draw_ahead="auto"` follow a machine that gets busy part-way through a run?

One `sample` run (many-well 32-D, ULA, 4096 chains, STEPS steps, one intra-op thread) per mode (off, on, auto), in
ROUNDS rotations. LOAD_AT seconds into each run a second process starts: the same sampling with draw_ahead on
(another user's run, which also wants the second core), killed when the run ends. Prints each run's wall seconds and
share of blocks drawn ahead, and every choice `auto` made: when, which, and its probe's medians (ms per block).
    OMP_NUM_THREADS=1 python docs/perf_results/s24/reprobe_busy.py [STEPS [LOAD_AT [ROUNDS]]]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from ebmlab.samplers import ULA, draw_ahead, sample, step_watch
from user_energies import build_problem

HERE = Path(__file__).resolve()

STEPS, LOAD_AT, ROUNDS = (int(a) for a in (sys.argv[1:] + ["24000", "20", "2"][len(sys.argv) - 1 :])[:3])
choices: list[str] = []
start = 0.0


class Logged(draw_ahead.BlockDraws):
    """BlockDraws that records each choice of ``auto``."""

    def _ahead_while(self, block: int) -> bool:
        before = self.chosen
        out = super()._ahead_while(block)
        if before is None and self.chosen is not None:
            on, off = (statistics.median(self.timings[w]) * 1e3 for w in (True, False))
            way = "ahead" if self.chosen else "calling thread"
            choices.append(
                f"{time.perf_counter() - start:6.1f} s: {way} (probe medians: ahead {on:.1f} ms, off {off:.1f} ms)"
            )
        return out


step_watch.BlockDraws = Logged  # ULA under capture="auto" on a CPU runs step by step (step_watch.run_unadjusted)
torch.set_num_threads(1)
tune_malloc()
problem = build_problem("many-well")
x0 = problem.x0(4096)
sample(problem.energy, ULA(problem.step_size), x0, 20, seed=0, diagnostics=False)  # warm
print(
    f"{STEPS} steps, the other run starts at {LOAD_AT} s; load before: {Path('/proc/loadavg').read_text().split()[:3]}"
)
other = [sys.executable, str(HERE.with_name("reprobe_one.py")), "on", "0"]
for r in range(ROUNDS):
    for mode in ("off", "on", "auto"):
        choices.clear()
        procs: list[subprocess.Popen] = []
        timer = threading.Timer(LOAD_AT, lambda ps=procs: ps.append(subprocess.Popen(other, stdout=subprocess.DEVNULL)))
        start = time.perf_counter()
        timer.start()
        res = sample(problem.energy, ULA(problem.step_size), x0, STEPS, thin=100, seed=0, diagnostics=False,
                     draw_ahead={"off": False, "on": True, "auto": "auto"}[mode])  # fmt: skip
        wall = time.perf_counter() - start
        timer.cancel()
        for p in procs:
            p.kill()
            p.wait()
        print(f"round {r + 1}  {mode:4s}  {wall:6.1f} s  share drawn ahead {res.draw_ahead:.2f}", flush=True)
        for c in choices:
            print("      " + c, flush=True)
print(f"load after: {Path('/proc/loadavg').read_text().split()[:3]}")
