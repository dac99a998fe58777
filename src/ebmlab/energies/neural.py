"""Neural energies: an MLP for vectors and a small ConvNet for 8×8 images."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ebmlab.energies.row_blocks import block_rows, in_row_blocks
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["ConvEnergy", "MLPEnergy"]


def _linear(n_in: int, n_out: int, sn: bool) -> nn.Module:
    layer = nn.Linear(n_in, n_out)
    return _spectral_norm(layer) if sn else layer


class MLPEnergy(nn.Module):
    """E(x) = MLP(x) ∈ ℝ with SiLU activations, input ``(n, dim)``.

    ``onednn_linear`` (class attribute, default True; set it on an instance or the class to change it):
    :meth:`energy_and_grad` runs its large float32 CPU matmuls on oneDNN (:func:`linear`); False keeps the
    default BLAS (``addmm``) for all of them, e.g. to reproduce chains drawn before this option existed.

    Args:
        dim: input dimension.
        hidden: widths of the hidden layers.
        spectral_norm: constrain each linear layer's spectral norm to 1 (a Lipschitz energy, as
            GEBM/KALE training assumes).
    """

    onednn_linear: bool = True

    def __init__(self, dim: int, hidden: Sequence[int] = (128, 128), spectral_norm: bool = False) -> None:
        super().__init__()
        if dim < 1 or any(h < 1 for h in hidden):
            raise ConfigError(f"MLPEnergy: dim and hidden widths must be >= 1, got dim={dim}, hidden={hidden}.")
        self.dim = dim
        widths = [dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [_linear(a, b, spectral_norm), nn.SiLU()]
        layers.append(_linear(widths[-1], 1, spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.net(x).squeeze(-1)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"MLPEnergy expects input (n, {self.dim}), got {tuple(x.shape)}.")

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(E(x), ∇ₓE(x)), detached, written out instead of autograd (what every sampler calls).

        Forward zₗ = hₗ₋₁Wₗᵀ + bₗ, hₗ = silu(zₗ), E = h_L wᵀ + b; backward from g = w:
        g ← (g ⊙ silu′(zₗ)) Wₗ for l = L … 1, with SiLU's fused backward kernel. The same matmuls and
        elementwise kernels as autograd's input gradient, without the tape (no gradient reaches the
        parameters). Each weight is read once per call, so spectral-norm power iterations match ``forward``.
        Large float32 matmuls on the CPU run on oneDNN (:func:`linear`; ``onednn_linear``), chosen by the whole
        batch's shape. On the CPU a large batch runs a block of rows at a time, each activation at most 1 MiB
        (:mod:`~ebmlab.energies.row_blocks`: fewer page faults on fresh activations under glibc's ``malloc``).
        """
        self._check(x)
        linears: list[nn.Linear] = list(self.net)[0::2]  # type: ignore[assignment]
        with torch.no_grad():
            layers = [(layer.weight, layer.bias) for layer in linears]  # one power iteration each (spectral norm)
            fast, rows = self.onednn_linear, x.shape[0]
            widest = max(self.dim, *(w.shape[0] for w, _ in layers))
            return in_row_blocks(lambda z: _mlp_energy_and_grad(z, layers, fast, rows), x, block_rows(widest))


def _mlp_energy_and_grad(
    x: Tensor, layers: Sequence[tuple[Tensor, Tensor]], onednn: bool, rows: int
) -> tuple[Tensor, Tensor]:
    """MLPEnergy's E and ∇E at ``x`` (a block of a batch of ``rows`` rows: :func:`linear`'s rule is the batch's)."""
    h, pre = x, []
    for weight, bias in layers[:-1]:
        z = linear(h, weight, bias, onednn, rows)
        pre.append((z, weight))
        h = nn.functional.silu(z)
    out_weight, out_bias = layers[-1]
    e = torch.addmm(out_bias, h, out_weight.t()).squeeze(-1)
    g = out_weight.detach().expand(x.shape[0], -1)
    for z, weight in reversed(pre):
        g = linear(torch.ops.aten.silu_backward(g, z), weight.t(), None, onednn, rows)  # (g ⊙ silu′(z)) W
    return e, g if pre else g.clone()  # never a view of the weights


def _onednn_op() -> Callable | None:
    """oneDNN's fused linear (``torch.ops.mkldnn._linear_pointwise``, what inductor emits for CPU linears), or None
    where this PyTorch lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        return None


_ONEDNN = _onednn_op()


#: oneDNN's linear is used for matmuls with both widths at least this and at least ONEDNN_MIN_MACS
#: multiply-adds (rows × in × out); below that its per-call cost loses to the BLAS (``benchmarks/linear_backends.py``)
ONEDNN_MIN_WIDTH = 32
ONEDNN_MIN_MACS = 1 << 21


def onednn_applies(rows: int, n_in: int, n_out: int) -> bool:
    """The shape rule of :func:`linear`: both widths ≥ ``ONEDNN_MIN_WIDTH`` and ≥ ``ONEDNN_MIN_MACS`` multiply-adds."""
    return min(n_in, n_out) >= ONEDNN_MIN_WIDTH and rows * n_in * n_out >= ONEDNN_MIN_MACS


def linear(h: Tensor, weight: Tensor, bias: Tensor | None, onednn: bool = True, rows: int | None = None) -> Tensor:
    """hWᵀ + b (``rows``: the batch's rows the shape rule is taken at, default ``h``'s; a block of a batch gets the
    batch's choice). float32 on the CPU with both widths ≥ ``ONEDNN_MIN_WIDTH`` and ≥ ``ONEDNN_MIN_MACS`` multiply-adds
    (``onednn`` and the op available): oneDNN's matmul, 1.1–2.9× the default BLAS's rate at such shapes on one AMD
    EPYC ("Session 11"), but about even from 1024 rows and up to 1.3× slower at 128 on a Zen 4 EPYC ("Session 12":
    the gain depends on the machine; docs/performance.md); otherwise ``addmm`` / ``mm``.
    The choice depends on the shapes only (the same chains on every run); the two differ only by rounding
    (≈ 1e-7 relative). Under ``torch.compile`` (``capture="compile"``) it is ``addmm`` / ``mm``, which inductor lowers
    itself: inductor cannot lower the oneDNN op on unfrozen weights (an ``AssertionError`` in torch 2.13)."""
    if (
        onednn
        and _ONEDNN is not None
        and not torch.compiler.is_compiling()
        and h.device.type == "cpu"
        and h.dtype == weight.dtype == torch.float32
        and h.dim() == 2
        and onednn_applies(h.shape[0] if rows is None else rows, h.shape[1], weight.shape[0])
    ):
        return _ONEDNN(h, weight, bias, "none", [], "")
    return h @ weight.t() if bias is None else torch.addmm(bias, h, weight.t())


class ConvEnergy(nn.Module):
    """A small ConvNet energy for single-channel 8×8 images, input ``(n, 1, 8, 8)`` or ``(n, 64)``."""

    def __init__(self, channels: int = 32, spectral_norm: bool = False) -> None:
        super().__init__()
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        c = channels
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, c, 3, padding=1)),
            nn.SiLU(),
            sn(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)),  # 8 → 4
            nn.SiLU(),
            sn(nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1)),  # 4 → 2
            nn.SiLU(),
        )
        self.head = sn(nn.Linear(4 * c * 4, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.shape[1] == 64:
            x = x.reshape(-1, 1, 8, 8)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ShapeError(f"ConvEnergy expects input (n, 1, 8, 8) or (n, 64), got {tuple(x.shape)}.")
        return self.head(self.features(x).flatten(1)).squeeze(-1)
