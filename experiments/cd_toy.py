"""Contrastive divergence on 2-D toys: short-run Langevin from noise vs persistent chains.

Trains the twelve configs
``configs/cd_{eight_gaussians,rings}_{short_run,persistent,persistent_long,annealed,tempered,tempered_long}.yaml`` with
the training loop, then evaluates each learned energy:

* exact test NLL of the box-normalised EBM by quadrature and its paired gap to the true NLL;
* the model's mode masses by quadrature (exact, no sampling) and their TV to the true weights;
* MMD² to the test split and mode coverage of samples after K (training length) and 1000 steps of the
  run's sampler from its initial noise;
* a baseline without MCMC: the same network, optimiser and steps trained by exact maximum likelihood
  with log Z by quadrature (:class:`GridMLE`), once per target and training length/schedule.

Run (≈ 100 min on 2 shared CPU cores; each config ≤ 5 min per seed)::

    OMP_NUM_THREADS=1 python experiments/cd_toy.py

Writes ``docs/results_cd_toy.json``, ``docs/figures/cd_toy.png`` and run directories under
``runs/cd_toy/<config>/seed<k>/``, for train seeds 0, 1, 2 (``--seeds``); the summary gives the mean and
s.d. over seeds. ``--set train.steps=50 --seeds 0`` (any config override) gives a quick smoke run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    f"configs/cd_{target}_{kind}.yaml"
    for target in ("eight_gaussians", "rings")
    for kind in ("short_run", "persistent", "persistent_long", "annealed", "tempered", "tempered_long")
]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "x"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def train_and_evaluate(path: Path, out: Path, overrides: list[str], n_samples: int, seed: int) -> dict[str, Any]:
    """Train one config with the training loop and evaluate it (see module doc); a run stopped by the
    loop's divergence monitor is recorded as ``diverged``."""
    from ebmlab.errors import NonFiniteError
    from ebmlab.experiments import load_experiment_config, run_experiment
    from ebmlab.metrics import toy_quality

    config = load_experiment_config(path, [*overrides, f"train.seed={seed}", "train.progress=false"])
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    run_dir = out / path.stem / f"seed{seed}"
    if (run_dir / "config.yaml").exists():  # a previous run of this script: start afresh
        shutil.rmtree(run_dir)
    target = config.data.params["target"]  # type: ignore[union-attr]
    try:
        run = run_experiment(config, run_dir)
    except NonFiniteError as exc:
        return {"config": name, "target": target, "seed": seed, "diverged": str(exc)}
    start = time.perf_counter()
    quality = toy_quality(run.method, target, n_samples=n_samples, n_steps=(None, 1000), return_samples=True)
    return {
        "config": name,
        "seed": seed,
        "target": target,
        "negatives": run.method.kind,
        "sampler": run.method.sampler.name,
        "n_steps": run.method.n_steps,
        "train_steps": run.step,
        "lr_schedule": config.train.lr_schedule,
        "train_seconds": run.summary.get("wall_time_s"),
        "eval_seconds": time.perf_counter() - start,
        "final_train_metrics": {k: v for k, v in run.final_metrics.items() if not k.startswith("eval/")},
        "quality": quality,
        "method": run.method,
    }


class GridMLE(torch.nn.Module):
    """Baseline: exact maximum likelihood with log Z by quadrature on a 128² grid over the box (no MCMC).

    loss = mean E(x) + log Σ_grid exp(−E) h², differentiated through the grid; the same network, optimiser
    and number of steps as a CD run shows how much of CD's NLL gap is due to the negatives.
    """

    def __init__(self, energy: torch.nn.Module, bounds: Any, n: int = 128) -> None:
        super().__init__()
        self.energy = energy
        axes = [torch.linspace(lo, hi, n) for lo, hi in bounds]
        self.register_buffer("grid", torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2))
        self.log_cell = sum(math.log((hi - lo) / (n - 1)) for lo, hi in bounds)

    def losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        log_z = torch.logsumexp(-self.energy(self.grid), 0) + self.log_cell
        return {"loss": self.energy(batch).mean() + log_z, "log_z": log_z.detach()}


def oracle(path: Path, out: Path, overrides: list[str], seed: int = 0) -> dict[str, Any]:
    """Train :class:`GridMLE` with the energy, data and ``train`` settings of a CD config; its NLL gap."""
    from ebmlab.data import toy_target
    from ebmlab.experiments import build_experiment, load_experiment_config
    from ebmlab.metrics import grid_nll
    from ebmlab.metrics.evaluators import grid_mode_weights
    from ebmlab.training import fit

    config = load_experiment_config(path, [*overrides, f"train.seed={seed}", "train.progress=false", "eval=null"])
    experiment = build_experiment(config)
    target = toy_target(config.data.params["target"])  # type: ignore[union-attr]
    method = GridMLE(experiment.energy, target.bounds)
    run_dir = out / f"{path.stem}_oracle"  # named after the first config with these training settings
    if (run_dir / "config.yaml").exists():
        shutil.rmtree(run_dir)
    run = fit(method, experiment.data, config.train, run_dir=run_dir)
    from ebmlab.data import load_toy

    test = load_toy(target.name, "test").x
    nll = grid_nll(method.energy, test, target.bounds, 401, reference_log_prob=target.log_prob)
    return {
        "train_seconds": run.summary.get("wall_time_s"),
        "nll": nll.as_dict(),
        "model_modes": grid_mode_weights(method.energy, target, 401),
    }


