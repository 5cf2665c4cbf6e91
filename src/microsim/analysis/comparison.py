"""One model point: the exact reference against every approximate description, and the errors.

This is the unit of work of ``microsim run`` and of every sweep point (docs/physics.md §3). The
descriptions come from the registry (microsim.descriptions); the names of what a comparison
produces from analysis/fields.py.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from microsim.analysis.fields import EFFECTIVE_THERMO, PREDICTED, scalar_fields
from microsim.analysis.grids import default_time_grid, effective_charging_time, first_crossing
from microsim.analysis.prediction import WARN_EPS_TRAJ, Prediction, predict
from microsim.analysis.refinement import (
    Crossing,
    Objective,
    Peak,
    measurement_grid,
    refine_crossing,
    refine_maximum,
)
from microsim.descriptions import (
    BASELINE,
    approximate,
    default_descriptions,
    exact,
    get,
    resolve_method,
)
from microsim.descriptions.numerics.linear import single_threaded_blas
from microsim.descriptions.options import IntegrationError, SolverOptions
from microsim.descriptions.protocol import Description
from microsim.descriptions.resources import ResourceError
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.observables import (
    charging_power,
    ergotropy_product,
    trace_distance_diagonal,
    trace_distance_product,
)
from microsim.model.params import ModelParams
from microsim.model.thermodynamics import (
    THERMO_FIGURES,
    Thermodynamics,
    thermodynamics,
    thermodynamics_effective,
)

__all__ = [
    "Comparison",
    "Run",
    "chosen_descriptions",
    "compare",
    "compare_until_charged",
    "default_time_grid",
    "effective_charging_time",
    "run_description",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Comparison:
    """The exact reference and every approximate description on one grid, and the figures.

    ``mic`` and ``mic_ss`` are the reference's trajectory and steady state (NaN for a method
    without one); ``runs`` maps each approximate description's name to its Run (trajectory,
    steady state, status, charging time; NaN trajectory where it failed, ``status`` says why).
    ``eff``, ``corr`` and their steady states and status are those of Eq. 8 and the corrected
    description. ``stats`` holds per description what ran and its wall time in seconds;
    ``prediction`` Eq. 8's error as the law predicts it (analysis/prediction.py).

    For the individual protocol the trajectories are of all N batteries (energies x N, sigma x
    sqrt(N)) while ``battery_populations`` are those of one battery, (p_0, p_1).
    """

    params: ModelParams
    method: str
    mic: Trajectory
    mic_ss: SteadyState
    runs: dict[str, Run]
    trace_distance: FloatArray
    figures: dict[str, float] = field(default_factory=dict)
    thermo_mic: Thermodynamics | None = None
    thermo_eff: Thermodynamics | None = None
    stats: dict[str, dict[str, float | str]] = field(default_factory=dict)
    prediction: Prediction | None = None

    def trajectory(self, name: str) -> Trajectory:
        """The trajectory of the approximate description ``name`` (NaN where it failed)."""
        return self.runs[name].shown

    @property
    def status(self) -> dict[str, str]:
        """Each approximate description's status: 'ok', why it failed, or why it is suspect."""
        return {name: run.status for name, run in self.runs.items()}

    def sides(self) -> dict[str, Trajectory]:
        """The reported trajectory of the reference and of every approximate description that
        ran, by figure suffix (``mic``, ``eff``, ``corr``, ...)."""
        return {"mic": self.mic, **{get(name).suffix: run.shown
                                    for name, run in self.runs.items()}}

    def scalars(self) -> dict[str, float]:
        """Every scalar the comparison produced: the figures and both sides' thermodynamics
        (analysis/fields.scalar_fields, NaN where a description did not run)."""
        out = {f.name: math.nan for f in scalar_fields()}
        out.update({k: float(v) for k, v in self.figures.items()})
        if self.thermo_mic is not None:
            out.update({k: float(self.thermo_mic.figures[k]) for k in THERMO_FIGURES})
        if self.thermo_eff is not None:
            out.update({f"{k}_eff": float(self.thermo_eff.figures[k]) for k in EFFECTIVE_THERMO})
        return out

    def series(self) -> dict[str, NDArray]:
        """Every time series on the grid t (analysis/fields.series_fields): each side's energy,
        fluctuation, ergotropy and Dicke populations, the engines, the trace distance of Eq. 8
        and the thermodynamics."""
        t = self.mic.t
        out: dict[str, NDArray] = {"t": t}
        for suffix, traj in self.sides().items():
            out.update({f"energy_{suffix}": traj.energy, f"sigma_{suffix}": traj.sigma,
                        f"ergotropy_{suffix}": traj.ergotropy,
                        f"battery_populations_{suffix}": traj.battery_populations})
        engine = self.mic.engine_populations
        out["engine_populations"] = engine if engine is not None else np.full((t.size, 3), np.nan)
        out["trace_distance"] = self.trace_distance
        tm, te = self.thermo_mic, self.thermo_eff
        if tm is not None and te is not None:
            out.update({
                "heat_current_h": tm.heat_current_h, "heat_current_c": tm.heat_current_c,
                "heat_current_env": tm.heat_current_env,
                "heat_h": tm.heat_h, "heat_c": tm.heat_c, "heat_env": tm.heat_env,
                "battery_power_mic": tm.power, "battery_power_eff": te.power,
                "heat_h_eff": te.heat_h, "heat_c_eff": te.heat_c,
                "entropy_production": tm.entropy_production,
                "entropy_production_marginal": tm.entropy_production_marginal,
            })
        return out

    def derived(self) -> dict[str, float]:
        """The problem's derived quantities (ModelParams.derived) and the law's prediction of
        Eq. 8's error (eps_traj_predicted, eps_tau_predicted)."""
        predicted = self.prediction.figures() if self.prediction is not None else \
            {f.name: math.nan for f in PREDICTED}
        return {**self.params.derived(), **predicted}

    def checks(self) -> dict[str, float]:
        """Each side's state checks (trace, hermiticity, smallest eigenvalue, ...) as
        ``<check>_<suffix>``."""
        return {f"{k}_{suffix}": v for suffix, traj in self.sides().items()
                for k, v in traj.checks.items()}

    @property
    def eff(self) -> Trajectory:
        return self.trajectory(BASELINE)

    @property
    def eff_ss(self) -> SteadyState:
        return self.runs[BASELINE].shown_ss

    @property
    def corr(self) -> Trajectory:
        return self.trajectory("corrected")

    @property
    def corr_status(self) -> str:
        return self.runs["corrected"].status if "corrected" in self.runs else "not computed"


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


