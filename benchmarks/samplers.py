"""Sampler throughput: ebmlab's samplers beside bare PyTorch loops and the autograd floor.

For ULA, MALA, HMC (L = 5) and kinetic Langevin on the three energies of BENCHMARKS.md
(``mog8``, ``many-well`` (32-D), ``mlp`` (64→256→256→1, SiLU, seeded weights)), at 128 and 4096
chains, this prints chain-steps per second (chain-iterations for HMC) of

* **ours**: ``ebmlab.samplers.sample(energy, kernel, x0, n_steps, thin=n_steps, diagnostics=False)``
  with the library's energies (the ``mog8`` / ``many-well-32`` targets, ``MLPEnergy``);
* **bare**: the same algorithm as a user would write it in a plain PyTorch loop, with the energy
  written as a plain function and ∇E from autograd (MALA caches E and ∇E; HMC costs L gradients);
* **floor**: one batched energy-plus-gradient evaluation (autograd, as a user would write it),
  measured in the same run; ``cost`` = seconds per step / seconds per floor evaluation.

Every figure is the median of 3 timed runs after a warm-up run, float32, 2 threads. Peer figures
(TorchEBM, ebmkit, BlackJAX) are copied from BENCHMARKS.md: measured elsewhere, not in this run.

    python benchmarks/samplers.py                 # full run (several minutes)
    python benchmarks/samplers.py --quick         # smoke test: few steps
    python benchmarks/samplers.py --only ula,mala --energies mog8 --chains 128 --json out.json
    python benchmarks/samplers.py --mlp-variants        # MLP energy+gradient variants, GFLOP/s

On a machine shared with other jobs, run with ``OMP_WAIT_POLICY=PASSIVE``: with the default (spinning)
policy, 2-thread PyTorch ops slowed down up to ~100× whenever the other core was busy (docs/performance.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, format_rate, format_table, machine_info, ratio, time_median, write_json
from ebmlab.energies import MLPEnergy
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, Sampler, sample

SAMPLERS = ("ula", "mala", "hmc", "kinetic")
ENERGIES = ("mog8", "many-well", "mlp")
CHAINS = (128, 4096)
STEP_SIZE = {"mog8": 1e-2, "many-well": 5e-3, "mlp": 1e-2}
N_LEAPFROG = 5
FRICTION = 1.0

# Peer figures from /work/shared/BENCHMARKS.md (chain-steps/s; HMC: chain-iterations/s), measured
# elsewhere on a 2-core AMD EPYC, not in this run. Keys: (sampler, energy, chains).
PEERS: dict[tuple[str, str, int], dict[str, float]] = {
    ("ula", "mog8", 128): {"bare*": 1.25e6, "TorchEBM": 0.81e6, "ebmkit": 1.24e6, "BlackJAX": 12.4e6},
    ("ula", "mog8", 4096): {"bare*": 6.79e6, "TorchEBM": 5.66e6, "ebmkit": 6.68e6, "BlackJAX": 10.2e6},
    ("ula", "many-well", 128): {"bare*": 0.94e6, "TorchEBM": 0.69e6, "ebmkit": 0.95e6, "BlackJAX": 2.14e6},
    ("ula", "many-well", 4096): {"bare*": 3.78e6, "TorchEBM": 3.35e6, "ebmkit": 3.51e6, "BlackJAX": 3.04e6},
    ("ula", "mlp", 128): {"bare*": 322e3, "TorchEBM": 246e3, "ebmkit": 343e3, "BlackJAX": 621e3},
    ("ula", "mlp", 4096): {"bare*": 368e3, "TorchEBM": 356e3, "ebmkit": 392e3, "BlackJAX": 935e3},
    ("mala", "mog8", 128): {"bare*": 889e3, "ebmkit": 523e3},
    ("mala", "mog8", 4096): {"bare*": 5.61e6, "ebmkit": 3.16e6},
    ("mala", "many-well", 4096): {"bare*": 3.04e6, "ebmkit": 1.81e6},
    ("mala", "mlp", 4096): {"bare*": 409e3, "ebmkit": 209e3},
    ("hmc", "mog8", 128): {"bare*": 233e3, "TorchEBM": 95e3, "ebmkit": 198e3, "BlackJAX": 3.94e6},
    ("hmc", "mog8", 4096): {"bare*": 1.34e6, "TorchEBM": 600e3, "ebmkit": 1.10e6, "BlackJAX": 2.45e6},
    ("hmc", "many-well", 4096): {"bare*": 932e3, "TorchEBM": 346e3, "ebmkit": 748e3, "BlackJAX": 2.27e6},
    ("hmc", "mlp", 4096): {"bare*": 76e3, "TorchEBM": 41e3, "ebmkit": 70e3, "BlackJAX": 183e3},
}


# ----------------------------------------------------------------------------------------------------
# Energies: the library's objects ("ours") and the same functions written by hand ("bare").
# ----------------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One benchmark energy: the library object, a hand-written twin and starting points."""

    name: str
    dim: int
    ours: Callable[[Tensor], Tensor]
    bare: Callable[[Tensor], Tensor]
    step_size: float

    def x0(self, n_chains: int, seed: int = 0) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n_chains, self.dim, generator=g)


