"""One model point: the microscopic solution against the effective one, and the error measures.

This is the unit of work of ``microsim run`` and of every sweep point (docs/physics.md §3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from microsim.observables import (
    charging_power,
    ergotropy_product,
    trace_distance_diagonal,
    trace_distance_product,
)
from microsim.params import ModelParams
from microsim.refinement import (
    Crossing,
    Objective,
    Peak,
    measurement_grid,
    refine_crossing,
    refine_maximum,
)
from microsim.resources import ResourceError
from microsim.solvers import effective, resolve_method, solver
from microsim.solvers.linear import IntegrationError, SolverOptions, single_threaded_blas
from microsim.solvers.result import Propagator, SteadyState, Trajectory
from microsim.thermodynamics import Thermodynamics, thermodynamics, thermodynamics_effective

__all__ = [
    "FIGURES",
    "Comparison",
    "CorrectedRun",
    "compare",
    "compare_until_charged",
    "default_time_grid",
    "effective_charging_time",
    "run_corrected",
]

FloatArray = NDArray[np.float64]

#: Scalar results of a comparison, in the order tables show them. The _corr figures are those of
#: the corrected description (solvers/corrected, docs/physics.md §7) against the same microscopic
#: solution, defined as Eq. 8's.
FIGURES: tuple[str, ...] = (
    "E_ss_mic", "E_ss_eff", "tau_mic", "tau_eff", "power_mic", "power_eff",
    "eps_traj", "eps_ss", "eps_tau", "D_max",
    "E_ss_corr", "tau_corr", "power_corr",
    "eps_traj_corr", "eps_ss_corr", "eps_tau_corr", "D_max_corr",
)


@dataclass(frozen=True)
class Comparison:
    """Microscopic and effective trajectories on one grid, their steady states and the figures.

    ``corr`` is the corrected description on the same grid (NaN where it was unstable), and
    ``corr_status`` 'ok', 'unstable: ...' or 'positivity violated (...)'.

    For the individual protocol the trajectories are of all N batteries (energies x N, sigma x
    sqrt(N)) while ``battery_populations`` are those of one battery, (p_0, p_1).
    """

    params: ModelParams
    method: str
    mic: Trajectory
    eff: Trajectory
    mic_ss: SteadyState
    eff_ss: SteadyState
    trace_distance: FloatArray
    figures: dict[str, float] = field(default_factory=dict)
    thermo_mic: Thermodynamics | None = None
    thermo_eff: Thermodynamics | None = None
    corr: Trajectory | None = None
    corr_status: str = ""


def _individual(pair: Trajectory, n: int, w0: float) -> Trajectory:
    """N independent copies of the pair problem (Eq. 6): energies and variances add."""
    return Trajectory(
        t=pair.t,
        battery_populations=pair.battery_populations,
        energy=n * pair.energy,
        sigma=math.sqrt(n) * pair.sigma,
        ergotropy=ergotropy_product(pair.battery_populations[:, 1], n, w0),
        engine_populations=pair.engine_populations,
        checks=pair.checks,
        entropy=None if pair.entropy is None else n * pair.entropy,
        solver=pair.solver,
    )


def _individual_ss(pair: SteadyState, n: int, w0: float) -> SteadyState:
    return SteadyState(
        battery_populations=pair.battery_populations,
        energy=n * pair.energy,
        sigma=math.sqrt(n) * pair.sigma,
        ergotropy=float(ergotropy_product(pair.battery_populations[1], n, w0)),
        engine_populations=pair.engine_populations,
    )


def _not_computed(like: Trajectory) -> Trajectory:
    """A microscopic trajectory that was not asked for (method 'effective'): NaN everywhere."""
    nan = np.full_like(like.energy, np.nan)
    return Trajectory(t=like.t, battery_populations=np.full_like(like.battery_populations, np.nan),
                      energy=nan, sigma=nan, ergotropy=nan,
                      engine_populations=np.full((like.t.size, 3), np.nan))


def _not_computed_ss(like: SteadyState) -> SteadyState:
    return SteadyState(battery_populations=np.full_like(like.battery_populations, np.nan),
                       energy=math.nan, sigma=math.nan, ergotropy=math.nan,
                       engine_populations=np.full(3, np.nan))


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
        crossing = _first_crossing(states, energy, energy_ss, epsilon)
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


class _Scan:
    """What one pass of the microscopic solution over the measurement grid keeps for refinement:
    the running maxima of the error objectives and the first crossing of the charging threshold."""

    def __init__(self, objectives: dict[str, Objective], eff_states: list[FloatArray],
                 energy: Callable[[FloatArray], float], energy_ss: float, epsilon: float,
                 readout: Callable[[FloatArray], FloatArray] = lambda x: x) -> None:
        self.objectives, self.eff_states = objectives, eff_states
        self.energy, self.readout = energy, readout
        self.peaks = {name: Peak() for name in objectives}
        self.crossing = Crossing(epsilon, energy_ss)
        self.previous: FloatArray | None = None

    def __call__(self, k: int, x: FloatArray, pops: FloatArray) -> None:
        start = x if self.previous is None else self.previous
        starts = (start, self.eff_states[max(k - 1, 0)])
        for name, objective in self.objectives.items():
            self.peaks[name].see(k, objective((pops, self.readout(self.eff_states[k]))), starts)
        self.crossing.see(k, self.energy(pops), start)
        self.previous = x


def _objectives(q: ModelParams, n: int) -> dict[str, Objective]:
    """eps_traj and the trace distance as functions of the (microscopic, effective) populations of
    the solved problem q (the pair for the individual protocol, whose N copies give the same
    eps_traj; D is that of the N-fold product states)."""
    m = np.arange(q.n_batteries + 1)

    def eps_traj(pops: Sequence[FloatArray]) -> float:
        return float(abs((pops[0] - pops[1]) @ m)) / q.n_batteries

    def distance(pops: Sequence[FloatArray]) -> float:
        if q.n_batteries != n:  # individual protocol: N copies of the pair
            return float(trace_distance_product(pops[0][1], pops[1][1], n))
        return float(trace_distance_diagonal(pops[0], pops[1]))

    return {"eps_traj": eps_traj, "D_max": distance}


def _first_crossing(states: list[FloatArray], energy: Callable[[FloatArray], float],
                    energy_ss: float, epsilon: float) -> Crossing:
    crossing = Crossing(epsilon, energy_ss)
    for k, x in enumerate(states):
        crossing.see(k, energy(x), states[max(k - 1, 0)])
    return crossing


def compare(
    p: ModelParams,
    t: FloatArray,
    method: str = "auto",
    options: SolverOptions | None = None,
    epsilon: float = 1e-3,
) -> Comparison:
    """Solve the microscopic model and Eq. 8 on the grid t and compute the error measures.

    eps_traj = max_t |E_mic - E_eff| / (N w0), eps_ss = |E_mic^ss - E_eff^ss| / (N w0),
    eps_tau = |tau_mic - tau_eff| / tau_eff (each tau from its own steady state, Eq. 17),
    D_max = max_t of the trace distance of the battery states (Dicke-diagonal: half the l1 distance
    of the populations; individual protocol: of the N-fold product states). The maxima and the
    charging times are those of the solutions, not of the grid t: both descriptions are sampled on
    t merged with early times (refinement.measurement_grid) and refined by propagation from the
    bracket of each (refinement.py, docs/physics.md §3). Trajectories are returned on t.
    The corrected description (docs/physics.md §7) is measured against the same microscopic
    solution in the same way (the _corr figures); where it fails they are NaN and
    ``corr_status`` says why.
    """
    with single_threaded_blas():
        return _compare(p, np.asarray(t, dtype=float), resolve_method(method, p),
                        options or SolverOptions(), epsilon)


@dataclass
class CorrectedRun:
    """The corrected description of one problem on the measurement grid, or why it failed."""

    status: str = "not computed"
    traj: Trajectory | None = None
    prop: Propagator | None = None
    ss: SteadyState | None = None
    states: list[FloatArray] = field(default_factory=list)
    tau: float = math.nan


def run_corrected(q: ModelParams, grid: FloatArray, keep: NDArray[np.bool_],
                  options: SolverOptions, energy: Callable[[FloatArray], float],
                  epsilon: float) -> CorrectedRun:
    """Run solvers/corrected on the solved problem q; its failures are reported, not raised: an
    unstable run leaves no trajectory (NaN figures), a positivity violation beyond
    POSITIVITY_TOL keeps the figures and says so in the status."""
    from microsim.solvers import corrected

    out = CorrectedRun()
    try:
        out.traj, out.prop = corrected.trajectory(q, grid, options, keep,
                                                  lambda _k, x, _pops: out.states.append(x))
        out.ss = corrected.steady_state(q)
    except (IntegrationError, ResourceError) as exc:
        out.status, out.traj = str(exc), None
        return out
    low = out.traj.checks["min_eigenvalue"]
    out.status = "ok" if low >= -corrected.POSITIVITY_TOL else \
        f"positivity violated (smallest block eigenvalue {low:.2e}); figures kept"
    readout = out.prop.populations
    crossing = _first_crossing(out.states, lambda y: energy(readout(y)), out.ss.energy, epsilon)
    out.tau = refine_crossing(energy, out.prop, crossing, grid)
    return out


def _compare(p: ModelParams, t: FloatArray, method: str, options: SolverOptions,
             epsilon: float) -> Comparison:
    n, w0 = p.n_batteries, p.w0
    q = p.pair() if p.protocol == "individual" else p
    grid, keep = measurement_grid(t, q.gamma_01)
    eff_states: list[FloatArray] = []
    eff, eff_prop = effective.trajectory(q, grid, options, keep,
                                         lambda _k, x, _pops: eff_states.append(x))
    eff_ss = effective.steady_state(q)
    levels = np.arange(q.n_batteries + 1) * q.w0

    def energy(pops: FloatArray) -> float:
        return float(pops @ levels)

    crossing = _first_crossing(eff_states, energy, eff_ss.energy, epsilon)
    tau_eff = refine_crossing(energy, eff_prop, crossing, grid)
    cor = run_corrected(q, grid, keep, options, energy, epsilon)
    maxima = {"eff": [math.nan, math.nan], "corr": [math.nan, math.nan]}
    if method == "effective":  # nothing to compare with (and N may be 10^5)
        mic, mic_ss = _not_computed(eff), _not_computed_ss(eff_ss)
        tau_mic = math.nan
    else:
        solver_module = solver(method)
        mic_ss = solver_module.steady_state(q)
        objectives = _objectives(q, n)
        scans = {"eff": (_Scan(objectives, eff_states, energy, mic_ss.energy, epsilon), eff_prop)}
        if cor.traj is not None and cor.prop is not None:
            scans["corr"] = (_Scan(objectives, cor.states, energy, mic_ss.energy, epsilon,
                                   cor.prop.populations), cor.prop)

        def watch(k: int, x: FloatArray, pops: FloatArray) -> None:
            for scan, _ in scans.values():
                scan(k, x, pops)

        mic, mic_prop = solver_module.trajectory(q, grid, options, keep, watch)
        for side, (scan, prop) in scans.items():
            maxima[side] = [refine_maximum(objectives[name], (mic_prop, prop), scan.peaks[name],
                                           grid) for name in ("eps_traj", "D_max")]
        tau_mic = refine_crossing(energy, mic_prop, scans["eff"][0].crossing, grid)
    corr, corr_ss = (cor.traj, cor.ss) if cor.traj is not None and cor.ss is not None else \
        (_not_computed(eff), _not_computed_ss(eff_ss))
    if p.protocol == "individual":
        eff, eff_ss = _individual(eff, n, w0), _individual_ss(eff_ss, n, w0)
        mic, mic_ss = _individual(mic, n, w0), _individual_ss(mic_ss, n, w0)
        corr, corr_ss = _individual(corr, n, w0), _individual_ss(corr_ss, n, w0)
    if method == "effective":
        distance = np.full(t.size, np.nan)
    elif p.protocol == "individual":
        distance = trace_distance_product(
            mic.battery_populations[:, 1], eff.battery_populations[:, 1], n
        )
    else:
        distance = trace_distance_diagonal(mic.battery_populations, eff.battery_populations)
    figures = {
        "E_ss_mic": mic_ss.energy,
        "E_ss_eff": eff_ss.energy,
        "tau_mic": tau_mic,
        "tau_eff": tau_eff,
        "power_mic": charging_power(mic_ss.energy, tau_mic, epsilon),
        "power_eff": charging_power(eff_ss.energy, tau_eff, epsilon),
        "eps_traj": maxima["eff"][0],
        "eps_ss": abs(mic_ss.energy - eff_ss.energy) / (n * w0),
        "eps_tau": abs(tau_mic - tau_eff) / tau_eff,
        "D_max": maxima["eff"][1],
        "E_ss_corr": corr_ss.energy,
        "tau_corr": cor.tau,
        "power_corr": charging_power(corr_ss.energy, cor.tau, epsilon),
        "eps_traj_corr": maxima["corr"][0],
        "eps_ss_corr": abs(mic_ss.energy - corr_ss.energy) / (n * w0),
        "eps_tau_corr": abs(tau_mic - cor.tau) / cor.tau,
        "D_max_corr": maxima["corr"][1],
    }
    thermo_mic = thermodynamics(p, t, mic.energy, mic.ergotropy, mic.engine_populations,
                                mic.battery_populations, mic.entropy, tau_mic)
    thermo_eff = thermodynamics_effective(p, t, eff.energy, eff.ergotropy, tau_eff)
    return Comparison(p, method, mic, eff, mic_ss, eff_ss, distance, figures, thermo_mic,
                      thermo_eff, corr, cor.status)


def compare_until_charged(
    p: ModelParams,
    points: int = 401,
    method: str = "auto",
    options: SolverOptions | None = None,
    epsilon: float = 1e-3,
    extensions: int = 3,
) -> Comparison:
    """compare() on the default grid, lengthened 4-fold (at most ``extensions`` times) until the
    microscopic charging time is on it.

    Beyond the time-scale separation the microscopic charging is limited by the engines, not by
    Gamma_e, and can be a hundred times slower than the effective one (tau_mic = 2037 against
    tau_eff = 21.4 at N = 1, kappa = 1 of the paper point), which no fixed multiple of tau_eff covers.
    """
    t = default_time_grid(p, None, points, epsilon)
    result = compare(p, t, method, options, epsilon)
    for _ in range(extensions):
        if result.method == "effective" or math.isfinite(result.figures["tau_mic"]):
            break
        t = np.linspace(0.0, 4.0 * t[-1], points)
        result = compare(p, t, method, options, epsilon)
    return result
