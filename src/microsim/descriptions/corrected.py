"""The corrected effective description: batteries with one tagged engine and engine pairs (§7).

docs/physics.md §7 derives it. Per Dicke level m the state holds six real numbers (interaction
picture, battery elements of the engine blocks, all reduced over the other engines):

    P_a(m) = <a, m| rho |a, m>                        one engine in |a> (a = 0, 1, 2), battery at m
    C(m)   = <1, m| rho |0, m+1>                      that engine's coherence with the battery
    Y(m)   = <1 1, m| rho |0 0, m+2>                  two engines both in |1><0|
    Z(m)   = <1 0, m| rho |0 1, m>                    two engines exchanging a quantum

The battery populations are p_m = sum_a P_a(m). The equations are exact for one engine
(M = 1, hence for the pair of the individual protocol); for M > 1 they close the hierarchy at
two engines with X_a(m) = <a 1, m| rho |a 0, m+1> = w_a(m) C(m), w_a(m) = P_a(m)/p_m (engines
independent given the battery level), whose error enters the energy at fourth order in the
coupling. Eq. 8 is the adiabatic elimination of C with the P_a held at Eq. 3, so the
description reduces to it as kappa -> 0. It is not of Lindblad form: positivity is checked along
every trajectory (the 2 x 2 blocks [[P_1(m), C(m)], [C(m), P_0(m+1)]] of the engine-battery state
and the populations; a violation is reported, not hidden), and where N kappa^2 grows (past about
1 at the paper's point) the closed hierarchy can become unstable: the run stops and the
comparison reports NaN with the reason.

The unknowns are stored level by level (6 (N + 1) numbers), so the generator couples only
neighbouring levels: its Jacobian is banded (11 diagonals each side) and computed exactly
(jacobian()), so each step of the implicit integration costs O(N). The integrator is SciPy's
Radau IIA (L-stable): BDF, whose higher orders are not stable near the imaginary axis, took
10-50 times more steps and Jacobians here (N = 4, kappa = 0.01: 13.6 s against 1.4 s).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from microsim.descriptions.options import IntegrationError, SolverOptions
from microsim.descriptions.protocol import Description, Watch, follow
from microsim.descriptions.resources import check_memory
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.engine import population_generator
from microsim.model.params import ModelParams

__all__ = [
    "DESCRIPTION",
    "VARIABLES",
    "LevelSystem",
    "corrected_solver_bytes",
    "corrected_system",
    "evolve",
    "initial_state",
    "level_steady_state",
    "level_trajectory",
    "positivity",
    "product_state",
    "propagator",
    "right_hand_side",
    "steady_state",
    "trajectory",
]

FloatArray = NDArray[np.float64]

#: Numbers per Dicke level: P_0, P_1, P_2, Z, C, Y.
VARIABLES = 6
_P, _Z, _C, _Y = slice(0, 3), 3, 4, 5

#: Regularization of the conditional engine populations w_a = P_a / p_m where p_m vanishes:
#: w_a -> Eq. 3 there. It moves w_a by at most REGULARIZATION / p_m.
REGULARIZATION = 1e-12

#: A trajectory whose most negative block eigenvalue or population is below this is reported as
#: violating positivity (the integration tolerance allows |negative| ~ atol).
POSITIVITY_TOL = 1e-7

#: A population below -BLOW_UP stops the integration: the closed hierarchy is unstable there
#: (stable runs keep every P_a(m) >= 0 to round-off; an unstable one drifts through -1e-7 within
#: a few thousand steps, N = 1000 at kappa = 0.05).
BLOW_UP = 1e-5

#: Right-hand-side evaluations (the finite-difference Jacobian's included) after which an
#: integration is abandoned ('integrator failed': unstable or too stiff, the budget cannot tell).
#: The cumulant description at N = M = 400, kappa = 0.1 and 0.3 needs about 2.3e5 and 2.8e5
#: (93 210 and 104 286 steps' evaluations, 2741 and 3682 Jacobians of 49; 3.6 and 4.4 min for the
#: whole point); the budget leaves 3.5x above that.
MAX_EVALUATIONS = 1_000_000

#: The Jacobian couples level m to m - 1, m, m + 1: 2 VARIABLES - 1 diagonals on each side.
_BAND = 2 * VARIABLES - 1


def _ladder(n: int, scale: float) -> FloatArray:
    """scale * s(k) for k = 0..N + 2, s(k) = sqrt(k (N - k + 1)) on 1..N and 0 elsewhere."""
    k = np.arange(n + 3, dtype=float)
    s = np.where((k >= 1) & (k <= n), np.sqrt(np.clip(k * (n - k + 1), 0.0, None)), 0.0)
    return scale * s


def _down(v: NDArray) -> NDArray:
    """v[m - 1] along the last axis (0 at m = 0)."""
    out = np.zeros_like(v)
    out[..., 1:] = v[..., :-1]
    return out


def _up(v: NDArray) -> NDArray:
    """v[m + 1] along the last axis (0 at m = N)."""
    out = np.zeros_like(v)
    out[..., :-1] = v[..., 1:]
    return out


def _environment(p: ModelParams, v: FloatArray, offset: int) -> FloatArray:
    """Gamma (D[S^-] + e^{-beta w0} D[S^+]) on the battery elements v[m] = X_{m, m + offset}."""
    s = _ladder(p.n_batteries, 1.0)
    m = np.arange(p.n_batteries + 1)
    si, sj = s[m], s[np.minimum(m + offset, p.n_batteries + 2)]
    si1, sj1 = s[m + 1], s[np.minimum(m + offset + 1, p.n_batteries + 2)]
    up = math.exp(-p.beta_env * p.w0)
    lower = si1 * sj1 * _up(v) - 0.5 * (si**2 + sj**2) * v
    raise_ = si * sj * _down(v) - 0.5 * (si1**2 + sj1**2) * v
    return p.gamma_env * (lower + up * raise_)


def right_hand_side(p: ModelParams) -> Callable[..., FloatArray]:
    """d/dt of the state (docs/physics.md §7, Eq. C1-C5), for the collective problem p.

    With b_k = g_e s(k), K = M - 1 other engines and X_a = w_a C:
      dP_0(m) = (A P)_0 - 2 b_m C(m-1) + 2K (b_{m+1} X_0(m) - b_m X_0(m-1))
      dP_1(m) = (A P)_1 + 2 b_{m+1} C(m) + 2K (b_{m+1} X_1(m) - b_m X_1(m-1))
      dP_2(m) = (A P)_2                  + 2K (b_{m+1} X_2(m) - b_m X_2(m-1))
      dC(m)   = -gamma_01 C + b_{m+1} (P_0(m+1) - P_1(m))
                + K (b_{m+1} (Z(m+1) - Z(m)) + b_{m+2} Y(m) - b_m Y(m-1))
      dY(m)   = -2 gamma_01 Y + 2 (b_{m+1} X_0(m+1) - b_{m+2} X_1(m))
      dZ(m)   = -2 gamma_01 Z + 2 (b_{m+1} X_0(m) - b_m X_1(m-1))
    """
    n = p.n_batteries
    b = _ladder(n, p.g_engine)
    bm, bm1, bm2 = b[: n + 1], b[1 : n + 2], b[2 : n + 3]
    bath = population_generator(p)
    g01, others = p.gamma_01, p.n_engines - 1
    with_env = p.gamma_env > 0

    def rhs(_t: float, y: FloatArray, cond: FloatArray | None = None) -> FloatArray:
        """d/dt y; with ``cond`` given, the w_a are held at it (the map is then linear in y)."""
        x = y.reshape(n + 1, VARIABLES).T
        pops, z, c, yy = x[_P], x[_Z], x[_C], x[_Y]
        out = np.empty_like(x)
        d_pops = bath @ pops
        d_pops[0] -= 2.0 * bm * _down(c)
        d_pops[1] += 2.0 * bm1 * c
        d_c = -g01 * c + bm1 * (_up(pops[0]) - pops[1])
        if others:
            xa = (conditional(p, y) if cond is None else cond) * c
            d_pops += 2.0 * others * (bm1 * xa - bm * _down(xa))
            d_c += others * (bm1 * (_up(z) - z) + bm2 * yy - bm * _down(yy))
            out[_Y] = -2.0 * g01 * yy + 2.0 * (bm1 * _up(xa[0]) - bm2 * xa[1])
            out[_Z] = -2.0 * g01 * z + 2.0 * (bm1 * xa[0] - bm * _down(xa[1]))
        else:
            out[_Y] = out[_Z] = 0.0
        if with_env:
            d_pops += _environment(p, pops, 0)
            d_c += _environment(p, c, 1)
            if others:
                out[_Y] += _environment(p, yy, 2)
                out[_Z] += _environment(p, z, 0)
        out[_P] = d_pops
        out[_C] = d_c
        out[_C, n] = 0.0          # C(N) and Y(N - 1), Y(N) are outside the ladder
        out[_Y, max(n - 1, 0):] = 0.0
        return out.T.ravel()

    return rhs


def conditional(p: ModelParams, y: FloatArray) -> FloatArray:
    """w_a(m) = P_a(m) / p_m (3, N + 1), negative round-off clipped, Eq. 3 where p_m vanishes."""
    held = np.maximum(y.reshape(p.n_batteries + 1, VARIABLES)[:, _P].T, 0.0)
    eq3 = np.asarray(p.engine_steady_populations)[:, None]
    return (held + REGULARIZATION * eq3) / (held.sum(axis=0) + REGULARIZATION)


def sparsity(p: ModelParams) -> sp.csc_matrix:
    """Where the Jacobian of right_hand_side can be nonzero (neighbouring levels only)."""
    size = VARIABLES * (p.n_batteries + 1)
    offsets = range(-_BAND, _BAND + 1)
    return sp.diags([np.ones(size - abs(k)) for k in offsets], list(offsets), format="csc")


def jacobian(p: ModelParams) -> Callable[[float, FloatArray], sp.csc_matrix]:
    """The exact Jacobian of right_hand_side (away from P_a = 0, where w_a has a kink), without
    differencing. With the w_a held the map is linear: its columns are its values on the
    indicator vectors of every 2 _BAND + 1-th unknown (23 evaluations). The w_a add the columns
    of the P_b through X_a = w_a C (9 evaluations, closure())."""
    rhs = right_hand_side(p)
    pattern = sparsity(p).tocoo()
    rows, cols = pattern.row, pattern.col
    width = 2 * _BAND + 1
    colors = [np.flatnonzero(cols % width == c) for c in range(width)]

    n, others = p.n_batteries, p.n_engines > 1
    level = np.arange(n + 1)
    near = np.arange(-VARIABLES, 2 * VARIABLES)  # rows of levels m - 1, m, m + 1 from 6 m

    def closure(t: float, y: FloatArray, cond: FloatArray) -> sp.coo_matrix:
        """The columns of P_b(m) through X_a = w_a C: d rhs = (d rhs / d w)(d w / d P_b), with
        d w_a / d P_b = (delta_ab - w_a) / p_m where P_b > 0 (levels 3 apart share a pass)."""
        held = y.reshape(n + 1, VARIABLES)[:, _P].T
        total = np.maximum(held, 0.0).sum(axis=0) + REGULARIZATION
        base = rhs(t, y, np.zeros_like(cond))
        r, c, v = [], [], []
        for b in range(3):
            slope = (np.eye(3)[:, [b]] - cond) * (held[b] > 0) / total
            for shift in range(3):
                ms = level[shift::3]
                dw = np.zeros_like(cond)
                dw[:, ms] = slope[:, ms]
                df = rhs(t, y, dw) - base
                rr = (VARIABLES * ms[:, None] + near[None, :]).ravel()
                cc = np.repeat(VARIABLES * ms + b, near.size)
                inside = (rr >= 0) & (rr < y.size)
                r.append(rr[inside])
                c.append(cc[inside])
                v.append(df[rr[inside]])
        return sp.coo_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                             shape=(y.size, y.size))

    def jac(t: float, y: FloatArray) -> sp.csc_matrix:
        cond = conditional(p, y)
        vals = np.empty(rows.size)
        for color, where in enumerate(colors):
            unit = np.zeros_like(y)
            unit[color::width] = 1.0
            vals[where] = rhs(t, unit, cond)[rows[where]]
        linear = sp.csc_matrix((vals, (rows, cols)), shape=(y.size, y.size))
        return (linear + closure(t, y, cond)).tocsc() if others else linear

    return jac


def initial_state(p: ModelParams) -> FloatArray:
    """Batteries empty (m = 0), engines in Eq. 3 (``steady``) or |0> (``ground``), no coherence."""
    y = np.zeros(VARIABLES * (p.n_batteries + 1))
    y[_P] = p.engine_steady_populations if p.engine_init == "steady" else (1.0, 0.0, 0.0)
    return y


def _levels(y: FloatArray, n: int) -> FloatArray:
    return y.reshape(-1, n + 1, VARIABLES)


def battery_populations(y: FloatArray, n: int) -> FloatArray:
    """p_m = sum_a P_a(m) of one state (N + 1) or of a stack of states (T, N + 1)."""
    pops = _levels(y, n)[..., _P].sum(axis=-1)
    return pops[0] if y.ndim == 1 else pops


def engine_populations(y: FloatArray, n: int) -> FloatArray:
    """Mean engine level populations (T, 3): sum over m of P_a(m)."""
    return _levels(y, n)[..., _P].sum(axis=-2)


def positivity(states: FloatArray, n: int) -> float:
    """The most negative of all P_a(m) and of the smaller eigenvalue of every 2 x 2 block
    [[P_1(m), C(m)], [C(m), P_0(m + 1)]] (a principal block of the engine-battery state), over
    the stack of states."""
    x = _levels(states, n)
    a, d, c = x[..., :-1, 1], x[..., 1:, 0], x[..., :-1, _C]
    block = 0.5 * (a + d) - np.sqrt(0.25 * (a - d) ** 2 + c**2)
    smallest = float(x[..., _P].min())
    return min(smallest, float(block.min())) if block.size else smallest


@dataclass(frozen=True)
class LevelSystem:
    """The equations of a description on the Dicke levels with one tagged engine: the right-hand
    side of the 6 (N + 1) numbers and how Radau gets its Jacobian (the keyword of solve_ivp:
    ``{"jac": f}`` or ``{"jac_sparsity": S}``); ``name`` for its messages."""

    rhs: Callable[[float, FloatArray], FloatArray]
    jacobian: dict[str, object]
    name: str


def corrected_system(p: ModelParams) -> LevelSystem:
    """The corrected description's equations, with their exact Jacobian (jacobian())."""
    return LevelSystem(right_hand_side(p), {"jac": jacobian(p)}, "corrected")


