"""The example notebooks (jupytext percent scripts in examples/) run from start to end on small
settings (MICROSIM_EXAMPLES_SMALL=1) and write their figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("xarray")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIGURES = {
    "one_point.py": ["one_point_charging.png"],
    "validity_sweep.py": ["validity_example_eps_traj.png"],
    "criterion_study.py": ["criterion_example.png"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(FIGURES)


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_example_runs_and_writes_its_figures(script, tmp_path):
    env = {**os.environ, "MICROSIM_EXAMPLES_SMALL": "1", "MICROSIM_EXAMPLES_OUT": str(tmp_path),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in FIGURES[script]:
        assert (tmp_path / name).stat().st_size > 5000
