"""The level cumulant description: batteries exact on their Dicke levels, one tagged engine
conditional on the level, engine pairs carried, three-engine terms closed (docs/physics.md §8).

The variables are those of the corrected description (descriptions/corrected.py, §7): per level
m, P_a(m) (tagged engine in |a>, battery at m), its coherence C(m) = <1, m|rho|0, m+1> and the
pair coherences Y(m) = <1 1, m|rho|0 0, m+2>, Z(m) = <1 0, m|rho|0 1, m>. Their equations are
exact given three quantities of more engines, X_a(m) = <a 1, m|rho|a 0, m+1> (a second engine's
coherence with the tagged one in a), W(m) = <1 0 1, m|rho|0 1 0, m+1> and
Y3(m) = <1 1 1, m|rho|0 0 0, m+3>, which the corrected description closes as X_a = w_a C
(w_a(m) = P_a(m)/p_m) and W = Y3 = 0. Here:

* **upwind**: X_a(m) = w_a(m) C(m) while the other engines move the battery up (C(m) <= 0) and
  w_a(m + 1) C(m) while they move it down (C(m) > 0): the tagged engine's conditional state is
  taken on the level the flux comes from. Downwind, as in the corrected description, the
  transport of the tagged engine along the ladder is unstable once the exchange is
  underdamped (kappa >~ 1), which is where the corrected description stops;
* **three engines**: W(m) = C(m) Z(s)/p_s and Y3(m) = Y(s) C(m+2)/p_{m+2} (s the upwind level),
  the pair carried along the ladder by the other M - 2 engines (these terms vanish for M <= 2);
* **bounded inputs**: where C, Y, Z enter a closure they are held to their Cauchy-Schwarz bounds
  |C(m)|^2 <= P_1(m) P_0(m+1), |Z(m)| <= P_0 P_1/p_m, |Y(m)|^2 <= (P_1(m)^2/p_m)(P_0(m+2)^2/p_{m+2})
  (the state itself is not changed).

It is exact for one engine (M = 1: every closed term has the factor M - 1), keeps the battery
level distribution (tau, ergotropy, D_max), and Eq. 3 (x) Eq. 13 with C = Y = Z = 0 is its exact
steady state. Measured against the exact solver (docs/results.md): eps_traj 1.1 % at
N = M = 40, kappa = 0.3 (corrected 2.1 %), 4.6 % at kappa = 1.7 (corrected unstable). The
Jacobian is the banded finite-difference one of solve_ivp (the upwind switch has no derivative
at C = 0), so a step costs O(N) but more than the corrected description's.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from microsim.descriptions.corrected import (
    VARIABLES,
    LevelSystem,
    _down,
    _up,
    assess,
    corrected_solver_bytes,
    level_steady_state,
    level_trajectory,
)
from microsim.descriptions.options import SolverOptions
from microsim.descriptions.protocol import Description, Watch, collective_only
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.engine import population_generator
from microsim.model.params import ModelParams

__all__ = ["DESCRIPTION", "cumulant_system", "right_hand_side", "steady_state", "trajectory"]

FloatArray = NDArray[np.float64]

#: The layout of corrected.py: P_0, P_1, P_2, Z, C, Y per level.
_P, _Z, _C, _Y = slice(0, 3), 3, 4, 5

#: Regularization of w_a = P_a / p_m on empty levels (w_a -> Eq. 3 there).
REGULARIZATION = 1e-30

#: The equations couple level m to m - 1 .. m + 3: the Jacobian's band, in unknowns.
BAND = 4 * VARIABLES


def _amplitudes(p: ModelParams) -> FloatArray:
    """g_e s(k) for k = 0..N + 3, s(k) = sqrt(k (N - k + 1)) on 1..N and 0 elsewhere."""
    n = p.n_batteries
    k = np.arange(n + 4, dtype=float)
    return p.g_engine * np.where((k >= 1) & (k <= n),
                                 np.sqrt(np.clip(k * (n - k + 1), 0.0, None)), 0.0)


def right_hand_side(p: ModelParams) -> object:
    """d/dt of the 6 (N + 1) numbers (module docstring; docs/physics.md §8), without a battery
    environment. With b_k = g_e s(k), K = M - 1 and X_a, W, Y3 closed as above:

      dP_a(m) = (A P)_a + [-2 b_m C(m-1) (a = 0), +2 b_{m+1} C(m) (a = 1)]
                + 2K (b_{m+1} X_a(m) - b_m X_a(m-1))
      dC(m)   = -gamma_01 C + b_{m+1} (P_0(m+1) - P_1(m))
                + K (b_{m+1} (Z(m+1) - Z(m)) + b_{m+2} Y(m) - b_m Y(m-1))
      dY(m)   = -2 gamma_01 Y + 2 (b_{m+1} X_0(m+1) - b_{m+2} X_1(m))
                + (M-2) (b_{m+1} W'(m+1) - b_{m+2} W'(m) + b_{m+3} Y3(m) - b_m Y3(m-1))
      dZ(m)   = -2 gamma_01 Z + 2 (b_{m+1} X_0(m) - b_m X_1(m-1)) + 2 (M-2) (b_{m+1} W(m) - b_m W(m-1))

    with W'(m) = C(m-1) Y(s)/p_s the three-engine term of the Y pair.
    """
    n, engines = p.n_batteries, p.n_engines
    b = _amplitudes(p)
    b0, b1, b2, b3 = b[: n + 1], b[1: n + 2], b[2: n + 3], b[3: n + 4]
    bath = population_generator(p)
    gamma, others = p.gamma_01, engines - 1
    eq3 = np.asarray(p.engine_steady_populations)[:, None]

    def rhs(_t: float, y: FloatArray) -> FloatArray:
        x = y.reshape(n + 1, VARIABLES).T
        pops, z, c, yy = x[_P], x[_Z], x[_C], x[_Y]
        held = np.clip(pops, 0.0, None)
        total = held.sum(axis=0)
        inverse = 1.0 / (total + REGULARIZATION)
        bound_c = np.sqrt(held[1] * _up(held[0]))
        c_in = np.clip(c, -bound_c, bound_c)
        bound_z = held[0] * held[1] * inverse
        z_in = np.clip(z, -bound_z, bound_z)
        bound_y = np.sqrt(held[1] ** 2 * inverse * _up(_up(held[0] ** 2 * inverse)))
        y_in = np.clip(yy, -bound_y, bound_y)
        d_pops = bath @ pops
        d_pops[0] -= 2.0 * b0 * _down(c)
        d_pops[1] += 2.0 * b1 * c
        d_c = -gamma * c + b1 * (_up(pops[0]) - pops[1])
        d_y, d_z = np.zeros(n + 1), np.zeros(n + 1)
        if others:
            w = (held + REGULARIZATION * eq3) / (total + REGULARIZATION)
            upward = c_in <= 0
            xa = np.where(upward, w, _up(w)) * c_in
            d_pops += 2.0 * others * (b1 * xa - b0 * _down(xa))
            d_c += others * (b1 * (_up(z_in) - z_in) + b2 * y_in - b0 * _down(y_in))
            d_y = -2.0 * gamma * yy + 2.0 * (b1 * _up(xa[0]) - b2 * xa[1])
            d_z = -2.0 * gamma * z + 2.0 * (b1 * xa[0] - b0 * _down(xa[1]))
            if engines > 2:
                w_z = np.where(upward, z_in * inverse, _up(z_in * inverse)) * c_in
                w_y = _down(c_in * np.where(upward, y_in * inverse, _up(y_in * inverse)))
                y3 = np.where(_up(_up(upward)), y_in, _up(y_in)) * _up(_up(c_in * inverse))
                d_z += 2.0 * (engines - 2) * (b1 * w_z - b0 * _down(w_z))
                d_y += (engines - 2) * (b1 * _up(w_y) - b2 * w_y + b3 * y3 - b0 * _down(y3))
        out = np.empty_like(x)
        out[_P], out[_C], out[_Y], out[_Z] = d_pops, d_c, d_y, d_z
        out[_C, n] = 0.0  # C(N) and Y(N - 1), Y(N) are outside the ladder
        out[_Y, max(n - 1, 0):] = 0.0
        return out.T.ravel()

    return rhs


def _sparsity(p: ModelParams) -> sp.csc_matrix:
    size = VARIABLES * (p.n_batteries + 1)
    band = min(BAND, size - 1)
    offsets = range(-band, band + 1)
    return sp.diags([np.ones(size - abs(k)) for k in offsets], list(offsets), format="csc")


def cumulant_system(p: ModelParams) -> LevelSystem:
    """The level cumulant equations, Radau with the banded finite-difference Jacobian."""
    return LevelSystem(right_hand_side(p), {"jac_sparsity": _sparsity(p)},  # type: ignore[arg-type]
                       "cumulant")


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None, watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """The level cumulant description on the points ``keep`` of t (corrected.level_trajectory:
    a population below -BLOW_UP stops it as unstable, checks as the corrected description's)."""
    return level_trajectory(p, t, options, keep, watch, cumulant_system(p))


def steady_state(p: ModelParams) -> SteadyState:
    """Eq. 3 (x) Eq. 13 with C = Y = Z = 0, its residual checked (corrected.level_steady_state)."""
    return level_steady_state(p, cumulant_system(p))


def cumulant_memory(p: ModelParams, points: int) -> int:
    """As the corrected description's, with the wider band of its Jacobian (BAND)."""
    return corrected_solver_bytes(p, points) + 16 * (2 * BAND + 1) * VARIABLES * (p.n_batteries + 1)


DESCRIPTION = Description(
    name="cumulant", suffix="cum", label="cumulant",
    summary="batteries on their Dicke levels, one tagged engine given the level, engine pairs, "
            "three-engine terms closed upwind (docs/physics.md §8); exact at M = 1",
    trajectory=trajectory, steady_state=steady_state, memory=cumulant_memory,
    supports=collective_only, assess=assess, since="1.7",
)
