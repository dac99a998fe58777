"""RBMs on binarised 8×8 digits: test log-likelihood by AIS (with SE), checked against exact log Z where possible.

Data: ``binary-digits`` (sklearn digits, x/16 > 0.5; train 1,347 / test 450). Models trained through
``fit`` with :class:`~ebmlab.methods.rbm.BoltzmannMachineCD` (SGD, momentum 0.5, batch 50, lr decayed linearly to 0):

* ``rbm20_cd1`` and ``rbm20_pcd``: 20 hidden units — log Z is also exact (enumerating 2^20 hidden states),
  so the AIS estimate is checked against it;
* ``rbm100_pcd``: 100 hidden units — AIS only.

log Z by AIS (:func:`ebmlab.estimators.rbm_ais.rbm_ais`: the tempered joint path of Salakhutdinov & Murray
2008 from the base-rate model — Bernoulli with the training pixel means — with block Gibbs, ``--chains``
chains, ``--temperatures`` sigmoid-spaced β). Test log-likelihood per digit = −mean F(v) − log Ẑ; its SE
from AIS (``se_log_z``) and from the finite test set (``se_test``) are reported separately.

Brackets (:func:`ebmlab.estimators.rbm_ais.rbm_bracket`): forward AIS (lower end of log Z) and reverse AIS (upper
end) on the same path, the reverse chains started from ``--chains`` block-Gibbs chains of ``--reverse-sweeps``
sweeps begun at random training digits (labelled ``mcmc``, with energy R̂/ESS), from exact samples where
n_h ≤ 20, and, as a control, all at one test digit with no sweeps. Test LL ∈ [−F̄ − upper, −F̄ − lower].

Run (38 min at load ≈ 27 on 2 cores)::

    OMP_NUM_THREADS=1 python experiments/bm_digits.py

Writes ``docs/results_bm_digits.json`` and ``docs/figures/bm_digits_samples.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ebmlab.data import load_binary_digits  # noqa: E402
from ebmlab.energies.binary import RBM, bernoulli_draw  # noqa: E402
from ebmlab.estimators.bracket import Bracket, mcmc_target_samples, reverse_ais  # noqa: E402
from ebmlab.estimators.rbm_ais import rbm_ais, rbm_bracket, rbm_path  # noqa: E402
from ebmlab.methods.rbm import BoltzmannMachineCD  # noqa: E402
from ebmlab.samplers import BlockGibbs, make_betas  # noqa: E402
from ebmlab.training import TrainConfig, fit  # noqa: E402

MODELS = {"rbm20_cd1": (20, 1, False), "rbm20_pcd": (20, 1, True), "rbm100_pcd": (100, 1, True)}


def train_model(name: str, train: torch.Tensor, args: argparse.Namespace) -> RBM:
    n_hidden, k, persistent = MODELS[name]
    rbm = RBM(64, n_hidden, weight_init=0.01, generator=torch.Generator().manual_seed(0)).double()
    rbm.init_visible_bias(train)
    method = BoltzmannMachineCD(rbm, k=k, persistent=persistent, n_chains=100)
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=50,
        optimizer="sgd",
        lr=args.lr,
        lr_schedule="linear",
        momentum=0.5,
        seed=0,
        progress=False,
        log_every=500,
    )
    fit(method, train.double(), cfg)
    return rbm


def evaluate(name: str, rbm: RBM, train: torch.Tensor, test: torch.Tensor, args: argparse.Namespace) -> dict:
    p = train.double().mean(0).clamp(1e-3, 1 - 1e-3)
    v_logits = torch.log(p) - torch.log1p(-p)
    t0 = time.time()
    est = rbm_ais(rbm, args.chains, args.temperatures, torch.Generator().manual_seed(1), v_logits=v_logits)
    ais_s = time.time() - t0
    with torch.no_grad():
        f_test, f_train = rbm.free_energy(test.double()), rbm.free_energy(train.double())
    row = {
        "log_z_ais": est.value,
        "se_log_z": est.stderr,
        "ess": est.ess,
        "pareto_k": est.details.get("pareto_k"),
        "ais_seconds": ais_s,
        "test_ll_ais": float(-f_test.mean()) - est.value,
        "se_test": float(f_test.std() / math.sqrt(f_test.numel())),
        "train_ll_ais": float(-f_train.mean()) - est.value,
    }
    if rbm.n_hidden <= 20:
        exact = rbm.log_z()
        row |= {"log_z_exact": exact, "z_ais": est.z_score(exact), "test_ll_exact": float(-f_test.mean()) - exact}
    row |= brackets(rbm, train, test, v_logits, float(f_test.mean()), args)
    print(name, json.dumps(row))
    return row


def bracket_row(br: Bracket, mean_f_test: float, exact: float | None) -> dict:
    """The bracket on log Z and the implied one on the test LL = −mean F(test) − log Z (upper ↔ lower flip)."""
    row = {
        "lower": br.lower.value,
        "lower_se": br.lower.stderr,
        "upper": br.upper.value,
        "upper_se": br.upper.stderr,
        "width": br.width,
        "reverse_samples": br.reverse_samples,
        "test_ll_interval": [-mean_f_test - br.upper.value, -mean_f_test - br.lower.value],
        "lower_ess": br.lower.ess,
        "upper_ess": br.upper.ess,
        "lower_pareto_k": br.lower.details.get("pareto_k"),
        "upper_pareto_k": br.upper.details.get("pareto_k"),
        "mcmc": br.diagnostics or None,
    }
    if exact is not None:
        row |= {
            "contains_exact": br.contains(exact),
            "z_lower": br.lower.z_score(exact),
            "z_upper": br.upper.z_score(exact),
        }
    return row


def brackets(rbm: RBM, train: torch.Tensor, test: torch.Tensor, v_logits, mean_f: float, args) -> dict:
    """Bidirectional AIS brackets (forward = lower, reverse = upper) on log Z, reverse AIS started from
    ``--chains`` long block-Gibbs chains (``--reverse-sweeps``) started at random training digits; with exact
    reverse samples too where n_h ≤ 20; and a negative control: every reverse chain at one test digit, no sweeps."""
    exact = rbm.log_z() if rbm.n_hidden <= 20 else None
    n, t0 = args.chains, time.time()
    g = torch.Generator().manual_seed(3)
    v0 = train.double()[torch.randperm(train.shape[0], generator=g)[:n]]
    joint = rbm.joint()
    x0 = torch.cat((v0, torch.zeros(n, rbm.n_hidden, dtype=v0.dtype)), 1)
    with torch.no_grad():
        xs, diag = mcmc_target_samples(joint, BlockGibbs(blocks=joint.blocks()), x0, args.reverse_sweeps, g, thin=20)
    label = f"mcmc: {n} block-Gibbs chains, {args.reverse_sweeps} sweeps each, started at random training digits"
    out = {}
    runs = {"bracket": (xs[:, : rbm.n_visible], label, diag)}
    if exact is not None:
        runs["bracket_exact_samples"] = (rbm.sample_exact(n, g), "exact", None)
    runs["bracket_control_one_digit"] = (
        test.double()[:1].repeat(n, 1),
        "mcmc: all chains at test digit 0, 0 sweeps",
        None,
    )
    first = None
    for key, (samples, src, d) in runs.items():
        g = torch.Generator().manual_seed(4)
        if first is None:  # one forward run (the lower end) for all reverse starts
            first = rbm_bracket(rbm, samples, src, args.temperatures, g, v_logits, diagnostics=d)
            br = first
        else:
            path, kernel = rbm_path(rbm, v_logits)
            x = torch.cat((samples, bernoulli_draw(rbm.p_h(samples), g)), 1)
            with torch.no_grad():
                upper = reverse_ais(path, kernel, x, make_betas("sigmoid", args.temperatures), g)
            br = Bracket(first.lower, upper, src)
        out[key] = bracket_row(br, mean_f, exact)
        print(key, json.dumps(out[key]), flush=True)
    out["bracket_seconds"] = time.time() - t0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--chains", type=int, default=300)
    p.add_argument("--temperatures", type=int, default=5000)
    p.add_argument("--reverse-sweeps", type=int, default=10000)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--out", default=str(ROOT / "docs" / "results_bm_digits.json"))
    p.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "bm_digits_samples.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    train, test = load_binary_digits("train").x, load_binary_digits("test").x
    results, samples = {}, {}
    for name in args.models:
        t0 = time.time()
        rbm = train_model(name, train, args)
        results[name] = {"train_seconds": time.time() - t0, **evaluate(name, rbm, train, test, args)}
        g = torch.Generator().manual_seed(2)
        if rbm.n_hidden <= 20:
            samples[name] = rbm.sample_exact(32, g)
        else:
            samples[name] = rbm.gibbs((torch.rand(32, 64, generator=g) < 0.5).double(), 1000, g)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "results": results}, indent=1))
    plot(samples, test[:32], args.figure)


def plot(samples: dict, data: torch.Tensor, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"test data": data, **samples}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for ax, (title, x) in zip(axes, panels.items(), strict=True):
        grid = x[:32].reshape(4, 8, 8, 8).permute(0, 2, 1, 3).reshape(32, 64)
        ax.imshow(grid.float().numpy(), cmap="gray_r", interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
