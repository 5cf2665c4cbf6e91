"""What the symmetric solver expects a problem to cost: its memory, the choice of 'auto' between
Chebyshev and Krylov from measured work counts, and the thresholds of its hand-overs."""

from __future__ import annotations

import math

import numpy as np

from microsim.descriptions.symmetric.space import unknowns
from microsim.model.engine import relaxation_rates
from microsim.model.params import ModelParams

__all__ = ["KRYLOV_COST", "fast_rate", "krylov_products", "krylov_rung", "krylov_within_reach",
           "prefer_krylov", "switch_to_chebyshev", "symmetric_solver_bytes"]

#: Up to this many unknowns the steady state is one sparse LU (N = M <= 8); GMRES above.
DIRECT_STEADY_MAX = 3000

#: Krylov vectors GMRES keeps; the steady-state solves measured need 80 (N = 10) to 130 (N = 20).
GMRES_RESTART = 200

#: The implicit propagation starts after this many e-folds of the slowest fast rate (fast_rate):
#: the initial transient (bath relaxation, build-up of the engine coherence) is Chebyshev's.
HEAD_DECAYS = 25.0

#: Radau's step control bounds the error of its embedded order-3 solution; the order-5 solution it
#: keeps is far more accurate (N = 12: energy error 1.2e-9 in E/N at rtol 1e-6, 1.5e-11 at 1e-8,
#: against a Chebyshev reference at 1e-13). Its tolerances are this factor times the state
#: tolerances, so that the default rtol 1e-8 gives about 1e-9 in E/N (tests/test_implicit.py).
IMPLICIT_TOLERANCE_FACTOR = 100.0