def _mog8_means(radius: float = 4.0, k: int = 8) -> Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (radius * torch.stack((angles.cos(), angles.sin()), 1)).float()


def _library_target(name: str) -> Callable[[Tensor], Tensor]:
    try:
        from ebmlab.targets import get_target

        return get_target(name)
    except ImportError:  # targets package still being written: use the modules directly
        if name == "mog8":
            from ebmlab.targets.gmm import mog8

            return mog8()
        from ebmlab.targets.many_well import ManyWell

        return ManyWell(16)


def build_problem(name: str, seed: int = 0) -> Problem:
    """The benchmark energy ``name`` (``mog8``, ``many-well``, ``mlp``); MLP weights from ``seed``."""
    if name == "mog8":
        means, inv_two_var = _mog8_means(), 1.0 / (2 * 0.5**2)
        log_norm = math.log(8) + math.log(2 * math.pi * 0.5**2)

        def bare(x: Tensor) -> Tensor:
            sq = (x[:, None, :] - means).square().sum(-1)
            return -torch.logsumexp(-sq * inv_two_var, dim=1) + log_norm

        return Problem(name, 2, _library_target("mog8"), bare, STEP_SIZE[name])
    if name == "many-well":

        def bare(x: Tensor) -> Tensor:
            x1, x2 = x[:, 0::2], x[:, 1::2]
            return (x1**4 - 6 * x1**2 + 0.5 * x1).sum(1) + 0.5 * (x2**2).sum(1)

        return Problem(name, 32, _library_target("many-well-32"), bare, STEP_SIZE[name])
    if name == "mlp":
        with torch.random.fork_rng():  # seeded weights, identical for ours and bare; global RNG untouched
            torch.manual_seed(seed)
            ours = MLPEnergy(64, hidden=(256, 256))
        ours.requires_grad_(False)
        net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1))
        net.load_state_dict({k.removeprefix("net."): v for k, v in ours.state_dict().items()})
        net.requires_grad_(False)

        def bare(x: Tensor) -> Tensor:
            return net(x).squeeze(-1)

        return Problem(name, 64, ours, bare, STEP_SIZE[name])
    raise ValueError(f"unknown benchmark energy {name!r}; choose from {', '.join(ENERGIES)}.")