def compare(
    p: ModelParams,
    t: FloatArray,
    method: str = "auto",
    options: SolverOptions | None = None,
    epsilon: float = 1e-3,
    descriptions: Sequence[str] | None = None,
    expected: Prediction | None = None,
) -> Comparison:
    """Solve the exact reference and the approximate descriptions on the grid t; the errors.

    ``method`` picks the reference (descriptions.resolve_method; an approximate name runs
    without one), ``descriptions`` the approximate descriptions (default: every one that supports
    the problem, descriptions.default_descriptions; Eq. 8 always runs). For each, against the
    reference: eps_traj = max_t |E_mic - E|/(N w0), eps_ss = |E_mic^ss - E^ss|/(N w0),
    eps_tau = |tau_mic - tau|/tau (each tau from its own steady state, Eq. 17), D_max = max_t of
    the trace distance of the battery states (Dicke-diagonal: half the l1 distance of the
    populations; individual protocol: of the N-fold product states). The maxima and the
    charging times are those of the solutions, not of the grid t: every description is sampled
    on t merged with early times (refinement.measurement_grid) and refined by propagation from
    the bracket of each (analysis/refinement.py, docs/physics.md §3). Trajectories are returned on t.
    A description other than Eq. 8 that fails reports NaN and why (``Comparison.status``).
    Where the law (analysis/prediction.py) predicts eps_traj > WARN_EPS_TRAJ it warns that
    Eq. 8 is not expected to hold; ``expected`` is that prediction if already computed (it does
    not depend on the grid).
    """
    resolved = resolve_method(method, p)
    q = p.pair() if p.protocol == "individual" else p
    names = chosen_descriptions(resolved, q, descriptions)
    with single_threaded_blas():
        result = _compare(p, np.asarray(t, dtype=float), resolved, options or SolverOptions(),
                          epsilon, names)
        expected = predict(p) if expected is None else expected
    if expected.eps_traj_predicted > WARN_EPS_TRAJ:
        warnings.warn(
            f"the effective description (Eq. 8) is not expected to hold here: the law "
            f"predicts eps_traj = {expected.eps_traj_predicted:.3g} > {WARN_EPS_TRAJ:g} "
            f"(docs/physics.md §3; kappa = {p.kappa:.3g})", stacklevel=2)
    return dataclasses.replace(result, prediction=expected)


