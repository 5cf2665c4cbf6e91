"""The permutation-symmetric solver against the full tensor space, closed forms and itself.

Reference system: the sweep point of Fig. 4-5 (beta_e w0 = -0.8, Gamma_e = 0.1 w0) at kappa = 0.2,
on t = 0..30 (61 points), optionally with a battery environment Gamma = 0.05, beta = 0.5.

Tolerances. The symmetric solver truncates each Chebyshev sub-step at 1e-11 (SolverOptions.atol),
and agrees with a BDF integration at rtol 1e-11 to 3e-11 (measured for N <= 8). The full-tensor
reference at its default rtol 1e-8 errs by up to 3.3e-8 in a population (measured against itself
at rtol 1e-11), and the ergotropy w0 (sum m p_m - 1 + max p_m) adds two such errors; so
trajectories are compared at TOL = 1e-7 absolute (energies and ergotropies per battery, in units
of w0). Steady states are direct solves on both sides: 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from microsim.params import ModelParams
from microsim.solvers import effective, full, symmetric
from microsim.solvers.linear import SolverOptions, integrate

TOL = 1e-7
TOL_SS = 1e-10
T = np.linspace(0.0, 30.0, 61)
TIGHT = SolverOptions(rtol=1e-10, atol=1e-13)


def point(n: int, m: int | None = None, init: str = "steady", norm: str = "sqrt_n",
          env: float = 0.0) -> ModelParams:
    """The reference point; 'none' keeps g, so that g_engine = g instead of g / sqrt(N)."""
    p = ModelParams.from_effective(-0.8, 0.1, kappa=0.2, n_batteries=n, n_engines=m,
                                   engine_init=init)
    if norm == "none":
        p = p.replace(normalization="none")
    return p.replace(gamma_env=env, beta_env=0.5) if env else p


def assert_trajectories_close(a, b, n: int, tol: float) -> None:
    np.testing.assert_allclose(a.energy / n, b.energy / n, rtol=0, atol=tol)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=0, atol=tol * math.sqrt(n))
    np.testing.assert_allclose(a.ergotropy / n, b.ergotropy / n, rtol=0, atol=tol)
    np.testing.assert_allclose(a.battery_populations, b.battery_populations, rtol=0, atol=tol)
    np.testing.assert_allclose(a.engine_populations, b.engine_populations, rtol=0, atol=tol)


def assert_steady_close(a, b, n: int, tol: float) -> None:
    for name in ("energy", "sigma", "ergotropy"):
        assert abs(getattr(a, name) - getattr(b, name)) / n < tol, name
    np.testing.assert_allclose(a.battery_populations, b.battery_populations, rtol=0, atol=tol)
    np.testing.assert_allclose(a.engine_populations, b.engine_populations, rtol=0, atol=tol)


CASES = [
    # (N, M, engine_init, normalization, gamma_env)
    (1, 1, "steady", "sqrt_n", 0.0),
    (1, 1, "ground", "none", 0.05),
    (2, 1, "steady", "sqrt_n", 0.05),
    (2, 1, "ground", "none", 0.0),
    (2, 2, "steady", "none", 0.05),
    (2, 2, "ground", "sqrt_n", 0.0),
]


@pytest.mark.parametrize(("n", "m", "init", "norm", "env"), CASES)
def test_matches_full_tensor_space(n, m, init, norm, env):
    p = point(n, m, init, norm, env)
    # the full solver is cheap with one engine: run it tighter there
    options = TIGHT if m == 1 else SolverOptions()
    assert_trajectories_close(symmetric.evolve(p, T), full.evolve(p, T, options), n, TOL)
    assert_steady_close(symmetric.steady_state(p), full.steady_state(p), n, TOL_SS)


@pytest.mark.slow
@pytest.mark.parametrize(("init", "env"), [("steady", 0.0), ("ground", 0.05)])
def test_matches_full_tensor_space_n3(init, env):
    p = point(3, 3, init, "sqrt_n", env)
    assert_trajectories_close(symmetric.evolve(p, T), full.evolve(p, T), 3, TOL)
    assert_steady_close(symmetric.steady_state(p), full.steady_state(p), 3, TOL_SS)


@pytest.mark.parametrize(("n", "m", "env"), [(4, 4, 0.05), (5, 2, 0.0), (3, 1, 0.05)])
def test_trace_and_positivity_along_trajectory(n, m, env):
    p = point(n, m, "ground", "sqrt_n", env)
    space = symmetric.symmetric_space(m, n)
    gen = symmetric.generator(p, space)
    states = np.array(list(symmetric.chebyshev_propagate(
        gen, symmetric.initial_state(p, space), T, symmetric.spectral_bounds(p), 1e-11)))
    diag = states[:, space.populations]
    # trace is conserved by every polynomial in L up to the truncation (1e-11 per step, 60 steps)
    np.testing.assert_allclose(diag.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert diag.min() > -1e-10
    traj = symmetric.evolve(p, T)
    assert traj.battery_populations.min() > -1e-10
    np.testing.assert_allclose(traj.engine_populations.sum(axis=1), 1.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("n", "m", "env"), [(5, 5, 0.05), (4, 2, 0.0)])
def test_chebyshev_matches_bdf(n, m, env):
    """The propagator against SciPy's BDF on the same generator (both far below 1e-9)."""
    p = point(n, m, "steady", "sqrt_n", env)
    space = symmetric.symmetric_space(m, n)
    gen = symmetric.generator(p, space)
    x0 = symmetric.initial_state(p, space)
    cheb = np.array(list(symmetric.chebyshev_propagate(
        gen, x0, T, symmetric.spectral_bounds(p), 1e-11)))
    bdf = integrate(gen, x0, T, SolverOptions(rtol=1e-11, atol=1e-14))
    np.testing.assert_allclose(cheb, bdf, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("n", "m"), [(6, 6), (5, 2), (4, 1), (12, 12)])
