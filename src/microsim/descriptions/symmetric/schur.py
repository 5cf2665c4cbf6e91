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
|m><m|, the coarse space of implicit.py) deflated in the balancing Neumann-Neumann form,
which keeps it self-adjoint. The preconditioned spectrum is real, in [1, 1 + a^2], mostly near 1
with a few outliers, where GMRES on the unreduced system sees the segment 1 + i[-a, a] with
a ~ 4.5 kappa sqrt(N) (docs/performance.md). Measured at N = 30, kappa = 0.1: 44 iterations and
1.3 s per solve against 116 and 5.9 s for GMRES.

A battery environment adds terms that keep c but move m, so the bath blocks no longer invert
A_oo: ``shifted_solve`` then, and for complex sigma, returns the GMRES solve of implicit.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
from numpy.typing import NDArray
from scipy.linalg.blas import saxpy

from microsim.descriptions.numerics.linear import IntegrationError
from microsim.descriptions.numerics.threads import RowSplit, pool
from microsim.descriptions.symmetric.implicit import ImplicitSystem, ShiftedSolve, solve_on_groups
from microsim.descriptions.symmetric.lines import DenseSolve, LineSolve

__all__ = ["SchurSolve", "log_weights", "shifted_solve"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: D must make the generator symmetric / antisymmetric to this relative accuracy on every entry.
WEIGHT_TOLERANCE = 1e-9
#: CG iterations at most per round, and rounds (restarts from the true residual) at most.
MAX_ITERATIONS = 3000
MAX_ROUNDS = 3
#: Multiply-adds below which a group's blocks are not split between two threads.
THREAD_MIN_WORK = 1 << 20
#: The last float32 round aims at this times the target. Below 1 was tried against a shift of
#: eps_traj at N = 6, kappa = 0.003 (1e-6 of itself); the balancing coarse correction after each
#: round (``solve``) removed that shift, so the rounds aim at the target itself.
SINGLE_MARGIN = 1.0
#: A float32 round aims at this reduction of the residual (about 100 times float32's epsilon):
#: the rounds continue while each gains a factor 10, then double precision takes over.
SINGLE_REDUCTION = 1e-5
#: In float32, block products flush entries below this times the largest to zero (_apply). At
#: kappa = 0.01 the weighted vectors reach subnormal numbers (below 1.2e-38), which the processor
#: handles many times slower: N = 40, kappa = 0.01 took 198 s in the bench run, 61 % of it in the
#: block products. The flushed entries lie 1e13 below float32's resolution of the largest one.
FLUSH = 1e-20
#: Vectors of at least this many entries (16 MB in float32, beyond the caches) are flushed group
#: by group (_apply).
FLUSH_BY_GROUP = 1 << 22
#: A group's bath blocks are solved line by line in float32 (lines.py) when they have at
#: least LINE_MIN_SIZE rows and their dense inverse would cost at least LINE_MIN_WORK
#: multiply-adds per application; else by the dense inverse. A line solve makes 3 (K + 1) small
#: products, whose call overhead (5 to 10 us each) a group must amortize. Measured on one core,
#: per group, dense against lines: K = 60 with 61 copies (N = 60, c = 0) 6.7 against 2.1 ms;
#: K = 40, 561 copies 8.2 against 2.7 ms; K = 20, 649 copies 1.1 against 0.7 ms; K = 30 with
#: 31 copies (N = 30, c = 0, 7.6e6 multiply-adds) 0.33 ms both; K = 15: dense 1.4 times faster.
LINE_MIN_SIZE = 200
LINE_MIN_WORK = 20_000_000
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
    single: _Single | None = None  #: the symmetrized float32 operators, if the blocks allow them

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
        l_ee, l_eo = sp.csr_matrix(rows_even[:, even]), sp.csr_matrix(rows_even[:, odd])
        l_oe = sp.csr_matrix(rows_odd[:, even])
        split_groups = (tuple(groups[0]), tuple(groups[1]))
        single = None if system.levels is None else _Single.build(
            logs[even], logs[odd], l_ee, l_eo, l_oe, split_groups, system.levels)
        return cls(even, odd, l_ee, l_eo, l_oe, np.exp(logs[even]), *split_groups,
                   sp.csr_matrix(system.slow[even]), single)


@dataclass(frozen=True)
class _Single:
    """The Schur complement in symmetrized, line-major coordinates, in single precision.

    With S = D^{1/2}, S L_bath S^{-1} is symmetric and S L_coupling S^{-1} antisymmetric, and
    their entries are geometric means of mirrored rates, free of the range of the weights (d
    spans 1e-31..1e31 at N = 40). Single precision halves the bytes a CG iteration reads; the
    solve refines its float32 rounds with residuals in double precision (``SchurSolve.solve``).

    The float32 vectors are also reordered within each group: the group's (copies, size) rows
    become (size, copies), the block's rows sorted by line (``ImplicitSystem.levels``). A bath
    block then acts on a (size, copies) view whose lines are contiguous rows (lines.py).
    ``order_e[i]`` is the even unknown stored at float32 position i.
    """

    scale_e: FloatArray  #: S on the even unknowns
    logs_e: FloatArray  #: log d on the even unknowns
    logs_o: FloatArray
    order_e: IntArray
    order_o: IntArray
    line_orders: dict[int, IntArray]  #: per group, the block's rows in line order
    levels: dict[int, IntArray]  #: per group, the line of each row in that order
    l_ee: sp.csr_matrix  #: S L_ee S^{-1}, float32, reordered
    l_eo: RowSplit
    l_oe: RowSplit

    @classmethod
    def build(cls, logs_e: FloatArray, logs_o: FloatArray, l_ee: sp.csr_matrix,
              l_eo: sp.csr_matrix, l_oe: sp.csr_matrix, split_groups: tuple[
                  tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]],
              levels: tuple[IntArray, ...]) -> _Single:
        s_e, s_o = np.exp(0.5 * logs_e), np.exp(0.5 * logs_o)
        line_orders = {index: np.argsort(levels[index], kind="stable")
                       for groups in split_groups for index, _, _ in groups}
        order_e, order_o = (_line_major(groups, line_orders) for groups in split_groups)

        def scaled(block: sp.csr_matrix, left: FloatArray, right: FloatArray, rows: IntArray,
                   cols: IntArray) -> sp.csr_matrix:
            return _permuted(sp.csr_matrix(sp.diags(left) @ block @ sp.diags(1.0 / right),
                                           dtype=np.float32), rows, cols)

        return cls(s_e, logs_e, logs_o, order_e, order_o, line_orders,
                   {index: levels[index][order] for index, order in line_orders.items()},
                   scaled(l_ee, s_e, s_e, order_e, order_e),
                   RowSplit(scaled(l_eo, s_e, s_o, order_e, order_o)),
                   RowSplit(scaled(l_oe, s_o, s_e, order_o, order_e)))

    def blocks(self, bath: Any, groups: tuple[tuple[int, int, int], ...],
               odd: bool) -> dict[int, LineSolve | DenseSolve] | None:
        """S (sigma - L_bath)^{-1} S^{-1} per group, on the group's (size, copies) view (float32):
        by lines where the block and the group are large enough (LINE_MIN_SIZE, LINE_MIN_WORK),
        else as a dense inverse.

        Every block of a group has the same weights up to a factor (it is the same bath matrix),
        so one scaled solve serves the group; None if the weights do not have that form.
        """
        logs = self.logs_o if odd else self.logs_e
        out: dict[int, LineSolve | DenseSolve] = {}
        for index, lo, hi in groups:
            order = self.line_orders[index]
            pattern = logs[lo:hi].reshape(-1, order.size)
            pattern = pattern - pattern[:, :1]
            if np.abs(pattern - pattern[:1]).max() > WEIGHT_TOLERANCE * max(
                    1.0, float(np.abs(pattern).max())):
                return None
            local = np.exp(0.5 * pattern[0])[order]
            if order.size >= LINE_MIN_SIZE and (hi - lo) * order.size >= LINE_MIN_WORK:
                matrix = bath.matrix(index)[np.ix_(order, order)]
                out[index] = LineSolve.factor(local[:, None] * matrix / local[None, :],
                                              self.levels[index])
            else:
                inverse = bath.inverses[index][2].T[np.ix_(order, order)]
                out[index] = DenseSolve(np.ascontiguousarray(
                    local[:, None] * inverse / local[None, :], dtype=np.float32))
        return out


