"""Radau IIA on tridiagonal systems (solvers/tridiagonal.py), used by the effective solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg as sla

from conftest import paper_point
from microsim.analysis.comparison import effective_charging_time
from microsim.descriptions import effective
from microsim.descriptions.numerics.linear import SolverOptions, integrate
from microsim.descriptions.numerics.tridiagonal import RADAU, Tridiagonal, integrate_tridiagonal
from microsim.model.observables import charging_time


def test_tableau_is_radau_iia_and_error_weights_are_hairers():
    """Collocation conditions C c^{k-1} = c^k / k (k = 1..3), stiffly accurate (b = last row,
    sum 1, exact for degree 4), and the embedded-error weights of Hairer & Wanner IV.8 (8.19)."""
    c, mat = RADAU.nodes, RADAU.matrix
    for k in (1, 2, 3):
        np.testing.assert_allclose(mat @ c ** (k - 1), c**k / k, rtol=0, atol=1e-14)
    for k in (1, 2, 3, 4, 5):  # order 2s - 1 = 5 of the quadrature b = last row
        assert mat[-1] @ c ** (k - 1) == pytest.approx(1.0 / k, abs=1e-14)
    gamma0, s6 = 1.0 / RADAU.lam_real, math.sqrt(6.0)
    expected = gamma0 * np.array([-(13.0 + 7.0 * s6), -13.0 + 7.0 * s6, -1.0]) / 3.0
    np.testing.assert_allclose(RADAU.error_weights, expected, rtol=1e-12)
    # eigenvalues of C^{-1}: Hairer & Wanner IV.8 quote 3.637834252744496 and 2.681082873627752
    # +- 3.050430199247411i
    assert RADAU.lam_real == pytest.approx(3.637834252744496, rel=1e-13)
    assert RADAU.lam_complex == pytest.approx(2.681082873627752 + 3.050430199247411j, rel=1e-13)


def _random_bands(rng: np.random.Generator, n: int, oscillating: bool) -> Tridiagonal:
    """A birth-death generator (column sums 0), or one with antisymmetric couplings (a damped
    oscillator chain with complex eigenvalues) when ``oscillating``."""
    up, down = rng.uniform(0.5, 50.0, n - 1), rng.uniform(0.5, 50.0, n - 1)
    if oscillating:
        return Tridiagonal(lower=-up, diagonal=-rng.uniform(0.1, 1.0, n), upper=up)
    out = np.zeros(n)
    out[:-1] += up
    out[1:] += down
    return Tridiagonal(lower=up, diagonal=-out, upper=down)


def _dense(a: Tridiagonal) -> np.ndarray:
    return np.diag(a.diagonal) + np.diag(a.lower, -1) + np.diag(a.upper, 1)


@pytest.mark.parametrize(("n", "oscillating"),
                         [(1, False), (2, False), (3, False), (30, False), (2, True), (30, True)])
def test_matches_the_matrix_exponential(n, oscillating):
    """Against expm on a non-uniform grid with a repeated time. Each step's embedded (order 3)
    estimate is held below atol + rtol |y| = 1e-8 while the method is of order 5. For the damped
    birth-death chains the realized error is far smaller (measured 8e-11; we allow 1e-9); for the oscillating
    chain (eigenvalues up to 50i, many steps per period) it accumulates to 4e-9: we allow the
    tolerance itself, 1e-8."""
    rng = np.random.default_rng(n + 100 * oscillating)
    a = _random_bands(rng, n, oscillating) if n > 1 else Tridiagonal(*(np.array(x) for x in
                                                                       ([], [-0.7], [])))
    y0 = rng.uniform(0.0, 1.0, n)
    t = np.array([0.0, 1e-3, 0.05, 0.05, 0.4, 1.0, 3.0])
    ys, _ = integrate_tridiagonal(a, y0, t, rtol=1e-8, atol=1e-8)
    exact = np.array([sla.expm(_dense(a) * tk) @ y0 for tk in t])
    np.testing.assert_allclose(ys, exact, rtol=0, atol=1e-8 if oscillating else 1e-9)


def test_rejected_steps_recover_and_factors_are_reused():
    """A first step over the whole span must be rejected (and the second filtering used); the
    result still matches expm within 1e-9. On a uniform grid most steps reuse cached LU factors."""
    rng = np.random.default_rng(3)
    a = _random_bands(rng, 30, False)
    y0 = np.eye(1, 30)[0]
    t = np.linspace(0.0, 2.0, 41)
    ys, stats = integrate_tridiagonal(a, y0, t, rtol=1e-8, atol=1e-8, first_step=2.0)
    exact = np.array([sla.expm(_dense(a) * tk) @ y0 for tk in t])
    np.testing.assert_allclose(ys, exact, rtol=0, atol=1e-9)
    assert stats["rejected"] >= 1
    assert stats["factorizations"] < stats["steps"] / 2


def test_a_nan_state_raises():
    a = _random_bands(np.random.default_rng(0), 5, False)
    with pytest.raises(FloatingPointError):
        integrate_tridiagonal(a, np.array([1.0, np.nan, 0.0, 0.0, 0.0]), np.array([0.0, 1.0]))


def test_tighter_tolerance_gives_smaller_error():
    rng = np.random.default_rng(7)
    a = _random_bands(rng, 40, False)
    y0 = np.eye(1, 40)[0]
    t = np.linspace(0.0, 2.0, 11)
    exact = np.array([sla.expm(_dense(a) * tk) @ y0 for tk in t])
    errors = [np.abs(integrate_tridiagonal(a, y0, t, rtol=r, atol=r * 1e-3)[0] - exact).max()
              for r in (1e-4, 1e-6, 1e-8)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-10


def test_rejects_a_decreasing_grid():
    a = _random_bands(np.random.default_rng(0), 5, False)
    with pytest.raises(ValueError, match="non-decreasing"):
        integrate_tridiagonal(a, np.ones(5), np.array([0.0, 1.0, 0.5]))


def test_effective_solver_agrees_with_scipy_radau_at_n_1e4():
    """Two independent integrators of Eq. 8 (ours on the bands, SciPy's Radau with the sparse
    Jacobian), both at rtol 1e-8: energies per battery agree to 1e-9 (measured 3e-12)."""
    p = paper_point(10_000, kappa=0.5)
    t = np.linspace(0.0, 3.0 * effective_charging_time(p), 61)
    ours = effective.evolve(p, t)
    p0 = np.eye(1, p.n_batteries + 1)[0]
    gen = effective.generator(p.n_batteries, p.gamma_e, p.beta_e_w0)
    theirs = integrate(gen, p0, t, SolverOptions(method="Radau"))
    energy = theirs @ (p.w0 * np.arange(p.n_batteries + 1))
    np.testing.assert_allclose(ours.energy / p.n_batteries, energy / p.n_batteries, rtol=0, atol=1e-9)
    assert ours.checks["trace_error"] < 1e-12


def test_effective_charging_time_is_stable_under_tighter_tolerance():
    """tau from the bracket-and-refine search against a 4001-point grid integrated 1000x tighter:
    agreement to 1e-6 relative (the grid's own log-linear interpolation is good to about 1e-7)."""
    p = paper_point(2000, kappa=0.5)
    tau = effective_charging_time(p)
    t = np.linspace(0.0, 2.0 * tau, 4001)
    fine = effective.evolve(p, t, SolverOptions(rtol=1e-11, atol=1e-14))
    tau_grid = charging_time(t, fine.energy, effective.steady_state(p).energy)
    assert tau == pytest.approx(tau_grid, rel=1e-6)


def test_effective_charging_time_of_the_individual_protocol_is_the_exact_tau_1():
    """Individual charging is N independent pairs: tau_N = tau_1 = ln(1/eps)/(Gamma_e (1 + e^{-x}))
    in closed form (Eq. 17 at N = 1), to the search's 1e-7."""
    from microsim.model import closed_forms as cf

    p = paper_point(5, kappa=0.1).replace(protocol="individual")
    pair = p.pair()
    exact = cf.charging_time_single(pair.gamma_e, pair.beta_e_w0, 1e-3)
    assert effective_charging_time(p, 1e-3) == pytest.approx(exact, rel=1e-7)
    with pytest.raises(ValueError, match="epsilon"):
        effective_charging_time(p, 1.0)
