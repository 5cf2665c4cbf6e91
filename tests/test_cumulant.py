"""The descriptions beyond the corrected one (docs/physics.md §8): the level cumulant closure and
the eight-moment closure, against the exact solver and their own exact limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import paper_point
from microsim.analysis.comparison import compare, compare_until_charged, default_time_grid
from microsim.descriptions import cumulant, effective, moments, symmetric
from microsim.descriptions.binomial import BinomialLevels
from microsim.model import closed_forms as cf
from microsim.model.observables import dicke_energy, dicke_sigma, ergotropy_dicke
from microsim.model.params import ModelParams


def test_cumulant_is_exact_for_one_engine():
    """M = 1: every closed term carries the factor M - 1, so the closure is the exact model
    (1e-6 in E/N: the integration tolerance, rtol 1e-8, on curves of O(1))."""
    p = ModelParams.from_effective(-0.8, 0.1, 0.5, 6, n_engines=1, gamma_ratio=3.0)
    t = default_time_grid(p, points=61)
    exact = symmetric.evolve(p, t)
    closure = cumulant.trajectory(p, t)[0]
    assert np.abs(closure.energy - exact.energy).max() / 6 < 1e-6


@pytest.mark.parametrize(("x", "ratio"), [(-0.8, 1.0), (-1.5, 0.2), (-0.3, 5.0)])
def test_cumulant_steady_state_is_eq13(x, ratio):
    """Eq. 3 (x) Eq. 13 with no coherence is its exact fixed point (residual checked inside);
    the energy is N e_N of Eq. 14 (round-off)."""
    p = ModelParams.from_effective(x, 0.1, 0.3, 5, n_engines=4, gamma_ratio=ratio)
    assert cumulant.steady_state(p).energy == pytest.approx(5 * cf.capacity(5, x), rel=1e-12)


def test_cumulant_holds_where_the_corrected_description_breaks_down():
    """N = M = 16, kappa = 1 (N kappa^2 = 16): the corrected closure goes unstable, the upwind
    one runs and stays within 4.5 % of the exact charging curve (measured 4.0 %)."""
    with pytest.warns(UserWarning):
        c = compare_until_charged(paper_point(16, 1.0), 201,
                                  descriptions=("corrected", "cumulant"))
    assert c.status["corrected"].startswith("unstable")
    assert c.status["cumulant"] in ("ok",) or c.status["cumulant"].startswith("positivity")
    assert c.figures["eps_traj_cum"] < 0.045
    assert c.figures["eps_traj_cum"] < c.figures["eps_traj"] / 10


def test_cumulant_beats_eq8_and_the_corrected_description_at_kappa_0_3():
    """N = M = 8, kappa = 0.3: 1.28 % against the corrected 1.70 % and Eq. 8's 39.7 %."""
    c = compare_until_charged(paper_point(8, 0.3), 201, descriptions=("corrected", "cumulant"))
    assert c.figures["eps_traj_cum"] < c.figures["eps_traj_corr"] < 0.02
    assert c.figures["eps_ss_cum"] < 1e-12


def test_cumulant_reaches_eq8_at_small_kappa_with_few_engines():
    """N = 24, M = 2, kappa = 0.01 (Gamma_h = 1.7e5): the limit kappa -> 0 is Eq. 8; the
    deviation is of order kappa^2 (measured 0.115 %, and 0.0104 % at kappa = 0.003). Until the
    unused numbers C(N), Y(N - 1), Y(N) were taken out of the integration, solve_ivp's
    finite-difference Jacobian overflowed on them here ("Factor is exactly singular")."""
    p = ModelParams.from_effective(-0.8, 0.1, 0.01, 24, n_engines=2)
    t = default_time_grid(p, points=121)
    closure = cumulant.trajectory(p, t)[0]
    eq8 = effective.evolve(p, t)
    assert np.abs(closure.energy - eq8.energy).max() < 2e-3 * np.abs(eq8.energy).max()


def test_moments_are_exact_for_one_pair():
    """N = M = 1: every (N - 1) and (M - 1) term vanishes and the eight equations close exactly."""
    p = paper_point(1, 0.5)
    t = default_time_grid(p, points=61)
    exact = symmetric.evolve(p, t)
    closure = moments.trajectory(p, t)[0]
    assert np.abs(closure.energy - exact.energy).max() < 1e-7


def test_moments_start_as_the_exact_model():
    """At t -> 0 every moment but X and n is at its initial value, so n(t) = g_e^2 M p1 t^2 +
    O(t^3), for the closure and for the exact model alike (relative 1e-3 at t = 1e-3/gamma_01)."""
    p = paper_point(4, 0.3)
    t = np.array([0.0, 1e-3 / p.gamma_01])
    leading = p.g_engine**2 * 4 * p.engine_steady_populations[1] * t[1] ** 2
    closure = moments.trajectory(p, t)[0].energy[1] / 4
    exact = symmetric.evolve(p, t).energy[1] / 4
    assert closure == pytest.approx(leading, rel=1e-3)
    assert exact == pytest.approx(leading, rel=1e-3)


