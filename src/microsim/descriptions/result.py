"""What every solver returns: a trajectory on the requested grid, a steady state, and a propagator
that continues the solution from any stored state (for refining maxima and crossings in time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.binomial import LazyLevels
from microsim.model.observables import dicke_energy, dicke_sigma, ergotropy_dicke

__all__ = ["Propagator", "SteadyState", "Trajectory"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Trajectory:
    """Battery and engine observables on the time grid ``t`` (energies absolute, units of w0).

    ``battery_populations[k, m]`` is the Dicke population p_m(t_k) of the collective problem (an
    array, or for the moment and delay descriptions a LazyLevels, which evaluates rows when
    read);
    ``engine_populations[k, a]`` the mean population of engine level |a> (None for Eq. 8).
    ``checks`` are the state's worst deviations along the run, before any clipping:
    ``trace_error`` = max_t |tr rho - 1|, ``hermiticity_error`` = max_t max |rho - rho^dag|,
    ``min_eigenvalue`` = min_t of the smallest eigenvalue (or population) of the state.
    ``entropy`` is the von Neumann entropy of the whole state (engines and batteries) where the
    solver has the whole spectrum (full tensor space), else None. ``solver`` records how the
    solution was computed (the symmetric solver's propagation and its work counts).
    """

    t: FloatArray
    battery_populations: FloatArray | LazyLevels
    energy: FloatArray
    sigma: FloatArray
    ergotropy: FloatArray
    engine_populations: FloatArray | None = None
    checks: dict[str, float] = field(default_factory=dict)
    entropy: FloatArray | None = None
    solver: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_t = np.shape(self.t)[0]
        for name in ("energy", "sigma", "ergotropy"):
            if np.shape(getattr(self, name)) != (n_t,):
                raise ValueError(f"{name} must have shape ({n_t},)")

    @classmethod
    def from_populations(cls, t: FloatArray, pops: FloatArray, w0: float,
                         engine_populations: FloatArray | None = None,
                         checks: dict[str, float] | None = None) -> Trajectory:
        """The observables of a Dicke-diagonal battery state p_m(t_k) (pops[k, m], m = 0..N):
        energy w0 <m>, its fluctuation and the ergotropy (Eq. 16; observables.py)."""
        return cls(t=t, battery_populations=pops, energy=dicke_energy(pops, w0),
                   sigma=dicke_sigma(pops, w0),
                   ergotropy=ergotropy_dicke(pops, pops.shape[1] - 1, w0),
                   engine_populations=engine_populations, checks=checks or {})


@dataclass(frozen=True)
class SteadyState:
    """The steady state reached from the initial state, solved directly (not a late time)."""

    battery_populations: FloatArray
    energy: float
    sigma: float
    ergotropy: float
    engine_populations: FloatArray | None = None

    @classmethod
    def from_populations(cls, pops: FloatArray, w0: float,
                         engine_populations: FloatArray | None = None) -> SteadyState:
        """The steady state of Dicke populations p_m (m = 0..N), its observables as in
        Trajectory.from_populations."""
        one = Trajectory.from_populations(np.zeros(1), pops[None, :], w0)
        return cls(battery_populations=pops, energy=float(one.energy[0]),
                   sigma=float(one.sigma[0]), ergotropy=float(one.ergotropy[0]),
                   engine_populations=engine_populations)


@dataclass(frozen=True)
class Propagator:
    """A solver's state vector, its exact-within-tolerance time evolution, and the battery readout.

    ``advance(x0, t)`` yields the states at t[0], t[1], ... (x0 is the state at t[0]; the first
    state yielded is x0 itself); ``populations(x)`` gives the Dicke populations p_m (N + 1) of one
    state. The same propagation serves the output grid and every refinement (analysis/comparison.py), so a
    refined value is a value of the same solution.
    """

    initial: NDArray
    advance: Callable[[NDArray, FloatArray], Iterator[NDArray]]
    populations: Callable[[NDArray], FloatArray]
