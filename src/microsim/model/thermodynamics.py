"""Thermodynamics of charging: heat from each bath, power, efficiency, entropy production.

Convention of local master equations: the heat current from bath b is J_b = Tr[H_0 D_b(rho)],
H_0 = H_E + H_B, with D_b the dissipator of bath b on every engine (Eq. 1). D_b acts on one
engine's populations only, so J_b follows exactly from the mean engine populations p = (p0, p1, p2):

    J_h = M w_h Gamma_h (e^{-beta_h w_h} p0 - p2),    J_c = M w_c Gamma_c (e^{-beta_c w_c} p1 - p2),

positive when the bath gives energy. A collective battery environment carries
J_env = w0 Gamma sum_m p_m [e^{-beta w0} (N - m)(m + 1) - m (N - m + 1)]. Because [H_0, V] = 0
the first law d<H_E + H_B>/dt = J_h + J_c + J_env holds exactly. The entropy production is
Sigma(t) = Delta S - beta_h Q_h - beta_c Q_c (- beta_env Q_env), Q_b = int_0^t J_b, S the von
Neumann entropy of the whole state (Spohn: Sigma >= 0).

The effective description (Eq. 8) has no engines; the heat it implies is that of the engine cycle
behind it: each quantum w0 stored takes w_h from the hot bath and gives w_c to the cold one, so
Q_h = (w_h/w0) Delta E and Q_c = -(w_c/w0) Delta E, and its efficiency is w0/w_h (Scovil and
Schulz-DuBois). Units: energies in the unit of w0, currents per unit time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import cumulative_simpson

from microsim.model.observables import shannon
from microsim.model.params import ModelParams

__all__ = [
    "THERMO_FIGURES",
    "Thermodynamics",
    "carnot_efficiency",
    "engine_energy",
    "environment_current",
    "heat_currents",
    "integrated_heats",
    "marginal_entropy",
    "ssd_efficiency",
    "thermodynamics",
    "thermodynamics_effective",
]

FloatArray = NDArray[np.float64]

#: Scalar thermodynamic results, in the order tables show them.
THERMO_FIGURES: tuple[str, ...] = (
    "heat_h_tau", "heat_c_tau", "efficiency_tau", "efficiency_ergotropy_tau",
    "heat_h_end", "heat_c_end", "efficiency_end", "efficiency_ergotropy_end",
    "entropy_production_end", "efficiency_ssd", "efficiency_carnot",
)


def ssd_efficiency(p: ModelParams) -> float:
    """Scovil-Schulz-DuBois efficiency of the three-level engine, w0 / w_h."""
    return p.w0 / p.wh


def carnot_efficiency(p: ModelParams) -> float:
    """Carnot bound 1 - beta_h / beta_c."""
    return 1.0 - p.beta_h / p.beta_c


def _engines(p: ModelParams) -> int:
    return p.n_engines if p.protocol == "collective" else p.n_batteries


def heat_currents(p: ModelParams, engine_populations: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(J_h, J_c) of all engines from the mean engine populations (..., 3), Eq. 1."""
    pops = np.asarray(engine_populations, dtype=float)
    p0, p1, p2 = pops[..., 0], pops[..., 1], pops[..., 2]
    m = _engines(p)
    j_h = m * p.wh * p.gamma_h * (p.boltz_h * p0 - p2)
    j_c = m * p.wc * p.gamma_c * (p.boltz_c * p1 - p2)
    return j_h, j_c


def environment_current(p: ModelParams, battery_populations: FloatArray) -> FloatArray:
    """J_env of the collective battery environment from the Dicke populations (..., N + 1).

    For the individual protocol (populations of one battery) the N batteries add up.
    """
    pops = np.asarray(battery_populations, dtype=float)
    if p.gamma_env == 0.0:
        return np.zeros(pops.shape[:-1])
    n = pops.shape[-1] - 1
    m = np.arange(n + 1)
    up = math.exp(-p.beta_env * p.w0) * (n - m) * (m + 1)
    down = m * (n - m + 1)
    copies = p.n_batteries if p.protocol == "individual" else 1
    return copies * p.w0 * p.gamma_env * pops @ (up - down)


def engine_energy(p: ModelParams, engine_populations: FloatArray) -> FloatArray:
    """<H_E> of all engines, M (w0 p1 + w_h p2)."""
    pops = np.asarray(engine_populations, dtype=float)
    return _engines(p) * (p.w0 * pops[..., 1] + p.wh * pops[..., 2])


def marginal_entropy(p: ModelParams, engine_populations: FloatArray,
                     battery_populations: FloatArray) -> FloatArray:
    """S(rho_B) + sum_j S(rho_{E_j}): the entropy without correlations (an upper bound of S).

    The battery state is diagonal in the Dicke basis and each engine's reduced state is diagonal
    (docs/physics.md §4), so both are Shannon entropies of populations.
    """
    s_b = shannon(battery_populations)
    s_e = shannon(engine_populations)
    if p.protocol == "individual":
        return p.n_batteries * (s_b + s_e)
    return s_b + p.n_engines * s_e


@dataclass(frozen=True)
class Thermodynamics:
    """Time series (on the trajectory's grid) and figures of one charging run."""

    heat_current_h: FloatArray
    heat_current_c: FloatArray
    heat_current_env: FloatArray
    power: FloatArray
    heat_h: FloatArray
    heat_c: FloatArray
    heat_env: FloatArray
    entropy_production: FloatArray
    entropy_production_marginal: FloatArray
    figures: dict[str, float]


