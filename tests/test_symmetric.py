"""The permutation-symmetric solver against the full tensor space, closed forms and itself.

Reference system: the sweep point of Fig. 4-5 (beta_e w0 = -0.8, Gamma_e = 0.1 w0) at kappa = 0.2,
on t = 0..30 (61 points), optionally with a battery environment Gamma = 0.05, beta = 0.5.

Tolerances. The symmetric solver truncates each Chebyshev sub-step at 1e-11 (SolverOptions.atol),
and agrees with a BDF integration at rtol 1e-11 to 3e-11 (measured for N <= 8). The full-tensor
reference at its default rtol 1e-8 errs by up to 3.3e-8 in a population (measured against itself
at rtol 1e-11), and the ergotropy w0 (sum m p_m - 1 + max p_m) adds two such errors; so
trajectories are compared at TOL = 1e-7 absolute (energies and ergotropies per battery, in units
of w0). Steady states are direct solves on both sides: 1e-10. Without time stepping, the
generator itself is the full Liouvillian restricted to the solver's subspace (round-off, with
unequal baths, a battery environment, both normalizations), and the GMRES steady state agrees
with the sparse LU (1e-11, GMRES rtol 1e-12).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from microsim.descriptions import effective, full, symmetric
from microsim.descriptions.numerics.linear import SolverOptions, integrate
from microsim.model.operators import microscopic_model
from microsim.model.params import ModelParams

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
    """Eq. 3 engines (x) Eq. 13 battery is the exact steady state for every g (docs/physics.md §3).

    N = 12 takes the branch above DIRECT_STEADY_MAX, where without a battery environment the
    product state is taken and only its residual is checked (GMRES is not called, see
    test_known_kernel_is_checked_not_solved). GMRES itself is tested with a battery environment
    in test_gmres_path_* below."""
    p = point(n, m)
    ss = symmetric.steady_state(p)
    eff = effective.steady_state(p)
    assert abs(ss.energy - eff.energy) / n < 1e-12
    np.testing.assert_allclose(ss.battery_populations, eff.battery_populations, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ss.engine_populations, p.engine_steady_populations, rtol=0,
                               atol=1e-12)


def unequal(n: int, m: int, r: float, wh: float, beta_c: float, norm: str = "sqrt_n",
            env: bool = True) -> ModelParams:
    """A point with Gamma_c = r Gamma_h, other gaps and temperatures, the same Eq. 8 dynamics."""
    p = ModelParams.from_effective(-0.8, 0.1, kappa=0.3, n_batteries=n, n_engines=m,
                                   gamma_ratio=r, wh=wh, beta_c=beta_c, normalization=norm)
    return p.replace(gamma_env=0.05, beta_env=0.5) if env else p


def _count_gmres(monkeypatch) -> list[int]:
    """Record the convergence flag of every call of scipy's gmres made from here on."""
    calls: list[int] = []
    original = symmetric.steady.spla.gmres

    def counted(*args, **kwargs):
        z, info = original(*args, **kwargs)
        calls.append(info)
        return z, info

    monkeypatch.setattr(symmetric.steady.spla, "gmres", counted)
    return calls


GMRES_TOL = 1e-11


@pytest.mark.parametrize(("n", "m", "r", "wh", "beta_c"),
                         [(6, 6, 0.2, 5.0, 0.5), (3, 7, 5.0, 2.5, 2.0), (7, 3, 0.2, 2.5, 2.0),
                          (1, 5, 5.0, 3.0, 1.0)])
