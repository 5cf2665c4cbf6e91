"""Observables of Dicke populations at large N, against distributions known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaln

from microsim.model import closed_forms as cf
from microsim.model.observables import dicke_sigma


@pytest.mark.parametrize("x", [-0.8, -2.0])
def test_dicke_sigma_of_eq13_at_a_million_batteries(x):
    """Eq. 13 at N = 10^6: <m> ~ N but the variance stays O(1), the worst case for cancellation.

    The closed form (closed_forms.fluctuation, u/(1-u)^2 at this N) is met to round-off (measured
    2e-16); <m^2> - <m>^2 lost 6.7e-5 of sigma here at x = -0.8 (4.4e-3 at N = 10^7).
    """
    n, w0 = 10**6, 1.5
    pops = cf.steady_populations(n, x)
    assert dicke_sigma(pops, w0) == pytest.approx(cf.fluctuation(n, x, w0), rel=1e-9, abs=0)


def test_dicke_sigma_of_a_binomial_with_time_axes():
    """Leading axes are kept, each row is its own distribution (binomial: sigma^2 = N q (1 - q)),
    and rows are processed in blocks without mixing."""
    n, qs = 2000, np.linspace(0.05, 0.95, 700)  # 700 x 2001 entries: two blocks of rows
    m = np.arange(n + 1)
    log_binom = gammaln(n + 1) - gammaln(m + 1) - gammaln(n - m + 1)
    pops = np.exp(log_binom + m * np.log(qs[:, None]) + (n - m) * np.log1p(-qs[:, None]))
    pops /= pops.sum(axis=-1, keepdims=True)
    sigma = dicke_sigma(pops.reshape(7, 100, n + 1), 1.0)
    assert sigma.shape == (7, 100)
    np.testing.assert_allclose(sigma.ravel(), np.sqrt(n * qs * (1 - qs)), rtol=1e-9)
    assert dicke_sigma(pops[3], 2.0) == pytest.approx(2 * math.sqrt(n * qs[3] * (1 - qs[3])),
                                                      rel=1e-9)