def integrated_heats(p: ModelParams, energy: FloatArray, engine_populations: FloatArray,
                     heat_env: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Q_h(t), Q_c(t) exactly from the state at t, without time quadrature.

    Per engine, dp2/dt = a + b (a, b: the hot and cold jump flows, J_h = M w_h a, J_c = M w_c b),
    dp0/dt = -a - F and dp1/dt = -b + F, where F is the coupling flow |0> -> |1>, which takes
    M w0 F from the batteries: d<H_B>/dt = -M w0 F + J_env. Integrating,
    Q_h = M w_h [-Delta p0 + (Delta E_B - Q_env)/(M w0)] and
    Q_c = M w_c [-Delta p1 - (Delta E_B - Q_env)/(M w0)].
    The currents J_b themselves (the definition Tr[H_0 D_b rho]) are independent of this;
    tests check that their integral agrees.
    """
    pops = np.asarray(engine_populations, dtype=float)
    m = _engines(p)
    transferred = (np.asarray(energy, dtype=float) - energy[0] - heat_env) / (m * p.w0)
    heat_h = m * p.wh * (-(pops[:, 0] - pops[0, 0]) + transferred)
    heat_c = m * p.wc * (-(pops[:, 1] - pops[0, 1]) - transferred)
    return heat_h, heat_c


def _integral(t: FloatArray, current: FloatArray) -> FloatArray:
    if t.size < 3:
        return np.concatenate([[0.0], np.cumsum(np.diff(t) * 0.5 * (current[1:] + current[:-1]))])
    return cumulative_simpson(current, x=t, initial=0.0)


def _at(t: FloatArray, values: FloatArray, when: float) -> float:
    return float(np.interp(when, t, values)) if math.isfinite(when) else math.nan


def _figures(p: ModelParams, t: FloatArray, energy: FloatArray, ergotropy: FloatArray,
             heat_h: FloatArray, heat_c: FloatArray, sigma: FloatArray, tau: float
             ) -> dict[str, float]:
    out = {"efficiency_ssd": ssd_efficiency(p), "efficiency_carnot": carnot_efficiency(p)}
    for label, when in (("tau", tau), ("end", float(t[-1]))):
        q_h = _at(t, heat_h, when)
        out[f"heat_h_{label}"] = q_h
        out[f"heat_c_{label}"] = _at(t, heat_c, when)
        stored = _at(t, energy, when) - float(energy[0])
        out[f"efficiency_{label}"] = stored / q_h if q_h > 0 else math.nan
        out[f"efficiency_ergotropy_{label}"] = _at(t, ergotropy, when) / q_h if q_h > 0 \
            else math.nan
    out["entropy_production_end"] = float(sigma[-1])
    return out


def thermodynamics(p: ModelParams, t: FloatArray, energy: FloatArray, ergotropy: FloatArray,
                   engine_populations: FloatArray, battery_populations: FloatArray,
                   entropy: FloatArray | None, tau: float) -> Thermodynamics:
    """Heat currents, integrated heats, power, efficiencies and entropy production of a
    microscopic trajectory (any microscopic solver).

    ``entropy`` is the von Neumann entropy of the whole state where the solver has it (full
    tensor space); without it the entropy production is NaN and only the correlation-free
    ``entropy_production_marginal`` (>= Sigma) is given.
    """
    t = np.asarray(t, dtype=float)
    j_h, j_c = heat_currents(p, engine_populations)
    j_env = environment_current(p, battery_populations)
    heat_env = _integral(t, j_env)
    heat_h, heat_c = integrated_heats(p, energy, engine_populations, heat_env)
    flow = p.beta_h * heat_h + p.beta_c * heat_c + p.beta_env * heat_env
    marginal = marginal_entropy(p, engine_populations, battery_populations)
    sigma_marginal = marginal - marginal[0] - flow
    sigma = entropy - entropy[0] - flow if entropy is not None else np.full_like(t, np.nan)
    power = np.gradient(energy, t, edge_order=2) if t.size > 2 else np.zeros_like(t)
    return Thermodynamics(
        heat_current_h=j_h, heat_current_c=j_c, heat_current_env=j_env, power=power,
        heat_h=heat_h, heat_c=heat_c, heat_env=heat_env, entropy_production=sigma,
        entropy_production_marginal=sigma_marginal,
        figures=_figures(p, t, energy, ergotropy, heat_h, heat_c, sigma, tau),
    )


def thermodynamics_effective(p: ModelParams, t: FloatArray, energy: FloatArray,
                             ergotropy: FloatArray, tau: float) -> Thermodynamics:
    """The heat the effective description implies: Q_h = (w_h/w0) Delta E, Q_c = -(w_c/w0) Delta E.

    (Without a battery environment; with one, Eq. 8 does not say which channel a quantum took.)
    """
    t = np.asarray(t, dtype=float)
    stored = np.asarray(energy, dtype=float) - float(energy[0])
    power = np.gradient(energy, t, edge_order=2) if t.size > 2 else np.zeros_like(t)
    heat_h, heat_c = (p.wh / p.w0) * stored, -(p.wc / p.w0) * stored
    nan = np.full_like(t, np.nan)
    return Thermodynamics(
        heat_current_h=(p.wh / p.w0) * power, heat_current_c=-(p.wc / p.w0) * power,
        heat_current_env=np.zeros_like(t), power=power, heat_h=heat_h, heat_c=heat_c,
        heat_env=np.zeros_like(t), entropy_production=nan, entropy_production_marginal=nan,
        figures=_figures(p, t, energy, ergotropy, heat_h, heat_c, nan, tau),
    )
