"""``ebmlab complete``: complete held-out images with a trained conditional cooperative run.

    ebmlab complete RUN_DIR --mask block|left_right|top_bottom -n N [--examples M] [--steps K]
                    [--start vae|noise] [--seed S] [--device D] [--out DIR]

Masks M test images of the run's data set, draws N completions of each (K Langevin steps on the EBM with the
observed pixels clamped, started from the conditional VAE; default K: the training K) and writes
``completions.npy`` (M, N, dim), ``quality.json`` (per-pixel error on the missing pixels, classifier accuracy
for digits, diversity) and ``completions.png`` (masked inputs, completions, truths).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch

from ebmlab.cli._args import non_negative_int, positive_int
from ebmlab.errors import ConfigError
from ebmlab.outputs import save_figure, save_npy
from ebmlab.yaml_io import atomic_write_text


def add_parser(sub: Any) -> None:
    from ebmlab.methods.cooperative_completion import MASKS

    p = sub.add_parser(
        "complete",
        help="complete masked held-out images with a trained coop-completion run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, help="run directory of a `method: coop-completion` training run")
    p.add_argument("--mask", choices=MASKS, required=True, help="which pixels are missing")
    p.add_argument("-n", "--num", type=positive_int, default=4, help="completions per image (default 4)")
    p.add_argument("--examples", type=positive_int, default=8, help="held-out images to complete (default 8)")
    p.add_argument("--steps", type=non_negative_int, default=None, help="Langevin steps (default: the training K)")
    p.add_argument("--start", choices=("vae", "noise"), default="vae", help="chains start at the cVAE or at noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device", default="cpu", help="torch device of the model and chains: cpu (default), cuda, ... or auto"
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default RUN_DIR/complete-MASK)")
    p.set_defaults(run=run)


def plot_completions(path: Path, truth: torch.Tensor, mask: torch.Tensor, completions: torch.Tensor) -> None:
    """Rows: examples; columns: masked input (missing pixels grey), completions, truth."""
    from ebmlab.plotting import pyplot

    plt = pyplot()
    n, s, dim = completions.shape
    side = math.isqrt(dim)
    fig, axes = plt.subplots(n, s + 2, figsize=(0.9 * (s + 2), 0.9 * n), squeeze=False)
    masked = torch.where(mask, truth, torch.full_like(truth, float("nan")))
    for i in range(n):
        images = [masked[i], *completions[i], truth[i]]
        for j, img in enumerate(images):
            ax = axes[i][j]
            ax.imshow(img.reshape(side, side).numpy(), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title("input" if j == 0 else "truth" if j == s + 1 else f"#{j}", fontsize=7)
    fig.tight_layout(pad=0.2)
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from ebmlab.data import get_dataset
    from ebmlab.experiments import load_run
    from ebmlab.experiments.spec import resolve_device
    from ebmlab.methods.cooperative_completion import CooperativeCompletion, completion_mask
    from ebmlab.metrics.completion import completion_quality

    device = resolve_device(args.device)
    config, method = load_run(args.run_dir, str(device))
    if not isinstance(method, CooperativeCompletion):
        raise ConfigError(
            f"{args.run_dir} was trained with {type(method).__name__}; `ebmlab complete` needs a "
            "`method: {name: coop-completion}` run (e.g. configs/coop_digits_completion.yaml)."
        )
    assert config.data is not None
    params = {k: v for k, v in config.data.params.items() if k != "split"}
    test = get_dataset(config.data.name, "test", **params)
    m = min(args.examples, len(test))
    truth = test.x[:m].reshape(m, -1).to(next(method.parameters()).dtype)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    mask = completion_mask(args.mask, m, truth.shape[1], gen)
    rows = truth.to(device).repeat_interleave(args.num, 0)
    done = method.complete(rows, mask.repeat_interleave(args.num, 0), gen, args.steps, args.start)
    completions, mask = done.reshape(m, args.num, -1).cpu(), mask.cpu()  # the quality, files and plot: on the CPU
    labels = test.y[:m] if config.data.name == "digits" and test.y is not None else None
    quality = completion_quality(completions, truth, mask, labels)
    quality |= {"mask": args.mask, "steps": method.n_steps if args.steps is None else args.steps, "start": args.start}
    out = args.out or args.run_dir / f"complete-{args.mask}"
    out.mkdir(parents=True, exist_ok=True)
    save_npy(out / "completions.npy", completions.numpy())
    atomic_write_text(out / "quality.json", json.dumps(quality, indent=2) + "\n")
    plot_completions(out / "completions.png", truth, mask, completions)
    print(json.dumps({k: quality[k] for k in ("pixel_mse", "diversity", "accuracy") if k in quality}))
    print(f"wrote {out}/completions.npy, quality.json, completions.png")
    return 0
