"""MLP energy + input gradient against the machine's matmul rate at the same shapes, several ways.

``MLPEnergy(64, (256, 256))`` (SiLU) at 128 and 4096 rows. The reference is the MLP's own GEMMs
(forward ``(n, a) @ (a, b)`` and input-gradient ``(n, b) @ (b, a)`` for each hidden layer) back to back;
its GFLOP/s is the machine's matmul rate at these shapes (on the CPU also by oneDNN's linear, ``gemm_onednn``, and
the faster of the two is the reference). Variants of E+∇E, each as GFLOP/s of the MLP's
matmul FLOPs and as a fraction of that rate:

* ``autograd`` — ``ebmlab.energies.energy_and_grad`` (what every sampler calls: for ``MLPEnergy`` its written-out
  gradient, whose large float32 CPU matmuls run on oneDNN; the name is kept for older result files);
* ``vjp`` — ``torch.func.vjp`` (no autograd tape on the tensors);
* ``manual`` — forward and input-backward written out: weights pre-transposed once to contiguous
  ``(in, out)`` (forward ``addmm``) and kept ``(out, in)`` (backward ``mm``), SiLU's backward as the fused
  ``aten.silu_backward``; checked against autograd in this run (max |Δ|);
* ``compiled`` — ``torch.compile`` (inductor) of the ``vjp`` variant (elementwise work fused);
* ``…+graph`` (CUDA) — the same captured once in a CUDA graph and replayed (no launch overhead); the
  reference is then also measured as a graph (``gemm+graph``);
* ``…+tf32`` (CUDA, ``--tf32``) — the same with ``torch.set_float32_matmul_precision("high")``: TF32
  tensor cores, **different arithmetic** (10-bit mantissa products), against the TF32 GEMM rate.

Every reference and variant is timed once in each of ``--repeats`` rounds, in an order that rotates by one per
round, and a fraction is the median over rounds of that round's ratio: on a shared machine a slow spell during
one measurement of the reference can no longer give a variant more than 100 % of the matmul rate.

    python benchmarks/mlp_rate.py --json mlp_rate.json [--device cuda --tf32]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, onednn_matmul, write_json
from ebmlab.energies import energy_and_grad, neural
from ebmlab.samplers.compiled import func_energy_and_grad
from user_energies import MLP_DIM, MLP_HIDDEN, build_problem, mlp_flops

EG = Callable[[Tensor], tuple[Tensor, Tensor]]


def manual_energy_and_grad(net: torch.nn.Sequential) -> EG:
    """E+∇ₓE of a Linear/SiLU/…/Linear(·, 1) stack written out (weights read once, here: frozen)."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    w_t = [m.weight.detach().t().contiguous() for m in linears]  # (in, out): forward addmm
    w = [m.weight.detach().contiguous() for m in linears]  # (out, in): backward mm
    b = [m.bias.detach() for m in linears]

    def eg(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            h, pre = x, []
            for i in range(len(linears) - 1):
                z = torch.addmm(b[i], h, w_t[i])
                pre.append(z)
                h = torch.nn.functional.silu(z)
            e = torch.addmm(b[-1], h, w_t[-1]).squeeze(-1)
            g = w[-1].expand(x.shape[0], -1)  # dE/dh of the last hidden layer
            for i in range(len(linears) - 2, -1, -1):
                g = torch.ops.aten.silu_backward(g, pre[i]) @ w[i]
        return e, g

    return eg


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, inner: int
) -> dict[str, list[float]]:
    """Seconds per call of every ``fn``, ``repeats`` rounds in which each runs ``inner`` back-to-back calls (one
    sync), the order rotating by one per round: a reference and a variant are timed seconds apart in every round,
    so their ratio can be taken per round (a slow spell of a shared machine then moves both)."""
    for fn in fns.values():
        for _ in range(2):
            fn()
    sync(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(inner):
                fns[name]()
            sync(device)
            times[name].append((time.perf_counter() - start) / inner)
    return times


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def as_graph(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` captured once in a CUDA graph; the returned callable replays it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def gemm_fn(n: int, device: torch.device, onednn: bool = False) -> Callable[[], object]:
    """The MLP's GEMMs at n rows, back to back (forward and input-gradient shapes); ``onednn``: by oneDNN's linear."""
    import itertools

    g = torch.Generator().manual_seed(0)
    pairs = list(itertools.pairwise([MLP_DIM, *MLP_HIDDEN]))
    mats = [(torch.randn(n, a, generator=g).to(device), torch.randn(a, b, generator=g).to(device)) for a, b in pairs]
    mats += [(torch.randn(n, b, generator=g).to(device), torch.randn(b, a, generator=g).to(device)) for a, b in pairs]

    def run() -> None:
        for a, w in mats:
            a @ w

    def run_onednn() -> None:
        for a, w in mats:
            onednn_matmul(a, w)

    return run_onednn if onednn else run


def gemm_flops(n: int) -> float:
    import itertools

    return sum(4.0 * n * a * b for a, b in itertools.pairwise([MLP_DIM, *MLP_HIDDEN]))


def measure(device: torch.device, rows: list[int], repeats: int, graphs: bool, label: str) -> list[dict]:
    net = build_problem("mlp").to(device).energy
    variants: dict[str, EG] = {
        "autograd": lambda x: energy_and_grad(net, x),
        "vjp": func_energy_and_grad(net),
        "manual": manual_energy_and_grad(net.net),
    }
    try:
        variants["compiled"] = torch.compile(func_energy_and_grad(net), dynamic=False)
    except Exception as error:  # reported, not fatal
        print(f"compile unavailable: {error}", file=sys.stderr)
    out = []
    for n in rows:
        x = build_problem("mlp").x0(n, device)
        ref_e, ref_g = energy_and_grad(net, x)
        inner = 20 if device.type == "cuda" else 3
        gemm = gemm_fn(n, device)
        fns: dict[str, Callable[[], object]] = {"gemm": gemm}
        if device.type == "cpu" and neural._ONEDNN is not None:
            fns["gemm_onednn"] = gemm_fn(n, device, onednn=True)
        if graphs:
            fns["gemm+graph"] = as_graph(gemm)
        errors = {}
        for name, eg in variants.items():
            try:
                e, g = eg(x)
                errors[name] = max(float((e - ref_e).abs().max()), float((g - ref_g).abs().max()))
                fns[name] = lambda eg=eg, x=x: eg(x)
                if graphs:
                    fns[name + "+graph"] = as_graph(lambda eg=eg, x=x: eg(x))
            except Exception as error:  # a variant that fails is reported, the others still run
                print(f"{name} at {n} rows failed: {type(error).__name__}: {error}", file=sys.stderr)
        times = interleaved(fns, device, repeats, inner)
        found = {k: median(t) for k, t in times.items()}
        gemm_rate = {k: gemm_flops(n) / t / 1e9 for k, t in found.items() if k.startswith("gemm")}
        for name, t in found.items():
            if name.startswith("gemm"):
                continue
            rate = mlp_flops(n) / t / 1e9
            # the fractions are medians over rounds of this round's rate ÷ this round's reference rate
            refs = ["gemm+graph"] if name.endswith("+graph") else [k for k in ("gemm", "gemm_onednn") if k in times]
            per_round = [
                (mlp_flops(n) / tv) / max(gemm_flops(n) / times[k][r] for k in refs) for r, tv in enumerate(times[name])
            ]
            best = [
                (mlp_flops(n) / tv) / max(gemm_flops(n) / times[k][r] for k in gemm_rate)
                for r, tv in enumerate(times[name])
            ]
            row = {"precision": label, "rows": n, "variant": name, "seconds": t, "gflops": rate,
                   "fraction_of_gemm": median(per_round), "fraction_of_best_gemm": median(best),
                   "max_abs_err_vs_autograd": errors[name.removesuffix("+graph")]}  # fmt: skip
            out.append(row)
            print(
                f"[{label}] {n} rows {name:16s} {t * 1e6:9.1f} µs {rate:9.1f} GFLOP/s "
                f"{100 * row['fraction_of_gemm']:5.1f} % of matmul rate (err {row['max_abs_err_vs_autograd']:.1e})",
                flush=True,
            )
        for k, r in gemm_rate.items():
            out.append({"precision": label, "rows": n, "variant": k, "seconds": found[k], "gflops": r})
            print(f"[{label}] {n} rows {k:16s} {found[k] * 1e6:9.1f} µs {r:9.1f} GFLOP/s (reference)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rows", default="128,4096")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--tf32", action="store_true", help="CUDA: also measure with float32 matmul precision 'high'")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_compile:
        torch.compile = lambda fn, **_: (_ for _ in ()).throw(RuntimeError("--no-compile"))  # type: ignore[assignment]
    device = torch.device(args.device)
    rows = [int(r) for r in args.rows.split(",")]
    graphs = device.type == "cuda"
    results = measure(device, rows, args.repeats, graphs, "float32")
    if args.tf32 and device.type == "cuda":
        torch.set_float32_matmul_precision("high")
        results += measure(device, rows, args.repeats, graphs, "tf32")
        torch.set_float32_matmul_precision("highest")
    info = machine_info() | {"device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    if args.json:
        write_json(args.json, {"machine": info, "rows": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
