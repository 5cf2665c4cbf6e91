"""Reading a sweep file parses its stored config and nothing else: not this machine's memory, not
the solvers; files of an older schema open with the same numbers."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import microsim
from microsim.cli import main
from microsim.descriptions import resources
from microsim.sweeps.config import ConfigError, parse_config
from microsim.sweeps.points import PointResult
from microsim.sweeps.storage import SweepStore, read_summary

DATA = Path(__file__).parent / "data"
LEGACY = DATA / "legacy_1_4.h5"

BIG = """
name: big
model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 60}
sweep: {kappa: [0.1, 1.0]}
solver: {method: auto}
"""


@pytest.fixture
def big_file(tmp_path):
    """A file whose points are N = M = 60 (about 20 GiB each for the exact solver), written
    without solving: two complete points with made-up figures."""
    config = parse_config(BIG, tmp_path / "big.yaml", validate=False)
    path = tmp_path / "big.h5"
    with SweepStore(config, path) as store:
        for i, kappa in enumerate((0.1, 1.0)):
            store.add([PointResult(i, f"{i:016x}", "complete", params={"n_batteries": 60},
                                   derived={"kappa": kappa}, method="symmetric",
                                   figures={"eps_traj": 0.01 * (i + 1)},
                                   arrays={"t": np.linspace(0, 1, 3)})])
    return path


def test_a_large_file_opens_on_a_small_machine(big_file, monkeypatch, capsys):
    monkeypatch.setattr(resources, "available_memory", lambda: 2**30)
    with pytest.raises(ConfigError, match="needs about"):  # what validation on this machine says
        parse_config(BIG, "big.yaml")
    data = microsim.open_sweep(big_file)
    assert data.config() is not None
    np.testing.assert_array_equal(data.to_xarray()["eps_traj"].values, [0.01, 0.02])
    assert list(data.to_pandas()["kappa"]) == [0.1, 1.0]
    assert main(["inspect", str(big_file)]) == 0
    assert "eps_traj" in capsys.readouterr().out


def test_reading_imports_no_solver(big_file):
    code = ("import sys, microsim\n"
            f"d = microsim.open_sweep({str(big_file)!r}); d.to_pandas(); d.to_xarray()\n"
            "from microsim.sweeps.inspection import summary_text\n"
            "summary_text(d.attrs, d.summary)\n"
            "solvers = [m for m in sys.modules if m.startswith(('microsim.descriptions.',"
            " 'microsim.analysis', 'qutip'))]\n"
            "print(solvers)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_schema_1_4_file_opens_with_the_numbers_it_had(capsys):
    """tests/data/legacy_1_4.h5 was written by microsim 0.1.0 at schema 1.4 (configs in
    tests/data/legacy_1_4.yaml); legacy_1_4_inspect.csv is what that version's inspect --csv
    printed. Every column it printed is printed again with the same values."""
    attrs, _ = read_summary(LEGACY)
    assert attrs["schema_version"] == "1.4"
    assert main(["inspect", str(LEGACY), "--csv"]) == 0
    now = {row["key"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    before = list(csv.DictReader((DATA / "legacy_1_4_inspect.csv").open()))
    assert len(before) == len(now) == 4
    for row in before:
        for name, value in row.items():
            assert now[row["key"]][name] == value, (row["key"], name)
    data = microsim.open_sweep(LEGACY)
    ds = data.to_xarray()
    assert dict(ds.sizes) == {"gamma_ratio": 2, "kappa": 2, "n_batteries": 1}
    assert list(data.to_pandas()["gamma_ratio"]) == [1.0, 1.0, 5.0, 5.0]
    assert data.series(gamma_ratio=5.0, kappa=0.2, n_batteries=2)["energy_mic"].iloc[-1] > 0


def test_every_swept_axis_is_a_summary_column(tmp_path):
    config = parse_config("""
name: axes
model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.05}
sweep: {gamma_ratio: [1.0, 5.0], n_batteries: [1]}
time: {points: 21}
parallel: {backend: sequential}
""", tmp_path / "axes.yaml")
    from microsim.sweeps.execute import execute, tasks

    path = tmp_path / "axes.h5"
    with SweepStore(config, path) as store:
        store.add(execute(tasks(config), config.parallel))
    _, columns = read_summary(path)
    assert list(columns["gamma_ratio"]) == [1.0, 5.0]
    np.testing.assert_allclose(columns["gamma_c"] / columns["gamma_h"], [1.0, 5.0], rtol=1e-12)
    assert set(microsim.open_sweep(path).to_xarray().dims) == {"gamma_ratio", "n_batteries"}
