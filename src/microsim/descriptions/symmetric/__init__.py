"""Exact permutation-symmetric solver of the collective microscopic problem (Eq. 1 + Eq. 5).

Basis (docs/physics.md §4). rho is invariant under engine permutations, the batteries stay in the Dicke
space |m>, and only the engine units |0><0|, |1><1|, |2><2|, |1><0|, |0><1| occur. With counts
n = (n00, n11, n22, n10, n01), sum M, let S_n be the sum of the products of units with these
counts over all mult(n) = M!/(n00! n11! n22! n10! n01!) distinct engine assignments. Then

    rho = sum_{n, m} x(n, m) (S_n / mult(n)) (x) |m><m'|,   m' = m + n10 - n01  (Q_ket = Q_bra),

so x(n, m) is the weight of a configuration: for n10 = n01 = 0 it is the probability of the
occupation numbers (n00, n11, n22) with m battery excitations, and tr rho = sum of those x.
In this normalization a one-engine map u -> v of amplitude r, applied to every engine, moves
weight from n to n - e_u + e_v with the integer factor n_u (the number of engines that can move):

    dx(n - e_u + e_v)/dt += r(u -> v) n_u x(n),        battery amplitudes s(m) = sqrt(m (N - m + 1)),

* baths (Eq. 1): 00 -> 22 at Gamma_h e^{-beta_h w_h}, 22 -> 00 at Gamma_h, 11 -> 22 at
  Gamma_c e^{-beta_c w_c}, 22 -> 11 at Gamma_c; the coherences 10, 01 decay at gamma_01;
* coupling (Eq. 5), -i[V, rho] with V = i g_e sum_j (|1><0|_j S^- - |0><1|_j S^+), g_e = p.g_engine:
  + g_e (00 -> 10, 01 -> 11) s(m) m -> m - 1,   - g_e (11 -> 01, 10 -> 00) s(m + 1) m -> m + 1,
  - g_e (11 -> 10, 01 -> 00) s(m' + 1),          + g_e (00 -> 01, 10 -> 11) s(m')   (bra side);
  all coefficients are real, and H_E + H_B drops out (it commutes with V);
* battery environment Gamma (D[S^-] + e^{-beta w0} D[S^+]) on the Dicke part only.

x is real and rho hermitian, x(.., n10, n01, m) = x(.., n01, n10, m'), so only n10 >= n01 is stored:
about C(M + 4, 4)(N + 1)/2 unknowns (9.8e4 at N = M = 20, 2.3e6 at N = M = 40).

Time evolution: Chebyshev expansion of exp(L t) on an ellipse around the spectrum of L, whose
extent is known in closed form (spectral_bounds), only sparse products; or, where that is dear
(small kappa), shift-and-invert Krylov (krylov.py) or Radau IIA (implicit.py),
whose preconditioned solves make the cost independent of the bath rates (propagator).
Steady state: the kernel of L with the trace condition, by a sparse LU for small spaces and
otherwise by GMRES preconditioned with the exact inverse of the (block-diagonal) bath part.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.numerics.linear import single_threaded_blas
from microsim.descriptions.options import SolverOptions
from microsim.descriptions.protocol import Description, Watch, follow
from microsim.descriptions.result import Propagator, Trajectory
from microsim.descriptions.symmetric.bath import BathBlocks, BathSolve, implicit_system
from microsim.descriptions.symmetric.chebyshev import (
    chebyshev_products,
    chebyshev_propagate,
    spectral_bounds,
)
from microsim.descriptions.symmetric.generator import (
    engine_battery_coherences,
    generator,
    initial_state,
    min_block_eigenvalue,
    observables,
    product_steady_state,
    readout,
)
from microsim.descriptions.symmetric.policy import (
    KRYLOV_COST,
    KRYLOV_SOLVE_PRODUCTS,
    KRYLOV_SOLVES,
    fast_rate,
    krylov_products,
    krylov_rung,
    krylov_within_reach,
    prefer_krylov,
    symmetric_solver_bytes,
)
from microsim.descriptions.symmetric.propagation import propagator
from microsim.descriptions.symmetric.space import (
    U00,
    U01,
    U10,
    U11,
    U22,
    SymmetricSpace,
    symmetric_space,
    unknowns,
)
from microsim.descriptions.symmetric.steady import steady_state, steady_vector
from microsim.model.params import ModelParams

__all__ = [
    "DESCRIPTION",
    "KRYLOV_COST",
    "KRYLOV_SOLVES",
    "KRYLOV_SOLVE_PRODUCTS",
    "U00",
    "U01",
    "U10",
    "U11",
    "U22",
    "BathBlocks",
    "BathSolve",
    "SymmetricSpace",
    "chebyshev_products",
    "chebyshev_propagate",
    "engine_battery_coherences",
    "evolve",
    "fast_rate",
    "generator",
    "implicit_system",
    "initial_state",
    "krylov_products",
    "krylov_rung",
    "krylov_within_reach",
    "prefer_krylov",
    "product_steady_state",
    "propagator",
    "readout",
    "spectral_bounds",
    "steady_state",
    "steady_vector",
    "symmetric_solver_bytes",
    "symmetric_space",
    "trajectory",
    "unknowns",
]

FloatArray = NDArray[np.float64]


def evolve(p: ModelParams, t: FloatArray, options: SolverOptions | None = None) -> Trajectory:
    """Battery and engine observables of the collective model on the grid t (t[0] = 0).

    The battery reduced state is Dicke-diagonal (only n10 = n01 = 0 has a trace, and there
    m' = m), so the ergotropy is that of observables.ergotropy_dicke.
    """
    return trajectory(p, np.asarray(t, dtype=float), options)[0]


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None, watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """evolve() on the points ``keep`` of t, calling ``watch(k, x_k, populations_k)`` at every t_k.

    Returns the trajectory and the propagator, so that a caller can continue from a state it kept.
    """
    stats: dict[str, float | str] = {}
    prop = propagator(p, options, stats)
    space = symmetric_space(p.n_engines, p.n_batteries)
    pops, engines, min_block = [], [], math.inf
    with single_threaded_blas():
        for x, _ in follow(prop.advance(prop.initial, t), keep, watch, prop.populations):
            pop, engine = observables(p, space, x[None, :])
            pops.append(pop[0])
            engines.append(engine[0])
            min_block = min(min_block, min_block_eigenvalue(p, space, x))
    traj = readout(p, t if keep is None else t[keep], np.array(pops), np.array(engines), min_block,
                   float(stats.get("chebyshev_growth", 0.0)))
    solver = {k: v for k, v in stats.items() if k != "chebyshev_growth"}
    return dataclasses.replace(traj, solver=solver), prop


def symmetric_memory(p: ModelParams, points: int) -> int:
    """Peak memory of the steady state or of a propagation, the larger (symmetric_solver_bytes)."""
    return max(symmetric_solver_bytes(p), symmetric_solver_bytes(p, steady=False))


def _supports(p: ModelParams) -> str:
    return "" if p.protocol == "collective" else "solves the collective problem (the pair for Eq. 6)"


DESCRIPTION = Description(
    name="symmetric", suffix="mic", label="microscopic", exact=True, required=True,
    summary="the microscopic model, exact, reduced by its permutation and U(1) symmetries "
            "(docs/physics.md §4); N = M to about 60",
    trajectory=trajectory, steady_state=steady_state, memory=symmetric_memory, supports=_supports,
)