def test_steady_state_is_eq13_without_environment(n, m):
    """Eq. 3 engines (x) Eq. 13 battery is the exact steady state for every g (physics.md §3).

    N = 12 uses the GMRES path, the others the sparse LU."""
    p = point(n, m)
    ss = symmetric.steady_state(p)
    eff = effective.steady_state(p)
    assert abs(ss.energy - eff.energy) / n < 1e-12
    np.testing.assert_allclose(ss.battery_populations, eff.battery_populations, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ss.engine_populations, p.engine_steady_populations, rtol=0,
                               atol=1e-12)


@pytest.mark.parametrize(("n", "m"), [(6, 6), (7, 3), (5, 1)])
def test_gmres_steady_state_matches_direct(n, m):
    """With a battery environment the steady state is not a product: GMRES against sparse LU."""
    p = point(n, m, env=0.05)
    space = symmetric.symmetric_space(m, n)
    gen = symmetric.generator(p, space)
    direct = symmetric._steady_vector(p, space, gen, "direct")
    krylov = symmetric._steady_vector(p, space, gen, "gmres")
    np.testing.assert_allclose(krylov, direct, rtol=0, atol=1e-12)


def test_long_time_reaches_steady_state():
    p = point(4, 4, "ground", env=0.05)
    traj = symmetric.evolve(p, np.array([0.0, 200.0, 400.0]))
    ss = symmetric.steady_state(p)
    np.testing.assert_allclose(traj.battery_populations[-1], ss.battery_populations, atol=1e-9)


@pytest.mark.parametrize(("n", "m", "env"), [(4, 4, 0.05), (5, 3, 0.0), (6, 1, 0.05)])
def test_spectral_bounds_enclose_spectrum(n, m, env):
    """The Chebyshev ellipse relies on these bounds and on the polygon of _enclosing_ellipse."""
    p = point(n, m, env=env)
    ev = np.linalg.eigvals(symmetric.generator(p).toarray())
    a, b = symmetric.spectral_bounds(p)
    x, y = -ev.real, np.abs(ev.imag)
    assert x.max() <= a * (1 + 1e-9) and x.min() > -1e-9
    assert y.max() <= b * (1 + 1e-9)
    assert np.all(y <= b * np.minimum(1.0, (a - x) / (0.6 * a)) + 1e-9)


def test_unknown_count():
    for m, n in [(1, 1), (2, 5), (4, 3), (6, 6)]:
        assert symmetric.unknowns(m, n) == symmetric.symmetric_space(m, n).size
    assert symmetric.unknowns(20, 20) == 97834
    assert symmetric.symmetric_solver_bytes(point(20)) < symmetric.symmetric_solver_bytes(point(30))


def test_uncoupled_battery_stays_empty():
    p = point(3, 2).replace(g=0.0)
    ss = symmetric.steady_state(p)
    np.testing.assert_allclose(ss.battery_populations, [1.0, 0.0, 0.0, 0.0], atol=1e-14)
    traj = symmetric.evolve(p, T[:5])
    np.testing.assert_allclose(traj.energy, 0.0, atol=1e-14)


def test_individual_protocol_is_rejected():
    with pytest.raises(ValueError, match="collective"):
        symmetric.generator(point(2).replace(protocol="individual"))
