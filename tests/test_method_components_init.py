"""GEBM and coop-completion from their shipped configs start from exactly the weights the old config factories
(``gebm_method``, ``coop_completion_method``, removed) built, so the documented results still apply.

The old construction is written out here from public classes: global RNG seeded with derive_seed(seed, "init")
inside fork_rng, the top-level energy first, then the method's parts in the factory's order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ebmlab.densities import StandardNormal
from ebmlab.energies import MLPEnergy
from ebmlab.errors import ConfigError
from ebmlab.experiments import build_experiment, load_experiment_config
from ebmlab.flows import make_flow
from ebmlab.generators import ConditionalVAE
from ebmlab.methods.cooperative_completion import CooperativeCompletion
from ebmlab.methods.gebm import GEBM, FlowBase, MLPGenerator
from ebmlab.samplers import ULA
from ebmlab.training import derive_seed

ROOT = Path(__file__).resolve().parents[1]
# config, the data's dim, the old factory's keys (absent ones took the factory's defaults), energy args
GEBM_CONFIGS = {
    "gebm_ring": (2, {"latent_dim": 2, "hidden": 128, "depth": 2}, ([128, 128], False)),
    "gebm_grid25": (2, {"latent_dim": 2, "hidden": 128, "depth": 2}, ([128, 128], False)),
    "gebm_digits": (64, {"latent_dim": 8, "hidden": 256, "depth": 2}, ([256, 256], False)),
    "gebm_tabular": (4, {"base": "realnvp", "n_couplings": 4, "hidden": 64, "depth": 2}, ([64, 64], True)),
}


def old_gebm(seed: int, dim: int, base: dict, energy_args: tuple) -> nn.Module:
    """What ``gebm_method`` built (energy section first, then base and prior)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seed(seed, "init"))
        energy = MLPEnergy(dim, energy_args[0], spectral_norm=energy_args[1])
        opts = {"base": "mlp", "latent_dim": 2, "hidden": 128, "depth": 2, "n_couplings": 4} | base
        if opts["base"] == "mlp":
            module: nn.Module = MLPGenerator(opts["latent_dim"], dim, opts["hidden"], opts["depth"], seed)
            prior = StandardNormal(opts["latent_dim"])
        else:
            module = FlowBase(make_flow(opts["base"], dim, opts["n_couplings"], opts["hidden"], opts["depth"], seed))
            prior = StandardNormal(dim)
        return GEBM(module, energy, prior)


def old_coop_completion(seed: int) -> nn.Module:
    """What ``coop_completion_method`` built for configs/coop_digits_completion.yaml (digits: dim 64)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seed(seed, "init"))
        energy = MLPEnergy(64, [256, 256])
        cvae = ConditionalVAE((64,), 128, latent_dim=8, hidden=[256, 256], obs_scale=None, init_obs_scale=0.3)
        return CooperativeCompletion(energy, cvae, ULA(step_size=1.0, noise_std=0.01))


def built(name: str, overrides: list[str]) -> nn.Module:
    return build_experiment(load_experiment_config(ROOT / "configs" / f"{name}.yaml", overrides)).method


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", sorted(GEBM_CONFIGS))
def test_gebm_configs_start_from_the_old_factorys_weights(name: str) -> None:
    dim, base, energy_args = GEBM_CONFIGS[name]
    for seed in (0, 3):  # 0: the configs; the demo and experiments override train.seed
        new = built(name, [f"train.seed={seed}"])
        assert same_state(new, old_gebm(seed, dim, base, energy_args)), (name, seed)
        assert new.prior.event_shape == (base.get("latent_dim", dim),)
    assert not same_state(built(name, []), old_gebm(1, dim, base, energy_args))  # negative control: other seed


def test_coop_completion_config_starts_from_the_old_factorys_weights() -> None:
    demo = ["train.batch_size=64", "method.n_steps=10"]  # what the demo section overrides besides the seed
    for seed in (0, 3):
        new = built("coop_digits_completion", [f"train.seed={seed}", *demo])
        assert same_state(new, old_coop_completion(seed)), seed
    new = built("coop_digits_completion", [])
    assert isinstance(new, CooperativeCompletion) and new.cvae.context_dim == 128 and new.n_steps == 20
    assert not same_state(new, old_coop_completion(1))  # negative control


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("gebm_ring", "method.base.latent_dimm=3", r"^method\.base\.latent_dimm: unknown key .*'latent_dim'"),
        ("gebm_ring", "method.base=mlp", r"^method\.base: expected a Module component .*mlp-generator"),
        ("gebm_ring", "method.base.name=mlp", r"^method\.base\.name: unknown GEBM base 'mlp'.*mlp-generator"),
        ("gebm_ring", "method.latent_dim=3", r"^method\.latent_dim: unknown key for method 'gebm'"),
        ("gebm_ring", "method.sampling.steps=3", r"gebm: unknown sampling options \['steps'\]"),
        ("coop_digits_completion", "method.cvae.hiden=[8]", r"^method\.cvae\.hiden: unknown key .*'hidden'"),
        ("coop_digits_completion", "method.latent_dim=3", r"^method\.latent_dim: unknown key for method"),
        ("coop_digits_completion", "method.cvae.name=vae", r"^method\.cvae\.name: unknown conditional VAE 'vae'"),
        ("gebm_digits", "data.image=true", r"^gebm needs flat vector data \(n, d\), got event shape \(1, 8, 8\)"),
        ("gebm_ring", "energy=null", r"^method\.energy: missing required key .* top-level section"),
    ],
)
def test_config_mistakes_are_one_line_errors_with_key_paths(name: str, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        built(name, [override])
    assert "\n" not in str(err.value)
