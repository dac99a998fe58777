"""``ebmlab rd``: R(D) of a source at one or more slopes β, by EBA, Blahut–Arimoto or the closed form.

``ebmlab rd --source {gaussian,bernoulli,laplace,PATH.npy,FILE.py:NAME} | --source-file PATH.npy [--variances v1,v2,... | --p P | --scale B]
--distortion {squared,mse,hamming,abs} --beta B[,B,...] --method {eba,eba-ba,ba,closed-form} [--seed S]
[--c-estimator {samples,density}] [--json] [--out DIR]``. ``--json`` prints a list of points ``{"beta", "distortion", "rate", "rate_upper",
"rate_lower", "rate_critic", "rate_closed_form", "seconds"}`` in nats (null where not applicable); ``--out``
writes ``rd.json`` (with standard errors) and ``rd.png`` (estimate, bound band, closed form).
``--c-estimator density`` (EBA): the lower bound's c(x) is importance-sampled from the source's log-density
(``log_prob``: the built-in gaussian, or a ``Source`` subclass from FILE.py:NAME) instead of averaged over its
samples; the points then carry ``"c_estimator": "density"``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ebmlab.outputs import save_figure
from ebmlab.yaml_io import atomic_write_text

__all__ = ["add_parser", "plot_rd", "run", "user_source"]

FIELDS = ("beta", "distortion", "rate", "rate_upper", "rate_lower", "rate_critic", "rate_closed_form", "seconds")


def _floats(text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return vals


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ebmlab.cli._args import positive_int

    p = subparsers.add_parser(
        "rd",
        help="rate-distortion function R(D) with sandwich bounds (EBA, Blahut-Arimoto, closed forms)",
        description="Estimate R(D) (nats) at slopes beta; EBA reports an upper and a lower bound from its learned marginal.",
    )
    p.add_argument(
        "--source",
        default=None,
        help="gaussian, bernoulli, laplace, a .npy file of samples (N, dim), or FILE.py:NAME (a sampler f(n, generator))",
    )
    p.add_argument("--source-file", default=None, help="a .npy file of source samples (N, dim); never unpickled")
    p.add_argument("--dim", type=positive_int, default=None, help="FILE.py:NAME sources: the dimension of one sample")
    p.add_argument("--variances", type=_floats, default=None, help="gaussian: per-dimension variances v1,v2,...")
    p.add_argument("--p", type=float, default=None, help="bernoulli: P(y = 1), in (0, 1)")
    p.add_argument("--scale", type=float, default=None, help="laplace: scale b > 0")
    p.add_argument("--distortion", required=True, help="squared (summed), mse (per dimension), hamming, abs")
    p.add_argument("--beta", type=_floats, required=True, help="slope(s) beta > 0, comma-separated")
    p.add_argument("--method", default="closed-form", help="eba, eba-ba (BA-style EBM), ba, closed-form")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=positive_int, default=1500, help="EBA training steps per beta (default 1500)")
    p.add_argument("--chains", type=positive_int, default=1024, help="EBA chains (even; default 1024)")
    p.add_argument(
        "--c-estimator",
        default="samples",
        help="lower bound's c(x): samples (default, source draws only) or density (uses the source's log_prob)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="eba / eba-ba: torch device of the training (cpu, cuda, cuda:1, ... or auto); the bounds run on the CPU",
    )
    p.add_argument("--json", action="store_true", help="print the points as one JSON list")
    p.add_argument("--out", default=None, help="directory for rd.json and rd.png")
    p.set_defaults(run=run)
    return p


def _source(args: argparse.Namespace) -> Any:
    from ebmlab.cli.user_energy import is_user_energy
    from ebmlab.errors import ConfigError
    from ebmlab.ratedistortion import SampleSource, get_source

    if (args.source is None) == (args.source_file is None):
        raise ConfigError("give exactly one of --source NAME|FILE.py:NAME|FILE.npy and --source-file FILE.npy.")
    given = {"--variances": args.variances, "--p": args.p, "--scale": args.scale}
    allowed = {"gaussian": "--variances", "bernoulli": "--p", "laplace": "--scale"}.get(args.source or "")
    extra = [k for k, v in given.items() if v is not None and k != allowed]
    if extra:
        raise ConfigError(
            f"{', '.join(extra)} does not apply to --source {args.source or args.source_file}; "
            f"use {allowed or 'no parameter (the file holds the samples)'}."
        )
    if args.source_file is not None:
        return SampleSource.from_npy(args.source_file)
    if args.dim is not None and not is_user_energy(args.source):
        raise ConfigError("--dim applies to --source FILE.py:NAME only.")
    if is_user_energy(args.source):
        return user_source(args.source, args.dim)
    return get_source(args.source, args.variances, args.p, args.scale)


def user_source(spec: str, dim: int | None) -> Any:
    """A ``Source`` from ``FILE.py:NAME``: a ``Source`` instance, or a sampler ``f(n, generator) -> (n, dim)``.

    The file is imported only because the command line names it; ``dim`` defaults to the width of a probe draw.
    """
    import torch

    from ebmlab.cli.user_energy import load_user_object
    from ebmlab.errors import ConfigError
    from ebmlab.ratedistortion import CallableSource, Source

    obj, name = load_user_object(spec)
    if isinstance(obj, Source):
        return obj
    if not callable(obj) or isinstance(obj, type):
        raise ConfigError(f"{spec}: {name} must be a function f(n, generator) -> (n, dim) samples or a Source.")
    if dim is None:
        try:
            probe = torch.as_tensor(obj(2, torch.Generator(device="cpu").manual_seed(0)))
        except Exception as exc:
            raise ConfigError(f"{spec}: calling {name}(2, generator) failed ({type(exc).__name__}: {exc}).") from None
        dim = 1 if probe.dim() == 1 else int(probe.shape[-1])
    return CallableSource(obj, dim, name=name)


def plot_rd(points: list[dict[str, Any]], source: Any, distortion: str, path: Path) -> Path:
    """R(D): estimates, the [lower, upper] band and the closed-form curve where one exists."""
    from ebmlab.experiments.rate_distortion import closed_form_rate
    from ebmlab.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    pts = sorted((p for p in points if p["distortion"] is not None), key=lambda p: p["distortion"])
    ds = [p["distortion"] for p in pts]
    if ds and closed_form_rate(source, distortion, ds[0]) is not None:
        lo, hi = 0.5 * min(ds), 1.5 * max(ds)
        grid = [lo + (hi - lo) * i / 200 for i in range(201)]
        rates = [closed_form_rate(source, distortion, d) for d in grid]
        ax.plot(
            grid,
            [r if r is not None and math.isfinite(r) else math.nan for r in rates],
            "k-",
            lw=1,
            label="closed form",
        )
    if pts and pts[0]["rate_upper"] is not None:
        lows, highs = [p["rate_lower"] for p in pts], [p["rate_upper"] for p in pts]
        ax.vlines(ds, lows, highs, lw=6, alpha=0.35, label="[lower, upper]")
    ax.plot(ds, [p["rate"] for p in pts], "o", ms=4, label="estimate")
    ax.set_xlabel(f"distortion ({distortion})")
    ax.set_ylabel("rate (nats)")
    ax.legend(frameon=False)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    from ebmlab.experiments.rate_distortion import estimate_rd
    from ebmlab.experiments.spec import resolve_device

    device = resolve_device(args.device)
    source = _source(args)
    points = estimate_rd(
        source,
        args.distortion,
        args.beta,
        args.method,
        args.seed,
        args.steps,
        args.chains,
        c_estimator=args.c_estimator,
        device=device,
    )
    fields = FIELDS + (("c_estimator",) if args.c_estimator != "samples" else ())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "rd.json",
            json.dumps(
                {
                    "source": source.name,
                    "distortion": args.distortion,
                    "method": args.method,
                    "seed": args.seed,
                    "c_estimator": args.c_estimator,
                    "points": points,
                },
                indent=1,
            ),
        )
        plot_rd(points, source, args.distortion, out / "rd.png")
    if args.json:
        print(json.dumps([{k: p[k] for k in fields} for p in points]))
        return 0
    print(f"{'beta':>8} {'D':>10} {'R':>9} {'[lower, upper]':>21} {'R(D) closed':>11}")
    for p in points:
        band = "" if p["rate_upper"] is None else f"[{p['rate_lower']:.4f}, {p['rate_upper']:.4f}]"
        closed = "n/a" if p["rate_closed_form"] is None else f"{p['rate_closed_form']:.4f}"
        print(f"{p['beta']:>8g} {p['distortion']:>10.5f} {p['rate']:>9.4f} {band:>21} {closed:>11}")
    if args.c_estimator != "samples":
        print("lower bound: c(x) importance-sampled from the source's log-density (not from its samples only)")
    return 0