def chosen_descriptions(method: str, q: ModelParams, asked: Sequence[str] | None = None
                        ) -> tuple[str, ...]:
    """The approximate descriptions a comparison of the solved problem q runs, in registry
    order, Eq. 8 first: ``asked`` (each must support q) or descriptions.default_descriptions."""
    if asked is None:
        return default_descriptions(method, q)
    names = set(asked) | {BASELINE}
    for name in names:
        d = get(name)
        if d.exact:
            raise ValueError(f"{name!r} is an exact description: choose it with method, "
                             f"descriptions are the approximate ones ({', '.join(approximate())})")
        reason = d.supports(q)
        if reason:
            raise ValueError(f"the {name} description does not support this problem: {reason}")
    return tuple(name for name in approximate() if name in names)


@dataclass
class Run:
    """One approximate description of the solved problem on the measurement grid, or why it failed.

    ``traj``, ``prop``, ``ss`` and ``states`` are of the solved problem (the pair for Eq. 6);
    ``shown`` and ``shown_ss`` what the comparison reports (N copies for Eq. 6, NaN if it failed).
    """

    name: str
    status: str = "not computed"
    traj: Trajectory | None = None
    prop: Propagator | None = None
    ss: SteadyState | None = None
    states: list[FloatArray] = field(default_factory=list)
    tau: float = math.nan
    wall_time: float = 0.0
    shown: Trajectory | None = None
    shown_ss: SteadyState | None = None


def run_description(d: Description, q: ModelParams, grid: FloatArray, keep: NDArray[np.bool_],
                    options: SolverOptions, energy: Callable[[FloatArray], float],
                    epsilon: float) -> Run:
    """Run one approximate description on the solved problem q: its trajectory on the
    measurement grid (every state kept for refinement), its steady state and its charging time.
    A failure (IntegrationError, ResourceError) of a description that is not ``required`` leaves
    no trajectory (NaN figures) and the reason as status; otherwise ``d.assess`` gives it."""
    out = Run(d.name)
    start = time.perf_counter()
    try:
        out.traj, out.prop = d.trajectory(q, grid, options, keep,
                                          lambda _k, x, _pops: out.states.append(x))
        out.ss = d.steady_state(q)
    except (IntegrationError, ResourceError) as exc:
        if d.required:
            raise
        out.status, out.traj = str(exc), None
        out.wall_time = time.perf_counter() - start
        return out
    out.status = d.assess(out.traj)
    readout = out.prop.populations
    crossing = first_crossing(out.states, lambda y: energy(readout(y)), out.ss.energy, epsilon)
    out.tau = refine_crossing(energy, out.prop, crossing, grid)
    out.wall_time = time.perf_counter() - start
    return out


def _shown(run: Run, like: Run, p: ModelParams) -> None:
    """What the comparison reports of a run: N copies for Eq. 6, NaN where it failed."""
    traj, ss = (run.traj, run.ss) if run.traj is not None and run.ss is not None else \
        (_not_computed(like.traj), _not_computed_ss(like.ss))
    if p.protocol == "individual":
        traj, ss = _individual(traj, p.n_batteries, p.w0), _individual_ss(ss, p.n_batteries, p.w0)
    run.shown, run.shown_ss = traj, ss


def _figures(d: Description, run: Run, mic_ss: SteadyState, tau_mic: float,
             maxima: list[float], n: int, w0: float, epsilon: float) -> dict[str, float]:
    """The figures of one approximate description (analysis/fields.description_figures)."""
    s, e, ss = d.suffix, d.error_suffix, run.shown_ss
    return {
        f"E_ss_{s}": ss.energy,
        f"tau_{s}": run.tau,
        f"power_{s}": charging_power(ss.energy, run.tau, epsilon),
        f"eps_traj{e}": maxima[0],
        f"eps_ss{e}": abs(mic_ss.energy - ss.energy) / (n * w0),
        f"eps_tau{e}": abs(tau_mic - run.tau) / run.tau,
        f"D_max{e}": maxima[1],
    }


