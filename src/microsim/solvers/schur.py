"""Real shifted solves (sigma - L) x = b of the collective generator by conjugate gradients.

Structure used (docs/physics.md §4): let c = n10 + n01 count the engine coherences of an
unknown. The bath part of L keeps c, the coupling -i[V, .] changes it by one. There is a diagonal
D > 0 with D L_bath symmetric (each engine's baths obey detailed balance: its levels form the
chain 0 - 2 - 1) and D L_coupling antisymmetric (a commutator with the Hermitian V); ``log_weights``
finds D along a spanning tree of the generator's graph and checks it on every entry. Split the
unknowns by the parity of c. With A = sigma - L,

    A = [[A_ee, -L_eo], [-L_oe, A_oo]],   A_ee, A_oo = sigma - L_bath (the bath blocks),

and the odd unknowns are eliminated exactly with the bath blocks:

    C x_e = b_e + L_eo A_oo^{-1} b_o,   C = A_ee - L_eo A_oo^{-1} L_oe,
    x_o = A_oo^{-1} (b_o + L_oe x_e).

Since D L_oe = -(D L_eo)^T, C is self-adjoint and positive definite in the D inner product for
real sigma > 0: conjugate gradients apply, with no restart and no orthogonalization. The
preconditioner is the even bath blocks with the slow manifold (engines in Eq. 3, battery in
|m><m|, the coarse space of solvers/implicit.py) deflated in the balancing Neumann-Neumann form,
which keeps it self-adjoint. The preconditioned spectrum is real, in [1, 1 + a^2], mostly near 1
with a few outliers, where GMRES on the unreduced system sees the segment 1 + i[-a, a] with
a ~ 4.5 kappa sqrt(N) (docs/performance.md). Measured at N = 30, kappa = 0.1: 44 iterations and
1.3 s per solve against 116 and 5.9 s for GMRES.

A battery environment adds terms that keep c but move m, so the bath blocks no longer invert
A_oo: ``shifted_solve`` then, and for complex sigma, returns the GMRES solve of solvers/implicit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
from numpy.typing import NDArray

from microsim.solvers.implicit import ImplicitSystem, ShiftedSolve, solve_on_groups
from microsim.solvers.linear import IntegrationError

__all__ = ["SchurSolve", "log_weights", "shifted_solve"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: D must make the generator symmetric / antisymmetric to this relative accuracy on every entry.
WEIGHT_TOLERANCE = 1e-9
#: CG iterations at most per round, and rounds (restarts from the true residual) at most.
MAX_ITERATIONS = 3000
MAX_ROUNDS = 3
#: Rows per chunk of the check in log_weights.
CHECK_ROWS = 1 << 18


def log_weights(gen: sp.csr_matrix, sectors: IntArray) -> FloatArray | None:
    """log d_i of the diagonal D with D L symmetric on entries within a sector (same c) and
    antisymmetric between sectors, or None if no such D exists (to WEIGHT_TOLERANCE).

    Along a breadth-first spanning tree of the graph of L, d_j / d_i = |L_ij / L_ji| for the
    tree edge (i, j); the path sums are accumulated by pointer jumping. Then every off-diagonal
    pair is checked, with its sign, CHECK_ROWS rows at a time (the temporaries stay small next
    to L itself, which matters at N = 60).
    """
    n = gen.shape[0]
    gen = sp.csr_matrix(gen)
    if not gen.has_canonical_format:  # sorted indices: L and L^T align if their patterns agree
        gen = gen.copy()
        gen.sum_duplicates()
    transpose = sp.csr_matrix(gen.T)
    transpose.sum_duplicates()
    if not (np.array_equal(gen.indptr, transpose.indptr)
            and np.array_equal(gen.indices, transpose.indices)):
        return None
    if np.any((gen.data == 0) != (transpose.data == 0)):  # an entry without its mirror
        return None
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.abs(gen.data)) - np.log(np.abs(transpose.data))
    pattern = sp.csr_matrix((np.ones(gen.nnz, dtype=np.int8), gen.indices, gen.indptr),
                            shape=(n, n))
    count, labels = csgraph.connected_components(pattern, directed=False)
    parent = np.arange(n)
    for label in range(count):
        root = int(np.argmax(labels == label))
        reached, tree = csgraph.breadth_first_order(pattern, root, directed=False,
                                                    return_predecessors=True)
        parent[reached[1:]] = tree[reached[1:]]
    del pattern, labels
    child = np.flatnonzero(parent != np.arange(n))
    ratio = sp.csr_matrix((log_ratio, gen.indices, gen.indptr), shape=(n, n))
    step = np.zeros(n)
    step[child] = np.asarray(ratio[parent[child], child]).ravel()
    is_root = parent == np.arange(n)
    total, ancestor = step, parent
    while not np.all(is_root[ancestor]):
        total, ancestor = total + total[ancestor], ancestor[ancestor]
    for lo in range(0, n, CHECK_ROWS):
        hi = min(lo + CHECK_ROWS, n)
        seg = slice(gen.indptr[lo], gen.indptr[hi])
        rows = np.repeat(np.arange(lo, hi), np.diff(gen.indptr[lo: hi + 1]))
        cols = gen.indices[seg]
        values, transposed = gen.data[seg], transpose.data[seg]
        off = (rows != cols) & (values != 0)
        rows, cols, values, transposed = rows[off], cols[off], values[off], transposed[off]
        if np.any(np.abs(total[rows] - total[cols] + log_ratio[seg][off]) > WEIGHT_TOLERANCE):
            return None
        within = sectors[rows] == sectors[cols]
        if np.any(np.where(within, np.sign(values) != np.sign(transposed),
                           np.sign(values) != -np.sign(transposed))):
            return None
    return total


@dataclass(frozen=True)
class _Split:
    """What every shift shares: the parity split, its blocks of L and the weights D."""

    even: IntArray
    odd: IntArray
    l_ee: sp.csr_matrix
    l_eo: sp.csr_matrix
    l_oe: sp.csr_matrix
    weights: FloatArray  #: D on the even unknowns
    even_groups: tuple[tuple[int, int, int], ...]  #: (bath group, lo, hi) in the even vector
    odd_groups: tuple[tuple[int, int, int], ...]
    slow: sp.csr_matrix  #: Z on the even unknowns

    @classmethod
    def build(cls, system: ImplicitSystem) -> _Split | None:
        sectors = system.sectors
        if sectors is None:
            return None
        logs = log_weights(system.generator, sectors)
        if logs is None:
            return None
        even, odd = np.flatnonzero(sectors % 2 == 0), np.flatnonzero(sectors % 2 == 1)
        gen = system.generator
        rows_even, rows_odd = gen[even], gen[odd]
        groups: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] = ([], [])
        filled = [0, 0]
        for index, (lo, hi) in enumerate(system.groups):
            parity = int(sectors[lo] % 2)
            groups[parity].append((index, filled[parity], filled[parity] + hi - lo))
            filled[parity] += hi - lo
        logs = logs - 0.5 * (logs.max() + logs.min())
        return cls(even, odd, sp.csr_matrix(rows_even[:, even]), sp.csr_matrix(rows_even[:, odd]),
                   sp.csr_matrix(rows_odd[:, even]), np.exp(logs[even]), tuple(groups[0]),
                   tuple(groups[1]), sp.csr_matrix(system.slow[even]))


def _split(system: ImplicitSystem) -> _Split | None:
    if "schur" not in system.cache:
        system.cache["schur"] = _Split.build(system)
    return system.cache["schur"]  # type: ignore[return-value]


def shifted_solve(system: ImplicitSystem, sigma: complex, tol: float) -> SchurSolve | ShiftedSolve:
    """The solver of (sigma - L) x = b: SchurSolve where it applies (real sigma > 0, a generator
    with the structure above), else the GMRES ShiftedSolve."""
    if isinstance(sigma, (int, float)) and sigma > 0:
        split = _split(system)
        if split is not None:
            return SchurSolve(system, split, float(sigma), tol)
    return ShiftedSolve(system, sigma, tol)


class SchurSolve:
    """(sigma - L) x = b for real sigma > 0 by preconditioned CG on the even Schur complement."""

    def __init__(self, system: ImplicitSystem, split: _Split, sigma: float, tol: float) -> None:
        self.system, self.split, self.sigma, self.tol = system, split, sigma, tol
        self.bath = system.bath_inverse(sigma)
        self.a_ee = sp.csr_matrix(sigma * sp.identity(split.even.size, format="csr") - split.l_ee)
        c_slow = self._c_slow()
        # Z lives on the first (c = 0) rows and C Z on the first (c <= 2) rows: the coarse
        # operations touch only these prefixes of the vectors.
        self.z_end = int(split.slow.nonzero()[0].max()) + 1
        self.c_end = int(c_slow.nonzero()[0].max()) + 1
        self.slow = sp.csr_matrix(split.slow[: self.z_end])
        self.c_slow = sp.csr_matrix(c_slow[: self.c_end])
        self.c_slow_t = sp.csr_matrix(self.c_slow.T)
        self.slow_t = sp.csr_matrix(self.slow.T)
        d = split.weights
        coarse = self.slow_t @ (d[: self.c_end, None] * self.c_slow.toarray())[: self.z_end]
        self.coarse = sla.cho_factor(0.5 * (coarse + coarse.T))
        system.stats["shifts"] += 1

    def _blocks(self, groups: tuple[tuple[int, int, int], ...], v: NDArray) -> NDArray:
        """(sigma - L_bath)^{-1} on a compressed even or odd vector (or block of columns)."""
        out = np.empty_like(v)
        for index, lo, hi in groups:
            out[lo:hi] = self.bath.group(index, v[lo:hi])
        return out

    def _c_slow(self) -> sp.csr_matrix:
        """C Z, formed on the odd groups that L_oe Z reaches (as implicit's dressed space)."""
        split = self.split
        inner = solve_on_groups(self.bath, split.odd_groups, sp.csr_matrix(split.l_oe @ split.slow))
        return sp.csr_matrix(self.a_ee @ split.slow - split.l_eo @ inner)

    def product(self, x: FloatArray) -> FloatArray:
        """C x on the even unknowns."""
        split = self.split
        y = self.a_ee @ x
        y -= split.l_eo @ self._blocks(split.odd_groups, split.l_oe @ x)
        return y

    def _coarse(self, r: FloatArray) -> FloatArray:
        """E^{-1} Z^T D r, E = Z^T D C Z."""
        end = self.z_end
        return sla.cho_solve(self.coarse, self.slow_t @ (self.split.weights[:end] * r[:end]),
                             check_finite=False)

    def _lift(self, coarse: FloatArray) -> FloatArray:
        """Z coarse, as a full even vector."""
        out = np.zeros(self.split.even.size)
        out[: self.z_end] = self.slow @ coarse
        return out

    def precondition(self, r: FloatArray) -> FloatArray:
        """(1 - Q C) B_e^{-1} (1 - C Q) r + Q r with Q = Z (Z^T D C Z)^{-1} Z^T D."""
        end, d = self.c_end, self.split.weights
        coarse = self._coarse(r)
        deflated = r.copy()
        deflated[:end] -= self.c_slow @ coarse
        y = self._blocks(self.split.even_groups, deflated)
        correction = sla.cho_solve(self.coarse, self.c_slow_t @ (d[:end] * y[:end]),
                                   check_finite=False)
        y[: self.z_end] += self.slow @ (coarse - correction)
        return y

    def solve(self, b: NDArray, tol: float | None = None) -> FloatArray:
        """x with |(sigma - L) x - b| <= tol |b| (2-norm; default: the tolerance at construction)."""
        tol = self.tol if tol is None else tol
        b = np.asarray(b, dtype=float)
        norm = float(np.linalg.norm(b))
        if norm == 0.0:
            return np.zeros_like(b)
        split = self.split
        b_odd = b[split.odd]
        rhs = b[split.even] + split.l_eo @ self._blocks(split.odd_groups, b_odd)
        x = self._lift(self._coarse(rhs))
        target = tol * norm
        total, rounds = 0, 0
        residual = rhs - self.product(x)
        while float(np.linalg.norm(residual)) > target:  # the true residual, not CG's recurrence
            if rounds == MAX_ROUNDS:
                raise IntegrationError(f"CG stage solve stalled at residual "
                                       f"{float(np.linalg.norm(residual)) / norm:.1e} "
                                       f"(sigma = {self.sigma:.3g})")
            step, iterations = self._cg(residual, target)
            x += step
            total, rounds = total + iterations, rounds + 1
            residual = rhs - self.product(x)
        self.system.stats["solves"] += 1
        self.system.stats["iterations"] += total
        self.system.stats["cg_solves"] = self.system.stats.get("cg_solves", 0) + 1
        out = np.empty_like(b)
        out[split.even] = x
        out[split.odd] = self._blocks(split.odd_groups, b_odd + split.l_oe @ x)
        return out

    def _cg(self, r: FloatArray, target: float) -> tuple[FloatArray, int]:
        """Preconditioned CG in the D inner product for C u = r, from u = 0."""
        d = self.split.weights
        r = r.copy()
        u = np.zeros_like(r)
        z = self.precondition(r)
        direction = z.copy()
        rho = float(np.dot(d * r, z))
        for k in range(1, MAX_ITERATIONS + 1):
            q = self.product(direction)
            alpha = rho / float(np.dot(d * direction, q))
            u += alpha * direction
            r -= alpha * q
            if float(np.linalg.norm(r)) <= target:
                return u, k
            z = self.precondition(r)
            rho, previous = float(np.dot(d * r, z)), rho
            direction *= rho / previous
            direction += z
        return u, MAX_ITERATIONS
