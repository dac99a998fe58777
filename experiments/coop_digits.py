"""Cooperative learning vs short-run and persistent Langevin at equal K on 8×8 digits (FD/KID with the floor).

Arms (one energy, MLP; ULA with gradient step 1 and noise 0.01 as ``configs/cd_digits_short_run.yaml``; the same
optimiser and steps): A short-run from uniform noise, B persistent (replay buffer), C cooperative
(``configs/coop_digits.yaml``), C′ the C0 VAE of the same seed frozen, C0 the VAE alone
(``configs/coop_vae_digits.yaml``; samples are decoder means g(z)).

Metrics: FD and KID (digits-classifier features, :func:`ebmlab.metrics.digits_fd_kid`) of 450 samples against
the test split, after K steps (test K = training K, from the arm's own start) and after 1000 steps, beside the
train-vs-test floor; seconds per training iteration.

Run (the reduced grid of docs/cooperative.md)::

    OMP_NUM_THREADS=1 python experiments/coop_digits.py --steps 600 --batch-size 64 --ks 5 20

    OMP_NUM_THREADS=1 python experiments/coop_digits.py --steps 600 --batch-size 64 --ks 2 10 --merge

Writes ``docs/results_coop_digits.json`` (``--merge`` keeps the JSON's runs of other K), the sample grid
``docs/figures/coop_digits_samples[_K..].png`` and ``docs/figures/coop_digits_quality.png`` (FD vs K); per-run
results are cached in ``runs/coop_digits/<arm>_K<k>[_lr<lr>][_val]/seed<s>/result.json`` (``--fresh`` recomputes).
``--split val`` trains on 80 % of the train split and scores FD against the other 20 % (``coop_tune.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from coop_common import summarize  # noqa: E402
from coop_toy import lr_sets, parse_lrs  # noqa: E402

CONFIGS = {
    "A": "configs/cd_digits_short_run.yaml",
    "B": "configs/cd_digits_short_run.yaml",
    "C": "configs/coop_digits.yaml",
    "C'": "configs/coop_digits.yaml",
    "C0": "configs/coop_vae_digits.yaml",
}


def run_path(arm: str, k: int, seed: int, args: argparse.Namespace) -> Path:
    """``runs/coop_digits/<arm>_K<k>[_lr<lr>][_val]/seed<s>``."""
    lr = args.lrs.get(arm)
    tag = ("" if not lr else f"_lr{lr}") + ("" if args.split == "test" else f"_{args.split}")
    return args.out / ((f"{arm.replace(chr(39), 'p')}_K{k}" if arm != "C0" else "C0") + tag) / f"seed{seed}"


def validation_split() -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (fit, held out) of a fixed 80/20 permutation of the digits train split."""
    from ebmlab.data import load_digits

    n = len(load_digits("train"))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return perm[: int(0.8 * n)], perm[int(0.8 * n) :]


def validation_fd(x: torch.Tensor, seed: int) -> float:
    """FD of samples ``(n, 64)`` against the held-out 20 % of the train split, in the digits classifier's features."""
    from ebmlab.data import load_digits
    from ebmlab.metrics.digits import digits_classifier
    from ebmlab.metrics.frechet import frechet_distance

    clf = digits_classifier("symmetric")
    held = load_digits("train").x[validation_split()[1]]
    return float(frechet_distance(clf.features(x), clf.features(held), 2, torch.Generator().manual_seed(seed)).value)


def run_one(arm: str, k: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from ebmlab.config import to_dict
    from ebmlab.errors import NonFiniteError
    from ebmlab.experiments import build_experiment, load_experiment_config, run_experiment
    from ebmlab.metrics import digits_fd_kid
    from ebmlab.training import fit

    run_dir = run_path(arm, k, seed, args)
    cached = run_dir / "result.json"
    if cached.exists() and not args.fresh:
        return json.loads(cached.read_text())
    if run_dir.exists():
        shutil.rmtree(run_dir)
    sets = [f"train.seed={seed}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}"]
    sets += ["train.progress=false", "eval=null", f"train.checkpoint_every={args.steps}"]
    if arm != "C0":
        sets += [f"method.n_steps={k}", f"energy.hidden={args.energy_hidden}"]
    if arm == "B":
        sets += ["method.negatives=persistent", "method.buffer_size=10000", "method.reinit_prob=0.05"]
    if arm == "C'":
        sets += [
            "method.vae_training=frozen",
            f"method.vae={{name: from-run, run_dir: {run_path('C0', 0, seed, args)}}}",
            "train.groups={}",
        ]
    sets += lr_sets(arm, args.lrs.get(arm))
    try:
        config = load_experiment_config(ROOT / CONFIGS[arm], sets)
        if args.split == "val":  # train on 80 % of the train split, score on the held-out 20 %
            experiment = build_experiment(config)
            fit_part = experiment.data[validation_split()[0]]
            run = fit(experiment.method, fit_part, config.train, run_dir=run_dir, experiment_config=to_dict(config))
        else:
            run = run_experiment(config, run_dir)
    except NonFiniteError as exc:  # stopped by the loop's divergence monitor: recorded, not hidden
        result = {"arm": arm, "K": k, "seed": seed, "diverged": 1.0, "message": str(exc)[:200]}
        cached.write_text(json.dumps(result, indent=1))
        return result
    result: dict[str, Any] = {"arm": arm, "K": k, "seed": seed, "steps": run.step}
    result["seconds_per_iteration"] = run.summary["wall_time_s"] / max(run.step, 1)
    samples = {}
    for label, steps in (("K", None), ("1000", 1000)):
        if (arm == "C0" or args.split == "val") and label == "1000":  # tuning scores the K-step samples only
            continue
        x = run.method.sample(args.n_samples, torch.Generator().manual_seed(1000 + seed), n_steps=steps)
        samples[label] = x
        if args.split == "val":
            result[f"fd_{label}"] = validation_fd(x.reshape(x.shape[0], -1), seed)
            continue
        r = digits_fd_kid(x.reshape(x.shape[0], -1), generator=torch.Generator().manual_seed(seed))
        result[f"fd_{label}"], result[f"kid_{label}"] = r["model_fd"]["value"], r["model_kid"]["value"]
        result["fd_floor"], result["kid_floor"] = r["floor_fd"]["value"], r["floor_kid"]["value"]
        result[f"classes_{label}"] = r["class_coverage"]["covered"]
    cached.write_text(json.dumps(result, indent=1))
    torch.save({key: v[:64] for key, v in samples.items()}, run_dir / "samples.pt")
    return result


def quality_figure(rows: list[dict[str, Any]], ks: list[int]) -> None:
    """FD after K and after 1000 steps against K per arm (mean ± s.d. over seeds), C0 and the floor as lines."""
    from ebmlab.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    c0 = next((r for r in rows if r["arm"] == "C0"), None)
    floor = next(r["fd_floor"]["mean"] for r in rows if r["fd_floor"]["mean"] == r["fd_floor"]["mean"])
    for ax, key, title in zip(axes, ("fd_K", "fd_1000"), ("FD after K steps", "FD after 1000 steps"), strict=True):
        for arm in ("A", "B", "C", "C'"):
            pts = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["K"])
            ax.errorbar(
                [r["K"] for r in pts],
                [r[key]["mean"] for r in pts],
                [r[key]["sd"] for r in pts],
                label=arm,
                marker="o",
                capsize=3,
            )
        if c0 is not None and key == "fd_K":
            ax.axhline(c0["fd_K"]["mean"], color="k", ls="--", label="C0 (VAE)")
        ax.axhline(floor, color="gray", ls=":", label="train-vs-test floor")
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("K (Langevin steps per sample)"), ax.set_title(title)
        ax.minorticks_off(), ax.set_xticks(ks, [str(k) for k in ks])
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/figures/coop_digits_quality.png", dpi=80)
    plt.close(fig)


