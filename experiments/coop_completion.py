"""Digit completion: conditional cooperative learning against its baselines, per mask, on held-out digits.

Trains ``configs/coop_digits_completion.yaml`` (EBM + conditional VAE, random masks) and, as baseline (i), the same
conditional VAE alone on the data (its ELBO on the true images given the same random masks, no EBM). For each
mask (``block``, ``left_right``, ``top_bottom``) the first ``--examples`` test digits are completed ``-n`` times by

* coop — K Langevin steps (training K) on the clamped EBM from the cooperative cVAE's proposal;
* coop cVAE (K=0) — the cooperative cVAE's proposal alone;
* (i) cVAE alone — the conditional VAE trained on data, decoder means g(z, c);
* (ii) EBM from noise — K (and 10K) Langevin steps on the same clamped EBM from uniform noise in the missing pixels;
* (iii) nearest neighbours — the missing pixels of the n training digits closest on the observed pixels.

Metrics (:func:`ebmlab.metrics.completion.completion_quality`): per-pixel squared error on the missing pixels,
digits-classifier accuracy of the completions against the true label, diversity (s.d. across completions).

Run (the reduced settings of docs/cooperative.md)::

    OMP_NUM_THREADS=1 python experiments/coop_completion.py --steps 600 --batch-size 64 --k 10

Writes ``docs/results_coop_completion.json`` and ``docs/figures/coop_completion.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from coop_common import summarize  # noqa: E402

from ebmlab.methods.cooperative_completion import CooperativeCompletion  # noqa: E402
from ebmlab.training import Losses, Method, StepContext  # noqa: E402


class CVAEOnData(Method):
    """Baseline (i): the conditional VAE of a coop-completion method fit to the data alone (random masks)."""

    def __init__(self, coop: CooperativeCompletion) -> None:
        super().__init__()
        self.coop = coop  # holds the masks and the cVAE; only the cVAE is trained
        coop.energy.requires_grad_(False)

    def param_groups(self) -> dict[str, Any]:
        return {"vae": list(self.coop.cvae.parameters())}

    def losses(self, batch: Tensor, ctx: StepContext) -> Losses:
        mask = self.coop.random_masks(batch.shape[0], ctx.generator)
        elbo = self.coop.cvae.elbo(batch, self.coop.context(batch, mask), ctx.generator)[0]
        return Losses({"vae": -elbo.mean()}, {"elbo": elbo.mean().detach()})


def train(seed: int, args: argparse.Namespace, baseline: bool) -> CooperativeCompletion:
    from ebmlab.experiments import build_experiment, load_experiment_config
    from ebmlab.training import fit

    sets = [f"train.seed={seed}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}"]
    sets += ["train.progress=false", f"train.checkpoint_every={args.steps}", f"method.n_steps={args.k}"]
    sets += [f"energy.hidden={args.energy_hidden}"]
    config = load_experiment_config(ROOT / "configs/coop_digits_completion.yaml", sets)
    run_dir = args.out / ("cvae" if baseline else "coop") / f"seed{seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    experiment = build_experiment(config)
    method = experiment.method
    assert isinstance(method, CooperativeCompletion)
    train_cfg = config.train
    if baseline:
        train_cfg = dataclasses.replace(train_cfg, lr=1e-3, betas=(0.9, 0.999), groups={})
    run = fit(CVAEOnData(method) if baseline else method, experiment.data, train_cfg, run_dir=run_dir)
    method.seconds_per_iteration = run.summary["wall_time_s"] / max(run.step, 1)  # type: ignore[assignment]
    return method


def evaluate(coop: CooperativeCompletion, cvae_only: CooperativeCompletion, seed: int, args: argparse.Namespace):
    from ebmlab.data import load_digits
    from ebmlab.methods.cooperative_completion import MASKS, completion_mask
    from ebmlab.metrics.completion import completion_quality, nearest_neighbour_completion

    test, train_x = load_digits("test"), load_digits("train").x
    x, y = test.x[: args.examples], test.y[: args.examples]
    m, n = x.shape[0], args.num
    results, shown = [], {}
    for mask_kind in MASKS:
        g = torch.Generator().manual_seed(100 + seed)
        mask = completion_mask(mask_kind, m, 64, g)
        rows, rmask = x.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        with torch.no_grad():
            z = cvae_only.cvae.sample_latent(m * n, g)
            alone = torch.where(rmask, rows, cvae_only.cvae.decode(z, cvae_only.context(rows, rmask)))
        arms = {
            "coop": coop.complete(rows, rmask, g),
            "coop cVAE (K=0)": coop.complete(rows, rmask, g, n_steps=0),
            "(i) cVAE alone": alone,
            "(ii) EBM from noise, K": coop.complete(rows, rmask, g, start="noise"),
            "(ii) EBM from noise, 10K": coop.complete(rows, rmask, g, n_steps=10 * coop.n_steps, start="noise"),
            "(iii) nearest neighbours": nearest_neighbour_completion(x, mask, train_x, k=n).reshape(m * n, 64),
        }
        for arm, done in arms.items():
            q = completion_quality(done.reshape(m, n, 64), x, mask, y)
            results.append({"arm": arm, "mask": mask_kind, "seed": seed} | q)
        shown[mask_kind] = {"mask": mask[:3], "truth": x[:3]} | {
            a: d.reshape(m, n, 64)[:3, :2] for a, d in arms.items()
        }
    return results, shown


def figure(shown: dict[str, Any]) -> None:
    from ebmlab.plotting import pyplot

    plt = pyplot()
    arms = [a for a in next(iter(shown.values())) if a not in ("mask", "truth")]
    cols = ["input", *[f"{a} #{j + 1}" for a in arms for j in range(2)], "truth"]
    n_rows = sum(v["truth"].shape[0] for v in shown.values())
    fig, axes = plt.subplots(n_rows, len(cols), figsize=(0.75 * len(cols), 0.8 * n_rows + 0.8), squeeze=False)
    r = 0
    for kind, v in shown.items():
        for i in range(v["truth"].shape[0]):
            masked = torch.where(v["mask"][i], v["truth"][i], torch.full((64,), float("nan")))
            images = [masked, *[v[a][i, j] for a in arms for j in range(2)], v["truth"][i]]
            for c, img in enumerate(images):
                ax = axes[r][c]
                ax.imshow(img.reshape(8, 8).numpy(), cmap="gray_r", vmin=-1, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(cols[c], fontsize=5, rotation=60, ha="left")
            axes[r][0].set_ylabel(kind, fontsize=6)
            r += 1
    fig.tight_layout(pad=0.1)
    fig.savefig(ROOT / "docs/figures/coop_completion.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--energy-hidden", default="[256,256]")
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("-n", "--num", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "runs/coop_completion")
    p.add_argument("--json", type=Path, default=ROOT / "docs/results_coop_completion.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results, timing = [], []
    for seed in args.seeds:
        coop, cvae_only = train(seed, args, baseline=False), train(seed, args, baseline=True)
        timing.append({"seed": seed, "coop": coop.seconds_per_iteration, "cvae": cvae_only.seconds_per_iteration})
        res, shown = evaluate(coop, cvae_only, seed, args)
        results += res
        for r in res:
            print(json.dumps({k: r[k] for k in ("arm", "mask", "seed", "pixel_mse", "accuracy", "diversity")}))
        if seed == args.seeds[0]:
            figure(shown)
    rows = summarize(results, {c: [c] for c in ("pixel_mse", "accuracy", "diversity", "observed_max_abs_change")})
    settings = {k: str(v) for k, v in vars(args).items()}
    out = {"settings": settings, "summary": rows, "timing": timing, "runs": results}
    args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
