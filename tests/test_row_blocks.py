"""E and ∇E a block of rows at a time (ebmlab.energies.row_blocks) and MLPEnergy, which uses it."""

from __future__ import annotations

import copy

import pytest
import torch

from ebmlab.energies import MLPEnergy, neural
from ebmlab.energies.row_blocks import BLOCK_NUMBERS, block_rows, in_row_blocks


def _spy(seen: list[int]):
    def eg(z):
        seen.append(z.shape[0])
        return 0.5 * z.square().sum(dim=1), z.clone()

    return eg


def test_in_row_blocks_evaluates_blocks_of_rows_and_assembles_them() -> None:
    """10 rows in blocks of 4: three calls (4, 4, 2), the rows in order; at most ``rows`` rows: one call."""
    x = torch.arange(20.0).reshape(10, 2)
    seen: list[int] = []
    e, g = in_row_blocks(_spy(seen), x, 4)
    assert seen == [4, 4, 2]
    assert torch.equal(e, 0.5 * x.square().sum(dim=1)) and torch.equal(g, x)
    seen.clear()
    in_row_blocks(_spy(seen), x, 10)
    assert seen == [10]


def test_in_row_blocks_is_one_call_off_the_cpu() -> None:
    """Blocks are a CPU measure (allocator, caches): another device (here "meta") gets one call."""
    seen: list[int] = []
    e, g = in_row_blocks(_spy(seen), torch.empty(10, 2, device="meta"), 4)
    assert seen == [10] and e.shape == (10,) and g.shape == (10, 2)


def test_block_rows_keeps_a_block_activation_at_one_mebibyte() -> None:
    assert block_rows(256) == 1024 and block_rows(256) * 256 == BLOCK_NUMBERS
    assert block_rows(BLOCK_NUMBERS * 4) == 1 and block_rows(0) == BLOCK_NUMBERS


@pytest.mark.parametrize("sn", [False, True], ids=["plain", "spectral"])
def test_mlp_gradient_in_blocks_matches_autograd_with_one_power_iteration(sn, monkeypatch) -> None:
    """MLPEnergy in blocks of 10 rows (64 rows: 7 blocks): E and ∇E as autograd of ``forward``; with spectral norm
    in training mode, the weights' power-iteration state after one call equals that after one ``forward``."""
    seen: list[int] = []
    real = neural._mlp_energy_and_grad
    monkeypatch.setattr(neural, "block_rows", lambda width: 10)
    monkeypatch.setattr(neural, "_mlp_energy_and_grad", lambda z, *a: (seen.append(z.shape[0]), real(z, *a))[1])
    torch.manual_seed(2)
    energy = MLPEnergy(3, hidden=(5, 7), spectral_norm=sn).double()
    reference = copy.deepcopy(energy)
    x = 3.0 * torch.randn(64, 3, dtype=torch.float64)
    e, g = energy.energy_and_grad(x)
    assert seen == [10] * 6 + [4]
    xg = x.clone().requires_grad_(True)
    e_ref = reference(xg)
    (g_ref,) = torch.autograd.grad(e_ref.sum(), xg)
    torch.testing.assert_close(e, e_ref.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
    for (name, a), b in zip(energy.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.skipif(neural._ONEDNN is None, reason="this PyTorch has no oneDNN linear")
def test_mlp_blocks_take_the_batch_s_onednn_choice(onednn_calls, monkeypatch) -> None:
    """1124 rows of a 256-wide MLP: blocks of 1024 and 100 rows. 100 rows alone are below oneDNN's size rule, but a
    block runs as its batch would: both blocks' two large matmuls go to oneDNN, and E, ∇E match one evaluation of
    the whole batch (blocks disabled) to float32 rounding."""
    torch.manual_seed(3)
    energy = MLPEnergy(64, hidden=(256,))
    x = torch.randn(1124, 64)
    e, g = energy.energy_and_grad(x)
    rows = [r for r, _, _ in onednn_calls]
    assert rows == [1024, 1024, 100, 100]
    monkeypatch.setattr(neural, "block_rows", lambda width: 1 << 30)
    e_one, g_one = energy.energy_and_grad(x)
    assert [r for r, _, _ in onednn_calls[4:]] == [1124, 1124]
    torch.testing.assert_close(e, e_one, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g, g_one, rtol=1e-6, atol=1e-6)


def test_under_compile_mlp_energy_evaluates_in_one_piece(monkeypatch) -> None:
    """While ``torch.compile`` traces (``is_compiling`` True), no blocks: MLPEnergy in one piece, the same values."""
    torch.manual_seed(6)
    mlp = MLPEnergy(3, (5,)).double()
    x = torch.randn(9, 3, dtype=torch.float64)
    e_ref, g_ref = mlp.energy_and_grad(x)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    monkeypatch.setattr(neural, "block_rows", lambda width: 2)
    seen: list[int] = []
    real_mlp = neural._mlp_energy_and_grad
    monkeypatch.setattr(neural, "_mlp_energy_and_grad", lambda z, *a: (seen.append(z.shape[0]), real_mlp(z, *a))[1])
    e, g = mlp.energy_and_grad(x)
    assert seen == [9]
    torch.testing.assert_close(e, e_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
