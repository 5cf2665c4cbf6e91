"""Sparse products split between two threads (solvers/threads.py): the same numbers as one."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from microsim.descriptions import symmetric
from microsim.descriptions.numerics import threads
from microsim.model.params import ModelParams


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_products_equal_the_matrix_product(monkeypatch, dtype):
    """Rows computed on either thread are the rows of A @ x, bit for bit (each row's sum is
    the same sequence of operations), for a vector and for a block of two columns; with one
    thread allowed the matrix is not cut."""
    monkeypatch.setattr(threads, "SPLIT_MIN_NNZ", 16)
    rng = np.random.default_rng(3)
    a = sp.random(500, 500, density=0.02, format="csr", random_state=rng, dtype=dtype)
    x = rng.normal(size=500).astype(dtype)
    block = rng.normal(size=(500, 2)).astype(dtype)
    monkeypatch.setenv("MICROSIM_THREADS", "2")
    split = threads.RowSplit(a)
    assert len(split.parts) == 2 and sum(p.nnz for p in split.parts) == a.nnz
    assert abs(split.parts[0].nnz - split.parts[1].nnz) <= 2 * a.getnnz(axis=1).max()
    for v in (x, block):
        out = split @ v
        assert out.dtype == dtype and np.array_equal(out, a @ v)
    monkeypatch.setenv("MICROSIM_THREADS", "1")
    assert len(threads.RowSplit(a).parts) == 1


def test_chebyshev_curve_is_the_same_on_two_threads(monkeypatch):
    """The Chebyshev propagation with its products on two threads (its matrix cut in two)
    reproduces the one-thread states exactly (N = M = 4, unequal baths, kappa = 0.3)."""
    monkeypatch.setattr(threads, "SPLIT_MIN_NNZ", 16)
    p = ModelParams.from_effective(-0.8, 0.1, 0.3, 4, gamma_ratio=2.0)
    t = np.linspace(0.0, 20.0, 11)
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    gen, x0 = symmetric.generator(p, space), symmetric.initial_state(p, space)
    curves, parts = {}, {}
    for count in ("1", "2"):
        monkeypatch.setenv("MICROSIM_THREADS", count)
        plan: dict[str, object] = {}
        curves[count] = np.array(list(symmetric.chebyshev_propagate(
            gen, x0, t, symmetric.spectral_bounds(p), 1e-11, plan=plan)))
        parts[count] = len(plan["twice"].parts)  # type: ignore[attr-defined]
    assert parts == {"1": 1, "2": 2}
    assert np.array_equal(curves["1"], curves["2"])


@pytest.mark.parametrize("line_min", [1, 1 << 30])
def test_float32_schur_operators_are_the_same_on_two_threads(monkeypatch, line_min):
    """The float32 product and preconditioner of the CG solves (solvers/schur.py) with A_ee x
    computed on the worker thread while the caller solves the bath blocks, the sparse products
    cut in two and the blocks shared between the threads, equal the one-thread numbers (N = M =
    5, unequal baths): bit for bit with every bath block solved line by line (line_min = 1),
    which stay on one thread; with dense inverses only, whose copies are cut between the
    threads, to 2 float32 units in the last place of the largest entry, since BLAS may take
    another kernel for a share of the columns (OpenBLAS 0.3.31 does: 53 of 262 entries of the
    preconditioner differ by 3e-8, none of the product's)."""
    from microsim.descriptions.symmetric import schur

    monkeypatch.setattr(threads, "SPLIT_MIN_NNZ", 16)
    monkeypatch.setattr(schur, "THREAD_MIN_WORK", 64)
    monkeypatch.setattr(schur, "LINE_MIN_SIZE", line_min)
    monkeypatch.setattr(schur, "LINE_MIN_WORK", 0)
    p = ModelParams.from_effective(-0.8, 0.1, 0.2, 5, gamma_ratio=0.3)
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    outputs = {}
    for count in ("1", "2"):
        monkeypatch.setenv("MICROSIM_THREADS", count)
        system = symmetric.implicit_system(p, space, symmetric.generator(p, space))
        solve = schur.shifted_solve(system, 0.4, 1e-10)
        parts = len(solve.single["a_ee"].parts)
        assert parts == int(count)
        x = np.random.default_rng(2).normal(size=solve.split.even.size).astype(np.float32)
        outputs[count] = (solve._product_single(x), solve._precondition_single(x))
    for one, two in zip(outputs["1"], outputs["2"], strict=True):
        if line_min == 1:
            assert np.array_equal(one, two)
        else:
            ulp = float(np.spacing(np.abs(one).max()))
            assert np.abs(two - one).max() <= 2 * ulp
