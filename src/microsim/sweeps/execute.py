"""Run the points of a sweep in parallel and stream their results back; no file I/O here.

Workers receive small task objects (config values and settings) and build their operators
themselves; results come back as plain arrays and are written by the parent only (sweeps/storage.py).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import numpy as np
from joblib import Parallel, delayed

from microsim.analysis.comparison import (
    Comparison,
    compare,
    compare_until_charged,
    effective_charging_time,
)
from microsim.descriptions import approximate, exact, get, memory_estimate, resolve_method
from microsim.descriptions.options import SolverOptions
from microsim.descriptions.resources import THREADS_VARIABLE
from microsim.model.params import ModelParams
from microsim.sweeps.config import ParallelSpec, SweepConfig, TimeSpec, params_from_values
from microsim.sweeps.points import FLAGS, PointResult, PointTask, missing_taus, point_key

__all__ = [
    "Progress",
    "consume",
    "description_settings",
    "execute",
    "execute_resilient",
    "guard_tolerance",
    "guard_violations",
    "point_label",
    "reach_flags",
    "run_point",
    "tasks",
]


def tasks(config: SweepConfig) -> list[PointTask]:
    """The tasks of a validated config, in sweep order."""
    out = []
    for index, values in enumerate(config.points()):
        p = params_from_values(values, config.effective)
        out.append(PointTask(index, point_key(p, config.time, config.solver), values,
                             config.effective, config.time, config.solver,
                             axes=tuple(config.axes)))
    return out


def _grid(p: ModelParams, spec: TimeSpec) -> np.ndarray:
    if spec.t_end_tau is not None:
        return np.linspace(0.0, spec.t_end_tau * effective_charging_time(p, spec.epsilon),
                           spec.points)
    return np.linspace(0.0, spec.t_end, spec.points)


def guard_tolerance(rtol: float) -> float:
    """Allowed trace, hermiticity and positivity error: 100 rtol, at least 1e-6.

    The integrator keeps each entry of the state to about rtol relative to O(1) entries, so a
    deviation a hundred times larger is a numerical failure, not round-off.
    """
    return max(1e-6, 100.0 * rtol)


def guard_violations(checks: dict[str, float], rtol: float) -> list[str]:
    """Human-readable violations of trace 1, hermiticity and positivity in a point's checks."""
    tol = guard_tolerance(rtol)
    out = []
    for side in ("mic", "eff"):
        trace = checks.get(f"trace_error_{side}", 0.0)
        herm = checks.get(f"hermiticity_error_{side}", 0.0)
        low = checks.get(f"min_eigenvalue_{side}", 0.0)
        if trace > tol:
            out.append(f"trace error {trace:.2e} > {tol:.0e} ({side})")
        if herm > tol:
            out.append(f"hermiticity error {herm:.2e} > {tol:.0e} ({side})")
        if low < -tol:
            out.append(f"smallest eigenvalue {low:.2e} < -{tol:.0e} ({side})")
    return out


def _grid_origin(spec: TimeSpec) -> str:
    if spec.t_end is not None:
        return f"time.t_end = {spec.t_end:g}"
    if spec.t_end_tau is not None:
        return f"time.t_end_tau = {spec.t_end_tau:g} tau_eff"
    return "the automatic grid, lengthened to its limit"


def reach_flags(figures: dict[str, float], arrays: dict[str, np.ndarray], reference: bool,
                spec: TimeSpec) -> tuple[tuple[str, ...], str]:
    """Flags and warning of a point whose charging time (Eq. 17) is not on its grid.

    tau_mic is checked where the point has an exact ``reference`` (not for method 'effective',
    which has no microscopic solution by design); tau_eff always. The warning names the end of
    the grid, where it comes from and the energy deficit left there, e.g. "tau_mic not reached:
    t_end = 12 (time.t_end = 12) ends before the microscopic charging time (energy deficit 0.31
    > epsilon = 0.001 at t_end); tau_mic, eps_tau, power_mic and the figures at tau are NaN".
    """
    t_end = float(arrays["t"][-1]) if "t" in arrays and len(arrays["t"]) else math.nan
    flags = missing_taus(figures.get("tau_mic", math.nan), figures.get("tau_eff", math.nan),
                         reference)
    sentences = []
    for flag in flags:
        side = flag.split("_")[1]
        label = "microscopic" if side == "mic" else "effective"
        e_ss = figures.get(f"E_ss_{side}", math.nan)
        energy = arrays.get(f"energy_{side}")
        if energy is not None and len(energy) and e_ss > 0:
            left = (f"energy deficit {(e_ss - float(energy[-1])) / e_ss:.3g} > epsilon = "
                    f"{spec.epsilon:g} at t_end")
        else:
            left = f"steady-state energy {e_ss:.3g}"
        sentences.append(
            f"{FLAGS[flag]}: t_end = {t_end:.6g} ({_grid_origin(spec)}) ends before the {label} "
            f"charging time ({left}); tau_{side}, eps_tau, power_{side} and the figures at tau "
            "are NaN")
    return flags, "; ".join(sentences)


