"""The symmetric solver's Propagator: Chebyshev, Krylov or implicit Radau per grid, chosen by
cost ('auto') or by name, with the hand-overs between them (docs/physics.md §4)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.options import IntegrationError, SolverOptions
from microsim.descriptions.protocol import resume
from microsim.descriptions.resources import check_memory
from microsim.descriptions.result import Propagator
from microsim.descriptions.symmetric.bath import BathBlocks, implicit_system
from microsim.descriptions.symmetric.chebyshev import (
    chebyshev_products,
    chebyshev_propagate,
    spectral_bounds,
)
from microsim.descriptions.symmetric.generator import generator, initial_state, observables
from microsim.descriptions.symmetric.implicit import ImplicitSystem, implicit_states
from microsim.descriptions.symmetric.krylov import KrylovPropagation, SpaceOutgrown
from microsim.descriptions.symmetric.policy import (
    HEAD_DECAYS,
    IMPLICIT_TOLERANCE_FACTOR,
    KRYLOV_TOLERANCE_FACTOR,
    fast_rate,
    krylov_rung,
    prefer_krylov,
    switch_to_chebyshev,
    symmetric_solver_bytes,
)
from microsim.descriptions.symmetric.space import symmetric_space
from microsim.model.params import ModelParams

__all__ = ["propagator"]

FloatArray = NDArray[np.float64]


def propagator(p: ModelParams, options: SolverOptions | None = None,
               stats: dict[str, float | str] | None = None) -> Propagator:
    """The collective model as a Propagator on the stored unknowns x.

    Three exact propagations, chosen per call by ``options.propagation``:

    * 'chebyshev': the expansion of chebyshev_propagate, ``options.atol`` per sub-step; its cost
      grows like ||L|| t, i.e. like 1/kappa at fixed effective dynamics. Where the ellipse admits
      no step (kappa ~ 1) or a sub-step raises the growth alarm, Radau takes over from the last
      good state.
    * 'krylov': shift-and-invert Krylov (krylov.py), the whole grid from one space of a
      few tens of vectors, each one solve with (1/gamma - L) by CG (schur.py; GMRES
      with a battery environment); its cost is set by the slow dynamics. If a solve stalls,
      Radau takes over from the last state.
    * 'implicit': Radau IIA with two-level preconditioned GMRES stage solves (implicit.py),
      about 150 steps of three solves for a 121-point curve; the times up to
      HEAD_DECAYS / fast_rate, where the initial transient lives, stay with Chebyshev. Slower
      than 'krylov' (N = 20, kappa = 0.01: 38 s against 3.5 s), kept as its fallback.
    * 'auto' takes Chebyshev or Krylov by the smaller cost estimate (chebyshev_products against
      krylov_products) for the grid of each call, Krylov only within krylov_within_reach. If a
      Krylov space outgrows its dimension where Chebyshev's plan for the rest of the grid is
      cheaper than another try (switch_to_chebyshev), Chebyshev continues from the last state
      returned, and takes every later call.

    ``stats`` receives the largest Chebyshev growth ratio, the propagation of the first call
    (and 'fallback', 'implicit' or 'chebyshev', if it handed over), the counts of Chebyshev
    products, implicit steps, the Krylov dimension and GMRES iterations.
    """
    options = options or SolverOptions()
    check_memory("symmetric", symmetric_solver_bytes(p, steady=False), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    bounds = spectral_bounds(p)
    stats = {} if stats is None else stats
    plan: dict[str, object] = {}
    krylov: dict[str, float] = {}
    head = HEAD_DECAYS / fast_rate(p)
    solves = "gmres" if p.gamma_env > 0 else "cg"  # as implicit_system's sectors
    built: dict[str, object] = {}

    def bath() -> BathBlocks:
        if "bath" not in built:
            built["bath"] = BathBlocks.build(p, space)
        return built["bath"]  # type: ignore[return-value]

    def system() -> ImplicitSystem:
        if "system" not in built:
            built["system"] = implicit_system(p, space, gen, bath())
        return built["system"]  # type: ignore[return-value]

    def choose(x0: FloatArray, t: FloatArray) -> str:
        if options.propagation != "auto":
            return options.propagation
        if "krylov" in built and built["krylov"].covers(x0, t):  # type: ignore[attr-defined]
            return "krylov"  # read off the space that gave x0, no solve
        if "outgrown" in built:
            return "chebyshev"
        if t.size < 2:
            return "chebyshev"
        try:
            cheb = chebyshev_products(bounds, t, options.atol, plan)
        except IntegrationError:
            return "krylov"
        take = prefer_krylov(p.kappa_01, p.n_batteries, cheb, solves, gen.nnz)
        return "krylov" if take else "chebyshev"

    def give_up(x: FloatArray, t: FloatArray, iterations: float) -> bool:
        if options.propagation != "auto":
            return False
        try:
            cheb = chebyshev_products(bounds, t, options.atol, plan)
        except IntegrationError:
            return False
        return switch_to_chebyshev(cheb, iterations, solves, gen.nnz)

    def by_chebyshev(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        done, x = 0, np.array(x0, dtype=float)
        try:
            for x in chebyshev_propagate(gen, x0, t, bounds, options.atol, stats, plan):
                yield x
                done += 1
            return
        except IntegrationError:
            pass
        # Beyond the time-scale separation the ellipse admits no step within tolerance (or a
        # step raised the growth alarm): Radau takes over from the last state returned.
        stats["fallback"] = "implicit"
        yield from resume(radau, x, t, done)

    def radau(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        factor = IMPLICIT_TOLERANCE_FACTOR
        yield from implicit_states(system(), x0, t, min(factor * options.rtol, 1e-3),
                                   min(factor * options.atol, 1e-3))
        stats.update({f"implicit_{k}": float(v) for k, v in system().stats.items()})

    def by_implicit(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        split = max(float(t[0]), min(head, float(t[-1])))
        early = t[t < split]
        x = np.array(x0, dtype=float)
        if early.size:
            states = list(by_chebyshev(x0, np.concatenate([early, [split]])))
            yield from states[:-1]
            x = states[-1]
        states = radau(x, np.concatenate([[split], t[t >= split]]))
        next(states)  # the state at the split time
        yield from states

    def by_krylov(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        done, x = 0, np.array(x0, dtype=float)
        if "krylov" not in built:
            tol = min(KRYLOV_TOLERANCE_FACTOR * options.atol, 1e-3)
            built["krylov"] = KrylovPropagation(system(), tol, krylov,
                                                krylov_rung(p.kappa_01, p.n_batteries), give_up)
        try:
            for x in built["krylov"].states(x0, t):  # type: ignore[attr-defined]
                yield x
                done += 1
            return
        except SpaceOutgrown:
            built["outgrown"] = True
        except IntegrationError:
            pass
        finally:
            stats.update({f"krylov_{k}": v for k, v in krylov.items()})
            stats.update({f"implicit_{k}": float(v) for k, v in system().stats.items()})
        if "outgrown" in built:  # Chebyshev from the last state returned
            stats["fallback"] = "chebyshev"
            yield from resume(by_chebyshev, x, t, done)
            return
        stats["fallback"] = "implicit"  # a solve stalled: Radau from the last state returned
        yield from resume(radau, x, t, done)

    methods = {"chebyshev": by_chebyshev, "krylov": by_krylov, "implicit": by_implicit}

    def advance(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        t = np.asarray(t, dtype=float)
        method = choose(x0, t)
        stats.setdefault("propagation", method)
        yield from methods[method](x0, t)

    def populations(x: FloatArray) -> FloatArray:
        return observables(p, space, x[None, :])[0][0]

    return Propagator(initial=initial_state(p, space), advance=advance, populations=populations)
