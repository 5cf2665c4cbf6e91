"""Parameters: validation messages, derived quantities (Eq. 3, 7, 8) and the inverse constructor."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microsim.model.params import ModelParams, ParameterError


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"gamma_h": -0.1}, "gamma_h must be > 0, got -0.1"),
        ({"gamma_c": 0.0}, "gamma_c must be > 0, got 0.0"),
        ({"g": -1.0}, "g must be >= 0, got -1.0"),
        ({"w0": 0.0}, "w0 must be > 0, got 0.0"),
        ({"wh": 0.5}, "wh must be > w0 = 1.0"),
        ({"beta_h": math.nan}, "beta_h must be finite, got nan"),
        ({"beta_c": math.inf}, "beta_c must be finite, got inf"),
        ({"n_batteries": 0}, "n_batteries must be an integer in [1,"),
        ({"n_batteries": 2.5}, "n_batteries must be an integer in [1,"),
        ({"n_engines": 0}, "n_engines must be an integer in [1,"),
        ({"protocol": "joint"}, "protocol must be one of collective, individual, got 'joint'"),
        ({"normalization": "N"}, "normalization must be one of sqrt_n, none"),
        ({"engine_init": "hot"}, "engine_init must be one of steady, ground"),
        ({"gamma_env": -1.0}, "gamma_env must be >= 0, got -1.0"),
        ({"g": "0.1"}, "g must be a real number, got '0.1'"),
        ({"protocol": "individual", "n_batteries": 2, "n_engines": 1}, "n_engines must equal"),
        ({"beta_h": 0.9}, "no population inversion: beta_h/beta_c must be < wc/wh"),
    ],
)
def test_invalid_parameters_name_parameter_range_and_value(changes, fragment):
    with pytest.raises(ParameterError, match="^" + re.escape(fragment)):
        ModelParams(**changes)


def test_no_inversion_is_allowed_on_request():
    p = ModelParams(beta_h=0.9, allow_no_inversion=True)
    assert p.beta_e_w0 > 0


def test_engine_steady_state_is_eq3():
    p = ModelParams(w0=1.0, wh=2.5, beta_h=0.2, beta_c=1.3)
    ref = np.array([math.exp(p.beta_h * p.wh), math.exp(p.beta_c * p.wc), 1.0])
    np.testing.assert_allclose(p.engine_steady_populations, ref / ref.sum(), rtol=1e-14)


def test_kappa_conventions_agree():
    """Eq. 7: g sqrt(N)/min[...] with g/sqrt(N) per engine equals g' N/min[...] with g' = g/sqrt(N)."""
    a = ModelParams(g=0.3, n_batteries=4)
    b = ModelParams(g=0.3 / 2.0, n_batteries=4, normalization="none")
    assert a.kappa == pytest.approx(b.kappa, rel=1e-14)
    assert a.gamma_e == pytest.approx(b.gamma_e, rel=1e-14)
    slowest = min(a.gamma_h * (1 + a.boltz_h), a.gamma_c * (1 + a.boltz_c))
    assert a.kappa == pytest.approx(0.3 * 2.0 / slowest, rel=1e-14)


def test_gamma_e_is_adiabatic_elimination_rate():
    """Eq. 8: Gamma_e = (2g)^2 p_0 / (2 gamma_01) for one engine and one battery."""
    p = ModelParams(g=0.05)
    p0 = p.engine_steady_populations[0]
    assert p.gamma_e == pytest.approx((2 * p.g) ** 2 * p0 / (2 * p.gamma_01), rel=1e-14)


def test_engines_add_gamma_e_over_n_each():
    one = ModelParams(g=0.2, n_batteries=4, n_engines=1)
    four = one.replace(n_engines=4)
    assert four.gamma_e == pytest.approx(4 * one.gamma_e, rel=1e-14)
    assert four.gamma_e == pytest.approx(ModelParams(g=0.2).gamma_e, rel=1e-14)


def test_battery_environment_modifies_beta_e():
    p = ModelParams(g=0.2, gamma_env=0.01, beta_env=0.7)
    ge = p.gamma_e_engines
    up = ge * math.exp(-p.beta_e_w0_engines) + 0.01 * math.exp(-0.7)
    assert p.gamma_e == pytest.approx(ge + 0.01)
    assert math.exp(-p.beta_e_w0) == pytest.approx(up / (ge + 0.01), rel=1e-14)


def test_parameters_alone_do_not_warn():
    """kappa > 1 is a legal point: the warning that Eq. 8 is not expected to hold comes from the
    law of its error, in compare() (tests/test_prediction.py), not from kappa alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ModelParams.from_effective(-0.8, 0.1, 2.0, 1)


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(-1.9, -0.05),
    gamma_e=st.floats(1e-3, 1.0),
    kappa=st.floats(1e-3, 1.0),
    n=st.integers(1, 60),
    m=st.one_of(st.none(), st.integers(1, 60)),
    ratio=st.floats(0.1, 10.0),
    protocol=st.sampled_from(["collective", "individual"]),
    normalization=st.sampled_from(["sqrt_n", "none"]),
)
def test_from_effective_round_trip(x, gamma_e, kappa, n, m, ratio, protocol, normalization):
    """Recomputing (beta_e w0, Gamma_e, kappa) from the constructed point gives them back."""
    if protocol == "individual":
        m = None
    p = ModelParams.from_effective(
        x, gamma_e, kappa, n, wh=3.0, beta_c=1.0, gamma_ratio=ratio, n_engines=m,
        protocol=protocol, normalization=normalization,
    )
    assert p.beta_e_w0 == pytest.approx(x, rel=1e-12, abs=1e-12)
    assert p.gamma_e == pytest.approx(gamma_e, rel=1e-12)
    assert p.kappa == pytest.approx(kappa, rel=1e-12)
    assert p.gamma_c == pytest.approx(ratio * p.gamma_h, rel=1e-14)


@pytest.mark.parametrize("protocol", ["collective", "individual"])
def test_candidate_separation_variables(protocol):
    """kappa_01 and kappa_up (docs/physics.md §3) at a point with unequal baths, written out by
    hand: g_e = g/sqrt(N) = 0.1, N' = 4 (collective) or 1, gamma_01 = (2 e^{-0.3} + 0.5 e^{-2})/2,
    the slowest uphill rate 0.5 e^{-2} (the cold bath). Stored with every point (derived())."""
    p = ModelParams(w0=1.0, wh=3.0, beta_h=0.1, beta_c=1.0, gamma_h=2.0, gamma_c=0.5, g=0.2,
                    n_batteries=4, protocol=protocol)
    coupling = 0.1 * 4 if protocol == "collective" else 0.2
    assert p.kappa_01 == pytest.approx(coupling / (0.5 * (2 * math.exp(-0.3) + 0.5 * math.exp(-2))),
                                       rel=1e-14)
    assert p.kappa_up == pytest.approx(coupling / (0.5 * math.exp(-2)), rel=1e-14)
    assert p.kappa == pytest.approx(coupling / min(2 * (1 + math.exp(-0.3)),
                                                   0.5 * (1 + math.exp(-2))), rel=1e-14)
    assert {"kappa_01", "kappa_up"} <= set(p.derived())
