"""Which separation variable governs the error of Eq. 8? The collapse across bath parameters.

A criterion such as Eq. 7 says the error of the effective description is a function of kappa
alone. It is tested by varying what it says should not matter (the bath asymmetry, the gaps and
temperatures) at fixed effective dynamics and reading the spread of each error measure across those
bath parameters, at fixed value of the candidate variable (docs/physics.md §3):

* ``kappa`` (Eq. 7), ``kappa_01`` = g_e N'/gamma_01, ``kappa_up`` = g_e N'/min_b Gamma_b e^{-beta_b w_b}.

At small separation every measure follows y = A_b v^2 in each candidate v; a variable governs the
error if A_b does not depend on the bath b. Two numbers per (measure, protocol, N, variable):

* ``prefactor_spread``: max_b A_b / min_b A_b, with A_b fitted on the points with kappa <= SMALL
  (y / v^2, geometric mean over those points); 1 means a perfect collapse;
* ``spread``: max over the common range of v (log-log interpolation) of max_b y / min_b y, the
  spread at fixed v over the whole swept range (it also sees where the v^2 law bends).

The validity boundary: the value of a variable at which a measure reaches a level (LEVELS:
eps_traj = 1 %, eps_tau = 10 %), read off each (protocol, N, bath) curve by log-log interpolation
between the two swept points around it (``crossing``), as a function of N. If Eq. 7 is right,
its sqrt(N) included, the boundary in kappa does not depend on N; ``exponent`` fits
boundary ~ N^alpha.

Everything is read from a sweep file's /summary (dataset.SweepData), which carries the three
variables for every point (schema 1.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from microsim.sweeps.reading import SweepData

__all__ = ["BATH_AXES", "LEVELS", "MEASURES", "SMALL", "VARIABLES", "Boundary", "Collapse",
           "bath_curves", "bath_label", "boundaries", "collapse", "collapse_table", "crossing",
           "exponent"]

FloatArray = NDArray[np.float64]

#: Candidate separation variables, as stored (docs/hdf5.md).
VARIABLES: tuple[str, ...] = ("kappa", "kappa_01", "kappa_up")
#: Error measures of the verdict (docs/physics.md §3).
MEASURES: tuple[str, ...] = ("eps_traj", "eps_tau", "D_max")
#: Swept parameters that change the baths at fixed effective dynamics (what Eq. 7 says should not
#: matter at fixed kappa).
BATH_AXES: tuple[str, ...] = ("gamma_ratio", "gamma_h", "gamma_c", "wh", "beta_h", "beta_c")
#: The prefactor of the v^2 law is fitted on the points with kappa at most this (where the
#: validity sweeps find the kappa^2 law, docs/results.md).
SMALL = 0.03
#: The levels of the validity boundary: Eq. 8 is called valid while eps_traj stays below 1 % of
#: the capacity and eps_tau below 10 % of the charging time.
LEVELS: dict[str, float] = {"eps_traj": 0.01, "eps_tau": 0.1}


@dataclass(frozen=True)
class Collapse:
    """How well one variable collapses one measure across the baths of one (protocol, N)."""

    measure: str
    protocol: str
    n_batteries: int
    variable: str
    baths: int
    prefactor: float  #: geometric mean over baths of A_b in y = A_b v^2
    prefactor_spread: float  #: max_b A_b / min_b A_b
    spread: float  #: max over common v of max_b y / min_b y


def bath_label(ratio: float, wh: float, beta_c: float) -> str:
    """How a bath configuration is named in figures and tables."""
    return f"Gc/Gh = {ratio:.3g}, wh = {wh:.3g}, beta_c = {beta_c:.3g}"


def bath_curves(data: SweepData, measure: str, variable: str, protocol: str, n_batteries: int
                ) -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """(v, y, kappa) of every bath configuration, by bath_label, sorted by v; points with y <= 0
    left out.

    A bath configuration is a distinct ratio Gamma_c/Gamma_h with its (w_h, beta_h, beta_c):
    Gamma_h itself changes with kappa at fixed effective dynamics, so only the ratio enters.
    """
    rows = data.rows(protocol=protocol, n_batteries=n_batteries)
    ratio = data.column("gamma_c")[rows].astype(float) / data.column("gamma_h")[rows].astype(float)
    labels = np.stack([np.round(ratio, 9)] + [np.round(data.column(c)[rows].astype(float), 9)
                                              for c in ("wh", "beta_c", "beta_h")], axis=1)
    curves = {}
    for label in np.unique(labels, axis=0):
        mine = rows[np.all(labels == label, axis=1)]
        v = data.column(variable)[mine].astype(float)
        y = data.column(measure)[mine].astype(float)
        kappa = data.column("kappa")[mine].astype(float)
        ok = np.isfinite(v) & np.isfinite(y) & (y > 0) & (v > 0)
        order = np.argsort(v[ok])
        if ok.any():
            curves[bath_label(*label[:3])] = (v[ok][order], y[ok][order], kappa[ok][order])
    return curves


def collapse(curves: Sequence[tuple[FloatArray, FloatArray, FloatArray]], small: float = SMALL
             ) -> tuple[float, float, float]:
    """(prefactor, prefactor_spread, spread) of a set of bath curves (see the module docstring).

    NaN where the curves do not allow it (fewer than two curves, no point with kappa <= small, or
    no common range of v).
    """
    prefactors = []
    for v, y, kappa in curves:
        use = kappa <= small * (1 + 1e-9)
        if use.any():
            prefactors.append(math.exp(float(np.mean(np.log(y[use] / v[use] ** 2)))))
    if len(prefactors) >= 2:
        a = np.array(prefactors)
        prefactor, prefactor_spread = math.exp(float(np.log(a).mean())), float(a.max() / a.min())
    else:
        prefactor = prefactors[0] if prefactors else math.nan
        prefactor_spread = math.nan
    spread = math.nan
    if len(curves) >= 2:
        lo = max(float(v[0]) for v, _, _ in curves)
        hi = min(float(v[-1]) for v, _, _ in curves)
        if lo < hi:
            grid = np.geomspace(lo, hi, 33)
            logs = np.array([np.interp(np.log(grid), np.log(v), np.log(y)) for v, y, _ in curves])
            spread = float(np.exp(logs.max(axis=0) - logs.min(axis=0)).max())
    return prefactor, prefactor_spread, spread


def collapse_table(data: SweepData, measures: Sequence[str] = MEASURES,
                   variables: Sequence[str] = VARIABLES, small: float = SMALL) -> list[Collapse]:
    """Collapse of every measure in every variable, for each (protocol, N) of the file."""
    out = []
    rows = data.rows()
    for protocol in sorted({str(p) for p in data.column("protocol")[rows]}):
        for n in sorted({int(n) for n in data.column("n_batteries")[rows]}):
            for measure in measures:
                for variable in variables:
                    curves = bath_curves(data, measure, variable, protocol, n)
                    if not curves:
                        continue
                    prefactor, prefactor_spread, spread = collapse(list(curves.values()), small)
                    out.append(Collapse(measure, protocol, n, variable, len(curves), prefactor,
                                        prefactor_spread, spread))
    return out


@dataclass(frozen=True)
class Boundary:
    """Where one measure reaches its level on one (protocol, N, bath) curve, in one variable."""

    measure: str
    level: float
    protocol: str
    n_batteries: int
    bath: str
    variable: str
    value: float  #: the variable at the crossing (NaN: the curve does not cross in the swept range)


def crossing(v: FloatArray, y: FloatArray, level: float) -> float:
    """The smallest v at which y reaches ``level``, interpolating log y linearly in log v between
    the two swept points around it; NaN if y stays below the level, or is above it already at
    the first point (the boundary then lies outside the swept range)."""
    v, y = np.asarray(v, dtype=float), np.asarray(y, dtype=float)
    if v.size == 0 or y[0] >= level:
        return math.nan
    above = np.flatnonzero(y >= level)
    if above.size == 0:
        return math.nan
    k = int(above[0])
    lv, ly = np.log(v[k - 1: k + 1]), np.log(y[k - 1: k + 1])
    return float(np.exp(lv[0] + (math.log(level) - ly[0]) * (lv[1] - lv[0]) / (ly[1] - ly[0])))


def boundaries(data: SweepData, variables: Sequence[str] = ("kappa", "kappa_01"),
               levels: dict[str, float] | None = None) -> list[Boundary]:
    """The boundary of every measure in LEVELS, for each protocol, N and bath configuration."""
    levels = LEVELS if levels is None else levels
    out = []
    rows = data.rows()
    for protocol in sorted({str(p) for p in data.column("protocol")[rows]}):
        for n in sorted({int(n) for n in data.column("n_batteries")[rows]}):
            for measure, level in levels.items():
                for variable in variables:
                    for bath, (v, y, _) in bath_curves(data, measure, variable, protocol,
                                                       n).items():
                        out.append(Boundary(measure, level, protocol, n, bath, variable,
                                            crossing(v, y, level)))
    return out


def exponent(n: FloatArray, value: FloatArray) -> float:
    """alpha of value ~ N^alpha, least squares in log-log over the finite values (NaN if fewer
    than two distinct N)."""
    n, value = np.asarray(n, dtype=float), np.asarray(value, dtype=float)
    ok = np.isfinite(value) & (value > 0) & (n > 0)
    if np.unique(n[ok]).size < 2:
        return math.nan
    return float(np.polyfit(np.log(n[ok]), np.log(value[ok]), 1)[0])
