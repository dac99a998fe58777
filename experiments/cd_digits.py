"""Short-run contrastive divergence on scikit-learn's 8×8 digits: samples, FD and KID with the floor.

Trains ``configs/cd_digits_short_run.yaml`` with the training loop, draws 450 samples (the size of the
test split) after K training-length steps and after 4K steps from uniform noise, and scores them with
:func:`ebmlab.metrics.digits_fd_kid` (features of a small classifier trained in-process on the train
split) beside the train-vs-test floor and uniform noise.

Run (≈ 5 min on 2 shared CPU cores)::

    OMP_NUM_THREADS=1 python experiments/cd_digits.py

Writes ``docs/results_cd_digits.json``, ``docs/figures/cd_digits_samples.png`` and ``runs/cd_digits/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/cd_digits_short_run.yaml"


def figure(samples: dict[str, torch.Tensor], path: Path, n: int = 48) -> None:
    """One block of ``n`` images per entry of ``samples`` (label → (m, 64) in [-1, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 16
    rows = n // cols
    fig, axes = plt.subplots(rows * len(samples), cols, figsize=(cols * 0.45, rows * len(samples) * 0.5 + 0.3))
    for b, (label, x) in enumerate(samples.items()):
        for i in range(rows * cols):
            ax = axes[b * rows + i // cols, i % cols]
            ax.imshow(x[i].reshape(8, 8), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(label, fontsize=6, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.16, right=0.99, top=0.99, bottom=0.01)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from ebmlab.data import load_digits
    from ebmlab.experiments import load_experiment_config, run_experiment
    from ebmlab.metrics import digits_fd_kid

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--out", default="runs/cd_digits")
    parser.add_argument("--json", default="docs/results_cd_digits.json")
    parser.add_argument("--figure", default="docs/figures/cd_digits_samples.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = load_experiment_config(ROOT / args.config, [*args.overrides, "train.progress=false"])
    run_dir = ROOT / args.out
    if (run_dir / "config.yaml").exists():
        shutil.rmtree(run_dir)
    run = run_experiment(config, run_dir)
    method = run.method
    k = method.n_steps
    results: dict[str, Any] = {}
    shown: dict[str, torch.Tensor] = {"data (test)": load_digits("test").x}
    for label, steps in ((f"K={k} steps", k), (f"{4 * k} steps", 4 * k)):
        x = method.sample(450, torch.Generator().manual_seed(1), n_steps=steps)
        results[label] = digits_fd_kid(x, generator=torch.Generator().manual_seed(0))
        shown[f"model, {label}"] = x
    noise = torch.rand(450, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    results["uniform noise"] = digits_fd_kid(noise, generator=torch.Generator().manual_seed(0))
    payload = {
        "command": "OMP_NUM_THREADS=1 python experiments/cd_digits.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "config": args.config,
        "torch": torch.__version__,
        "train_steps": run.step,
        "train_seconds": run.summary.get("wall_time_s"),
        "final_train_metrics": run.final_metrics,
        "results": results,
    }
    (ROOT / args.json).write_text(json.dumps(payload, indent=1) + "\n")
    figure(shown, ROOT / args.figure)
    for label, r in results.items():
        print(
            f"{label:>14}: FD {r['model_fd']['value']:.2f} ± {r['model_fd']['se']:.2f} "
            f"(floor {r['floor_fd']['value']:.2f}), KID {r['model_kid']['value']:.3f} ± {r['model_kid']['se']:.3f} "
            f"(floor {r['floor_kid']['value']:.3f}), classes covered {r['class_coverage']['covered']:.1f}"
        )
    print(f"wrote {ROOT / args.json} and {ROOT / args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
