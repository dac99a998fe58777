"""The sections of ``ebmlab demo``: one small module per system, each checking a claim against ground truth.

:data:`SECTIONS` lists them in run order with nominal budgets (seconds on an idle 2-core machine, quick
and full); ``ebmlab demo --only NAME,...`` selects by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from ebmlab.demo.bg import boltzmann_generator
from ebmlab.demo.bm import boltzmann_machines
from ebmlab.demo.cd import contrastive_divergence
from ebmlab.demo.coop import cooperative_vs_short_run
from ebmlab.demo.coop_completion import digit_completion
from ebmlab.demo.eba import eba_rate_distortion
from ebmlab.demo.gebm import gebm_vs_base
from ebmlab.demo.logz import log_z_estimates
from ebmlab.demo.sampling import sampling_double_well, sampling_gaussian_50, sampling_replica_exchange
from ebmlab.errors import ConfigError
from ebmlab.report import DemoSection

__all__ = ["SECTIONS", "select"]

SECTIONS: list[DemoSection] = [
    DemoSection("eba-000", eba_rate_distortion, 8, 30),
    DemoSection("double-well", sampling_double_well, 3, 8),
    DemoSection("gaussian-50", sampling_gaussian_50, 6, 20),
    DemoSection("replica-exchange", sampling_replica_exchange, 2, 10),
    DemoSection("logz", log_z_estimates, 8, 30),
    DemoSection("cd", contrastive_divergence, 18, 120),
    DemoSection("bg-004", boltzmann_generator, 14, 60),
    DemoSection("coop-001", cooperative_vs_short_run, 15, 40),
    DemoSection("completion-001", digit_completion, 10, 30),
    DemoSection("gebm-002", gebm_vs_base, 12, 60),
    DemoSection("bm-003", boltzmann_machines, 12, 60),
]


def select(names: Sequence[str] | None) -> list[DemoSection]:
    """The sections named in ``names`` (all when empty), in run order; an unknown name is a ConfigError."""
    if not names:
        return list(SECTIONS)
    known = {s.name for s in SECTIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"--only: unknown section(s) {', '.join(unknown)}; valid sections: {', '.join(s.name for s in SECTIONS)}"
        )
    return [s for s in SECTIONS if s.name in names]
