"""Solves with one bath block, applied to many columns at once: line by line or by a dense inverse.

A bath block of the symmetric representation (symmetric.BathBlocks) acts on the triangle
n11 + n22 <= K of the engines' populations. Every bath jump of Eq. 1 (0 <-> 2, 1 <-> 2) changes
n22 by one, so with the triangle ordered by lines of constant n22 the block is block tridiagonal
with diagonal blocks on the lines. After the symmetrization S (sigma - L_bath) S^{-1}
(schur.py) it is symmetric positive definite, and block Cholesky along the lines,

    T_0 = A_00,   G_j = A_{j,j-1} T_{j-1}^{-1},   T_j = A_jj - G_j A_{j-1,j},

solves it exactly with dense products of line size only: about K^3 multiply-adds per column
against (K^2 / 2)^2 for the dense inverse, 15 times fewer at K = 60. ``LineSolve`` does that; it
wins from K ~ 20 on (docs/performance.md), and ``DenseSolve`` keeps the dense inverse below.

Both act on a (size, columns) array: the columns are the blocks' copies (the group's other
quantum numbers), each line a contiguous range of rows, so every product is one matrix product
over all copies. Factors are formed in double precision and kept in single precision, as the
float32 CG rounds of schur.py use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

__all__ = ["DenseSolve", "LineSolve"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class DenseSolve:
    """A^{-1} applied as one dense product (``inverse`` holds A^{-1})."""

    inverse: NDArray

    @property
    def size(self) -> int:
        """Rows of the block."""
        return int(self.inverse.shape[0])

    @property
    def cost(self) -> int:
        """Multiply-adds per column."""
        return self.size ** 2

    def __call__(self, v: NDArray, out: NDArray) -> None:
        """out = A^{-1} v for v of shape (size, columns); out must not overlap v."""
        np.matmul(self.inverse, v, out=out)


@dataclass(frozen=True)
class LineSolve:
    """A^{-1} for A symmetric positive definite and block tridiagonal over contiguous lines,
    by block Cholesky (module docstring). ``lines[j]`` are the rows of line j, ``gains[j]`` is
    G_j (``gains[0]`` is empty), ``inverses[j]`` is T_j^{-1}."""

    lines: tuple[slice, ...]
    gains: tuple[NDArray, ...]
    gains_t: tuple[NDArray, ...]
    inverses: tuple[NDArray, ...]

    @classmethod
    def factor(cls, matrix: FloatArray, levels: IntArray,
               dtype: type = np.float32) -> LineSolve:
        """The factors of ``matrix`` (dense, symmetric) whose rows lie on lines ``levels`` (0, 1,
        ... in increasing order). ValueError if an entry couples lines more than one apart;
        LinAlgError if a pivot block T_j is not positive definite."""
        levels = np.asarray(levels)
        if levels.size != matrix.shape[0] or np.any(np.diff(levels) < 0) or levels[0] != 0:
            raise ValueError("levels must start at 0 and not decrease along the rows")
        bounds = np.searchsorted(levels, np.arange(int(levels[-1]) + 2))
        if np.any(np.diff(bounds) == 0):
            raise ValueError("every line from 0 to the last must hold a row")
        reach = np.abs(levels[:, None] - levels[None, :]) > 1
        if np.any(matrix[reach] != 0):
            raise ValueError("the matrix couples lines more than one apart")
        lines = tuple(slice(int(a), int(b)) for a, b in pairwise(bounds))
        gains, inverses = [np.zeros((0, 0))], []
        previous: FloatArray | None = None
        for j, line in enumerate(lines):
            pivot = matrix[line, line]
            if j:
                below = matrix[line, lines[j - 1]]
                gain = below @ previous
                pivot = pivot - gain @ below.T
                gains.append(gain)
            factor = sla.cho_factor(0.5 * (pivot + pivot.T))
            previous = sla.cho_solve(factor, np.eye(pivot.shape[0]))
            inverses.append(0.5 * (previous + previous.T))
        return cls(lines, tuple(g.astype(dtype) for g in gains),
                   tuple(np.ascontiguousarray(g.T, dtype=dtype) for g in gains),
                   tuple(t.astype(dtype) for t in inverses))

    @property
    def size(self) -> int:
        """Rows of the block."""
        return self.lines[-1].stop

    @property
    def cost(self) -> int:
        """Multiply-adds per column: G_j and G_j^T once each, T_j^{-1} once."""
        return sum(2 * g.size + t.size for g, t in zip(self.gains, self.inverses, strict=True))

    def __call__(self, v: NDArray, out: NDArray) -> None:
        """out = A^{-1} v for v of shape (size, columns); out must not overlap v.

        Forward y_j = v_j - G_j y_{j-1}, back x_J = T_J^{-1} y_J, x_j = T_j^{-1} y_j - G_{j+1}^T
        x_{j+1}, both in place in ``out``."""
        lines = self.lines
        out[...] = v
        for j in range(1, len(lines)):
            out[lines[j]] -= self.gains[j] @ out[lines[j - 1]]
        last = lines[-1]
        out[last] = self.inverses[-1] @ out[last]
        for j in range(len(lines) - 2, -1, -1):
            x = self.inverses[j] @ out[lines[j]]
            x -= self.gains_t[j + 1] @ out[lines[j + 1]]
            out[lines[j]] = x
