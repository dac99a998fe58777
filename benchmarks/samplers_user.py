"""Samplers on user-style energies, beside the floor and JAX / BlackJAX measured in the same run.

For each (sampler, energy, chains) row: **ours** = ``ebmlab.samplers.sample`` (PyTorch path, given
``--capture``), **floor** = one batched E+∇E evaluation (``energy_and_grad``, L of them for HMC) timed
in this process, and the JAX peers (benchmarks/jax_peer.py) in a subprocess on the same energies,
weights, starting points, step sizes and step counts, by default timed once after each of our repeats (``--peers
interleaved``: the ratios to them are paired medians; ``--peers after``: all rows of ours, then the peers,
benchmarks/peers.py). Rates are chain-steps/s (HMC: chain-iterations/s);
``cost`` = seconds per step ÷ floor seconds (1.0 = nothing but the energy), the floor evaluated at the chains' last
positions (``cost_x0``: at their starting points, as before session 8; with ``--clock cpu`` also
``cost_step_floor``: the floor plus one step's random draws). Also measured: the
machine's matmul rate at the MLP's shapes, and the MLP E+∇E as a fraction of it.

    python benchmarks/samplers_user.py --quick                      # smoke test, seconds
    python benchmarks/samplers_user.py --json rows.json             # every row, CPU
    python benchmarks/samplers_user.py --device cuda --capture off,auto --json gpu.json
    python benchmarks/samplers_user.py --table-from rows.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_rate, machine_info, onednn_matmul, set_malloc, time_median, write_json
from ebmlab.energies import energy_and_grad, neural
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, compiled, sample
from peers import JAX_PEER, PeerServer, peer_env, write_spec
from user_energies import ENERGIES, build_problem, mlp_flops

SAMPLERS = ("ula", "mala", "hmc", "kinetic")
N_LEAPFROG, FRICTION = 5, 1.0
#: steps per timed run (HMC: iterations = steps // N_LEAPFROG); neural energies at 4096 chains use a quarter
STEPS = {"mog8": 1000, "many-well": 1000, "mlp": 200, "conv": 100, "mlp-module": 200, "mlp-module-onednn": 200}


@dataclass
class Row:
    sampler: str
    energy: str
    chains: int
    capture: str
    steps: int
    ours: float  # chain-steps/s
    floor: float  # chain-steps/s if a step cost only its E+∇E evaluations
    cost: float  # ours seconds per step / floor seconds
    spread: float
    first_s: float = 0.0  # the warm-up call (for capture="compile": compiling included)
    cost_x0: float | None = None  # ours ÷ the floor evaluated at the starting points (before session 8: ``cost``)
    cost_step_floor: float | None = None  # ours ÷ (floor + drawing one step's random numbers) (--clock cpu)
    jax: float | None = None
    jax_compile_s: float | None = None
    blackjax: float | None = None
    blackjax_compile_s: float | None = None
    runs_s: list[float] | None = None  # ours: seconds per step, each repeat
    peers: str | None = None  # how the peers were timed: "interleaved" (between our repeats) or "after" (peers.py)
    jax_paired: float | None = None  # interleaved: median over repeats of ours ÷ JAX
    blackjax_paired: float | None = None  # interleaved: median over repeats of ours ÷ BlackJAX


def kernel(name: str, step: float):
    return (
        {"ula": ULA, "mala": MALA, "kinetic": KineticLangevin}[name](step) if name != "hmc" else HMC(step, N_LEAPFROG)
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def steps_for(energy: str, chains: int, scale: float, fixed: int | None = None) -> int:
    if fixed:
        return fixed
    base = STEPS[energy] // (4 if chains >= 1024 and energy not in ("mog8", "many-well") else 1)
    return max(N_LEAPFROG * 2, int(base * scale))


def matmul_rate(device: torch.device, n: int, repeats: int) -> dict:
    """GFLOP/s of the MLP's own GEMMs at n rows (forward and input-gradient shapes), float32: by the default BLAS
    (``a @ w``) and, on the CPU where this PyTorch has it, by oneDNN's linear (what ``MLPEnergy.energy_and_grad``
    uses there); ``gflops`` is the faster of the two, the rate the MLP's E+∇E is held against."""
    from user_energies import MLP_DIM, MLP_HIDDEN

    g = torch.Generator().manual_seed(0)
    widths = [MLP_DIM, *MLP_HIDDEN]
    pairs = list(itertools.pairwise(widths))
    mats = [(torch.randn(n, a, generator=g).to(device), torch.randn(a, b, generator=g).to(device)) for a, b in pairs]
    mats += [(torch.randn(n, b, generator=g).to(device), torch.randn(b, a, generator=g).to(device)) for a, b in pairs]
    flops = sum(2.0 * n * w.shape[0] * w.shape[1] for _, w in mats)

    def blas():
        for a, w in mats:
            a @ w
        sync(device)

    def onednn():
        for a, w in mats:
            onednn_matmul(a, w)

    t = time_median(blas, repeats=repeats, warmup=2)
    out = {"rows": n, "gflops_blas": flops / t.median / 1e9, "spread": t.spread}
    if device.type == "cpu" and neural._ONEDNN is not None:
        out["gflops_onednn"] = flops / time_median(onednn, repeats=repeats, warmup=2).median / 1e9
    out["gflops"] = max(out["gflops_blas"], out.get("gflops_onednn", 0.0))
    return out


