"""Sweeps end to end: HDF5 written and read back, resume, SIGKILL, lock, changed config, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import complete_points
from microsim import comparison
from microsim.cli import main
from microsim.config import load_config
from microsim.storage import SCHEMA_VERSION, StorageError, SweepStore, read_summary

SMALL = """
name: small
model:
  beta_e_w0: -0.8
  gamma_e: 0.1
  n_batteries: 1
sweep:
  kappa: {logspace: [0.01, 0.2, KAPPAS]}
time:
  points: 61
parallel:
  n_jobs: 1
  backend: BACKEND
"""


def _config(tmp_path: Path, kappas: int = 3, backend: str = "sequential", extra: str = "") -> Path:
    path = tmp_path / "small.yaml"
    text = SMALL.replace("KAPPAS", str(kappas)).replace("BACKEND", backend) + extra
    path.write_text(text)
    return path


def _sweep(config: Path, out: Path, *flags: str) -> int:
    return main(["sweep", str(config), "--output", str(out), *flags])


def test_written_file_reads_back_with_schema(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert _sweep(_config(tmp_path), out) == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        for key in ("config", "microsim_version", "git_commit", "git_dirty", "qutip_version",
                    "numpy_version", "scipy_version", "h5py_version", "created", "host"):
            assert key in f.attrs, key
        assert len(f["points"]) == 3
        group = f["points"][next(iter(f["points"]))]
        for name in ("t", "energy_mic", "energy_eff", "sigma_mic", "sigma_eff", "ergotropy_mic",
                     "ergotropy_eff", "engine_populations", "trace_distance"):
            assert "units" in group[name].attrs
        assert group["engine_populations"].shape == (61, 3)
        for name in ("kappa", "gamma_e", "beta_e_w0", "gamma_h", "g", "status", "wall_time",
                     "method", "rtol", "atol", "integrator"):
            assert name in group.attrs, name
        # the summary is the points' figures, in one row order
        summary = f["summary"]
        assert summary["eps_traj"].shape == (3,)
        for i, key in enumerate(summary["key"].asstr()[()]):
            assert summary["eps_traj"][i] == f["points"][key].attrs["eps_traj"]
            e_mic, e_eff = f["points"][key]["energy_mic"][()], f["points"][key]["energy_eff"][()]
            assert summary["eps_traj"][i] == pytest.approx(np.abs(e_mic - e_eff).max(), rel=1e-14)
        np.testing.assert_allclose(summary["kappa"][()], np.geomspace(0.01, 0.2, 3), rtol=1e-12)


def test_inspect_prints_sorted_table_and_exports(tmp_path, capsys):
    out = tmp_path / "r.h5"
    _sweep(_config(tmp_path), out)
    capsys.readouterr()
    main(["inspect", str(out)])
    text = capsys.readouterr().out
    assert "git_commit" in text and "eps_traj" in text
    main(["inspect", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    kappas = data["summary"]["kappa"]
    assert kappas == sorted(kappas)
    main(["inspect", str(out), "--csv"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "eps_traj" in lines[0]


def test_rerun_skips_complete_points(tmp_path, capsys, monkeypatch):
    config, out = _config(tmp_path), tmp_path / "r.h5"
    _sweep(config, out)
    calls = []
    monkeypatch.setattr(comparison, "compare", lambda *a, **k: calls.append(a))
    assert _sweep(config, out) == 0
    assert calls == []
    assert "3 already stored, 0 to compute" in capsys.readouterr().out


def test_failed_points_are_kept_and_retried(tmp_path, capsys, monkeypatch):
    config, out = _config(tmp_path), tmp_path / "r.h5"
    real = comparison.compare

    def flaky(p, *args, **kw):
        if p.kappa > 0.05:
            raise FloatingPointError("solver diverged")
        return real(p, *args, **kw)

    monkeypatch.setattr(comparison, "compare", flaky)
    assert _sweep(config, out) == 0
    _, columns = read_summary(out)
    assert list(columns["status"]) == ["complete", "complete", "failed"]
    assert "FloatingPointError: solver diverged" in h5py.File(out)["points"][
        columns["key"][2]].attrs["reason"]
    monkeypatch.setattr(comparison, "compare", real)
    _sweep(config, out)  # failed points are not retried by default
    assert list(read_summary(out)[1]["status"]) == ["complete", "complete", "failed"]
    _sweep(config, out, "--retry-failed")
    assert list(read_summary(out)[1]["status"]) == ["complete"] * 3


def test_changed_config_is_refused_unless_forced(tmp_path, capsys):
    config, out = _config(tmp_path), tmp_path / "r.h5"
    _sweep(config, out)
    changed = _config(tmp_path, kappas=4)
    with pytest.raises(SystemExit) as exc:
        _sweep(changed, out)
    assert exc.value.code == 2
    assert "holds results of a different configuration" in capsys.readouterr().err
    assert _sweep(changed, out, "--force") == 0
    assert len(read_summary(out)[1]["key"]) == 4


def test_second_writer_is_refused(tmp_path):
    config = load_config(_config(tmp_path))
    out = tmp_path / "r.h5"
    with SweepStore(config, out), pytest.raises(StorageError, match="being written by another sweep"):
        SweepStore(config, out)
    SweepStore(config, out).close()  # released on exit


def test_bad_config_writes_nothing(tmp_path, capsys):
    config = _config(tmp_path, extra="solver: {rtol: -1}\n")
    with pytest.raises(SystemExit) as exc:
        _sweep(config, tmp_path / "r.h5")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("solver.rtol: must be >= 1e-14, got -1.0") and "\n" not in err
    assert not (tmp_path / "r.h5").exists()


def test_sigkill_loses_nothing_and_resume_matches_uninterrupted(tmp_path):
    """Kill -9 a running sweep after two points: the file opens, keeps them, and the rerun
    completes it to the same summary as an uninterrupted run (same code, same numbers: 1e-12)."""
    config = _config(tmp_path, kappas=8, backend="loky")
    out = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "microsim.cli", "sweep", str(config), "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while complete_points(out) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = complete_points(out)
    assert 2 <= kept < 8
    assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0
    reference = tmp_path / "whole.h5"
    assert subprocess.run([*cmd[:-1], str(reference)], capture_output=True,
                          timeout=600).returncode == 0
    _, resumed = read_summary(out)
    _, whole = read_summary(reference)
    assert list(resumed["key"]) == list(whole["key"])
    for name in ("eps_traj", "eps_ss", "eps_tau", "D_max", "tau_mic", "tau_eff", "E_ss_mic"):
        np.testing.assert_allclose(resumed[name], whole[name], rtol=1e-12, atol=1e-15)


def test_numerical_guard_fails_a_point_that_breaks_positivity():
    """A point whose state loses positivity beyond 100 rtol is stored as failed with the reason."""
    from microsim.sweep import guard_violations

    ok = {"trace_error_mic": 1e-12, "hermiticity_error_mic": 0.0, "min_eigenvalue_mic": -1e-12}
    assert guard_violations(ok, 1e-8) == []
    bad = {**ok, "min_eigenvalue_mic": -3e-4, "trace_error_eff": 2e-5}
    assert guard_violations(bad, 1e-8) == [
        "smallest eigenvalue -3.00e-04 < -1e-06 (mic)", "trace error 2.00e-05 > 1e-06 (eff)"]


def test_guarded_point_is_stored_failed(tmp_path, monkeypatch, capsys):
    import dataclasses

    real = comparison.compare

    def leaky(*args, **kw):
        c = real(*args, **kw)
        broken = dataclasses.replace(c.mic, checks={**c.mic.checks, "min_eigenvalue": -0.01})
        return dataclasses.replace(c, mic=broken)

    monkeypatch.setattr(comparison, "compare", leaky)
    out = tmp_path / "r.h5"
    _sweep(_config(tmp_path, kappas=1), out)
    _, columns = read_summary(out)
    assert list(columns["status"]) == ["failed"]
    with h5py.File(out) as f:
        point = f["points"][columns["key"][0]]
        assert point.attrs["reason"] == "numerical guard: smallest eigenvalue -1.00e-02 < -1e-06 (mic)"
        assert point.attrs["check_min_eigenvalue_mic"] == -0.01
    assert "1 failed" in capsys.readouterr().out
