"""``ebmlab sample``: run MCMC on a named target, or draw from a trained run.

    ebmlab sample TARGET [--sampler NAME] [--steps N] [--chains C] [--seed S] [--capture MODE] [--draw-ahead MODE] [--out DIR] [--json]
    ebmlab sample FILE.py:NAME --dim D [...]      (your energy: a function or nn.Module class in FILE.py)
    ebmlab sample TARGET --rungs R [--beta-min B] [--base-scale S] ...   (replica exchange)
    ebmlab sample RUN_DIR -n N [--start noise|buffer|annealed|tempered] [--steps N] [--out DIR]

Writes samples.npy, diagnostics.json and samples.png (samples against the exact density, where known).
With --json the summary is printed as one JSON object on stdout.
Options of one mode are errors in the other. Results that went bad (non-finite proposals, R-hat far
above 1, ESS about 1) are warned about on stderr and listed under "warnings" in diagnostics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from ebmlab.cli._args import non_negative_int, positive_float, positive_int, seed_int, step_size
from ebmlab.cli.health import mcmc_warnings, report_warnings
from ebmlab.cli.limits import check_memory, check_time
from ebmlab.cli.user_energy import check_user_energy, is_user_energy, load_user_energy
from ebmlab.errors import ConfigError
from ebmlab.outputs import save_npy
from ebmlab.samplers import SAMPLER_NAMES, get_sampler, sample
from ebmlab.samplers.health import chain_report
from ebmlab.yaml_io import atomic_write_text

#: initial step size per sampler; Metropolis-adjusted kernels adapt it during warm-up
DEFAULT_STEP = {"ula": 0.01, "mala": 0.1, "hmc": 0.1, "kinetic": 0.05, "gibbs": 1.0}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sample",
        help="sample a target with MCMC, or a trained run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ebmlab.targets import TARGET_NAMES

    p.add_argument(
        "target", help=f"a target ({', '.join(TARGET_NAMES)}), your energy as FILE.py:NAME, or a run directory"
    )
    p.add_argument("--dim", type=positive_int, default=None, help="dimension of one sample of FILE.py:NAME")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.add_argument(
        "--sampler", choices=[s for s in SAMPLER_NAMES if s != "gibbs"], default=None, help="MCMC kernel (default mala)"
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="post-warm-up steps (default 1000); for a run directory, sampler steps (default: the training K)",
    )
    p.add_argument(
        "--warmup",
        type=non_negative_int,
        default=None,
        help="warm-up steps, step size adapted for mala/hmc (default 200)",
    )
    p.add_argument("--chains", type=positive_int, default=None, help="number of chains (default 256)")
    p.add_argument("--step-size", type=step_size, default=None, help="initial step size")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**63) (default 0)")
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of the chains (and of a run directory's method): cpu (default), cuda, cuda:1, ... or auto",
    )
    p.add_argument(
        "--capture",
        choices=("auto", "off", "compile"),
        default=None,
        help="how the post-warm-up steps run: auto (default; the same chains as off, bit for bit), off (one kernel "
        "step per step) or compile (torch.compile: fused steps, different rounding, seconds of compiling first; "
        "pays on long runs of a cheap energy; falls back to auto with a warning if compiling fails)",
    )
    p.add_argument(
        "--draw-ahead",
        choices=("auto", "on", "off"),
        default=None,
        help="draw the next block of random numbers on a helper thread while the chains run: auto (default; while "
        "blocks measure it faster, timed at the start and every 30 s or more), on or off. The same chains whatever runs; it pays on large batches "
        "when a second core is idle",
    )
    p.add_argument(
        "--linears",
        choices=("default", "onednn"),
        default=None,
        help="your nn.Module energy's nn.Linear layers: default (PyTorch's BLAS) or onednn "
        "(ebmlab.energies.onednn_linears: oneDNN's GEMM, about 2x faster on CPUs where the BLAS is slow, float32 "
        "rounding differs; CPU only; benchmarks/linear_backends.py tells which is faster on yours)",
    )
    p.add_argument(
        "--rungs",
        type=positive_int,
        default=None,
        help="replica exchange with this many rungs (≥ 2) between N(0, s²I) and the target; --chains per rung",
    )
    p.add_argument(
        "--beta-min", type=positive_float, default=None, help="smallest positive β of the ladder (default 0.01)"
    )
    p.add_argument(
        "--base-scale", type=positive_float, default=None, help="s of the base (default: half the target's box)"
    )
    p.add_argument(
        "-n", "--num", type=positive_int, default=None, help="samples to draw from a run directory (default 1000)"
    )
    p.add_argument(
        "--start",
        default=None,
        help="run directory of a CD model: where chains start, noise (default), buffer, annealed or tempered",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default runs/sample-TARGET-SAMPLER)")
    p.add_argument(
        "--latent-sampler",
        choices=("base", "ula", "mala", "hmc", "kinetic", "sir", "imh"),
        default=None,
        help="run directory of a GEBM: sampler of the latent posterior (--steps, --step-size apply)",
    )
    p.set_defaults(run=run)


def _initial_points(target: Any, shape_1: tuple[int, ...], chains: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform over the target's box when it has one, else standard normal: never exact samples. On the
    generator's device."""
    bounds = getattr(target, "bounds", None)
    shape, dev = (chains, *shape_1), generator.device
    if bounds is not None and len(bounds) == math.prod(shape_1):
        lo = torch.tensor([b[0] for b in bounds], device=dev)
        hi = torch.tensor([b[1] for b in bounds], device=dev)
        return (lo + (hi - lo) * torch.rand(chains, lo.numel(), generator=generator, device=dev)).reshape(shape)
    return torch.randn(shape, generator=generator, device=dev)


