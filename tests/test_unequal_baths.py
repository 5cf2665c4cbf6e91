"""Unequal baths: the results that depend on which bath is hot, at Gamma_c/Gamma_h = 0.2 and 5.

Every other dynamical test runs at Gamma_h = Gamma_c, w_h = 3, beta_c = 1, where exchanging Gamma_h
and Gamma_c anywhere in the code (bath jumps, gamma_01, Gamma_e of Eq. 8, the heat currents)
changes nothing. Here the points are ModelParams.from_effective(beta_e w0 = -0.8, Gamma_e = 0.1,
kappa, N, gamma_ratio = r, wh, beta_c), r = Gamma_c/Gamma_h in {0.2, 5}, with
(w_h, beta_c) in {(3, 1), (5, 0.5), (2.5, 2), (4, 0.4)}: one effective dynamics (docs/physics.md
§3), different engines. (5, 0.5) has the Boltzmann factors of (3, 1) (beta_h w_h = 1.2,
beta_c w_c = 2) and differs only in the energies w_h, w_c that the heat currents weigh;
(2.5, 2) and (4, 0.4) change the factors too. Every point is inverted (checked below).

Each test names in its docstring the exchange of Gamma_h and Gamma_c it detects (shown by
exchanging them in a scratch copy of the package and running this file):
bath jumps of the symmetric solver, the engine jump operators of the full model, gamma_01,
params.effective_rate, heat_currents.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from microsim.analysis.comparison import compare, default_time_grid
from microsim.descriptions import full, symmetric
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.model.params import ModelParams
from microsim.model.thermodynamics import environment_current, heat_currents, thermodynamics

X = -0.8  # beta_e w0 of Fig. 4-5
GAMMA_E = 0.1
ENV = {"gamma_env": 0.05, "beta_env": 0.5}
TIGHT = SolverOptions(rtol=1e-10, atol=1e-13)
T = np.linspace(0.0, 30.0, 61)  # about 1.5 effective charging times at N = 1


def point(r: float, wh: float, beta_c: float, n: int = 2, m: int | None = None,
          kappa: float = 0.2, env: bool = False, **kw) -> ModelParams:
    p = ModelParams.from_effective(X, GAMMA_E, kappa, n, n_engines=m, gamma_ratio=r, wh=wh,
                                   beta_c=beta_c, **kw)
    return p.replace(**ENV) if env else p


@pytest.mark.parametrize("r", [0.2, 5.0])
@pytest.mark.parametrize(("wh", "beta_c"), [(3.0, 1.0), (5.0, 0.5), (2.5, 2.0), (4.0, 0.4)])
def test_points_are_unequal_and_inverted(r, wh, beta_c):
    """The parametrization gives what it promises: Gamma_c/Gamma_h = r, inversion
    beta_h/beta_c < w_c/w_h (Eq. 3, p1 > p0), beta_e w0 and Gamma_e of Eq. 8 (round-off)."""
    p = point(r, wh, beta_c)
    assert p.gamma_c / p.gamma_h == pytest.approx(r, rel=1e-12)
    assert p.beta_h / p.beta_c < p.wc / p.wh
    p0, p1, _ = p.engine_steady_populations
    assert p1 > p0
    assert p.beta_e_w0 == pytest.approx(X, rel=1e-12)
    assert p.gamma_e == pytest.approx(GAMMA_E, rel=1e-12)


# ----------------------------------------------------------------- (a) symmetric = full tensor space
TRAJECTORY_CASES = [
    # r, wh, beta_c, N, M, battery environment, normalization, engine_init
    (0.2, 3.0, 1.0, 2, 2, True, "sqrt_n", "steady"),
    (5.0, 2.5, 2.0, 2, 2, False, "sqrt_n", "ground"),
    (5.0, 4.0, 0.4, 2, 2, True, "none", "steady"),
    (0.2, 2.5, 2.0, 1, 1, True, "sqrt_n", "steady"),
    (5.0, 5.0, 0.5, 1, 1, False, "sqrt_n", "ground"),
    (0.2, 4.0, 0.4, 2, 1, True, "sqrt_n", "steady"),
    (5.0, 3.0, 1.0, 1, 2, True, "sqrt_n", "steady"),
]


@pytest.mark.parametrize(("r", "wh", "beta_c", "n", "m", "env", "norm", "init"), TRAJECTORY_CASES)
def test_symmetric_matches_full_tensor_space(r, wh, beta_c, n, m, env, norm, init):
    """The symmetric solver (its own bath jumps and gamma_01) against QuTiP's Lindblad form of
    Eq. 1 + 5 on the full tensor space: battery energy, Dicke and engine populations on t = 0..30.

    Tolerance: the symmetric solver truncates each Chebyshev sub-step at 1e-11 (measured within
    1e-9 of a tight reference). Up to 18 full-space states the reference runs at rtol 1e-10
    (measured deviation <= 9e-10): 1e-8; at N = M = 2 at the default rtol 1e-8 (measured
    <= 4e-8 in a population): 1e-7. Exchanging Gamma_h and Gamma_c in the symmetric bath jumps,
    in gamma_01 or in the full model's jump operators moves these by 1e-3 to 1e-1.
    """
    p = point(r, wh, beta_c, n, m, env=env, normalization=norm, engine_init=init)
    small = 3**m * 2**n <= 18
    tol = 1e-8 if small else 1e-7
    ref = full.evolve(p, T, TIGHT if small else SolverOptions())
    sym = symmetric.evolve(p, T)
    np.testing.assert_allclose(sym.energy / n, ref.energy / n, rtol=0, atol=tol)
    np.testing.assert_allclose(sym.battery_populations, ref.battery_populations, rtol=0, atol=tol)
    np.testing.assert_allclose(sym.engine_populations, ref.engine_populations, rtol=0, atol=tol)
    assert abs(sym.energy[-1] - sym.energy[0]) > 0.1  # the batteries did charge


@pytest.mark.parametrize(("r", "wh", "beta_c", "n", "m"),
                         [(0.2, 5.0, 0.5, 2, 2), (5.0, 2.5, 2.0, 2, 2), (5.0, 4.0, 0.4, 3, 1)])
def test_steady_state_with_environment_matches_full_tensor_space(r, wh, beta_c, n, m):
    """With a battery environment the steady state is not the product of Eq. 3 and Eq. 13
    (which holds for any rates): both solvers solve the kernel directly, so round-off, 1e-10.
    Detects an exchange in the symmetric bath jumps or in the full model's jump operators."""
    p = point(r, wh, beta_c, n, m, env=True)
    a, b = symmetric.steady_state(p), full.steady_state(p)
    assert abs(a.energy - b.energy) / n < 1e-10
    np.testing.assert_allclose(a.battery_populations, b.battery_populations, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.engine_populations, b.engine_populations, rtol=0, atol=1e-10)
    # not the product state: the environment matters here
    assert np.abs(a.engine_populations - p.engine_steady_populations).max() > 1e-4


