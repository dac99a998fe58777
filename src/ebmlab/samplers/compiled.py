"""Many sampler steps per dispatch: blocks of ULA / MALA / HMC / kinetic steps as one callable.

:func:`~ebmlab.samplers.chains.run_chains` draws the noise of K steps at once (``randn(K, n, *event)``, then the K·n MH uniforms);
a :class:`BlockRunner` consumes those draws for K steps and returns every step's state and flags,
so the random stream is the one of the step-by-step path whatever mode runs the block:

* ``"eager"`` — the kernels' own update arithmetic, op by op (:mod:`~ebmlab.samplers.block_steps`; bitwise equal to ``kernel.step``);
* ``"graph"`` — (CUDA, static shapes) the eager block of ``block_steps`` steps captured once in a
  CUDA graph and replayed: one launch per block instead of dozens per step; same kernels, same bits;
* ``"compile"`` — ``torch.compile`` (inductor) of the steps — E and ∇E by the energy's own gradient
  or :func:`torch.func.vjp`, the update arithmetic and the MH test fused into few kernels. On CUDA one
  compiled step runs K times per block and the block is captured in a CUDA graph like ``"graph"``;
  elsewhere, for chains of at most ``COMPILE_BLOCK_MAX_ELEMENTS`` numbers, a block of ``COMPILE_EVALS``
  energy evaluations is one compiled graph, called once per chunk of the block's steps
  (:func:`compiled_block`, :func:`in_chunks`), and larger chains run one compiled step per step.
  Compiled once per (energy, kernel settings, step size) and process (:func:`compiled_step`,
  :func:`compiled_block`), recompiled per shape.
  The arithmetic is fused, so results agree with eager only up to rounding (labelled, never chosen by
  ``auto``); the non-finite flags are the same computation, so ULA / kinetic still raise at the first
  non-finite step. If compiling fails, ``fallback`` names why and the runner continues as ``auto``.

``mode="auto"`` (``run_chains``' and ``sample``'s default) on CUDA times the first ``BLOCK_STEPS`` steps eagerly and, when
enough planned steps remain to repay a capture, captures the next ones and times their replay; it keeps
the faster (see :meth:`BlockRunner._auto`); elsewhere it is ``eager`` for MALA / HMC and step by step for ULA /
kinetic Langevin (:func:`make_block_runner`); it never picks ``compile``
(which changes rounding and costs seconds of compile time, see docs/performance.md): the same seed
gives the same chains whatever auto picks. No step inside a block synchronises with the host; ULA
and kinetic Langevin check finiteness once per block and ``run_chains`` raises at the exact first
non-finite step, as the step-by-step path does.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad
from ebmlab.errors import ConfigError
from ebmlab.samplers.base import Sampler, SamplerState
from ebmlab.samplers.block_steps import block_extras, block_fn, step_fn
from ebmlab.samplers.hmc import HMC
from ebmlab.samplers.kinetic import KineticLangevin
from ebmlab.samplers.langevin import MALA, ULA

__all__ = [
    "MODES",
    "BlockOutput",
    "BlockRunner",
    "compile_chunk",
    "compiled_block",
    "compiled_step",
    "func_energy_and_grad",
    "in_chunks",
    "make_block_runner",
]

MODES = ("auto", "off", "eager", "graph", "compile")
#: steps per captured block (graph / compile): long enough to amortise a launch, short enough to capture fast
BLOCK_STEPS = 16
#: auto tries a capture only when at least this many segments of BLOCK_STEPS remain (a capture ≈ 2 eager segments)
MIN_GRAPH_SEGMENTS = 4
#: energy evaluations per compiled call off CUDA ("compile"): one dispatch per block of steps instead of one per step,
#: where a step moves at most COMPILE_BLOCK_MAX_ELEMENTS numbers (n × event size) and a compiled call's fixed cost
#: outweighs its arithmetic: mog8 and many-well at 128 chains ran 1.2–2.4× faster, at 4096 chains −12 … +4 %, so
#: larger steps keep one compiled call per step. A cold compile costs about a second per evaluation in the graph
#: (inductor caches it on disk). docs/performance_log.md, "Session 10".
COMPILE_EVALS = 16
COMPILE_BLOCK_MAX_ELEMENTS = 4096

Tensors = tuple[Tensor, ...]


@dataclass
class BlockOutput:
    """K steps of n chains: the state after them and, per step, states and flags.

    Attributes:
        state: state after the last step.
        xs / es: positions ``(K, n, *event)`` and energies ``(K, n)`` after each step (None when the caller asked
            an eager block for no records).
        accept: acceptance probabilities ``(K, n)`` (ones for ULA / kinetic).
        ok: the step's proposal had a finite energy and gradient ``(K, n)``.
        divergent: divergent transitions ``(K, n)``.
        accept_mean: each step's mean acceptance probability ``(K,)`` (inside the block: captured with it).
    """

    state: SamplerState
    xs: Tensor | None
    es: Tensor | None
    accept: Tensor
    ok: Tensor
    divergent: Tensor
    accept_mean: Tensor


def func_energy_and_grad(energy: EnergyFn) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """(E, ∇ₓE) with the energy's own gradient when it has one, else ``torch.func.vjp`` (traceable)."""
    own = getattr(energy, "energy_and_grad", None)
    if own is not None:
        return own

    def eg(x: Tensor) -> tuple[Tensor, Tensor]:
        e, pullback = torch.func.vjp(energy, x)  # type: ignore[misc]
        (g,) = pullback(torch.ones_like(e))
        return e.detach(), g.detach()

    return eg