#: options that apply only to one mode (attribute, flag)
TARGET_ONLY = (("sampler", "--sampler"), ("rungs", "--rungs"), ("chains", "--chains"), ("step_size", "--step-size"),
               ("warmup", "--warmup"), ("beta_min", "--beta-min"), ("base_scale", "--base-scale"),
               ("capture", "--capture"), ("linears", "--linears"), ("draw_ahead", "--draw-ahead"))  # fmt: skip
RUN_DIR_ONLY = (("num", "-n/--num"), ("start", "--start"))


def _check_mode(args: argparse.Namespace, run_dir: bool) -> None:
    """Options of the other mode are errors, never silently ignored; then fill in this mode's defaults."""
    user = is_user_energy(args.target)
    if not user and args.dim is not None:
        raise ConfigError("--dim applies only to an energy given as FILE.py:NAME; a named target knows its shape.")
    if not user and not run_dir and args.linears is not None:
        raise ConfigError("--linears applies only to your own nn.Module energy given as FILE.py:Class.")
    wrong = [flag for attr, flag in (TARGET_ONLY if run_dir else RUN_DIR_ONLY) if getattr(args, attr) is not None]
    if wrong and run_dir:
        raise ConfigError(
            f"{', '.join(wrong)} do not apply to a run directory ({args.target} samples with the run's own method "
            "and sampler); drop them, or use -n, --start, --steps, --seed, --device, --out."
        )
    if wrong:
        raise ConfigError(
            f"{', '.join(wrong)} apply only to a run directory, not to the target {args.target!r}; "
            "use --chains for the number of chains."
        )
    if not run_dir and args.rungs is None and (args.beta_min is not None or args.base_scale is not None):
        raise ConfigError("--beta-min and --base-scale set the replica-exchange ladder; give --rungs R with them.")
    for given, flag in ((args.capture, "--capture"), (args.draw_ahead, "--draw-ahead")):
        if not run_dir and args.rungs is not None and given is not None:
            raise ConfigError(
                f"{flag} applies to plain chains; replica exchange (--rungs) runs its own rounds, drop it."
            )
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out}: a file of that name exists; give a directory for the outputs.")
    defaults = (
        {"num": 1000}
        if run_dir
        else {
            "sampler": "mala",
            "warmup": 200,
            "chains": 256,
            "beta_min": 0.01,
            "capture": "auto",
            "draw_ahead": "auto",
        }
    )
    for attr, value in defaults.items():
        if getattr(args, attr) is None:
            setattr(args, attr, value)


