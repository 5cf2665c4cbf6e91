"""microsim: quantum batteries charged by quantum heat engines.

The microscopic model of K. Ito and G. Watanabe, arXiv:2008.07089 (three-level engines with hot
and cold baths coupled to two-level batteries, Eq. 1-6) is solved exactly and compared with the
effective negative-temperature master equation of the batteries alone (Eq. 8) and with the
descriptions beyond it. Units: hbar = k_B = 1, energies in the unit of w0.

The public API:

* ``simulate(...)``: one model point, every description; a Simulation with figures, stats,
  ``to_pandas()``, ``to_xarray()``, ``battery_state(t, description)``::

      import microsim
      run = microsim.simulate(n_batteries=4, beta_e_w0=-0.8, gamma_e=0.1, kappa=0.05)
      run.figures["eps_traj"], run.derived["eps_traj_predicted"]

* ``ModelParams``: one validated point (``ModelParams.from_effective(-0.8, 0.1, 0.05, 4)``);
* ``compare(p, t)``: the Comparison behind simulate, on a given grid;
* ``open_sweep("runs/validity.h5")``: a sweep file as data (``.to_pandas()``, ``.to_xarray()``);
* ``descriptions``: the registry (``microsim.descriptions.available()``).

The command line is ``microsim run | sweep | inspect | plot``; docs/usage.md has both.
"""

from __future__ import annotations

#: The one place the version is written (pyproject.toml reads it from here): no metadata lookup,
#: which cost a third of the command line's start-up.
__version__ = "0.2.0"

from typing import Any

from microsim.model.params import ModelParams

__all__ = ["ModelParams", "__version__", "compare", "descriptions", "open_sweep", "simulate"]

#: Public names imported on first use: the command line imports this package and should not pay
#: for the solvers, h5py and the config reader.
_LAZY = {
    "simulate": ("microsim.analysis.simulation", "simulate"),
    "compare": ("microsim.analysis.comparison", "compare"),
    "open_sweep": ("microsim.sweeps.reading", "open_sweep"),
    "descriptions": ("microsim.descriptions", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'microsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
