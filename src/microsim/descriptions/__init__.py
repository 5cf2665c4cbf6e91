"""The descriptions of the charging problem, one registry of them, and how a point picks them.

Every description is a :class:`~microsim.descriptions.protocol.Description` (name, figure
suffix, the problems it supports, ``trajectory``, ``steady_state``, memory): exact references

* ``full``: the microscopic model on the full tensor space (QuTiP; N + M small);
* ``symmetric``: the exact permutation-symmetric form of the collective problem (N, M to ~60);

and approximations measured against them

* ``effective``: the birth-death form of Eq. 8 (any N), the paper's description;
* ``corrected``: batteries with one tagged engine and engine pairs (docs/physics.md §7);
* ``cumulant``: the same levels with the engines' transport upwind and three-engine terms
  (docs/physics.md §8), stable where the corrected one is not;
* ``moments``: eight second-order cumulant equations whatever N (§8), qualitative, to N = 10^6;
* ``delay``: the moments averaged over the random delay of the amplified vacuum (§9), exact as
  N -> infinity.

``available()`` lists them in this order, then any added with ``register()``. A new built-in
description is one module that defines ``DESCRIPTION`` and one entry in BUILTIN; the stored
fields, the command line and the docs tables follow from it (analysis/fields.py).

``method`` (``microsim run --method``, config ``solver.method``) picks the exact reference
('auto' = symmetric, which covers every problem the full solver does at far lower cost), or an
approximate description to run without one, for N beyond every exact solver ('effective' as
today; Eq. 8 always runs, as every comparison needs its charging time).
"""

from __future__ import annotations

import importlib

from microsim.descriptions.protocol import Description
from microsim.model.params import ModelParams

__all__ = [
    "BUILTIN",
    "Description",
    "approximate",
    "available",
    "default_descriptions",
    "exact",
    "get",
    "memory_estimate",
    "methods",
    "register",
    "resolve_method",
    "unregister",
]

#: The built-in descriptions and their modules, each of which defines ``DESCRIPTION``.
BUILTIN: dict[str, str] = {
    "full": "microsim.descriptions.full",
    "symmetric": "microsim.descriptions.symmetric",
    "effective": "microsim.descriptions.effective",
    "corrected": "microsim.descriptions.corrected",
    "cumulant": "microsim.descriptions.cumulant",
    "moments": "microsim.descriptions.moments",
    "delay": "microsim.descriptions.delay",
}

#: The description every comparison runs: it sets the default grid and the paper's errors.
BASELINE = "effective"

_added: dict[str, Description] = {}


def get(name: str) -> Description:
    """The description registered as ``name``."""
    if name in _added:
        return _added[name]
    if name not in BUILTIN:
        raise ValueError(f"description must be one of {', '.join(available())}, got {name!r}")
    return importlib.import_module(BUILTIN[name]).DESCRIPTION


def available() -> tuple[str, ...]:
    """Names of every registered description: the built-in ones, then those added."""
    return (*BUILTIN, *_added)


def exact() -> tuple[str, ...]:
    """Names of the exact descriptions (the references a comparison can take)."""
    return tuple(name for name in available() if get(name).exact)


def approximate() -> tuple[str, ...]:
    """Names of the approximate descriptions, Eq. 8 first."""
    return tuple(name for name in available() if not get(name).exact)


def register(description: Description, replace: bool = False) -> None:
    """Add a description (a test's toy, a user's own); it then runs in every comparison whose
    problem it supports, and its fields appear in run --json, sweep files and inspect."""
    if not replace and description.name in available():
        raise ValueError(f"a description named {description.name!r} is registered already")
    if description.name in BUILTIN:
        raise ValueError(f"{description.name!r} is a built-in description")
    taken = {get(name).suffix: name for name in available() if name != description.name
             and not get(name).exact}
    if not description.exact and description.suffix in taken:
        raise ValueError(f"suffix {description.suffix!r} is taken by {taken[description.suffix]!r}")
    _added[description.name] = description


def unregister(name: str) -> None:
    """Remove a description added with register()."""
    _added.pop(name, None)


def methods() -> tuple[str, ...]:
    """What ``method`` may name: 'auto', an exact description, or an approximate one."""
    return ("auto", *exact(), *approximate())


def resolve_method(method: str, p: ModelParams) -> str:
    """The description that ``method`` means for this point.

    'auto' takes the symmetric solver, exact and far cheaper, for every problem it covers: the
    collective protocol and the pair of the individual one (a collective N = M = 1 problem).
    """
    allowed = methods()
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)}, got {method!r}")
    return "symmetric" if method == "auto" else method


def default_descriptions(method: str, q: ModelParams) -> tuple[str, ...]:
    """The approximate descriptions a comparison of the solved problem q runs: with an exact
    reference, or with method 'effective', every one that supports q; with another approximate
    method, Eq. 8 and that one."""
    resolved = resolve_method(method, q)
    if resolved in exact() or resolved == BASELINE:
        return tuple(name for name in approximate() if not get(name).supports(q))
    return (BASELINE, resolved)


def memory_estimate(method: str, p: ModelParams, points: int,
                    descriptions: tuple[str, ...] | None = None) -> dict[str, int]:
    """Bytes each description of a point needs, before anything is built."""
    q = p.pair() if p.protocol == "individual" else p
    names = [BASELINE, *(n for n in descriptions if n != BASELINE)] if descriptions else \
        list(default_descriptions(method, q))
    resolved = resolve_method(method, p)
    if resolved in exact():
        names.insert(0, resolved)
    return {name: get(name).memory(q, points) for name in names}