def floor_time(problem, x: torch.Tensor, device: torch.device, repeats: int, inner: int = 10) -> float:
    """Seconds of one batched E+∇E evaluation: ``inner`` back-to-back evaluations, one synchronisation."""

    def run():
        for _ in range(inner):
            energy_and_grad(problem.energy, x)
        sync(device)

    return time_median(run, repeats=repeats, warmup=1).median / inner


#: ``sample(draw_ahead=...)`` for our rows (``--draw-ahead``)
DRAW_AHEAD: bool | str = "auto"


def measure_ours(
    problem, sampler: str, chains: int, steps: int, capture: str, device, repeats: int, clock: str = "wall",
    between: Callable[[], None] | None = None,
) -> Row:  # fmt: skip
    """Our row; ``between()`` runs after each timed repeat (the interleaved peers), outside every timing."""
    x0 = problem.x0(chains, device)
    k = kernel(sampler, problem.step_size)
    n = iterations(sampler, steps)
    evals = N_LEAPFROG if sampler == "hmc" else 1

    def run():
        out = sample(problem.energy, k, x0, n, thin=n, seed=0, diagnostics=False, capture=capture.removesuffix("+tf32"),
                     draw_ahead=DRAW_AHEAD)  # fmt: skip
        sync(device)
        return out

    start = time.perf_counter()
    # warm-up: compiles / captures what the mode compiles; timed separately. The floor is evaluated where the
    # chains are (their last positions): an energy's cost can depend on x (mog8's E+∇E costs up to ~20 % more at
    # the modes than at the starting points), and a step pays it where the chains are, not where they started.
    at = run().final_state.x.contiguous()
    first = time.perf_counter() - start
    if clock == "cpu":
        return measure_cpu(problem, sampler, chains, n, capture, run, x0, at, evals, repeats, first, between)
    t = time_median(run, repeats=repeats, warmup=0, between=between)
    per_step = t.median / n
    floor = floor_time(problem, at, device, repeats) * evals
    floor_x0 = floor_time(problem, x0, device, repeats) * evals
    return Row(
        sampler, problem.name, chains, capture, n, chains / per_step, chains / floor, per_step / floor, t.spread, first,
        cost_x0=per_step / floor_x0, runs_s=[r / n for r in t.runs],
    )  # fmt: skip


def draw_time(sampler: str, x: torch.Tensor) -> float:
    """Seconds to draw one step's random numbers the way ``sample`` does (Gaussians of x's shape, MALA: + n
    uniforms; per HMC iteration: the momenta and n uniforms), one step at a time."""
    start = time.process_time()
    for _ in range(10):
        torch.randn(x.shape, dtype=x.dtype)
        if sampler in ("mala", "hmc"):
            torch.rand(x.shape[0], dtype=x.dtype)
    return (time.process_time() - start) / 10


