"""microsim: quantum batteries charged by quantum heat engines.

The microscopic model (three-level engines with hot and cold baths coupled to two-level batteries,
Eq. 1-6 of Ito & Watanabe, arXiv:2008.07089) is solved exactly and compared with the effective
negative-temperature master equation of the batteries alone (Eq. 8). Units: hbar = k_B = 1.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("microsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from microsim.params import ModelParams

__all__ = ["ModelParams", "__version__"]
