"""The corrected effective description (solvers/corrected, docs/physics.md §7).

Independent references: the permutation-symmetric solver (itself checked against the full tensor
space, tests/test_symmetric.py) and the full tensor space directly at N = M = 2. Integrations at
rtol 1e-10, atol 1e-13 on both sides, so 1e-7 in E/(N w0) is the tolerance of an exact
agreement; the error targets of the description are ratios against Eq. 8's error on the same grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from microsim.analysis.comparison import compare_until_charged
from microsim.descriptions import corrected, effective, full, symmetric
from microsim.descriptions.numerics.linear import IntegrationError, SolverOptions
from microsim.model.params import ModelParams

TIGHT = SolverOptions(rtol=1e-10, atol=1e-13)
EXACT_TOL = 1e-7


def point(n: int, m: int | None = None, kappa: float = 0.1, r: float = 1.0, wh: float = 3.0,
          beta_c: float = 1.0, env: float = 0.0, init: str = "steady") -> ModelParams:
    p = ModelParams.from_effective(-0.8, 0.1, kappa=kappa, n_batteries=n, n_engines=m,
                                   gamma_ratio=r, wh=wh, beta_c=beta_c, engine_init=init)
    return p.replace(gamma_env=env, beta_env=0.5) if env else p


def grid(p: ModelParams, points: int = 161) -> np.ndarray:
    """Early geometric times (the coherence build-up, 1/gamma_01) and a few charging times."""
    end = 120.0
    early = np.geomspace(1e-3 / p.gamma_01, 1.0, 30)
    return np.unique(np.concatenate([[0.0], early, np.linspace(0.0, end, points)]))


def energy_error(a, b, n: int) -> float:
    return float(np.abs(a.energy - b.energy).max()) / n


@pytest.mark.parametrize(("n", "r", "wh", "beta_c", "env", "init"), [
    (1, 1.0, 3.0, 1.0, 0.0, "steady"),
    (1, 0.2, 2.5, 2.0, 0.05, "steady"),
    (3, 5.0, 3.0, 1.0, 0.0, "ground"),
    (4, 0.2, 4.0, 0.5, 0.05, "steady"),
])
def test_exact_for_one_engine(n, r, wh, beta_c, env, init):
    """With one engine (M = 1, the individual protocol's pair) nothing is closed: the
    description is the exact dynamics, for unequal baths, other gaps and temperatures, a
    battery environment and both engine starts."""
    p = point(n, 1, 0.3, r, wh, beta_c, env, init)
    t = grid(p)
    exact = symmetric.evolve(p, t, TIGHT)
    corr = corrected.evolve(p, t, TIGHT)
    assert energy_error(exact, corr, n) < EXACT_TOL
    np.testing.assert_allclose(corr.battery_populations, exact.battery_populations, atol=EXACT_TOL)
    assert energy_error(exact, effective.evolve(p, t), n) > 1e-3  # Eq. 8 is visibly off here
    ss_exact, ss_corr = symmetric.steady_state(p), corrected.steady_state(p)
    assert abs(ss_corr.energy - ss_exact.energy) / n < 1e-9


def test_against_the_full_tensor_space():
    """N = M = 2 collective, unequal baths: the closure at two engines against the full
    3^2 2^2 space (an independent solver): at kappa = 0.1 at least 10x closer than Eq. 8."""
    p = point(2, 2, 0.1, r=5.0)
    t = grid(p, 81)
    ref = full.evolve(p, t, TIGHT)
    err_corr = energy_error(ref, corrected.evolve(p, t, TIGHT), 2)
    err_eq8 = energy_error(ref, effective.evolve(p, t), 2)
    assert err_corr < err_eq8 / 10


@pytest.mark.parametrize(("n", "r"), [(2, 1.0), (4, 0.2), (6, 5.0)])
def test_error_falls_faster_than_eq8(n, r):
    """Eq. 8's error falls like kappa^2; the corrected one at least like kappa^3.5 (measured
    slopes 4.1-4.3 at N = 2-8), and at kappa = 0.03 it is 10x smaller than Eq. 8's."""
    errors = {}
    for kappa in (0.01, 0.03):
        p = point(n, n, kappa, r)
        t = grid(p)
        exact = symmetric.evolve(p, t, TIGHT)
        errors[kappa] = (energy_error(exact, corrected.evolve(p, t, TIGHT), n),
                         energy_error(exact, effective.evolve(p, t, TIGHT), n))
    slope_corr = math.log(errors[0.03][0] / errors[0.01][0]) / math.log(3.0)
    slope_eq8 = math.log(errors[0.03][1] / errors[0.01][1]) / math.log(3.0)
    assert slope_eq8 == pytest.approx(2.0, abs=0.3)
    assert slope_corr >= 3.5
    assert errors[0.03][0] < errors[0.03][1] / 10


