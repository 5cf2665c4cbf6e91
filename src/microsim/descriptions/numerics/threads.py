"""The second core of one solve: a worker thread beside the caller's, and sparse products split
between the two by rows.

NumPy's dense matrix products and SciPy's sparse ones (sparsetools) release the GIL while they
compute, so two Python threads run them on two cores. A parallel sweep runs one point per core
and sets MICROSIM_THREADS=1 (resources.solver_threads): then nothing is handed off.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from microsim.descriptions.resources import solver_threads

__all__ = ["RowSplit", "pool"]

#: Stored entries below which a sparse product stays on the caller's thread: the hand-off costs
#: tens of microseconds, a product of this size about a millisecond.
SPLIT_MIN_NNZ = 1 << 18

_POOL: dict[str, ThreadPoolExecutor] = {}


def pool() -> ThreadPoolExecutor | None:
    """One worker thread beside the caller's, if this solve may use two or more."""
    if solver_threads() < 2:
        return None
    if "pool" not in _POOL:
        _POOL["pool"] = ThreadPoolExecutor(1, thread_name_prefix="microsim-products")
    return _POOL["pool"]


class RowSplit:
    """A CSR matrix kept for products A @ x only, its rows cut into two parts of equal stored
    entries when the solve may use two threads; the worker thread computes the second part."""

    def __init__(self, matrix: sp.spmatrix) -> None:
        matrix = sp.csr_matrix(matrix)
        if solver_threads() >= 2 and matrix.nnz >= SPLIT_MIN_NNZ:
            cut = int(np.searchsorted(matrix.indptr, matrix.nnz // 2))
            self.parts: tuple[sp.csr_matrix, ...] = (matrix[:cut], matrix[cut:])
        else:
            self.parts = (matrix,)

    def here(self, x: NDArray) -> NDArray:
        """A @ x on the calling thread alone (for a caller that keeps the other thread busy)."""
        if len(self.parts) == 1:
            return self.parts[0] @ x
        return np.concatenate([part @ x for part in self.parts])

    def __matmul__(self, x: NDArray) -> NDArray:
        """A @ x for a vector or a block of columns x."""
        workers = pool() if len(self.parts) > 1 else None
        if workers is None:
            return self.here(x)
        job = workers.submit(self.parts[1].__matmul__, x)
        top = self.parts[0] @ x
        return np.concatenate((top, job.result()))
