"""Optimiser steps per second of ``fit`` against bare PyTorch training scripts doing the same work, same run.

Workloads (float32, Adam lr 1e-3, one optimiser step per training step):

* ``cd-short`` — ContrastiveDivergence(MLPEnergy(2, (128, 128)), ULA(0.01), short-run, K = 20 steps from
  uniform noise on [−5, 5]², 128 negatives) on a batch of 128 from 8-Gaussian data;
* ``cd-persistent`` — the same with a replay buffer of 10 000 chains, 5 % restarted from noise;
* ``cd-short-user`` — cd-short with the energy a plain ``nn.Module`` of the same architecture (no
  ``energy_and_grad``): ∇E by autograd on both sides, as for any user energy;
* ``bg`` — BoltzmannGenerator(mog8, NICE, 4 couplings of 64×2, batch 256), reverse KL.

Columns, per workload: **fit** (``ebmlab.training.fit``: logging every 10 steps, divergence checks, a final
checkpoint), **method loop** (a bare ``for`` loop calling the same ``method.losses``, ``backward``, Adam: the
loop's own overhead is fit ÷ this), **bare PyTorch** (a hand-written script of the same algorithm: autograd ULA
loop, tensor replay buffer, plain NICE reverse KL for bg is the method's own objective). The two bare loops use
fit's own Adam implementation (``foreach`` on CPU / CUDA parameters, :func:`ebmlab.training.optim.foreach_applies`;
the same bits as PyTorch's per-parameter loop, which is its CPU default), so that the ratios measure the loop alone;
``--bare-optimizer default`` gives them PyTorch's default instead (what a script that does not ask gets). Median of
``--repeats`` interleaved runs (the order of the three rotated each repeat, so that no variant always runs first or
last), in wall time and in this process's CPU time (robust on a loaded machine,
where wall time includes waiting for a core; with ``OMP_NUM_THREADS=1`` it is the work done); "paired": the
median of each repeat's own fit ÷ bare (the JSON keeps every repeat's CPU seconds, ``cpu_s``).

    python benchmarks/training.py --quick
    python benchmarks/training.py --steps 100 --json train.json [--device cuda]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, rotated, set_malloc, write_json
from ebmlab.energies import MLPEnergy
from ebmlab.methods.boltzmann_generator import BoltzmannGenerator
from ebmlab.methods.contrastive_divergence import ContrastiveDivergence
from ebmlab.samplers import ULA
from ebmlab.training import StepContext, TrainConfig, fit
from ebmlab.training.optim import foreach_applies
from user_energies import mog8

WORKLOADS = ("cd-short", "cd-persistent", "cd-short-user", "bg")
BATCH, K, LAM, SCALE, BUFFER, REINIT = 128, 20, 0.01, 5.0, 10_000, 0.05


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def data(device: torch.device, n: int = 10_000) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    k = torch.randint(8, (n,), generator=g).double() * (2 * math.pi / 8)
    means = 4.0 * torch.stack([k.cos(), k.sin()], 1)
    return (means + 0.5 * torch.randn(n, 2, generator=g, dtype=torch.float64)).float().to(device)


class PlainMLP(torch.nn.Module):
    """A user's energy: MLPEnergy(2, (128, 128))'s architecture as a plain module (∇E by autograd)."""

    def __init__(self) -> None:
        super().__init__()
        layers = [torch.nn.Linear(2, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128), torch.nn.SiLU()]
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(128, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def energy_net(name: str) -> torch.nn.Module:
    return PlainMLP() if name == "cd-short-user" else MLPEnergy(2, (128, 128))


def make_method(name: str, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "bg":
        return BoltzmannGenerator(mog8, dim=2, n_couplings=4, hidden=64, depth=2, batch_size=256).to(device)
    negatives = "persistent" if name == "cd-persistent" else "short_run"
    cd = ContrastiveDivergence(energy_net(name), ULA(LAM), negatives, n_steps=K, init_scale=SCALE,
                               buffer_size=BUFFER, reinit_prob=REINIT, event_shape=(2,))  # fmt: skip
    return cd.to(device)


def adam(params, optimizer: str) -> torch.optim.Adam:
    """The bare loops' Adam, lr 1e-3: ``optimizer`` "fit" (fit's implementation) or "default" (PyTorch's)."""
    params = list(params)
    return torch.optim.Adam(params, lr=1e-3, foreach=foreach_applies(params) if optimizer == "fit" else None)


def run_fit(name: str, steps: int, device: torch.device, x: torch.Tensor, optimizer: str = "fit") -> None:
    method = make_method(name, device)
    config = TrainConfig(steps=steps, batch_size=BATCH, progress=False, log_every=10)
    fit(method, None if name == "bg" else x, config)
    sync(device)


def run_method_loop(name: str, steps: int, device: torch.device, x: torch.Tensor, optimizer: str = "fit") -> None:
    """The method's own losses in a bare loop: what fit adds is the difference."""
    method = make_method(name, device)
    opt = adam(method.parameters(), optimizer)
    gen = torch.Generator(device=device).manual_seed(0)
    for step in range(1, steps + 1):
        batch = None if name == "bg" else x[torch.randint(x.shape[0], (BATCH,), generator=gen, device=device)]
        loss = method.losses(batch, StepContext(step, gen)).minimize["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)


def run_bare(name: str, steps: int, device: torch.device, x: torch.Tensor, optimizer: str = "fit") -> None:
    """A hand-written PyTorch script of the same algorithm (bg: the method's objective, no fit)."""
    if name == "bg":
        method = make_method(name, device)
        opt = adam(method.parameters(), optimizer)
        gen = torch.Generator(device=device).manual_seed(0)
        for _ in range(steps):
            loss = method.objective(None, gen)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        return
    torch.manual_seed(0)
    net = energy_net(name).to(device)
    opt = adam(net.parameters(), optimizer)
    gen = torch.Generator(device=device).manual_seed(0)
    uniform = lambda n: torch.rand(n, 2, generator=gen, device=device) * (2 * SCALE) - SCALE  # noqa: E731
    buf = uniform(BUFFER)
    for _ in range(steps):
        batch = x[torch.randint(x.shape[0], (BATCH,), generator=gen, device=device)]
        if name == "cd-persistent":
            idx = torch.randint(BUFFER, (BATCH,), generator=gen, device=device)
            restart = torch.rand(BATCH, generator=gen, device=device) < REINIT
            neg = torch.where(restart[:, None], uniform(BATCH), buf[idx])
        else:
            neg = uniform(BATCH)
        for _ in range(K):
            neg = neg.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(net(neg).sum(), neg)
            neg = neg - LAM * g + math.sqrt(2 * LAM) * torch.randn(neg.shape, generator=gen, device=device)
        neg = neg.detach()
        if name == "cd-persistent":
            buf[idx] = neg
        loss = net(batch).mean() - net(neg).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)


VARIANTS = {"fit": run_fit, "method loop": run_method_loop, "bare PyTorch": run_bare}


def paired(a: list[float], b: list[float]) -> float:
    """The median over repeats of a_i / b_i."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def measure(name: str, steps: int, repeats: int, device: torch.device, log, optimizer: str = "fit") -> dict:
    x = data(device)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for fn in VARIANTS.values():  # warm-up
        fn(name, 2, device, x, optimizer)
    for r in range(repeats):  # interleaved: the three see the same machine load; rotated: none always goes first
        for variant in rotated(list(VARIANTS), r):
            fn = VARIANTS[variant]
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(name, steps, device, x, optimizer)
            times[variant].append(time.perf_counter() - start)
            cpu[variant].append(time.process_time() - start_cpu)
    med = {v: statistics.median(t) for v, t in times.items()}
    med_cpu = {v: statistics.median(t) for v, t in cpu.items()}
    row = {
        "workload": name,
        "steps": steps,
        **{f"{v} steps/s": steps / med[v] for v in VARIANTS},
        "fit / method loop": med["fit"] / med["method loop"],
        "fit / bare": med["fit"] / med["bare PyTorch"],
        # CPU time of this process: robust on a loaded machine (waiting for a core is not counted); on CUDA
        # it counts the host side only
        "fit / method loop (CPU time)": med_cpu["fit"] / med_cpu["method loop"],
        "fit / bare (CPU time)": med_cpu["fit"] / med_cpu["bare PyTorch"],
        # the median of each repeat's own ratio: the two runs of a repeat are back to back, so a slow spell of
        # the machine that spans a repeat cancels (the ratios of medians above mix repeats)
        "fit / bare (CPU time, paired)": paired(cpu["fit"], cpu["bare PyTorch"]),
        "fit / method loop (CPU time, paired)": paired(cpu["fit"], cpu["method loop"]),
        "cpu_s": cpu,
        "bare optimizer": optimizer,  # (before session 16 the bare loops used PyTorch's default: "default")
        "order": "rotated each repeat",  # (before session 13: fit, method loop, bare in every repeat)
        "spread": {v: (max(t) - min(t)) / med[v] for v, t in times.items()},
    }
    log(f"{name}: " + ", ".join(f"{v} {steps / med[v]:.1f} steps/s" for v in VARIANTS))
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| workload | fit steps/s | method loop steps/s | bare PyTorch steps/s | fit ÷ method loop (time) | fit ÷ bare (time) "
        "| fit ÷ method loop (CPU time) | fit ÷ bare (CPU time) | fit ÷ bare (CPU time, paired) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['fit steps/s']:.1f} | {r['method loop steps/s']:.1f} | "
            f"{r['bare PyTorch steps/s']:.1f} | {r['fit / method loop']:.2f} | {r['fit / bare']:.2f} | "
            f"{r['fit / method loop (CPU time)']:.2f} | {r['fit / bare (CPU time)']:.2f} | "
            f"{r['fit / bare (CPU time, paired)']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--malloc", default="system", choices=("system", "tuned"),
        help="glibc's defaults (a library user's script) or ebmlab.allocator.tune_malloc (the ebmlab command line)",
    )  # fmt: skip
    p.add_argument(
        "--bare-optimizer", default="fit", choices=("fit", "default"),
        help="the bare loops' Adam: fit's implementation (foreach; the loop alone) or PyTorch's default",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="3 steps, 1 repeat: a smoke test")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    for w in args.workloads.split(","):
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available in this PyTorch ({torch.__version__}).")
    device = torch.device(args.device)
    set_malloc(args.malloc)
    steps, repeats = (3, 1) if args.quick else (args.steps, args.repeats)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows, errors = [], {}
    for w in args.workloads.split(","):
        try:
            rows.append(measure(w, steps, repeats, device, log, args.bare_optimizer))
        except Exception as error:  # a workload that fails on this device is reported, not fatal
            where = " <- ".join(
                f"{Path(f.filename).name}:{f.lineno}" for f in traceback.extract_tb(error.__traceback__)[::-1][:6]
            )
            errors[w] = f"{type(error).__name__}: {error} (at {where})"
            log(f"{w} FAILED: {errors[w]}")
    print(table(rows))
    if args.json:
        info = machine_info() | {"device": str(device), "load": os.getloadavg()}
        write_json(args.json, {"quick": args.quick, "machine": info, "rows": rows, "errors": errors})
    return 0


if __name__ == "__main__":
    sys.exit(main())