def _compare(p: ModelParams, t: FloatArray, method: str, options: SolverOptions,
             epsilon: float, names: Sequence[str]) -> Comparison:
    n, w0 = p.n_batteries, p.w0
    q = p.pair() if p.protocol == "individual" else p
    grid, keep = measurement_grid(t, q.gamma_01)
    levels = np.arange(q.n_batteries + 1) * q.w0

    def energy(pops: FloatArray) -> float:
        return float(pops @ levels)

    runs = {name: run_description(get(name), q, grid, keep, options, energy, epsilon)
            for name in names}
    baseline = runs[BASELINE]
    maxima = {name: [math.nan, math.nan] for name in runs}
    stats: dict[str, dict[str, float | str]] = {}
    if method not in exact():  # nothing to compare with (and N may be 10^5)
        mic, mic_ss = _not_computed(baseline.traj), _not_computed_ss(baseline.ss)
        tau_mic = math.nan
    else:
        start = time.perf_counter()
        reference = get(method)
        mic_ss = reference.steady_state(q)
        objectives = _objectives(q, n)
        scans = {name: _Scan(objectives, run.states, energy, mic_ss.energy, epsilon,
                             run.prop.populations)
                 for name, run in runs.items() if run.traj is not None and run.prop is not None}

        def watch(k: int, x: FloatArray, pops: FloatArray) -> None:
            for scan in scans.values():
                scan(k, x, pops)

        mic, mic_prop = reference.trajectory(q, grid, options, keep, watch)
        for name, scan in scans.items():
            maxima[name] = [refine_maximum(objectives[m], (mic_prop, runs[name].prop),
                                           scan.peaks[m], grid) for m in ("eps_traj", "D_max")]
        tau_mic = refine_crossing(energy, mic_prop, scans[BASELINE].crossing, grid)
        stats[method] = {"wall_time": time.perf_counter() - start, **mic.solver}
    for run in runs.values():
        _shown(run, baseline, p)
        stats[run.name] = {"wall_time": run.wall_time,
                           **(run.traj.solver if run.traj is not None else {})}
    eff = baseline.shown
    if p.protocol == "individual":
        mic, mic_ss = _individual(mic, n, w0), _individual_ss(mic_ss, n, w0)
    if method not in exact():
        distance = np.full(t.size, np.nan)
    elif p.protocol == "individual":
        distance = trace_distance_product(
            mic.battery_populations[:, 1], eff.battery_populations[:, 1], n
        )
    else:
        distance = trace_distance_diagonal(mic.battery_populations, eff.battery_populations)
    figures = {
        "E_ss_mic": mic_ss.energy,
        "tau_mic": tau_mic,
        "power_mic": charging_power(mic_ss.energy, tau_mic, epsilon),
    }
    for name, run in runs.items():
        figures.update(_figures(get(name), run, mic_ss, tau_mic, maxima[name], n, w0, epsilon))
    thermo_mic = thermodynamics(p, t, mic.energy, mic.ergotropy, mic.engine_populations,
                                mic.battery_populations, mic.entropy, tau_mic)
    thermo_eff = thermodynamics_effective(p, t, eff.energy, eff.ergotropy, baseline.tau)
    return Comparison(p, method, mic, mic_ss, runs, distance, figures, thermo_mic, thermo_eff,
                      stats)


def compare_until_charged(
    p: ModelParams,
    points: int = 401,
    method: str = "auto",
    options: SolverOptions | None = None,
    epsilon: float = 1e-3,
    extensions: int | None = None,
    descriptions: Sequence[str] | None = None,
) -> Comparison:
    """compare() on the default grid, lengthened 4-fold (at most ``extensions`` times: 3 with an
    exact reference, 8 without) until the charging time of the reference, or of the approximate
    description run without one, is on it.

    Beyond the time-scale separation the microscopic charging is limited by the engines, not by
    Gamma_e, and can be a hundred times slower than the effective one (tau_mic = 2037 against
    tau_eff = 21.4 at N = 1, kappa = 1 of the paper point), which no fixed multiple of tau_eff
    covers; one engine charging N = 10^5 batteries takes 10^4 times Eq. 8's tau.
    """
    resolved = resolve_method(method, p)
    target = "tau_mic" if resolved in exact() else f"tau_{get(resolved).suffix}"
    extensions = (3 if resolved in exact() else 8) if extensions is None else extensions
    t = default_time_grid(p, None, points, epsilon)
    result = compare(p, t, method, options, epsilon, descriptions)
    for _ in range(extensions):
        if math.isfinite(result.figures[target]) or (
                resolved not in exact() and not result.status.get(resolved, "ok").startswith(
                    ("ok", "positivity"))):
            break
        t = np.linspace(0.0, 4.0 * t[-1], points)
        with warnings.catch_warnings():  # the first call has warned already
            warnings.simplefilter("ignore", UserWarning)
            result = compare(p, t, method, options, epsilon, descriptions, result.prediction)
    return result