def _check_size(args: argparse.Namespace, shape: tuple[int, ...], steps: int) -> None:
    """Memory (kept draws + working copies) and time (energy + gradient per coordinate and step) bounds."""
    dim = math.prod(shape)
    rungs = args.rungs or 1
    kept = steps // max(1, steps // 100) + 20
    check_memory("--chains", args.chains, 4.0 * dim * rungs * kept)
    check_memory("--rungs", rungs, 4.0 * dim * args.chains * kept)
    check_time("--steps", steps + args.warmup, 100.0 * dim * rungs * args.chains)


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "n/a"


def _resolve_target(args: argparse.Namespace) -> tuple[Any, tuple[int, ...], str, float | None]:
    """(energy, event shape, a name for paths, exact log Z or None) of a named target or of FILE.py:NAME."""
    if is_user_energy(args.target):
        energy, shape = load_user_energy(args.target, args.dim)
        if args.linears == "onednn":
            energy = _on_onednn(args.target, energy)
        probe = torch.randn((8, *shape), generator=torch.Generator(device="cpu").manual_seed(0))
        check_user_energy(args.target, energy, probe)
        return energy, shape, args.target.rsplit(":", 1)[1], None
    from ebmlab.targets import get_target

    target = get_target(args.target)
    return target, tuple(target.event_shape), args.target, target.log_z()


def _on_onednn(spec: str, energy: Any) -> Any:
    """``--linears onednn``: the user's module with its ``nn.Linear`` layers on oneDNN (a CPU path)."""
    from ebmlab.energies import onednn_linears

    if not isinstance(energy, torch.nn.Module):
        raise ConfigError(f"--linears onednn needs an nn.Module energy (FILE.py:Class); {spec} is a function.")
    try:
        return onednn_linears(energy)
    except ConfigError as exc:
        raise ConfigError(f"--linears onednn: {exc}") from None


def run(args: argparse.Namespace) -> int:
    path = Path(args.target)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{args.target} is a file; give a target name, FILE.py:NAME or a run directory.")
    _check_mode(args, path.is_dir())
    if path.is_dir():
        return _sample_run_dir(args)
    from ebmlab.experiments.spec import resolve_device
    from ebmlab.plotting import plot_samples_vs_density

    device = resolve_device(args.device)
    if args.linears == "onednn" and device.type != "cpu":
        raise ConfigError(f"--linears onednn is a CPU path; the chains are on {device}: drop --linears.")
    target, shape, label, exact_log_z = _resolve_target(args)
    if isinstance(target, torch.nn.Module):
        target = target.to(device)
    steps = 1000 if args.steps is None else args.steps
    _check_size(args, shape, steps)
    step = args.step_size or DEFAULT_STEP[args.sampler]
    kernel = get_sampler(args.sampler, step_size=step)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    if args.rungs is not None:
        return _run_tempering(args, (target, shape, label, exact_log_z), kernel, steps, generator)
    x0 = _initial_points(target, shape, args.chains, generator)
    thin = max(1, steps // 100)
    result = sample(
        target,
        kernel,
        x0,
        steps,
        warmup=args.warmup,
        thin=thin,
        generator=generator,
        progress=sys.stderr.isatty(),
        capture=args.capture,
        draw_ahead={"on": True, "off": False}.get(args.draw_ahead, "auto"),
    )
    result = _on_cpu(result)  # the reports below read the draws on the CPU
    out = args.out or Path("runs") / f"sample-{label}-{args.sampler}"
    summary = {
        "target": args.target,
        "sampler": args.sampler,
        "steps": steps,
        "warmup": args.warmup,
        "chains": args.chains,
        "thin": thin,
        "seed": args.seed,
        "initial_step_size": step,
        "capture": args.capture,
        "linears": args.linears or "default",
        "draw_ahead": args.draw_ahead,
        "exact_log_z": exact_log_z,
        **_coverage(target, result.samples),
        **result.summary(),
        **chain_report(result, kernel, thin),
    }
    summary["warnings"] = warnings = mcmc_warnings(summary, steps * args.chains)
    out.mkdir(parents=True, exist_ok=True)
    save_npy(out / "samples.npy", result.samples.numpy())
    atomic_write_text(out / "diagnostics.json", json.dumps(summary, indent=2) + "\n")
    final = result.final_state.x.cpu()
    plot_samples_vs_density(
        target, final, out / "samples.png", title=f"{args.sampler} on {args.target}: {args.chains} chains, final states"
    )
    summary["outputs"] = [str(out / name) for name in ("samples.npy", "diagnostics.json", "samples.png")]
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.sampler} on {args.target}: accept {_fmt(result.accept_rate, '.3f')}, "
            f"step {_fmt(result.step_size, '.4g')}, min ESS {_fmt(summary.get('ess_bulk_min'), '.1f')}, "
            f"max R-hat {_fmt(summary.get('rhat_max'), '.3f')}, {result.seconds:.2f} s"
            + (f", modes covered {summary['mode_coverage']:.2f}" if "mode_coverage" in summary else "")
        )
        print(per_chain_line(summary))
        if summary.get("capture_note"):  # why auto or a failed compile ran what it did
            print(f"capture: ran {summary['capture_used']} ({summary['capture_note']})")
        if summary.get("target_accept") is not None:
            reached = "reached" if summary["adaptation_reached"] else "NOT reached"
            print(
                f"step size adapted ({summary['adaptation']}): accept {_fmt(result.accept_rate, '.3f')} after warm-up, "
                f"target {summary['target_accept']:.3f} {reached} (tolerance ±{summary['adaptation_tolerance']})"
            )
        print(f"wrote {out}/samples.npy, diagnostics.json, samples.png")
    report_warnings("sample", warnings)
    return 0


