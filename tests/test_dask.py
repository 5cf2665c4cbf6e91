"""Sweeps on a real Dask cluster (distributed.LocalCluster on loopback, 2 worker processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import gates
import pytest

from conftest import assert_same_summary
from microsim.cli import main
from regression import CONFIG

distributed = pytest.importorskip("distributed")



@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as local:
        yield local


def test_dask_sweep_equals_local_sweep(cluster, ci_sweep, tmp_path):
    """configs/ci.yaml through the Dask scheduler gives the loky run's summary (``ci_sweep``, the
    session's loky run of it; same code, same numbers: 1e-12)."""
    on_dask = tmp_path / "dask.h5"
    assert main(["sweep", str(CONFIG), "--output", str(on_dask),
                 "--scheduler", cluster.scheduler_address]) == 0
    assert_same_summary(on_dask, ci_sweep)


def test_killed_dask_worker_costs_only_its_point(cluster, tmp_path):
    """SIGKILL a Dask worker while it computes a point (held inside the worker by the gate of
    tests/gates.py until the kill, so it is busy by construction): Dask reschedules the task and
    the sweep completes to the numbers of a fault-free run."""
    config = tmp_path / "d.yaml"
    config.write_text(
        "model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 2}\n"
        "sweep: {kappa: {logspace: [0.01, 0.2, 4]}}\ntime: {points: 101}\n"
        "solver: {descriptions: [effective]}\n"  # the fault, not the descriptions
    )
    reference = tmp_path / "reference.h5"
    assert main(["sweep", str(config), "--output", str(reference), "--jobs", "1"]) == 0
    out, gate = tmp_path / "d.h5", tmp_path / "gate"
    gate.mkdir()
    client = distributed.Client(cluster.scheduler_address)
    proc = None
    try:
        workers = set(client.run(os.getpid).values())
        client.run(gates.install, str(gate))
        proc = subprocess.Popen(
            [sys.executable, "-m", "microsim.cli", "sweep", str(config), "--output", str(out),
             "--scheduler", cluster.scheduler_address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert gates.wait_until(lambda: bool(gates.started(gate)), lambda: proc.poll() is None), \
            "no point started"
        pid, _ = gates.started(gate)[0]
        assert pid in workers, "the held point is not in a Dask worker"
        os.kill(pid, signal.SIGKILL)
        gates.release(gate)
        _, stderr = proc.communicate(timeout=600)
    finally:
        gates.release(gate)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        client.run(gates.uninstall)  # the surviving worker; the restarted one never had the gate
        client.close()
    assert proc.returncode == 0, stderr
    assert_same_summary(out, reference)


def test_dask_backend_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(CONFIG), "--output", str(tmp_path / "x.h5"), "--scheduler", "8786"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("microsim: error: --scheduler: expected a Dask scheduler address like "
                   "tcp://HOST:PORT, got '8786'")
    assert not (tmp_path / "x.h5").exists()


def test_workers_need_only_the_package(cluster):
    """Workers receive small task objects (no operators): the pickled task is tiny."""
    import pickle

    from microsim.sweeps.config import load_config
    from microsim.sweeps.execute import tasks

    assert max(len(pickle.dumps(t)) for t in tasks(load_config(CONFIG))) < 2000
