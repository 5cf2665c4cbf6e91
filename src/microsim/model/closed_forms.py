"""Closed forms of the effective description (Eq. 13-20); x := beta_e w0 < 0 throughout.

Written with u := e^{x} < 1 and the deficit n = N - m so that large N never overflows:
the steady state of Eq. 8 is p_m = e^{-x m}/Z_N (Eq. 13), i.e. the deficit is a geometric
distribution u^n truncated at N.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "capacity",
    "charging_time_ratio_estimate",
    "charging_time_single",
    "ergotropy_individual",
    "fluctuation",
    "fluctuation_limit",
    "passive_energy_collective",
    "passive_energy_limit",
    "steady_populations",
]


def _check(x: float) -> float:
    if not x < 0:
        raise ValueError(f"beta_e_w0 must be < 0 (population inversion), got {x}")
    return math.exp(x)


def steady_populations(n: int, x: float) -> NDArray[np.float64]:
    """Eq. 13: p_m = e^{-x m} / Z_N, m = 0..N excitations of the Dicke ladder."""
    u = _check(x)
    deficit = np.arange(n, -1, -1, dtype=float)
    weights = u**deficit
    return weights / weights.sum()


def _mean_deficit(n: int, u: float) -> float:
    """<N - m> of Eq. 13: u/(1-u) - (N+1) u^{N+1}/(1-u^{N+1})."""
    tail = u ** (n + 1)
    return u / (1.0 - u) - (n + 1) * tail / (1.0 - tail)


def capacity(n: int, x: float) -> float:
    """Eq. 14: e_N = <H_B>_ss / (N w0) = 1 - <N - m>/N; e_N -> 1 as N -> infinity."""
    return 1.0 - _mean_deficit(n, _check(x)) / n


def fluctuation(n: int, x: float, w0: float = 1.0) -> float:
    """Energy fluctuation of Eq. 13 at finite N: w0 sqrt(u/(1-u)^2 - (N+1)^2 u^{N+1}/(1-u^{N+1})^2)."""
    u = _check(x)
    tail = u ** (n + 1)
    var = u / (1.0 - u) ** 2 - (n + 1) ** 2 * tail / (1.0 - tail) ** 2
    return w0 * math.sqrt(max(var, 0.0))


def fluctuation_limit(x: float, w0: float = 1.0) -> float:
    """Eq. 15: sigma_N -> (w0/2) csch(-x/2) as N -> infinity."""
    _check(x)
    return 0.5 * w0 / math.sinh(-0.5 * x)


def passive_energy_collective(n: int, x: float, w0: float = 1.0) -> float:
    """Eq. 16: passive energy of the collective steady state, w0 (1 - e^{-x N}/Z_N)."""
    u = _check(x)
    return w0 * (1.0 - (1.0 - u) / (1.0 - u ** (n + 1)))


def passive_energy_limit(x: float, w0: float = 1.0) -> float:
    """Eq. 16, N -> infinity: the passive energy tends to w0 e^{x}, so ergotropy/energy -> 1."""
    return w0 * _check(x)


def ergotropy_individual(n: int, x: float, w0: float = 1.0) -> float:
    """Individual charging: N E_1 = -N w0 tanh(x/2); ergotropy/energy = 1 - e^{x}."""
    _check(x)
    return -n * w0 * math.tanh(0.5 * x)


def charging_time_single(gamma_e: float, x: float, epsilon: float = 1e-3) -> float:
    """tau_1 of Eq. 17 exactly: one battery relaxes as e^{-Gamma_e (1 + e^{-x}) t}.

    The relative energy deficit of a two-level battery started empty is exactly that
    exponential, so tau_1 = ln(1/epsilon) / (Gamma_e (1 + e^{-x})).
    """
    _check(x)
    return math.log(1.0 / epsilon) / (gamma_e * (1.0 + math.exp(-x)))


def charging_time_ratio_estimate(n: int, x: float, epsilon: float = 1e-3) -> float:
    """Mean-field estimate of tau_1/tau_N (the N/log N law of Eq. 18-20).

    For N >> 1 the mean excitation obeys the logistic equation ds/dt = Gamma_e N (y - 1) s(1 - s),
    y = e^{-x}, seeded at s_0 = y/((y - 1) N) by spontaneous excitation, which gives
    tau_N ~ [ln(1/epsilon) + ln((y - 1) N / y)] / (Gamma_e N (y - 1)); divided into tau_1 this is
    N (y - 1) ln(1/eps) / ((1 + y)(ln(1/eps) + ln((y - 1) N / y))), growing like N / log N.
    This is our derivation, not a transcription of the paper's constants.
    """
    _check(x)
    y = math.exp(-x)
    log_eps = math.log(1.0 / epsilon)
    return n * (y - 1.0) * log_eps / ((1.0 + y) * (log_eps + math.log((y - 1.0) * n / y)))
