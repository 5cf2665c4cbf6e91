"""Bath-block solves line by line (solvers/lines.py) against numpy's dense solve.

The structure they rest on, that every bath jump changes n22 by one, is checked on the model's
own blocks (BathBlocks, with unequal baths and other temperatures), where ``LineSolve.factor``
refuses any entry that couples lines further apart.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import paper_point
from microsim.descriptions import symmetric
from microsim.descriptions.symmetric import lines, schur


def symmetrized_block(k: int, sigma: float, **extra) -> tuple[np.ndarray, np.ndarray]:
    """S (sigma - L_bath) S^{-1} of the c = 0 block of K = k engines, in line order, and the
    lines (n22) of its rows."""
    p = paper_point(k, 0.1, n_engines=k, **extra)
    space = types.SimpleNamespace(counts=np.zeros((1, 5), dtype=int))  # one c = 0 row
    bath = symmetric.BathBlocks.build(p, space)
    matrix = bath.groups[0][2] + sigma * np.eye(bath.groups[0][2].shape[0])
    logs = schur.log_weights(sp.csr_matrix(-matrix), np.zeros(matrix.shape[0], dtype=int))
    assert logs is not None  # detailed balance on the chain 0 - 2 - 1
    local = np.exp(0.5 * (logs - logs[0]))
    order = np.argsort(bath.levels[0], kind="stable")
    scaled = (local[:, None] * matrix / local[None, :])[np.ix_(order, order)]
    return scaled, bath.levels[0][order]


@pytest.mark.parametrize(("k", "sigma", "extra"), [
    (6, 0.3, {}), (9, 0.05, {"gamma_ratio": 0.2, "wh": 4.0, "beta_c": 0.6}),
    (12, 2.0, {"gamma_ratio": 5.0, "beta_c": 2.0})])
def test_line_solve_of_a_bath_block_equals_the_dense_solve(k, sigma, extra):
    """On the symmetrized bath block (symmetric to round-off, 1e-14), the line solve in double
    precision equals numpy's solve to eps cond(A) of the solution's size (the backward-stable
    bound; cond reaches 1.6e5 at sigma = 0.05, since L_bath has a zero eigenvalue), and with
    float32 factors to 20 float32 epsilons (2.4e-6; 1.6e-7 measured)."""
    matrix, levels = symmetrized_block(k, sigma, **extra)
    assert np.abs(matrix - matrix.T).max() <= 1e-14 * np.abs(matrix).max()
    v = np.random.default_rng(k).normal(size=(matrix.shape[0], 7))
    exact = np.linalg.solve(matrix, v)
    condition = np.linalg.cond(matrix)
    for dtype, tol in ((np.float64, np.finfo(np.float64).eps * condition),
                       (np.float32, 20 * np.finfo(np.float32).eps)):
        solve = lines.LineSolve.factor(matrix, levels, dtype=dtype)
        assert len(solve.lines) == k + 1 and solve.size == matrix.shape[0]
        out = np.empty_like(v, dtype=dtype)
        solve(v.astype(dtype), out)
        assert np.abs(out - exact).max() <= tol * np.abs(exact).max()


def test_line_solve_on_a_strided_part_of_the_columns():
    """A share of the columns (as a thread gets it, a strided view) gives those columns of the
    whole solve, and leaves the other columns of ``out`` untouched."""
    matrix, levels = symmetrized_block(8, 0.4)
    solve = lines.LineSolve.factor(matrix, levels, dtype=np.float64)
    v = np.random.default_rng(1).normal(size=(matrix.shape[0], 10))
    whole = np.empty_like(v)
    solve(v, whole)
    out = np.full_like(v, np.nan)
    solve(v[:, 3:7], out[:, 3:7])
    assert np.allclose(out[:, 3:7], whole[:, 3:7], rtol=0, atol=1e-14 * np.abs(whole).max())
    assert np.isnan(out[:, :3]).all() and np.isnan(out[:, 7:]).all()


def test_random_block_tridiagonal_matrix():
    """A random symmetric positive definite block tridiagonal matrix with dense line blocks of
    unequal sizes (not a bath block): the line solve equals numpy's to 1e-12."""
    rng = np.random.default_rng(3)
    sizes = [4, 1, 6, 3, 5]
    levels = np.repeat(np.arange(len(sizes)), sizes)
    n = levels.size
    a = rng.normal(size=(n, n))
    matrix = a @ a.T
    matrix[np.abs(levels[:, None] - levels[None, :]) > 1] = 0  # block tridiagonal part
    matrix += n * np.eye(n)  # the cut may lose definiteness; factor() raises if the shift did not
    v = rng.normal(size=(n, 3))
    out = np.empty_like(v)
    lines.LineSolve.factor(matrix, levels, dtype=np.float64)(v, out)
    assert np.abs(out - np.linalg.solve(matrix, v)).max() <= 1e-12 * np.abs(out).max()


def test_matrices_without_the_structure_are_refused():
    """An entry coupling lines two apart, lines out of order or a matrix that is not positive
    definite is refused, not solved wrongly."""
    matrix, levels = symmetrized_block(5, 0.3)
    far = matrix.copy()
    i, j = np.flatnonzero(levels == 0)[0], np.flatnonzero(levels == 2)[0]
    far[i, j] = far[j, i] = 1e-3
    with pytest.raises(ValueError, match="more than one apart"):
        lines.LineSolve.factor(far, levels)
    with pytest.raises(ValueError, match="not decrease"):
        lines.LineSolve.factor(matrix, levels[::-1])
    with pytest.raises(np.linalg.LinAlgError):
        lines.LineSolve.factor(-matrix, levels)
