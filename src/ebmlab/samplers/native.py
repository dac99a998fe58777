"""Optional compiled backend: many sampler steps per call for analytic targets.

At 128 chains an eager PyTorch step costs ~0.1 ms, almost all of it per-operation dispatch; a
Gaussian-mixture step for 128 chains is ~1 µs of arithmetic. For the analytic targets whose
energy is known in closed form (isotropic Gaussian mixtures such as ``mog8`` / ``gmm-40``, and
``many-well``), :func:`ebmlab.samplers.sample` can therefore run ULA, MALA, HMC and kinetic Langevin
in a small C kernel (``_native.c``) that advances each chain through a whole block of steps per call.

* **Optional.** The kernel is compiled on first use with the system C compiler (``$CC`` or ``cc``)
  into a per-user cache (``$EBMLAB_CACHE`` or ``~/.cache/ebmlab``) and loaded with ``ctypes``;
  nothing is downloaded. Without a compiler, or with ``EBMLAB_NATIVE=0``, the PyTorch path runs.
* **Same randomness.** Noise, momenta and MH uniforms are drawn in blocks with the caller's
  ``torch.Generator`` in exactly the order the PyTorch path draws them, so both backends consume
  the same random numbers; their chains agree up to floating-point rounding (the C kernel uses
  libm's exp/log and fused multiply-adds), so an MH decision can differ in rare borderline cases.
* **Same semantics.** ULA and kinetic Langevin stop with ``NonFiniteError`` naming the first step
  at which any chain's E or ∇E became non-finite and how many chains did; MALA and HMC reject and
  count non-finite proposals.
* **Threads.** Chains are independent, so disjoint chain ranges run in parallel threads
  (``torch.get_num_threads()`` of them; ctypes releases the GIL during the call).
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ebmlab.samplers.base import Sampler, SamplerState

__all__ = ["NativeSpec", "available", "build_error", "native_spec"]

_SOURCE = Path(__file__).with_name("_native.c")
# No -ffast-math: it would assume away the NaN/inf that the kernels must detect. Reassociation alone
# (which lets reductions vectorise) keeps NaN/inf semantics.
_FLAGS = (
    "-O3",
    "-march=native",
    "-fPIC",
    "-shared",
    "-std=gnu11",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fno-signed-zeros",
    "-fassociative-math",
)
_MIN_CHAINS_PER_THREAD = 16
_MIN_WORK_PER_CALL = 1 << 15
_MAX_DIM, _MAX_COMPONENTS = (
    256,
    1024,
)  # stack buffers of the C kernel: ~9·16·dim + 16·k reals  # steps × chains × dim below which one thread is faster than waking others

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_error: str | None = None
_pool: ThreadPoolExecutor | None = None


def _enabled() -> bool:
    return os.environ.get("EBMLAB_NATIVE", "1").strip().lower() not in ("0", "false", "off", "no")


def _cache_dir() -> Path:
    root = os.environ.get("EBMLAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ebmlab")
    return Path(root) / "native"


def _cpu_key() -> str:
    try:
        flags = next(
            (ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), platform.machine()
        )
    except OSError:
        flags = platform.machine()
    return flags


def _build() -> ctypes.CDLL:
    source = _SOURCE.read_bytes()
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler found (set CC or install gcc)")
    key = hashlib.sha256(source + " ".join(_FLAGS).encode() + _cpu_key().encode() + compiler.encode()).hexdigest()[:16]
    target = _cache_dir() / f"ebmlab_native_{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            cmd = [compiler, *_FLAGS, "-o", str(out), str(_SOURCE), "-lm"]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-500:]}")
            os.replace(out, target)  # atomic: concurrent builds race harmlessly
    lib = ctypes.CDLL(str(target))
    _declare(lib)
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    i64, i32p, i64p, vp = ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        common = [ctypes.c_int, i64, i64, vp, i64, i64, i64, i64, vp, vp, vp, vp, i64, i64, i64, vp, vp]
        getattr(lib, f"ebm_ula_{suffix}").argtypes = [*common, real, real, i32p]
        getattr(lib, f"ebm_mala_{suffix}").argtypes = [*common, real, real, vp, vp, i64p]
        getattr(lib, f"ebm_hmc_{suffix}").argtypes = [*common, real, real, i64, real, vp, vp, i64p, i64p]
        getattr(lib, f"ebm_kinetic_{suffix}").argtypes = [*common, real, real, real, vp, i32p]
        getattr(lib, f"ebm_eval_{suffix}").argtypes = [ctypes.c_int, i64, i64, vp, i64, i64, i64, vp, vp, vp]
        for name in ("ula", "mala", "hmc", "kinetic", "eval"):
            getattr(lib, f"ebm_{name}_{suffix}").restype = None


def library() -> ctypes.CDLL | None:
    """The compiled kernel library, building it on first use; None if disabled or unavailable."""
    global _lib, _error
    if not _enabled():
        return None
    if _lib is None and _error is None:
        with _lock:
            if _lib is None and _error is None:
                try:
                    _lib = _build()
                except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                    _error = str(exc)
    return _lib


def available() -> bool:
    """Whether the native backend can run here (a C compiler built it and it is not disabled)."""
    return library() is not None


def build_error() -> str | None:
    """Why the native backend is unavailable (None when it is available or not yet tried)."""
    if not _enabled():
        return "disabled by EBMLAB_NATIVE=0"
    return _error


@dataclass(frozen=True)
class NativeSpec:
    """An energy the C kernel implements: ``kind`` (0 = isotropic Gaussian mixture, 1 = many-well),
    event dimension ``dim``, mixture components ``k`` and float64 parameters ``params``."""

    kind: int
    dim: int
    k: int
    params: Tensor


def native_spec(energy: object) -> NativeSpec | None:
    """The C description of ``energy`` if it is an analytic target the kernel knows, else None.

    Only the exact library classes qualify (a subclass may change the energy).
    """
    from ebmlab.targets.gmm import GaussianMixture
    from ebmlab.targets.many_well import ManyWell

    if type(energy) is GaussianMixture:
        k, d = energy.means.shape
        means, stds, weights = (t.detach().cpu().to(torch.float64) for t in (energy.means, energy.stds, energy.weights))
        log_coef = weights.log() - d * stds.log() - 0.5 * d * math.log(2 * math.pi)  # log wⱼ N(mⱼ; mⱼ, σⱼ²I)
        iv = stds.square().reciprocal()
        params = torch.cat([means.reshape(-1), log_coef, 0.5 * iv, iv]).contiguous()
        return NativeSpec(0, int(d), int(k), params)
    if type(energy) is ManyWell:
        params = torch.tensor([energy.b, energy.c], dtype=torch.float64)
        return NativeSpec(1, 2 * energy.n_pairs, 0, params)
    return None


def _threads(n_chains: int, work: int) -> int:
    """Threads for a call: one per ``_MIN_CHAINS_PER_THREAD`` chains, one for small calls."""
    if work < _MIN_WORK_PER_CALL:
        return 1
    return max(1, min(torch.get_num_threads(), n_chains // _MIN_CHAINS_PER_THREAD))


def _parallel(call, n: int, parts: int) -> None:
    """``call(part, c0, c1)`` over ``parts`` disjoint chain ranges covering [0, n), in parallel threads."""
    if parts == 1:
        call(0, 0, n)
        return
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [_get_pool().submit(call, i, bounds[i], bounds[i + 1]) for i in range(1, parts)]
    call(0, bounds[0], bounds[1])  # the calling thread takes the first range
    for f in futures:
        f.result()


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="ebmlab-native")
    return _pool


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class NativeRunner:
    """Mutable chain buffers for one run of ``kernel`` on a native-capable energy.

    ``advance`` runs a block of steps with given noise/uniforms; ``state`` returns a SamplerState.
    """

    def __init__(self, lib: ctypes.CDLL, kernel: Sampler, spec: NativeSpec, state: SamplerState) -> None:
        from ebmlab.samplers.hmc import HMC
        from ebmlab.samplers.kinetic import KineticLangevin
        from ebmlab.samplers.langevin import MALA, ULA

        x = state.x
        self.kernel, self.spec = kernel, spec
        self.dtype = x.dtype
        self.n = x.shape[0]
        self.x = x.detach().clone().contiguous()
        self.e = state.energy.detach().to(x.dtype).clone().contiguous()
        assert state.grad is not None
        self.g = state.grad.detach().to(x.dtype).clone().contiguous()
        self.v = None if state.momentum is None else state.momentum.detach().clone().contiguous()
        self.params = spec.params.to(x.dtype).contiguous()
        self.iteration = state.iteration
        self.step_size = state.step_size
        suffix = "f32" if x.dtype == torch.float32 else "f64"
        kind = {ULA: "ula", MALA: "mala", HMC: "hmc", KineticLangevin: "kinetic"}[type(kernel)]
        self.kind = kind
        self.fn = getattr(lib, f"ebm_{kind}_{suffix}")
        self.bad_step = torch.full((self.n,), -1, dtype=torch.int32)
        self.nonfinite = torch.zeros(self.n, dtype=torch.int64)
        self.divergent = torch.zeros(self.n, dtype=torch.int64)

    def state(self) -> SamplerState:
        return SamplerState(self.x, self.e, self.g, self.step_size, self.iteration, momentum=self.v)

    def _extra(self, uniform: Tensor | None) -> list[object]:
        """Kernel-specific trailing arguments; the accept-sum pointer (MH kernels) is appended per call."""
        k, lam = self.kernel, self.step_size
        if self.kind == "ula":
            return [lam, k.noise_scale(lam), _ptr(self.bad_step)]  # type: ignore[attr-defined]
        if self.kind == "mala":
            return [lam, k.temperature, _ptr(uniform)]
        if self.kind == "hmc":
            return [lam, k.temperature, k.n_leapfrog, k.divergence_threshold, _ptr(uniform)]  # type: ignore[attr-defined]
        c = math.exp(-k.friction * lam)  # type: ignore[attr-defined]
        return [lam, c, math.sqrt((1.0 - c * c) * k.temperature), _ptr(self.v), _ptr(self.bad_step)]

    def advance(
        self,
        n_steps: int,
        noise: Tensor,
        uniform: Tensor | None,
        step0: int,
        samples: Tensor | None = None,
        sample_energies: Tensor | None = None,
        thin: int = 1,
    ) -> Tensor | None:
        """Run ``n_steps`` steps; kept states go to ``samples`` at post-warm-up step ``step0 + t + 1``.

        Returns the mean acceptance probability of each step, shape (n_steps,), for MH kernels (None
        otherwise). ULA / kinetic chains stop at their first non-finite step (see ``first_bad_step``).
        """
        noise = noise.to(self.dtype).contiguous()
        if uniform is not None:
            uniform = uniform.to(self.dtype).contiguous()
        mh = self.kind in ("mala", "hmc")
        s = self.spec
        work = n_steps * self.n * s.dim * (getattr(self.kernel, "n_leapfrog", 1) + max(1, s.k) // 2)
        parts = _threads(self.n, work)
        sums = torch.zeros((parts, n_steps), dtype=torch.float64) if mh else None
        n_kept = 0 if samples is None else samples.shape[0]
        extra = self._extra(uniform)
        counts = [_ptr(self.nonfinite)] + ([_ptr(self.divergent)] if self.kind == "hmc" else [])

        def call(part: int, c0: int, c1: int) -> None:
            tail = [sums[part].data_ptr(), *counts] if sums is not None else []
            self.fn(
                s.kind, s.dim, s.k, _ptr(self.params), self.n, n_steps, c0, c1,
                _ptr(self.x), _ptr(self.e), _ptr(self.g), _ptr(noise), step0, thin, n_kept,
                _ptr(samples), _ptr(sample_energies), *extra, *tail,
            )  # fmt: skip

        _parallel(call, self.n, parts)
        self.iteration += n_steps
        return None if sums is None else sums.sum(0).div_(self.n)

    def first_bad_step(self) -> tuple[int, Tensor] | None:
        """For ULA / kinetic: (step index in the last block, ok-mask at that step) if any chain went non-finite."""
        if self.kind not in ("ula", "kinetic"):
            return None
        bad = self.bad_step
        if not bool((bad >= 0).any()):
            return None
        first = int(bad[bad >= 0].min())
        return first, bad != first


def evaluate(lib: ctypes.CDLL, spec: NativeSpec, x: Tensor) -> tuple[Tensor, Tensor]:
    """E(x) and ∇E(x) by the C kernel, for x of shape (n, dim)."""
    x = x.detach().contiguous()
    n = x.shape[0]
    e, g = torch.empty(n, dtype=x.dtype), torch.empty_like(x)
    params = spec.params.to(x.dtype)
    fn = getattr(lib, "ebm_eval_" + ("f32" if x.dtype == torch.float32 else "f64"))
    _parallel(lambda _, a, b: fn(spec.kind, spec.dim, spec.k, _ptr(params), n, a, b, _ptr(x), _ptr(e), _ptr(g)), n, 1)
    return e, g


def make_runner(energy: object, kernel: Sampler, x0: Tensor) -> NativeRunner | None:
    """A native runner started at ``x0`` (checked like ``kernel.init``) if the kernel, energy, dtype and
    device are supported and the library is available; None otherwise."""
    if unsupported_reason(energy, kernel, x0) is not None:
        return None
    lib = library()
    if lib is None:
        return None
    spec = native_spec(energy)
    assert spec is not None
    x0 = x0.detach()
    e, g = evaluate(lib, spec, x0)
    state = kernel._start(x0, e, g)
    return NativeRunner(lib, kernel, spec, state)


def unsupported_reason(energy: object, kernel: Sampler, x: Tensor) -> str | None:
    """Why the native backend cannot run this combination (None when it can)."""
    from ebmlab.samplers.hmc import HMC
    from ebmlab.samplers.kinetic import KineticLangevin
    from ebmlab.samplers.langevin import MALA, ULA

    if type(kernel) not in (ULA, MALA, HMC, KineticLangevin):
        return f"kernel {type(kernel).__name__} has no native implementation (ula, mala, hmc, kinetic do)"
    spec = native_spec(energy)
    if spec is None:
        return (
            f"energy {type(energy).__name__} has no native implementation "
            "(isotropic Gaussian mixtures such as mog8 / gmm-40, and many-well, do)"
        )
    if not isinstance(x, Tensor) or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return f"native kernels run on CPU float32/float64 tensors, got {x.dtype} on {x.device}"
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] == 0 or x.shape[1] != spec.dim:
        return f"expected chains of shape (n, {spec.dim}), got {tuple(getattr(x, 'shape', ()))}"
    if spec.dim > _MAX_DIM or spec.k > _MAX_COMPONENTS:
        return f"the kernel keeps per-chain buffers on the stack: at most {_MAX_DIM} dimensions and {_MAX_COMPONENTS} components"
    if sys.platform == "win32":
        return "the native backend is built with a POSIX C compiler"
    return None
