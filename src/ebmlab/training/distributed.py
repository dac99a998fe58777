"""Who runs the step: one process, or data-parallel ranks on ``torch.distributed``.

A :class:`Strategy` owns everything that changes between a single process and ``torchrun``: the rank's
random stream, which rows of each global batch this rank sees, the gradient all-reduce, the reduction
of logged values, agreement on divergence decisions, and gathering per-rank chain state for the one
checkpoint that rank 0 writes. :func:`fit` asks :func:`strategy_from_env` for one; a user never needs
to build it.

Gradients are all-reduced explicitly after the loop's own ``torch.autograd.grad`` (one flat bucket per
parameter group), not through ``DistributedDataParallel``'s reducer: DDP's hooks fire only on
``backward()``, while the loop differentiates each group separately and methods may update groups in
sequential stages — an explicit reduce is exact for every stage and group and needs no module wrapper.

>>> s = SingleProcess()
>>> s.rank, s.world_size, s.is_main, s.shard(torch.arange(6).reshape(6, 1)).shape
(0, 1, True, torch.Size([6, 1]))
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import math
import os
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, DistributedError

__all__ = ["DataParallel", "SingleProcess", "Strategy", "strategy_from_env"]

RANK_PREFIX = "rank"


class Strategy:
    """The single-process strategy's interface; :class:`DataParallel` overrides every hook."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's contiguous share of a global batch (all of it in one process)."""
        return batch

    def reduce_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average ``p.grad`` over ranks (no-op in one process)."""

    def reduce_values(self, values: Mapping[str, float], log_domain: Iterable[str] = ()) -> dict[str, float]:
        """Mean over ranks; keys in ``log_domain`` by log-mean-exp (log-weights, log Z estimates)."""
        return dict(values)

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any rank (divergence decisions are taken together)."""
        return flag

    def gather_state(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every rank's tensors as ``rank<r>/<key>`` (on rank 0; other ranks get ``{}``)."""
        return {f"{RANK_PREFIX}0/{k}": v for k, v in state.items()}

    def local_state(self, stored: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """This rank's tensors from a gathered dict. A rank absent from the checkpoint (the world size
        grew) gets ``{}``, so its chains start fresh; chains of ranks beyond the new world size are dropped."""
        prefix = f"{RANK_PREFIX}{self.rank}/"
        if any(k.startswith(f"{RANK_PREFIX}") and "/" in k for k in stored):
            return {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
        return dict(stored) if self.rank == 0 else {}  # a checkpoint written before per-rank state

    def barrier(self) -> None:
        """Wait for every rank."""


class SingleProcess(Strategy):
    """One process: every hook is the identity."""


@contextlib.contextmanager
def _collective(rank: int, what: str) -> Iterator[None]:
    """Turn a failed or timed-out collective into one clear error (a rank died, hung or disagreed)."""
    try:
        yield
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(
            f"rank {rank}: {what} failed ({first[:200]}); another rank died, hung past train.dist_timeout_s or "
            "ran a different set-up. Resume every rank from the last checkpoint with the same torchrun command "
            "plus --resume."
        ) from None


class DataParallel(Strategy):
    """Data-parallel ranks of an initialised ``torch.distributed`` process group (gloo on CPU, nccl on GPU)."""

    def __init__(self, device: torch.device) -> None:
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            raise ConfigError(
                "DataParallel needs an initialised torch.distributed process group (launch with torchrun)."
            )
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.device = device

    def shard(self, batch: Tensor) -> Tensor:
        n = batch.shape[0]
        if n % self.world_size:
            raise ConfigError(
                f"train.batch_size: the global batch of {n} rows does not split evenly over {self.world_size} ranks; "
                f"use a multiple of {self.world_size}."
            )
        per = n // self.world_size
        return batch[self.rank * per : (self.rank + 1) * per]

    def reduce_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in with_grad])  # type: ignore[union-attr]
        with _collective(self.rank, "the gradient all-reduce"):
            torch.distributed.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in with_grad:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def reduce_values(self, values: Mapping[str, float], log_domain: Iterable[str] = ()) -> dict[str, float]:
        keys = sorted(values)
        if not keys:
            return {}
        logs = set(log_domain)
        local = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        gathered = [torch.empty_like(local) for _ in range(self.world_size)]
        with _collective(self.rank, "reducing logged values"):
            torch.distributed.all_gather(gathered, local)
        stacked = torch.stack(gathered)
        out = {}
        for i, k in enumerate(keys):
            column = stacked[:, i]
            if k in logs:
                out[k] = float(torch.logsumexp(column, 0) - math.log(self.world_size))
            else:
                out[k] = float(column.mean())
        return out

    def any(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        with _collective(self.rank, "agreeing on divergence"):
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather_state(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """All-gather tensor by tensor (no pickling); every rank must hold the same keys and shapes."""
        signature = "|".join(f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in sorted(state.items()))
        digest = torch.tensor([int.from_bytes(hashlib.sha256(signature.encode()).digest()[:7], "little")])
        seen = [torch.empty_like(digest) for _ in range(self.world_size)]
        with _collective(self.rank, "comparing per-rank state"):
            torch.distributed.all_gather(seen, digest.to(self.device))
        if any(not torch.equal(t.cpu(), digest) for t in seen):
            raise DistributedError(
                f"rank {self.rank}: ranks hold different per-rank state (keys/shapes {signature[:120]}…); every rank "
                "must run the same method configuration."
            )
        out: dict[str, Tensor] = {}
        for key in sorted(state):
            local = state[key].detach().to(self.device).contiguous()
            parts = [torch.empty_like(local) for _ in range(self.world_size)]
            with _collective(self.rank, "gathering per-rank state"):
                torch.distributed.all_gather(parts, local)
            if self.is_main:
                out |= {f"{RANK_PREFIX}{r}/{key}": part.cpu() for r, part in enumerate(parts)}
        return out

    def barrier(self) -> None:
        with _collective(self.rank, "waiting for the other ranks"):
            torch.distributed.barrier()


def strategy_from_env(device: torch.device, timeout_s: float = 300.0) -> Strategy:
    """``DataParallel`` under ``torchrun`` (``WORLD_SIZE`` > 1), initialising the process group when the
    caller has not (nccl for CUDA devices, gloo otherwise); else :class:`SingleProcess`."""
    dist = torch.distributed
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return SingleProcess()
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed; run a single process.")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DataParallel(device)
