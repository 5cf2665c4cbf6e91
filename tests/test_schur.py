"""CG on the even Schur complement (solvers/schur.py): the structure it rests on, checked on the
assembled generator, and its solves against dense linear algebra.

The structure: a diagonal D > 0 makes the bath part of L symmetric and the coupling part
antisymmetric. That is a property of the model (detailed balance of each engine's baths on the
chain 0 - 2 - 1, Hermitian coupling), so it is checked for unequal baths, other gaps and
temperatures, M != N and both engine starts, not only at the paper's point; a battery
environment leaves the solve to GMRES.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import paper_point
from microsim.descriptions import symmetric
from microsim.descriptions.numerics.linear import IntegrationError
from microsim.descriptions.symmetric import lines, schur
from microsim.descriptions.symmetric.implicit import ShiftedSolve

UNEQUAL = {"gamma_ratio": 0.2, "wh": 4.0, "beta_c": 0.6}
CASES = [(3, 3, 0.1, {}), (4, 2, 0.05, UNEQUAL), (2, 4, 0.3, {"gamma_ratio": 5.0, "wh": 2.5}),
         (3, 3, 0.02, {"engine_init": "ground", "beta_c": 2.0})]


def system_of(p):
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    gen = symmetric.generator(p, space)
    return space, gen, symmetric.implicit_system(p, space, gen)


@pytest.mark.parametrize(("n", "m", "kappa", "extra"), CASES)
def test_weights_make_bath_symmetric_and_coupling_antisymmetric(n, m, kappa, extra):
    """On the dense generator, entry by entry: (D L_bath)_ij = (D L_bath)_ji and (D L_V)_ij =
    -(D L_V)_ji, where L_bath keeps the number of engine coherences c and L_V changes it (to
    1e-12 of the pair, round-off of the weights' logarithms); and L_V changes c by one."""
    p = paper_point(n, kappa, n_engines=m, **extra)
    _, gen, system = system_of(p)
    logs = schur.log_weights(gen, system.sectors)
    assert logs is not None
    dense = gen.toarray()
    c = system.sectors
    keeps = c[:, None] == c[None, :]
    scaled = np.exp(logs - logs.max())[:, None] * dense
    bath, coupling = np.where(keeps, scaled, 0.0), np.where(keeps, 0.0, scaled)
    assert np.all(np.abs(bath - bath.T) <= 1e-12 * (np.abs(bath) + np.abs(bath.T)))
    assert np.all(np.abs(coupling + coupling.T) <= 1e-12 * (np.abs(coupling) + np.abs(coupling.T)))
    assert np.count_nonzero(coupling) > 0 and np.count_nonzero(bath - np.diag(np.diag(bath))) > 0
    assert np.all(np.abs(c[:, None] - c[None, :])[dense != 0] <= 1)


def test_no_weights_for_a_generator_without_the_structure():
    """A generator whose coupling is not antisymmetric under any D (one entry's sign flipped)
    or whose pattern is not symmetric gets None, not wrong weights."""
    p = paper_point(2, 0.1)
    _, gen, system = system_of(p)
    coo = sp.coo_matrix(gen)
    crossing = np.flatnonzero(system.sectors[coo.row] != system.sectors[coo.col])[0]
    flipped = coo.data.copy()
    flipped[crossing] *= -1.0
    assert schur.log_weights(sp.csr_matrix((flipped, (coo.row, coo.col)), shape=gen.shape),
                             system.sectors) is None
    one_way = sp.csr_matrix(gen, copy=True)
    one_way[coo.row[crossing], coo.col[crossing]] = 0.0
    one_way.eliminate_zeros()
    assert schur.log_weights(one_way, system.sectors) is None


@pytest.mark.parametrize(("n", "m", "kappa", "extra"), CASES)
def test_solve_matches_dense_solve(n, m, kappa, extra):
    """(sigma - L) x = b against numpy's dense solve, for shifts from the slow rate to beyond the
    bath rates and a right-hand side with every entry populated: the relative residual is below
    the requested 1e-11 and x agrees to 1e-9 (the system's condition number is about
    gamma_01 / sigma, at most 1e3 here)."""
    p = paper_point(n, kappa, n_engines=m, **extra)
    _, gen, system = system_of(p)
    rng = np.random.default_rng(7)
    b = rng.normal(size=gen.shape[0])
    dense = gen.toarray()
    for sigma in (1e-3 * p.gamma_01, 0.1, 10.0 * p.gamma_01):
        solve = schur.shifted_solve(system, sigma, 1e-11)
        assert isinstance(solve, schur.SchurSolve)
        x = solve.solve(b)
        a = sigma * np.eye(gen.shape[0]) - dense
        assert np.linalg.norm(a @ x - b) <= 1.0001e-11 * np.linalg.norm(b)
        exact = np.linalg.solve(a, b)
        assert np.linalg.norm(x - exact) <= 1e-9 * np.linalg.norm(exact)
    assert system.stats["cg_solves"] == 3


@pytest.mark.parametrize(("n", "m", "kappa", "extra"), CASES[:2])
def test_preconditioned_schur_complement_is_positive_and_self_adjoint(n, m, kappa, extra):
    """D C is symmetric positive definite, and the preconditioned P C has a real spectrum in
    [1, oo): what makes CG converge (1e-10 relative, round-off of the dense products)."""
    p = paper_point(n, kappa, n_engines=m, **extra)
    system = system_of(p)[2]
    solve = schur.shifted_solve(system, 0.5, 1e-10)
    size = solve.split.even.size
    unit = np.eye(size)
    c = np.column_stack([solve.product(unit[:, k]) for k in range(size)])
    dc = solve.split.weights[:, None] * c
    assert np.abs(dc - dc.T).max() <= 1e-10 * np.abs(dc).max()
    assert np.linalg.eigvalsh(0.5 * (dc + dc.T)).min() > 0
    pc = np.column_stack([solve.precondition(col) for col in c.T])
    eig = np.linalg.eigvals(pc)
    assert np.abs(eig.imag).max() <= 1e-10 * np.abs(eig).max()
    assert eig.real.min() >= 1.0 - 1e-10


def test_complex_shifts_and_battery_environment_go_to_gmres():
    """Radau's complex shifts and a generator with a battery environment (which moves m inside
    a sector, so the bath blocks do not invert it) are solved by GMRES."""
    _, _, system = system_of(paper_point(2, 0.1))
    assert isinstance(schur.shifted_solve(system, 0.5 + 0.5j, 1e-9), ShiftedSolve)
    _, _, env = system_of(paper_point(2, 0.1).replace(gamma_env=0.05, beta_env=0.5))
    assert env.sectors is None
    assert isinstance(schur.shifted_solve(env, 0.5, 1e-9), ShiftedSolve)


def test_every_cg_round_counts_and_a_stall_is_reported(monkeypatch):
    """In double precision (the single-precision rounds switched off), with CG cut to a few
    iterations per round the solve still reaches 1e-10 through its restarts from the true
    residual, the last round included (MAX_ROUNDS rounds of 4 iterations against about 10
    needed here); with one iteration per round it raises instead of returning a wrong x."""
    monkeypatch.setattr(schur.SchurSolve, "_single", lambda self: None)
    p = paper_point(3, 0.1, **UNEQUAL)
    _, gen, system = system_of(p)
    b = np.random.default_rng(3).normal(size=gen.shape[0])
    dense = 0.5 * np.eye(gen.shape[0]) - gen.toarray()
    full = schur.shifted_solve(system, 0.5, 1e-10)
    full.solve(b)
    needed = system.stats["iterations"]
    per_round = int(np.ceil(needed / schur.MAX_ROUNDS))
    assert per_round < needed
    monkeypatch.setattr(schur, "MAX_ITERATIONS", per_round)
    x = schur.shifted_solve(system, 0.5, 1e-10).solve(b)
    assert np.linalg.norm(dense @ x - b) <= 1.0001e-10 * np.linalg.norm(b)
    monkeypatch.setattr(schur, "MAX_ITERATIONS", 1)
    with pytest.raises(IntegrationError, match="stalled"):
        schur.shifted_solve(system, 0.5, 1e-10).solve(b)


@pytest.mark.parametrize("line_min", [schur.LINE_MIN_SIZE, 1])
@pytest.mark.parametrize(("n", "m", "kappa", "extra"), CASES)
def test_single_precision_operators_are_the_symmetrized_schur_complement(n, m, kappa, extra,
                                                                         line_min, monkeypatch):
    """The float32 product and preconditioner are S C S^{-1} and S P S^{-1} with S = D^{1/2}
    (C and P from the double-precision solver, column by column, in the float32 vectors' line-major
    order), to 1e-6 of the largest entry (float32 round-off, 6e-8, over a few terms per entry),
    and S C S^{-1} is symmetric to the same accuracy although C itself is not (the weights span
    decades). With line_min = 1 every bath block is solved line by line (solvers/lines.py), else
    by its dense inverse: both must give the same operators."""
    monkeypatch.setattr(schur, "LINE_MIN_SIZE", line_min)
    monkeypatch.setattr(schur, "LINE_MIN_WORK", 0)
    p = paper_point(n, kappa, n_engines=m, **extra)
    _, _, system = system_of(p)
    solve = schur.shifted_solve(system, 0.7, 1e-10)
    assert solve.single is not None
    kinds = {type(s).__name__ for s in solve.single["even"].values()}
    assert kinds == ({"LineSolve"} if line_min == 1 else {"DenseSolve"})
    size = solve.split.even.size
    eye = np.eye(size)
    scale = solve.split.single.scale_e
    order = solve.split.single.order_e
    assert np.array_equal(np.sort(order), np.arange(size))
    for double, single in ((solve.product, solve._product_single),
                           (solve.precondition, solve._precondition_single)):
        exact = (np.array([double(e) for e in eye]).T * scale[:, None] / scale[None, :])[
            np.ix_(order, order)]
        approx = np.array([single(e.astype(np.float32)) for e in eye]).T
        peak = np.abs(exact).max()
        assert np.abs(approx - exact).max() <= 1e-6 * peak
        assert np.abs(approx - approx.T).max() <= 1e-6 * peak
    c = np.array([solve.product(e) for e in eye]).T
    assert np.abs(c - c.T).max() > 1e-3 * np.abs(c).max()  # the symmetry is S's doing


@pytest.mark.parametrize("line_min", [schur.LINE_MIN_SIZE, 1])
def test_single_precision_rounds_reach_double_precision_accuracy(monkeypatch, line_min):
    """A solve to 1e-10, far below float32's epsilon, is reached by single-precision rounds
    alone, each refined from the residual in double precision (at least two rounds, since a round
    aims at SINGLE_REDUCTION = 1e-5), and agrees with numpy's dense solve; with the bath blocks
    solved by dense inverses and line by line (line_min = 1)."""
    monkeypatch.setattr(schur, "LINE_MIN_SIZE", line_min)
    monkeypatch.setattr(schur, "LINE_MIN_WORK", 0)
    p = paper_point(4, 0.05, n_engines=5, **UNEQUAL)
    _, gen, system = system_of(p)
    calls = {"single": 0, "double": 0}
    single, double = schur.SchurSolve._cg_single, schur.SchurSolve._cg

    def count(kind, method):
        def wrapped(self, r, target):
            calls[kind] += 1
            return method(self, r, target)
        return wrapped

    monkeypatch.setattr(schur.SchurSolve, "_cg_single", count("single", single))
    monkeypatch.setattr(schur.SchurSolve, "_cg", count("double", double))
    b = np.random.default_rng(5).normal(size=gen.shape[0])
    x = schur.shifted_solve(system, 0.3, 1e-10).solve(b)
    dense = 0.3 * np.eye(gen.shape[0]) - gen.toarray()
    assert np.linalg.norm(dense @ x - b) <= 1.0001e-10 * np.linalg.norm(b)
    assert calls["single"] >= 2 and calls["double"] == 0


@pytest.mark.parametrize("by_group", [False, True])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_float32_block_products_flush_subnormal_numbers(monkeypatch, threads, by_group):
    """Entries of a float32 vector far below its largest (here 1e-39, subnormal, and 1e-30, whose
    products would be) leave the block products as zeros, not as subnormal numbers that
    slow the processor down; the rest equals the float64 product to float32 accuracy. Two
    groups of 3 x 3 blocks on (3, copies) views, large enough to be shared between threads
    when allowed; the whole vector flushed at once, or group by group as large vectors are."""
    monkeypatch.setenv("MICROSIM_THREADS", threads)
    monkeypatch.setattr(schur, "THREAD_MIN_WORK", 64)
    monkeypatch.setattr(schur, "FLUSH_BY_GROUP", 1 if by_group else 1 << 22)
    rng = np.random.default_rng(7)
    inverses = {0: rng.normal(size=(3, 3)), 1: rng.normal(size=(3, 3)) * 1e-9}
    groups = ((0, 0, 3000), (1, 3000, 6000))
    v = rng.normal(size=6000)
    v[:1000] = 1e-39 * rng.normal(size=1000)  # the first row of every block: subnormal
    v[3000:4000] = 1e-30  # times the 1e-9 blocks: below float32's normal range
    solvers = {k: lines.DenseSolve(a.astype(np.float32)) for k, a in inverses.items()}
    out = schur._apply(solvers, groups, v.astype(np.float32))
    tiny = np.finfo(np.float32).tiny
    assert not np.any((out != 0) & (np.abs(out) < tiny))
    exact = np.concatenate([(inverses[k] @ v[lo:hi].reshape(3, -1)).ravel()
                            for k, lo, hi in groups])
    assert np.abs(out - exact).max() <= 1e-6 * np.abs(exact).max()
