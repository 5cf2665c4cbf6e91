"""The five exact structures of docs/physics.md §4, each checked on the full tensor space (N = M = 2, 3).

Each claim is checked as an invariance of the full Liouvillian L (applied to a random operator of
the claimed subspace, an exact statement up to round-off, 1e-12 relative) and, at N = 2, along a
trajectory from the physical initial state.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import qutip

from conftest import paper_point
from microsim.descriptions import full
from microsim.model.operators import microscopic_model

ROUND_OFF = 1e-12


def _model(n: int, **kw):
    p = paper_point(n, 0.3, **kw)
    model = microscopic_model(p, "full")
    return p, model, full.liouvillian(model)


def _apply(liouvillian, x: np.ndarray) -> np.ndarray:
    d = x.shape[0]
    return (liouvillian @ x.ravel(order="F")).reshape(d, d, order="F")


def _random_in(mask: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=mask.shape) + 1j * rng.normal(size=mask.shape)
    return np.where(mask, x, 0.0)


def _levels(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per basis state: engine levels (d, M) and battery excitations (d,), qutip ordering."""
    states = np.array(list(itertools.product(range(3), repeat=n)))
    bits = np.array(list(itertools.product(range(2), repeat=n)))
    engines = np.repeat(states, 2**n, axis=0)
    battery = np.tile(bits.sum(axis=1), 3**n)
    return engines, battery


def _symmetric_projector(n: int) -> np.ndarray:
    dicke = full.dicke_vectors(n)
    return np.kron(np.eye(3**n), dicke @ dicke.T)


def _scale(liouvillian) -> float:
    return float(abs(liouvillian).max())


@pytest.mark.parametrize("n", [2, 3])
def test_claim1_batteries_stay_symmetric(n):
    """1. Collective battery operators leave 1_E (x) Pi_sym invariant: L(P X P) = P L(P X P) P."""
    _, model, L = _model(n)
    proj = _symmetric_projector(n)
    for op in [model.hamiltonian, *model.c_ops]:
        a = op.full()
        assert np.abs(a @ proj - proj @ a).max() < ROUND_OFF * max(1.0, np.abs(a).max())
    x = proj @ _random_in(np.ones_like(proj, dtype=bool)) @ proj
    y = _apply(L, x)
    assert np.abs(y - proj @ y @ proj).max() < ROUND_OFF * _scale(L)
    rho0 = model.rho0.full()
    assert np.abs(rho0 - proj @ rho0 @ proj).max() == 0.0


@pytest.mark.parametrize("n", [2, 3])
def test_claim2_engine_permutation_invariance(n):
    """2. Swapping two engines commutes with L, and the initial state is swap-invariant."""
    _, model, L = _model(n)
    order = [1, 0, *range(2, 2 * n)]
    x = qutip.Qobj(_random_in(np.ones(model.rho0.shape, bool)), dims=model.rho0.dims)
    lhs = _apply(L, x.permute(order).full())
    rhs = qutip.Qobj(_apply(L, x.full()), dims=model.rho0.dims).permute(order).full()
    assert np.abs(lhs - rhs).max() < ROUND_OFF * _scale(L)
    assert (model.rho0.permute(order) - model.rho0).norm() == 0.0


@pytest.mark.parametrize("n", [2, 3])
def test_claim3_weak_u1_symmetry(n):
    """3. Q = #engines in |1> + battery excitations: [H, Q] = 0, every jump changes Q by a fixed
    amount, and L maps the sector Q_ket = Q_bra into itself."""
    _, model, L = _model(n)
    engines, battery = _levels(n)
    q = (engines == 1).sum(axis=1) + battery
    h = model.hamiltonian.full()
    assert np.abs(h * (q[:, None] - q[None, :])).max() < ROUND_OFF
    for c in model.c_ops:
        rows, cols = np.nonzero(np.abs(c.full()) > 0)
        assert len(set(q[rows] - q[cols])) == 1
    mask = q[:, None] == q[None, :]
    y = _apply(L, _random_in(mask))
    assert np.abs(y[~mask]).max() < ROUND_OFF * _scale(L)


def _no_level2_coherence_mask(n: int) -> np.ndarray:
    engines, _ = _levels(n)
    ket2 = engines[:, None, :] == 2
    bra2 = engines[None, :, :] == 2
    return ~np.any(ket2 ^ bra2, axis=2)


@pytest.mark.parametrize("n", [2, 3])
def test_claim4_no_coherence_with_level_2(n):
    """4. Operators without |2><0|, |2><1| (or conjugate) parts on any engine stay without them."""
    _, _, L = _model(n)
    mask = _no_level2_coherence_mask(n)
    y = _apply(L, _random_in(mask))
    assert np.abs(y[~mask]).max() < ROUND_OFF * _scale(L)


@pytest.mark.parametrize("n", [2, 3])
def test_claim5_free_hamiltonian_commutes_and_equations_are_real(n):
    """5. [H_E + H_B, V] = 0, and without H_0 the Liouvillian is real in the product basis."""
    _, model, _ = _model(n)
    assert (model.free * model.coupling - model.coupling * model.free).norm() < ROUND_OFF
    no_free = qutip.liouvillian(model.coupling, model.c_ops).data_as("csr_matrix")
    assert np.abs(no_free.imag).max() == 0.0


def test_claims_along_a_trajectory(grid):
    """From the physical initial state (N = M = 2) every claimed zero stays zero in time."""
    p, model, _ = _model(2)
    rho, _ = full.evolve_states(p, grid)
    proj = _symmetric_projector(2)
    engines, battery = _levels(2)
    q = (engines == 1).sum(axis=1) + battery
    outside_u1 = q[:, None] != q[None, :]
    outside_4 = ~_no_level2_coherence_mask(2)
    order = [1, 0, 2, 3]
    for r in rho:
        assert np.abs(r - proj @ r @ proj).max() < 1e-10
        assert np.abs(r[outside_u1]).max() < 1e-10
        assert np.abs(r[outside_4]).max() < 1e-10
        swapped = qutip.Qobj(r, dims=model.rho0.dims).permute(order).full()
        assert np.abs(swapped - r).max() < 1e-10


def test_dropping_free_hamiltonian_changes_nothing(grid):
    """Consequence of claim 5: the interaction picture gives the same battery energy."""
    p, model, _ = _model(2)
    from microsim.descriptions.numerics.linear import SolverOptions, integrate

    y0 = model.rho0.full().ravel(order="F")
    no_free = qutip.liouvillian(model.coupling, model.c_ops).data_as("csr_matrix")
    ys = integrate(no_free, y0, grid, SolverOptions())
    number = model.battery_number.full().ravel(order="F")
    energy = (ys @ number.conj()).real * p.w0  # Tr(N rho) with N real diagonal
    np.testing.assert_allclose(energy, full.evolve(p, grid).energy, atol=1e-7)