def per_chain_line(s: dict[str, Any]) -> str:
    """The per-chain diagnostics of a summary as one console line."""
    stuck = s.get("stuck_chains") or []
    shown = ", ".join(map(str, stuck[:10])) + (", ..." if len(stuck) > 10 else "")
    return (
        f"per chain: accept min {_fmt(s.get('accept_chain_min'), '.3f')} / median "
        f"{_fmt(s.get('accept_chain_median'), '.3f')} / max {_fmt(s.get('accept_chain_max'), '.3f')}, "
        f"stuck {len(stuck)}"
        + (f" (chains {shown})" if stuck else "")
        + f", ESS per draw {_fmt(s.get('ess_per_draw'), '.3g')}, per gradient {_fmt(s.get('ess_per_grad'), '.3g')}"
    )


def _on_cpu(result: Any) -> Any:
    """``result`` (a SampleResult) with its draws, energies and acceptances on the CPU (a copy only off the CPU;
    the final state stays where the chains ran)."""
    from dataclasses import replace

    per_chain = None if result.accept_per_chain is None else result.accept_per_chain.cpu()
    return replace(result, samples=result.samples.cpu(), energies=result.energies.cpu(),
                   accept_trace=result.accept_trace.cpu(), accept_per_chain=per_chain)  # fmt: skip


def _coverage(target: Any, kept: torch.Tensor) -> dict[str, float]:
    """For mixtures, ``{"mode_coverage": ...}``: the fraction of components with a kept sample within the
    target's default radius of their mean (:meth:`GaussianMixture.mode_coverage`)."""
    coverage = getattr(target, "mode_coverage", None)
    return {} if coverage is None else {"mode_coverage": coverage(kept.reshape(-1, kept.shape[-1]))}


