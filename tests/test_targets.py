"""Tests of ebmlab.targets: analytic gradients, exact log Z and exact samplers.

Statistical checks are seeded and use tolerances of ``Z_TOL`` Monte Carlo standard errors; the "power"
tests check that the same statistics reject a slightly wrong log Z or sampler.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from ebmlab.energies import energy_and_grad as generic_energy_and_grad
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.targets import (
    TARGET_NAMES,
    Checkerboard,
    DoubleWell,
    Funnel,
    Gaussian,
    GaussianMixture,
    ManyWell,
    Moons,
    QuarticWell,
    Spirals,
    Target,
    get_target,
)

F64 = torch.float64
Z_TOL = 4.5  # |error| < Z_TOL standard errors for each statistical comparison
TWO_D = ("gmm-40", "mog8", "eight-gaussians", "rings", "checkerboard", "moons", "spirals")
REQUIRED = (
    "gaussian-50",
    "double-well",
    "many-well-32",
    "many-well",
    "gmm-40",
    "mog8",
    "funnel-10",
    "eight-gaussians",
    "rings",
    "checkerboard",
    "moons",
    "spirals",
)

_CACHE: dict[str, Target] = {}


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """These tensors are small: one intra-op thread avoids spin-waiting on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def target(name: str) -> Target:
    if name not in _CACHE:
        _CACHE[name] = get_target(name)
    return _CACHE[name]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- quadrature helpers ---------------------------------------------------------------------------------
