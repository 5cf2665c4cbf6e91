"""The shift-and-invert Krylov propagation (solvers/krylov.py) of the symmetric generator.

Checked against the dense matrix exponential of the same generator (independent of every
propagation of the solver), against Radau and Chebyshev on whole charging curves, in the long-time
limit against the steady state of Eq. 14, and on its two ways out: a window that does not converge
is halved, a solve that stalls hands over to Radau.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from conftest import paper_point
from microsim.analysis.comparison import effective_charging_time
from microsim.descriptions import symmetric
from microsim.descriptions.numerics.linear import IntegrationError, SolverOptions
from microsim.descriptions.symmetric import krylov
from microsim.descriptions.symmetric.schur import SchurSolve
from microsim.model.closed_forms import capacity
from microsim.model.params import ModelParams

UNEQUAL = {"gamma_ratio": 0.2, "wh": 4.0, "beta_c": 0.6}


def setup(p: ModelParams):
    space = symmetric.symmetric_space(p.n_engines, p.n_batteries)
    gen = symmetric.generator(p, space)
    return space, gen, symmetric.implicit_system(p, space, gen)


def dense_curve(gen, x0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x(t_k) = expm(t_k A) x0 with the dense generator A. On a uniform grid (t_0 = 0) by powers of
    one expm(dt A): over the 30 products of the ladder tests' grid (N = M = 6, unequal baths) it
    differs from one expm per time by 7e-14 of |x0|, far below the 1e-8 compared; otherwise one
    expm per time."""
    dense = gen.toarray()
    steps = np.diff(t)
    if t[0] == 0.0 and np.allclose(steps, steps[0], rtol=1e-12, atol=0.0):
        step = sla.expm(steps[0] * dense)
        out = [x0]
        for _ in steps:
            out.append(step @ out[-1])
        return np.array(out)
    return np.array([sla.expm(tk * dense) @ x0 for tk in t])


@pytest.mark.parametrize(("n", "m", "kappa", "extra", "env"), [
    (3, 3, 0.02, {}, 0.0), (2, 4, 0.1, UNEQUAL, 0.0), (3, 2, 0.05, UNEQUAL, 0.1)])
def test_states_match_the_dense_exponential(n, m, kappa, extra, env):
    """x(t) against scipy.linalg.expm of the assembled generator (at most 3e3 unknowns) on a grid
    from 0.01/gamma_01 to 3 tau_eff, which spans the bath transient and the charging: the state
    error (2-norm, relative to |x0|) within 1e-8 at tol 1e-9 (the estimate is made between
    successive dimensions, so the true error may exceed it a little; measured below 1e-9)."""
    p = paper_point(n, kappa, n_engines=m, **extra).replace(gamma_env=env, beta_env=0.5)
    space, gen, system = setup(p)
    x0 = symmetric.initial_state(p, space)
    t_end = 3 * effective_charging_time(p)
    t = np.concatenate([[0.0], np.geomspace(0.01 / p.gamma_01, t_end, 40)])
    stats: dict[str, float] = {}
    states = np.array(list(krylov.krylov_states(system, x0, t, 1e-9, stats)))
    exact = dense_curve(gen, x0, t)
    errors = np.linalg.norm(states - exact, axis=1) / np.linalg.norm(x0)
    assert errors.max() <= 1e-8, errors.max()
    assert 4 <= stats["dimension"] <= krylov.MAX_DIMENSION
    assert stats["windows"] == 1


@pytest.mark.parametrize("ladder", [krylov.GAMMA_FRACTIONS, (0.003, 0.1)])
def test_a_space_that_does_not_converge_climbs_the_gamma_ladder_then_halves(monkeypatch, ladder):
    """With room for 24 vectors, a space that does not converge is retried with the next gamma
    fraction over the same window: on the full ladder gamma = 0.003 of the window does not
    converge, a larger one does, in one window. On the ladder (0.003, 0.1) the whole grid needs
    28 vectors at 0.1, so the window is halved there. The rung reached is recorded, and the
    result is the dense exponential's either way (1e-8)."""
    monkeypatch.setattr(krylov, "MAX_DIMENSION", 24)
    monkeypatch.setattr(krylov, "GAMMA_FRACTIONS", ladder)
    p = paper_point(6, 0.3, **UNEQUAL)
    space, gen, system = setup(p)
    x0 = symmetric.initial_state(p, space)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 31)
    stats: dict[str, float] = {}
    states = np.array(list(krylov.krylov_states(system, x0, t, 1e-9, stats)))
    exact = dense_curve(gen, x0, t)
    assert stats["failed"] >= 1 and stats["gamma_fraction"] > ladder[0]
    assert (stats["windows"] > 1) == (len(ladder) == 2)
    assert np.abs(states - exact).max() <= 1e-8 * np.linalg.norm(x0)


