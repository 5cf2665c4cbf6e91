"""Sweeps end to end: HDF5 written and read back, resume, SIGKILL, lock, changed config, failures."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from gates import gated_environment, release, started, wait_until

import microsim
from conftest import complete_points
from microsim.analysis import comparison
from microsim.cli import main
from microsim.sweeps.config import load_config
from microsim.sweeps.storage import SCHEMA_VERSION, StorageError, SweepStore, read_summary

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
            # eps_traj is the maximum of the solution (refined between grid points), so at least
            # the largest difference on the stored grid
            on_grid = np.abs(e_mic - e_eff).max() / f["points"][key].attrs["n_batteries"]
            assert summary["eps_traj"][i] >= on_grid * (1 - 1e-12)
            attrs = f["points"][key].attrs  # how the symmetric solver propagated, for provenance
            assert attrs["propagation_requested"] == "auto"
            assert attrs["solver_propagation"] in ("chebyshev", "krylov", "implicit")
            assert 0 <= attrs["check_chebyshev_growth_mic"] < 10
        np.testing.assert_allclose(summary["kappa"][()], np.geomspace(0.01, 0.2, 3), rtol=1e-12)


def test_progress_lines_name_each_point_by_its_swept_values(tmp_path, capsys):
    """Not by its hash key: 'N=1 kappa=0.01 ...', four significant digits."""
    out = tmp_path / "r.h5"
    assert _sweep(_config(tmp_path), out) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "] " in x]
    assert len(lines) == 3
    for line, kappa in zip(lines, np.geomspace(0.01, 0.2, 3), strict=True):
        assert f"] kappa={kappa:.4g} ok in " in line, line
    with h5py.File(out, "r") as f:
        assert not any(key in " ".join(lines) for key in f["points"])


def test_run_prints_parameters_rounded(capsys):
    """beta_h = (beta_e w0 + beta_c w_c)/w_h = 0.4 is printed as 0.4, not 0.39999999999999997."""
    assert main(["run", "--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.1",
                 "--method", "effective", "--points", "21"]) == 0
    text = capsys.readouterr().out
    assert "  beta_h         0.4\n" in text
    assert "0.39999999" not in text


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
    completes it to the same summary as an uninterrupted run (same code, same numbers: 1e-12).

    The other points are held in the workers by the gate of tests/gates.py, so the kill always
    comes after exactly two stored points, with points in progress."""
    config = _config(tmp_path, kappas=8, backend="loky",
                     extra="solver: {descriptions: [effective]}\n")  # Eq. 8 suffices here
    out, gate = tmp_path / "killed.h5", tmp_path / "gate"
    cmd = [sys.executable, "-m", "microsim.cli", "sweep", str(config), "--output", str(out)]
    kappas = np.geomspace(0.01, 0.2, 8)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            env=gated_environment(gate, math.sqrt(kappas[1] * kappas[2])))
    try:
        assert wait_until(lambda: complete_points(out) >= 2 and bool(started(gate)),
                          lambda: proc.poll() is None), "two points not stored, or none held"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone if the sweep died
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        release(gate)
    assert complete_points(out) == 2
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
    from microsim.sweeps.execute import guard_violations

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


SHORT = """
name: short
model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 1}
sweep: {kappa: [0.15, 0.3]}
time: {t_end_tau: T_END_TAU, points: 21}
solver: {method: METHOD}
parallel: {n_jobs: 1, backend: sequential}
"""


def _short(tmp_path: Path, method: str = "auto", t_end_tau: float = 1.01) -> Path:
    """Two points on a grid ending at t_end_tau tau_eff: at 1.01 the effective charging time is on
    it, the microscopic one (lagging by ~ln(1/eps)/(2 gamma_01)) is not: the energy deficit left at
    t_end is 0.05 and 0.2, far above epsilon = 1e-3."""
    path = tmp_path / f"short_{method}_{t_end_tau}.yaml"
    path.write_text(SHORT.replace("T_END_TAU", str(t_end_tau)).replace("METHOD", method))
    return path