# ----------------------------------------------------------------------------------------------------
# Bare PyTorch loops (autograd, as a user would write them)
# ----------------------------------------------------------------------------------------------------
def grad_energy(energy: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """E(x) and ∇E(x) by autograd: the floor of every gradient-based sampler."""
    x = x.detach().requires_grad_(True)
    e = energy(x)
    (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), g


def bare_floor(energy: Callable[[Tensor], Tensor], x0: Tensor, n_evals: int) -> Tensor:
    """``n_evals`` energy-plus-gradient evaluations at fixed points."""
    for _ in range(n_evals):
        e, _ = grad_energy(energy, x0)
    return e


def bare_ula(energy: Callable[[Tensor], Tensor], x0: Tensor, step: float, n_steps: int, gen: torch.Generator) -> Tensor:
    """x ← x − λ∇E(x) + √(2λ) ξ."""
    x, scale = x0, math.sqrt(2 * step)
    for _ in range(n_steps):
        _, g = grad_energy(energy, x)
        x = x - step * g + scale * torch.randn(x.shape, generator=gen)
    return x


def bare_mala(
    energy: Callable[[Tensor], Tensor], x0: Tensor, step: float, n_steps: int, gen: torch.Generator
) -> Tensor:
    """MALA with E and ∇E cached between steps (one gradient per step)."""
    x, scale = x0, math.sqrt(2 * step)
    e, g = grad_energy(energy, x)
    for _ in range(n_steps):
        xi = torch.randn(x.shape, generator=gen)
        y = x - step * g + scale * xi
        e_y, g_y = grad_energy(energy, y)
        back = x - y + step * g_y
        log_alpha = e - e_y - back.square().sum(1) / (4 * step) + 0.5 * xi.square().sum(1)
        accept = torch.rand(x.shape[0], generator=gen).log() < log_alpha
        x = torch.where(accept[:, None], y, x)
        e = torch.where(accept, e_y, e)
        g = torch.where(accept[:, None], g_y, g)
    return x


def bare_hmc(
    energy: Callable[[Tensor], Tensor], x0: Tensor, step: float, n_iter: int, gen: torch.Generator, n_leapfrog: int = 5
) -> Tensor:
    """HMC, L leapfrog steps per iteration, ∇E cached (L gradients per iteration)."""
    x = x0
    e, g = grad_energy(energy, x)
    for _ in range(n_iter):
        p0 = torch.randn(x.shape, generator=gen)
        p = p0 - 0.5 * step * g
        xn = x
        for i in range(n_leapfrog):
            xn = xn + step * p
            en, gn = grad_energy(energy, xn)
            p = p - (0.5 if i == n_leapfrog - 1 else 1.0) * step * gn
        d_h = en - e + 0.5 * p.square().sum(1) - 0.5 * p0.square().sum(1)
        accept = torch.rand(x.shape[0], generator=gen).log() < -d_h
        x = torch.where(accept[:, None], xn, x)
        e = torch.where(accept, en, e)
        g = torch.where(accept[:, None], gn, g)
    return x


def bare_kinetic(
    energy: Callable[[Tensor], Tensor], x0: Tensor, step: float, n_steps: int, gen: torch.Generator
) -> Tensor:
    """BAOAB underdamped Langevin, friction 1 (one gradient per step)."""
    c = math.exp(-FRICTION * step)
    x, v = x0, torch.zeros_like(x0)
    _, g = grad_energy(energy, x)
    for _ in range(n_steps):
        v = v - 0.5 * step * g
        x = x + 0.5 * step * v
        v = c * v + math.sqrt(1 - c * c) * torch.randn(x.shape, generator=gen)
        x = x + 0.5 * step * v
        _, g = grad_energy(energy, x)
        v = v - 0.5 * step * g
    return x


BARE = {"ula": bare_ula, "mala": bare_mala, "hmc": bare_hmc, "kinetic": bare_kinetic}


def make_kernel(name: str, step: float) -> Sampler:
    if name == "ula":
        return ULA(step)
    if name == "mala":
        return MALA(step)
    if name == "hmc":
        return HMC(step, n_leapfrog=N_LEAPFROG)
    if name == "kinetic":
        return KineticLangevin(step, friction=FRICTION)
    raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")


# ----------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One (sampler, energy, chains) measurement; rates in chain-steps (HMC: chain-iterations) per s."""

    sampler: str
    energy: str
    chains: int
    steps: int
    ours: float
    bare: float
    floor: float
    ours_cost: float
    bare_cost: float
    ours_timing: Timing
    bare_timing: Timing
    floor_timing: Timing
    peers: dict[str, float] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return ratio(self.ours, self.bare)

    @property
    def blackjax(self) -> float | None:
        return self.peers.get("BlackJAX")

    @property
    def reached(self) -> str:
        return reached(self.ours, self.blackjax)


def reached(ours: float, blackjax: float | None) -> str:
    """Whether our rate reaches BlackJAX's figure ("—" where there is none)."""
    if blackjax is None:
        return "—"
    return "yes" if ours >= blackjax else "no"


#: the columns both tables start with, and their cells
LEAD_HEADER = ["sampler", "energy / chains", "ours", "bare loop", "ours / bare", "floor", "cost ours"]


def lead_cells(
    sampler: str, energy: str, chains: int, ours: float, bare: float, floor: float, cost: float
) -> list[str]:
    return [
        sampler,
        f"{energy} / {chains}",
        format_rate(ours),
        format_rate(bare),
        f"{ratio(ours, bare):.2f}",
        format_rate(floor),
        f"{cost:.2f}",
    ]


@dataclass
class Settings:
    """Steps per run, repeats and warm-up length."""

    ula_steps: int = 1000
    hmc_iters: int = 200
    repeats: int = 3
    warmup_steps: int = 50
    floor_evals: int = 200

    @classmethod
    def quick(cls) -> Settings:
        return cls(ula_steps=20, hmc_iters=4, repeats=1, warmup_steps=2, floor_evals=5)

    def steps(self, sampler: str) -> int:
        return self.hmc_iters if sampler == "hmc" else self.ula_steps


def measure_floor(problem: Problem, n_chains: int, settings: Settings) -> Timing:
    """Seconds per energy-plus-gradient evaluation (autograd on the hand-written energy)."""
    x0 = problem.x0(n_chains)
    n = max(1, settings.floor_evals if n_chains <= 512 else settings.floor_evals // 10)
    t = time_median(lambda: bare_floor(problem.bare, x0, n), settings.repeats, warmup=1)
    return Timing(t.median / n, t.low / n, t.high / n, tuple(r / n for r in t.runs))


def run_ours(problem: Problem, sampler: str, x0: Tensor, n_steps: int) -> Tensor:
    kernel = make_kernel(sampler, problem.step_size)
    result = sample(problem.ours, kernel, x0, n_steps, thin=n_steps, seed=0, diagnostics=False)
    return result.final_state.x


def run_bare(problem: Problem, sampler: str, x0: Tensor, n_steps: int) -> Tensor:
    gen = torch.Generator().manual_seed(0)
    return BARE[sampler](problem.bare, x0, problem.step_size, n_steps, gen)


def measure_row(problem: Problem, sampler: str, n_chains: int, floor: Timing, settings: Settings) -> Row:
    """Ours and bare, each warmed up and then timed ``settings.repeats`` times, back to back."""
    x0 = problem.x0(n_chains)
    n_steps = settings.steps(sampler)
    warm = max(1, min(n_steps, settings.warmup_steps))
    run_ours(problem, sampler, x0, warm)
    ours = time_median(lambda: run_ours(problem, sampler, x0, n_steps), settings.repeats, warmup=0)
    run_bare(problem, sampler, x0, warm)
    bare = time_median(lambda: run_bare(problem, sampler, x0, n_steps), settings.repeats, warmup=0)
    work = n_chains * n_steps
    evals_per_step = N_LEAPFROG if sampler == "hmc" else 1
    floor_step = floor.median * evals_per_step  # the floor of one step: its gradient evaluations
    return Row(
        sampler=sampler,
        energy=problem.name,
        chains=n_chains,
        steps=n_steps,
        ours=ours.rate(work),
        bare=bare.rate(work),
        floor=n_chains / floor_step,
        ours_cost=ours.median / n_steps / floor_step,
        bare_cost=bare.median / n_steps / floor_step,
        ours_timing=ours,
        bare_timing=bare,
        floor_timing=floor,
        peers=PEERS.get((sampler, problem.name, n_chains), {}),
    )


def run_benchmark(
    samplers: Sequence[str] = SAMPLERS,
    energies: Sequence[str] = ENERGIES,
    chains: Sequence[int] = CHAINS,
    settings: Settings | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Row]:
    """Measure every (sampler, energy, chains) row; the floor once per (energy, chains)."""
    settings = settings or Settings()
    rows = []
    for energy in energies:
        problem = build_problem(energy)
        for n in chains:
            floor = measure_floor(problem, n, settings)
            for s in samplers:
                row = measure_row(problem, s, n, floor, settings)
                rows.append(row)
                if log is not None:
                    log(
                        f"  {s:8s} {energy:10s} {n:5d} chains: ours {format_rate(row.ours):>7s}  "
                        f"bare {format_rate(row.bare):>7s}  x{row.speedup:5.2f}  "
                        f"(spread {row.ours_timing.spread:.0%} / {row.bare_timing.spread:.0%})"
                    )
    return rows


def table(rows: Sequence[Row]) -> str:
    header = [*LEAD_HEADER, "cost bare", "BlackJAX†", "reached", "TorchEBM†", "ebmkit†", "bare (BENCHMARKS.md)†"]
    body = []
    for r in rows:
        p = r.peers
        body.append(
            [
                *lead_cells(r.sampler, r.energy, r.chains, r.ours, r.bare, r.floor, r.ours_cost),
                f"{r.bare_cost:.2f}",
                format_rate(p.get("BlackJAX")),
                r.reached,
                format_rate(p.get("TorchEBM")),
                format_rate(p.get("ebmkit")),
                format_rate(p.get("bare*")),
            ]
        )
    return format_table(header, body)


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The docs table (ours, bare, ratio, BlackJAX, reached) from rows as saved by ``--json``."""
    body = []
    for r in rows:
        peers = r.get("peers", {})
        bj = peers.get("BlackJAX")
        mark = reached(r["ours"], bj)
        body.append(
            [
                *lead_cells(r["sampler"], r["energy"], r["chains"], r["ours"], r["bare"], r["floor"], r["ours_cost"]),
                format_rate(bj),
                "**yes**" if mark == "yes" else mark,
            ]
        )
    return format_table([*LEAD_HEADER, "BlackJAX†", "reached"], body)


LEGEND = (
    "Rates: chain-steps/s (HMC: chain-iterations/s, L = 5). floor = one autograd energy+gradient evaluation "
    "(HMC: L of them) per step, measured in this run. cost = seconds per step / seconds of that floor.\n"
    "† peer figures measured elsewhere, not in this run (BENCHMARKS.md)."
)


def mlp_gradient_variants(n_chains: int, repeats: int = 7, seed: int = 0) -> dict[str, Timing]:
    """Seconds per MLP energy+gradient evaluation, interleaved runs: autograd, and oneDNN's private
    ``_linear_pointwise`` with pre-packed weights (what ``torch.compile``'s CPU backend uses), where this
    build has it. (The hand-written ``MLPEnergy.input_grad`` measured here before was removed from the
    library: ~7 % faster than autograd, not worth an untested second gradient path.)"""
    import torch.nn.functional as F

    problem = build_problem("mlp", seed)
    mlp: MLPEnergy = problem.ours  # type: ignore[assignment]
    x = problem.x0(n_chains, seed)
    lin = [m for m in mlp.net if isinstance(m, nn.Linear)]
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight.detach(), m.bias.detach()) for m in lin]
    variants: dict[str, Callable[[], object]] = {
        "autograd": lambda: grad_energy(problem.bare, x),
    }
    try:
        lp = torch.ops.mkldnn._linear_pointwise
        packed = [
            torch.ops.mkldnn._reorder_linear_weight(w, n_chains)
            for w in (w1, w2, w2.t().contiguous(), w1.t().contiguous())
        ]

        def onednn() -> object:
            h1 = lp(x, packed[0], b1, "none", [], "")
            h2 = lp(F.silu(h1), packed[1], b2, "none", [], "")
            e = torch.addmv(b3, F.silu(h2), w3[0])
            d2 = torch.ops.aten.silu_backward(w3[0].expand_as(h2), h2)
            d1 = torch.ops.aten.silu_backward(lp(d2, packed[2], None, "none", [], ""), h1)
            return e, lp(d1, packed[3], None, "none", [], "")

        onednn()
        variants["onednn_packed"] = onednn
    except (AttributeError, RuntimeError):
        pass
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for f in variants.values():
        f()
    for _ in range(repeats):  # interleaved, so that a change in machine load hits every variant alike
        for name, f in variants.items():
            runs[name].append(time_median(f, repeats=1, warmup=0).median)
    return {k: Timing(*_stats(v)) for k, v in runs.items()}


def _stats(values: list[float]) -> tuple[float, float, float, tuple[float, ...]]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[0], ordered[-1], tuple(values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few steps, one timed run (smoke test)")
    parser.add_argument("--only", default=",".join(SAMPLERS), help="samplers, comma-separated (default: all)")
    parser.add_argument("--energies", default=",".join(ENERGIES), help="energies, comma-separated (default: all)")
    parser.add_argument("--chains", default=",".join(map(str, CHAINS)), help="chain counts (default: 128,4096)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default: 3)")
    parser.add_argument("--steps", type=int, default=None, help="ULA/MALA/kinetic steps per run (default: 1000)")
    parser.add_argument("--hmc-iters", type=int, default=None, help="HMC iterations per run (default: 200)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument(
        "--table-from", nargs="+", metavar="JSON", help="print the docs table from saved --json files and exit"
    )
    parser.add_argument(
        "--mlp-variants", action="store_true", help="only time MLP energy+gradient variants (GFLOP/s) and exit"
    )
    args = parser.parse_args(argv)

    samplers = [s.strip() for s in args.only.split(",") if s.strip()]
    energies = [e.strip() for e in args.energies.split(",") if e.strip()]
    for value, valid, what in ((samplers, SAMPLERS, "sampler"), (energies, ENERGIES, "energy")):
        bad = [v for v in value if v not in valid]
        if bad:
            parser.error(f"unknown {what} {', '.join(bad)}; choose from {', '.join(valid)}")
    chains = [int(c) for c in args.chains.split(",") if c.strip()]
    settings = Settings.quick() if args.quick else Settings()
    if args.repeats is not None:
        settings.repeats = args.repeats
    if args.steps is not None:
        settings.ula_steps = args.steps
    if args.hmc_iters is not None:
        settings.hmc_iters = args.hmc_iters

    if args.table_from:
        import json

        print(summary_table([row for path in args.table_from for row in json.loads(Path(path).read_text())["rows"]]))
        return 0
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    info = machine_info()
    print(f"machine: {info}")
    if args.mlp_variants:
        big = torch.randn(2048, 2048)
        t = time_median(lambda: big @ big, repeats=settings.repeats * 3, warmup=1)
        print(f"  sgemm 2048³, {torch.get_num_threads()} threads: {2 * 2048**3 / t.median / 1e9:6.1f} GFLOP/s")
        flop = 2 * (64 * 256 + 256 * 256 + 256) + 2 * (256 * 256 + 256 * 64)  # forward + input backward
        for n in chains:
            for name, t in mlp_gradient_variants(n, repeats=settings.repeats * 3).items():
                print(
                    f"  mlp {n:5d} chains {name:22s} {t.median * 1e3:8.3f} ms  {n * flop / t.median / 1e9:6.1f} GFLOP/s"
                )
        return 0
    rows = run_benchmark(samplers, energies, chains, settings)
    print()
    print(table(rows))
    print(LEGEND)
    if args.json:
        write_json(args.json, {"machine": info, "settings": settings, "rows": rows, "quick": args.quick})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