def measure_cpu(
    problem, sampler, chains, n, capture, run, x0, at, evals, repeats, first, between=None, inner=10
) -> Row:
    """CPU time of this process (robust on a loaded machine: waiting for a core is not counted), ours and the
    floor (at the chains' last positions ``at``, and at ``x0``) interleaved in each repeat; costs are medians of
    the per-repeat ratios (CPU only: no device work). ``cost_step_floor`` adds the step's own random draws to the
    floor: what any Langevin / Metropolis step in PyTorch pays beside its E+∇E."""
    ours, floors, floors_x0, draws = [], [], [], []
    for _ in range(repeats):
        start = time.process_time()
        run()
        ours.append((time.process_time() - start) / n)
        for x, out in ((at, floors), (x0, floors_x0)):
            start = time.process_time()
            for _ in range(inner):
                energy_and_grad(problem.energy, x)
            out.append((time.process_time() - start) / inner * evals)
        draws.append(draw_time(sampler, at))
        if between is not None:
            between()
    per_step, floor = statistics.median(ours), statistics.median(floors)
    ratio = lambda d: statistics.median(a / b for a, b in zip(ours, d, strict=True))  # noqa: E731
    spread = (max(ours) - min(ours)) / per_step
    return Row(
        sampler, problem.name, chains, capture + "@cpu", n, chains / per_step, chains / floor, ratio(floors), spread,
        first, cost_x0=ratio(floors_x0), cost_step_floor=ratio([f + d for f, d in zip(floors, draws, strict=True)]),
        runs_s=ours,
    )  # fmt: skip


def jax_python(arg: str | None) -> str | None:
    """The interpreter for the JAX peers: --jax-python, $EBMLAB_JAX_PYTHON, or this one if it has jax."""
    candidate = arg or os.environ.get("EBMLAB_JAX_PYTHON")
    if candidate:
        return candidate
    try:
        import jax  # noqa: F401

        return sys.executable
    except ImportError:
        return None


def run_jax(
    rows: list[Row],
    python: str,
    device: str,
    repeats: int,
    log,
    precision: str | None = None,
    clock: str = "wall",
    threads: int | None = None,
) -> dict | None:
    """Run benchmarks/jax_peer.py on the rows' settings; fills ``jax`` / ``blackjax`` rates in place.

    ``clock="cpu"`` times the peers by their process's CPU time, as ours; ``threads=1`` runs XLA's CPU
    backend on one thread (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``), as ours."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), [peer_row(i, row.sampler, row.energy, row.chains, row.steps)
                                      for i, row in enumerate(rows)], repeats, clock)  # fmt: skip
        env = peer_env(device, precision, threads)
        out = Path(tmp) / "out.json"
        proc = subprocess.run([python, str(JAX_PEER), str(spec), str(out)], env=env, text=True, capture_output=True)
        if proc.returncode != 0:
            log(f"JAX peer failed (rc {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
            return None
        payload = json.loads(out.read_text())
    for res in payload["rows"]:
        row = rows[res["key"]]
        row.peers = "after"
        row.jax, row.jax_compile_s = row.chains * row.steps / res["jax"]["median"], res["jax"]["compile_s"]
        if res.get("blackjax"):
            row.blackjax = row.chains * row.steps / res["blackjax"]["median"]
            row.blackjax_compile_s = res["blackjax"]["compile_s"]
    return {k: v for k, v in payload.items() if k != "rows"}


def peer_row(key: int, sampler: str, energy: str, chains: int, steps: int) -> dict:
    """A row of the peers' SPEC (benchmarks/peers.py); ``steps``: ours (HMC: iterations of L leapfrog steps)."""
    return {"key": key, "sampler": sampler, "energy": energy, "chains": chains, "steps": steps,
            "n_leapfrog": N_LEAPFROG, "friction": FRICTION}  # fmt: skip


class Interleaved:
    """The peers timed between our repeats (``--peers interleaved``, benchmarks/peers.py): one peer row per
    (sampler, energy, chains), compiled once, timed once after each repeat of each capture mode's row."""

    def __init__(self, server: PeerServer, keys: dict[tuple, int]) -> None:
        self.server, self.keys, self.prepared = server, keys, {}
        self.times: dict[str, list[float]] = {}

    def between(self, sampler: str, energy: str, chains: int) -> Callable[[], None]:
        """What ``measure_ours`` runs after each repeat of this row (the row's peers are compiled first)."""
        key = self.keys[(sampler, energy, chains)]
        if key not in self.prepared:
            self.prepared = {key: self.server.prepare(key)}
        self.times = {}

        def time_peers() -> None:
            for name, seconds in self.server.time(key).items():
                self.times.setdefault(name, []).append(seconds)

        return time_peers

    def fill(self, row: Row) -> None:
        """The row's peer rates (medians) and paired ratios (median over repeats of ours ÷ peer)."""
        compile_s = next(iter(self.prepared.values()))
        row.peers = "interleaved"
        for name, seconds in self.times.items():
            rate = row.chains * row.steps / statistics.median(seconds)
            paired = statistics.median(t / (row.steps * o) for t, o in zip(seconds, row.runs_s or [], strict=True))
            setattr(row, name, rate)
            setattr(row, f"{name}_compile_s", compile_s.get(name))
            setattr(row, f"{name}_paired", paired)


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}"