#: Cost model of 'auto', in sparse real products with L. The CG iterations of a Krylov curve
#: (schur.py) grow as the time scales merge, because the preconditioner inverts the
#: baths
#: and the slow manifold but not the coherent engine-battery exchange, whose preconditioned
#: spectrum reaches 1 + a^2, a ~ 4.5 kappa sqrt(N) (docs/performance.md), and they grow with N.
#: Measured on 121-point curves over 3 tau_eff, paper point, with the gamma of krylov_rung: at
#: N = 12, 105, 386, 597, 867 and 948 iterations at kappa_01 = 0.052, 0.52, 1.04, 1.56, 2.08
#: (kappa = 0.01, 0.1, 0.2, 0.3, 0.4); at N = 20 and 30, 161, 623, 1351, 1621, 1745 and 208, 976,
#: 2475, 3125, 3324, i.e. N^b with b = 0.8, 1.0, 1.55, 1.35, 1.3 at the five kappa_01 (N = 40,
#: kappa = 0.1: 1379 measured, 1290 by this b). log(iterations) and b are interpolated linearly
#: in kappa_01; beyond the last knot log(iterations) follows the end slope. kappa_01 =
#: g_e N'/gamma_01 rather than kappa because it follows other baths. An iteration (float32,
#: schur.py) costs about 2 products with L: measured 3.1, 2.3, 1.6 at N = 12, 20, 30,
#: with its share of the double-precision residuals.
#: With a battery environment the solves are GMRES (implicit.py), measured the same
#: way:
#: 258, 673, 1023, 2349, 2280 iterations at N = 12 (the last knot kept at 2349, so that the
#: estimate does not fall with kappa) and 495, 1067, 7157, 4557, 3497 at N = 20 (b about 1.1
#: apart from kappa = 0.2), about 5 products per iteration.
KRYLOV_COST = {
    "cg": ((0.052, 0.52, 1.04, 1.56, 2.08), (105, 386, 597, 867, 948),
           (0.8, 1.0, 1.55, 1.35, 1.3), 2.0),
    "gmres": ((0.052, 0.52, 1.04, 1.56, 2.08), (258, 673, 1023, 2349, 2349),
              (1.1, 1.1, 1.1, 1.1, 1.1), 5.0),
}
KRYLOV_TABLE_N = 12
#: Beyond its iterations each solve costs about KRYLOV_SOLVE_PRODUCTS products (the right-hand
#: side and the odd unknowns, the residuals in double precision, Gram-Schmidt; measured 5.7 at
#: N = 30), and a curve takes about KRYLOV_SOLVES of them (44-56 measured at N = 12-40): what
#: makes Chebyshev the cheaper one on short, easy grids (N = 3: 290 products).
KRYLOV_SOLVE_PRODUCTS = 5
#: An iteration also has a fixed cost (Python, the coarse level, about 40 small block products):
#: as many entries as this, i.e. 2 + KRYLOV_ITERATION_NNZ / nnz(L) products per iteration
#: (measured 23 at N = 6, nnz 5160, and 3.1 at N = 12, nnz 98000: both give 1.1e5).
KRYLOV_ITERATION_NNZ = 110_000
KRYLOV_SOLVES = 50
#: Below this x the Krylov propagation starts at gamma = 0.003 of the window, above at 0.01
#: (krylov_rung). Measured at 0.003 / 0.01: N = 12, kappa = 0.3 (x = 1.56): 80 vectors and
#: halved windows, 7.0 s / 0.8 s; N = 20, kappa = 0.2 (x = 1.57): 5.3 / 4.8 s; kappa = 0.3, 0.4:
#: 81 s, 90 s / 4.3 s, 6.7 s; N = 30, kappa = 0.1 (x = 1.08): 24.2 / 29.8 s.
KRYLOV_RUNG_X = 1.4
#: Where the Krylov space outgrows krylov.MAX_DIMENSION (80) on its rungs, the curve costs several
#: spaces and krylov_products underestimates it, so 'auto' takes Krylov only while
#: y = kappa_01 (N / 12)^1.5 is below this (krylov_within_reach). Measured between the two sides:
#: N = 30, kappa = 0.3 (y = 6.2): one space of 80 vectors at 0.01, 69 s, where Chebyshev's plan
#: is 7560 products (about 100 s at the 13.5 ms per product of N = 30, kappa = 1); N = 40,
#: kappa = 0.215 (y = 6.8): more than 80 vectors at 0.01 and again at 0.03, stopped at 1056 s,
#: where Chebyshev's plan is 13320 products (about 840 s at 63 ms each).
KRYLOV_REACH = 6.5
#: The Krylov space is converged to this factor times options.atol relative to |x0|, as Radau's
#: tolerances (the energy error then measures 3e-10 to 7e-10 in E/(N w0), tests/test_krylov.py).
KRYLOV_TOLERANCE_FACTOR = 100.0
#: Krylov vectors the memory estimate of a propagation counts on (symmetric_solver_bytes).
KRYLOV_VECTORS = 40
#: After a Krylov space of an 'auto' propagation outgrew its dimension, the rest of the grid goes
#: to Chebyshev if its plan is below this times the products the failed space took (the next rung
#: takes harder solves and may fail again). In configs/validity_n40.yaml two points chosen by
#: krylov_within_reach failed this way on their long grids (t_end up to 17 tau_eff): N = 32,
#: kappa = 0.215, six failed spaces, 37218 CG iterations, 869 s, where Chebyshev had taken 475 s
#: (23759 products); N = 16, kappa = 0.464, nine failed spaces, 52 s against 5 s.
KRYLOV_SWITCH = 2.0


def fast_rate(p: ModelParams) -> float:
    """The slowest of the fast rates: the smallest nonzero relaxation rate of one engine's baths
    (Eq. 1) or gamma_01, the decay of its coherence |0><1| (docs/physics.md §3)."""
    return float(min(relaxation_rates(p)[0], p.gamma_01))


def krylov_products(kappa_01: float, n_batteries: int, solves: str = "cg",
                    nnz: int | None = None) -> int:
    """The cost model's estimate of one Krylov propagation, in sparse products: independent of
    the grid and of ||L||, growing with kappa_01 (params.kappa_01) and N as the preconditioner
    weakens (KRYLOV_COST of the ``solves``: 'cg', or 'gmres' with a battery environment)."""
    knots, iterations, exponents, _ = KRYLOV_COST[solves]
    xs, logs = np.asarray(knots), np.log(np.asarray(iterations, dtype=float))
    if kappa_01 <= xs[-1]:
        log_iterations = float(np.interp(kappa_01, xs, logs))
    else:
        log_iterations = logs[-1] + (kappa_01 - xs[-1]) * (logs[-1] - logs[-2]) / (xs[-1] - xs[-2])
    exponent = float(np.interp(kappa_01, xs, exponents))
    log_iterations += exponent * math.log(n_batteries / KRYLOV_TABLE_N)
    per_iteration = _iteration_products(solves, nnz)
    return int(min(math.exp(log_iterations), 1e15) * per_iteration) + KRYLOV_SOLVES * KRYLOV_SOLVE_PRODUCTS


