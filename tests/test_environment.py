"""The battery environment: one collective bath (Eq. 5) or one bath per battery (Eq. 6).

With the individual protocol each battery has its own environment, so the whole problem is N
independent copies of the engine-battery pair (docs/physics.md §1). Checked on the full tensor
space against the pair, and through every solver path of compare().
"""

from __future__ import annotations

import numpy as np
import pytest

from microsim.analysis.comparison import compare
from microsim.descriptions import full, symmetric
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.model.params import ModelParams

TIGHT = SolverOptions(rtol=1e-10, atol=1e-13)
T = np.linspace(0.0, 20.0, 21)


def individual(n: int, gamma_env: float) -> ModelParams:
    """Unequal baths and another gap, so that a swapped rate would show."""
    return ModelParams(w0=1.0, wh=4.0, beta_h=0.15, beta_c=0.8, gamma_h=0.6, gamma_c=2.0, g=0.15,
                       n_batteries=n, protocol="individual", gamma_env=gamma_env, beta_env=0.5)


@pytest.mark.parametrize("gamma_env", [0.05, 0.3])
def test_full_space_is_n_copies_of_the_pair(gamma_env):
    """N = 2 on the full tensor space (6^2 = 36 states) against 2 x the pair's energy and the
    pair's excited population for each battery; both integrated at rtol 1e-10, so 1e-8 is safe.
    A collective environment D[S^-] on the two batteries (the old defect) differs by 1e-3."""
    p = individual(2, gamma_env)
    whole = full.evolve(p, T, TIGHT)
    pair = full.evolve(p.pair(), T, TIGHT)
    np.testing.assert_allclose(whole.energy, 2 * pair.energy, rtol=0, atol=1e-8)
    # the product of two identical qubits: the Dicke populations are binomial in q = p_1 (pair)
    q = pair.battery_populations[:, 1]
    binomial = np.stack([(1 - q) ** 2, 2 * q * (1 - q), q**2], axis=1)
    np.testing.assert_allclose(whole.battery_populations[:, [0, 2]], binomial[:, [0, 2]],
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(whole.engine_populations, pair.engine_populations, rtol=0, atol=1e-8)


def test_collective_environment_is_not_the_individual_one():
    """The collective environment couples the batteries: the same point with the collective
    protocol's bath differs from N copies by far more than the tolerance (the test above can fail)."""
    p = individual(2, 0.3)
    coll = full.evolve(p.replace(protocol="collective", normalization="none"), T, TIGHT)
    pair = full.evolve(p.pair(), T, TIGHT)
    assert np.abs(coll.energy - 2 * pair.energy).max() > 1e-3


@pytest.mark.parametrize("method", ["full", "symmetric"])
def test_every_solver_agrees_with_the_full_individual_problem(method):
    """compare() builds the individual result from the pair (full or symmetric solver): its
    microscopic energy equals the 2-battery full-space evolution to the integration tolerance."""
    p = individual(2, 0.05)
    c = compare(p, T, method=method, options=TIGHT)
    whole = full.evolve(p, T, TIGHT)
    np.testing.assert_allclose(c.mic.energy, whole.energy, rtol=0, atol=1e-8)


def test_symmetric_pair_with_environment_matches_full_pair():
    p = individual(1, 0.3).pair()
    np.testing.assert_allclose(symmetric.evolve(p, T, TIGHT).energy, full.evolve(p, T, TIGHT).energy,
                               rtol=0, atol=1e-8)
