"""Heat, efficiency and entropy production of charging (local master equation convention)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import cumulative_simpson

from conftest import paper_point
from microsim.comparison import compare, default_time_grid
from microsim.params import ModelParams
from microsim.solvers import effective, full
from microsim.thermodynamics import (
    carnot_efficiency,
    engine_energy,
    environment_current,
    heat_currents,
    ssd_efficiency,
)

ENV = {"gamma_env": 0.02, "beta_env": 0.5}


def _run(p: ModelParams, points: int = 401):
    c = compare(p, default_time_grid(p, points=points), "full")
    return c, c.thermo_mic


@pytest.mark.parametrize("env", [{}, ENV])
def test_first_law_along_the_trajectory(env):
    """d<H_E + H_B>/dt = J_h + J_c (+ J_env), [H_0, V] = 0: the currents of the definition
    Tr[H_0 D_b rho], integrated over a fine grid (Simpson, 4001 points, error ~1e-7), equal the
    exact heats; and the heats close the energy balance to round-off."""
    p = paper_point(2, 0.1).replace(**env)
    c, th = _run(p, points=4001)
    t = c.mic.t
    q_h = cumulative_simpson(th.heat_current_h, x=t, initial=0.0)
    q_c = cumulative_simpson(th.heat_current_c, x=t, initial=0.0)
    np.testing.assert_allclose(q_h, th.heat_h, atol=2e-6)
    np.testing.assert_allclose(q_c, th.heat_c, atol=2e-6)
    total = engine_energy(p, c.mic.engine_populations) + c.mic.energy
    np.testing.assert_allclose(total - total[0], th.heat_h + th.heat_c + th.heat_env, atol=1e-10)
    # and the power into the batteries is the slope of their energy
    inner = slice(10, -10)
    np.testing.assert_allclose(th.power[inner], np.gradient(c.mic.energy, t)[inner], atol=1e-4)


@pytest.mark.parametrize("env", [{}, ENV])
def test_entropy_production_is_non_negative(env):
    """Spohn: Sigma(t) = Delta S - beta_h Q_h - beta_c Q_c (- beta Q_env) >= 0; the whole-state
    entropy comes from the full spectrum, whose eigenvalues carry ~1e-9 solver error."""
    _, th = _run(paper_point(2, 0.1).replace(**env))
    assert th.entropy_production.min() >= -1e-8
    assert th.entropy_production[-1] > 0.1  # charging is irreversible
    # correlations only lower the entropy: the marginal version bounds Sigma from above
    assert np.all(th.entropy_production_marginal >= th.entropy_production - 1e-8)


@pytest.mark.parametrize(("kappa", "x"), [(0.05, -0.8), (0.3, -0.8), (0.1, -0.2), (0.1, -1.9)])
def test_efficiency_below_carnot(kappa, x):
    p = ModelParams.from_effective(x, 0.1, kappa, 2)
    _, th = _run(p, points=201)
    for when in ("tau", "end"):
        eff = th.figures[f"efficiency_{when}"]
        assert 0 < eff < carnot_efficiency(p)
        assert th.figures[f"efficiency_ergotropy_{when}"] <= eff + 1e-12
    assert th.figures["efficiency_end"] == pytest.approx(ssd_efficiency(p), rel=1e-3)


def test_currents_vanish_at_the_product_steady_state():
    """Eq. 3 (x) Eq. 13 is an exact steady state: every bath transition is in detailed balance."""
    p = paper_point(3, 0.3)
    ss = full.steady_state(p)
    j_h, j_c = heat_currents(p, ss.engine_populations)
    scale = p.wh * p.gamma_h * p.n_engines
    assert abs(j_h) < 1e-10 * scale and abs(j_c) < 1e-10 * scale


@pytest.mark.parametrize("kappa", [0.01, 0.02])
def test_battery_environment_carries_a_constant_current(kappa):
    """With a battery environment at another temperature a steady current flows from the hot bath
    through the batteries: J_h + J_c + J_env = 0 (engine and battery populations of the same
    solved steady state), and J_h equals w_h/w0 times the engine channel's energy flux in the
    rate equations of Eq. 8, up to the O(kappa^2) of adiabatic elimination (measured 3.8e-4 and
    1.5e-3 relative at kappa = 0.01, 0.02; bound 5 kappa^2)."""
    p = paper_point(2, kappa).replace(**ENV)
    ss = full.steady_state(p)
    j_h, j_c = heat_currents(p, ss.engine_populations)
    j_env = environment_current(p, ss.battery_populations)
    assert j_h > 0.01 and j_env < 0
    assert j_h + j_c + float(j_env) == pytest.approx(0.0, abs=1e-10)
    assert j_c / j_h == pytest.approx(-p.wc / p.wh, rel=1e-9)
    n, m = p.n_batteries, np.arange(p.n_batteries + 1)
    rates = math.exp(-p.beta_e_w0_engines) * (n - m) * (m + 1) - m * (n - m + 1)
    flux = p.w0 * p.gamma_e_engines * effective.steady_state(p).battery_populations @ rates
    assert j_h / (p.wh / p.w0 * flux) - 1 == pytest.approx(0.0, abs=5 * kappa**2)


def test_individual_heats_are_n_copies():
    p = paper_point(2, 0.1, protocol="individual")
    grid = default_time_grid(p, points=201)
    whole = compare(p, grid, "full").thermo_mic
    pair = compare(p.pair(), grid, "full").thermo_mic
    np.testing.assert_allclose(whole.heat_h, 2 * pair.heat_h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(whole.entropy_production, 2 * pair.entropy_production, atol=1e-12)


def test_effective_description_runs_at_ssd_efficiency():
    p = paper_point(2, 0.1)
    c, _ = _run(p, points=201)
    assert c.thermo_eff.figures["efficiency_tau"] == pytest.approx(p.w0 / p.wh, rel=1e-12)