def description_settings(c: Comparison) -> dict[str, Any]:
    """The point attributes of each description: ``<suffix>_status`` of the approximate ones
    ('ok', why it failed or is suspect; 'not run' where it does not support the problem) and
    the wall time of each that ran, ``wall_time_<suffix>`` (seconds)."""
    out: dict[str, Any] = {f"{get(name).suffix}_status": "not run" for name in approximate()}
    for name, stats in c.stats.items():
        out[f"wall_time_{get(name).suffix}"] = float(stats["wall_time"])
    out.update({f"{get(name).suffix}_status": status for name, status in c.status.items()})
    return out


def run_point(task: PointTask) -> PointResult:
    """Compute one point; any failure is returned as status 'failed' with the reason."""
    if os.getpid() != task.parent_pid and threading.current_thread() is threading.main_thread():
        # Ctrl-C reaches the whole process group: the parent alone stops the sweep cleanly.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    start = time.perf_counter()
    result = PointResult(task.index, task.key, "failed")
    result.settings = {
        "method_requested": task.solver.method, "integrator": task.solver.integrator,
        "propagation_requested": task.solver.propagation,
        "rtol": task.solver.rtol, "atol": task.solver.atol, "points": task.time.points,
        "epsilon": task.time.epsilon, "t_end_requested": task.time.t_end or math.nan,
        "t_end_tau": task.time.t_end_tau or math.nan,
    }
    try:
        p = task.params()
        result.params, result.derived = p.as_dict(), p.derived()
        result.method = resolve_method(task.solver.method, p)
        options = SolverOptions(rtol=task.solver.rtol, atol=task.solver.atol,
                                method=task.solver.integrator,
                                propagation=task.solver.propagation)
        spec = task.time
        with warnings.catch_warnings():  # a point where Eq. 8 fails is legal in a sweep
            warnings.simplefilter("ignore", UserWarning)
            chosen = task.solver.descriptions
            if spec.t_end is None and spec.t_end_tau is None:
                c = compare_until_charged(p, spec.points, task.solver.method, options,
                                          spec.epsilon, descriptions=chosen)
            else:
                c = compare(p, _grid(p, spec), task.solver.method, options, spec.epsilon,
                            chosen)
        result.derived = c.derived()
        result.swept = task.swept
        result.figures = c.scalars()
        result.arrays = c.series()
        result.settings.update({f"solver_{k}": v for k, v in c.mic.solver.items()})
        result.settings.update(description_settings(c))
        result.checks = c.checks()
        violations = guard_violations(result.checks, task.solver.rtol)
        result.status = "failed" if violations else "complete"
        result.reason = "numerical guard: " + "; ".join(violations) if violations else ""
        if not violations:
            result.flags, result.warning = reach_flags(result.figures, result.arrays,
                                                       result.method in exact(), spec)
    except Exception as exc:  # a failed point must not stop the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})" if last else ""
        result.reason = f"{type(exc).__name__}: {exc}{where}"
    result.wall_time = time.perf_counter() - start
    return result


def expected_work(task: PointTask) -> tuple[float, float]:
    """Sort key of a task's expected cost: the bytes its solvers need (memory_estimate, which
    grows with the unknowns like the cost of a product), then kappa, since at fixed effective
    dynamics the bath rates, and with them the work, grow like 1/kappa^2 (Eq. 7)."""
    try:
        p = task.params()
        need = memory_estimate(task.solver.method, p, task.time.points,
                               task.solver.descriptions)
    except Exception:  # run_point reports a bad point; its place in the order does not matter
        return (0.0, 0.0)
    return (float(sum(need.values())), float(p.kappa))


def longest_first(todo: list[PointTask]) -> list[PointTask]:
    """The tasks in decreasing expected_work, so that the points that start last are short and
    the parallel workers finish together (the longest-processing-time rule)."""
    return sorted(todo, key=expected_work, reverse=True)


def execute(todo: list[PointTask], parallel: ParallelSpec) -> Iterator[PointResult]:
    """Run the tasks with joblib, yielding each result as soon as it is done (any order); in
    parallel the largest first (longest_first)."""
    if not todo:
        return iter(())
    if parallel.backend == "sequential" or (parallel.n_jobs == 1 and parallel.backend != "dask"):
        return (run_point(t) for t in todo)
    return _in_parallel(longest_first(todo), parallel)


def _in_parallel(todo: list[PointTask], parallel: ParallelSpec) -> Iterator[PointResult]:
    """The tasks on joblib's (or Dask's) workers, one point per core: MICROSIM_THREADS=1 while
    they run, inherited by the worker processes, unless the caller set it; the caller's
    environment is restored after, so that its own later solves may use every core."""
    ours = THREADS_VARIABLE not in os.environ
    if ours:
        os.environ[THREADS_VARIABLE] = "1"
    try:
        if parallel.backend == "dask":
            yield from _execute_dask(todo, parallel)
        else:
            runner = Parallel(n_jobs=parallel.n_jobs, backend=parallel.backend,
                              return_as="generator_unordered")
            yield from runner(delayed(run_point)(t) for t in todo)
    finally:
        if ours:
            os.environ.pop(THREADS_VARIABLE, None)


