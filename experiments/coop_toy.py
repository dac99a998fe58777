"""Cooperative learning vs short-run and persistent Langevin at an equal Langevin budget K, on eight-gaussians.

Arms (one energy architecture, MLP 128-128, one sampler, ULA λ = 0.01, the same optimiser and steps):

* A  — short-run: K ULA steps from uniform noise on the data box (``configs/cd_eight_gaussians_short_run.yaml``);
* B  — persistent: K ULA steps from a replay buffer (``configs/cd_eight_gaussians_persistent.yaml``);
* C  — cooperative: K ULA steps from a VAE's samples g(z), the VAE taught by the revised samples
  (``configs/coop_eight_gaussians.yaml``);
* C′ — the VAE of C0 (same seed) frozen, K ULA steps from its samples (isolates MCMC teaching);
* C0 — the VAE alone, trained on data by its ELBO (``configs/coop_vae_eight_gaussians.yaml``);
* Cn — C with the Langevin noise switched off (``langevin_noise: false``, as seed 001's official code).

Metrics per run: exact test NLL of the box-normalised EBM by quadrature (201² nodes) and its gap to the true NLL;
for C0 the VAE's log p(x) = log ∫ p(z) p(x|z) dz by quadrature over the 2-D latent (201² nodes on [−6, 6]²);
MMD² of 1000 samples to 1000 test points after K steps (test K = training K, from the arm's own start: noise for
A and B, g(z) for C and C′) and after 1000 steps from the same start; seconds per training iteration.

Run (the reduced grid of docs/cooperative.md, ≈ 25 min on 2 shared cores)::

    OMP_NUM_THREADS=1 python experiments/coop_toy.py --steps 400 --batch-size 128 --energy-hidden [64,64]

    OMP_NUM_THREADS=1 python experiments/coop_toy.py --target rings --arms C0 A B C "C'" --steps 400 \
        --batch-size 128 --energy-hidden [64,64]

Writes ``docs/results_coop_toy.json``, ``docs/figures/coop_toy_quality.png``, ``docs/figures/coop_toy_samples.png``
(``--target rings``: ``coop_rings``); each run's result is cached in
``runs/coop_toy/<target>/<arm>_K<k>[_lr<lr>][_val]/seed<s>/result.json`` (``--fresh`` recomputes). ``--lr A=0.01
C=0.005,0.0005`` sets per-arm learning rates (C: EBM, VAE); ``--split val`` scores on the validation split
(``coop_tune.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from coop_common import summarize  # noqa: E402

CONFIGS = {
    "A": "configs/cd_eight_gaussians_short_run.yaml",
    "B": "configs/cd_eight_gaussians_persistent.yaml",
    "C": "configs/coop_eight_gaussians.yaml",
    "C'": "configs/coop_eight_gaussians.yaml",
    "C0": "configs/coop_vae_eight_gaussians.yaml",
    "Cn": "configs/coop_eight_gaussians.yaml",  # C with langevin_noise: false (the official code's setting)
}
TARGETS = ("eight-gaussians", "rings")


def lr_sets(arm: str, lr: str | None) -> list[str]:
    """Overrides for an arm's learning rate(s): ``"0.005"`` (the one optimiser: EBM, or C0's VAE) or, for C,
    ``"0.005,0.002"`` (EBM, VAE)."""
    if not lr:
        return []
    parts = [float(v) for v in lr.split(",")]
    sets = [f"train.lr={parts[0]}"]
    if len(parts) > 1:
        sets.append(f"train.groups.vae.lr={parts[1]}")
    return sets


def parse_lrs(items: list[str]) -> dict[str, str]:
    """``["A=0.005", "C=0.005,0.002"]`` -> ``{"A": "0.005", "C": "0.005,0.002"}``."""
    return dict(item.split("=", 1) for item in items)


def run_path(arm: str, k: int, seed: int, args: argparse.Namespace) -> Path:
    """``runs/coop_toy/<target>/<arm>_K<k>[_lr<lr>][_val]/seed<s>``."""
    lr = args.lrs.get(arm)
    tag = ("" if not lr else f"_lr{lr}") + ("" if args.split == "test" else f"_{args.split}")
    name = f"{arm.replace(chr(39), 'p')}_K{k}" if arm != "C0" else "C0"
    return args.out / args.target / (name + tag) / f"seed{seed}"


def vae_log_px(vae: Any, x: torch.Tensor, n: int = 201, half_width: float = 6.0) -> torch.Tensor:
    """log p(x) = log Σ_j p(z_j) p(x | z_j) h² over an n² grid of z on [−w, w]² (2-D latents), per row of x."""
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    log_cell = 2 * math.log(2 * half_width / (n - 1))
    with torch.no_grad():
        mean = vae.decode(z.float()).double()  # (G, 2)
        log_pz = vae.prior.log_prob(z.float()).double()
        sigma = vae.log_obs_scale.exp().double()
        out = []
        for rows in x.double().split(100):
            u = (rows[:, None, :] - mean[None]) / sigma
            log_lik = (-0.5 * u.square() - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
            out.append(torch.logsumexp(log_lik + log_pz, 1) + log_cell)
    return torch.cat(out)


def run_one(arm: str, k: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from ebmlab.data import load_toy, toy_target
    from ebmlab.errors import NonFiniteError
    from ebmlab.experiments import load_experiment_config, run_experiment
    from ebmlab.metrics import grid_nll, mmd2_rbf

    lr, split_tag = args.lrs.get(arm), ("" if args.split == "test" else f"_{args.split}")
    run_dir = run_path(arm, k, seed, args)
    cached = run_dir / "result.json"
    if cached.exists() and not args.fresh:
        return json.loads(cached.read_text())
    if run_dir.exists():
        shutil.rmtree(run_dir)
    sets = [f"train.seed={seed}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}"]
    sets += ["train.progress=false", "eval=null", f"train.checkpoint_every={args.steps}"]
    sets += [f"data.target={args.target}", *lr_sets(arm, lr)]
    scale = max(abs(b) for pair in toy_target(args.target).bounds for b in pair)
    if arm != "C0":
        sets += [f"method.n_steps={k}", f"energy.hidden={args.energy_hidden}", f"method.init_scale={scale}"]
    if arm == "Cn":
        sets.append("method.langevin_noise=false")
    if arm == "C'":
        c0 = "C0" + ("" if not args.lrs.get("C0") else f"_lr{args.lrs['C0']}") + split_tag
        sets += [
            "method.vae_training=frozen",
            f"method.vae={{name: from-run, run_dir: {args.out / args.target / c0 / f'seed{seed}'}}}",
            "train.groups={}",
        ]
    try:
        run = run_experiment(load_experiment_config(ROOT / CONFIGS[arm], sets), run_dir)
    except NonFiniteError as exc:  # stopped by the loop's divergence monitor: recorded, not hidden
        result = {"arm": arm, "K": k, "seed": seed, "diverged": 1.0, "message": str(exc)[:200]}
        cached.write_text(json.dumps(result, indent=1))
        return result
    method = run.method
    target = toy_target(args.target)
    test = load_toy(args.target, args.split).x
    result: dict[str, Any] = {"arm": arm, "K": k, "seed": seed, "steps": run.step}
    result["seconds_per_iteration"] = run.summary["wall_time_s"] / max(run.step, 1)
    with torch.no_grad():
        if arm == "C0":
            nll_i = -vae_log_px(method.vae, test)
            ref = -target.log_prob(test).double()
            result["nll"] = {"nll": float(nll_i.mean()), "gap": float((nll_i - ref).mean())}
        else:
            result["nll"] = grid_nll(
                method.energy, test, target.bounds, 201, reference_log_prob=target.log_prob
            ).as_dict()
        samples = {}
        for label, steps in (("K", None), ("1000", 1000)):
            if arm == "C0" and label == "1000":
                continue
            x = method.sample(args.n_samples, torch.Generator().manual_seed(1000 + seed), n_steps=steps)
            samples[label] = x
            result[f"mmd2_{label}"] = mmd2_rbf(x, test[: args.n_samples]).value
    result["finite"] = bool(all(torch.isfinite(x).all() for x in samples.values()))
    cached.write_text(json.dumps(result, indent=1))
    torch.save({k: v[:500] for k, v in samples.items()}, run_dir / "samples.pt")
    return result


def figure_stem(args: argparse.Namespace) -> str:
    return "coop_toy" if args.target == "eight-gaussians" else f"coop_{args.target}"


def figures(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from ebmlab.plotting import pyplot

    plt = pyplot()
    arms = [a for a in args.arms if a != "C0"]
    c0 = next((r for r in rows if r["arm"] == "C0"), None)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    keys = ("mmd2_K", "mmd2_1000", "nll_gap")
    titles = ("MMD² after K steps", "MMD² after 1000 steps", "test NLL gap (nats)")
    for ax, key, title in zip(axes, keys, titles, strict=True):
        for arm in arms:
            pts = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["K"])
            ax.errorbar(
                [r["K"] for r in pts],
                [r[key]["mean"] for r in pts],
                [r[key]["sd"] for r in pts],
                label=arm,
                marker="o",
                capsize=3,
            )
        if c0 is not None and key != "mmd2_1000":
            ax.axhline(c0[key if key != "mmd2_K" else "mmd2_K"]["mean"], color="k", ls="--", label="C0 (VAE)")
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("K (Langevin steps per sample)"), ax.set_title(title)
        ax.minorticks_off()
        ax.set_xticks(args.ks, [str(k) for k in args.ks])
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / f"docs/figures/{figure_stem(args)}_quality.png", dpi=80)
    plt.close(fig)
    ks = sorted({r["K"] for r in rows if r["arm"] != "C0"})
    fig, axes = plt.subplots(len(arms) + 1, len(ks), figsize=(2.2 * len(ks), 2.2 * (len(arms) + 1)), squeeze=False)
    for i, arm in enumerate([*arms, "C0"]):
        for j, k in enumerate(ks):
            ax = axes[i][j]
            path = run_path(arm, 0 if arm == "C0" else k, 0, args) / "samples.pt"
            if path.exists() and not (arm == "C0" and j > 0):
                x = torch.load(path)["K"]
                ax.scatter(x[:, 0], x[:, 1], s=1)
            ax.set_xlim(-4, 4), ax.set_ylim(-4, 4), ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{arm}" + ("" if arm == "C0" else f", K={k}"), fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / f"docs/figures/{figure_stem(args)}_samples.png", dpi=80)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", default=["C0", "A", "B", "C", "C'", "Cn"])
    p.add_argument("--ks", nargs="+", type=int, default=[2, 5, 10, 20])
    p.add_argument("--noise-off-ks", nargs="+", type=int, default=[5, 10, 20], help="K values of arm Cn")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--n-samples", type=int, default=1000)
    p.add_argument("--energy-hidden", default="[128,128]", help="hidden widths of the one energy MLP of every arm")
    p.add_argument("--target", choices=TARGETS, default="eight-gaussians")
    p.add_argument("--split", choices=["test", "val"], default="test", help="evaluation split (val: tuning)")
    p.add_argument("--lr", nargs="*", default=[], help="per-arm learning rates, e.g. A=0.005 C=0.005,0.002")
    p.add_argument("--out", type=Path, default=ROOT / "runs/coop_toy")
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--no-figures", action="store_true", help="write the JSON only (e.g. a K = 5 check at tuned rates)")
    p.add_argument("--json", type=Path, default=None, help="default docs/results_coop_toy.json (rings: _rings)")
    args = p.parse_args(argv)
    args.lrs = parse_lrs(args.lr)
    if args.json is None:
        args.json = ROOT / f"docs/results_{figure_stem(args)}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for seed in args.seeds:
        for arm in args.arms:
            for k in [0] if arm == "C0" else args.noise_off_ks if arm == "Cn" else args.ks:
                r = run_one(arm, k, seed, args)
                keys = ("arm", "K", "seed", "mmd2_K", "seconds_per_iteration", "diverged")
                print(json.dumps({key: r.get(key) for key in keys} | {"nll": r.get("nll")}), flush=True)
                results.append(r)
    rows = summarize(
        results,
        {
            "mmd2_K": ["mmd2_K"],
            "mmd2_1000": ["mmd2_1000"],
            "nll_gap": ["nll", "gap"],
            "diverged": ["diverged"],
            "nll": ["nll", "nll"],
            "seconds_per_iteration": ["seconds_per_iteration"],
        },
    )
    args.json.write_text(
        json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}, "summary": rows, "runs": results}, indent=1)
    )
    if args.split == "test" and not args.no_figures:
        figures(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