def memory_for(monkeypatch, vectors: int):
    """N = M = 6, unequal baths, kappa = 0.3, on the ladder (0.003, 0.1), with room for only
    ``vectors`` Krylov vectors: the generator, the system, x0 and a 31-point grid over 3 tau_eff."""
    monkeypatch.setattr(krylov, "GAMMA_FRACTIONS", (0.003, 0.1))
    p = paper_point(6, 0.3, **UNEQUAL)
    space, gen, system = setup(p)
    monkeypatch.setattr(krylov, "available_memory",
                        lambda: int((vectors + 1) * 8 * space.size / krylov.MEMORY_FRACTION) + 1)
    assert krylov.memory_dimension(space.size) == vectors
    t = np.linspace(0.0, 3 * effective_charging_time(p), 31)
    return gen, system, symmetric.initial_state(p, space), t


def test_a_space_the_memory_stops_keeps_its_converged_prefix(monkeypatch):
    """When the available memory holds only 24 vectors (one space over the grid needs more at
    gamma = 0.003 of the window), the space stops there and keeps the grid times on which it has
    converged; the next space starts from the last of them, at the same gamma fraction. No space
    is thrown away (none failed), and the curve is still the dense exponential's (1e-8)."""
    gen, system, x0, t = memory_for(monkeypatch, 24)
    stats: dict[str, float] = {}
    states = np.array(list(krylov.krylov_states(system, x0, t, 1e-9, stats)))
    exact = dense_curve(gen, x0, t)
    assert stats["windows"] > 1 and stats["dimension"] <= 24
    assert stats["partial"] >= 1 and "failed" not in stats
    assert stats["gamma_fraction"] == 0.003
    assert np.abs(states - exact).max() <= 1e-8 * np.linalg.norm(x0)


def test_a_space_converged_nowhere_is_not_kept(monkeypatch):
    """With room for only 12 vectors, no space converges on any grid time, not even on the first
    step: nothing is kept as a prefix, every space counts as failed (the window halved at the
    same gamma down to one step, which then tries the next rung), and the propagation says so
    instead of returning unconverged states."""
    _, system, x0, t = memory_for(monkeypatch, 12)
    stats: dict[str, float] = {}
    with pytest.raises(IntegrationError, match="within 12 vectors"):
        list(krylov.krylov_states(system, x0, t, 1e-9, stats))
    assert stats["failed"] >= 4 and "partial" not in stats and "windows" not in stats


@pytest.mark.parametrize(("n", "kappa", "extra", "env"), [
    (6, 0.01, {}, 0.0), (5, 0.1, UNEQUAL, 0.0), (4, 0.03, {"gamma_ratio": 5.0}, 0.05)])
def test_curve_matches_chebyshev(n, kappa, extra, env):
    """The 121-point charging curve over 3 tau_eff at the default tolerances against Chebyshev at
    atol 1e-13: E/(N w0) and the engine populations within 1e-8 (the solver's promise; measured
    3e-10 to 7e-10), unequal baths both ways, with and without a battery environment."""
    p = paper_point(n, kappa, **extra).replace(gamma_env=env, beta_env=0.5)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 121)
    curve = symmetric.evolve(p, t, SolverOptions(propagation="krylov"))
    reference = symmetric.evolve(p, t, SolverOptions(atol=1e-13, propagation="chebyshev"))
    assert curve.solver["propagation"] == "krylov" and "fallback" not in curve.solver
    np.testing.assert_allclose(curve.energy / n, reference.energy / n, rtol=0, atol=1e-8)
    np.testing.assert_allclose(curve.engine_populations, reference.engine_populations,
                               rtol=0, atol=1e-8)


@pytest.mark.parametrize(("n", "extra"), [(5, {}), (4, UNEQUAL)])
def test_long_times_hold_the_steady_state_of_eq14(n, extra):
    """Without a battery environment the state at 30 tau_eff is the exact steady state, whose
    energy is Eq. 14's N w0 e_N at the engines' beta_e (closed_forms.capacity): within 1e-8."""
    p = paper_point(n, 0.02, **extra)
    t = np.array([0.0, 10.0, 30 * effective_charging_time(p)])
    curve = symmetric.evolve(p, t, SolverOptions(propagation="krylov"))
    assert curve.energy[-1] / (n * p.w0) == pytest.approx(capacity(n, p.beta_e_w0), abs=1e-8)


