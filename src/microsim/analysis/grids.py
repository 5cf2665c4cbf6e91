"""Time grids of a comparison: Eq. 8's charging time (Eq. 17), which sets them, and the default grid."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from microsim.analysis.refinement import Crossing, refine_crossing
from microsim.descriptions import effective
from microsim.model.params import ModelParams

__all__ = ["default_time_grid", "effective_charging_time", "first_crossing"]

FloatArray = NDArray[np.float64]


def effective_charging_time(p: ModelParams, epsilon: float = 1e-3) -> float:
    """tau of Eq. 17 for the effective description (Eq. 8), to about 1e-9 relative.

    Five single-battery charging times, ln(1/eps)/(Gamma_e (1 + e^{-beta_e w0})) (Eq. 17 at
    N = 1), bound tau_N from above. The populations are followed over a geometric grid (factor
    1.6) from 1e-9 to 64 times that bound, whatever N, until the deficit falls below epsilon; the
    bracket is then refined by refinement.refine_crossing.
    """
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    q = p.pair() if p.protocol == "individual" else p
    energy_ss = effective.steady_state(q).energy
    if not energy_ss > 0:
        raise ValueError(f"the effective steady state holds no energy (E_ss = {energy_ss})")
    levels = np.arange(q.n_batteries + 1) * q.w0

    def energy(pops: FloatArray) -> float:
        return float(pops @ levels)

    prop = effective.propagator(q)
    horizon = 5.0 * math.log(1.0 / epsilon) / (q.gamma_e * (1.0 + math.exp(-q.beta_e_w0)))
    times = horizon * np.geomspace(1e-9, 64.0, 56)
    now, pops = 0.0, prop.initial
    for start in range(0, times.size, 8):
        chunk = np.concatenate([[now], times[start : start + 8]])
        states = list(prop.advance(pops, chunk))
        crossing = first_crossing(states, energy, energy_ss, epsilon)
        if crossing.index > 0:  # index 0 cannot happen: chunk[0] was checked in the previous chunk
            return refine_crossing(energy, prop, crossing, chunk)
        now, pops = float(chunk[-1]), states[-1]
    raise RuntimeError(f"the effective description does not charge to 1 - {epsilon} of E_ss "
                       f"within {64 * horizon:.3g}")


def default_time_grid(
    p: ModelParams, t_end: float | None = None, points: int = 401, epsilon: float = 1e-3,
    tau_units: float = 4.0,
) -> FloatArray:
    """linspace(0, t_end, points), by default t_end = tau_units (tau_eff + ln(1/eps)/(2 gamma_01)).

    The microscopic charging lags the effective one because the engine coherence |0><1| needs a
    time of order 1/gamma_01 to build up (docs/physics.md §3); the second term keeps tau_mic on the grid.
    """
    if t_end is None:
        lag = math.log(1.0 / epsilon) / (2.0 * p.gamma_01)
        t_end = tau_units * (effective_charging_time(p, epsilon) + lag)
    return np.linspace(0.0, t_end, points)


def first_crossing(states: list[FloatArray], energy: Callable[[FloatArray], float],
                   energy_ss: float, epsilon: float) -> Crossing:
    """The first grid interval over which the energy of the states reaches 1 - epsilon of
    energy_ss (Eq. 17), with the state at its left end (refinement.Crossing)."""
    crossing = Crossing(epsilon, energy_ss)
    for k, x in enumerate(states):
        crossing.see(k, energy(x), states[max(k - 1, 0)])
    return crossing
