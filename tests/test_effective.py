"""The effective description (Eq. 8): birth-death solver against QuTiP and the closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip

from conftest import PAPER_GAMMA_E, PAPER_X, paper_point
from microsim.descriptions import effective
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.model import closed_forms as cf
from microsim.model.observables import charging_time, passive_energy
from microsim.model.operators import battery_operators, effective_collapse_operators

# Steady states come from detailed balance in log space: only round-off, 1e-12 relative.
SS_RTOL = 1e-12


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 20, 35, 50])
def test_steady_state_is_eq13_to_16(n):
    p = paper_point(n)
    ss = effective.steady_state(p)
    np.testing.assert_allclose(ss.battery_populations, cf.steady_populations(n, PAPER_X),
                               rtol=SS_RTOL, atol=1e-300)
    assert ss.energy == pytest.approx(n * cf.capacity(n, PAPER_X), rel=SS_RTOL)
    assert ss.sigma == pytest.approx(cf.fluctuation(n, PAPER_X), rel=1e-9)
    passive = ss.energy - ss.ergotropy
    assert passive == pytest.approx(cf.passive_energy_collective(n, PAPER_X), rel=1e-10)


def test_large_n_limits_of_eq14_to_16():
    """e_N -> 1, sigma_N -> (1/2) csch(-x/2), passive energy -> e^x, ergotropy/energy -> 1."""
    n = 50  # u^{N+1} = e^{-40.8} ~ 2e-18: the finite-N corrections are below double precision
    ss = effective.steady_state(paper_point(n))
    u = math.exp(PAPER_X)
    assert cf.capacity(n, PAPER_X) == pytest.approx(1 - u / (1 - u) / n, rel=1e-14)
    assert ss.sigma == pytest.approx(cf.fluctuation_limit(PAPER_X), rel=1e-9)
    assert ss.energy - ss.ergotropy == pytest.approx(cf.passive_energy_limit(PAPER_X), rel=1e-9)
    big = effective.steady_state(paper_point(100_000, kappa=0.5))
    assert big.energy / 100_000 == pytest.approx(1.0, abs=2e-5)
    assert big.ergotropy / big.energy == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_individual_ergotropy_is_minus_n_tanh(n):
    """Individual charging (Eq. 6) ends in N uncorrelated batteries, each in the pair's steady
    state diag(p0, p1). The ergotropy of that product state from its own 2^N spectrum (the
    products of p0, p1, filled into the levels 0, w0 (N-fold), ... by passive_energy) is
    N E_1 = -N w0 tanh(x/2) with ergotropy/energy = 1 - e^{x} (Eq. 16); what compare() reports
    for the protocol (_individual_ss, via ergotropy_product) must equal it. Round-off: 1e-12."""
    from microsim.analysis.comparison import _individual_ss

    pair = effective.steady_state(paper_point(1))
    spectrum, excitations = np.ones(1), np.zeros(1)
    for _ in range(n):
        spectrum = np.kron(spectrum, pair.battery_populations)
        excitations = np.add.outer(excitations, [0.0, 1.0]).ravel()
    energy = float(spectrum @ excitations)
    ergotropy = energy - passive_energy(spectrum, n, 1.0)
    assert ergotropy == pytest.approx(cf.ergotropy_individual(n, PAPER_X), rel=1e-12)
    assert ergotropy / energy == pytest.approx(1 - math.exp(PAPER_X), rel=1e-12)
    ss = _individual_ss(pair, n, 1.0)
    assert ss.energy == pytest.approx(energy, rel=1e-12)
    assert ss.ergotropy == pytest.approx(ergotropy, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_birth_death_equals_mesolve_in_full_battery_space(n):
    """Eq. 8 solved on the 2^N space by QuTiP against the (N+1)-state rate equation.

    Both integrate to rtol 1e-8 (ours BDF, QuTiP Adams with rtol 1e-10); energies agree to 1e-7 N.
    """
    p = paper_point(n)
    t = np.linspace(0.0, 40.0, 41)
    _, number = battery_operators(n, "full")
    rho0 = qutip.fock_dm([2] * n, [0] * n)
    res = qutip.mesolve(0 * number, rho0, t, effective_collapse_operators(p, "full"),
                        e_ops=[number, number * number],
                        options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 100000})
    ours = effective.evolve(p, t)
    np.testing.assert_allclose(ours.energy, res.expect[0], atol=1e-7 * n)
    sigma = np.sqrt(np.clip(res.expect[1] - res.expect[0] ** 2, 0, None))
    np.testing.assert_allclose(ours.sigma, sigma, atol=1e-6 * n)
    # ergotropy from the full 2^N spectrum of QuTiP's final state
    final = qutip.mesolve(0 * number, rho0, [0, t[-1]], effective_collapse_operators(p, "full"),
                          options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 100000}).states[-1]
    erg = res.expect[0][-1] - passive_energy(final.eigenenergies(), n, 1.0)
    assert ours.ergotropy[-1] == pytest.approx(erg, abs=1e-6 * n)


def test_trajectory_conserves_probability_and_approaches_steady_state():
    p = paper_point(30)
    t = np.linspace(0.0, 15.0, 301)
    traj = effective.evolve(p, t)
    np.testing.assert_allclose(traj.battery_populations.sum(axis=1), 1.0, atol=1e-12)
    assert traj.battery_populations.min() >= 0.0
    assert traj.energy[-1] == pytest.approx(effective.steady_state(p).energy, rel=1e-6)


def test_single_battery_charging_time_is_exact():
    """tau_1 = ln(1/eps)/(Gamma_e (1 + e^{-x})); log-linear interpolation makes it grid-exact.

    On a coarse grid (41 points) only the integration error remains: with rtol 1e-11 the deficit
    1e-3 is known to 1e-8 relative, so tau to about 1e-8 relative; we allow 1e-7.
    """
    p = paper_point(1)
    tau_exact = cf.charging_time_single(PAPER_GAMMA_E, PAPER_X)
    t = np.linspace(0.0, 3 * tau_exact, 41)
    traj = effective.evolve(p, t, SolverOptions(rtol=1e-11, atol=1e-14))
    tau = charging_time(t, traj.energy, effective.steady_state(p).energy)
    assert tau == pytest.approx(tau_exact, rel=1e-7)


def test_charging_time_ratio_grows_like_n_over_log_n():
    """Eq. 18-20: tau_1/tau_N follows the mean-field estimate within 25 % at N = 200 and 800."""
    from microsim.analysis.comparison import effective_charging_time

    tau_1 = cf.charging_time_single(PAPER_GAMMA_E, PAPER_X)
    ratios = {}
    for n in (200, 800):
        ratios[n] = tau_1 / effective_charging_time(paper_point(n, kappa=0.5))
        assert ratios[n] / cf.charging_time_ratio_estimate(n, PAPER_X) == pytest.approx(1, abs=0.25)
    assert ratios[800] / ratios[200] > 3.0  # 4x more batteries, less than 4x faster (log N)
    assert ratios[800] / ratios[200] < 4.0