#: compiled steps of this process: key -> (energy, compiled step); the energy is held so its id stays unique
_COMPILED: dict[tuple, tuple[object, Callable]] = {}
_COMPILED_MAX = 32


def _fresh_code(fn: Callable) -> Callable:
    """A copy of ``fn`` with its own code object: Dynamo keeps one cache (and recompile limit) per code object."""
    import types

    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)  # type: ignore[attr-defined]


def _compile(fn: Callable) -> Callable:
    """``torch.compile`` with static shapes (one graph per shape; tests replace it to run the same code eagerly)."""
    return torch.compile(fn, dynamic=False)


#: why compiling failed, per (energy, kernel settings, step size) of this process: later runners skip the attempt
#: (the energy is held, as in _COMPILED, so its id stays unique)
_FAILED: dict[tuple, tuple[object, str]] = {}


def _key(energy: EnergyFn, sampler: Sampler, step_size: float, kind: str = "") -> tuple:
    params = tuple(sorted((k, v) for k, v in vars(sampler).items() if isinstance(v, int | float | str | None)))
    return (id(energy), type(sampler), params, float(step_size), kind)


def _cached(energy: EnergyFn, sampler: Sampler, step_size: float, kind: str, build: Callable[[], Callable]) -> Callable:
    """``build()`` once per (energy, kernel settings, step size, kind) and process."""
    key = _key(energy, sampler, step_size, kind)
    if key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = (energy, build())
    return _COMPILED[key][1]


def compiled_step(energy: EnergyFn, sampler: Sampler, step_size: float) -> Callable:
    """``torch.compile`` of one step of ``sampler`` on ``energy`` (cached per process; static shapes).

    The step is the kernels' arithmetic (as in eager blocks) with ∇E by :func:`func_energy_and_grad`,
    so Dynamo traces energy, gradient and update into one graph and inductor fuses the elementwise work.
    """
    lam = float(step_size)
    return _cached(
        energy, sampler, lam, "step", lambda: _compile(_fresh_code(step_fn(sampler, func_energy_and_grad(energy), lam)))
    )


def compiled_block(energy: EnergyFn, sampler: Sampler, step_size: float) -> Callable:
    """``torch.compile`` of a block of steps (:func:`~ebmlab.samplers.block_steps.block_fn` over the step of
    :func:`compiled_step`): one graph, and one call, per block length. Off CUDA the compiled mode runs small chains
    in blocks of ``COMPILE_EVALS`` energy evaluations this way (:func:`compile_chunk`)."""
    lam = float(step_size)

    def build() -> Callable:
        step = step_fn(sampler, func_energy_and_grad(energy), lam)
        return _compile(_fresh_code(block_fn(step, *block_extras(sampler))))

    return _cached(energy, sampler, lam, "block", build)