def _integrate(p: ModelParams, y0: FloatArray, t: FloatArray, options: SolverOptions,
               system: LevelSystem) -> FloatArray:
    """States (len(t), 6 (N + 1)) from y0 at t[0], by Radau IIA with the banded Jacobian."""
    t = np.asarray(t, dtype=float)
    if t.size == 1 or t[-1] == t[0]:
        return np.repeat(y0[None, :], t.size, axis=0)
    n = p.n_batteries
    # Only the numbers that evolve are integrated: a number no equation depends on makes
    # solve_ivp's finite-difference Jacobian grow its step tenfold per evaluation until it
    # overflows (the NaN Jacobian then reads "Factor is exactly singular").
    moving = ~_unused(p)
    is_population = (np.arange(moving.size) % VARIABLES < 3)[moving]
    count = [0]

    def full(y: FloatArray) -> FloatArray:
        x = y0.copy()
        x[moving] = y
        return x

    def negative(_t: float, y: FloatArray) -> float:
        return float(y[is_population].min()) + BLOW_UP

    negative.terminal = True  # type: ignore[attr-defined]

    def counted(time: float, y: FloatArray) -> FloatArray:
        count[0] += 1
        if count[0] > MAX_EVALUATIONS:
            raise RuntimeError(f"no convergence within {MAX_EVALUATIONS} evaluations")
        return system.rhs(time, full(y))[moving]

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an unstable run overflows first
            sol = solve_ivp(counted, (t[0], t[-1]), y0[moving], method="Radau", t_eval=t,
                            rtol=options.rtol, atol=options.atol, events=negative,
                            **_restricted(system.jacobian, full, moving))  # type: ignore[arg-type]
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        sol = None
        message = str(exc)
    if sol is not None and sol.status == 0 and np.all(np.isfinite(sol.y)):
        states = np.repeat(y0[None, :], t.size, axis=0)
        states[1:, moving] = sol.y.T[1:]
        return states
    where = f"(N kappa^2 = {n * p.kappa**2:.3g})"
    if sol is not None and sol.status == 1:
        raise IntegrationError(f"unstable: a population fell below -{BLOW_UP:g} {where}")
    if sol is not None and sol.status == 0:  # finished, but overflowed: the hierarchy diverged
        raise IntegrationError(f"unstable: a state became non-finite {where}")
    # Radau itself gave up (a singular step matrix, its step size, the evaluation budget): the
    # closure may be sound there, so the status does not call it unstable.
    raise IntegrationError(f"integrator failed: {sol.message if sol is not None else message} "
                           f"{where}")