def test_a_stalled_solve_hands_over_to_radau(monkeypatch):
    """A solve that raises hands the rest of the grid to Radau from the last state returned: the
    curve is still Chebyshev's (1e-8) and the handover is recorded."""
    p = paper_point(4, 0.05)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 61)
    calls = {"n": 0}
    original = SchurSolve.solve

    def flaky(self, b, tol=None):
        calls["n"] += 1
        if calls["n"] == 6:
            raise IntegrationError("stalled (injected)")
        return original(self, b, tol)

    monkeypatch.setattr(SchurSolve, "solve", flaky)
    curve = symmetric.evolve(p, t, SolverOptions(propagation="krylov"))
    reference = symmetric.evolve(p, t, SolverOptions(atol=1e-13, propagation="chebyshev"))
    assert curve.solver["fallback"] == "implicit"
    assert curve.solver["implicit_steps"] > 0
    np.testing.assert_allclose(curve.energy / 4, reference.energy / 4, rtol=0, atol=1e-8)


def test_continuing_from_a_returned_state_reads_off_the_same_space():
    """A refinement continues from a state the propagation returned (refinement.py): that costs
    no solve (the window that gave the state covers the new times) and still gives the dense
    exponential's states (1e-8), also between the grid points and for a state it returned
    while continuing. A state it did not return gets a space of its own."""
    p = paper_point(4, 0.05, **UNEQUAL)
    space, gen, system = setup(p)
    x0 = symmetric.initial_state(p, space)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 21)
    propagation = krylov.KrylovPropagation(system, 1e-9)
    states = list(propagation.states(x0, t))
    solves = system.stats["solves"]
    dense = gen.toarray()
    fine = np.linspace(t[3], t[5], 9)
    again = list(propagation.states(states[3], fine))
    deeper = list(propagation.states(again[4], np.linspace(fine[4], fine[6], 5)))
    assert system.stats["solves"] == solves and propagation.stats["reused"] == 2
    assert again[0] is states[3]
    for tk, x in [*zip(fine, again, strict=True), (fine[6], deeper[-1])]:
        exact = sla.expm(tk * dense) @ x0
        assert np.linalg.norm(x - exact) <= 1e-8 * np.linalg.norm(x0)
    list(propagation.states(states[3].copy(), fine))
    assert system.stats["solves"] > solves


def test_cost_model_follows_the_measured_iterations():
    """'auto' must not hand Krylov a point where its iterations explode (an N = 40,
    kappa = 0.215 sweep point ran for hours by Krylov with GMRES): the estimate reproduces the
    N = 12 measurements it is built on, grows with N at fixed kappa_01 and matches the other
    measured N within 25 % (kappa = 0.1: CG at N = 20, 30, 40; GMRES at N = 20), and against
    Chebyshev's plan it picks Krylov at small kappa and Chebyshev at kappa >= 0.3 for N = 40."""
    fixed = symmetric.KRYLOV_SOLVES * symmetric.KRYLOV_SOLVE_PRODUCTS
    for solves, (knots, iterations, _, products) in symmetric.KRYLOV_COST.items():
        n12 = [(symmetric.krylov_products(k, 12, solves) - fixed) / products for k in knots]
        assert np.allclose(n12, iterations, rtol=1e-2)  # products are whole numbers
    measured = {"cg": ((20, 30, 40), (623, 976, 1379)), "gmres": ((20,), (1067,))}
    for solves, (ns, counts) in measured.items():
        estimates = np.array([symmetric.krylov_products(0.52, n, solves) for n in (12, *ns)])
        assert np.all(np.diff(estimates) > 0)
        ratio = (estimates[1:] - fixed) / (np.array(counts) * symmetric.KRYLOV_COST[solves][3])
        assert np.all(np.abs(np.log(ratio)) < np.log(1.25)), (solves, ratio)
    t = np.linspace(0.0, 2.4, 401)
    for kappa, expected in ((0.01, "krylov"), (0.3, "chebyshev"), (1.0, "chebyshev")):
        p = ModelParams.from_effective(-0.8, 0.1, kappa, 40, n_engines=40)
        cheb = symmetric.chebyshev_products(symmetric.spectral_bounds(p), t, 1e-11)
        assert symmetric.prefer_krylov(p.kappa_01, 40, cheb) == (expected == "krylov"), kappa


