"""``microsim.simulate``: one model point from a script, every description, as labelled data.

    >>> import microsim
    >>> run = microsim.simulate(n_batteries=4, beta_e_w0=-0.8, gamma_e=0.1, kappa=0.05)
    >>> run.figures["eps_traj"], run.figures["tau_mic"], run.stats["effective"]["wall_time"]
    >>> run.to_pandas()                      # time series of every description, indexed by t
    >>> run.battery_state(run.t[-1], "mic")  # a qutip.Qobj

The same computation as ``microsim run`` (analysis/comparison.compare_until_charged on the
default grid, or compare on a given one), returned as a Simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.analysis.comparison import Comparison, compare, compare_until_charged
from microsim.analysis.fields import figure_names
from microsim.descriptions import memory_estimate
from microsim.descriptions.options import SolverOptions
from microsim.model.params import ModelParams

if TYPE_CHECKING:
    import pandas as pd
    import qutip
    import xarray as xr

__all__ = ["Simulation", "simulate"]

FloatArray = NDArray[np.float64]

#: Up to this many batteries battery_state() builds the 2^N product state of Eq. 6.
MAX_PRODUCT_BATTERIES = 16


@dataclass(frozen=True)
class Simulation:
    """One model point solved by every description (a Comparison, read as data).

    ``figures`` are the scalar results (analysis/fields: E_ss_mic, tau_eff, eps_traj,
    eps_traj_corr, ...), ``derived`` the derived quantities with the law's prediction of Eq. 8's
    error, ``stats`` per description what ran: its wall time in seconds, its solver's work counts
    (propagation, products, steps) and the memory estimate it was checked against, in bytes.
    ``sides`` are the figure suffixes of the descriptions that ran (``mic`` the exact reference,
    ``eff`` Eq. 8, ``corr`` the corrected description, ...). Units: hbar = k_B = 1, energies in
    the unit of w0, times in its inverse.
    """

    comparison: Comparison

    @property
    def params(self) -> ModelParams:
        return self.comparison.params

    @property
    def t(self) -> FloatArray:
        """The time grid."""
        return self.comparison.mic.t

    @property
    def figures(self) -> dict[str, float]:
        scalars = self.comparison.scalars()
        return {k: scalars[k] for k in figure_names()}

    @property
    def derived(self) -> dict[str, float]:
        return self.comparison.derived()

    @property
    def stats(self) -> dict[str, dict[str, float | str]]:
        return self.comparison.stats

    @property
    def status(self) -> dict[str, str]:
        """'ok' or why, for each approximate description."""
        return self.comparison.status

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(self.comparison.sides())

    def series(self) -> dict[str, NDArray]:
        """Every time series (the HDF5 datasets of a sweep point, docs/hdf5.md)."""
        return self.comparison.series()

    def to_pandas(self) -> pd.DataFrame:
        """The energy, fluctuation and ergotropy of every description and the engine populations,
        one column each (``energy_mic``, ``sigma_eff``, ..., ``engine_populations[1]``), indexed
        by t."""
        from microsim.model.extras import pandas_module

        columns: dict[str, NDArray] = {}
        for name, values in self.series().items():
            if name == "t" or name.startswith("battery_populations"):
                continue
            if values.ndim == 2:
                columns.update({f"{name}[{k}]": values[:, k] for k in range(values.shape[1])})
            else:
                columns[name] = values
        pd = pandas_module()
        return pd.DataFrame(columns, index=pd.Index(self.t, name="t"))

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset over (description, t) and the battery level m: ``energy``,
        ``sigma``, ``ergotropy`` (description, t), ``battery_populations`` (description, t, m;
        for Eq. 6 one battery, m = 0, 1), ``engine_populations`` (t, level); the figures, the
        derived quantities and the parameters as attributes."""
        from microsim.model.extras import xarray_module

        xr = xarray_module()
        sides = self.comparison.sides()
        names = list(sides)
        stack = {q: np.array([getattr(sides[s], q) for s in names])
                 for q in ("energy", "sigma", "ergotropy", "battery_populations")}
        attrs: dict[str, Any] = {**self.params.as_dict(), **self.derived, **self.figures}
        attrs = {k: (float(v) if isinstance(v, float | np.floating) else v)
                 for k, v in attrs.items()}
        engines = self.comparison.mic.engine_populations
        data = {q: (("description", "t"), stack[q]) for q in ("energy", "sigma", "ergotropy")}
        data["battery_populations"] = (("description", "t", "m"), stack["battery_populations"])
        if engines is not None:
            data["engine_populations"] = (("t", "level"), engines)
        return xr.Dataset(data, coords={"description": names, "t": self.t,
                                        "m": np.arange(stack["battery_populations"].shape[2])},
                          attrs={k: v for k, v in attrs.items() if v is not None})

    def battery_state(self, t: float, description: str = "mic") -> qutip.Qobj:
        """The batteries' reduced state at a grid time t as a qutip.Qobj.

        Collective protocol: Dicke-diagonal, sum_m p_m |N/2, m - N/2><N/2, m - N/2| on the
        N + 1 Dicke states (m excitations); individual protocol: the N-fold product of one
        battery's state diag(p_0, p_1) on the 2^N product space (up to MAX_PRODUCT_BATTERIES).
        ``description`` is a suffix of ``sides``; t must be a time of the grid (1e-9 relative)."""
        import qutip

        sides = self.comparison.sides()
        if description not in sides:
            raise ValueError(f"description must be one of {', '.join(sides)}, got {description!r}")
        k = int(np.argmin(np.abs(self.t - t)))
        if abs(self.t[k] - t) > 1e-9 * max(float(self.t[-1]), 1.0):
            raise ValueError(f"t = {t} is not a time of the grid; the nearest is {self.t[k]}")
        pops = sides[description].battery_populations[k]
        if self.params.protocol == "collective":
            return qutip.Qobj(np.diag(pops))
        n = self.params.n_batteries
        if n > MAX_PRODUCT_BATTERIES:
            raise ValueError(f"the product state of N = {n} batteries has 2^{n} levels; "
                             f"take one battery's, diag{tuple(pops)}, N = 1..{MAX_PRODUCT_BATTERIES}")
        return qutip.tensor([qutip.Qobj(np.diag(pops)) for _ in range(n)])


