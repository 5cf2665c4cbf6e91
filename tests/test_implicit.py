"""The implicit propagation of the symmetric solver: Radau IIA with two-level preconditioned GMRES.

Its coarse level is the slow manifold of adiabatic elimination (solvers/implicit.py): the exact
structures it relies on are checked on the generator, its second-order operator against Eq. 8
itself, and the propagation against the Chebyshev expansion at a tight tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import paper_point
from microsim.analysis.comparison import compare, default_time_grid, effective_charging_time
from microsim.descriptions import effective, symmetric
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.descriptions.symmetric.implicit import ShiftedSolve, gmres
from microsim.model.params import ModelParams

UNEQUAL = {"gamma_ratio": 5.0, "wh": 4.0, "beta_c": 0.6}


def system_of(p: ModelParams):
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    gen = symmetric.generator(p, space)
    return space, gen, symmetric.implicit_system(p, space, gen)


def test_gmres_solves_a_nonnormal_system():
    """Our GMRES against a dense solve of a random non-normal complex system: residual below tol
    without restarts, with a Jacobi preconditioner, and restarted (restart 5 < 40 unknowns) on a
    diagonally dominant one (restarted GMRES can stall on the first, as it is known to)."""
    rng = np.random.default_rng(1)
    a = np.eye(40) * 3 + rng.normal(size=(40, 40)) + 2j * np.triu(rng.normal(size=(40, 40)))
    b = rng.normal(size=40) + 1j * rng.normal(size=40)
    cases = [(a, lambda v: v, 40), (a, lambda v: v / np.diag(a), 40),
             (a + 20 * np.eye(40), lambda v: v, 5)]
    for matrix, precondition, restart in cases:
        x, iterations = gmres(lambda v, m=matrix, pc=precondition: m @ pc(v), precondition, b,
                              1e-12, restart=restart, max_restarts=50)
        assert np.linalg.norm(matrix @ x - b) <= 1e-12 * np.linalg.norm(b) * 1.0001
        np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=0, atol=1e-10)
        assert 0 < iterations <= 40 or restart < 40


@pytest.mark.parametrize(("n", "m", "extra"), [(3, 3, {}), (4, 2, UNEQUAL), (5, 5, UNEQUAL)])
def test_slow_space_is_the_bath_kernel(n, m, extra):
    """L_bath Z = 0, Y L_bath = 0 and Y Z = 1 on the generator itself (g = 0, no environment, so
    that L is the bath part alone): to round-off of the largest rate."""
    p = paper_point(n, 0.05, n_engines=m, **extra).replace(g=0.0)
    _, gen, system = system_of(p)
    scale = abs(gen).max()
    assert abs(gen @ system.slow).max() <= 1e-13 * scale
    assert abs(system.slow_dual @ gen).max() <= 1e-13 * scale
    np.testing.assert_allclose((system.slow_dual @ system.slow).toarray(), np.eye(n + 1), atol=1e-14)


@pytest.mark.parametrize(("n", "kappa", "extra"), [(4, 0.05, {}), (6, 0.02, UNEQUAL), (3, 0.2, UNEQUAL)])
def test_coarse_operator_is_eq8_at_second_order(n, kappa, extra):
    """At sigma -> 0 the coarse operator S = sigma - Y L B^{-1} L Z is minus the generator of the
    battery populations at second order in the coupling: it must be Eq. 8's birth-death generator
    (rates Gamma_e e^{-beta_e w0} (N - m)(m + 1) up, Gamma_e m (N - m + 1) down) with Gamma_e of
    params.effective_rate. An independent check of Eq. 8's rate and of the coarse level; the
    residual sigma I is removed (its O(sigma / gamma_01) = 1e-13 effect is below the tolerance),
    tolerance 1e-9 of Gamma_e N^2 (round-off of the bath solves: measured about 1e-12)."""
    p = paper_point(n, kappa, **extra)
    _, _, system = system_of(p)
    sigma = 1e-13 * p.gamma_01
    shifted = ShiftedSolve(system, sigma, 1e-12)
    coarse = sigma * (system.slow_dual @ shifted.dressed) - system.dual_generator @ shifted.dressed
    generator = -(np.asarray(coarse.todense()) - sigma * np.eye(n + 1))
    eq8 = effective.generator(n, p.gamma_e, p.beta_e_w0).toarray()
    np.testing.assert_allclose(generator, eq8, rtol=0, atol=1e-9 * p.gamma_e * n * n)


@pytest.mark.parametrize(("n", "kappa", "extra", "env"), [
    (4, 0.01, {}, 0.0), (5, 0.1, UNEQUAL, 0.0), (4, 0.03, UNEQUAL, 0.05), (3, 1.0, {}, 0.0)])
def test_implicit_matches_chebyshev(n, kappa, extra, env):
    """The whole charging curve (121 points over 3 tau_eff) by the implicit propagation at the
    default tolerances against the Chebyshev expansion at atol 1e-13: E/(N w0) within 1e-8, the
    accuracy the solver promises (measured 4e-10 to 1e-9). Unequal baths, a battery environment,
    kappa from 0.01 (stiff) to 1 (no separation)."""
    p = paper_point(n, kappa, **extra).replace(gamma_env=env, beta_env=0.5)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 121)
    implicit = symmetric.evolve(p, t, SolverOptions(propagation="implicit"))
    reference = symmetric.evolve(p, t, SolverOptions(atol=1e-13, propagation="chebyshev"))
    np.testing.assert_allclose(implicit.energy / n, reference.energy / n, rtol=0, atol=1e-8)
    np.testing.assert_allclose(implicit.engine_populations, reference.engine_populations,
                               rtol=0, atol=1e-8)


def test_auto_takes_the_cheaper_propagation_and_records_it():
    """Small kappa makes Chebyshev expensive (cost ~ ||L|| t ~ 1/kappa) and kappa ~ 1 makes it
    cheap: 'auto' records its choice (Krylov at small kappa), and compare's figures do not depend
    on it, nor on which of the two propagations with linear solves is forced: eps_traj and D_max
    within 1e-7, tau_mic within 1e-6. tau is where E crosses (1 - epsilon) E_ss on its plateau,
    so an energy error delta moves it by delta / (dE/dt); the propagations promise 1e-9 in E/N,
    which measured 1.5e-7 relative in tau at kappa = 0.003."""
    stiff, loose = paper_point(6, 0.003), paper_point(6, 0.5)
    for p, expected, others in ((stiff, "krylov", ("chebyshev", "implicit")),
                                (loose, "chebyshev", ("krylov",))):
        t = default_time_grid(p, points=101)
        auto = compare(p, t)
        assert auto.mic.solver["propagation"] == expected
        for other in others:
            forced = compare(p, t, options=SolverOptions(propagation=other))
            assert forced.mic.solver["propagation"] == other
            for name, rel in (("eps_traj", 1e-7), ("D_max", 1e-7), ("tau_mic", 1e-6)):
                assert auto.figures[name] == pytest.approx(forced.figures[name], rel=rel), name
    assert sp.issparse(system_of(stiff)[2].slow)
    pair = paper_point(2, 0.5, protocol="individual")  # N copies of the pair: its record is kept
    grid = default_time_grid(pair, points=51)
    kept = compare(pair, grid).mic.solver
    assert kept["propagation"] == symmetric.evolve(pair.pair(), grid).solver["propagation"]
    assert kept["implicit_iterations" if kept["propagation"] == "krylov" else "chebyshev_products"] > 0