def _restricted(jacobian: dict[str, object], full: Callable[[FloatArray], FloatArray],
                moving: NDArray[np.bool_]) -> dict[str, object]:
    """solve_ivp's Jacobian keyword for the numbers ``moving`` only (rows and columns kept);
    ``full`` puts them back into the whole state."""
    if "jac_sparsity" in jacobian:
        pattern = sp.csc_matrix(jacobian["jac_sparsity"])
        return {"jac_sparsity": pattern[moving][:, moving]}
    exact = jacobian["jac"]

    def restricted(t: float, y: FloatArray) -> sp.csc_matrix:
        return sp.csc_matrix(exact(t, full(y))[moving][:, moving])  # type: ignore[operator]

    return {"jac": restricted}


def propagator(p: ModelParams, options: SolverOptions | None = None,
               system: LevelSystem | None = None) -> Propagator:
    """A level description as a Propagator (state: the 6 (N + 1) numbers above); the corrected
    one unless ``system`` is given."""
    options = options or SolverOptions()
    system = system or corrected_system(p)

    def advance(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        yield from _integrate(p, x0, t, options, system)

    return Propagator(initial=initial_state(p), advance=advance,
                      populations=lambda y: battery_populations(y, p.n_batteries))


def level_trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None,
                     keep: NDArray[np.bool_] | None, watch: Watch | None,
                     system: LevelSystem) -> tuple[Trajectory, Propagator]:
    """A level description on the points ``keep`` of t, calling ``watch(k, y_k, p_k)``.

    ``checks``: trace_error = max_t |sum_m p_m - 1|, min_eigenvalue = positivity() (before the
    populations are clipped for the observables).
    """
    if p.protocol != "collective":
        raise ValueError(f"the {system.name} description solves one collective problem; "
                         "the individual protocol is its pair (ModelParams.pair())")
    check_memory(system.name, corrected_solver_bytes(p, len(t)), p)
    prop = propagator(p, options, system)
    t = np.asarray(t, dtype=float)
    kept = list(follow(prop.advance(prop.initial, t), keep, watch, prop.populations))
    states, pops = np.array([y for y, _ in kept]), np.array([row for _, row in kept])
    t = t if keep is None else t[keep]
    checks = {"trace_error": float(np.abs(pops.sum(axis=1) - 1.0).max()),
              "hermiticity_error": 0.0,
              "min_eigenvalue": positivity(states, p.n_batteries)}
    engines = engine_populations(states, p.n_batteries)
    pops = np.clip(pops, 0.0, None)
    pops /= pops.sum(axis=1, keepdims=True)
    return Trajectory.from_populations(t, pops, p.w0, engines, checks), prop


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None,
               watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """The corrected description on the points ``keep`` of t, calling ``watch(k, y_k, p_k)``
    (level_trajectory)."""
    return level_trajectory(p, t, options, keep, watch, corrected_system(p))


