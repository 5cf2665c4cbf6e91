"""Bad input never gives a traceback: property-based configs and CLI flags (hypothesis)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microsim.cli import main
from microsim.sweeps.config import ConfigError, parse_config

KEYS = ["beta_e_w0", "gamma_e", "kappa", "w0", "wh", "beta_c", "gamma_ratio", "g", "gamma_h",
        "gamma_c", "beta_h", "n_batteries", "n_engines", "protocol", "normalization",
        "engine_init", "gamma_env", "beta_env", "colour", "mode", "t_end", "points", "method"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["collective", "individual", "sqrt_n", "ground", "auto", "full", "1e999"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*KEYS, "logspace", "linspace"]), inner, max_size=3),
    ),
    max_leaves=8,
)
blocks = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)
documents = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(blocks, values),
        "sweep": st.one_of(blocks, values),
        "time": st.one_of(st.dictionaries(st.sampled_from(["t_end", "t_end_tau", "points",
                                                           "epsilon", "x"]), values), values),
        "solver": st.dictionaries(st.sampled_from(["method", "rtol", "atol", "integrator"]),
                                  values),
        "parallel": st.dictionaries(st.sampled_from(["n_jobs", "backend", "scheduler"]), values),
        "output": values,
        "name": values,
        "extra": values,
    },
)


def _assert_clean(text: str) -> None:
    try:
        parse_config(text, "fuzz.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml: ")
        assert "\n" not in message
        assert len(message) < 2000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_structure_is_accepted_or_refused_in_one_line(doc):
    _assert_clean(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_accepted_or_refused_in_one_line(text):
    _assert_clean(text)


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(["gamma_e", "kappa", "beta_e_w0", "w0", "wh", "beta_c", "gamma_ratio"]),
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30)),
)
def test_numeric_extremes_in_the_model_block(key, value):
    model = {"beta_e_w0": -0.8, "gamma_e": 0.1, "kappa": 0.1, key: value}
    text = yaml.safe_dump({"model": model})
    try:
        config = parse_config(text, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml: model")
        return
    # accepted: then every point is a valid, finite model
    for point in config.points():
        assert all(math.isfinite(v) for v in point.values() if isinstance(v, float))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\nsweep: {n_batteries: [1, 100000000]}",
         "sweep.n_batteries[1]: must be an integer in [1, 10000000], got 100000000"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1, n_batteries: 9}\n"
         "solver: {method: full}", "needs about"),
        ("model: !!binary aGVsbG8=", "model: expected a mapping"),
        ("model: &a {beta_e_w0: -0.8}\nsweep: *a", "sweep"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\nsweep: {kappa: {logspace: [1, 2]}}",
         "sweep.kappa.logspace: expected [start, stop, num]"),
    ],
)
def test_adversarial_configs(text, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "adv.yaml")
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_cli_exits_2_and_writes_nothing(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("fuzz")
    config = folder / "fuzz.yaml"
    config.write_text(yaml.safe_dump(doc))
    out = folder / "out.h5"
    try:
        parse_config(config.read_text(), config)
    except ConfigError:
        with pytest.raises(SystemExit) as exc:
            main(["sweep", str(config), "--output", str(out)])
        assert exc.value.code == 2
        assert not out.exists()