def _peer_ratio(row: dict, peer: str) -> str:
    """ours ÷ peer: the paired median when the peers ran interleaved, else the ratio of the medians."""
    paired = row.get(f"{peer}_paired")
    return f"{paired:.2f}" if paired is not None else _ratio(row["ours"], row[peer])


def table(rows: list[dict]) -> str:
    """The rows; ``ours ÷ JAX`` / ``ours ÷ BlackJAX`` are paired medians where the peers ran interleaved."""
    head = (
        "| sampler | energy / chains | capture | ours | floor | ours ÷ floor (cost) | cost, floor at x₀ | "
        "cost, floor + draws | JAX | ours ÷ JAX | BlackJAX | ours ÷ BlackJAX | JAX / BlackJAX compile s |"
    )
    lines = [head, "|" + "---|" * 13]
    opt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    for r in rows:
        comp = "—" if r["jax_compile_s"] is None else f"{r['jax_compile_s']:.1f}"
        if r["blackjax_compile_s"] is not None:
            comp += f" / {r['blackjax_compile_s']:.1f}"
        lines.append(
            f"| {r['sampler']} | {r['energy']} / {r['chains']} | {r['capture']} | {format_rate(r['ours'])} | "
            f"{format_rate(r['floor'])} | {r['cost']:.2f} | {opt(r.get('cost_x0'))} | {opt(r.get('cost_step_floor'))} | "
            f"{format_rate(r['jax']) if r['jax'] else '—'} | "
            f"{_peer_ratio(r, 'jax')} | {format_rate(r['blackjax']) if r['blackjax'] else '—'} | "
            f"{_peer_ratio(r, 'blackjax')} | {comp} |"
        )
    return "\n".join(lines)


