"""Radau IIA for the permutation-symmetric generator, stage solves by two-level preconditioned GMRES.

The generator L = L_bath + L_rest is stiff because the bath rates grow like N / kappa^2 at fixed
effective dynamics, so an explicit (Chebyshev) propagation needs a number of products proportional
to ||L|| t. An L-stable implicit step is limited only by the accuracy of the slow dynamics; its cost
is in the linear systems (sigma - L) x = b, sigma = lambda / h for the Radau eigenvalues
(descriptions/numerics/radau.py). They are solved by GMRES, right-preconditioned in two levels:

* fine level: B^{-1} = (sigma - L_bath)^{-1}, exact and block diagonal (BathBlocks);
* coarse level, the slow manifold of adiabatic elimination: Z spans the states with every
  engine in its bath steady state (Eq. 3, multinomial occupation numbers) and the battery in
  |m><m|, m = 0..N, so that L_bath Z = 0; Y sums the populations of each battery m, so that
  Y L_bath = 0. The coarse space is dressed with the coherence it drives,
  Z_ad = Z + B^{-1} L_rest Z, and the coarse operator is S = Y (sigma - L) Z_ad =
  sigma - Y L_rest B^{-1} L_rest Z: at sigma -> 0 this is the second-order (Eq. 8-like) generator
  of the battery populations, which is what the bath blocks alone cannot see.

    P r = B^{-1} r + Z_ad S^{-1} Y (r - (sigma - L) B^{-1} r).

The GMRES iteration count then depends on how well time scales separate, not on their ratio:
measured at N = M = 12, 13-14 iterations for 1e-12 at kappa = 0.01 against 58-91 with the bath
blocks alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from microsim.descriptions.numerics.linear import IntegrationError
from microsim.descriptions.numerics.radau import RADAU, radau_states

__all__ = ["ImplicitSystem", "ShiftedSolve", "gmres", "implicit_states", "solve_on_groups"]

FloatArray = NDArray[np.float64]

#: Krylov vectors kept by GMRES between restarts.
GMRES_RESTART = 30


@dataclass
class ImplicitSystem:
    """What the implicit propagation needs of a generator: L, the bath blocks, the slow space.

    ``bath_inverse(sigma)`` returns (sigma - L_bath)^{-1} (symmetric.BathSolve: on vectors, and
    per group of storage rows ``groups``, where Z_ad is formed);
    ``slow`` is Z (n x s, L_bath Z = 0), ``slow_dual`` is Y (s x n, Y L_bath = 0, Y Z = 1);
    ``stats`` counts shifts, solves and GMRES iterations; ``sectors`` (optional) gives each
    unknown's number of engine coherences c where the bath part of L is exactly its blocks and the
    rest changes c by one, which lets schur.py solve real shifts by CG; ``cache`` keeps
    what later solves share; ``levels`` (optional) gives, per group, the line of each row of its
    blocks, over which the blocks are block tridiagonal (lines.py).
    """

    generator: sp.csr_matrix
    bath_inverse: Callable[[complex], Any]
    groups: tuple[tuple[int, int], ...]
    slow: sp.csr_matrix
    slow_dual: sp.csr_matrix
    stats: dict[str, float] = field(default_factory=dict)
    sectors: NDArray[np.int64] | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    levels: tuple[NDArray[np.int64], ...] | None = None

    def __post_init__(self) -> None:
        self.dual_generator = sp.csr_matrix(self.slow_dual @ self.generator)  # Y L
        for key in ("solves", "iterations", "shifts"):
            self.stats.setdefault(key, 0)


class ShiftedSolve:
    """(sigma - L) x = b by right-preconditioned GMRES with the two-level preconditioner."""

    def __init__(self, system: ImplicitSystem, sigma: complex, tol: float) -> None:
        self.system, self.sigma, self.tol = system, sigma, tol
        dtype = complex if isinstance(sigma, complex) else float
        self.dtype = dtype
        self.bath = system.bath_inverse(sigma)
        self.dressed = self._dressed_slow_space()
        coarse = sigma * (system.slow_dual @ self.dressed) - system.dual_generator @ self.dressed
        self.coarse = sla.lu_factor(np.asarray(coarse.todense(), dtype=dtype))
        system.stats["shifts"] += 1

    def _dressed_slow_space(self) -> sp.csr_matrix:
        """Z_ad = Z + B^{-1} L Z (L_bath Z = 0), formed only on the groups that L Z reaches."""
        system = self.system
        groups = [(index, lo, hi) for index, (lo, hi) in enumerate(system.groups)]
        driven = sp.csr_matrix(system.generator @ system.slow)
        return sp.csr_matrix(system.slow.astype(self.dtype)
                             + solve_on_groups(self.bath, groups, driven, self.dtype))

    def precondition(self, r: NDArray) -> NDArray:
        system = self.system
        z = self.bath(r)
        residual = _product(system.slow_dual, r) - self.sigma * _product(system.slow_dual, z) \
            + _product(system.dual_generator, z)
        return z + self.dressed @ sla.lu_solve(self.coarse, residual, check_finite=False)

    def _a_p(self, v: NDArray) -> NDArray:
        x = self.precondition(v)
        return self.sigma * x - _product(self.system.generator, x)

    def solve(self, b: NDArray, tol: float | None = None) -> NDArray:
        """x with |(sigma - L) x - b| <= tol |b| (default: the tolerance given at construction)."""
        tol = self.tol if tol is None else tol
        b = np.asarray(b, dtype=self.dtype)
        norm = float(np.linalg.norm(b))
        if norm == 0.0:
            return np.zeros_like(b)
        x, iterations = gmres(self._a_p, self.precondition, b, tol)
        residual = float(np.linalg.norm(self.sigma * x - _product(self.system.generator, x) - b))
        residual /= norm
        self.system.stats["solves"] += 1
        self.system.stats["iterations"] += iterations
        if not residual <= 10.0 * tol:
            raise IntegrationError(f"GMRES stage solve stalled at residual {residual:.1e} "
                                   f"(sigma = {self.sigma:.3g})")
        return x


def solve_on_groups(bath: Any, groups: Iterable[tuple[int, int, int]], driven: sp.csr_matrix,
                    dtype: type = float) -> sp.csr_matrix:
    """The bath solve applied to the sparse columns ``driven``: for each (bath group, lo, hi), the
    group's block inverse on rows lo:hi, dense only on the groups the columns reach."""
    parts = []
    for index, lo, hi in groups:
        rows = driven[lo:hi]
        if rows.nnz == 0:
            parts.append(sp.csr_matrix((hi - lo, driven.shape[1]), dtype=dtype))
            continue
        solved = bath.group(index, rows.toarray().astype(dtype))
        solved[np.abs(solved) < 1e-300] = 0.0
        parts.append(sp.csr_matrix(solved))
    return sp.vstack(parts, format="csr")