def compile_chunk(sampler: Sampler, elements: int) -> int:
    """Steps per compiled call off CUDA for chains of ``elements`` numbers: ``COMPILE_EVALS`` energy evaluations
    (HMC: L per step, at least one step) up to ``COMPILE_BLOCK_MAX_ELEMENTS``, one step above."""
    if elements > COMPILE_BLOCK_MAX_ELEMENTS:
        return 1
    return max(1, COMPILE_EVALS // (sampler.n_leapfrog if isinstance(sampler, HMC) else 1))


def in_chunks(block: Callable, x, e, g, v, noise: Tensor, uniform: Tensor | None, size: int) -> Tensors:
    """``block`` over consecutive chunks of ``size`` of these draws (the last may be shorter), the state passed on
    and the per-step outputs concatenated: the same steps, in the same order, as one call over all of them."""
    parts: list[Tensors] = []
    for start in range(0, noise.shape[0], size):
        chunk_u = None if uniform is None else uniform[start : start + size]
        x, e, g, v, *per_step = block(x, e, g, v, noise[start : start + size], chunk_u)
        parts.append(tuple(per_step))
    if len(parts) == 1:
        return (x, e, g, v, *parts[0])
    return (x, e, g, v, *(torch.cat(p) for p in zip(*parts, strict=True)))


class BlockRunner:
    """Runs K steps of ``sampler`` from a state with given draws; see the module docstring for modes."""

    def __init__(
        self, energy: EnergyFn, sampler: Sampler, step_size: float, mode: str, planned_steps: int | None = None
    ) -> None:
        if mode not in ("eager", "graph", "compile", "auto"):
            raise ConfigError(f"capture must be one of {', '.join(MODES)}, got {mode!r}.")
        self.sampler, self.mode, self.step_size = sampler, mode, float(step_size)
        self.eager = block_fn(
            step_fn(sampler, lambda x: energy_and_grad(energy, x), self.step_size), *block_extras(sampler)
        )
        self.energy = energy
        self.compiled: Callable | None = None  # block of compiled steps ("compile")
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, tuple[Tensor, Tensor | None], Tensors]] = {}
        self.buffers: Tensors | None = None  # static x, e, g, v of the graphs
        self.fallback: str | None = None  # why auto fell back to eager
        self.planned_steps = planned_steps  # steps this runner is expected to run (auto weighs capture cost)
        self.done = 0  # steps run so far
        self.eager_step_s: float | None = None  # auto's measurements
        self.capture_s = 0.0

    def run(self, state: SamplerState, noise: Tensor, uniform: Tensor | None, records: bool = True) -> BlockOutput:
        """Advance ``state`` by ``noise.shape[0]`` steps with these draws. ``records=False``: the caller keeps no
        step's positions or energies, which an eager block then does not stack (captured blocks always do)."""
        x, e, g, v = state.x, state.energy, state.grad, state.momentum
        total = noise.shape[0]
        if self.mode == "auto":
            out = self._auto(x, e, g, v, noise, uniform, records)
        elif self.mode == "eager":
            out = self.eager(x, e, g, v, noise, uniform, records)
        elif self.mode == "compile":
            out = self._run_compiled(x, e, g, v, noise, uniform)
        else:
            out = self._replay(x, e, g, v, noise, uniform)
        self.done += total
        x, e, g, v, xs, es, acc, ok, div, means = out
        new = SamplerState(x, e, g, state.step_size, state.iteration + total, momentum=v)
        return BlockOutput(new, xs, es, acc, ok, div, means)

    def _auto(self, x, e, g, v, noise: Tensor, uniform: Tensor | None, records: bool = True) -> Tensors:
        """auto, measured on the chains' own steps (no step is run twice, so the chains are unchanged).

        On CUDA: one segment of ``BLOCK_STEPS`` steps eagerly (timed); if enough planned steps remain to
        repay a capture (≈ two eager segments), the next segment is captured and replayed (timed without
        the capture); the faster mode runs the rest. Elsewhere, or when capture fails: eager.
        """
        if x.device.type != "cuda" or (self.planned_steps or 0) < (MIN_GRAPH_SEGMENTS + 1) * BLOCK_STEPS:
            self.mode = "eager"  # no timing (a host sync) when a capture could not pay for itself
            if x.device.type == "cuda":
                self.fallback = f"{self.planned_steps} planned steps: too few to repay a capture"
            return self.eager(x, e, g, v, noise, uniform, records)
        parts: list[Tensors] = []
        start, total = 0, noise.shape[0]
        while start < total and self.mode == "auto":
            k = min(BLOCK_STEPS, total - start)
            seg_noise, seg_u = noise[start : start + k], None if uniform is None else uniform[start : start + k]
            left = (self.planned_steps or 0) - (self.done + start + k)
            if self.eager_step_s is None:
                out = _timed(lambda: self.eager(x, e, g, v, seg_noise, seg_u))  # noqa: B023
                self.eager_step_s = out[0] / k
                if left < MIN_GRAPH_SEGMENTS * BLOCK_STEPS:
                    self.mode = "eager"
                    self.fallback = f"{max(left, 0)} steps left after the first segment: too few to repay a capture"
            else:
                try:
                    out = _timed(lambda: self._replay(x, e, g, v, seg_noise, seg_u))  # noqa: B023
                except Exception as error:  # capture is best effort: any failure means eager
                    self.mode, self.graphs, self.buffers = "eager", {}, None
                    self.fallback = f"CUDA graph capture failed: {type(error).__name__}: {error}"
                    continue
                graph_step_s = (out[0] - self.capture_s) / k
                self.mode = "graph" if graph_step_s < self.eager_step_s else "eager"
                if self.mode == "eager":
                    self.graphs, self.buffers = {}, None
                    self.fallback = (
                        f"graph {graph_step_s * 1e6:.1f} µs vs eager {self.eager_step_s * 1e6:.1f} µs per step"
                    )
            x, e, g, v = out[1][:4]
            parts.append(out[1][4:])
            start += k
        if start < total:
            rest = (x, e, g, v, noise[start:], None if uniform is None else uniform[start:])
            out_rest = self.eager(*rest) if self.mode == "eager" else self._replay(*rest)
            x, e, g, v = out_rest[:4]
            parts.append(out_rest[4:])
        return (x, e, g, v, *(torch.cat(p) for p in zip(*parts, strict=True)))

    def _run_compiled(self, x, e, g, v, noise: Tensor, uniform: Tensor | None) -> Tensors:
        """compile: K compiled steps, replayed from a CUDA graph on CUDA; elsewhere compiled chunks of the block
        (small chains) or one compiled call per step. If compiling fails: ``auto``, with a warning naming why (once
        per energy, kernel and step size in a process; later runs skip the attempt)."""
        first = self.compiled is None
        failed = _FAILED.get(_key(self.energy, self.sampler, self.step_size))
        if failed is not None:
            return self._fall_back(failed[1], x, e, g, v, noise, uniform)
        cuda = x.device.type == "cuda"
        chunk = 1 if cuda else compile_chunk(self.sampler, x.numel())  # CUDA: the block becomes one graph launch
        if self.compiled is None:
            self.compiled = (
                compiled_block(self.energy, self.sampler, self.step_size)
                if chunk > 1
                else block_fn(compiled_step(self.energy, self.sampler, self.step_size), *block_extras(self.sampler))
            )
        block = self.compiled
        try:
            if cuda:
                return self._replay(x, e, g, v, noise, uniform, block)
            if chunk > 1:
                return in_chunks(block, x, e, g, v, noise, uniform, chunk)
            return block(x, e, g, v, noise, uniform)
        except Exception as error:
            if not first:
                raise
            reason = f"torch.compile failed: {type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
            if len(_FAILED) >= _COMPILED_MAX:
                _FAILED.pop(next(iter(_FAILED)))
            _FAILED[_key(self.energy, self.sampler, self.step_size)] = (self.energy, reason)
            warnings.warn(
                f"capture='compile' could not compile {self.sampler.name} on this energy ({reason}); running "
                "capture='auto' instead (the same chains as capture='off').",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._fall_back(reason, x, e, g, v, noise, uniform)

    def _fall_back(self, reason: str, x, e, g, v, noise: Tensor, uniform: Tensor | None) -> Tensors:
        """Continue as ``auto`` after a failed compile (``reason``)."""
        self.mode, self.graphs, self.buffers, self.fallback = "auto", {}, None, reason
        return self._auto(x, e, g, v, noise, uniform)

    def _graph(self, k: int, like: Tensors, noise: Tensor, uniform: Tensor | None, fn: Callable):
        """The CUDA graph of a block of k steps over the shared static state buffers (captured on first use)."""
        if k in self.graphs:
            return self.graphs[k]
        torch.cuda.synchronize()
        started = time.perf_counter()
        if self.buffers is None:
            self.buffers = tuple(t.clone() if t is not None else None for t in like)  # type: ignore[misc]
        sx, se, sg, sv = self.buffers
        inputs = (noise[:k].clone(), None if uniform is None else uniform[:k].clone())
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up outside capture (autograd, cuBLAS workspaces, compiling)
            fn(sx, se, sg, sv, *inputs)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = fn(sx, se, sg, sv, *inputs)
            for buf, new in zip(self.buffers, out[:4], strict=True):
                if buf is not None:
                    buf.copy_(new)
        self.graphs[k] = (graph, inputs, out[4:])
        torch.cuda.synchronize()
        self.capture_s += time.perf_counter() - started
        return self.graphs[k]

    def _replay(self, x, e, g, v, noise: Tensor, uniform: Tensor | None, fn: Callable | None = None) -> Tensors:
        """Blocks of ``BLOCK_STEPS`` steps of ``fn`` (default: the eager block) as CUDA-graph replays."""
        total, like = noise.shape[0], (x, e, g, v)
        records: list[Tensors] = []
        start = 0
        while start < total:
            k = min(BLOCK_STEPS, total - start)
            graph, (n_buf, u_buf), outs = self._graph(k, like, noise, uniform, fn or self.eager)
            if start == 0:
                for buf, t in zip(self.buffers, like, strict=True):  # type: ignore[arg-type]
                    if buf is not None:
                        buf.copy_(t)
            n_buf.copy_(noise[start : start + k])
            if u_buf is not None and uniform is not None:
                u_buf.copy_(uniform[start : start + k])
            graph.replay()
            records.append(tuple(t.clone() for t in outs))
            start += k
        assert self.buffers is not None
        state = tuple(t.clone() if t is not None else None for t in self.buffers)
        return (*state, *(torch.cat(parts) for parts in zip(*records, strict=True)))  # type: ignore[return-value]


def _timed(fn: Callable[[], Tensors]) -> tuple[float, Tensors]:
    """(seconds, result) of ``fn()`` on the current CUDA stream."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def make_block_runner(
    energy: EnergyFn, sampler: Sampler, state: SamplerState, mode: str, planned_steps: int | None = None
) -> BlockRunner | None:
    """A block runner for ``mode``, or None where blocks do not apply (``"off"``, other kernels, per-chain steps).

    ``planned_steps``: how many steps the caller will run; ``auto`` tries a CUDA graph only when the
    planned steps leave room to repay one (≥ 4 blocks of 16 after the first; None: unknown, auto stays eager).
    Off CUDA, ``auto`` runs ULA and kinetic Langevin step by step (None here: ``run_chains``' lean unadjusted
    path, the same draws and bits; it keeps one row sum per step, where an eager block stacks every step's
    positions, energies and gradients: the block took 0.97–1.10× its time from 512 chains up, median 1.04, and
    0.98–1.04× at 128, ``benchmarks/unadjusted_paths.py``) and MALA / HMC as eager blocks.

    An explicit ``"graph"`` / ``"compile"`` that cannot apply is a ConfigError naming why.
    """
    if mode not in MODES:
        raise ConfigError(f"capture must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode == "off":
        return None
    reason = None
    if type(sampler) not in (ULA, MALA, HMC, KineticLangevin):  # exact types: a subclass may change step()
        reason = f"{sampler.name} has no block runner (ula, mala, hmc, kinetic do)"
    elif isinstance(state.step_size, Tensor):
        reason = "per-chain step sizes are not captured"
    elif getattr(sampler, "jitter", 0.0):
        reason = "jittered step sizes are not captured"
    elif mode == "graph" and state.x.device.type != "cuda":
        reason = f"CUDA graphs need CUDA tensors, the chains are on {state.x.device}"
    if reason is not None:
        if mode in ("graph", "compile"):
            raise ConfigError(f"capture={mode!r} cannot run here: {reason}. Use capture='auto' or 'off'.")
        return None
    if mode == "auto" and state.x.device.type != "cuda" and type(sampler) in (ULA, KineticLangevin):
        return None  # no graph to gain off CUDA: the step-by-step path (same draws and bits, no per-step stacking)
    return BlockRunner(energy, sampler, float(state.step_size), mode, planned_steps)