def evolve(p: ModelParams, t: FloatArray, options: SolverOptions | None = None) -> Trajectory:
    """Battery observables of the corrected description on the grid t."""
    return trajectory(p, np.asarray(t, dtype=float), options)[0]


def product_state(p: ModelParams) -> FloatArray:
    """Eq. 3 engines times the battery of Eq. 13 at the engines' beta_e, no coherence."""
    m = np.arange(p.n_batteries + 1)
    log_q = -p.beta_e_w0_engines * m
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    y = np.zeros((p.n_batteries + 1, VARIABLES))
    y[:, _P] = np.outer(q, p.engine_steady_populations)
    return y.ravel()


def _unused(p: ModelParams) -> NDArray[np.bool_]:
    """Numbers that stay zero: C(N), Y(N - 1), Y(N), and Y, Z altogether for one engine."""
    x = np.zeros((p.n_batteries + 1, VARIABLES), dtype=bool)
    x[-1, _C] = True
    x[max(p.n_batteries - 1, 0):, _Y] = True
    if p.n_engines == 1:
        x[:, _Y] = x[:, _Z] = True
    return x.ravel()


def _newton(p: ModelParams, y: FloatArray, steps: int = 50) -> FloatArray:
    """Newton's method for rhs(y) = 0 with sum_m p_m = 1 in place of the first equation (and
    y = 0 for the unused numbers), with the Jacobian of jacobian() (quasi-Newton in the w_a)."""
    rhs = right_hand_side(p)
    trace = np.tile(np.r_[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], p.n_batteries + 1)
    unused = _unused(p)

    def residual(v: FloatArray) -> FloatArray:
        f = rhs(0.0, v)
        f[unused] = v[unused]
        f[0] = trace @ v - 1.0
        return f

    jac_of = jacobian(p)
    keep = sp.diags((~unused).astype(float))
    for _ in range(steps):
        f = residual(y)
        scale = float(np.abs(f).max())
        if scale < 1e-13 * max(p.gamma_01, 1.0):
            return y
        jac = (keep @ jac_of(0.0, y) + sp.diags(unused.astype(float))).tolil()
        jac[0, :] = trace
        y = y - spla.spsolve(jac.tocsc(), f)
        y[unused] = 0.0
    raise IntegrationError("no steady state found by Newton's method")


