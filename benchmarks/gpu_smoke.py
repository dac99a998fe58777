"""Does everything run on one device? Every shipped config trained a few steps, every kernel sampled, AIS, IS,
replica exchange, stepping stone and RBM AIS estimated against exact log Z (also given only ``seed=``, on a module
energy), Gibbs on a Boltzmann machine, every method of the user log-Z pipeline (``estimators.user.log_z``,
``ebmlab logz --device``) on a plain-function energy, and ``ebmlab rd`` with EBA, each on ``--device``: one JSON
line per case (``ok``, seconds, the error's first line, and for the estimators z = (log Ẑ − log Z) / SE).

Issue 17 asks that every sampler, estimator, method and ``fit`` run on CUDA; this is the check to run when a
device is lent (``benchmarks/gpu_suite.sh`` runs it). On a CPU, ``--defer`` takes the GPU path's deferred checks
(``finite_watch.DEFER_ON_CPU``), which is how the tests run it; ``--audit`` fails a case whose ebmlab code created
a tensor or a generator without ``device=`` (:mod:`ebmlab.device_audit`: on a GPU either lands on the CPU).

    python benchmarks/gpu_smoke.py --device cuda --json smoke.jsonl
    python benchmarks/gpu_smoke.py --device cpu --defer --audit --only samplers,estimators,user-logz
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import torch

PARTS = ("configs", "samplers", "estimators", "user-logz", "rd")
#: the user log-Z pipeline's cases, small: each method once, and AIS's whitened branch (κ > 1000)
USER_LOGZ = {
    "is": {"n": 4000},
    "ais": {"n": 128, "n_temperatures": 100},
    "bracket": {"n": 128, "n_temperatures": 100, "tempering": {"n_chains": 32, "n_rungs": 8, "n_rounds": 300}},
    "stepping-stone": {"n": 64, "n_rounds": 120, "burn_in": 40, "adapt_rounds": 40, "n_rungs": 8},
    "flow": {"n": 4000, "steps": 150},
}


def _gen(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def config_cases(device: torch.device, steps: int) -> dict[str, Callable[[], dict]]:
    """``fit`` of every shipped config for ``steps`` steps on the device (no checkpoints, no logging), its evaluator
    once, then 8 draws from the trained method (where it has ``sample``) with a generator on the device; and one run
    directory trained, then read back by ``ebmlab complete --device``."""
    from ebmlab.experiments.run import build_experiment
    from ebmlab.experiments.spec import load_experiment_config
    from ebmlab.training import fit

    def case(path: str) -> Callable[[], dict]:
        def run() -> dict:
            overrides = [f"train.steps={steps}", "train.log_every=1000", "train.checkpoint_every=0",
                         "train.progress=false", f"device={device}"]  # fmt: skip
            config = load_experiment_config(path, overrides)
            experiment = build_experiment(config)
            method = experiment.method
            fit(method, experiment.data, config.train)
            where = {p.device.type for p in method.parameters()}
            if where != {device.type}:
                raise RuntimeError(f"parameters on {sorted(where)}, not on {device.type}")
            evaluated = sorted(experiment.evaluate(method, steps)) if experiment.evaluate is not None else []
            try:
                with torch.no_grad():  # what `ebmlab sample RUN_DIR` does, from a generator on the device
                    drawn = method.sample(8, generator=_gen(device, 7))
            except NotImplementedError:  # a method without sample (completion)
                return {"sampled_on": None, "evaluated": evaluated}
            return {"sampled_on": drawn.device.type, "evaluated": evaluated}

        return run

    def run_dir() -> dict:
        """`ebmlab train` on the device with checkpoints, then `sample RUN_DIR` and `complete RUN_DIR` there."""
        from ebmlab.cli import main as cli_main

        small = ["train.steps=2", "train.batch_size=16", "method.n_steps=2", "energy.hidden=[16]",
                 "method.cvae.hidden=[16]", "method.cvae.latent_dim=2", f"device={device}"]  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp, redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            run = f"{tmp}/run"
            sets = [a for kv in small for a in ("--set", kv)]
            codes = [
                cli_main(["train", "configs/coop_digits_completion.yaml", "--out", run, "--no-progress", *sets]),
                cli_main(["complete", run, "--mask", "block", "-n", "2", "--examples", "2", "--device", str(device)]),
            ]
        if codes != [0, 0]:
            raise RuntimeError(f"ebmlab train / complete exited {codes}")
        return {}

    cases = {f"fit {Path(p).stem}": case(p) for p in sorted(glob.glob("configs/*.yaml"))}
    return cases | {"run coop_digits_completion": run_dir}  # ebmlab train, then complete RUN_DIR --device


def sampler_cases(device: torch.device) -> dict[str, Callable[[], dict]]:
    """Every kernel on mog8 and on an MLP energy, from chains on the device."""
    from ebmlab.energies import MLPEnergy
    from ebmlab.samplers import get_sampler, sample
    from ebmlab.targets import get_target

    step = {"ula": 0.01, "mala": 0.05, "hmc": 0.05, "kinetic": 0.01}
    energies = {"mog8": lambda: get_target("mog8"), "mlp": lambda: MLPEnergy(8, (64, 64)).to(device)}

    def case(kind: str, name: str) -> Callable[[], dict]:
        def run() -> dict:
            energy = energies[kind]()
            dim = 2 if kind == "mog8" else 8
            x0 = torch.randn(64, dim, generator=_gen(device, 0), device=device)
            result = sample(
                energy, get_sampler(name, step_size=step[name]), x0, 50, warmup=10, generator=_gen(device, 1)
            )
            if result.samples.device.type != device.type:
                raise RuntimeError(f"samples on {result.samples.device}, chains on {device}")
            return {"accept": result.accept_rate}

        return run

    def cli(*extra: str) -> Callable[[], dict]:
        def run() -> dict:
            from ebmlab.cli import main

            argv = ["sample", "mog8", "--device", str(device), "--steps", "50", "--warmup", "10", "--chains", "64"]
            said = io.StringIO()
            with tempfile.TemporaryDirectory() as out, redirect_stdout(said), redirect_stderr(said):
                code = main([*argv, *extra, "--out", out])
            if code != 0:
                raise RuntimeError(f"ebmlab sample exited {code}: {said.getvalue().strip()[-300:]}")
            return {}

        return run

    def gibbs() -> dict:  # single-site Gibbs on a fully visible Boltzmann machine (16 units) on the device
        from ebmlab.energies.binary import FullyVisibleBM

        fvbm = FullyVisibleBM(16, weight_init=0.3, generator=torch.Generator(device="cpu").manual_seed(0)).to(device)
        x0 = torch.bernoulli(torch.full((64, 16), 0.5, device=device), generator=_gen(device, 6))
        result = sample(fvbm, get_sampler("gibbs"), x0, 20, generator=_gen(device, 7), diagnostics=False)
        if result.samples.device.type != device.type:
            raise RuntimeError(f"samples on {result.samples.device}, chains on {device}")
        return {"mean_x": float(result.samples.mean())}

    cases = {f"sample {name} {kind}": case(kind, name) for kind in energies for name in step}
    return cases | {"sample gibbs fvbm": gibbs, "ebmlab sample": cli(), "ebmlab sample --rungs 4": cli("--rungs", "4")}


def estimator_cases(device: torch.device) -> dict[str, Callable[[], dict]]:
    """AIS, IS, replica exchange and stepping stone on a 2-D target with exact log Z, from device generators."""
    from ebmlab.estimators import GaussianProposal, log_z_ais, log_z_importance, log_z_stepping_stone
    from ebmlab.samplers import MALA, ReplicaExchange
    from ebmlab.targets import get_target

    target = get_target("mog8")
    truth = target.log_z()
    base = GaussianProposal(torch.zeros(2), std=4.0)

    def z(est) -> dict:
        return {"z": (est.value - truth) / est.stderr, "value": est.value, "exact": truth}

    def pt() -> dict:
        result = ReplicaExchange(MALA(0.05), n_rungs=6, base_scale=4.0).sample(target, 64, 2, 50, _gen(device, 3))
        if result.samples.device.type != device.type:
            raise RuntimeError(f"samples on {result.samples.device}")
        return {"swap_accept_min": float(result.swap_accept.nan_to_num(1.0).min())}

    class ModuleGaussian(torch.nn.Module):  # a user's module energy: its device is its buffer's
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("precision", torch.tensor([1.0, 0.25]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0.5 * (x.square() * self.precision).sum(1)

    gaussian, gaussian_z = ModuleGaussian().to(device), math.log(2 * math.pi * 2.0)

    def seeded() -> dict:  # no generator passed: each estimator draws on the module's device
        ests = {
            "is": log_z_importance(gaussian, base, 20_000, seed=4),
            "ais": log_z_ais(gaussian, base, 256, 100, seed=2),
            "ss": log_z_stepping_stone(gaussian, 2, 64, 100, 20, n_rungs=6, base_scale=4.0, adapt_rounds=20, seed=5),
        }
        return {f"z_{k}": (e.value - gaussian_z) / e.stderr for k, e in ests.items()}

    def rbm(marginal: bool) -> Callable[[], dict]:  # AIS on an RBM (8 × 6 units) against its exact log Z
        def run() -> dict:
            from ebmlab.energies.binary import RBM
            from ebmlab.estimators.rbm_ais import rbm_ais

            net = RBM(8, 6, weight_init=0.5, generator=torch.Generator(device="cpu").manual_seed(0)).double()
            exact = float(net.log_z())
            est = rbm_ais(net.to(device), 256, 100, _gen(device, 8), marginal=marginal)
            return {"z": (est.value - exact) / est.stderr, "value": est.value, "exact": exact}

        return run

    def potential() -> dict:  # seed 004's Fig. 1 from an (untrained) generator on the device: its curves on the CPU
        from ebmlab.methods.boltzmann_generator import BoltzmannGenerator
        from ebmlab.methods.boltzmann_generator_tools import recover_potential

        bg = BoltzmannGenerator(get_target("double-well"), latent_dim=2, seed=0).to(device)
        curves = recover_potential(bg, 4000, bins=20, generator=_gen(device, 9))
        return {"bins_seen": int((curves.counts > 0).sum())}

    return {
        "bg recover_potential": potential,
        "log_z rbm ais joint": rbm(False),
        "log_z rbm ais marginal": rbm(True),
        "log_z seed only, module energy": seeded,
        "log_z ais": lambda: z(log_z_ais(target, base, 512, 200, generator=_gen(device, 2))),
        "log_z is": lambda: z(log_z_importance(target, base, 20_000, generator=_gen(device, 4))),
        "replica exchange": pt,
        "log_z stepping stone": lambda: z(
            log_z_stepping_stone(
                target, 2, 64, 200, 50, n_rungs=8, base_scale=4.0, adapt_rounds=50, generator=_gen(device, 5)
            )
        ),
    }


def user_logz_cases(device: torch.device) -> dict[str, Callable[[], dict]]:
    """``log_z(energy, (2,), method, device=...)`` of every user method on a plain-function Gaussian energy whose
    tensors live on the device (stds 1 and 2; for AIS also 1 and 100, which it anneals whitened), and
    ``ebmlab logz mog8 --method is --device``."""
    from ebmlab.estimators.user import log_z

    def gaussian(stds: tuple[float, float]) -> tuple[Callable, float]:
        precision = torch.tensor([1.0 / s**2 for s in stds], dtype=torch.float64, device=device)
        exact = sum(0.5 * math.log(2 * math.pi * s**2) for s in stds)
        return (lambda x: 0.5 * (x.square() * precision.to(x.dtype)).sum(1)), exact

    def case(method: str, stds: tuple[float, float]) -> Callable[[], dict]:
        def run() -> dict:
            energy, exact = gaussian(stds)
            est = log_z(energy, (2,), method, seed=1, device=device, **USER_LOGZ[method])
            return {"z": (est.value - exact) / est.stderr, "value": est.value, "exact": exact,
                    "verdict": est.details["verdict"]}  # fmt: skip

        return run

    def cli() -> dict:
        from ebmlab.cli import main as cli_main

        out = io.StringIO()
        argv = ["logz", "mog8", "--method", "is", "--samples", "4000", "--device", str(device), "--json"]
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            code = cli_main(argv)
        if code != 0:
            raise RuntimeError(f"ebmlab logz exited {code}")
        row = json.loads(out.getvalue())
        return {"z": (row["log_z"] - row["exact"]) / row["stderr"], "value": row["log_z"], "exact": row["exact"]}

    cases = {f"user log_z {m}": case(m, (1.0, 2.0)) for m in USER_LOGZ}
    cases["user log_z ais whitened"] = case("ais", (1.0, 100.0))
    return cases | {"ebmlab logz --device": cli}


def rd_cases(device: torch.device) -> dict[str, Callable[[], dict]]:
    """``ebmlab rd --device`` with EBA and its BA-style variant on a Gaussian and a Bernoulli source (a few steps:
    that it runs there, not how close its bounds are)."""

    def cli(method: str, *source: str) -> Callable[[], dict]:
        def run() -> dict:
            from ebmlab.cli import main as cli_main

            out = io.StringIO()
            argv = ["rd", *source, "--method", method, "--beta", "2", "--steps", "20", "--chains", "64",
                    "--device", str(device), "--json"]  # fmt: skip
            with redirect_stdout(out), redirect_stderr(io.StringIO()):
                code = cli_main(argv)
            if code != 0:
                raise RuntimeError(f"ebmlab rd exited {code}")
            return {"points": len(json.loads(out.getvalue()))}

        return run

    gaussian = ("--source", "gaussian", "--variances", "1", "--distortion", "mse")
    bernoulli = ("--source", "bernoulli", "--p", "0.3", "--distortion", "hamming")
    return {f"ebmlab rd {m} {s[1]}": cli(m, *s) for m in ("eba", "eba-ba") for s in (gaussian, bernoulli)}


def run_case(name: str, fn: Callable[[], dict], device: torch.device, audit: bool = False) -> dict:
    from ebmlab.device_audit import implicit_device_factories

    start = time.perf_counter()
    try:
        if audit:
            with implicit_device_factories() as pinned:
                extra = fn()
            if pinned:
                raise RuntimeError(
                    f"{len(pinned)} line(s) created tensors without device=: " + "; ".join(map(str, pinned))
                )
        else:
            extra = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return {"case": name, "ok": True, "seconds": round(time.perf_counter() - start, 3), **extra}
    except Exception as error:  # every failure is a result here
        first = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        where = traceback.extract_tb(error.__traceback__)[-1]
        return {"case": name, "ok": False, "seconds": round(time.perf_counter() - start, 3), "error": first,
                "at": f"{Path(where.filename).name}:{where.lineno}"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--defer", action="store_true", help="the GPU path's deferred checks on a CPU (for tests)")
    p.add_argument("--audit", action="store_true", help="fail a case whose ebmlab code made a tensor without device=")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--configs", default="*", help="glob of config names for the configs part (default: all)")
    p.add_argument("--steps", type=int, default=3, help="training steps per config (default 3)")
    p.add_argument("--json", type=Path, default=None, help="also write the JSON lines here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    parts = [s for s in args.only.split(",") if s]
    if unknown := sorted(set(parts) - set(PARTS)):
        p.error(f"--only: unknown parts {unknown}; choose from {', '.join(PARTS)}")
    if args.defer:
        from ebmlab.samplers import finite_watch

        finite_watch.DEFER_ON_CPU = True
    torch.manual_seed(0)
    cases: dict[str, Callable[[], dict]] = {}
    if "configs" in parts:
        wanted = {Path(c).stem for c in glob.glob(f"configs/{args.configs}.yaml")}
        cases |= {k: v for k, v in config_cases(device, args.steps).items() if k.split(" ", 1)[1] in wanted}
    if "samplers" in parts:
        cases |= sampler_cases(device)
    if "estimators" in parts:
        cases |= estimator_cases(device)
    if "user-logz" in parts:
        cases |= user_logz_cases(device)
    if "rd" in parts:
        cases |= rd_cases(device)
    rows = []
    for name, fn in cases.items():
        row = run_case(name, fn, device, args.audit)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json is not None:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    failed = [r["case"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} cases ran on {device}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
