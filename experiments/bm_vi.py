"""Variational inference checked against exact answers (PPCA) and a VAE on binarised digits.

PPCA (D = 10, d = 3, σ = 0.5; every number exact or with a Monte Carlo SE):

* eq. 2.21: max |ELBO + KL(q ‖ p(z|x)) − log p(x)| over test points and random Gaussian q;
* IWAE bound L_K vs K (1 … 4096) for the trained amortised encoder, against the exact log p(x);
* variance of single-draw ELBO gradients (reparameterised, score function, score function + baseline);
* amortisation gap: a linear encoder trained by the ELBO vs the per-example mean-field optimum (closed
  form): log p(x) − ELBO_enc = KL(q* ‖ p(z|x)) (approximation gap) + ELBO(q*) − ELBO_enc (amortisation gap).

VAE (``ebmlab.generators.VAE``, Bernoulli decoder, on ``binary-digits``) trained by the ELBO through
``fit``; test log-likelihood by IWAE with K = 5000 (SE over test examples and Monte Carlo SE); amortisation
gap by per-example optimisation of q's (m, log s) from the encoder's output (Cremer et al. 2018) on the
first ``--gap-examples`` test digits.

Run::

    OMP_NUM_THREADS=1 python experiments/bm_vi.py            # ≈ 10 min on a shared core

Writes ``docs/results_bm_vi.json`` and ``docs/figures/bm_vi_iwae.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data import load_binary_digits  # noqa: E402
from ebmlab.densities.linear_gaussian import LinearGaussian  # noqa: E402
from ebmlab.estimators.base import pareto_k  # noqa: E402
from ebmlab.estimators.variational import (  # noqa: E402
    DiagonalGaussianPosterior,
    elbo,
    elbo_gradient_samples,
    iwae_bound,
    log_likelihood_iwae,
    log_weights,
)
from ebmlab.generators import VAE  # noqa: E402
from ebmlab.training import Losses, Method, StepContext, TrainConfig, fit  # noqa: E402

KS = (1, 4, 16, 64, 256, 1024, 4096)


class LinearEncoder(nn.Module):
    """q(z|x) = N(Ax + a, diag exp(2 s)), s shared (the optimal mean-field variance does not depend on x)."""

    def __init__(self, dim: int, latent: int) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, latent).double()
        self.log_s = nn.Parameter(torch.full((latent,), -1.0, dtype=torch.float64))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        m = self.lin(x)
        return m, self.log_s.expand_as(m)


class ElboMethod(Method):
    """Maximise the ELBO (one reparameterised draw per example) of a fixed or learned model."""

    def __init__(
        self, log_joint, encoder: nn.Module, latent: int, extra: nn.Module | None = None, samples: int = 1
    ) -> None:
        super().__init__()
        self.encoder, self.extra, self.log_joint, self.samples = encoder, extra, log_joint, samples
        self.q = DiagonalGaussianPosterior(encoder, latent)

    def losses(self, batch: Tensor, ctx: StepContext) -> Losses:
        value = elbo(self.log_joint, self.q, batch, ctx.generator, self.samples).mean()
        return Losses(minimize={"model": -value}, log={"elbo": value.detach()})


def ppca_model() -> tuple[LinearGaussian, Tensor, Tensor, torch.Generator]:
    """The fixed PPCA model (D = 10, d = 3, σ = 0.5), 2,000 training and 500 test points."""
    g = torch.Generator().manual_seed(0)
    m = LinearGaussian.random(10, 3, 0.5, g)
    for p in m.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        train, test = m.sample(2000, g), m.sample(500, g)
    return m, train, test, g


def train_ppca_encoder(
    m: LinearGaussian, train: Tensor, steps: int, schedule: str = "constant", samples: int = 1
) -> LinearEncoder:
    """A linear encoder trained by the Monte Carlo ELBO (``samples`` reparameterised draws per example; Adam,
    lr 0.01 with ``schedule``, batch 100)."""
    enc = LinearEncoder(10, 3)
    cfg = TrainConfig(steps=steps, batch_size=100, lr=0.01, lr_schedule=schedule, progress=False, seed=0)
    fit(ElboMethod(m.log_joint, enc, 3, samples=samples), train, cfg)
    return enc


def ppca_gap_study(settings: list[tuple[int, str, int]]) -> list[dict]:
    """Amortisation gap ELBO(q*) − ELBO_enc (exact, 500 test points) of the linear encoder per (steps, lr schedule,
    draws per example): at the optimum it is 0, so what remains is optimisation error."""
    m, train, test, _ = ppca_model()
    rows = []
    for steps, schedule, samples in settings:
        t0 = time.time()
        enc = train_ppca_encoder(m, train, steps, schedule, samples)
        with torch.no_grad():
            gap = m.elbo_exact(test, *m.mean_field_optimum(test)) - m.elbo_exact(test, *enc(test))
        row = {"steps": steps, "lr_schedule": schedule, "samples": samples, "amortisation_gap": float(gap.mean())}
        row |= {"se": float(gap.std() / math.sqrt(gap.numel())), "max": float(gap.max()), "seconds": time.time() - t0}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def ppca_part(args: argparse.Namespace) -> dict:
    m, train, test, g = ppca_model()
    with torch.no_grad():
        loc = torch.randn(500, 3, generator=g, dtype=torch.float64)
        log_s = torch.randn(500, 3, generator=g, dtype=torch.float64) * 0.5
        identity = float(
            (m.elbo_exact(test, loc, log_s) + m.kl_to_posterior(test, loc, log_s) - m.log_prob(test)).abs().max()
        )
    enc = train_ppca_encoder(m, train, args.ppca_steps)
    with torch.no_grad():
        q = DiagonalGaussianPosterior(enc, 3)
        log_px = m.log_prob(test)
        m_enc, s_enc = enc(test)
        elbo_enc = m.elbo_exact(test, m_enc, s_enc)
        opt = m.mean_field_optimum(test)
        elbo_opt = m.elbo_exact(test, *opt)
        iwae: dict[str, dict] = {}
        poor = DiagonalGaussianPosterior(lambda c: (enc(c)[0], enc(c)[1] + math.log(3.0)), 3)  # σ × 3
        for name, qq in (("encoder", q), ("encoder_sigma_x3", poor)):
            iwae[name] = {}
            for k in KS:
                b = iwae_bound(m.log_joint, qq, test, torch.Generator().manual_seed(k), k)
                gap = log_px - b
                iwae[name][k] = {
                    "bound_minus_log_px": float(-gap.mean()),
                    "se": float(gap.std() / math.sqrt(gap.numel())),
                }
    x0 = test[:1]

    def lj(z: Tensor) -> Tensor:
        return m.log_joint(x0.expand(z.shape[0], -1), z)

    variance = {}
    for where, (mu, ls) in {"encoder": (m_enc[0], s_enc[0]), "optimum+0.5": (opt[0][0] + 0.5, opt[1][0])}.items():
        row = {}
        for name, est, base in (
            ("reparam", "reparam", False),
            ("score", "score", False),
            ("score+baseline", "score", True),
        ):
            gs = elbo_gradient_samples(lj, mu, ls, 10_000, torch.Generator().manual_seed(7), est, base)
            row[name] = float(gs.var(0).sum())
        variance[where] = row
    return {
        "identity_max_abs_error": identity,
        "test_log_px": float(log_px.mean()),
        "elbo_amortised": float(elbo_enc.mean()),
        "elbo_per_example_optimum": float(elbo_opt.mean()),
        "approximation_gap": float((log_px - elbo_opt).mean()),
        "amortisation_gap": float((elbo_opt - elbo_enc).mean()),
        "amortisation_gap_se": float((elbo_opt - elbo_enc).std() / math.sqrt(500)),
        "iwae_vs_k": iwae,
        "gradient_variance_total": variance,
    }


def train_vae(args: argparse.Namespace, device: torch.device):
    """The VAE on binarised digits trained by the ELBO (seeded); returns it, log p(x, z), q(z|x), seconds, test."""
    train = load_binary_digits("train").x.to(device)
    test = load_binary_digits("test").x.to(device)
    torch.manual_seed(0)
    vae = VAE((64,), latent_dim=args.latent, hidden=(128, 128), likelihood="bernoulli").to(device)

    def log_joint(x: Tensor, z: Tensor) -> Tensor:
        return vae.log_likelihood(x, z) + vae.prior.log_prob(z)

    method = ElboMethod(log_joint, vae.encode, args.latent, extra=vae)
    t0 = time.time()
    fit(
        method, train, TrainConfig(steps=args.vae_steps, batch_size=100, lr=1e-3, progress=False, seed=0, log_every=100)
    )
    vae.eval()
    return vae, log_joint, DiagonalGaussianPosterior(vae.encode, args.latent), time.time() - t0, test


def iwae_check(args: argparse.Namespace, device: torch.device) -> dict:
    """Is the K = 5000 IWAE test log-likelihood's SE trustworthy? Per-digit Kish ESS and Pareto k̂ of the K weights,
    and the ``--check-digits`` digits of smallest ESS re-estimated with ``--check-k`` weights."""
    _, log_joint, q, _, test = train_vae(args, device)
    gen = torch.Generator(device=device).manual_seed(1)
    with torch.no_grad():
        lw = torch.cat([log_weights(log_joint, q, xb, args.k, gen).double() for xb in test.split(10)])
    lse = torch.logsumexp(lw, 1)
    est = lse - math.log(args.k)
    w = torch.exp(lw - lse[:, None])
    ess = 1.0 / w.square().sum(1)
    mc_se = (w * args.k).var(1).div(args.k).sqrt()
    khat = torch.tensor([pareto_k(r) for r in lw])
    worst = ess.argsort()[: args.check_digits]
    with torch.no_grad():
        big = [log_likelihood_iwae(log_joint, q, test[i : i + 1], gen, k=args.check_k, chunk=args.chunk) for i in worst]
    rows = [
        {"digit": int(i), "ess": float(ess[i]), "pareto_k": float(khat[i]), "iwae_k": float(est[i])}
        | {"mc_se_k": float(mc_se[i]), "iwae_big_k": b.value, "mc_se_big_k": b.details["mc_stderr"]}
        for i, b in zip(worst.tolist(), big, strict=True)
    ]
    shift = sum(r["iwae_big_k"] - r["iwae_k"] for r in rows)
    out = {
        "k": args.k,
        "check_k": args.check_k,
        "test_mean": float(est.mean()),
        "mc_stderr": float(mc_se.square().sum().sqrt() / est.numel()),
        "ess_quantiles": {str(p): float(ess.quantile(p)) for p in (0.0, 0.01, 0.05, 0.5)},
        "n_pareto_k_above_0.7": int((khat > 0.7).sum()),
        "n_pareto_k_above_0.5": int((khat > 0.5).sum()),
        "pareto_k_max": float(khat.max()),
        "worst_digits": rows,
        "test_mean_with_worst_at_check_k": float(est.mean()) + shift / est.numel(),
    }
    print(json.dumps(out, indent=1), flush=True)
    return out


def vae_part(args: argparse.Namespace, device: torch.device) -> dict:
    vae, log_joint, q, train_s, test = train_vae(args, device)
    gen = torch.Generator(device=device).manual_seed(1)
    with torch.no_grad():
        ll = log_likelihood_iwae(log_joint, q, test, gen, k=args.k, chunk=args.chunk)
        test_elbo = elbo(log_joint, q, test, gen, 1000)
    # amortisation gap on the first n test digits: optimise (m, log s) per example from the encoder's output
    x = test[: args.gap_examples]
    with torch.no_grad():
        m0, s0 = vae.encode(x)
    m, s = m0.clone().requires_grad_(), s0.clone().requires_grad_()
    opt = torch.optim.Adam([m, s], lr=0.01)
    for p in vae.parameters():
        p.requires_grad_(False)
    for _ in range(args.gap_steps):
        loss = -elbo(log_joint, DiagonalGaussianPosterior.per_example(m, s), x, gen, args.gap_samples).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        q_star = DiagonalGaussianPosterior.per_example(m.detach(), s.detach())
        e_amort = elbo(log_joint, q, x, gen, 5000)
        e_opt = elbo(log_joint, q_star, x, gen, 5000)
        ll_gap = log_likelihood_iwae(log_joint, q, x, gen, k=args.k, chunk=args.chunk)
    diff = e_opt - e_amort
    return {
        "train_seconds": train_s,
        "test_ll_iwae": ll.to_dict(),
        "test_elbo": float(test_elbo.mean()),
        "test_elbo_se": float(test_elbo.std() / math.sqrt(test_elbo.numel())),
        "gap_examples": int(x.shape[0]),
        "elbo_amortised": float(e_amort.mean()),
        "elbo_per_example": float(e_opt.mean()),
        "iwae_on_gap_examples": ll_gap.value,
        "amortisation_gap": float(diff.mean()),
        "amortisation_gap_se": float(diff.std() / math.sqrt(diff.numel())),
        "approximation_gap": float(ll_gap.value - e_opt.mean()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ppca-steps", type=int, default=10_000)
    p.add_argument("--vae-steps", type=int, default=10_000)
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=50_000)
    p.add_argument("--gap-examples", type=int, default=50)
    p.add_argument("--gap-steps", type=int, default=500)
    p.add_argument("--gap-samples", type=int, default=16)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--ppca-gap-study",
        action="store_true",
        help="only the PPCA amortisation gap vs optimisation (steps, lr schedule, draws) -> --gap-out",
    )
    p.add_argument("--iwae-check", action="store_true", help="only the IWAE trust check -> --check-out")
    p.add_argument("--check-k", type=int, default=200_000)
    p.add_argument("--check-digits", type=int, default=10)
    p.add_argument("--check-out", default=str(ROOT / "docs" / "results_bm_vi_iwae_check.json"))
    p.add_argument("--gap-out", default=str(ROOT / "docs" / "results_bm_vi_ppca_gap.json"))
    p.add_argument("--out", default=str(ROOT / "docs" / "results_bm_vi.json"))
    p.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "bm_vi_iwae.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.ppca_gap_study:
        grid = [(10_000, "constant", 1), (40_000, "constant", 1), (10_000, "linear", 1), (10_000, "constant", 16)]
        Path(args.gap_out).write_text(json.dumps({"rows": ppca_gap_study(grid)}, indent=1))
        return
    if args.iwae_check:
        check = iwae_check(args, torch.device(args.device))
        Path(args.check_out).write_text(json.dumps({"settings": vars(args), **check}, indent=1))
        return
    out = {"settings": vars(args), "ppca": ppca_part(args)}
    print(json.dumps(out["ppca"], indent=1))
    try:
        out["vae"] = vae_part(args, torch.device(args.device))
    except Exception as exc:  # a GPU-side failure: the same computation on the CPU
        print(f"VAE part failed on {args.device} ({exc}); running it on the CPU", flush=True)
        out["vae"] = vae_part(args, torch.device("cpu"))
    print(json.dumps(out["vae"], indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1))
    plot(out["ppca"]["iwae_vs_k"], args.figure)


def plot(iwae: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, rows in iwae.items():
        ks = sorted(rows, key=int)
        ax.errorbar(
            [int(k) for k in ks],
            [rows[k]["bound_minus_log_px"] for k in ks],
            yerr=[2 * rows[k]["se"] for k in ks],
            marker="o",
            capsize=3,
            label=f"q = {name}",
        )
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("K (importance samples)")
    ax.set_ylabel("L_K − log p(x) (nats, test mean ± 2 SE)")
    ax.set_title("PPCA: the IWAE bound rises to the exact log p(x)")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
