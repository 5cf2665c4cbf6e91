"""The predicted error of Eq. 8 (analysis/prediction.py, docs/physics.md §3): its closed forms,
its first-order theory against the description that is exact for one engine, and the fitted law
against exact solutions outside the grid it was fitted on."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from conftest import paper_point
from microsim.analysis import prediction as pr
from microsim.analysis.comparison import compare, compare_until_charged, default_time_grid
from microsim.descriptions import corrected, effective
from microsim.model.engine import depletion_response, population_generator
from microsim.model.params import ModelParams

BATHS = [  # (beta_e w0, Gamma_c/Gamma_h, w_h, beta_c): the paper's and far from it
    (-0.8, 1.0, 3.0, 1.0), (-0.15, 0.02, 4.5, 0.8), (-2.5, 50.0, 2.5, 3.0), (-1.0, 5.0, 5.0, 0.4),
]


@pytest.mark.parametrize(("x", "ratio", "wh", "beta_c"), BATHS)
def test_depletion_response_is_minus_the_group_inverse(x, ratio, wh, beta_c):
    """Z of model.engine against the group inverse computed numerically: A Z = p 1^T - 1 with
    1^T Z = 0 (solved by least squares on the 3 x 3 generator; round-off, 1e-10 relative)."""
    p = ModelParams.from_effective(x, 0.1, 0.1, 1, wh=wh, beta_c=beta_c, gamma_ratio=ratio)
    a = population_generator(p)
    eq3 = p.engine_steady_populations
    system = np.vstack([a, np.ones(3)])
    rhs = np.vstack([np.outer(eq3, np.ones(3)) - np.eye(3), np.zeros(3)])
    z_numeric = np.linalg.lstsq(system, rhs, rcond=None)[0]  # columns: A z_b = p - e_b
    np.testing.assert_allclose(depletion_response(p), z_numeric[:2, :2], rtol=1e-10)


@pytest.mark.parametrize(("x", "ratio", "wh", "beta_c"), BATHS)
def test_first_order_of_the_pair_is_its_closed_form(x, ratio, wh, beta_c):
    """For one engine and one battery the first-order eps_traj has a closed form
    (docs/physics.md §3): with q = p1/(p0 + p1), k = 2 g^2/gamma_01, a = k (p0 + p1)/gamma_01
    (lag), b = k (Z_00 + Z_11) (depletion), X^2 = q a if b <= 2a, else q (b - a) e^{-(b-2a)/(b-a)}.
    The sampled curve's peak (parabolic vertex) agrees to 1e-5 at 400 samples per tau_eff
    (its sampling error falls like h^3: about 4e-5 at the default 100, 6e-7 at 400)."""
    p = ModelParams.from_effective(x, 0.1, 0.05, 1, wh=wh, beta_c=beta_c, gamma_ratio=ratio)
    p0, p1, _ = p.engine_steady_populations
    z = depletion_response(p)
    q, k = p1 / (p0 + p1), 2 * p.g**2 / p.gamma_01
    a, b = k * (p0 + p1) / p.gamma_01, k * (z[0, 0] + z[1, 1])
    closed = q * a if b <= 2 * a else q * (b - a) * math.exp(-(b - 2 * a) / (b - a))
    assert pr.first_order(p, samples=400).x2 == pytest.approx(closed, rel=1e-5)


def test_first_order_does_not_move_with_the_sampling():
    """X^2 and the tau shifts are properties of the curves: 100 and 400 samples per tau_eff agree
    to 1e-4 (the vertex's error falls like h^3)."""
    p = paper_point(12, 0.05)
    coarse, fine = pr.first_order(p), pr.first_order(p, samples=400)
    for name in ("x2", "tau_lag", "tau_dep"):
        assert getattr(coarse, name) == pytest.approx(getattr(fine, name), rel=1e-4)


@pytest.mark.parametrize(("n", "x", "ratio"), [(6, -0.8, 1.0), (8, -0.3, 0.2), (5, -1.5, 5.0)])
def test_first_order_is_exact_for_one_engine(n, x, ratio):
    """With one engine (M = 1) the corrected description is the exact model (docs/physics.md
    §7), so its deviation from Eq. 8 is the first-order error up to O(kappa^2): max_t
    |E_corr - E_eff|/N over X^2 is 1 within 2e-3 at kappa = 0.005, and the remainder grows about
    4-fold when kappa doubles (second order; 1601-point grids, their sampling error below 1e-4)."""
    gaps = []
    for kappa in (0.005, 0.01):
        p = ModelParams.from_effective(x, 0.1, kappa, n, n_engines=1, gamma_ratio=ratio)
        first = pr.first_order(p, samples=400)
        t = np.linspace(0.0, 4 * first.tau_eff, 1601)
        measured = float(np.abs(corrected.evolve(p, t).energy - effective.evolve(p, t).energy).max())
        gaps.append(abs(measured / n / first.x2 - 1.0))
    assert gaps[0] < 2e-3
    assert 2.5 < gaps[1] / gaps[0] < 6.0


#: Held-back points of the law's test sweep (outside its fit box: Gamma_c/Gamma_h 0.01-100,
#: beta_e w0 -0.1..-3), small enough to solve exactly here: (protocol, N, Gamma_c/Gamma_h,
#: beta_e w0, w_h, beta_c, kappa).
HELD = [
    ("collective", 3, 0.012494, -0.82546, 2.8666, 0.896529, 1.0),
    ("collective", 1, 0.021646, -0.16552, 1.6039, 1.10609, 1.0),
    ("individual", 2, 0.033189, -0.17208, 2.1948, 0.950997, 0.15069),
    ("collective", 4, 0.082821, -0.34401, 2.7929, 1.61847, 0.1241),
    ("collective", 4, 4.659, -0.25945, 5.0474, 1.15638, 0.0056234),
    ("individual", 4, 73.228, -0.11652, 1.8618, 1.11784, 1.0),
]


@pytest.mark.parametrize(("protocol", "n", "ratio", "x", "wh", "beta_c", "kappa"), HELD)
def test_law_predicts_the_exact_error_out_of_sample(protocol, n, ratio, x, wh, beta_c, kappa):
    """The targets of the law (docs/results.md), computed here against the exact model: eps_traj
    within a factor 2 (asserted: 1.5, above the worst 1.34 of the 142 held-back points), and no
    prediction below 1 % where more than 2 % is measured."""
    p = ModelParams.from_effective(x, 0.1, kappa, n, protocol=protocol, wh=wh, beta_c=beta_c,
                                   gamma_ratio=ratio)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        c = compare_until_charged(p, 201, descriptions=("effective",))
    measured, predicted = c.figures["eps_traj"], c.prediction.eps_traj_predicted
    assert 1 / 1.5 < measured / predicted < 1.5
    assert not (predicted < 0.01 and measured > 0.02)
    assert c.derived()["eps_traj_predicted"] == predicted


def test_the_warning_comes_from_the_law():
    """compare() warns where the predicted eps_traj exceeds 1 %: also at kappa_01 = 0.03, where
    the recommendation of kappa_01 < 0.07 would have passed it (strongly unequal uphill rates:
    the slow pumping, not the coherence, limits Eq. 8; measured eps_traj = 2.5 %), and not at the
    paper's baths where the law predicts less."""
    asymmetric = ModelParams.from_effective(-2.0, 0.1, 1.0, 4, gamma_ratio=0.01, wh=1.6,
                                            beta_c=4.0)
    assert asymmetric.kappa_01 < 0.07
    with pytest.warns(UserWarning, match="not expected to hold"):
        c = compare(asymmetric, default_time_grid(asymmetric, points=41),
                    descriptions=["effective"])
    assert c.prediction.eps_traj_predicted > 0.02 and c.figures["eps_traj"] > 0.02
    quiet = paper_point(4, 0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(quiet, default_time_grid(quiet, points=41), descriptions=["effective"])
    assert c.prediction.eps_traj_predicted < 0.01


def test_outside_its_derivation_the_law_says_so():
    p = paper_point(2, 0.1).replace(gamma_env=0.01)
    out = pr.predict(p)
    assert math.isnan(out.eps_traj_predicted) and "battery environment" in out.note