# ----------------------------------------------------------------- (b) the kappa^2 law
@pytest.mark.parametrize(("r", "wh", "beta_c", "method"),
                         [(0.2, 3.0, 1.0, "full"), (5.0, 2.5, 2.0, "full"),
                          (5.0, 2.5, 2.0, "symmetric")])
def test_eps_traj_falls_as_kappa_squared(r, wh, beta_c, method):
    """At fixed (beta_e w0, Gamma_e) the leading correction of adiabatic elimination is O(kappa^2):
    eps_traj at N = 1, kappa = 0.0025, 0.005, 0.01 falls with fitted slope in [1.9, 2.1].

    Measured fitted slopes 1.999 (r = 0.2) and 1.974 (r = 5, local 1.988 and 1.961: the next
    order bends it sooner where gamma_01 is small); the solvers err by ~3e-8 against
    eps_traj >= 1.6e-5 (slope shift < 2e-3). If Gamma_e of Eq. 8
    (params.effective_rate) or the microscopic coherence rate (gamma_01, the jump operators)
    exchanged Gamma_h and Gamma_c, the two descriptions would differ at kappa -> 0 and
    eps_traj would stop falling (slope ~ 0).
    """
    kappas = np.array([0.0025, 0.005, 0.01])
    errors = []
    for kappa in kappas:
        p = point(r, wh, beta_c, n=1, kappa=kappa)
        errors.append(compare(p, default_time_grid(p, points=201), method).figures["eps_traj"])
    slope = np.polyfit(np.log(kappas), np.log(errors), 1)[0]
    assert 1.9 < slope < 2.1, (slope, errors)
    assert np.all(np.diff(errors) > 0)