def test_reduces_to_eq8_as_kappa_vanishes():
    """The difference from Eq. 8 falls like kappa^2 (it is Eq. 8's own error)."""
    diffs = []
    for kappa in (0.03, 0.01):
        p = point(4, 4, kappa, r=0.2)
        t = grid(p)
        diffs.append(energy_error(corrected.evolve(p, t, TIGHT), effective.evolve(p, t, TIGHT), 4))
    assert diffs[1] < diffs[0] / 7  # (0.03/0.01)^2 = 9, with room for the kappa^4 term


def test_trace_is_conserved_by_the_generator():
    """sum_m sum_a dP_a(m)/dt = 0 for any state, closure and environment included."""
    rng = np.random.default_rng(1)
    p = point(5, 4, 0.2, r=0.2, env=0.05)
    y = rng.normal(size=corrected.VARIABLES * 6)
    dy = corrected.right_hand_side(p)(0.0, y).reshape(6, corrected.VARIABLES)
    assert abs(dy[:, :3].sum()) < 1e-12 * np.abs(dy).max()


def test_trajectory_checks_and_steady_state():
    p = point(8, 8, 0.1, r=5.0)
    traj = corrected.evolve(p, grid(p), TIGHT)
    assert traj.checks["trace_error"] < 1e-9
    assert traj.checks["min_eigenvalue"] > -corrected.POSITIVITY_TOL
    ss = corrected.steady_state(p)  # Eq. 3 x Eq. 13 without a battery environment
    np.testing.assert_allclose(ss.battery_populations, effective.steady_state(p).battery_populations,
                               atol=1e-13)
    np.testing.assert_allclose(traj.battery_populations[-1], ss.battery_populations, atol=1e-6)


def test_steady_state_with_environment_is_the_long_time_limit():
    """With a battery environment the stationary state is found by Newton's method; it must be
    where the integration ends up."""
    p = point(6, 6, 0.2, r=0.2, env=0.05)
    ss = corrected.steady_state(p)
    late = corrected.evolve(p, np.array([0.0, 400.0, 800.0]), TIGHT)
    np.testing.assert_allclose(late.battery_populations[-1], ss.battery_populations, atol=1e-7)
    assert abs(ss.energy - effective.steady_state(p).energy) > 1e-4  # not Eq. 8's state


def test_instability_is_reported_not_returned():
    """Far beyond its range (N kappa^2 = 3) the closed hierarchy is unstable: the solver says so
    and a comparison stores NaN with the reason instead of a number."""
    p = point(300, 300, 0.1)
    with pytest.raises(IntegrationError, match="unstable"):
        corrected.evolve(p, np.linspace(0.0, 5.0, 11))
    c = compare_until_charged(p, 51, "effective")
    assert c.corr_status.startswith("unstable")
    assert math.isnan(c.figures["tau_corr"]) and np.isnan(c.corr.energy).all()
    assert math.isfinite(c.figures["tau_eff"])


def test_integrator_failure_is_not_called_instability(monkeypatch):
    """When Radau gives up (here: an evaluation budget of 50 at N = M = 4, a stable point) the
    status says the integrator failed, not that the hierarchy is unstable, and the figures are
    NaN; with the budget restored the same point runs."""
    p = point(4, 4, 0.1)
    monkeypatch.setattr(corrected, "MAX_EVALUATIONS", 50)
    with pytest.raises(IntegrationError, match=r"^integrator failed: no convergence within 50"):
        corrected.evolve(p, np.linspace(0.0, 5.0, 11))
    c = compare_until_charged(p, 51, "effective")
    assert c.corr_status.startswith("integrator failed") and math.isnan(c.figures["tau_corr"])
    monkeypatch.undo()
    assert compare_until_charged(p, 51, "effective").corr_status == "ok"


def test_comparison_figures_individual_protocol():
    """Individual protocol: N copies of the exact pair, so every _corr error is at tolerance."""
    p = ModelParams.from_effective(-0.8, 0.1, kappa=0.1, n_batteries=3, protocol="individual")
    c = compare_until_charged(p, 201, "auto", TIGHT)
    assert c.corr_status == "ok"
    for name in ("eps_traj_corr", "D_max_corr", "eps_tau_corr"):
        assert c.figures[name] < 1e-6
    assert c.figures["eps_traj"] > 0.1
