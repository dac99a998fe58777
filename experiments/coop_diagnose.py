"""Diagnose the two bad cooperative results: the collapsed cooperative cVAE (completion) and C at K = 5 (toy).

``completion``: trains ``configs/coop_digits_completion.yaml`` in variants and, every ``--every`` steps, measures
on 100 fixed test digits × 3 masks × 5 latent draws: the cVAE proposals' diversity (s.d. over the 5 draws of the
decoder means on the missing pixels), their pixel error, the revision ‖x̃ − x̂‖ per missing pixel, and the KL of
the cVAE's posterior on the revised samples. Variants (``--variants``):

* ``cold`` — the shipped sampler, ULA gradient step 1 with decoupled noise 0.01 (temperature σ²/2λ = 5·10⁻⁵);
* ``k0`` — K = 0: the cVAE taught by its own decoder means alone (no EBM in the loop), the self-teaching limit;
* ``seed`` — seed 001's Langevin, step δ²/2 with noise δ (δ = 0.1, ULA step 0.005, noise coupled);
* ``seed_gamma01`` / ``gamma01`` — ``seed`` / ``cold`` with KL weight γ = 0.1;
* ``data`` — the cVAE fit to the data (baseline (i)).

``toy``: trains arms A and C on eight-gaussians at one K and records, every ``--every`` steps, the share of the
box-normalised EBM's mass (201² quadrature) in the region where the true density is below e⁻¹⁰ of its maximum
("off-data mass"), the EBM's test NLL gap, and for C the spread of the VAE's start points g(z) (radius mean/s.d.).

Run::

    OMP_NUM_THREADS=1 python experiments/coop_diagnose.py completion --steps 600 --batch-size 64 --k 10 \
        --variants cold k0 seed data   # then --variants gamma01 seed_gamma01 (the JSON holds both invocations)
    OMP_NUM_THREADS=1 python experiments/coop_diagnose.py toy --steps 400 --batch-size 128 --k 5 --every 50 --seeds 0 1 2
    python experiments/coop_diagnose.py figure   # docs/figures/coop_diagnose.png from the two JSON files

Writes ``docs/results_coop_diagnose_<which>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]

COMPLETION_SETS = {
    "cold": [],
    "k0": ["method.n_steps=0"],
    "seed": ["sampler={name: ula, step_size: 0.005}"],
    "seed_gamma01": ["sampler={name: ula, step_size: 0.005}", "method.kl_weight=0.1"],
    "gamma01": ["method.kl_weight=0.1"],
    "data": [],
}


def completion_probe(method: Any, x: torch.Tensor, masks: torch.Tensor, k: int) -> dict[str, float]:
    """Diversity / error of the cVAE proposals and the size of the K-step revision on fixed test inputs."""
    from ebmlab.energies import Clamped
    from ebmlab.methods.cooperative import langevin_revise

    g = torch.Generator().manual_seed(7)
    n = 5
    rows, rmask = x.repeat_interleave(n, 0), masks.repeat_interleave(n, 0)
    miss = ~rmask
    with torch.no_grad():
        c = method.context(rows, rmask)
        x0 = torch.where(rmask, rows, method.cvae.decode(method.cvae.sample_latent(rows.shape[0], g), c))
    clamped = Clamped(method.energy, rows, rmask)
    xk = clamped.fill(langevin_revise(clamped, x0, method.sampler, k, g, method.langevin_noise, method.clamp))
    with torch.no_grad():
        kl = method.cvae.elbo(xk, c, g)[2].mean()
        loc = method.cvae.encode(xk, c)[0]

    def per_missing(t: torch.Tensor) -> float:
        return float((t * miss).sum() / miss.sum())

    div0 = x0.reshape(-1, n, 64).std(1)
    return {
        "diversity_proposal": per_missing(div0.repeat_interleave(n, 0)),
        "diversity_revised": per_missing(xk.reshape(-1, n, 64).std(1).repeat_interleave(n, 0)),
        "error_proposal": per_missing((x0 - rows).square()),
        "error_revised": per_missing((xk - rows).square()),
        "revision_per_pixel": per_missing((xk - x0).abs()),
        "kl_revised": float(kl),
        "posterior_mean_sd": float(loc.std(0).mean()),
    }


def run_completion(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ebmlab.data import load_digits
    from ebmlab.experiments import build_experiment, load_experiment_config
    from ebmlab.methods.cooperative_completion import MASKS, completion_mask
    from ebmlab.training import fit

    sys_path = str(ROOT / "experiments")
    import sys

    sys.path.insert(0, sys_path)
    from coop_completion import CVAEOnData

    test = load_digits("test").x[:100]
    g = torch.Generator().manual_seed(100)
    masks = torch.cat([completion_mask(m, 100, 64, g) for m in MASKS])
    x = test.repeat(len(MASKS), 1)
    out = []
    for variant in args.variants:
        for seed in args.seeds:
            sets = [f"train.seed={seed}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}"]
            sets += ["train.progress=false", f"method.n_steps={args.k}", *COMPLETION_SETS[variant]]
            config = load_experiment_config(ROOT / "configs/coop_digits_completion.yaml", sets)
            experiment = build_experiment(config)
            method = experiment.method
            trace: list[dict[str, Any]] = []

            def probe(step: int, values: dict[str, Any], method: Any = method, trace: list = trace) -> None:
                if step % args.every == 0 or step == 1:
                    trace.append({"step": step} | completion_probe(method, x, masks, args.k))

            train_cfg = config.train
            trained: Any = method
            if variant == "data":
                import dataclasses

                train_cfg = dataclasses.replace(train_cfg, lr=1e-3, betas=(0.9, 0.999), groups={})
                trained = CVAEOnData(method)
            fit(trained, experiment.data, train_cfg, callbacks=[probe])
            row = {"variant": variant, "seed": seed, "trace": trace}
            print(json.dumps({"variant": variant, "seed": seed} | trace[-1]), flush=True)
            out.append(row)
    return out


def run_toy(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ebmlab.data import load_toy, toy_target
    from ebmlab.experiments import build_experiment, load_experiment_config
    from ebmlab.metrics import grid_nll
    from ebmlab.training import fit

    target = toy_target("eight-gaussians")
    test = load_toy("eight-gaussians", "test").x
    (lo0, hi0), (lo1, hi1) = target.bounds
    n = 201
    gx = torch.stack(
        torch.meshgrid(torch.linspace(lo0, hi0, n), torch.linspace(lo1, hi1, n), indexing="ij"), -1
    ).reshape(-1, 2)
    true_lp = target.log_prob(gx)
    off = true_lp < true_lp.max() - 10.0
    configs = {"A": "configs/cd_eight_gaussians_short_run.yaml", "C": "configs/coop_eight_gaussians.yaml"}
    out = []
    for arm in args.arms:
        for seed in args.seeds:
            sets = [f"train.seed={seed}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}"]
            sets += ["train.progress=false", "eval=null", f"method.n_steps={args.k}", "energy.hidden=[64,64]"]
            config = load_experiment_config(ROOT / configs[arm], sets)
            experiment = build_experiment(config)
            method = experiment.method
            trace: list[dict[str, Any]] = []

            def probe(step: int, values: dict[str, Any], method: Any = method, trace: list = trace) -> None:
                if not (step % args.every == 0 or step == 1):
                    return
                with torch.no_grad():
                    u = method.energy(gx).double()
                    w = torch.softmax(-u, 0)
                    row = {"step": step, "off_data_mass": float(w[off].sum())}
                    row["nll_gap"] = grid_nll(
                        method.energy, test, target.bounds, n, reference_log_prob=target.log_prob
                    ).as_dict()["gap"]
                    if hasattr(method, "vae"):
                        s = method.vae.decode(method.vae.sample_latent(1000, torch.Generator().manual_seed(3)))
                        r = s.norm(dim=1)
                        row |= {"start_radius_mean": float(r.mean()), "start_radius_sd": float(r.std())}
                trace.append(row)

            try:
                fit(method, experiment.data, config.train, callbacks=[probe])
                status = "finished"
            except Exception as exc:
                status = f"stopped: {type(exc).__name__}"
            print(json.dumps({"arm": arm, "seed": seed, "status": status} | trace[-1]), flush=True)
            out.append({"arm": arm, "seed": seed, "K": args.k, "status": status, "trace": trace})
    return out


def figure() -> None:
    """``docs/figures/coop_diagnose.png``: cVAE proposal diversity per variant, toy off-data mass per arm."""
    from ebmlab.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    comp = json.loads((ROOT / "docs/results_coop_diagnose_completion.json").read_text())["runs"]
    for r in comp:
        t = r["trace"]
        axes[0].plot([x["step"] for x in t], [x["diversity_proposal"] for x in t], marker="o", label=r["variant"])
    axes[0].set_xlabel("training step"), axes[0].set_ylabel("s.d. over 5 proposals (missing pixels)")
    axes[0].set_title("completion: cVAE proposal diversity", fontsize=10), axes[0].legend(fontsize=7)
    toy = json.loads((ROOT / "docs/results_coop_diagnose_toy.json").read_text())["runs"]
    for r in toy:
        t = r["trace"]
        style = "-" if r["arm"] == "A" else "--"
        axes[1].plot([x["step"] for x in t], [max(x["off_data_mass"], 1e-7) for x in t], style, marker=".")
    axes[1].plot([], [], "-", color="k", label="A (short-run from noise)")
    axes[1].plot([], [], "--", color="k", label="C (cooperative)")
    axes[1].set_yscale("log"), axes[1].set_xlabel("training step"), axes[1].legend(fontsize=7)
    axes[1].set_title("eight-gaussians, K = 5: EBM mass off the data (3 seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/figures/coop_diagnose.png", dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=["completion", "toy", "figure"])
    p.add_argument("--variants", nargs="+", default=list(COMPLETION_SETS))
    p.add_argument("--arms", nargs="+", default=["A", "C"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--every", type=int, default=100)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.which == "figure":
        figure()
        return 0
    rows = run_completion(args) if args.which == "completion" else run_toy(args)
    path = ROOT / f"docs/results_coop_diagnose_{args.which}.json"
    settings: list[Any] = [{k: str(v) for k, v in vars(args).items()}]
    if path.exists():  # keep the other variants (arm, seed) of earlier invocations
        old = json.loads(path.read_text())
        ran = {(r.get("variant"), r.get("arm"), r["seed"]) for r in rows}
        rows = [r for r in old["runs"] if (r.get("variant"), r.get("arm"), r["seed"]) not in ran] + rows
        settings = [*(old["settings"] if isinstance(old["settings"], list) else [old["settings"]]), *settings]
    path.write_text(json.dumps({"settings": settings, "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