def gl_nodes(lo: float, hi: float, panel: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre on [lo, hi] with panel edges at multiples of ``panel``."""
    inner = np.arange(math.floor(lo / panel) + 1, math.ceil(hi / panel)) * panel
    edges = np.unique(np.concatenate([[lo], inner[(inner > lo) & (inner < hi)], [hi]]))
    x, w = np.polynomial.legendre.leggauss(order)
    a, b = edges[:-1, None], edges[1:, None]
    return (0.5 * (a + b) + 0.5 * (b - a) * x).ravel(), (0.5 * (b - a) * w).ravel()


def density(t: Target, x: np.ndarray, embed=None) -> np.ndarray:
    """exp(-E(x) - log Z) in float64, by chunks."""
    out = []
    for chunk in np.array_split(x, max(1, len(x) // 20000)):
        xt = torch.from_numpy(chunk)
        if embed is not None:
            xt = embed(xt)
        out.append(torch.exp(-t.energy(xt) - t.log_z()).numpy())
    return np.concatenate(out)


def box_mass(t: Target, box, panel: float = 0.25, order: int = 12, embed=None, log_z=None) -> float:
    """∫_box exp(-E - log Z) by tensor-product composite Gauss–Legendre (1-D or 2-D boxes)."""
    nodes = [gl_nodes(lo, hi, panel, order) for lo, hi in box]
    grids = np.meshgrid(*[n[0] for n in nodes], indexing="ij")
    weights = np.ones(())
    for _, w in nodes:
        weights = np.multiply.outer(weights, w)
    pts = np.stack([g.ravel() for g in grids], axis=1)
    p = density(t, pts, embed)
    if log_z is not None:  # renormalise with another log Z (e.g. one pair of many-well)
        p = p * math.exp(t.log_z() - log_z)
    return float((p * weights.ravel()).sum())


def fraction_in(x: torch.Tensor, box) -> torch.Tensor:
    inside = torch.ones(x.shape[0], dtype=torch.bool)
    for i, (lo, hi) in enumerate(box):
        inside &= (x[:, i] >= lo) & (x[:, i] < hi)
    return inside


def box_z_scores(x: torch.Tensor, boxes, masses) -> np.ndarray:
    """(empirical − exact) / binomial SE for each box."""
    n = x.shape[0]
    z = []
    for box, p in zip(boxes, masses, strict=True):
        p_hat = float(fraction_in(x, box).double().mean())
        se = math.sqrt(max(p * (1 - p), 1e-12) / n)
        z.append((p_hat - p) / se)
    return np.asarray(z)


# -- registry and interface -----------------------------------------------------------------------------
def test_registry_names_and_alias():
    assert set(REQUIRED) <= set(TARGET_NAMES)
    assert get_target("many-well").name == "many-well-32"
    assert get_target("many-well").log_z() == pytest.approx(get_target("many-well-32").log_z(), abs=0)
    assert get_target("Double_Well").name == "double-well"
    assert get_target("gaussian-50", dim=7).dim == 7


def test_unknown_name_and_kwarg_raise_config_error():
    with pytest.raises(ConfigError) as info:
        get_target("no-such-target")
    for name in TARGET_NAMES:
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="valid arguments"):
        get_target("double-well", wells=3)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError):
        DoubleWell(b=4.0, c=1.0)  # single well
    with pytest.raises(ConfigError):
        Gaussian(torch.zeros(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]]))  # not positive definite
    with pytest.raises(ConfigError):
        GaussianMixture(torch.zeros(3, 2), stds=-1.0)
    with pytest.raises(ConfigError):
        ManyWell(n_pairs=0)
    with pytest.raises(ConfigError):
        Funnel(dim=1)
    with pytest.raises(ConfigError):
        target("mog8").sample(-1)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_interface_shapes_dtypes(name):
    t = target(name)
    assert isinstance(t, Target) and t.has_exact_log_z and t.has_exact_sample
    assert t.dim == math.prod(t.event_shape)
    if t.dim <= 2:
        assert t.bounds is not None and len(t.bounds) == t.dim
    x = t.sample(5, gen(0))
    assert x.shape == (5, *t.event_shape) and x.dtype == torch.float32
    assert t.sample(0, gen(0)).shape == (0, *t.event_shape)
    x64 = t.sample(7, gen(0), dtype=F64)
    assert x64.dtype == F64
    for xx in (x, x64):
        e = t(xx)
        assert e.shape == (xx.shape[0],) and e.dtype == xx.dtype
        e2, g = t.energy_and_grad(xx.requires_grad_(True))
        assert e2.shape == (xx.shape[0],) and g.shape == xx.shape and g.dtype == xx.dtype
        assert not e2.requires_grad and not g.requires_grad
        assert torch.allclose(t.log_prob(xx), -t.energy(xx) - t.log_z())
    # the protocol helper uses the analytic gradient and checks the shape
    e3, _ = generic_energy_and_grad(t, x64)
    assert e3.shape == (7,)
    with pytest.raises(ShapeError):
        t.energy(torch.zeros(3, t.dim + 1))


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_same_seed_same_samples(name):
    t = target(name)
    a, b = t.sample(300, gen(123)), t.sample(300, gen(123))
    assert torch.equal(a, b)
    assert not torch.equal(a, t.sample(300, gen(124)))


def _probe_points(t: Target) -> torch.Tensor:
    x = t.sample(400, gen(5), dtype=F64)
    if isinstance(t, Checkerboard):
        return torch.cat([x, torch.tensor([[4.5, 0.0], [-3.0, -1.0]], dtype=F64)])  # + two outside
    return x + 0.3 * torch.randn(x.shape, generator=gen(6), dtype=F64)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_analytic_gradient_matches_autograd(name):
    t = target(name)
    x = _probe_points(t).requires_grad_(True)
    e = t.energy(x)
    (g_auto,) = torch.autograd.grad(e.sum(), x)
    e_an, g_an = t.energy_and_grad(x.detach())
    finite = torch.isfinite(e)
    assert torch.equal(finite, torch.isfinite(e_an))
    assert torch.allclose(e_an[finite], e.detach()[finite], rtol=1e-12, atol=1e-12)
    scale = g_auto.abs().max().clamp_min(1.0)
    assert float((g_an - g_auto).abs().max() / scale) < 1e-10


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_float32_energy_matches_float64(name):
    t = target(name)
    x = _probe_points(t)
    e64, g64 = t.energy_and_grad(x)
    e32, g32 = t.energy_and_grad(x.float())
    finite = torch.isfinite(e64)
    err = (e32.double() - e64)[finite].abs() / e64[finite].abs().clamp_min(1.0)
    assert float(err.max()) < 1e-5
    gerr = (g32.double() - g64).abs().max() / g64.abs().max().clamp_min(1.0)
    assert float(gerr) < 1e-4


# -- known values -------------------------------------------------------------------------------------------
def test_double_well_known_values():
    t = target("double-well")
    assert isinstance(t, DoubleWell)
    assert abs(t.log_z() - 5.032284) < 1e-6
    assert abs(t.left_well_mass() - 0.9335) < 1e-4
    b = t.barrier
    assert abs(4 * b**3 - 8 * b + 1) < 1e-12 and 0.12 < b < 0.13
    # independent quadrature of the torch energy
    f = lambda x: math.exp(-float(t.energy(torch.tensor([[x]], dtype=F64))))  # noqa: E731
    z = sum(integrate.quad(f, a, c, epsabs=0, epsrel=1e-12, limit=200)[0] for a, c in [(-8, b), (b, 8)])
    assert math.log(z) == pytest.approx(t.log_z(), abs=1e-9)


def test_many_well_known_values():
    t = target("many-well-32")
    assert isinstance(t, ManyWell) and t.dim == 32
    assert abs(t.log_z() - 164.695675) < 1e-5
    # one pair (others at 0, where their energy is 0) integrates to exp(log Z / 16)
    embed = lambda p: torch.cat([p, torch.zeros(p.shape[0], 30, dtype=F64)], dim=1)  # noqa: E731
    bounds = t.bounds[:2]
    mass = box_mass(t, bounds, panel=0.25, order=12, embed=embed, log_z=t.log_z() / 16)
    assert mass == pytest.approx(1.0, abs=1e-8)


def test_gaussian_50_construction_and_log_prob():
    t = target("gaussian-50")
    assert isinstance(t, Gaussian) and t.dim == 50
    eig = torch.linalg.eigvalsh(t.covariance)
    assert float(eig.max() / eig.min()) == pytest.approx(100.0, rel=1e-9)
    assert float(eig.min()) == pytest.approx(0.1, rel=1e-9)
    assert torch.allclose(t.precision @ t.covariance, torch.eye(50, dtype=F64), atol=1e-10)
    again = get_target("gaussian-50")
    assert torch.equal(again.mean, t.mean) and torch.equal(again.covariance, t.covariance)
    mvn = torch.distributions.MultivariateNormal(t.mean, covariance_matrix=t.covariance)
    x = mvn.sample((50,))
    assert torch.allclose(t.log_prob(x), mvn.log_prob(x), rtol=0, atol=1e-9)


def test_funnel_log_prob_matches_definition():
    t = target("funnel-10")
    x = t.sample(200, gen(1), dtype=F64) * 0.7
    v = x[:, 0]
    ref = torch.distributions.Normal(torch.tensor(0.0, dtype=F64), torch.tensor(3.0, dtype=F64)).log_prob(v)
    ref = ref + torch.distributions.Normal(0.0, torch.exp(0.5 * v)[:, None]).log_prob(x[:, 1:]).sum(1)
    assert torch.allclose(t.log_prob(x), ref, rtol=0, atol=1e-10)


# quadrature panel widths (≈ 2 noise stds; panel edges at multiples of the width, so the checkerboard's
# discontinuities are panel edges and its 2-node rule is exact)
PANEL = {
    "double-well": (0.25, 12),
    "gmm-40": (2.0, 12),
    "mog8": (1.0, 12),
    "eight-gaussians": (0.4, 12),
    "rings": (0.25, 12),
    "checkerboard": (1.0, 2),
    "moons": (0.4, 12),
    "spirals": (0.25, 12),
}


@pytest.mark.parametrize("name", ["double-well", *TWO_D])
def test_density_integrates_to_one_over_bounds(name):
    t = target(name)
    panel, order = PANEL[name]
    if name == "spirals":  # the costliest energy: integrate over the half-plane x > 0 (mass ½ by symmetry)
        mass = 2 * box_mass(t, ((0.0, t.bounds[0][1]), t.bounds[1]), panel=panel, order=order)
    else:
        mass = box_mass(t, t.bounds, panel=panel, order=order)
    assert mass == pytest.approx(1.0, abs=1e-9)


# -- exact samplers vs exact densities --------------------------------------------------------------------
BOXES = {
    "double-well": [((-2.7, 0.126),), ((-1.6, -1.3),), ((-2.0, -1.6),), ((0.8, 1.6),), ((0.126, 2.6),)],
    "gmm-40": [
        ((-40, 0), (-40, 0)),
        ((0, 40), (-10, 10)),
        ((20, 40), (10, 40)),
        ((-10, 10), (0, 40)),
        ((34, 37), (-10, -7)),
    ],
    "mog8": [((0, 8), (0, 8)), ((-1, 5), (-1, 1)), ((3, 5), (-2, 0.5)), ((-8, 0), (-8, 8)), ((3.7, 4.3), (-0.3, 0.3))],
    "eight-gaussians": [
        ((0, 4), (0, 4)),
        ((1.5, 2.5), (-0.5, 0.5)),
        ((-1.6, -1.2), (1.2, 1.6)),
        ((-4, 0), (-4, 4)),
        ((1.3, 1.5), (1.2, 1.5)),
    ],
    "rings": [
        ((0, 4), (0, 4)),
        ((-1.5, 1.5), (-1.5, 1.5)),
        ((1.5, 2.5), (-0.5, 0.5)),
        ((-3.2, -2.8), (-1, 1)),
        ((-0.5, 0.5), (0.8, 1.2)),
    ],
    "checkerboard": [
        ((-4, 0), (-4, 0)),
        ((-3, 1), (-1, 3)),
        ((-1.5, 0.5), (-4, -2.5)),
        ((2.2, 3.7), (2.2, 3.7)),
        ((-4, 4), (1, 2)),
    ],
    "moons": [
        ((-4.4, 0), (-3, 3)),
        ((-1, 1), (-1, 1)),
        ((0, 2), (0.5, 2)),
        ((-3, -1), (-1.5, 0)),
        ((1.5, 3.5), (-0.5, 1)),
    ],
    "spirals": [
        ((0, 4), (0, 4)),
        ((-1, 1), (-1, 1)),
        ((1, 2), (-1, 0.5)),
        ((-3, -2), (-1, 1)),
        ((0.5, 2.5), (2, 3.5)),
    ],
}
N_BOX = 200_000


@functools.cache
def _exact_box_masses(name: str) -> tuple[float, ...]:
    panel, order = PANEL[name]
    return tuple(box_mass(target(name), box, panel=panel, order=order) for box in BOXES[name])


@pytest.mark.parametrize("name", list(BOXES))
def test_sampler_box_masses_match_density(name):
    t = target(name)
    masses = _exact_box_masses(name)
    assert all(0.001 < m < 0.999 for m in masses)
    x = t.sample(N_BOX, gen(11), dtype=F64)
    z = box_z_scores(x, BOXES[name], masses)
    assert np.abs(z).max() < Z_TOL, z


def test_box_masses_detect_wrong_log_z_and_wrong_sampler():
    """Power: the box statistic rejects log Z off by 0.03, a sampler 3% too wide, a mixture std 10% off."""
    t = target("double-well")
    masses = np.asarray(_exact_box_masses("double-well"))
    x = t.sample(N_BOX, gen(11), dtype=F64)
    assert np.abs(box_z_scores(x, BOXES["double-well"], masses * math.exp(-0.03))).max() > Z_TOL
    wide = x * 1.03
    assert np.abs(box_z_scores(wide, BOXES["double-well"], masses)).max() > Z_TOL
    wrong = GaussianMixture(target("mog8").means, 0.55)
    y = wrong.sample(N_BOX, gen(12), dtype=F64)
    assert np.abs(box_z_scores(y, BOXES["mog8"], _exact_box_masses("mog8"))).max() > Z_TOL


def test_double_well_rejection_envelope_bounds_ratio():
    well = QuarticWell(-4.0, 1.0)
    x = np.concatenate([np.linspace(-6, 6, 200_001), np.random.default_rng(0).normal(0, 3, 100_000)])
    log_ratio = -well.u(x) - well._log_q(x, well.stds)
    assert log_ratio.max() <= well.log_m
    assert 0.5 < well.acceptance < 1.0


def test_many_well_pair_box_masses():
    t = target("many-well-32")
    x = t.sample(100_000, gen(21), dtype=F64)
    embed = lambda p: torch.cat([p, torch.zeros(p.shape[0], 30, dtype=F64)], dim=1)  # noqa: E731
    boxes = [
        ((-2.9, t.barrier), (-7.1, 7.1)),
        ((1.5, 2.0), (-1.0, 1.0)),
        ((-1.8, -1.6), (0.0, 0.5)),
        ((-0.5, 0.5), (-7.1, 7.1)),
        ((-2.9, 2.8), (0.5, 1.5)),
    ]
    masses = [box_mass(t, b, panel=0.25, order=12, embed=embed, log_z=t.log_z() / 16) for b in boxes]
    for pair in (0, 9, 15):
        z = box_z_scores(x[:, 2 * pair : 2 * pair + 2], boxes, masses)
        assert np.abs(z).max() < Z_TOL, (pair, z)
    # pairs are independent: joint left-well frequency of two pairs is the product
    left = x[:, 0::2] < t.barrier
    p = masses[0]
    assert p == pytest.approx(t.left_well_mass(), abs=1e-9)
    both = float((left[:, 3] & left[:, 4]).double().mean())
    assert abs(both - p * p) < Z_TOL * math.sqrt(p * p * (1 - p * p) / x.shape[0])


def test_gaussian_50_sample_moments():
    t = target("gaussian-50")
    n = 40_000
    x = t.sample(n, gen(31), dtype=F64)
    var = t.covariance.diagonal()
    z_mean = (x.mean(0) - t.mean) / (var / n).sqrt()
    assert float(z_mean.abs().max()) < Z_TOL
    cov_hat = torch.cov(x.T)
    se = ((var[:, None] * var[None, :] + t.covariance**2) / n).sqrt()
    assert float(((cov_hat - t.covariance) / se).abs().max()) < 5.0  # max over 1275 entries
    # E(x) = ½ χ²_d: mean d/2, variance d/2
    e = t.energy(x)
    assert abs(float(e.mean()) - 25.0) < Z_TOL * math.sqrt(25.0 / n)


def test_funnel_sample_moments_and_box_masses():
    t = target("funnel-10")
    n = 200_000
    x = t.sample(n, gen(41), dtype=F64)
    v = x[:, 0]
    assert abs(float(v.mean())) < Z_TOL * 3.0 / math.sqrt(n)
    assert abs(float(v.var()) - 9.0) < Z_TOL * 9.0 * math.sqrt(2.0 / n)
    w = x[:, 1:] ** 2 * torch.exp(-v)[:, None]  # ξ² ~ χ²₁: mean 1, variance 2
    assert abs(float(w.mean()) - 1.0) < Z_TOL * math.sqrt(2.0 / (9 * n))

    def mass(vb, xb):
        f = lambda s: (  # noqa: E731
            math.exp(-(s**2) / 18)
            / math.sqrt(18 * math.pi)
            * (special.ndtr(xb[1] * math.exp(-s / 2)) - special.ndtr(xb[0] * math.exp(-s / 2)))
        )
        return integrate.quad(f, *vb, epsabs=1e-13, epsrel=1e-12, limit=200)[0]

    boxes = [((-15, 0), (-1, 1)), ((0, 3), (-2, 0)), ((-3, 3), (0.5, 3)), ((2, 15), (-20, -3)), ((-6, -3), (-0.1, 0.1))]
    z = box_z_scores(x[:, :2], boxes, [mass(*b) for b in boxes])
    assert np.abs(z).max() < Z_TOL, z


# -- E_{x~p}[q(x) / p(x)] = 1 for a normalised q narrower than p ------------------------------------------
def _identity_z(t: Target, x: torch.Tensor, log_q: torch.Tensor, where: torch.Tensor | None = None) -> float:
    """z-score of mean(q/p) − 1 with p = exp(−E − log Z); ``where``: samples outside supp q (q = 0)."""
    ratio = torch.zeros(x.shape[0], dtype=F64)
    sel = torch.ones(x.shape[0], dtype=torch.bool) if where is None else where
    ratio[sel] = torch.exp(log_q + t.energy(x[sel]) + t.log_z())
    se = float(ratio.std()) / math.sqrt(x.shape[0])
    return (float(ratio.mean()) - 1.0) / se


UNIFORM_Q = {  # q uniform on a box where p is not small
    "double-well": ((-1.8, -1.1),),
    "gmm-40": ((34.4, 36.4), (-9.8, -7.8)),
    "mog8": ((3.5, 4.5), (-0.5, 0.5)),
    "eight-gaussians": ((1.8, 2.2), (-0.2, 0.2)),
    "rings": ((1.9, 2.1), (-0.4, 0.4)),
    "checkerboard": ((-3.8, -2.2), (-3.8, -2.2)),
    "moons": ((-1.4, -0.6), (1.3, 1.7)),
    "spirals": ((1.9, 2.1), (-0.3, 0.3)),
}


@pytest.mark.parametrize("name", list(UNIFORM_Q))
def test_importance_identity_uniform_q(name):
    t = target(name)
    x = t.sample(N_BOX, gen(51), dtype=F64)
    box = UNIFORM_Q[name]
    inside = fraction_in(x, box)
    log_q = torch.full((int(inside.sum()),), -sum(math.log(hi - lo) for lo, hi in box), dtype=F64)
    assert abs(_identity_z(t, x, log_q, inside)) < Z_TOL


def test_importance_identity_gaussian_50():
    t = target("gaussian-50")
    x = t.sample(40_000, gen(52), dtype=F64)
    q = torch.distributions.MultivariateNormal(t.mean, covariance_matrix=0.8 * t.covariance)
    assert abs(_identity_z(t, x, q.log_prob(x))) < Z_TOL


def test_importance_identity_funnel():
    t = target("funnel-10")
    x = t.sample(100_000, gen(53), dtype=F64)
    v = x[:, 0]
    log_q = torch.distributions.Normal(torch.tensor(0.0, dtype=F64), torch.tensor(2.0, dtype=F64)).log_prob(v)
    log_q = log_q + torch.distributions.Normal(0.0, (0.8 * torch.exp(v)).sqrt()[:, None]).log_prob(x[:, 1:]).sum(1)
    assert abs(_identity_z(t, x, log_q)) < Z_TOL


def test_importance_identity_detects_wrong_log_z():
    t = target("checkerboard")
    x = t.sample(N_BOX, gen(51), dtype=F64)
    box = UNIFORM_Q["checkerboard"]
    inside = fraction_in(x, box)
    log_q = torch.full((int(inside.sum()),), -math.log(1.6**2) + 0.05, dtype=F64)  # q/p off by e^0.05
    assert abs(_identity_z(t, x, log_q, inside)) > Z_TOL


@pytest.mark.parametrize("cls", [Moons, Spirals])
def test_curve_quadrature_density_is_accurate(cls):
    """The default node count reproduces a 4× finer quadrature of the same density to < 1e-6."""
    t = cls()
    fine = cls(n_panels=4 * t.n_nodes // (2 * 16))  # 2 segments of 16-node panels
    assert fine.n_nodes == 4 * t.n_nodes and t.log_prob_is_approximate
    x = t.sample(2000, gen(71), dtype=F64)
    x = x + 0.2 * torch.randn(x.shape, generator=gen(72), dtype=F64)
    assert float((fine.energy(x) - t.energy(x)).abs().max()) < 1e-6


# -- mixtures ---------------------------------------------------------------------------------------------
def test_gmm_40_means_pinned_and_mode_coverage():
    t = target("gmm-40")
    assert isinstance(t, GaussianMixture)
    assert t.means.shape == (40, 2) and float(t.means.abs().max()) <= 40
    assert t.means[0].tolist() == [35.4421, -8.8279]
    assert torch.allclose(t.stds, torch.ones(40, dtype=F64))
    assert t.mode_coverage(t.sample(4000, gen(61))) == 1.0
    one_mode = t.means[5] + 0.1 * torch.randn(100, 2, generator=gen(62), dtype=F64)
    assert t.mode_coverage(one_mode) == pytest.approx(1 / 40)