def gmres(a_p: Callable[[NDArray], NDArray], precondition: Callable[[NDArray], NDArray],
          b: NDArray, tol: float, restart: int = GMRES_RESTART, max_restarts: int = 20,
          ) -> tuple[NDArray, int]:
    """x with |A x - b| <= tol |b|, by GMRES on A P u = b, x = P u (right preconditioning, so the
    residual is the true one). Arnoldi by classical Gram-Schmidt on the vectors in use (two
    matrix-vector products with the basis instead of k dot products), repeated once when it
    cancels more than 30 % of the vector, least squares by Givens rotations. Returns x and the
    number of iterations."""
    n, dtype = b.size, b.dtype
    target = tol * float(np.linalg.norm(b))
    basis = np.empty((restart + 1, n), dtype=dtype)
    u = np.zeros(n, dtype=dtype)
    r = b.copy()
    total = 0
    for _ in range(max_restarts):
        beta = float(np.linalg.norm(r))
        if beta <= target:
            break
        basis[0] = r / beta
        hess = np.zeros((restart + 1, restart), dtype=dtype)
        cs, sn = np.zeros(restart, dtype=dtype), np.zeros(restart, dtype=dtype)
        g = np.zeros(restart + 1, dtype=dtype)
        g[0] = beta
        k = 0
        while k < restart:
            w = a_p(basis[k])
            before = np.linalg.norm(w)
            for _ in range(2):  # the second pass only when the first lost most of w (Kahan)
                coeffs = (basis[: k + 1] @ w.conj()).conj()
                w -= coeffs @ basis[: k + 1]
                hess[: k + 1, k] += coeffs
                after = np.linalg.norm(w)
                if after > 0.7 * before:
                    break
                before = after
            hess[k + 1, k] = after
            if hess[k + 1, k] != 0:
                basis[k + 1] = w / hess[k + 1, k]
            for i in range(k):
                top = cs[i].conj() * hess[i, k] + sn[i].conj() * hess[i + 1, k]
                hess[i + 1, k] = -sn[i] * hess[i, k] + cs[i] * hess[i + 1, k]
                hess[i, k] = top
            rho = math.hypot(abs(hess[k, k]), abs(hess[k + 1, k]))
            cs[k], sn[k] = hess[k, k] / rho, hess[k + 1, k] / rho
            hess[k, k], hess[k + 1, k] = rho, 0.0
            g[k + 1] = -sn[k] * g[k]
            g[k] = cs[k].conj() * g[k]
            k += 1
            total += 1
            if abs(g[k]) <= target:
                break
        y = sla.solve_triangular(hess[:k, :k], g[:k])
        u += y @ basis[:k]
        r = b - a_p(u)
    return precondition(u), total


def _product(matrix: sp.csr_matrix, x: NDArray) -> NDArray:
    """matrix @ x for a real sparse matrix and a real or complex x, without the complex copy of
    the matrix that SciPy makes for a complex x (the real and imaginary parts as two columns)."""
    if not np.iscomplexobj(x):
        return matrix @ x
    pairs = matrix @ np.ascontiguousarray(x).view(np.float64).reshape(-1, 2)
    return pairs.reshape(-1).view(np.complex128)


@dataclass
class _Solves:
    """ShiftedSolves of descriptions/numerics/radau for one step size h."""

    h: float
    real: ShiftedSolve
    complex: ShiftedSolve

    def solve_real(self, b: FloatArray) -> FloatArray:
        return self.real.solve(b).real

    def solve_complex(self, b: FloatArray) -> NDArray[np.complex128]:
        return self.complex.solve(b)


def implicit_states(system: ImplicitSystem, x0: FloatArray, t: FloatArray, rtol: float,
                    atol: float) -> Iterator[FloatArray]:
    """Yield x(t_k) = exp(L (t_k - t_0)) x0 by Radau IIA with the stage solves above.

    The local error of each step is below atol + rtol |x| (RMS); the stage solves are converged
    to 1e-3 of rtol relative to their right-hand side, so they do not enter that budget.
    """
    tol = 1e-3 * rtol

    def shifted(h: float) -> _Solves:
        return _Solves(h, ShiftedSolve(system, RADAU.lam_real / h, tol),
                       ShiftedSolve(system, RADAU.lam_complex / h, tol))

    stats: dict[str, int] = {}
    yield from radau_states(system.generator.__matmul__, shifted, x0, t, rtol, atol,
                            h_max=math.inf, stats=stats)
    system.stats.update(stats)
