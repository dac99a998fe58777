"""Training data from a file, checked at load so that bad data is blamed on the data, not on the lr.

``.npy`` files are read with ``allow_pickle=False`` and ``.safetensors`` by the safetensors parser,
so nothing in a data file can run code. :func:`check_data` rejects what would otherwise surface
much later as a "diverged, lower train.lr" message: non-numeric dtypes, a missing row axis, empty
data and NaN/inf values (naming the first bad row and column).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, NonFiniteError, ShapeError

__all__ = ["check_data", "load_array_file"]


def check_data(x: Tensor, source: str) -> Tensor:
    """``x`` as float32 after checking dtype, shape ``(n, *event)`` with n ≥ 1, and finiteness."""
    if x.dtype == torch.bool or x.is_complex() or not (x.is_floating_point() or x.dtype in _INTS):
        raise ConfigError(f"{source}: data must hold real numbers, got dtype {x.dtype}; convert it to float32.")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ShapeError(f"{source}: data must have shape (n, *event) with n >= 1 rows, got {tuple(x.shape)}.")
    if x.is_floating_point():
        bad = ~torch.isfinite(x.reshape(x.shape[0], -1))
        if bool(bad.any()):
            rows = bad.any(dim=1).nonzero().flatten()
            row = int(rows[0])
            col = int(bad[row].nonzero()[0])
            value = float(x.reshape(x.shape[0], -1)[row, col])
            raise NonFiniteError(
                f"{source}: the data hold non-finite values ({value} at row {row}, column {col}; {rows.numel()} "
                f"bad rows of {x.shape[0]}); clean or drop those rows — training on them would diverge."
            )
    out = x.to(torch.float32)
    if x.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise NonFiniteError(f"{source}: values overflow float32 (|x| > 3.4e38); rescale the data.")
    return out


_INTS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def load_array_file(path: str, key: str = "data") -> Tensor:
    """A checked float32 tensor ``(n, *event)`` from a ``.safetensors`` file (tensor ``key``) or a ``.npy`` file."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"data.path: file {path!r} not found")
    if file.is_dir():
        raise ConfigError(f"data.path: {path!r} is a directory; give the .npy or .safetensors file inside it.")
    if file.suffix == ".safetensors":
        x = _safetensors(file, key)
    elif file.suffix == ".npy":
        x = _npy(file)
    else:
        raise ConfigError(f"data.path: expected a .safetensors or .npy file, got {path!r}")
    return check_data(x, f"data.path {path!r}")


def _safetensors(file: Path, key: str) -> Tensor:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"data.path: {str(file)!r} is not a readable safetensors file ({exc}).") from None
    if key not in tensors:
        raise ConfigError(f"data.key: {str(file)!r} has no tensor {key!r}; it holds: {', '.join(sorted(tensors))}")
    return tensors[key]


def _npy(file: Path) -> Tensor:
    import numpy as np

    try:
        array = np.load(file, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which is refused; also malformed headers
        raise ConfigError(
            f"data.path: {str(file)!r} cannot be read as a numeric .npy without pickle ({exc}); save a float array."
        ) from None
    except (OSError, EOFError) as exc:
        raise ConfigError(f"data.path: {str(file)!r} is not a readable .npy file ({exc}).") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
        kind = getattr(array, "dtype", type(array))
        raise ConfigError(f"data.path: {str(file)!r} holds {kind} values; data must be a numeric (float) array.")
    return torch.from_numpy(np.ascontiguousarray(array))