def _run_tempering(
    args: argparse.Namespace,
    resolved: tuple[Any, tuple[int, ...], str, float | None],
    kernel: Any,
    steps: int,
    generator: torch.Generator,
) -> int:
    """Replica exchange: ``warmup`` + ``steps`` rounds; the β = 1 rung is kept every ``steps // 100`` rounds."""
    from ebmlab.diagnostics import summarize
    from ebmlab.plotting import plot_samples_vs_density
    from ebmlab.samplers import ReplicaExchange
    from ebmlab.samplers.tempering import default_base_scale

    target, shape, label, exact_log_z = resolved
    if args.rungs < 2:
        raise ConfigError(f"--rungs must be >= 2 (the base and the target), got {args.rungs}.")
    if not args.beta_min < 1:
        raise ConfigError(f"--beta-min must be below 1, got {args.beta_min}.")
    scale = args.base_scale or default_base_scale(target)
    pt = ReplicaExchange(kernel, n_rungs=args.rungs, base_scale=scale, beta_min=args.beta_min)
    thin = max(1, steps // 100)
    result = pt.sample(target, args.chains, shape, steps, generator, args.warmup, thin, progress=sys.stderr.isatty())
    trace = result.samples.cpu()
    out = args.out or Path("runs") / f"sample-{label}-{kernel.name}-pt{args.rungs}"
    out.mkdir(parents=True, exist_ok=True)
    save_npy(out / "samples.npy", trace.numpy())
    swap = result.swap_accept
    summary = {
        "target": args.target,
        "sampler": f"replica exchange ({kernel.name})",
        "rounds": steps,
        "warmup": args.warmup,
        "chains_per_rung": args.chains,
        "betas": pt.betas.tolist(),
        "base_scale": scale,
        "step_size": kernel.step_size,
        "thin": thin,
        "seed": args.seed,
        "exact_log_z": exact_log_z,
        "swap_accept": swap.tolist(),
        "accept_per_rung": result.accept.tolist()[1:],
        **_coverage(target, trace),
        **summarize(trace),
    }
    summary["warnings"] = mcmc_warnings(summary, 0)
    atomic_write_text(out / "diagnostics.json", json.dumps(summary, indent=2) + "\n")
    plot_samples_vs_density(
        target, trace[-1], out / "samples.png", title=f"replica exchange on {args.target}: β = 1 rung, final states"
    )
    if args.json:
        print(json.dumps(summary))
        report_warnings("sample", summary["warnings"])
        return 0
    print(
        f"replica exchange ({args.rungs} rungs, {kernel.name}) on {args.target}: swap accept "
        f"{float(swap.min()):.2f}–{float(swap.max()):.2f}, min ESS {_fmt(summary.get('ess_bulk_min'), '.1f')}, "
        f"max R-hat {_fmt(summary.get('rhat_max'), '.3f')}"
        + (f", modes covered {summary['mode_coverage']:.2f}" if "mode_coverage" in summary else "")
    )
    print(f"wrote {out}/samples.npy, diagnostics.json, samples.png")
    report_warnings("sample", summary["warnings"])
    return 0


def _sample_run_dir(args: argparse.Namespace) -> int:
    try:
        from ebmlab.experiments import load_run
    except ImportError as exc:  # pragma: no cover - only while the training package is absent
        raise ConfigError(f"cannot sample from a run directory: {exc}") from None
    from ebmlab.experiments.spec import resolve_device

    device = resolve_device(args.device)
    _, loaded = load_run(args.target, str(device))
    shape = getattr(loaded, "event_shape", None) or (getattr(loaded, "dim", None) or 1,)
    dim = math.prod(int(d) for d in shape) if isinstance(shape, (tuple, list, torch.Size)) else 1
    check_memory("-n", args.num, 4.0 * dim * 20)
    method: Any = loaded
    if not hasattr(method, "sample"):
        raise ConfigError(f"the method in {args.target} cannot draw samples (it has no `sample`).")
    generator = torch.Generator(device=device).manual_seed(args.seed)
    options: dict[str, Any] = {}
    if args.start is not None:
        options["start"] = args.start
    if args.steps is not None:
        options["n_steps"] = args.steps
    if getattr(args, "latent_sampler", None) is not None:
        options["latent_sampler"] = args.latent_sampler
        if args.step_size is not None:
            options["step_size"] = args.step_size
    try:
        with torch.no_grad():
            x = method.sample(args.num, generator=generator, **options)
    except TypeError as exc:
        if not options:
            raise
        raise ConfigError(
            f"the method in {args.target} ({type(method).__name__}) does not take "
            f"{' or '.join('--' + k.replace('n_', '') for k in options)}: {exc}"
        ) from None
    out = args.out or Path(args.target) / "samples"
    out.mkdir(parents=True, exist_ok=True)
    save_npy(out / "samples.npy", x.detach().cpu().numpy())
    if args.json:
        print(json.dumps({"run": str(args.target), "samples": str(out / "samples.npy"), "shape": list(x.shape)}))
    else:
        print(f"wrote {out / 'samples.npy'} ({tuple(x.shape)})")
    return 0