def test_gmres_path_matches_direct_with_environment(monkeypatch, n, m, r, wh, beta_c):
    """With a battery environment (Gamma = 0.05, beta = 0.5) and unequal baths the steady state
    is not the product state that GMRES starts from: GMRES (really called once, converged)
    against the sparse LU on the same generator.

    Tolerance: GMRES stops at relative residual 1e-12 of the preconditioned system for a
    correction of size ~0.1 (entries of x <= 0.13); the error is that times the condition of
    the preconditioned operator, measured <= 1.4e-13 here (8e-13 at kappa = 0.2):
    GMRES_TOL = 1e-11 on every entry of x.
    """
    p = unequal(n, m, r, wh, beta_c)
    space = symmetric.symmetric_space(m, n)
    gen = symmetric.generator(p, space)
    calls = _count_gmres(monkeypatch)
    direct = symmetric.steady_vector(p, space, gen, "direct")
    assert calls == []
    krylov = symmetric.steady_vector(p, space, gen, "gmres")
    assert calls == [0]
    # GMRES had work to do: the answer is far from its starting point
    assert np.abs(direct - symmetric.product_steady_state(p, space)).max() > 1e-3
    np.testing.assert_allclose(krylov, direct, rtol=0, atol=GMRES_TOL)


@pytest.mark.parametrize(("r", "wh", "beta_c"), [(0.2, 3.0, 1.0), (5.0, 2.5, 2.0)])
def test_known_kernel_is_checked_not_solved(monkeypatch, r, wh, beta_c):
    """Without a battery environment the large-N path takes Eq. 3 x Eq. 13 and runs no GMRES, so
    its memory is the generator's (what lets N = 60 pass the guard); it equals the LU kernel
    to 1e-12 (both exact: LU at round-off) for unequal baths, other gaps and temperatures."""
    p = unequal(4, 3, r, wh, beta_c, env=False)
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    gen = symmetric.generator(p, space)
    calls = _count_gmres(monkeypatch)
    known = symmetric.steady_vector(p, space, gen, "gmres")
    assert calls == []
    np.testing.assert_allclose(known, symmetric.steady_vector(p, space, gen, "direct"),
                               rtol=0, atol=1e-12)
    big = point(60)
    assert symmetric.symmetric_solver_bytes(big) < symmetric.symmetric_solver_bytes(big, False)
    with_env = big.replace(gamma_env=0.05, beta_env=0.5)
    assert symmetric.symmetric_solver_bytes(with_env) > 2 * symmetric.symmetric_solver_bytes(big)


def test_gmres_path_is_taken_above_direct_steady_max(monkeypatch):
    """steady_state() switches to GMRES above DIRECT_STEADY_MAX unknowns (lowered to 0 here):
    same observables as the LU path (GMRES_TOL) and as the full tensor space's kernel (1e-10,
    direct solves at round-off), with a battery environment and Gamma_c = 5 Gamma_h."""
    p = unequal(3, 2, 5.0, 2.5, 2.0)
    calls = _count_gmres(monkeypatch)
    direct = symmetric.steady_state(p)
    assert calls == []
    monkeypatch.setattr(symmetric.steady, "DIRECT_STEADY_MAX", 0)
    krylov = symmetric.steady_state(p)
    assert calls == [0]
    reference = full.steady_state(p)
    for name, tol in (("battery_populations", GMRES_TOL), ("engine_populations", GMRES_TOL)):
        np.testing.assert_allclose(getattr(krylov, name), getattr(direct, name), rtol=0, atol=tol)
        np.testing.assert_allclose(getattr(krylov, name), getattr(reference, name), rtol=0,
                                   atol=1e-10)
    assert abs(krylov.energy - reference.energy) < 1e-10


# ----------------------------------------------------------------------------- exactness
#: The engine units of the count arrays: |0><0|, |1><1|, |2><2|, |1><0|, |0><1| as (ket, bra).
UNITS = ((0, 0), (1, 1), (2, 2), (1, 0), (0, 1))


