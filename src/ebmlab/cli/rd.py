"""``ebmlab rd``: R(D) of a source at one or more slopes β, by EBA, Blahut–Arimoto or the closed form.

``ebmlab rd --source {gaussian,bernoulli,laplace,PATH.npy} [--variances v1,v2,... | --p P | --scale B]
--distortion {squared,mse,hamming,abs} --beta B[,B,...] --method {eba,eba-ba,ba,closed-form} [--seed S]
[--json] [--out DIR]``. ``--json`` prints a list of points ``{"beta", "distortion", "rate", "rate_upper",
"rate_lower", "rate_critic", "rate_closed_form", "seconds"}`` in nats (null where not applicable); ``--out``
writes ``rd.json`` (with standard errors) and ``rd.png`` (estimate, bound band, closed form).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "plot_rd", "run"]

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
    p.add_argument("--source", required=True, help="gaussian, bernoulli, laplace, or a .npy file of samples (N, dim)")
    p.add_argument("--variances", type=_floats, default=None, help="gaussian: per-dimension variances v1,v2,...")
    p.add_argument("--p", type=float, default=None, help="bernoulli: P(y = 1), in (0, 1)")
    p.add_argument("--scale", type=float, default=None, help="laplace: scale b > 0")
    p.add_argument("--distortion", required=True, help="squared (summed), mse (per dimension), hamming, abs")
    p.add_argument("--beta", type=_floats, required=True, help="slope(s) beta > 0, comma-separated")
    p.add_argument("--method", default="closed-form", help="eba, eba-ba (BA-style EBM), ba, closed-form")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=positive_int, default=1500, help="EBA training steps per beta (default 1500)")
    p.add_argument("--chains", type=positive_int, default=1024, help="EBA chains (even; default 1024)")
    p.add_argument("--json", action="store_true", help="print the points as one JSON list")
    p.add_argument("--out", default=None, help="directory for rd.json and rd.png")
    p.set_defaults(run=run)
    return p


def _source(args: argparse.Namespace) -> Any:
    from ebmlab.errors import ConfigError
    from ebmlab.ratedistortion import get_source

    given = {"--variances": args.variances, "--p": args.p, "--scale": args.scale}
    allowed = {"gaussian": "--variances", "bernoulli": "--p", "laplace": "--scale"}.get(args.source)
    extra = [k for k, v in given.items() if v is not None and k != allowed]
    if extra:
        raise ConfigError(
            f"{', '.join(extra)} does not apply to --source {args.source}; "
            f"use {allowed or 'no parameter (the file holds the samples)'}."
        )
    return get_source(args.source, args.variances, args.p, args.scale)


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
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    from ebmlab.experiments.rate_distortion import estimate_rd

    source = _source(args)
    points = estimate_rd(source, args.distortion, args.beta, args.method, args.seed, args.steps, args.chains)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "rd.json.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "source": source.name,
                    "distortion": args.distortion,
                    "method": args.method,
                    "seed": args.seed,
                    "points": points,
                },
                indent=1,
            )
        )
        tmp.replace(out / "rd.json")
        plot_rd(points, source, args.distortion, out / "rd.png")
    if args.json:
        print(json.dumps([{k: p[k] for k in FIELDS} for p in points]))
        return 0
    print(f"{'beta':>8} {'D':>10} {'R':>9} {'[lower, upper]':>21} {'R(D) closed':>11}")
    for p in points:
        band = "" if p["rate_upper"] is None else f"[{p['rate_lower']:.4f}, {p['rate_upper']:.4f}]"
        closed = "n/a" if p["rate_closed_form"] is None else f"{p['rate_closed_form']:.4f}"
        print(f"{p['beta']:>8g} {p['distortion']:>10.5f} {p['rate']:>9.4f} {band:>21} {closed:>11}")
    return 0