def _execute_dask(todo: list[PointTask], parallel: ParallelSpec) -> Iterator[PointResult]:
    """joblib's Dask backend on the given scheduler, or on a local cluster of n_jobs processes."""
    from distributed import Client, LocalCluster
    from joblib import parallel_config

    cluster = None
    if parallel.scheduler:
        client = Client(parallel.scheduler, timeout=30)
    else:
        workers = parallel.n_jobs if parallel.n_jobs > 0 else None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        with parallel_config(backend="dask"):
            yield from Parallel(n_jobs=-1, return_as="generator_unordered")(
                delayed(run_point)(t) for t in todo)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _worker_deaths() -> tuple[type[BaseException], ...]:
    """Exceptions by which joblib and Dask report a worker process that died under a task."""
    from concurrent.futures.process import BrokenProcessPool

    from joblib.externals.loky.process_executor import TerminatedWorkerError

    deaths: list[type[BaseException]] = [TerminatedWorkerError, BrokenProcessPool]
    try:
        from distributed.scheduler import KilledWorker

        deaths.append(KilledWorker)
    except ImportError:
        pass
    return tuple(deaths)


def execute_resilient(todo: list[PointTask], parallel: ParallelSpec) -> Iterator[PointResult]:
    """Like execute(), but a worker process that dies costs only its point.

    After a crash the tasks not yet returned are resubmitted; after a second crash each remaining
    task runs alone in a fresh worker, so a task that kills its worker again is identified and
    returned as failed instead of taking the sweep down.
    """
    deaths = _worker_deaths()
    remaining = {t.key: t for t in todo}
    for attempt in range(2):
        try:
            for result in execute(list(remaining.values()), parallel):
                remaining.pop(result.key, None)
                yield result
            return
        except deaths as exc:
            sys.stderr.write(f"microsim: a worker process died ({type(exc).__name__}); "
                             f"{'resubmitting' if attempt == 0 else 'isolating'} "
                             f"{len(remaining)} points\n")
    alone = ParallelSpec(n_jobs=2, backend=parallel.backend)
    for task in list(remaining.values()):
        try:
            yield from execute([task], alone)
        except deaths as exc:
            yield PointResult(task.index, task.key, "failed",
                              reason=f"WorkerDied: the worker process died while computing this "
                                     f"point, twice ({type(exc).__name__})")


#: How the progress lines name a swept parameter (others by their own name).
SHORT_NAMES = {"n_batteries": "N", "n_engines": "M"}


def point_label(values: dict[str, Any], axes: Iterable[str]) -> str:
    """A point named by its swept values, e.g. 'N=12 kappa=0.215 collective' (4 digits)."""
    parts = []
    for name in axes:
        value = values.get(name)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, float | np.floating):
            parts.append(f"{SHORT_NAMES.get(name, name)}={float(value):.4g}")
        else:
            parts.append(f"{SHORT_NAMES.get(name, name)}={value}")
    return " ".join(parts)


class Progress:
    """Points done/total, elapsed time and ETA: a tqdm bar on a terminal, log lines otherwise.

    ``names`` maps a point's key to how the lines name it (point_label); a point missing there
    is named by its key."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "sweep",
                 names: dict[str, str] | None = None) -> None:
        self.names = names or {}
        self.total, self.done, self.failed = total, 0, 0
        self.warned = 0
        self.flagged: Counter[str] = Counter()
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.label = label
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="point", file=self.stream)

    def update(self, result: PointResult) -> None:
        self.done += 1
        self.failed += result.status != "complete"
        if result.status == "complete" and result.flags:
            self.warned += 1
            self.flagged.update(result.flags)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed, warnings=self.warned)
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        status = "ok" if result.status == "complete" else f"FAILED ({result.reason})"
        warning = f"; WARNING: {result.warning}" if result.status == "complete" and result.warning \
            else ""
        self.stream.write(
            f"{self.label}: [{self.done}/{self.total}] "
            f"{self.names.get(result.key, 'point ' + result.key)} {status} in "
            f"{result.wall_time:.1f} s; elapsed {elapsed:.0f} s, ETA {eta:.0f} s{warning}\n"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the bar; count the computed points that are complete with a warning, by flag."""
        if self.bar is not None:
            self.bar.close()
        if self.warned:
            kinds = ", ".join(f"{n} x {flag}" for flag, n in self.flagged.most_common())
            self.stream.write(f"{self.label}: {self.warned} complete points with a warning "
                              f"({kinds}); the warning is stored with each point (microsim "
                              "inspect)\n")
            self.stream.flush()


def consume(results: Iterable[PointResult], progress: Progress) -> Iterator[PointResult]:
    """Pass results through while reporting progress."""
    for result in results:
        progress.update(result)
        yield result
