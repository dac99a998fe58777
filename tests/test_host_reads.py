"""No host read per sampler step in training: on the GPU path (finite_watch.DEFER_ON_CPU, logged values kept on the
device) the host reads per training step of every kind of CD negatives, the cooperative EBM and EBA do not grow with the number of sampler steps
or temperatures K. Both K lie between 5 (from where run_chains checks once per call for frozen chains) and 32 (the
unadjusted kernels' step-by-step path reads its finiteness test once per chunk of 32 steps: step_watch.py).
``docs/perf_results/s16_scratch/sync_audit.py`` lists where the remaining reads are."""

from __future__ import annotations

import pytest

from ebmlab.experiments.run import build_experiment
from ebmlab.experiments.spec import load_experiment_config
from ebmlab.samplers import finite_watch
from ebmlab.training import fit, loop


def _reads_per_step(config_path: str, k: int, monkeypatch, sync_counter) -> float:
    counts = []
    for steps in (2, 4):
        overrides = [f"train.steps={steps}", f"method.n_steps={k}", "train.log_every=1000",
                     "train.checkpoint_every=0", "train.progress=false", "train.batch_size=32"]  # fmt: skip
        config = load_experiment_config(config_path, overrides)
        experiment = build_experiment(config)
        monkeypatch.setattr(finite_watch, "DEFER_ON_CPU", True)
        monkeypatch.setattr(loop, "keep_on_device", lambda device: True)
        counter = sync_counter()
        fit(experiment.method, experiment.data, config.train)
        counts.append(counter.count)
        monkeypatch.undo()
    return (counts[1] - counts[0]) / 2


CONFIGS = ("cd_eight_gaussians_short_run", "cd_rings_short_run", "cd_eight_gaussians_persistent",
           "cd_eight_gaussians_annealed", "cd_eight_gaussians_tempered", "coop_eight_gaussians",
           "eba_gaussian_scalar")  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS)
def test_host_reads_per_training_step_do_not_grow_with_the_sampler_steps(config, monkeypatch, sync_counter) -> None:
    few, many = (_reads_per_step(f"configs/{config}.yaml", k, monkeypatch, sync_counter) for k in (6, 12))
    assert few == many, (few, many)