def _embedding(m: int, n: int):
    """E: stored unknowns x -> density matrix on engines (x) batteries (3^M 2^N, QuTiP order),
    written from the module docstring of solvers/symmetric.py, not from its code:

        rho = sum_{n, m} x(n, m) (S_n / mult(n)) (x) |m><m'|,  m' = m + n10 - n01,

    S_n the sum over the distinct assignments of units to engines with counts n, |m> the Dicke
    states in the 2^N product basis, and the half not stored (n10 < n01) the transpose of the
    stored one (x real, rho hermitian).
    """
    bits = np.array(list(itertools.product((0, 1), repeat=n))).sum(axis=1)
    dicke = np.zeros((2**n, n + 1))
    dicke[np.arange(2**n), bits] = 1.0
    dicke /= np.sqrt(dicke.sum(axis=0))
    sums: dict[tuple[int, ...], np.ndarray] = {}
    for assignment in itertools.product(range(5), repeat=m):
        op = np.ones((1, 1))
        for u in assignment:
            unit = np.zeros((3, 3))
            unit[UNITS[u]] = 1.0
            op = np.kron(op, unit)
        key = tuple(assignment.count(u) for u in range(5))
        sums[key] = sums.get(key, 0.0) + op

    def embed(space: symmetric.SymmetricSpace, x: np.ndarray) -> np.ndarray:
        rho = np.zeros((3**m * 2**n,) * 2)
        for counts, ket, value in zip(space.counts, space.m, x, strict=True):
            key = tuple(int(c) for c in counts)
            bra = int(ket) + key[3] - key[4]
            mult = math.factorial(m) / math.prod(math.factorial(c) for c in key)
            term = (value / mult) * np.kron(sums[key], np.outer(dicke[:, ket], dicke[:, bra]))
            rho += term if key[3] == key[4] else term + term.T
        return rho

    return embed


EXACT_CASES = [
    # M, N, normalization, battery environment, Gamma_c/Gamma_h, wh, beta_c
    (2, 2, "sqrt_n", True, 0.2, 3.0, 1.0),
    (2, 2, "none", False, 5.0, 2.5, 2.0),
    (3, 3, "sqrt_n", True, 5.0, 4.0, 0.4),
    (3, 3, "none", True, 0.2, 5.0, 0.5),
    (2, 4, "sqrt_n", True, 5.0, 2.5, 2.0),
    (2, 4, "none", True, 0.2, 4.0, 0.4),
    (3, 1, "sqrt_n", True, 5.0, 3.0, 1.0),
]


@pytest.mark.parametrize(("m", "n", "norm", "env", "r", "wh", "beta_c"), EXACT_CASES)
def test_generator_is_the_full_liouvillian_on_its_subspace(m, n, norm, env, r, wh, beta_c):
    """Exactness of the symmetric solver without time stepping: L_full vec(E(x)) =
    vec(E(L_sym x)) for random x, E the embedding of the module docstring (built here), L_full
    QuTiP's Liouvillian of Eq. 1 + 5 with the battery environment on the full tensor space.
    Also E(x0) is the full model's initial state and tr E(x) the sum over the populations.

    Tolerance: round-off of a sparse product, 1e-13 max_i (|L_full| |vec E(x)|)_i (measured
    <= 7e-16 of it). Any wrong rate (e.g. Gamma_h for Gamma_c in a bath jump) is O(1e-2) of it.
    """
    p = unequal(n, m, r, wh, beta_c, norm, env)
    model = microscopic_model(p, "full")
    big = full.liouvillian(model)
    space = symmetric.symmetric_space(m, n)
    small = symmetric.generator(p, space)
    embed = _embedding(m, n)
    rng = np.random.default_rng(7)
    for _ in range(2):
        x = rng.normal(size=space.size)
        v = embed(space, x).ravel(order="F")
        lhs = big @ v
        rhs = embed(space, small @ x).ravel(order="F")
        assert np.abs(lhs - rhs).max() < 1e-13 * (abs(big) @ np.abs(v)).max()
        assert np.trace(embed(space, x)) == pytest.approx(x[space.populations].sum(), rel=1e-13)
    for init in ("steady", "ground"):
        q = p.replace(engine_init=init)
        rho0 = microscopic_model(q, "full").rho0.full()
        assert np.abs(embed(space, symmetric.initial_state(q, space)) - rho0).max() < 1e-15


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
