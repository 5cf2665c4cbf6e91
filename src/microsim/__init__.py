"""microsim: quantum batteries charged by quantum heat engines.

The microscopic model (three-level engines with hot and cold baths coupled to two-level batteries,
Eq. 1-6 of Ito & Watanabe, arXiv:2008.07089) is solved exactly and compared with the effective
negative-temperature master equation of the batteries alone (Eq. 8). Units: hbar = k_B = 1.
"""

from __future__ import annotations

#: The one place the version is written (pyproject.toml reads it from here): no metadata lookup,
#: which cost a third of the command line's start-up.
__version__ = "0.1.0"

from typing import Any

from microsim.model.params import ModelParams

__all__ = ["ModelParams", "__version__", "open_sweep"]


def __getattr__(name: str) -> Any:
    """``microsim.open_sweep`` (microsim.sweeps.reading), imported on first use: the command line
    imports this package and should not pay for h5py and the config reader."""
    if name == "open_sweep":
        from microsim.sweeps.reading import open_sweep

        return open_sweep
    raise AttributeError(f"module 'microsim' has no attribute {name!r}")