def simulate(params: ModelParams | None = None, *, t: Sequence[float] | None = None,
             points: int = 401, epsilon: float = 1e-3, method: str = "auto",
             descriptions: Sequence[str] | None = None, options: SolverOptions | None = None,
             **values: Any) -> Simulation:
    """Solve one model point with the exact reference and every approximate description.

    Give a ModelParams, or its values as keyword arguments (the names of ``microsim run`` and the
    configs: ``n_batteries``, ``n_engines``, ``g``, ``beta_h``, ... or the effective
    parametrization ``beta_e_w0``, ``gamma_e``, ``kappa``, ``gamma_ratio``). ``t``: the time grid
    (default as ``microsim run``: linspace over about four charging times, lengthened until the
    exact charging time is on it); ``method``: the exact reference ('auto', 'full',
    'symmetric') or an approximate description to run without one; ``descriptions``: the
    approximate ones (default: every one that supports the problem; Eq. 8 always runs);
    ``options``: tolerances and propagation (SolverOptions).

    Example::

        run = microsim.simulate(n_batteries=4, beta_e_w0=-0.8, gamma_e=0.1, kappa=0.05)
        run.figures["eps_traj"]          # Eq. 8 against the exact model
        run.to_xarray()                  # every description's curves
    """
    if params is None:
        params = ModelParams.from_values(values)
    elif values:
        raise TypeError(f"give a ModelParams or its values, not both (got {', '.join(values)})")
    if t is None:
        c = compare_until_charged(params, points, method, options, epsilon,
                                  descriptions=descriptions)
    else:
        c = compare(params, np.asarray(t, dtype=float), method, options, epsilon, descriptions)
    need = memory_estimate(c.method, params, c.mic.t.size, tuple(n for n in c.runs))
    for name, stats in c.stats.items():
        stats["memory_estimate"] = float(need.get(name, np.nan))
    return Simulation(c)

