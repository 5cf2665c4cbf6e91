"""The moment description: a phase-invariant second-order cumulant closure, eight equations
whatever N and M (docs/physics.md §8).

Variables (engines j, i; batteries k, l; all distinct; by permutation symmetry independent of
which): one engine's p0, p1 (p2 = 1 - p0 - p1), one battery's n = <n_k>, the engine-battery
coherence X = <|0><1|_j sigma_k^+> (the battery power is dE_B/dt = -2 g_e M N w0 X, X < 0 while
charging), the battery pair B2 = <sigma_k^+ sigma_l^->, the engine pair E2 = <|1><0|_i |0><1|_j>
and the population pairs Q_a = <pi_a^j n_k> (a = 0, 1). Every U(1)-odd moment vanishes; the
equations of these eight are exact given four third-order moments, which the closure factorizes
(third-order cumulants zero):

    <(pi_1 - pi_0) sigma^+ sigma^-> -> (p1 - p0) B2,   <L^dag L (1 - 2n)> -> E2 (1 - 2n),
    <L sigma^+ n> -> X n,   <pi_a L sigma^+> -> p_a X.

It is exact at N = M = 1. Its equations conserve B2 - n (1 - n): from an empty battery the
battery statistics stay binomial, Var(m) = N n (1 - n), and the battery state it implies is the
phase-averaged product of N batteries with excitation n, p_m = Binomial(N, n)(m), from which
energy, fluctuation, ergotropy and distances are read. The exact charging is seeded by
spontaneous emission and amplified collectively: its level distribution is O(N) wide in the
transient, which no truncation at a fixed order represents. The closure's error therefore does
not fall with N (eps_traj 5-13 %, measured in docs/physics.md §8): a cheap qualitative
description for N far beyond the others (the equations at N = M = 10^5 in under a second,
docs/performance.md), not an exact one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import LSODA, solve_ivp

from microsim.descriptions.binomial import BinomialLevels, binomial_row
from microsim.descriptions.options import IntegrationError, SolverOptions
from microsim.descriptions.protocol import Description, Watch, collective_only
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.params import ModelParams

__all__ = ["DESCRIPTION", "VARIABLES", "jacobian", "refuse_unphysical", "right_hand_side",
           "steady_state", "trajectory", "violations"]

FloatArray = NDArray[np.float64]

#: The eight moments, in their order in the state.
VARIABLES: tuple[str, ...] = ("p0", "p1", "n", "X", "B2", "E2", "Q0", "Q1")
P0, P1, N_B, X, B2, E2, Q0, Q1 = range(8)

#: A moment outside its physical range by more than this is a failure of the closure (the
#: integration keeps each to about atol).
TOLERANCE = 1e-7


def right_hand_side(p: ModelParams) -> Callable[[float, FloatArray], FloatArray]:
    """d/dt of (p0, p1, n, X, B2, E2, Q0, Q1), with g = g_e, K = M - 1, L = N - 1:

      dp0 = Gamma_h (p2 - b_h p0) - 2 g N X,      dp1 = Gamma_c (p2 - b_c p1) + 2 g N X,
      dn  = -2 g M X,
      dX  = -gamma_01 X - g [p1 - Q1 - Q0 + L (p1 - p0) B2 + K E2 (1 - 2n)],
      dB2 = -2 g M X (1 - 2n),                     dE2 = -2 gamma_01 E2 - 2 g N X (p1 - p0),
      dQ0 = Gamma_h (Q2 - b_h Q0) - 2 g X [1 + L n + K p0],
      dQ1 = Gamma_c (Q2 - b_c Q1) + 2 g X [L n - K p1],     Q2 = n - Q0 - Q1.
    """
    g, n_b, m_e = p.g_engine, p.n_batteries, p.n_engines
    gh, gc, bh, bc, gamma = p.gamma_h, p.gamma_c, p.boltz_h, p.boltz_c, p.gamma_01
    ln, km = n_b - 1, m_e - 1

    def rhs(_t: float, y: FloatArray) -> FloatArray:
        p0, p1, n, x, b2, e2, q0, q1 = y
        p2, q2 = 1.0 - p0 - p1, n - q0 - q1
        return np.array([
            gh * (p2 - bh * p0) - 2 * g * n_b * x,
            gc * (p2 - bc * p1) + 2 * g * n_b * x,
            -2 * g * m_e * x,
            -gamma * x - g * (p1 - q1 - q0 + ln * (p1 - p0) * b2 + km * e2 * (1 - 2 * n)),
            -2 * g * m_e * x * (1 - 2 * n),
            -2 * gamma * e2 - 2 * g * n_b * x * (p1 - p0),
            gh * (q2 - bh * q0) - 2 * g * x * (1 + ln * n + km * p0),
            gc * (q2 - bc * q1) + 2 * g * x * (ln * n - km * p1),
        ])

    return rhs


def jacobian(p: ModelParams) -> Callable[[float, FloatArray], FloatArray]:
    """The exact Jacobian of right_hand_side (8 x 8)."""
    g, n_b, m_e = p.g_engine, p.n_batteries, p.n_engines
    gh, gc, bh, bc, gamma = p.gamma_h, p.gamma_c, p.boltz_h, p.boltz_c, p.gamma_01
    ln, km = n_b - 1, m_e - 1

    def jac(_t: float, y: FloatArray) -> FloatArray:
        p0, p1, n, x, b2, e2, _q0, _q1 = y
        j = np.zeros((8, 8))
        j[P0, P0], j[P0, P1], j[P0, X] = -gh * (1 + bh), -gh, -2 * g * n_b
        j[P1, P0], j[P1, P1], j[P1, X] = -gc, -gc * (1 + bc), 2 * g * n_b
        j[N_B, X] = -2 * g * m_e
        j[X, P0], j[X, P1] = g * ln * b2, -g * (1 + ln * b2)
        j[X, N_B], j[X, X] = 2 * g * km * e2, -gamma
        j[X, B2], j[X, E2] = -g * ln * (p1 - p0), -g * km * (1 - 2 * n)
        j[X, Q0] = j[X, Q1] = g
        j[B2, N_B], j[B2, X] = 4 * g * m_e * x, -2 * g * m_e * (1 - 2 * n)
        j[E2, P0], j[E2, P1] = 2 * g * n_b * x, -2 * g * n_b * x
        j[E2, X], j[E2, E2] = -2 * g * n_b * (p1 - p0), -2 * gamma
        j[Q0, P0], j[Q0, N_B] = -2 * g * x * km, gh - 2 * g * x * ln
        j[Q0, X] = -2 * g * (1 + ln * n + km * p0)
        j[Q0, Q0], j[Q0, Q1] = -gh * (1 + bh), -gh
        j[Q1, P1], j[Q1, N_B] = -2 * g * x * km, gc + 2 * g * x * ln
        j[Q1, X] = 2 * g * (ln * n - km * p1)
        j[Q1, Q0], j[Q1, Q1] = -gc, -gc * (1 + bc)
        return j

    return jac


def initial_state(p: ModelParams) -> FloatArray:
    """Batteries empty, engines in Eq. 3 (``steady``) or |0> (``ground``), uncorrelated."""
    p0, p1, _ = p.engine_steady_populations if p.engine_init == "steady" else (1.0, 0.0, 0.0)
    return np.array([p0, p1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def _steady_moments(p: ModelParams) -> FloatArray:
    """The fixed point reached from the initial state: X = E2 = 0, p = Eq. 3, Q_a = p_a n,
    B2 = n (1 - n) (the conserved quantity), and the X equation's root
    a n^2 - (a - s) n - p1 = 0, a = (N - 1)(p1 - p0), s = p0 + p1."""
    p0, p1, _ = p.engine_steady_populations
    a, s = (p.n_batteries - 1) * (p1 - p0), p0 + p1
    n = p1 / s if a == 0 else ((a - s) + math.sqrt((a - s) ** 2 + 4 * a * p1)) / (2 * a)
    return np.array([p0, p1, n, 0.0, n * (1 - n), 0.0, p0 * n, p1 * n])


def populations(p: ModelParams, y: FloatArray) -> FloatArray:
    """The battery state the moments imply: Binomial(N, n) over the Dicke levels m = 0..N."""
    return binomial_row(p.n_batteries, y[N_B])


def violations(p: ModelParams, y: FloatArray) -> dict[str, float]:
    """How far the moments leave their physical set (positive: by that much), stacked states
    (T, 8): populations in [0, 1], Q_a within the Frechet bounds, the Cauchy-Schwarz bound of the
    engine-battery block X^2 <= Q0 (p1 - Q1), the battery pair 0 <= n - B2 <= n, and
    |E2| <= min(p0, p1)."""
    p0, p1, n, x, b2, e2, q0, q1 = np.atleast_2d(y).T
    p2, q2 = 1 - p0 - p1, n - q0 - q1
    out = {
        "population": float(np.max([-p0, -p1, -p2, -n, n - 1])),
        "population_pair": float(np.max([-q0, -q1, -q2, q0 - np.minimum(p0, n),
                                         q1 - np.minimum(p1, n)])),
        "cauchy_schwarz": float(np.max(x**2 - np.clip(q0, 0, None) * np.clip(p1 - q1, 0, None))),
    }
    if p.n_batteries > 1:
        out["battery_pair"] = float(np.max([-(n - b2), (n - b2) - n]))
    if p.n_engines > 1:
        out["engine_pair"] = float(np.max(np.abs(e2) - np.minimum(p0, p1)))
    return out


def _heat_current(p: ModelParams, y: FloatArray) -> FloatArray:
    """J_h + J_c of the M engines, J_h = M w_h Gamma_h (b_h p0 - p2), J_c = M w_c Gamma_c (b_c p1 - p2)."""
    p0, p1 = y[..., P0], y[..., P1]
    p2 = 1 - p0 - p1
    return p.n_engines * (p.wh * p.gamma_h * (p.boltz_h * p0 - p2)
                          + p.wc * p.gamma_c * (p.boltz_c * p1 - p2))


def _energy(p: ModelParams, y: FloatArray) -> FloatArray:
    """E_B + E_E of the moments."""
    p0, p1, n = y[..., P0], y[..., P1], y[..., N_B]
    return p.w0 * p.n_batteries * n + p.n_engines * (p.w0 * p1 + p.wh * (1 - p0 - p1))


class _Worst:
    """Running maxima over the integration steps, in blocks: the worst of each physical bound
    (violations) and of the first law |E(t) - E(0) - heat(t)| with its scale max |w0 N n|."""

    BLOCK = 1024

    def __init__(self, p: ModelParams, first: FloatArray) -> None:
        self.p, self.start = p, _energy(p, first[:8])
        self.bounds: dict[str, float] = {}
        self.first_law, self.scale = 0.0, p.w0
        self.pending: list[FloatArray] = [first]

    def add(self, z: FloatArray) -> None:
        self.pending.append(z)
        if len(self.pending) >= self.BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        block = np.array(self.pending)
        self.pending = []
        for name, value in violations(self.p, block[:, :8]).items():
            self.bounds[name] = max(self.bounds.get(name, -np.inf), value)
        stored = _energy(self.p, block[:, :8]) - self.start
        self.first_law = max(self.first_law, float(np.abs(stored - block[:, 8]).max()))
        self.scale = max(self.scale, float(np.abs(self.p.w0 * self.p.n_batteries
                                                  * block[:, N_B]).max()))


def _solve(p: ModelParams, y0: FloatArray, t: FloatArray, options: SolverOptions
           ) -> tuple[FloatArray, _Worst]:
    """The moments on the grid t from y0 at t[0], and the checks over every internal step of
    the integration (which must see the solution, not its samples), with the heat drawn from
    the baths as a ninth variable. Each grid point is read from the step that contains it, as
    solve_ivp's dense output does; nothing per step is kept, so memory is O(T) whatever the
    number of steps (which grows with the collective ringing, ~ g_e N sqrt(M))."""
    rhs, jac = right_hand_side(p), jacobian(p)

    def augmented(time: float, z: FloatArray) -> FloatArray:
        return np.append(rhs(time, z[:8]), _heat_current(p, z[:8]))

    def augmented_jac(time: float, z: FloatArray) -> FloatArray:
        out = np.zeros((9, 9))
        out[:8, :8] = jac(time, z[:8])
        scale = p.n_engines
        # d(J_h + J_c)/d(p0, p1), with p2 = 1 - p0 - p1
        out[8, P0] = scale * (p.wh * p.gamma_h * (p.boltz_h + 1) + p.wc * p.gamma_c)
        out[8, P1] = scale * (p.wh * p.gamma_h + p.wc * p.gamma_c * (p.boltz_c + 1))
        return out

    # The heat integral starts at 0 and its rate is a difference of O(M w_h Gamma_h) terms: an
    # absolute tolerance of its own (the first-law check's resolution) keeps rounding in that
    # difference from driving the step to zero.
    atol = np.full(9, min(options.atol, 1e-13))
    atol[8] = 1e-12 * p.w0 * max(p.n_batteries, 1)
    z0 = np.append(y0, 0.0)
    states = np.empty((t.size, 8))
    worst = _Worst(p, z0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        solver = LSODA(augmented, t[0], z0, t[-1], rtol=min(options.rtol, 1e-9), atol=atol,
                       jac=augmented_jac)
        done = 0
        while solver.status == "running":
            message = solver.step()
            if solver.status == "failed" or not np.all(np.isfinite(solver.y)):
                raise IntegrationError(f"the moments' integration failed: {message}")
            worst.add(solver.y.copy())
            inside = done + int(np.searchsorted(t[done:], solver.t, side="right"))
            if inside > done:
                states[done:inside] = solver.dense_output()(t[done:inside]).T[:, :8]
                done = inside
    worst.flush()
    states[0] = y0
    return states, worst


def _integrate_ode(rhs: Callable[[float, FloatArray], FloatArray],
                   jac: Callable[[float, FloatArray], FloatArray], t: FloatArray, y0: FloatArray,
                   rtol: float, atol: float | FloatArray, dense: bool) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        # LSODA: the collective ringing (frequency ~ g_e N sqrt(M)) is not stiff and the baths
        # (Gamma ~ 1/kappa) are; switching between Adams and BDF costs 40-60x less than Radau
        # here (N = M = 1e3 and 1e5, same tolerances, docs/performance.md).
        sol = solve_ivp(rhs, (t[0], t[-1]), y0, method="LSODA", jac=jac, rtol=rtol, atol=atol,
                        dense_output=dense, t_eval=None if dense else t)
    if sol.status != 0 or not np.all(np.isfinite(sol.y)):
        raise IntegrationError(f"the moments' integration failed: {sol.message}")
    return sol


def _integrate(p: ModelParams, y0: FloatArray, t: FloatArray, options: SolverOptions
               ) -> FloatArray:
    t = np.asarray(t, dtype=float)
    if t.size == 1 or t[-1] == t[0]:
        return np.repeat(y0[None, :], t.size, axis=0)
    sol = _integrate_ode(right_hand_side(p), jacobian(p), t, y0, options.rtol, options.atol, dense=False)
    states = sol.y.T
    states[0] = y0
    return states


def refuse_unphysical(bounds: dict[str, float]) -> None:
    """Raise IntegrationError naming every bound (``violations``) exceeded by more than
    TOLERANCE."""
    bad = {k: v for k, v in bounds.items() if v > TOLERANCE}
    if bad:
        shown = ", ".join(f"{k} bound by {v:.2e}" for k, v in bad.items())
        raise IntegrationError(f"unphysical moments: {shown}")


def propagator(p: ModelParams, options: SolverOptions | None = None) -> Propagator:
    """The moments as a Propagator (state: the eight moments; populations: Binomial(N, n))."""
    options = options or SolverOptions()

    def advance(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        yield from _integrate(p, x0, t, options)

    return Propagator(initial=initial_state(p), advance=advance,
                      populations=lambda y: populations(p, y))


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None, watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """The moments on the points ``keep`` of t. Moments that leave their physical set by more
    than TOLERANCE raise IntegrationError naming the bound (the comparison reports NaN figures
    and the reason); ``checks`` give the worst of each bound and the first-law error."""
    if p.protocol != "collective":
        raise ValueError("the moment description solves one collective problem; the "
                         "individual protocol is its pair (ModelParams.pair())")
    prop = propagator(p, options)
    t = np.asarray(t, dtype=float)
    if t.size < 2 or t[-1] == t[0]:
        states, checked = np.repeat(prop.initial[None, :], t.size, axis=0), \
            _Worst(p, np.append(prop.initial, 0.0))
        checked.flush()
    else:
        states, checked = _solve(p, prop.initial, t, options or SolverOptions())
    worst = checked.bounds
    refuse_unphysical(worst)
    if watch is not None:
        for k, y in enumerate(states):
            watch(k, y, prop.populations(y))
    moments = states if keep is None else states[np.asarray(keep, dtype=bool)]
    levels = BinomialLevels(p.n_batteries, moments[:, N_B])
    engines = np.stack([moments[:, P0], moments[:, P1], 1 - moments[:, P0] - moments[:, P1]],
                       axis=1)
    checks = {"trace_error": 0.0,  # a binomial is normalized; the closure's checks are `worst`
              "hermiticity_error": 0.0,
              "min_eigenvalue": -max(max(worst.values()), 0.0),
              "first_law_error": checked.first_law / checked.scale}
    traj = Trajectory(t=t if keep is None else t[keep], battery_populations=levels,
                      energy=levels.energy(p.w0), sigma=levels.sigma(p.w0),
                      ergotropy=levels.ergotropy(p.w0), engine_populations=engines, checks=checks)
    return traj, prop


def steady_state(p: ModelParams) -> SteadyState:
    """The closed-form fixed point (_steady_moments) as Binomial(N, n) on the levels; its
    residual is checked. E_ss/(N w0) differs from Eq. 13's by O(1/N^2) (its variance is the
    binomial one)."""
    y = _steady_moments(p)
    residual = float(np.abs(right_hand_side(p)(0.0, y)).max())
    if residual > 1e-10 * max(p.gamma_01, 1.0):
        raise IntegrationError(f"the moments' steady state has residual {residual:.2e}")
    engines = np.array([y[P0], y[P1], 1 - y[P0] - y[P1]])
    return SteadyState.from_populations(populations(p, y), p.w0, engines)


def moments_memory(p: ModelParams, points: int) -> int:
    """Eight numbers per grid point; the trajectory holds no populations
    (descriptions/binomial.py) but a sweep stores them, T x (N + 1)."""
    return int(8 * (p.n_batteries + 1) * 3 * points + 8 * 8 * points + 20 * 2**20)


DESCRIPTION = Description(
    name="moments", suffix="mom", label="moments",
    summary="a second-order cumulant closure, eight equations whatever N and M (docs/physics.md "
            "§8); qualitative (5-13 % in E(t)), for N far beyond the others",
    trajectory=trajectory, steady_state=steady_state, memory=moments_memory,
    supports=collective_only, since="1.7",
)
