"""The numerical guard sees what can go wrong in a propagation step.

Every polynomial in L keeps the trace and the symmetric representation is hermitian by
construction, so those checks alone cannot fail. What a wrong step breaks is positivity, also of
the engine coherence |1><0| (the 2 x 2 blocks of the one-engine-batteries state), and a spectrum
that leaves the Chebyshev ellipse shows in the a-posteriori truncation estimate.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import paper_point
from microsim.descriptions import symmetric
from microsim.descriptions.numerics.linear import IntegrationError, SolverOptions
from microsim.sweeps.execute import guard_violations

T = np.linspace(0.0, 10.0, 11)


def test_coherence_blocks_are_positive_and_carry_the_coherence():
    """Along a real run the 2 x 2 blocks (p(0, m+1), p(1, m), c(m)) are positive semidefinite and
    c is not zero (so the check looks at something); the populations agree with the engine ones."""
    p = paper_point(3, 0.2)
    space = symmetric.symmetric_space(3, 3)
    prop = symmetric.propagator(p)
    for x in list(prop.advance(prop.initial, T))[1:]:
        a, b, c = symmetric.engine_battery_coherences(p, space, x)
        assert np.all(c * c <= a * b * (1 + 1e-9) + 1e-15)
        assert np.abs(c).max() > 1e-4


def test_corrupted_step_is_caught(monkeypatch):
    """Steps that overshoot every stored coherence (n10 = 1, n01 = 0) by 50 % keep the trace and
    every population, which the old checks looked at, but break a 2 x 2 block (c^2 reaches about
    half of p(0, m+1) p(1, m) in this run): min_eigenvalue goes below -1e-6 and the sweep's guard
    reports it."""
    p = paper_point(3, 0.2)
    space = symmetric.symmetric_space(3, 3)
    coherent = (space.counts[:, symmetric.U10] == 1) & (space.counts[:, symmetric.U01] == 0)
    honest = symmetric.chebyshev._chebyshev_sum
    calls = {"n": 0}

    def corrupted(twice, coeffs, x):
        y, last = honest(twice, coeffs, x)
        calls["n"] += 1
        if calls["n"] <= 2:  # the first two output intervals, where the coherence is large
            y = y.copy()
            y[coherent] *= 1.5
        return y, last

    clean = symmetric.evolve(p, T)
    assert guard_violations({f"{k}_mic": v for k, v in clean.checks.items()}, 1e-8) == []
    monkeypatch.setattr(symmetric.chebyshev, "_chebyshev_sum", corrupted)
    bad = symmetric.evolve(p, T)
    assert bad.checks["trace_error"] < 1e-9
    assert min(bad.battery_populations.min(), bad.engine_populations.min()) > -1e-9
    assert bad.checks["min_eigenvalue"] < -1e-6
    violations = guard_violations({f"{k}_mic": v for k, v in bad.checks.items()}, 1e-8)
    assert violations and "eigenvalue" in violations[0]


def test_growth_alarm_when_the_spectrum_leaves_the_ellipse(monkeypatch):
    """With spectral bounds four times too small the series diverges on the bath modes: the
    a-posteriori growth check raises IntegrationError instead of returning garbage, and evolve()
    falls back to the implicit propagation, whose curve matches the honest one (1e-7)."""
    p = paper_point(2, 0.05)
    space = symmetric.symmetric_space(2, 2)
    gen = symmetric.generator(p, space)
    a, b = symmetric.spectral_bounds(p)
    stats: dict[str, float] = {}
    with pytest.raises(IntegrationError, match="growth"):
        list(symmetric.chebyshev_propagate(gen, symmetric.initial_state(p, space), T,
                                           (a / 4, b), 1e-11, stats))
    honest = symmetric.evolve(p, T, SolverOptions(propagation="chebyshev"))
    assert honest.checks["chebyshev_growth"] < 10
    monkeypatch.setattr(symmetric.propagation, "spectral_bounds", lambda q: (a / 4, b))
    fallback = symmetric.evolve(p, T, SolverOptions(propagation="chebyshev"))
    assert fallback.solver["fallback"] == "implicit"
    np.testing.assert_allclose(fallback.energy, honest.energy, rtol=0, atol=1e-7)