def figure(args: argparse.Namespace) -> None:
    """Sample grids (seed 0): one panel of 8×8 samples after K steps per arm and K."""
    from ebmlab.plotting import pyplot

    plt = pyplot()
    panels = [(a, k) for a in args.arms if a != "C0" for k in args.ks] + [("C0", 0)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
    for ax, (arm, k) in zip(axes[0], panels, strict=True):
        path = run_path(arm, k, 0, args) / "samples.pt"
        ax.set_xticks([]), ax.set_yticks([])
        if not path.exists():
            continue
        x = torch.load(path)["K"][:36].reshape(36, 8, 8)
        grid = torch.full((53, 53), float("nan"))  # 6 × 6 digits with one-pixel gaps
        for i in range(36):
            r, c = divmod(i, 6)
            grid[9 * r : 9 * r + 8, 9 * c : 9 * c + 8] = x[i]
        ax.imshow(grid.numpy(), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(arm if arm == "C0" else f"{arm}, K={k}", fontsize=9)
    fig.tight_layout()
    suffix = "" if args.ks == [5, 20] else "_K" + "_".join(str(k) for k in args.ks)
    fig.savefig(ROOT / f"docs/figures/coop_digits_samples{suffix}.png", dpi=90)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", default=["C0", "A", "B", "C", "C'"])
    p.add_argument("--ks", nargs="+", type=int, default=[5, 20])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-samples", type=int, default=450)
    p.add_argument("--energy-hidden", default="[256,256]", help="hidden widths of the one energy MLP of every arm")
    p.add_argument("--out", type=Path, default=ROOT / "runs/coop_digits")
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--json", type=Path, default=ROOT / "docs/results_coop_digits.json")
    p.add_argument("--split", choices=["test", "val"], default="test", help="evaluation split (val: tuning)")
    p.add_argument("--lr", nargs="*", default=[], help="per-arm learning rates, e.g. A=0.0001 C=0.0001,0.001")
    p.add_argument("--merge", action="store_true", help="keep the JSON's runs of other (arm, K, seed)")
    args = p.parse_args(argv)
    args.lrs = parse_lrs(args.lr)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for seed in args.seeds:
        for arm in args.arms:
            for k in [0] if arm == "C0" else args.ks:
                r = run_one(arm, k, seed, args)
                print(json.dumps({key: r.get(key) for key in ("arm", "K", "seed", "fd_K", "fd_1000", "fd_floor")}))
                results.append(r)
    cols = [
        "diverged",
        "fd_K",
        "kid_K",
        "fd_1000",
        "kid_1000",
        "fd_floor",
        "kid_floor",
        "classes_K",
        "seconds_per_iteration",
    ]
    if args.merge and args.json.exists():  # runs of other (arm, K, seed) from an earlier invocation
        ran = {(r["arm"], r["K"], r["seed"]) for r in results}
        old = json.loads(args.json.read_text())["runs"]
        results = [r for r in old if (r["arm"], r["K"], r["seed"]) not in ran] + results
        results.sort(key=lambda r: (["C0", "A", "B", "C", "C'"].index(r["arm"]), r["K"], r["seed"]))
    rows = summarize(results, {c: [c] for c in cols})
    settings = {key: str(v) for key, v in vars(args).items()}
    args.json.write_text(json.dumps({"settings": settings, "summary": rows, "runs": results}, indent=1))
    if args.split == "test":
        figure(args)
        quality_figure(rows, sorted({r["K"] for r in results if r["arm"] != "C0"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