# ----------------------------------------------------------------- (c) currents and the first law
def _unit(a: int, b: int, dim: int) -> np.ndarray:
    u = np.zeros((dim, dim))
    u[a, b] = 1.0
    return u


def _on(op: np.ndarray, position: int, dims: list[int]) -> np.ndarray:
    out = np.ones((1, 1))
    for k, d in enumerate(dims):
        out = np.kron(out, op if k == position else np.eye(d))
    return out


def _dissipator(a: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """D[a] rho = a rho a^dag - (a^dag a rho + rho a^dag a)/2, for a stack of states rho."""
    ad = a.conj().T
    return a @ rho @ ad - 0.5 * (ad @ a @ rho + rho @ ad @ a)


def _dicke(n: int) -> np.ndarray:
    bits = np.array(list(itertools.product((0, 1), repeat=n))).sum(axis=1)
    vecs = np.zeros((2**n, n + 1))
    vecs[np.arange(2**n), bits] = 1.0
    return vecs / np.sqrt(vecs.sum(axis=0))


@pytest.mark.parametrize(("r", "wh", "beta_c"), [(0.2, 5.0, 0.5), (5.0, 2.5, 2.0)])
def test_heat_currents_are_tr_h0_dissipator(r, wh, beta_c):
    """J_b = Tr[H_0 D_b(rho)] (thermodynamics.py's definition), with H_0 and every D_b written
    out here from Eq. 1 and the states rho(t) of the full tensor space at N = M = 2, against
    heat_currents / environment_current of the engine and Dicke populations of the same states.

    Both sides are a few sums of products of the same numbers: round-off, 1e-12 of the largest
    rate times energy. Detects an exchange of Gamma_h and Gamma_c in heat_currents (J_h changes by
    the factor r or 1/r).
    """
    p = point(r, wh, beta_c, env=True)
    rho, _ = full.evolve_states(p, np.linspace(0.0, 30.0, 7))
    m_eng, n = p.n_engines, p.n_batteries
    dims = [3] * m_eng + [2] * n
    number = sum(_on(_unit(1, 1, 2), m_eng + k, dims) for k in range(n))
    h0 = p.w0 * number
    for j in range(m_eng):
        h0 = h0 + _on(p.wh * _unit(2, 2, 3) + p.w0 * _unit(1, 1, 3), j, dims)
    currents = {}
    for name, gamma, beta, gap, lower in (("h", p.gamma_h, p.beta_h, p.wh, 0),
                                          ("c", p.gamma_c, p.beta_c, p.wh - p.w0, 1)):
        d_rho = 0.0
        for j in range(m_eng):
            a = _on(_unit(lower, 2, 3), j, dims)  # |lower><2| of engine j
            d_rho = d_rho + gamma * (_dissipator(a, rho) + math.exp(-beta * gap) * _dissipator(a.T, rho))
        currents[name] = np.einsum("ij,tji->t", h0, d_rho).real
    s_minus = sum(_on(_unit(0, 1, 2), m_eng + k, dims) for k in range(n))
    d_env = p.gamma_env * (_dissipator(s_minus, rho)
                           + math.exp(-p.beta_env * p.w0) * _dissipator(s_minus.T, rho))
    currents["env"] = np.einsum("ij,tji->t", h0, d_env).real

    diag = np.einsum("tii->ti", rho).real.reshape((len(rho),) + (3,) * m_eng + (2**n,))
    engines = np.mean([diag.sum(axis=tuple(1 + k for k in range(m_eng + 1) if k != j))
                       for j in range(m_eng)], axis=0)
    rho_b = np.einsum("taiaj->tij", rho.reshape(len(rho), 3**m_eng, 2**n, 3**m_eng, 2**n))
    dicke = _dicke(n)
    pops = np.einsum("im,tij,jm->tm", dicke, rho_b, dicke).real

    scale = m_eng * p.wh * max(p.gamma_h, p.gamma_c)
    j_h, j_c = heat_currents(p, engines)
    np.testing.assert_allclose(j_h, currents["h"], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(j_c, currents["c"], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(environment_current(p, pops), currents["env"], rtol=0,
                               atol=1e-12 * scale)
    assert np.abs(currents["h"]).max() > 0.01  # the currents are not trivially zero


def _simpson(f: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative composite Simpson integral of f from t[0] to t[0], t[2], t[4], ... (odd length)."""
    steps = (t[2::2] - t[:-2:2]) / 6.0 * (f[:-2:2] + 4.0 * f[1::2] + f[2::2])
    return np.concatenate([[0.0], np.cumsum(steps)])


FIRST_LAW_CASES = [
    # r, wh, beta_c, N, M, battery environment
    (0.2, 5.0, 0.5, 2, 2, False),
    (5.0, 5.0, 0.5, 2, 2, True),
    (0.2, 2.5, 2.0, 1, 1, True),
    (5.0, 4.0, 0.4, 2, 1, True),
]


@pytest.mark.parametrize(("r", "wh", "beta_c", "n", "m", "env"), FIRST_LAW_CASES)
def test_first_law_from_integrated_currents(r, wh, beta_c, n, m, env):
    """First law, [H_0, V] = 0: Delta(E_E + E_B)(t) = Q_h + Q_c (+ Q_env), each Q the Simpson
    integral of heat_currents / environment_current on t = 0..30 (4001 points), E_B from the
    trajectory and E_E = M (w0 p1 + w_h p2) from its engine populations; and each Q_b equals
    the exact heat of thermodynamics() (integrated_heats, from the populations alone).

    Tolerance from the grid: |S_h - S_2h| (Simpson at steps h and 2h), a bound on the error of
    S_h while the error at least halves with h (it falls ~10x here; measured up to 4e-6 where
    Gamma_h = 28, M = 2), asserted < 1e-5, plus 1e-7 for the trajectory (populations to ~1e-10,
    measured floor 2e-8). Exchanging Gamma_h and Gamma_c in heat_currents or in the bath jumps
    of the solver breaks the balance by O(0.1).
    """
    p = point(r, wh, beta_c, n, m, env=env)
    t = np.linspace(0.0, 30.0, 4001)
    traj = symmetric.evolve(p, t)
    pops = traj.engine_populations
    j_h, j_c = heat_currents(p, pops)
    j_env = environment_current(p, traj.battery_populations)
    engine_energy = p.n_engines * (p.w0 * pops[:, 1] + p.wh * pops[:, 2])
    change = (traj.energy + engine_energy) - (traj.energy[0] + engine_energy[0])
    th = thermodynamics(p, t, traj.energy, traj.ergotropy, pops, traj.battery_populations,
                        None, math.nan)
    fine = {k: _simpson(j, t) for k, j in (("h", j_h), ("c", j_c), ("env", j_env))}
    coarse = {k: _simpson(j[::2], t[::2]) for k, j in (("h", j_h), ("c", j_c), ("env", j_env))}
    grid_error = max(np.abs(fine[k][::2] - coarse[k]).max() for k in fine)
    assert grid_error < 1e-5
    tol = grid_error + 1e-7
    np.testing.assert_allclose(fine["h"] + fine["c"] + fine["env"], change[::2], rtol=0, atol=tol)
    # integrated_heats subtracts its own quadrature of J_env, weighted by w_h/w0 and w_c/w0
    tol_heats = (1 + p.wh / p.w0) * grid_error + 1e-7
    np.testing.assert_allclose(fine["h"], th.heat_h[::2], rtol=0, atol=tol_heats)
    np.testing.assert_allclose(fine["c"], th.heat_c[::2], rtol=0, atol=tol_heats)
    assert fine["h"][-1] > 0.5 and fine["c"][-1] < -0.1  # heat flows in from hot, out to cold


# ----------------------------------------------------------------- (d) steady-state currents
@pytest.mark.parametrize("solver", [full, symmetric], ids=["full", "symmetric"])
@pytest.mark.parametrize(("r", "wh", "beta_c"), [(0.2, 5.0, 0.5), (5.0, 2.5, 2.0)])
def test_steady_currents_against_rate_equations(solver, r, wh, beta_c):
    """Steady-state heat currents at N = M = 2 against closed forms.

    Without a battery environment the steady state is Eq. 3 (x) Eq. 13 and every bath is in
    detailed balance: J_h = J_c = 0 (round-off). With an environment (Gamma = 0.02,
    beta = 0.5) a current runs hot bath -> engines -> batteries -> environment. Exactly:
    J_h + J_c + J_env = 0, and J_c/J_h = -w_c/w_h (each quantum through an engine takes w_h
    and gives w_c). The currents are differences of populations times M w_h Gamma_h, with
    Gamma_h up to 1e4 at kappa = 0.01: round-off ~ 1e-16 M (w_h Gamma_h + w_c Gamma_c)
    (measured <= 2e-17 of it), tolerance 1e-13 of it. Against the rate equations
    of Eq. 8 (batteries in e^{-x' m}/Z with x' from Gamma_e of params and the environment,
    docs/physics.md §2): J_h = (w_h/w0) w0 Gamma_e sum_m p_m [e^{-x}(N-m)(m+1) - m(N-m+1)] up to
    the O(kappa^2) of adiabatic elimination, measured -5.6e-5 (r = 0.2) and -6.8e-4 (r = 5)
    relative at kappa = 0.01, i.e. coefficients 0.56 and 6.8: bound 10 kappa^2, and the ratio
    of the deviations at kappa = 0.02 and 0.01 is 4 within 5 % (measured 3.99).
    Detects an exchange in heat_currents, the bath jumps, the jump operators, gamma_01 or
    params.effective_rate (the microscopic flux then is not the rate equations' one).
    """
    p = point(r, wh, beta_c)
    ss = solver.steady_state(p)
    j_h, j_c = heat_currents(p, ss.engine_populations)
    scale = p.n_engines * (p.wh * p.gamma_h + p.wc * p.gamma_c)
    assert abs(j_h) < 1e-13 * scale and abs(j_c) < 1e-13 * scale

    deviations = []
    for kappa in (0.01, 0.02):
        p = point(r, wh, beta_c, kappa=kappa).replace(gamma_env=0.02, beta_env=0.5)
        ss = solver.steady_state(p)
        j_h, j_c = heat_currents(p, ss.engine_populations)
        j_env = float(environment_current(p, ss.battery_populations))
        scale = p.n_engines * (p.wh * p.gamma_h + p.wc * p.gamma_c)
        assert j_h > 0.01 and j_env < 0
        assert abs(j_h + j_c + j_env) < 1e-13 * scale
        assert j_c / j_h == pytest.approx(-p.wc / p.wh, rel=1e-9)
        # rate equations: birth-death chain of Eq. 8 with the environment, detailed balance
        n, m = p.n_batteries, np.arange(p.n_batteries + 1)
        x = p.beta_h * p.wh - p.beta_c * p.wc
        ge, g_env = p.gamma_e_engines, p.gamma_env
        x_total = math.log(ge + g_env) - math.log(ge * math.exp(-x) + g_env * math.exp(-p.beta_env * p.w0))
        q = np.exp(-x_total * m)
        q /= q.sum()
        engine_flux = p.w0 * ge * q @ (math.exp(-x) * (n - m) * (m + 1) - m * (n - m + 1))
        deviation = j_h / (p.wh / p.w0 * engine_flux) - 1.0
        assert abs(deviation) < 10 * kappa**2, deviation
        deviations.append(deviation)
    assert deviations[1] / deviations[0] == pytest.approx(4.0, rel=0.05)