def _inspect_json(path: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_tau_not_on_the_grid_is_flagged_and_counted(tmp_path, capsys):
    """A grid that ends before tau_mic: the points are complete (their other figures are valid) but
    carry the flag and a warning naming t_end; inspect counts them; rerunning and --retry-failed
    leave them as they are (same key, same grid: recomputing would give the same NaN)."""
    config, out = _short(tmp_path), tmp_path / "short.h5"
    assert _sweep(config, out) == 0
    err = capsys.readouterr().err
    assert "WARNING: tau_mic not reached: t_end = " in err
    assert "2 complete points with a warning (2 x tau_mic_not_reached)" in err
    with h5py.File(out, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        assert list(f["summary"]["flags"].asstr()[()]) == ["tau_mic_not_reached"] * 2
        for key in f["points"]:
            attrs = f["points"][key].attrs
            assert attrs["status"] == "complete"
            assert attrs["flags"] == "tau_mic_not_reached"
            t_end = f["points"][key]["t"][-1]
            assert attrs["warning"].startswith(
                f"tau_mic not reached: t_end = {t_end:.6g} (time.t_end_tau = 1.01 tau_eff) ends "
                "before the microscopic charging time (energy deficit ")
            assert np.isnan(attrs["tau_mic"]) and np.isnan(attrs["eps_tau"])
            assert np.isfinite(attrs["tau_eff"]) and np.isfinite(attrs["eps_traj"])
    data = _inspect_json(out, capsys)
    assert data["counts"] == {"points": 2, "complete": 2, "failed": 0, "flagged": 2,
                              "tau_mic_not_reached": 2, "tau_eff_not_reached": 0}
    assert data["summary"]["flags"] == ["tau_mic_not_reached"] * 2
    main(["inspect", str(out)])
    assert "2 complete with a warning (2 x tau_mic_not_reached" in capsys.readouterr().out

    for flags in ((), ("--retry-failed",)):
        assert _sweep(config, out, *flags) == 0
        assert "2 already stored, 0 to compute" in capsys.readouterr().out
    assert _inspect_json(out, capsys)["counts"]["tau_mic_not_reached"] == 2

    # a file written before schema 1.2 (no flags): inspect derives them from the charging times
    with h5py.File(out, "a") as f:
        f.attrs["schema_version"] = "1.1"
        del f["summary"]["flags"]
        for key in f["points"]:
            del f["points"][key].attrs["flags"], f["points"][key].attrs["warning"]
    assert _inspect_json(out, capsys)["counts"]["tau_mic_not_reached"] == 2
    with h5py.File(out, "a") as f:
        del f["points"][sorted(f["points"])[0]]
    # resumed, its /summary is rebuilt with the flags of the new point and derived ones of the old
    assert _sweep(config, out) == 0
    assert "1 already stored, 1 to compute" in capsys.readouterr().out
    assert _inspect_json(out, capsys)["summary"]["flags"] == ["tau_mic_not_reached"] * 2


def test_effective_points_are_flagged_only_for_tau_eff(tmp_path, capsys):
    """Method 'effective' has no microscopic tau by design: never flagged for it, but a grid
    ending before tau_eff is."""
    out = tmp_path / "eff.h5"
    assert _sweep(_short(tmp_path, "effective"), out) == 0
    with h5py.File(out, "r") as f:
        assert list(f["summary"]["flags"].asstr()[()]) == ["", ""]
        assert all(f["points"][k].attrs["warning"] == "" for k in f["points"])
    assert _inspect_json(out, capsys)["counts"]["flagged"] == 0

    out = tmp_path / "eff_short.h5"
    assert _sweep(_short(tmp_path, "effective", t_end_tau=0.5), out) == 0
    with h5py.File(out, "r") as f:
        assert list(f["summary"]["flags"].asstr()[()]) == ["tau_eff_not_reached"] * 2
        warning = f["points"][next(iter(f["points"]))].attrs["warning"]
        assert warning.startswith("tau_eff not reached: t_end = ")
        assert "ends before the effective charging time" in warning
    counts = _inspect_json(out, capsys)["counts"]
    assert (counts["flagged"], counts["tau_eff_not_reached"], counts["tau_mic_not_reached"]) == (2, 2, 0)


def test_parallel_sweeps_start_the_largest_points_first(tmp_path):
    """Largest unknowns first, then the larger kappa; a bad point sorts last instead of raising.
    In config order (kappa outer) the N = 40 points of validity_n40, up to 27 minutes each,
    would start among the last."""
    from microsim.sweeps.execute import longest_first, tasks

    text = SMALL.replace("KAPPAS", "3").replace("BACKEND", "loky")
    path = tmp_path / "mixed.yaml"
    text = text.replace("  n_batteries: 1\n", "").replace("sweep:\n", "sweep:\n  n_batteries: [1, 4, 2]\n")
    path.write_text(text)
    todo = tasks(load_config(path))
    order = [(t.values["n_batteries"], t.values["kappa"]) for t in longest_first(todo)]
    assert sorted(order) == sorted((t.values["n_batteries"], t.values["kappa"]) for t in todo)
    assert [n for n, _ in order] == [4, 4, 4, 2, 2, 2, 1, 1, 1]
    assert all(a[1] > b[1] for a, b in itertools.pairwise(order) if a[0] == b[0])
    broken = replace(todo[0], values={**todo[0].values, "kappa": -1.0})
    assert longest_first([broken, *todo])[-1] is broken


def test_parallel_points_run_single_threaded_and_the_caller_keeps_its_threads(tmp_path,
                                                                              monkeypatch):
    """While a parallel sweep runs, each point sees MICROSIM_THREADS=1 (one point per core);
    afterwards the caller's environment is as before, unset or set by the user."""
    from microsim.descriptions.resources import solver_threads
    from microsim.sweeps import execute as sweep
    from microsim.sweeps.config import ParallelSpec

    seen = []

    def fake(task):
        seen.append(solver_threads())
        return sweep.PointResult(task.index, task.key, "complete")

    monkeypatch.setattr(sweep, "run_point", fake)
    todo = sweep.tasks(load_config(_config(tmp_path, kappas=2)))
    monkeypatch.delenv("MICROSIM_THREADS", raising=False)
    parallel = ParallelSpec(n_jobs=2, backend="threading")
    assert len(list(sweep.execute(todo, parallel))) == 2
    assert seen == [1, 1] and "MICROSIM_THREADS" not in os.environ
    monkeypatch.setenv("MICROSIM_THREADS", "3")
    list(sweep.execute(todo, parallel))
    assert seen[2:] == [3, 3] and os.environ["MICROSIM_THREADS"] == "3"


def test_a_finished_sweep_removes_its_lock_and_a_stale_one_is_taken_over(tmp_path):
    """The lock file is gone when the sweep ends; one left by a killed process (a file nobody
    holds: the kernel dropped its flock) does not stop the next sweep, which removes it too."""
    out = tmp_path / "r.h5"
    lock = tmp_path / "r.h5.lock"
    lock.write_text("pid 1 on a host that died")
    assert _sweep(_config(tmp_path, kappas=2), out) == 0
    assert out.exists() and not lock.exists()


def test_the_printed_swept_value_selects_the_point(tmp_path, capsys):
    """logspace values are stored to 12 significant digits (config.AXIS_DIGITS), inspect prints
    them so, and xarray's sel() takes the printed text as it is."""
    out = tmp_path / "r.h5"
    assert _sweep(_config(tmp_path, kappas=3), out) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    header = table.index(next(line for line in table if line.lstrip().startswith("kappa")))
    printed = [line.split()[0] for line in table[header + 1:]]
    assert printed == ["0.01", f"{math.sqrt(0.01 * 0.2):.12g}", "0.2"]
    ds = microsim.open_sweep(out).to_xarray()
    for text in printed:
        assert ds.sel(kappa=float(text))["status"].item() == "complete"