def _iteration_products(solves: str, nnz: int | None) -> float:
    """Products with L per iteration of the ``solves`` (KRYLOV_COST), plus the fixed cost of an
    iteration in products of an L with ``nnz`` entries (KRYLOV_ITERATION_NNZ), if given."""
    return KRYLOV_COST[solves][3] + (KRYLOV_ITERATION_NNZ / nnz if nnz else 0.0)


def krylov_within_reach(kappa_01: float, n_batteries: int) -> bool:
    """Whether one Krylov space of at most MAX_DIMENSION vectors is expected to hold the curve:
    y = kappa_01 (N / 12)^1.5 < KRYLOV_REACH. Beyond (measured at N = 40, kappa = 0.215) the
    space outgrew it on more than one rung, and krylov_products, which counts one space, no
    longer applies."""
    return kappa_01 * (n_batteries / KRYLOV_TABLE_N) ** 1.5 < KRYLOV_REACH


def prefer_krylov(kappa_01: float, n_batteries: int, chebyshev: int, solves: str = "cg",
                  nnz: int | None = None) -> bool:
    """The choice of 'auto': Krylov when it is within reach and its estimate (krylov_products)
    is below the ``chebyshev`` products of Chebyshev's plan for the same grid."""
    return (krylov_within_reach(kappa_01, n_batteries)
            and krylov_products(kappa_01, n_batteries, solves, nnz) < chebyshev)


def switch_to_chebyshev(chebyshev: int, iterations: float, solves: str = "cg",
                        nnz: int | None = None) -> bool:
    """Whether the rest of a curve goes to Chebyshev after a Krylov space failed: its plan of
    ``chebyshev`` products is below KRYLOV_SWITCH times the failed space's ``iterations`` in
    products (as krylov_products counts them)."""
    return chebyshev < KRYLOV_SWITCH * iterations * _iteration_products(solves, nnz)


def krylov_rung(kappa_01: float, n_batteries: int) -> int:
    """The first gamma fraction of the Krylov propagation (index into krylov.GAMMA_FRACTIONS):
    the smallest, 0.003, while x = kappa_01 (N / 12)^0.8 < KRYLOV_RUNG_X, else 0.01, where
    0.003 needs more than MAX_DIMENSION vectors."""
    x = kappa_01 * (n_batteries / KRYLOV_TABLE_N) ** 0.8
    return 0 if x < KRYLOV_RUNG_X else 1


def symmetric_solver_bytes(p: ModelParams, steady: bool = True) -> int:
    """Peak memory of steady_state (``steady``) or of a propagation alone: generator build,
    generator, and the vectors of the GMRES or Krylov bases.

    Per stored unknown S: about 12 nonzeros (12 bytes each in CSR, 16 in the COO being summed)
    and the enumeration of both halves (2 S x 14 int64/float64 columns). The steady state adds
    GMRES_RESTART + 4 vectors with a battery environment, 4 without (its kernel is then
    known). A propagation adds the 31 vectors of a stage-solve GMRES and KRYLOV_VECTORS of a
    Krylov space: a space may grow to krylov.MAX_DIMENSION + 1, but
    krylov.memory_dimension halves the window instead when the memory does not hold that many
    (the 121-point curves of make bench took 20-76); without a battery environment the CG solves
    of schur.py hold a second copy of the generator (its blocks by parity of c), and
    finding their weights a transpose for a while. Measured peaks (steady state,
    /usr/bin/time): 1.05 GB at N = M = 30 (estimate 1.14 GB), 4.16 GB at N = M = 40 (estimate
    4.21 GB); propagation at N = M = 40: 1.8-2.9 GiB in make bench.
    """
    size = unknowns(p.n_engines, p.n_batteries)
    build = size * (12 * 28 + 2 * 14 * 8)
    generator = size * 12 * 12
    if not steady:
        vectors = 31 + KRYLOV_VECTORS
        if p.gamma_env == 0:
            generator *= 2
    elif p.gamma_env > 0:
        vectors = min(GMRES_RESTART, size) + 4
    else:
        vectors = 4
    return int(generator + max(build, size * 8 * vectors) + 50 * 2**20)
