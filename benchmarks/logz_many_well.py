"""Many-Well-32 (2¹⁶ modes, exact log Z = 164.695675) through the user path: only the energy, no exact samples.

Each run calls :func:`ebmlab.estimators.user.log_z` on a plain function wrapping the target's energy (so nothing
of the target but E is visible) and records the estimate, the bracket, the verdict and the number of points at
which E was evaluated (mode search included), to compare with the flow-based AIS anchor (FAB, Midgley et al.
2023: mean |error| 0.03 nats).

    python benchmarks/logz_many_well.py --runs bracket:256:1000 --seeds 0 1 2 3 --json docs/figures/logz_many_well.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def one(method: str, n: int, n_temperatures: int, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    from torch import Tensor

    from ebmlab.estimators.user import log_z
    from ebmlab.targets import get_target

    target = get_target("many-well-32")
    exact = float(target.log_z())

    def energy(x: Tensor) -> Tensor:  # the user's view: a function, nothing else
        return target.energy(x)

    t0 = time.perf_counter()
    est = log_z(energy, (32,), method, n=n, n_temperatures=n_temperatures, seed=seed, **options)
    d = est.details
    out = {"method": method, "n": n, "n_temperatures": n_temperatures, "seed": seed, "log_z": est.value,
           "stderr": est.stderr, "error": est.value - exact, "verdict": d["verdict"], "checks": d["checks"],
           "energy_evaluations": d["energy_evaluations"], "seconds": time.perf_counter() - t0}  # fmt: skip
    if "lower" in d:
        out |= {k: d[k] for k in ("lower", "lower_se", "upper", "upper_se", "width", "reverse_samples")}
        out |= {k: d[k] for k in ("reverse_validated", "tempering", "tempering_reasons", "base") if k in d}
        out["load_average"] = os.getloadavg()
        out["contains_exact"] = d["lower"] - 2 * d["lower_se"] <= exact <= d["upper"] + 2 * d["upper_se"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=["bracket:256:1000"], help="METHOD:N:TEMPERATURES")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--tempering", nargs="*", default=[], help="bracket: KEY=INT options of the replica exchange")
    p.add_argument("--reverse", default=None, help="bracket: 'tempered' (default) or 'forward'")
    a = p.parse_args()
    options: dict[str, Any] = {}
    if a.tempering:
        options["tempering"] = {k: (float(v) if "." in v else int(v)) for k, v in (kv.split("=") for kv in a.tempering)}
    if a.reverse:
        options["reverse"] = a.reverse
    rows = []
    for spec in a.runs:
        method, n, temps = spec.split(":")
        for seed in a.seeds:
            r = one(method, int(n), int(temps), seed, options if method == "bracket" else {})
            rows.append(r)
            print(json.dumps(r), flush=True)
    for spec in a.runs:
        method, n, temps = spec.split(":")
        rs = [r for r in rows if (r["method"], r["n"], r["n_temperatures"]) == (method, int(n), int(temps))]
        print(f"{spec}: mean |error| {statistics.fmean(abs(r['error']) for r in rs):.4f}, mean SE "
              f"{statistics.fmean(r['stderr'] for r in rs):.4f}, energy evaluations "
              f"{statistics.median(r['energy_evaluations'] for r in rs):.3g} per run")  # fmt: skip
    if a.json:
        from ebmlab.config import atomic_write_text

        command = "python benchmarks/logz_many_well.py " + " ".join(sys.argv[1:])
        atomic_write_text(a.json, json.dumps({"exact": 164.695675, "command": command, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