def test_auto_keeps_krylov_within_its_measured_reach():
    """On the benchmark's grid (121 points over 3 tau_eff): N = 30, kappa = 0.3 took Krylov in
    69 s (one space of 80 vectors, Chebyshev's plan about 100 s), and stays with it; at
    N = 40, kappa = 0.215 Krylov's space outgrew 80 vectors on two rungs (stopped at 1056 s,
    Chebyshev's plan about 840 s), although its one-space estimate is below Chebyshev's: auto
    must take Chebyshev there. N = 40 at kappa = 0.1 (180 s by Krylov) stays with Krylov."""
    for n, kappa, expected in ((30, 0.3, True), (40, 0.215, False), (40, 0.1, True)):
        p = ModelParams.from_effective(-0.8, 0.1, kappa, n)
        t = np.linspace(0.0, 3.0 * effective_charging_time(p), 121)
        cheb = symmetric.chebyshev_products(symmetric.spectral_bounds(p), t, 1e-11)
        assert symmetric.prefer_krylov(p.kappa_01, n, cheb) is expected, (n, kappa)
    p = ModelParams.from_effective(-0.8, 0.1, 0.215, 40)
    assert symmetric.krylov_products(p.kappa_01, 40) < symmetric.chebyshev_products(
        symmetric.spectral_bounds(p), np.linspace(0.0, 3.0 * effective_charging_time(p), 121),
        1e-11)  # the one-space estimate alone would have taken Krylov


def test_weights_above_one_do_not_tighten_the_solves(monkeypatch):
    """The solves are relaxed by the weights of the new vectors; a weight above 1 (here forced to
    1e6) belongs to an unconverged space, since converged weights are at most |x(s)| / |x0|, and
    counts as 1: no requested tolerance is tighter than the first (the window's base), none
    looser than RELAXED_MAX, and the curve is still exp(L t) x0."""
    p = paper_point(3, 0.1, **UNEQUAL)
    space, gen, system = setup(p)
    x0 = symmetric.initial_state(p, space)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 21)
    requested: list[float] = []
    original = SchurSolve.solve

    def recording(self, b, tol=None):
        requested.append(self.tol if tol is None else tol)
        return original(self, b, tol)

    honest = krylov._expm_columns
    calls = {"n": 0}

    def inflated(generator, s, beta):
        calls["n"] += 1
        out = honest(generator, s, beta)
        return out * 1e6 if calls["n"] == 1 else out  # the first check only

    monkeypatch.setattr(SchurSolve, "solve", recording)
    monkeypatch.setattr(krylov, "_expm_columns", inflated)
    states = np.array(list(krylov.krylov_states(system, x0, t, 1e-9)))
    assert calls["n"] >= 2  # the inflated check and the ones after it ran
    assert min(requested) >= requested[0] * (1 - 1e-12)
    assert max(requested) <= krylov.RELAXED_MAX
    exact = dense_curve(gen, x0, t)
    assert np.abs(states - exact).max() <= 1e-8 * np.linalg.norm(x0)


def test_an_outgrown_space_hands_the_rest_of_an_auto_curve_to_chebyshev(monkeypatch):
    """Where auto took Krylov and a space outgrows its dimension while Chebyshev's plan for the
    rest is cheaper than another try (validity_n40: N = 32, kappa = 0.215 took 869 s by six
    failed spaces against 475 s by Chebyshev), Chebyshev continues from the last state: the
    curve is still the exact one (1e-8 against Chebyshev at atol 1e-13), the handover is
    recorded, and a continuation of the curve goes to Chebyshev without another space. Asked
    for Krylov by name, the propagation keeps to the gamma ladder instead (N = M = 6, unequal
    baths, kappa = 0.6, spaces of at most 12 vectors: Chebyshev's plan 3150 products, the
    failed space 122 CG iterations)."""
    monkeypatch.setattr(krylov, "MAX_DIMENSION", 12)
    monkeypatch.setattr(symmetric.propagation, "prefer_krylov", lambda *args, **kwargs: True)
    p = paper_point(6, 0.6, **UNEQUAL)
    t = np.linspace(0.0, 3 * effective_charging_time(p), 31)
    stats: dict[str, float | str] = {}
    propagation = symmetric.propagator(p, SolverOptions(), stats)
    states = list(propagation.advance(propagation.initial, t))
    reference = symmetric.evolve(p, t, SolverOptions(atol=1e-13, propagation="chebyshev"))
    energy = np.array([propagation.populations(x) @ np.arange(7) for x in states])
    assert stats["propagation"] == "krylov" and stats["fallback"] == "chebyshev"
    assert stats["krylov_failed"] == 1
    np.testing.assert_allclose(energy / 6, reference.energy / 6, rtol=0, atol=1e-8)
    solves, products = stats["implicit_solves"], stats["chebyshev_products"]
    list(propagation.advance(states[-1], t[-1] + t[:5]))
    assert stats["chebyshev_products"] > products and stats["implicit_solves"] == solves
    named = symmetric.evolve(p, t, SolverOptions(propagation="krylov"))
    assert named.solver.get("fallback") != "chebyshev" and named.solver["krylov_failed"] >= 1