def _line_major(groups: tuple[tuple[int, int, int], ...],
                line_orders: dict[int, IntArray]) -> IntArray:
    """The unknown stored at each float32 position: per group, position p * copies + b holds
    row line_orders[p] of copy b (see _Single)."""
    parts = []
    for index, lo, hi in groups:
        order = line_orders[index]
        copies = (hi - lo) // order.size
        parts.append((lo + order[:, None] + order.size * np.arange(copies)[None, :]).ravel())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _permuted(matrix: sp.csr_matrix, rows: IntArray, cols: IntArray) -> sp.csr_matrix:
    """P_r A P_c^T: row i is A's row rows[i], column j its column cols[j]."""
    out = sp.csr_matrix(matrix[rows])
    where = np.empty(cols.size, dtype=out.indices.dtype)
    where[cols] = np.arange(cols.size, dtype=out.indices.dtype)
    out.indices = where[out.indices]
    out.has_sorted_indices = False
    out.sort_indices()
    return out


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
        self.single = self._single() if split.single is not None else None
        system.stats["shifts"] += 1

    def _single(self) -> dict[str, Any] | None:
        """The float32 operators of this shift in the coordinates S x (see _Single)."""
        single, split = self.split.single, self.split
        assert single is not None
        even = single.blocks(self.bath, split.even_groups, odd=False)
        odd = single.blocks(self.bath, split.odd_groups, odd=True)
        if even is None or odd is None:
            return None
        a_ee = RowSplit(self.sigma * sp.identity(split.even.size, format="csr",
                                                 dtype=np.float32) - single.l_ee)
        # A_ee x goes to the worker during the odd bath solves only if some are line solves,
        # which keep the caller's thread to themselves; dense ones share both threads.
        overlap = any(isinstance(solver, LineSolve) for solver in odd.values())
        ops: dict[str, Any] = {"a_ee": a_ee, "even": even, "odd": odd, "overlap": overlap}
        for name, prefix in (("slow", self.slow), ("c_slow", self.c_slow)):
            rows = sp.csr_matrix(sp.diags(single.scale_e[: prefix.shape[0]]) @ prefix)
            rows.resize((split.even.size, prefix.shape[1]))
            rows = sp.csr_matrix(rows[single.order_e])
            end = int(rows.nonzero()[0].max()) + 1  # still a prefix: the order keeps groups
            ops[name], ops[name + "_t"], ops[name + "_end"] = rows[:end], sp.csr_matrix(
                rows[:end].T), end
        return ops

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
        return sp.csr_matrix(self.sigma * split.slow - split.l_ee @ split.slow
                             - split.l_eo @ inner)

    def product(self, x: FloatArray) -> FloatArray:
        """C x on the even unknowns (sigma x - L_ee x formed here: a stored sigma - L_ee would
        take the memory of four Krylov vectors)."""
        split = self.split
        y = self.sigma * x
        y -= split.l_ee @ x
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
        coarse = self._coarse(rhs)
        x = self._lift(coarse)
        target = tol * norm
        total, rounds = 0, 0
        residual = rhs.copy()  # rhs - C Z coarse, with C Z known on its rows
        residual[: self.c_end] -= self.c_slow @ coarse
        single = self.single is not None
        size = float(np.linalg.norm(residual))
        while size > target:  # the true residual, not CG's recurrence
            if rounds == MAX_ROUNDS:
                raise IntegrationError(f"CG stage solve stalled at residual "
                                       f"{size / norm:.1e} (sigma = {self.sigma:.3g})")
            if single:
                step, iterations = self._cg_single(
                    residual, max(SINGLE_MARGIN * target, SINGLE_REDUCTION * size))
            else:
                step, iterations = self._cg(residual, target)
                rounds += 1
            x += step
            total += iterations
            residual = rhs - self.product(x)
            if single:  # rebalance: float32 noise must not stay on the slow manifold
                coarse = self._coarse(residual)
                x[: self.z_end] += self.slow @ coarse
                residual[: self.c_end] -= self.c_slow @ coarse
            size, before = float(np.linalg.norm(residual)), size
            single = single and size < 0.1 * before
        self.system.stats["solves"] += 1
        self.system.stats["iterations"] += total
        self.system.stats["cg_solves"] = self.system.stats.get("cg_solves", 0) + 1
        out = np.empty_like(b)
        out[split.even] = x
        out[split.odd] = self._blocks(split.odd_groups, b_odd + split.l_oe @ x)
        return out

    def _product_single(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """S C S^{-1} x in float32.

        With a second thread and line solves among the odd bath blocks (lines.py, which
        keep them on this thread), A_ee x is computed on the other thread meanwhile. Without line
        solves the blocks share both threads, which A_ee x there would only hold up."""
        ops, single = self.single, self.split.single
        assert ops is not None and single is not None
        inner = single.l_oe @ x
        workers = pool() if ops["overlap"] and len(ops["a_ee"].parts) > 1 else None
        job = None if workers is None else workers.submit(ops["a_ee"].here, x)
        inner = _apply(ops["odd"], self.split.odd_groups, inner)
        y = ops["a_ee"] @ x if job is None else job.result()
        y -= single.l_eo @ inner
        return y

    def _precondition_single(self, r: NDArray[np.float32]) -> NDArray[np.float32]:
        """S P S^{-1} r in float32 (P as ``precondition``; the coarse part in float64)."""
        ops = self.single
        assert ops is not None
        z_end, c_end = ops["slow_end"], ops["c_slow_end"]
        coarse = sla.cho_solve(self.coarse, ops["slow_t"] @ r[:z_end].astype(float),
                               check_finite=False)
        deflated = r.copy()
        deflated[:c_end] -= ops["c_slow"] @ coarse
        y = _apply(ops["even"], self.split.even_groups, deflated)
        correction = sla.cho_solve(self.coarse, ops["c_slow_t"] @ y[:c_end].astype(float),
                                   check_finite=False)
        y[:z_end] += ops["slow"] @ (coarse - correction)
        return y

    def _cg_single(self, r: FloatArray, target: float) -> tuple[FloatArray, int]:
        """A step u with |r - C u| <= target (estimated), by CG in float32 on S C S^{-1}.

        The residual is normalized before rounding to float32; the stopping test is on the
        residual in the original coordinates, |S^{-1} r_S|, which the caller checks in double.
        """
        single = self.split.single
        assert single is not None
        order = single.order_e
        scale = single.scale_e
        r_s = scale * r
        norm = float(np.linalg.norm(r_s))
        inverse = 1.0 / scale
        peak = float(inverse.max())
        inverse_n = (inverse[order] / peak).astype(np.float32)
        goal = target / (norm * peak)
        r32 = (r_s[order] / norm).astype(np.float32)
        u = np.zeros_like(r32)
        weighted = np.empty_like(r32)
        z = self._precondition_single(r32)
        direction = z.copy()
        rho = float(np.dot(r32, z))
        for k in range(1, MAX_ITERATIONS + 1):  # in place: at N = 60 a vector is 38 MB
            q = self._product_single(direction)
            alpha = rho / float(np.dot(direction, q))
            u = saxpy(direction, u, a=alpha)
            r32 = saxpy(q, r32, a=-alpha)
            if float(np.linalg.norm(np.multiply(r32, inverse_n, out=weighted))) <= goal:
                return _unordered(u, order) * (norm * inverse), k
            z = self._precondition_single(r32)
            rho, previous = float(np.dot(r32, z)), rho
            direction *= np.float32(rho / previous)
            direction += z
        return _unordered(u, order) * (norm * inverse), MAX_ITERATIONS

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


def _unordered(u: NDArray[np.float32], order: IntArray) -> FloatArray:
    """The float32 vector u back in the even unknowns' order, in double precision."""
    out = np.empty(u.size)
    out[order] = u
    return out


def _apply(solvers: dict[int, LineSolve | DenseSolve], groups: tuple[tuple[int, int, int], ...],
           v: NDArray) -> NDArray:
    """The bath solves (one per group, on its (size, copies) view) on a float32 even or odd vector.
    v may be overwritten.

    With a second thread (threads.pool) the groups are shared between two threads
    (_shared_block_products).

    In float32, entries below FLUSH times the largest of v are set to zero in v and in the result:
    they are far below float32's resolution of the result, and as subnormal numbers they made
    each product many times slower (docs/performance.md). Vectors of FLUSH_BY_GROUP entries or
    more are flushed group by group, while the group is in cache (N = 60: a pass over the whole
    vector took 25 ms); smaller ones at once, which costs fewer calls (N = 30: 1.8 ms against
    3.7 ms per application)."""
    floor = FLUSH * float(max(v.max(initial=0.0), -v.min(initial=0.0))) \
        if v.dtype == np.float32 else 0.0
    by_group = floor if v.size >= FLUSH_BY_GROUP else 0.0
    if floor > 0 and not by_group:
        _flush(v, floor)
    out = np.empty_like(v)
    parts = [(index, lo, hi, 0, (hi - lo) // solvers[index].size) for index, lo, hi in groups]
    workers = pool() if v.size * 64 >= THREAD_MIN_WORK else None  # small problems: no hand-off
    if workers is None:
        _block_products(solvers, v, out, parts, by_group)
    else:
        _shared_block_products(workers, solvers, parts, v, out, by_group)
    if floor > 0 and not by_group:
        _flush(out, floor)
    return out


Part = tuple[int, int, int, int, int]  #: (group, lo, hi, first copy, end copy)


def _shared_block_products(workers: ThreadPoolExecutor, solvers: dict[int, LineSolve | DenseSolve],
                           parts: list[Part], v: NDArray, out: NDArray, floor: float) -> None:
    """_block_products with the groups shared between the caller and ``workers``' thread.

    Line solves all stay on the caller's thread: their Python loop holds the GIL between its
    small products, and two such loops at once ran slower than one after the other (K = 30 to
    60, 1.3 to 1.7 times). Dense groups, one long product each, fill the other thread."""
    shares: tuple[list[Part], list[Part]] = ([], [])
    work = [0, 0]
    for index, lo, hi, a, b in sorted(parts, key=lambda g: -(g[4] - g[3]) * solvers[g[0]].cost):
        cost = solvers[index].cost
        if isinstance(solvers[index], LineSolve):
            shares[0].append((index, lo, hi, a, b))
            work[0] += (b - a) * cost
            continue
        half = (a + b) // 2
        pieces = [(a, half), (half, b)] if b - a > 1 and (b - a) * cost >= THREAD_MIN_WORK \
            else [(a, b)]
        for first, end in pieces:
            lighter = int(work[1] < work[0])
            shares[lighter].append((index, lo, hi, first, end))
            work[lighter] += (end - first) * cost
    job = workers.submit(_block_products, solvers, v, out, shares[1], floor)
    _block_products(solvers, v, out, shares[0], floor)
    job.result()


def _flush(a: NDArray, floor: float) -> None:
    """Set the entries of ``a`` below ``floor`` in magnitude to zero, in place."""
    small = np.abs(a) < floor
    if small.any():
        np.putmask(a, small, 0)


def _block_products(solvers: dict[int, LineSolve | DenseSolve], v: NDArray, out: NDArray,
                    parts: list[Part], floor: float = 0.0) -> None:
    for index, lo, hi, first, end in parts:
        size = solvers[index].size
        rows = v[lo:hi].reshape(size, -1)[:, first:end]
        result = out[lo:hi].reshape(size, -1)[:, first:end]
        if floor > 0:
            _flush(rows, floor)
        solvers[index](rows, result)
        if floor > 0:
            _flush(result, floor)
