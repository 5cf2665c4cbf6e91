"""Sweep configs: the grid they name, and one-line errors naming file, key and allowed values."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest

from microsim.sweeps.config import ConfigError, load_config, parse_config

BASE = """
model:
  beta_e_w0: -0.8
  gamma_e: 0.1
  protocol: collective
sweep:
  kappa: {logspace: [0.01, 1, 7]}
  n_batteries: [1, 2, 3]
"""


def test_product_grid_with_logspace_values():
    config = parse_config(BASE, "v.yaml")
    points = config.points()
    assert len(points) == 21
    kappas = sorted({p["kappa"] for p in points})
    assert kappas[0] == pytest.approx(0.01) and kappas[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in itertools.pairwise(kappas)]
    assert all(r == pytest.approx(10 ** (1 / 3)) for r in ratios)
    assert config.output == Path("runs/v.h5")
    assert config.effective


def test_zip_mode_reads_axes_in_step():
    text = BASE.replace("sweep:", "sweep:\n  mode: zip").replace("[0.01, 1, 7]", "[0.01, 1, 3]")
    points = parse_config(text).points()
    assert [(p["n_batteries"], round(p["kappa"], 6)) for p in points] == [
        (1, 0.01), (2, 0.1), (3, 1.0)]


def test_together_reads_some_axes_in_step_within_the_product():
    """(w_h, beta_c) pairs at the same beta_e w0 (docs/physics.md §1) swept against kappa: the
    pairs stay together and every kappa meets every pair. Without ``together`` the product would
    pair w_h = 2.5 with beta_c = 0.5, which leaves no population inversion, and is refused."""
    text = BASE.replace("  n_batteries: [1, 2, 3]\n",
                        "  wh: [3, 5, 2.5]\n  beta_c: [1, 0.5, 2]\n  together: [wh, beta_c]\n")
    config = parse_config(text)
    points = config.points()
    assert len(points) == 21
    assert {(p["wh"], p["beta_c"]) for p in points} == {(3, 1), (5, 0.5), (2.5, 2)}
    assert [(p["wh"], p["beta_c"]) for p in points[:3]] == [(3, 1), (5, 0.5), (2.5, 2)]
    with pytest.raises(ConfigError, match=re.escape("beta_h > 0, got -0.8")):
        parse_config(text.replace("  together: [wh, beta_c]\n", ""))


@pytest.mark.parametrize(("together", "message"), [
    ("[wh, gamma_ratio]", "c.yaml: sweep.together: gamma_ratio not swept"),
    ("[wh]", "c.yaml: sweep.together: expected a list of two or more axis names"),
    ("[wh, kappa]", "c.yaml: sweep.together: needs axes of equal length, got {'wh': 3, 'kappa': 7}"),
])
def test_together_errors_name_the_key(together, message):
    text = BASE.replace("  n_batteries: [1, 2, 3]\n",
                        f"  wh: [3, 5, 2.5]\n  beta_c: [1, 0.5, 2]\n  together: {together}\n")
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_config(text, "c.yaml")


def test_microscopic_parametrization():
    config = parse_config("model: {g: 0.05, beta_h: 0.4, gamma_h: 1, gamma_c: 1}\n"
                          "sweep: {g: {linspace: [0.01, 0.05, 5]}}\n")
    assert not config.effective
    assert [round(p["g"], 6) for p in config.points()] == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_digest_changes_with_physics_not_with_parallelism():
    a = parse_config(BASE)
    assert a.digest == parse_config(BASE + "parallel: {n_jobs: 1}\n").digest
    assert a.digest != parse_config(BASE.replace("-0.8", "-0.7")).digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1, colour: red}",
         "c.yaml: model.colour: unknown key; allowed: "),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1}\nsweep: {kappa: []}",
         "c.yaml: sweep.kappa: an empty list sweeps nothing"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1}\nsweep: {kappa: {logspace: [0, 1, 3]}}",
         "c.yaml: sweep.kappa.logspace: start and stop are values and must be > 0"),
        ("model: {beta_e_w0: -0.8, gamma_e: .nan, kappa: 0.1}",
         "c.yaml: model.gamma_e: expected a finite number, got nan"),
        ("model: {beta_e_w0: -0.8, gamma_e: '0.1', kappa: 0.1}",
         "c.yaml: model.gamma_e: expected a number, got '0.1'"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1, n_batteries: 2.5}",
         "c.yaml: model.n_batteries: expected an integer in [1, 10000000], got 2.5"),
        ("model: {beta_e_w0: -0.8, gamma_e: -0.1, kappa: 0.1}",
         "c.yaml: model: gamma_e must be > 0, got -0.1"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1}\nsweep: {kappa: [0.1, -1]}",
         "c.yaml: sweep: kappa must be > 0, got -1.0 (at {'kappa': -1.0})"),
        ("model: {g: 0.1, gamma_h: 1, gamma_c: 1, beta_h: 0.9}",
         "c.yaml: model: no population inversion"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\ntime: {points: 1}",
         "c.yaml: time.points: must be an integer in [2, 1000000], got 1"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\ntime: {t_end: 5, t_end_tau: 3}",
         "c.yaml: time: give t_end (absolute) or t_end_tau"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\nsolver: {method: magic}",
         "c.yaml: solver.method: must be one of auto"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\nparallel: {n_jobs: 0}",
         "c.yaml: parallel.n_jobs: must be an integer in [1, 4096], got 0"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}\noutput: results.txt",
         "c.yaml: output: expected a path ending in .h5"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1, kappa: 0.2}",
         "c.yaml: line 1: duplicated key 'kappa'"),
        ("model: !!python/object/apply:os.system ['true']",
         "c.yaml: line 1: could not determine a constructor"),
        ("", "c.yaml: model: the file is empty"),
        ("model: {beta_e_w0: -0.8, gamma_e: 0.1}", "c.yaml: model: the effective parametrization "
         "needs kappa"),
        ("model: [1, 2]", "c.yaml: model: expected a mapping, got list"),
        ("modle: {}", "c.yaml: modle: unknown key"),
    ],
)
def test_invalid_configs_give_one_line_errors(text, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as exc:
        parse_config(text, "c.yaml")
    assert "\n" not in str(exc.value)


def test_non_utf8_and_missing_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model: {g: \xff}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not UTF-8 text \(byte 11\)"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_are_valid(monkeypatch):
    """Valid on the machine they are written for (24 GiB, docs/performance.md), whatever else
    holds memory while the test runs: the N = 60 configs need about 13 GiB of it."""
    from microsim.descriptions import resources

    monkeypatch.setattr(resources, "available_memory", lambda: 22 * 2**30)
    for path in sorted(Path("configs").rglob("*.yaml")):
        config = load_config(path)
        assert config.points(), path
        assert all(math.isfinite(v) for p in config.points() for v in p.values()
                   if isinstance(v, float))