def oracle_key(r: dict[str, Any]) -> str:
    """One oracle per target and training length/schedule, e.g. ``eight-gaussians, 2000 steps, constant lr``."""
    return f"{r['target']}, {r['train_steps']} steps, {r['lr_schedule']} lr"


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per config: NLL gap, exact mode-mass TV, 1000-step MMD² and coverage, as mean and s.d. over seeds."""
    rows = []
    for cfg in dict.fromkeys(r["config"] for r in results):
        runs = [r for r in results if r["config"] == cfg]
        ok = [r for r in runs if "diverged" not in r]
        cols: dict[str, list[float]] = {
            "nll_gap": [r["quality"]["nll"]["gap"] for r in ok],
            "mode_mass_tv": [r["quality"]["model_modes"]["tv"] for r in ok],
            "mmd2_k": [r["quality"]["samples"]["train_k"]["mmd"]["value"] for r in ok],
            "mmd2_1000": [r["quality"]["samples"]["1000"]["mmd"]["value"] for r in ok],
            "covered_1000": [r["quality"]["samples"]["1000"]["coverage"]["covered"] for r in ok],
            "train_seconds": [r["train_seconds"] for r in ok],
        }
        row: dict[str, Any] = {"config": cfg, "seeds": [r["seed"] for r in runs], "diverged": len(runs) - len(ok)}
        for key, values in cols.items():
            t = torch.tensor(values, dtype=torch.float64)
            row[key] = {
                "per_seed": values,
                "mean": float(t.mean()) if values else None,
                "sd": float(t.std()) if len(values) > 1 else None,
            }
        rows.append(row)
    return rows


def table(summary: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table (mean ± s.d. over seeds; per-seed NLL gaps in brackets)."""

    def cell(col: dict[str, Any], fmt: str) -> str:
        if col["mean"] is None:
            return "—"
        sd = f" ± {col['sd']:{fmt}}" if col["sd"] is not None else ""
        return f"{col['mean']:{fmt}}{sd}"

    lines = [
        "| config | NLL gap (nats) | per seed | mode-mass TV | MMD² (K steps) | MMD² (1000 steps) "
        "| modes covered (1000) | diverged | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        per_seed = ", ".join(f"{v:.2f}" for v in r["nll_gap"]["per_seed"])
        lines.append(
            f"| {Path(r['config']).stem} | {cell(r['nll_gap'], '.3f')} | {per_seed} | {cell(r['mode_mass_tv'], '.2f')} "
            f"| {cell(r['mmd2_k'], '.4f')} | {cell(r['mmd2_1000'], '.4f')} | {cell(r['covered_1000'], '.2f')} "
            f"| {r['diverged']}/{len(r['seeds'])} | {cell(r['train_seconds'], '.0f')} |"
        )
    return "\n".join(lines)


def _grid_density(energy: Any, bounds: Any, n: int = 200) -> torch.Tensor:
    axes = [torch.linspace(lo, hi, n) for lo, hi in bounds]
    pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        logp = -energy(pts).double()
    return torch.softmax(logp, 0).reshape(n, n)


def _kind(r: dict[str, Any]) -> str:
    """The config's variant: ``cd_rings_tempered_long`` -> ``tempered_long``."""
    prefix = "cd_" + r["target"].replace("-", "_") + "_"
    stem = Path(r["config"]).stem
    return stem[len(prefix) :] if stem.startswith(prefix) else stem


def figure(results: list[dict[str, Any]], path: Path) -> None:
    """Two rows per target: the true density, then per config the model density exp(−E) (both on the box,
    square-root colour scale); below, the data, then per config 2,000 samples after 1000 sampler steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ebmlab.data import load_toy, toy_target

    targets = list(dict.fromkeys(r["target"] for r in results))
    kinds = list(dict.fromkeys(_kind(r) for r in results))
    ncol = 1 + len(kinds)
    fig, axes = plt.subplots(2 * len(targets), ncol, figsize=(1.9 * ncol, 2.0 * 2 * len(targets)))
    axes = axes.reshape(2 * len(targets), ncol)
    for i, target in enumerate(targets):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        truth = toy_target(target)
        (x0, x1), (y0, y1) = bounds = truth.bounds
        true_density = _grid_density(truth.energy, bounds)
        top[0].imshow(true_density.T.sqrt(), origin="lower", extent=(x0, x1, y0, y1), cmap="viridis")
        top[0].set_title(f"{target}: true density", fontsize=7)
        data = load_toy(target, "test").x[:2000]
        bottom[0].scatter(data[:, 0], data[:, 1], s=0.5, alpha=0.4, color="k")
        bottom[0].set_title("test data", fontsize=7)
        for j, kind in enumerate(kinds, start=1):
            r = next((r for r in results if r["target"] == target and _kind(r) == kind), None)
            if r is None:
                continue
            dens = _grid_density(r["method"].energy, bounds)
            top[j].imshow(dens.T.sqrt(), origin="lower", extent=(x0, x1, y0, y1), cmap="viridis")
            top[j].set_title(f"{kind}\nNLL gap {r['quality']['nll']['gap']:.2f}", fontsize=7)
            xs = r["quality"]["samples"]["1000"]["x"]
            bottom[j].scatter(xs[:, 0], xs[:, 1], s=0.5, alpha=0.4, color="C1")
            bottom[j].set_title(f"1000 {r['sampler']} steps", fontsize=7)
        for ax in (*top, *bottom):
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _merge(
    old: dict[str, Any], results: list[dict[str, Any]], oracles: dict[str, Any], command: str
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Earlier results of the configs not run now, then the new ones, in the order of CONFIGS."""
    rerun = {r["config"] for r in results}
    merged = [r for r in old["results"] if r["config"] not in rerun] + results
    for r in merged:  # results written before the lr schedule existed used a constant lr
        r.setdefault("lr_schedule", "constant")
    # oracles written before they were keyed by training settings: keyed by target, 2000 constant-lr steps
    old_oracles = {(k if ", " in k else f"{k}, 2000 steps, constant lr"): v for k, v in old.get("oracle", {}).items()}
    order = {c: i for i, c in enumerate(CONFIGS)}
    merged.sort(key=lambda r: (order.get(r["config"], len(order)), r["seed"]))
    return merged, {**old_oracles, **oracles}, [*old["command"].split(" && "), command]


def _reload(r: dict[str, Any], out: Path, n_samples: int) -> None:
    """Attach the method and its 1000-step samples (same seed as the evaluation, so the same draws)."""
    from ebmlab.experiments import load_run
    from ebmlab.metrics.evaluators import draw_samples

    _, r["method"] = load_run(out / Path(r["config"]).stem / f"seed{r['seed']}")
    r["quality"]["samples"]["1000"]["x"] = draw_samples(r["method"], n_samples, 1000, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="*", default=CONFIGS, help="experiment YAMLs (default: the twelve toy runs)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--out", default="runs/cd_toy", help="parent of the run directories")
    parser.add_argument("--json", default="docs/results_cd_toy.json", help="results file")
    parser.add_argument("--figure", default="docs/figures/cd_toy.png", help="figure file")
    parser.add_argument("--no-oracle", dest="oracle", action="store_false", help="skip the grid-MLE baseline")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="train.seed values per config")
    parser.add_argument("--n-samples", type=int, default=2000, help="model samples per evaluation")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the results of configs not run now from the existing --json (their run directories under --out "
        "are reloaded for the figure)",
    )
    args = parser.parse_args(argv)
    from ebmlab.yaml_io import atomic_write_text

    torch.set_num_threads(1)
    results, oracles = [], {}
    for cfg in args.configs:
        path = (ROOT / cfg) if not Path(cfg).is_absolute() else Path(cfg)
        for seed in args.seeds:
            print(f"training {cfg} (seed {seed}) ...", flush=True)
            r = train_and_evaluate(path, ROOT / args.out, args.overrides, args.n_samples, seed)
            results.append(r)
            if "diverged" in r:
                print(f"  diverged: {r['diverged'][:120]}", flush=True)
                continue
            q = r["quality"]
            print(
                f"  {r['train_seconds']} s; NLL {q['nll']['nll']:.3f} (true {q['nll']['reference_nll']:.3f}, "
                f"gap {q['nll']['gap']:.3f} ± {q['nll']['gap_se']:.3f}); mode-mass TV {q['model_modes']['tv']:.3f}",
                flush=True,
            )
            key = oracle_key(r)
            if args.oracle and key not in oracles and seed == args.seeds[0]:
                o = oracles[key] = oracle(path, ROOT / args.out, args.overrides, seed)
                print(
                    f"  oracle (grid MLE, same net/optimiser/steps): gap {o['nll']['gap']:.3f}; "
                    f"mode-mass TV {o['model_modes']['tv']:.3f}"
                )
    command = "OMP_NUM_THREADS=1 python experiments/cd_toy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commands = [command]
    json_path = ROOT / args.json
    if args.merge and json_path.exists():
        results, oracles, commands = _merge(json.loads(json_path.read_text()), results, oracles, command)
    payload = {
        "command": " && ".join(commands),
        "torch": torch.__version__,
        "summary": summarize(results),
        "oracle": oracles,
        "results": [_jsonable({k: v for k, v in r.items() if k != "method"}) for r in results],
    }
    print(table(payload["summary"]))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json_path, json.dumps(payload, indent=1) + "\n")  # hours of runs: never half-written
    shown = [r for r in results if r["seed"] == args.seeds[0] and "diverged" not in r]
    for r in shown:
        if "method" not in r:  # merged from an earlier invocation: reload the run for the figure
            _reload(r, ROOT / args.out, args.n_samples)
    if shown:
        figure(shown, ROOT / args.figure)
    print(f"wrote {json_path}" + (f" and {ROOT / args.figure}" if shown else " (no run to plot)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
