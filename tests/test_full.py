"""The full-tensor microscopic solver: Eq. 3, the exact product steady state, conservation laws,
the individual protocol and the approach to Eq. 8 as kappa -> 0."""

from __future__ import annotations

import numpy as np
import pytest
import qutip

from conftest import PAPER_X, paper_point
from microsim.analysis.comparison import compare, default_time_grid
from microsim.descriptions import full
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.model import closed_forms as cf
from microsim.model.operators import microscopic_model
from microsim.model.params import ModelParams

# Trajectories are integrated with rtol 1e-8, atol 1e-11 on the state vector; observables that are
# sums of O(1) entries are trusted to 1e-7, and exact identities (trace, hermiticity) to 1e-9.
OBS_TOL = 1e-7


def test_engine_alone_relaxes_to_eq3():
    """With g = 0 an engine started in |0> relaxes to Eq. 3 at the rate of its slowest bath."""
    p = ModelParams(g=0.0, gamma_h=0.5, gamma_c=0.8, engine_init="ground")
    t = np.linspace(0.0, 80.0, 81)  # e^{-0.5*80} ~ 4e-18: fully relaxed
    traj = full.evolve(p, t)
    np.testing.assert_allclose(traj.engine_populations[-1], p.engine_steady_populations,
                               atol=OBS_TOL)
    np.testing.assert_allclose(traj.engine_populations[0], [1, 0, 0], atol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("kappa", [0.05, 0.5, 2.0])
def test_steady_state_energy_is_eq14_for_any_g(n, kappa):
    """docs/physics.md §3: Eq. 3 (x) Eq. 13 is an exact steady state for every g, so E_ss = N e_N."""
    p = paper_point(n, kappa)
    ss = full.steady_state(p)
    # one sparse direct solve: round-off only (condition number ~ rates ratio), 1e-10 relative
    assert ss.energy == pytest.approx(n * cf.capacity(n, PAPER_X), rel=1e-10)
    np.testing.assert_allclose(ss.engine_populations, p.engine_steady_populations, atol=1e-10)
    np.testing.assert_allclose(ss.battery_populations, cf.steady_populations(n, PAPER_X),
                               atol=1e-10)


def test_steady_state_is_the_late_time_limit():
    p = paper_point(2, 0.3)
    t = np.linspace(0.0, 2000.0, 11)
    traj = full.evolve(p, t, SolverOptions(rtol=1e-10, atol=1e-13))
    ss = full.steady_state(p)
    assert traj.energy[-1] == pytest.approx(ss.energy, abs=1e-8)
    np.testing.assert_allclose(traj.battery_populations[-1], ss.battery_populations, atol=1e-8)


def test_plain_steadystate_of_full_space_is_the_wrong_mixture():
    """The kernel of the 2^N Liouvillian is degenerate: QuTiP's steadystate picks a mixture
    (seen: 1.4228 instead of 1.4833 at N = 2); ours is the sector of |0...0>."""
    p = paper_point(2, 0.2)
    model = microscopic_model(p, "full")
    naive = qutip.steadystate(model.hamiltonian, model.c_ops)
    naive_energy = qutip.expect(model.battery_number, naive)
    ours = full.steady_state(p).energy
    assert ours == pytest.approx(2 * cf.capacity(2, PAPER_X), rel=1e-10)
    assert abs(naive_energy - ours) > 1e-2


def test_battery_environment_changes_the_steady_state():
    """With a battery environment at another temperature Eq. 3 (x) Eq. 13 is no longer steady:
    the solved steady state is still the late-time limit, and it differs from Eq. 8's."""
    p = paper_point(2, 0.3).replace(gamma_env=0.02, beta_env=1.0)
    ss = full.steady_state(p)
    traj = full.evolve(p, np.linspace(0.0, 3000.0, 7), SolverOptions(rtol=1e-10, atol=1e-13))
    assert traj.energy[-1] == pytest.approx(ss.energy, abs=1e-8)
    from microsim.descriptions import effective

    assert abs(ss.energy - effective.steady_state(p).energy) > 1e-4


def test_trace_hermiticity_positivity_along_trajectory(grid):
    p = paper_point(2, 0.3)
    rho, _ = full.evolve_states(p, grid)
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-9)
    assert np.abs(rho - rho.conj().transpose(0, 2, 1)).max() < 1e-9
    smallest = min(np.linalg.eigvalsh(0.5 * (r + r.conj().T)).min() for r in rho)
    assert smallest >= -1e-9