def steady_state(p: ModelParams) -> SteadyState:
    """The stationary state of the corrected description (level_steady_state)."""
    return level_steady_state(p, corrected_system(p), newton=True)


def level_steady_state(p: ModelParams, system: LevelSystem, newton: bool = False) -> SteadyState:
    """The stationary state of a level description.

    Without a battery environment it is the product of Eq. 3 and Eq. 13 with C = Y = Z = 0 (each
    bracket of the equations vanishes there, as for the microscopic model, docs/physics.md §3);
    its residual is checked. With one it is found by Newton's method from that state (``newton``:
    the corrected description's exact Jacobian).
    """
    if p.g_engine == 0 and p.gamma_env == 0:
        y = initial_state(p)
    else:
        y = product_state(p)
        if p.gamma_env > 0:
            if not newton:
                raise IntegrationError(f"the {system.name} description has no steady state with a "
                                       "battery environment")
            y = _newton(p, y)
        residual = float(np.abs(system.rhs(0.0, y)).max())
        if residual > 1e-10 * max(p.gamma_01, 1.0):
            raise IntegrationError(f"steady state has residual {residual:.2e}")
    pops = battery_populations(y, p.n_batteries)
    return SteadyState.from_populations(pops, p.w0,
                                        engine_populations(y[None, :], p.n_batteries)[0])


def corrected_solver_bytes(p: ModelParams, points: int = 401) -> int:
    """Radau's stages and banded Jacobian with its real and complex LU (about 60 vectors of
    6 (N + 1)) and the states kept at every grid point."""
    size = VARIABLES * (p.n_batteries + 1)
    return int(8 * size * (60 + 2 * points) + 50 * 2**20)


def assess(trajectory: Trajectory) -> str:
    """'ok', or the positivity violation beyond POSITIVITY_TOL (the figures are kept)."""
    low = trajectory.checks["min_eigenvalue"]
    return "ok" if low >= -POSITIVITY_TOL else \
        f"positivity violated (smallest block eigenvalue {low:.2e}); figures kept"


def _supports(p: ModelParams) -> str:
    return "" if p.protocol == "collective" else "solves the collective problem (the pair for Eq. 6)"


DESCRIPTION = Description(
    name="corrected", suffix="corr", label="corrected",
    summary="batteries with one tagged engine and engine pairs (docs/physics.md §7); exact at M = 1",
    trajectory=trajectory, steady_state=steady_state, memory=corrected_solver_bytes,
    supports=_supports, assess=assess, since="1.4",
)
