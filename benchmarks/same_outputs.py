"""Fixed-seed outputs of the samplers, the chain loop, step-size adaptation, CD and Boltzmann-generator training
(parameters and every logged number), saved to compare two source trees bit for bit (an optimisation must not
change any of them).

    PYTHONPATH=<tree A>/src python benchmarks/same_outputs.py a.pt
    PYTHONPATH=<tree B>/src python benchmarks/same_outputs.py b.pt
    python benchmarks/same_outputs.py --compare a.pt b.pt     # how many tensors differ
"""

from __future__ import annotations

import sys
import tempfile

import torch

from ebmlab.energies import ConvEnergy, MLPEnergy
from ebmlab.methods.boltzmann_generator import BoltzmannGenerator
from ebmlab.methods.contrastive_divergence import ContrastiveDivergence
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, run_chains, sample
from ebmlab.training import TrainConfig, fit

KERNELS = {"ula": ULA(0.02), "mala": MALA(0.1), "hmc": HMC(0.05, 5), "kinetic": KineticLangevin(0.05)}


def mixture(x: torch.Tensor) -> torch.Tensor:
    a = (x - 1.5).square().sum(-1)
    b = (x + 1.5).square().sum(-1)
    return -torch.logsumexp(torch.stack([-a, -b]), 0)


def outputs() -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    torch.manual_seed(0)
    energies = {"mix": (mixture, (2,)), "mlp": (MLPEnergy(8, (32, 32)), (8,)), "conv": (ConvEnergy(4), (1, 8, 8))}
    for name, (energy, event) in energies.items():
        for kname, kernel in KERNELS.items():
            for dtype in (torch.float32, torch.float64):
                e = energy.to(dtype) if isinstance(energy, torch.nn.Module) else energy
                x0 = torch.randn((64, *event), generator=torch.Generator().manual_seed(1), dtype=dtype)
                for capture in ("auto", "off"):
                    r = sample(e, kernel, x0, 70, thin=7, seed=3, diagnostics=False, capture=capture)
                    key = f"sample/{name}/{kname}/{dtype}/{capture}"
                    out |= {f"{key}/samples": r.samples, f"{key}/energies": r.energies, f"{key}/accept": r.accept_trace,
                            f"{key}/per_chain": r.accept_per_chain, f"{key}/counts": torch.tensor([r.nonfinite, r.divergent])}  # fmt: skip
                run = run_chains(kernel, e, x0, 45, torch.Generator().manual_seed(5), keep_every=5)
                for field in ("samples", "energies", "accept", "accept_sum", "nonfinite", "divergent", "x"):
                    out[f"chains/{name}/{kname}/{dtype}/{field}"] = getattr(run, field)
    x0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(2))
    for kname in ("mala", "hmc"):  # warm-up with step-size adaptation: the hook path
        r = sample(mixture, KERNELS[kname], x0, 50, warmup=40, seed=1, diagnostics=False)
        out[f"adapt/{kname}/samples"], out[f"adapt/{kname}/step"] = r.samples, torch.tensor(r.step_size)
    data = torch.randn(512, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 2.0
    for negatives in ("short_run", "persistent"):
        for kname in ("ula", "mala"):
            torch.manual_seed(0)
            cd = ContrastiveDivergence(MLPEnergy(2, (32, 32)), KERNELS[kname], negatives, n_steps=10, init_scale=3.0,
                                       buffer_size=500)  # fmt: skip
            with tempfile.TemporaryDirectory() as folder:
                run = fit(cd, data, TrainConfig(steps=15, batch_size=64, progress=False, log_every=5), run_dir=folder)
            out |= {f"cd/{negatives}/{kname}/{k}": v for k, v in cd.state_dict().items()}
            out |= logged(f"cd/{negatives}/{kname}", run.history)
    torch.manual_seed(0)
    bg = BoltzmannGenerator(mixture, dim=2, n_couplings=2, hidden=16, batch_size=64)
    run = fit(bg, None, TrainConfig(steps=12, progress=False, log_every=3))  # a temporary run directory
    out |= {f"bg/{k}": v for k, v in bg.state_dict().items()} | logged("bg", run.history)
    return out


def logged(prefix: str, history: list[dict]) -> dict[str, torch.Tensor]:
    """Every logged number but the wall time, one float64 tensor per key."""
    keys = sorted({k for record in history for k in record if k != "time" and isinstance(record[k], (int, float))})
    return {f"{prefix}/log/{k}": torch.tensor([float(r.get(k, float("nan"))) for r in history], dtype=torch.float64)
            for k in keys}  # fmt: skip


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equal, NaN at the same places counting as equal."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.is_floating_point:
        return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
    return torch.equal(a, b)


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    if argv[0] == "--compare":
        a, b = torch.load(argv[1]), torch.load(argv[2])
        differ = sorted(set(a) ^ set(b)) + [k for k in a if k in b and not same(a[k], b[k])]
        print(f"{len(a)} tensors compared, {len(differ)} differ {differ[:10]}")
        return 1 if differ else 0
    out = outputs()
    torch.save(out, argv[0])
    print(f"{len(out)} tensors saved to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
