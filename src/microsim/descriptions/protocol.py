"""The one shape every description of the charging problem has, and the loop they share.

A description solves the collective problem of one ``ModelParams`` (the individual protocol is
its one-engine, one-battery pair, repeated N times by the comparison, Eq. 6) on a time grid and
returns the battery's Dicke populations with the observables derived from them (a Trajectory),
a Propagator that continues the solution from any state it returned (for refining maxima and
crossings in time, analysis/refinement.py) and its steady state. Exact descriptions (the full
tensor space, the permutation-symmetric solver) are the reference of a comparison; approximate
ones (Eq. 8, the corrected and the large-N descriptions) are measured against it. Their figures
and time series carry the description's ``suffix`` (``tau_eff``, ``energy_corr``); the stored
fields follow from it (analysis/fields.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.options import SolverOptions
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.params import ModelParams

__all__ = [
    "Description",
    "Watch",
    "collective_only",
    "follow",
    "resume",
]

FloatArray = NDArray[np.float64]
State = TypeVar("State")

#: ``watch(k, x_k, p_k)``: called with every state of the grid and its Dicke populations.
Watch = Callable[[int, NDArray, FloatArray], None]


class TrajectoryFunction(Protocol):
    def __call__(self, p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
                 keep: NDArray[np.bool_] | None = None, watch: Watch | None = None,
                 ) -> tuple[Trajectory, Propagator]: ...


def _supports_everything(_p: ModelParams) -> str:
    return ""


def collective_only(p: ModelParams) -> str:
    """``supports`` of a description derived for the collective coupling (Eq. 5) without a
    battery environment: '' if p is such a problem, else why not."""
    if p.protocol != "collective":
        return "solves the collective problem (the pair for Eq. 6)"
    if p.gamma_env > 0:
        return "not derived with a battery environment"
    return ""


def _always_ok(_trajectory: Trajectory) -> str:
    return "ok"


@dataclass(frozen=True)
class Description:
    """One description, registered by name (descriptions.register).

    ``trajectory(p, t, options, keep, watch)`` solves the collective problem p on the grid t,
    calls ``watch(k, x_k, p_k)`` at every t_k and returns the Trajectory on the points ``keep``
    with its Propagator; ``steady_state(p)`` the steady state reached from the initial state,
    solved directly; ``memory(p, points)`` the bytes it needs, before anything is built;
    ``supports(p)`` '' if it can solve p, else why not (one sentence); ``assess(trajectory)`` its
    status after a run: 'ok', or why its figures are suspect (kept) — a failure to solve is an
    IntegrationError or ResourceError instead. ``suffix`` names its figures and series
    (``E_ss_<suffix>``, ``energy_<suffix>``), ``error_suffix`` its error measures
    (``eps_traj<error_suffix>``; '' for Eq. 8, whose errors are the paper's eps_traj, eps_tau,
    D_max); ``exact`` descriptions are references, ``required`` ones fail the point when they
    fail, the others report their status. ``summary`` is the one line the docs tables show;
    ``since`` the schema version (analysis/fields.py) that added its fields.
    """

    name: str
    suffix: str
    label: str
    summary: str
    trajectory: TrajectoryFunction
    steady_state: Callable[[ModelParams], SteadyState]
    memory: Callable[[ModelParams, int], int]
    exact: bool = False
    required: bool = False
    supports: Callable[[ModelParams], str] = _supports_everything
    assess: Callable[[Trajectory], str] = _always_ok
    errors: str | None = None
    since: str = "1.0"

    @property
    def error_suffix(self) -> str:
        """Suffix of this description's error figures: ``errors`` if given, else '_' + suffix."""
        return f"_{self.suffix}" if self.errors is None else self.errors


def follow(states: Iterable[State], keep: NDArray[np.bool_] | None,
           watch: Watch | None, populations: Callable[[State], FloatArray],
           ) -> Iterator[tuple[State, FloatArray]]:
    """The states of a grid that ``keep`` marks (all if None), with their Dicke populations,
    after ``watch(k, x_k, p_k)`` has seen every state: the loop every trajectory() runs."""
    for k, x in enumerate(states):
        pops = populations(x)
        if watch is not None:
            watch(k, x, pops)  # type: ignore[arg-type]
        if keep is None or keep[k]:
            yield x, pops


def resume(propagate: Callable[[FloatArray, FloatArray], Iterator[FloatArray]], x: FloatArray,
           t: FloatArray, done: int) -> Iterator[FloatArray]:
    """Hand a grid over to another propagation after ``done`` of its states were returned: it
    restarts from x, the last state returned (at t[done - 1]), and yields t[done:] onwards."""
    states = propagate(x, t[max(done - 1, 0):])
    if done:
        next(states)
    yield from states
