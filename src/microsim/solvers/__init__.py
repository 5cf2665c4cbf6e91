"""Solvers of the collective problem, chosen by name: each module offers ``evolve`` and
``steady_state`` with the same signature (the individual protocol is composed in comparison.py).

* ``full``: the microscopic model on the full tensor space (reference, N + M small);
* ``symmetric``: the exact permutation-symmetric form of the collective problem (N, M up to ~40);
* ``effective``: the birth-death form of Eq. 8 (any N).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from microsim.params import ModelParams

__all__ = ["METHODS", "SOLVER_NAMES", "memory_estimate", "resolve_method", "solver"]

#: The solver modules, imported on first use: 'full' needs QuTiP (which imports matplotlib), and
#: the command line and the symmetric and effective solvers do without it.
SOLVER_NAMES: tuple[str, ...] = ("full", "symmetric", "effective")

#: Methods a user can ask for: a microscopic solver, 'auto', or 'effective' (Eq. 8 alone, for
#: N beyond any microscopic solver; the microscopic columns are then NaN).
METHODS: tuple[str, ...] = ("auto", "full", "symmetric", "effective")


def solver(name: str) -> ModuleType:
    """The solver module ``name`` (one of SOLVER_NAMES), imported on first use."""
    if name not in SOLVER_NAMES:
        raise ValueError(f"solver must be one of {', '.join(SOLVER_NAMES)}, got {name!r}")
    return importlib.import_module(f"microsim.solvers.{name}")


def memory_estimate(method: str, p: ModelParams, points: int) -> dict[str, int]:
    """Bytes each solver of a point needs (microscopic and effective), before anything is built."""
    from microsim.resources import full_solver_bytes, full_steady_state_bytes

    q = p.pair() if p.protocol == "individual" else p
    need = {"effective": solver("effective").effective_solver_bytes(q, points)}
    resolved = resolve_method(method, p)
    if resolved == "full":
        need["full"] = max(full_solver_bytes(q, points), full_steady_state_bytes(q))
    elif resolved == "symmetric":
        bytes_of = solver("symmetric").symmetric_solver_bytes
        need["symmetric"] = max(bytes_of(q), bytes_of(q, steady=False))
    return need


def resolve_method(method: str, p: ModelParams) -> str:
    """The microscopic solver that ``method`` means for this point.

    'auto' takes the symmetric solver, exact and far cheaper, for every problem it covers: the
    collective protocol and the pair of the individual one (a collective N = M = 1 problem).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return "symmetric" if method == "auto" else method