def paired_table(rows: list[dict], modes: tuple[str, str] = ("off", "auto")) -> str:
    """One line per (sampler, energy, chains): two capture modes side by side, the peers, best ÷ peer."""
    by_key: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        by_key.setdefault((r["sampler"], r["energy"], r["chains"]), {})[r["capture"]] = r
    a, b = modes
    lines = [
        f"| sampler | energy / chains | ours ({a}) | ours ({b}) | floor | cost ({a} / {b}) | JAX | BlackJAX | "
        "best ÷ JAX | best ÷ BlackJAX |",
        "|" + "---|" * 10,
    ]
    for (sampler, energy, chains), got in by_key.items():
        if a not in got or b not in got:
            continue
        ra, rb = got[a], got[b]
        best = max(ra["ours"], rb["ours"])
        jax, bj = rb["jax"] or ra["jax"], rb["blackjax"] or ra["blackjax"]
        lines.append(
            f"| {sampler} | {energy} / {chains} | {format_rate(ra['ours'])} | {format_rate(rb['ours'])} | "
            f"{format_rate(rb['floor'])} | {ra['cost']:.2f} / {rb['cost']:.2f} | {format_rate(jax)} | "
            f"{format_rate(bj)} | {_ratio(best, jax)} | {_ratio(best, bj)} |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(SAMPLERS), help="samplers, comma-separated")
    p.add_argument("--energies", default=",".join(ENERGIES))
    p.add_argument("--chains", default="128,4096")
    p.add_argument("--cases", default=None, help="energy:chains pairs in this order (overrides --energies/--chains)")
    p.add_argument(
        "--tf32", action="store_true", help="float32 matmul precision 'high' (TF32 on CUDA); rows labelled +tf32"
    )
    p.add_argument("--capture", default="auto", help="capture modes of sample(), comma-separated (off,eager,auto,…)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--compile-block-max", type=int, default=None,
        help="capture=compile off CUDA: chains of at most this many numbers run as compiled blocks "
        "(ebmlab.samplers.compiled.COMPILE_BLOCK_MAX_ELEMENTS; 0: one compiled call per step)",
    )  # fmt: skip
    p.add_argument(
        "--compile-evals", type=int, default=None,
        help="capture=compile off CUDA: energy evaluations per compiled block "
        "(ebmlab.samplers.compiled.COMPILE_EVALS; HMC: L per step)",
    )  # fmt: skip
    p.add_argument(
        "--malloc", default="system", choices=("system", "tuned"),
        help="glibc's defaults (a library user's script) or ebmlab.allocator.tune_malloc (the ebmlab command line)",
    )  # fmt: skip
    p.add_argument(
        "--clock", default="wall", choices=("wall", "cpu"), help="cpu: process CPU time, ours and floor interleaved"
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--draw-ahead", default="auto", choices=("auto", "on", "off"),
        help="sample(draw_ahead=...): auto (the default a user gets) draws the next block on a helper thread when the "
        "first blocks measure it faster, on always, off never (everything on one thread); the helper's core is not "
        "counted in --threads",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply the default step counts")
    p.add_argument("--steps", type=int, default=None, help="steps of every row (HMC: steps / 5 iterations)")
    p.add_argument("--quick", action="store_true", help="a few steps, 1 repeat, 16 chains: a smoke test")
    p.add_argument("--jax", default="auto", choices=("auto", "off"), help="run the JAX peers when jax imports")
    p.add_argument("--jax-precision", default=None, help="JAX_DEFAULT_MATMUL_PRECISION for the peers (default: JAX's)")
    p.add_argument("--jax-python", default=None, help="interpreter with jax (default: $EBMLAB_JAX_PYTHON / this)")
    p.add_argument(
        "--peers", default="interleaved", choices=("interleaved", "after"),
        help="time the peers between our repeats (paired ratios) or all after ours (benchmarks/peers.py)",
    )  # fmt: skip
    p.add_argument("--json", default=None)
    p.add_argument("--table-from", nargs="+", default=None, help="print the table of saved JSON files and exit")
    p.add_argument("--paired", default=None, help="with --table-from: two capture modes side by side, e.g. off,auto")
    args = p.parse_args(argv)
    if args.compile_evals is not None and args.compile_evals < 1:
        p.error(f"--compile-evals must be >= 1 (energy evaluations per compiled block), got {args.compile_evals}")
    for name in args.only.split(","):
        if name not in SAMPLERS:
            p.error(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return args


def iterations(sampler: str, steps: int) -> int:
    """Iterations of ``steps`` chain steps: HMC's are of ``N_LEAPFROG`` leapfrog steps each."""
    return steps // N_LEAPFROG if sampler == "hmc" else steps


def start_peers(python, plan, steps, folder, args, device, repeats, info, errors, log) -> Interleaved | None:
    """``jax_peer.py --serve`` on every planned row (None, with the error recorded, if it cannot start)."""
    try:
        rows = [peer_row(i, *c, iterations(c[0], steps[c])) for i, c in enumerate(plan)]
        server = PeerServer(python, write_spec(folder, rows, repeats, args.clock),
                            peer_env(device.type, args.jax_precision, args.threads))  # fmt: skip
    except (OSError, RuntimeError) as error:
        errors.append(f"JAX peer: {error}")
        log(errors[-1])
        return None
    info["peers"] = server.versions | {"matmul_precision": args.jax_precision or "jax default"}
    return Interleaved(server, {c: i for i, c in enumerate(plan)})


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.table_from:
        rows = [r for f in args.table_from for r in json.loads(Path(f).read_text())["rows"]]
        print(paired_table(rows, tuple(args.paired.split(","))) if args.paired else table(rows))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available in this PyTorch ({torch.__version__}).")
    device = torch.device(args.device)
    set_malloc(args.malloc)
    if args.threads:
        torch.set_num_threads(args.threads)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    chains = (16,) if args.quick else tuple(int(c) for c in args.chains.split(","))
    scale, repeats = (0.01, 1) if args.quick else (args.steps_scale, args.repeats)
    rows: list[Row] = []
    errors: list[str] = []
    if args.tf32:
        torch.set_float32_matmul_precision("high")
    suffix = "+tf32" if args.tf32 else ""
    if args.cases:
        cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]
    else:
        cases = [(energy, n) for energy in args.energies.split(",") for n in chains]
    chains = tuple(sorted({n for _, n in cases}))
    if args.compile_block_max is not None:
        compiled.COMPILE_BLOCK_MAX_ELEMENTS = args.compile_block_max
    info = machine_info() | {"device": str(device), "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if args.compile_evals is not None:
        compiled.COMPILE_EVALS = args.compile_evals
    info["compile_block_max_elements"] = compiled.COMPILE_BLOCK_MAX_ELEMENTS
    info["compile_evals"] = compiled.COMPILE_EVALS
    global DRAW_AHEAD
    DRAW_AHEAD = {"on": True, "off": False}.get(args.draw_ahead, "auto")
    info["draw_ahead"] = DRAW_AHEAD
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    matmul: list[dict] = []
    mlp_fraction: dict[int, float] = {}

    def save(peers: dict | None) -> None:
        if args.json:
            payload = {"quick": args.quick, "machine": info, "peers": peers, "matmul": matmul,
                       "mlp_fraction_of_matmul": mlp_fraction, "errors": errors, "rows": [asdict(r) for r in rows]}  # fmt: skip
            write_json(args.json, payload)

    python = jax_python(args.jax_python) if args.jax == "auto" else None
    plan = [(sampler, energy, n) for energy, n in cases for sampler in args.only.split(",")]
    steps = {c: steps_for(c[1], c[2], scale, None if args.quick else args.steps) for c in plan}
    tmp = tempfile.TemporaryDirectory()
    peers = None
    if python is not None and args.peers == "interleaved":
        peers = start_peers(python, plan, steps, Path(tmp.name), args, device, repeats, info, errors, log)
    problems = {energy: build_problem(energy).to(device) for energy in dict.fromkeys(e for _, e, _ in plan)}
    try:
        for sampler, energy, n in plan:
            for capture in (c + suffix for c in args.capture.split(",")):
                try:
                    between = None if peers is None else peers.between(sampler, energy, n)
                    row = measure_ours(
                        problems[energy], sampler, n, steps[(sampler, energy, n)], capture, device, repeats,
                        args.clock, between,
                    )  # fmt: skip
                    if peers is not None:
                        peers.fill(row)
                except Exception as error:  # reported, not fatal: the other rows still run
                    errors.append(f"{sampler} {energy}/{n} {capture}: {type(error).__name__}: {error}")
                    log(errors[-1])
                    continue
                log(
                    f"{sampler} {energy}/{n} {capture}: {format_rate(row.ours)} (cost {row.cost:.2f}, first call {row.first_s:.1f} s)"
                )
                rows.append(row)
                save(None)  # every row survives a run cut short
    finally:  # the peer process and its SPEC folder go even when a run is cut short
        if peers is not None:
            peers.server.close()
        tmp.cleanup()
    matmul += [matmul_rate(device, n, repeats) for n in chains]
    if any(energy == "mlp" for energy, _ in cases):
        problem = build_problem("mlp").to(device)
        for m in matmul:
            t = floor_time(problem, problem.x0(m["rows"], device), device, repeats)
            mlp_fraction[m["rows"]] = mlp_flops(m["rows"]) / t / 1e9 / m["gflops"]
    save(None)  # the torch rows survive a JAX run that is cut short
    after = None
    if python is not None and args.peers == "after":
        after = run_jax(rows, python, device.type, repeats, log, args.jax_precision, args.clock, args.threads)
        if after is not None:
            after["matmul_precision"] = args.jax_precision or "jax default"
    info["load_after"] = list(os.getloadavg())
    save(after if after is not None else info.get("peers"))
    print(table([asdict(r) for r in rows]))
    for m in matmul:
        frac = mlp_fraction.get(m["rows"])
        extra = "" if frac is None else f"; MLP E+∇E reaches {100 * frac:.0f} % of it"
        both = f" (BLAS {m['gflops_blas']:.1f}" + (
            f", oneDNN {m['gflops_onednn']:.1f})" if "gflops_onednn" in m else ")"
        )
        print(f"matmul at the MLP's shapes, {m['rows']} rows: {m['gflops']:.1f} GFLOP/s{both}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