def test_individual_protocol_is_n_copies_of_the_pair(grid):
    """Eq. 6 built on the full 3^N 2^N space equals N times the N = 1 problem."""
    p = paper_point(2, 0.3, protocol="individual")
    whole = full.evolve(p, grid)
    c = compare(p, grid, "full")
    np.testing.assert_allclose(whole.energy, c.mic.energy, atol=2 * OBS_TOL)
    np.testing.assert_allclose(whole.sigma, c.mic.sigma, atol=1e-6)
    np.testing.assert_allclose(whole.ergotropy, c.mic.ergotropy, atol=2 * OBS_TOL)


@pytest.mark.parametrize("n", [1, 2])
def test_eps_traj_falls_as_kappa_squared(n):
    """At fixed (beta_e w0, Gamma_e) the leading correction of adiabatic elimination is O(kappa^2).

    Measured slopes 1.971 (N = 1) and 1.994 (N = 2) for kappa in [0.002, 0.016] (grid-independent
    maxima; the local slope is 1.994 between 0.002 and 0.004 at N = 1); above
    kappa ~ 0.03 the slope bends down because the coherence rate gamma_01 is about 5x smaller
    than the rate of Eq. 7. Band [1.9, 2.1]: the solver error (~1e-8) is far below eps_traj >= 1e-4.
    """
    kappas = np.array([0.002, 0.004, 0.008, 0.016])
    errors = []
    for kappa in kappas:
        p = paper_point(n, kappa)
        errors.append(compare(p, default_time_grid(p, points=201), "full").figures["eps_traj"])
    slope = np.polyfit(np.log(kappas), np.log(errors), 1)[0]
    assert 1.9 < slope < 2.1
    assert np.all(np.diff(errors) > 0)


def test_memory_guard_refuses_what_does_not_fit(monkeypatch):
    """The guard compares the estimate with 80 % of the available memory, which is fixed here so
    that the test does not depend on the machine: N = M = 4 (tens of GiB of LU fill-in and 401
    stored 1296^2 states) is refused up front with the solver and the size named; a small problem
    is refused just below its estimate and solved just above it."""
    from microsim.descriptions import resources
    from microsim.descriptions.resources import ResourceError, full_solver_bytes

    gib = 2**30
    monkeypatch.setattr(resources, "available_memory", lambda: 32 * gib)
    big = paper_point(4)
    needed = full_solver_bytes(big, 401)
    assert needed > 24 * gib
    with pytest.raises(ResourceError, match=(
            rf"^the full solver needs about {needed / gib:.1f} GiB for N = 4, M = 4, more than "
            r"the 25\.6 GiB available; use the symmetric solver \(collective protocol\), the "
            r"effective one \(Eq\. 8\) or fewer batteries$")):
        full.evolve(big, np.linspace(0, 1, 401))

    small, t = paper_point(1), np.linspace(0.0, 1.0, 11)
    needed = full_solver_bytes(small, t.size)
    monkeypatch.setattr(resources, "available_memory", lambda: needed)  # 80 % of it: too little
    with pytest.raises(ResourceError, match=r"^the full solver needs about .* GiB for N = 1, M = 1"):
        full.evolve(small, t)
    monkeypatch.setattr(resources, "available_memory", lambda: int(needed / 0.8) + 16)
    assert full.evolve(small, t).energy.shape == t.shape
