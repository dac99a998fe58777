"""Check that captured blocks run the same chains as one ``kernel.step`` per step, on a device.

For ULA / MALA / HMC / kinetic Langevin on the user-style mog8 and MLP energies: ``sample`` with
``capture="off"`` against each other mode; prints the largest difference of the kept samples and the
mode ``auto`` settled on (with its reason when it fell back to eager).

    python benchmarks/capture_check.py --device cuda --modes auto,graph,compile
    python benchmarks/capture_check.py --modes compile,compile --energies mog8 --kernels ula --steps 32  # compile cost
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, sample
from ebmlab.samplers.chains import run_chains
from ebmlab.samplers.compiled import make_block_runner
from user_energies import build_problem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--modes", default="eager,auto")
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--energies", default="mog8,mlp")
    p.add_argument("--kernels", default="ula,mala,hmc,kinetic")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available in this PyTorch ({torch.__version__}).")
    out = []
    for name in args.energies.split(","):
        problem = build_problem(name).to(args.device)
        x0 = problem.x0(args.chains, args.device)
        kernels = {"ula": ULA(1e-2), "mala": MALA(1e-2), "hmc": HMC(1e-2, 5), "kinetic": KineticLangevin(1e-2)}
        for kernel in (kernels[k] for k in args.kernels.split(",")):
            ref = sample(problem.energy, kernel, x0, args.steps, thin=5, seed=3, diagnostics=False, capture="off")
            for mode in args.modes.split(","):
                start = time.perf_counter()
                res = sample(problem.energy, kernel, x0, args.steps, thin=5, seed=3, diagnostics=False, capture=mode)
                seconds = time.perf_counter() - start
                row = {"energy": name, "kernel": kernel.name, "mode": mode, "seconds": seconds,
                       "max_abs_diff": float((res.samples - ref.samples).abs().max()),
                       "accept_diff": abs(res.accept_rate - ref.accept_rate)}  # fmt: skip
                if mode == "auto":
                    state = kernel.init(problem.energy, x0)
                    runner = make_block_runner(problem.energy, kernel, state, "auto", planned_steps=32 * 8)
                    noise = torch.randn((32, *x0.shape), device=x0.device)
                    uniform = torch.rand((32, x0.shape[0]), device=x0.device) if kernel.metropolis_adjusted else None
                    if runner is not None:
                        runner.run(state, noise, uniform)
                        row["auto_picked"], row["fallback"] = runner.mode, runner.fallback
                gens = [torch.Generator(device=x0.device).manual_seed(3) for _ in range(2)]
                runs = [run_chains(kernel, problem.energy, x0, args.steps, g, block=1 << 20, capture=m)
                        for g, m in zip(gens, ("off", mode), strict=True)]  # fmt: skip
                row["accept_sum_max_abs_diff"] = float((runs[0].accept_sum - runs[1].accept_sum).abs().max())
                print(json.dumps(row), flush=True)
                out.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