def test_moments_keep_binomial_batteries_and_the_first_law():
    """The closure conserves B2 - n (1 - n) (docs/physics.md §8), so from an empty battery
    B2 = n (1 - n) to the integration tolerance; heat in equals energy stored to 1e-6 (the
    heat integrated with the moments at rtol 1e-9)."""
    p = paper_point(8, 0.3)
    t = default_time_grid(p, points=201)
    traj, prop = moments.trajectory(p, t)
    states = np.array(list(prop.advance(prop.initial, t)))
    n, b2 = states[:, moments.N_B], states[:, moments.B2]
    assert np.abs(b2 - n * (1 - n)).max() < 1e-9
    assert traj.checks["first_law_error"] < 1e-6
    assert traj.checks["min_eigenvalue"] > -1e-9


def test_moments_steady_state_approaches_eq13_as_one_over_n_squared():
    """Binomial against geometric variance moves E_ss/N by O(N^-2): doubling N divides the gap
    by about 4 (3.5-4.5 allowed; measured 4.0)."""
    gaps = [abs(moments.steady_state(paper_point(n, 0.1)).energy / n - cf.capacity(n, -0.8))
            for n in (16, 32)]
    assert 3.5 < gaps[0] / gaps[1] < 4.5


def test_unphysical_moments_are_reported_not_hidden():
    """N = M = 2, kappa = 3: the closed engine pair leaves |E2| <= min(p0, p1); the moment
    description then reports why and its figures are NaN, the rest of the comparison stands."""
    p = paper_point(2, 3.0)
    with pytest.warns(UserWarning):
        c = compare(p, default_time_grid(p, points=81), method="moments")
    assert c.status["moments"].startswith("unphysical moments") and "engine_pair" in \
        c.status["moments"]
    assert math.isnan(c.figures["tau_mom"]) and math.isfinite(c.figures["tau_eff"])
    assert set(c.runs) == {"effective", "moments"}


@pytest.mark.parametrize("n_batteries", [1, 2, 7, 40, 1000])
def test_binomial_levels_give_the_observables_of_their_populations(n_batteries):
    """The closed forms of descriptions/binomial.py (E = w0 N n, sigma = w0 sqrt(N n (1 - n)),
    ergotropy at the binomial mode) against the sums over the populations they stand for,
    including n = 0, 1 and ties of the mode ((N + 1) n an integer): equal to 1e-12 of N w0 (the
    pmf's round-off summed over N + 1 levels; measured <= 4e-15 N w0). Rows, slices and the
    array agree, and the object holds T numbers whatever N is."""
    n = np.array([0.0, 1e-9, 0.013, 1 / (n_batteries + 1), 0.37, 0.5, 0.8, 1 - 1e-7, 1.0])
    levels = BinomialLevels(n_batteries, n)
    dense = np.asarray(levels)
    w0 = 1.7
    scale = 1e-12 * n_batteries * w0
    assert dense.shape == levels.shape == (n.size, n_batteries + 1)
    assert np.abs(dense.sum(axis=1) - 1).max() < 1e-12
    assert np.abs(levels.energy(w0) - dicke_energy(dense, w0)).max() < scale
    assert np.abs(levels.sigma(w0) - dicke_sigma(dense, w0)).max() < scale
    assert np.abs(levels.ergotropy(w0) - ergotropy_dicke(dense, n_batteries, w0)).max() < scale
    assert np.array_equal(levels[3], dense[3]) and np.array_equal(levels[2:5, 1], dense[2:5, 1])
    assert levels.nbytes == 8 * n.size


def test_moments_run_at_a_hundred_thousand_batteries():
    """The equations do not grow with N: N = M = 10^5 charges monotonically (to round-off,
    1e-9 of E_ss) onto the closed-form steady state of the closure (1e-8 relative)."""
    p = paper_point(100_000, 0.1)
    t = np.linspace(0.0, 5e-3, 21)  # tau_eff ~ ln N / (Gamma_e N (e^{0.8} - 1)) ~ 1e-3 here
    traj = moments.trajectory(p, t)[0]
    assert traj.battery_populations.shape == (21, 100_001)
    assert traj.battery_populations.nbytes == 8 * 21  # held as n(t), not 21 x 100 001
    e_ss = moments.steady_state(p).energy
    assert np.all(np.diff(traj.energy) > -1e-9 * e_ss)
    assert traj.energy[-1] == pytest.approx(e_ss, rel=1e-8)
