"""One registry of descriptions: what it lists, and that a description registered inside a test
reaches run --json, a sweep file and inspect without any other module knowing it."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from microsim import descriptions
from microsim.analysis.fields import figure_names, series_fields
from microsim.cli import main
from microsim.descriptions import effective
from microsim.descriptions.protocol import Description
from microsim.sweeps.storage import read_summary

#: The toy is Eq. 8 with the coupling g scaled by SCALE: Gamma_e grows by SCALE^2 (Eq. 8), so its
#: birth-death chain runs SCALE^2 times faster and reaches the same steady state.
SCALE = 1.1


def _faster(p):
    return p.replace(g=SCALE * p.g)


TOY = Description(
    name="toy", suffix="toy", label="toy Eq. 8",
    summary="Eq. 8 at 1.21 Gamma_e (a test's)",
    trajectory=lambda p, t, options=None, keep=None, watch=None:
        effective.trajectory(_faster(p), t, options, keep, watch),
    steady_state=lambda p: effective.steady_state(_faster(p)),
    memory=lambda p, points: effective.effective_solver_bytes(p, points),
)


@pytest.fixture
def toy():
    descriptions.register(TOY)
    try:
        yield TOY
    finally:
        descriptions.unregister(TOY.name)


def test_available_lists_the_built_in_descriptions_in_order():
    assert descriptions.available()[:4] == ("full", "symmetric", "effective", "corrected")
    assert descriptions.exact() == ("full", "symmetric")
    assert descriptions.approximate()[0] == "effective"
    suffixes = [descriptions.get(n).suffix for n in descriptions.approximate()]
    assert len(set(suffixes)) == len(suffixes)
    with pytest.raises(ValueError, match="description must be one of"):
        descriptions.get("nonsense")


def test_register_refuses_a_taken_name_or_suffix(toy):
    with pytest.raises(ValueError, match="registered already"):
        descriptions.register(toy)
    other = Description(**{**toy.__dict__, "name": "toy2"})
    with pytest.raises(ValueError, match="suffix 'toy' is taken"):
        descriptions.register(other)


def test_a_registered_description_has_its_fields(toy):
    names = figure_names()
    for name in ("E_ss_toy", "tau_toy", "power_toy", "eps_traj_toy", "eps_ss_toy", "eps_tau_toy",
                 "D_max_toy"):
        assert name in names
    assert "energy_toy" in {f.name for f in series_fields()}
    descriptions.unregister(toy.name)
    assert "tau_toy" not in figure_names()


RUN = ["run", "--N", "3", "--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.05",
       "--points", "41", "--json"]


def test_toy_in_run_json(toy, capsys):
    """Its figures are those of Eq. 8 with Gamma_e x 1.21: the same steady state (round-off)
    and tau_toy = tau_eff / 1.21 (both refined to ~1e-9 relative; 1e-6 allowed)."""
    assert main(RUN) == 0
    out = json.loads(capsys.readouterr().out)
    fig = out["figures"]
    assert out["toy_status"] == "ok"
    assert fig["E_ss_toy"] == pytest.approx(fig["E_ss_eff"], rel=1e-12)
    assert fig["tau_toy"] == pytest.approx(fig["tau_eff"] / SCALE**2, rel=1e-6)
    assert fig["eps_traj_toy"] > 0 and fig["eps_tau_toy"] > 0
    assert len(out["energy_toy"]) == len(out["t"]) == 41
    assert out["stats"]["toy"]["wall_time"] > 0


def test_toy_in_a_sweep_file_and_inspect(toy, tmp_path, capsys):
    config = tmp_path / "toy.yaml"
    config.write_text(f"""
name: toy
model: {{beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.05, n_batteries: 2}}
sweep: {{gamma_ratio: [1.0, 5.0]}}
time: {{points: 31}}
parallel: {{backend: sequential}}
output: {tmp_path / "toy.h5"}
""")
    assert main(["sweep", str(config)]) == 0
    attrs, columns = read_summary(tmp_path / "toy.h5")
    assert list(columns["status"]) == ["complete", "complete"]
    ratio = columns["tau_eff"] / columns["tau_toy"]
    np.testing.assert_allclose(ratio, SCALE**2, rtol=1e-6)
    assert list(columns["toy_status"]) == ["ok", "ok"]
    assert np.all(columns["wall_time_toy"] > 0)
    # the swept axis that is no model parameter is a column, as swept
    assert list(columns["gamma_ratio"]) == [1.0, 5.0]
    assert {"suffix": "toy", "errors": "_toy", "label": "toy Eq. 8"}.items() <= \
        next(d for d in json.loads(attrs["descriptions"]) if d["name"] == "toy").items()
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "toy.h5"), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"tau_toy", "eps_traj_toy", "toy_status"} <= set(rows[0])
    assert float(rows[0]["tau_eff"]) / float(rows[0]["tau_toy"]) == pytest.approx(SCALE**2, rel=1e-6)


def test_a_failing_description_reports_and_the_point_completes(tmp_path, capsys):
    """A description that is not required and raises IntegrationError leaves NaN figures and
    its reason as status; Eq. 8 and the exact solution are unaffected."""
    from microsim.descriptions.options import IntegrationError

    def broken(p, t, options=None, keep=None, watch=None):
        raise IntegrationError("unstable: the toy diverged")

    descriptions.register(Description(**{**TOY.__dict__, "trajectory": broken}))
    try:
        assert main(RUN) == 0
    finally:
        descriptions.unregister(TOY.name)
    out = json.loads(capsys.readouterr().out)
    assert out["toy_status"] == "unstable: the toy diverged"
    assert out["figures"]["tau_toy"] is None and math.isfinite(out["figures"]["tau_eff"])


def test_docs_tables_are_generated_from_the_registry(toy):
    """docs/hdf5.md holds the generated tables as they are now (make doc-tables), and a
    registered description would change them: its rows are derived, not typed."""
    from microsim.report.tables import render

    docs = Path(__file__).parent.parent / "docs" / "hdf5.md"
    text = docs.read_text()
    with_toy = render(text)
    assert "`eps_traj_toy`" in with_toy and "`energy_toy`" in with_toy
    descriptions.unregister(toy.name)
    assert render(text) == text, "docs/hdf5.md is out of date: run make doc-tables"
