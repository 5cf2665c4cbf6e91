"""Faults during a sweep: a killed worker, Ctrl-C, an unwritable or full output location.

The killed worker and the interrupt hit a point that is being computed by construction: the
points are held inside the workers by a gate (tests/gates.py) until the test has acted, so these
tests never depend on timing and never skip.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gates import gated_environment, release, started, wait_until

from conftest import assert_same_summary, complete_points
from microsim.analysis import comparison
from microsim.cli import main
from microsim.sweeps import execute as sweep_module
from microsim.sweeps.storage import read_summary

CONFIG = """
name: faults
model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 2}
sweep: {kappa: {logspace: [0.01, 0.2, 6]}}
time: {points: 101}
solver: {descriptions: [effective]}  # the faults, not the descriptions, are under test
parallel: {n_jobs: 2, backend: loky}
"""
#: The swept kappas of CONFIG, in sweep order.
KAPPAS = np.geomspace(0.01, 0.2, 6)


def _children(pid: int, marker: str) -> list[int]:
    """Pids of the processes whose parent is ``pid`` and whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and marker in cmdline:
            found.append(int(entry.name))
    return found


def _start(tmp_path: Path, out: Path, env: dict[str, str]) -> subprocess.Popen:
    config = tmp_path / "faults.yaml"
    config.write_text(CONFIG)
    cmd = [sys.executable, "-m", "microsim.cli", "sweep", str(config), "--output", str(out)]
    # A shell without job control starts its background commands with SIGINT ignored, and the
    # child would inherit that (Python then installs no KeyboardInterrupt): restore the default,
    # as a terminal's foreground sweep has it.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _stop(proc: subprocess.Popen) -> None:
    """Kill what is left of a sweep subprocess after a failed assertion (no-op once it exited)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """CONFIG computed in this process, one point after the other, without any fault."""
    folder = tmp_path_factory.mktemp("reference")
    config = folder / "faults.yaml"
    config.write_text(CONFIG)
    out = folder / "reference.h5"
    assert main(["sweep", str(config), "--output", str(out), "--jobs", "1"]) == 0
    return out


def test_killed_worker_costs_only_its_point(tmp_path, reference):
    """SIGKILL a loky worker while it computes a point (held by the gate, so it is busy by
    construction): the parent resubmits the unfinished points and the file equals a fault-free
    run's."""
    out, gate = tmp_path / "k.h5", tmp_path / "gate"
    proc = _start(tmp_path, out, gated_environment(gate))
    try:
        assert wait_until(lambda: bool(started(gate)), lambda: proc.poll() is None), \
            "no point started"
        pid, _ = started(gate)[0]
        assert pid in _children(proc.pid, "LokyProcess"), "the held point is not in a loky worker"
        os.kill(pid, signal.SIGKILL)
        release(gate)
        _, stderr = proc.communicate(timeout=600)
    finally:
        release(gate)
        _stop(proc)
    assert proc.returncode == 0, stderr
    assert "a worker process died (TerminatedWorkerError); resubmitting" in stderr
    assert complete_points(out) == 6
    assert_same_summary(out, reference)


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path, reference):
    """Ctrl-C while one point is stored and the others are being computed (held by the gate): exit
    130 with one line, the stored point kept, no temporary file; the rerun completes the file to
    the fault-free run's summary."""
    out, gate = tmp_path / "c.h5", tmp_path / "gate"
    proc = _start(tmp_path, out, gated_environment(gate, hold_below=math.sqrt(KAPPAS[-2] * KAPPAS[-1])))
    try:
        assert wait_until(lambda: complete_points(out) >= 1 and bool(started(gate)),
                          lambda: proc.poll() is None), "no point stored, or none held"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, stderr = proc.communicate(timeout=120)
    finally:
        release(gate)
        _stop(proc)
    assert proc.returncode == 130, stderr
    assert "interrupted; every completed point is stored" in stderr
    assert "Traceback" not in stderr
    assert complete_points(out) == 1  # only the largest kappa, which starts first, gets through
    assert not list(tmp_path.glob(".c.h5.*.tmp"))
    assert main(["sweep", str(tmp_path / "faults.yaml"), "--output", str(out)]) == 0
    assert_same_summary(out, reference)


def test_unwritable_output_fails_before_computing(tmp_path, capsys, monkeypatch):
    config = tmp_path / "faults.yaml"
    config.write_text(CONFIG)
    monkeypatch.setattr(sweep_module, "run_point", lambda task: pytest.fail("computed"))
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(config), "--output", "/proc/microsim/out.h5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("microsim: error: /proc/microsim: cannot create the output directory")


def test_full_disk_fails_before_computing(tmp_path, capsys, monkeypatch):
    """A full disk shows up when the probe block is synced: fail with the OS's words, compute
    nothing, leave no file."""
    config = tmp_path / "faults.yaml"
    config.write_text(CONFIG)
    monkeypatch.setattr(sweep_module, "run_point", lambda task: pytest.fail("computed"))

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(config), "--output", str(tmp_path / "full.h5")])
    assert exc.value.code == 2
    assert "cannot write the output there: No space left on device" in capsys.readouterr().err
    assert not (tmp_path / "full.h5").exists()


def test_failed_summary_reports_reasons(tmp_path, capsys, monkeypatch):
    config = tmp_path / "faults.yaml"
    config.write_text(CONFIG.replace("backend: loky", "backend: sequential"))

    def boom(*args, **kw):
        raise ArithmeticError("overflow in the rates")

    monkeypatch.setattr(comparison, "compare", boom)
    assert main(["sweep", str(config), "--output", str(tmp_path / "f.h5")]) == 0
    out = capsys.readouterr().out
    assert "0 complete, 6 failed" in out
    assert "6 x ArithmeticError" in out
    _, columns = read_summary(tmp_path / "f.h5")
    assert set(columns["status"]) == {"failed"}
