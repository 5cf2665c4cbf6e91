"""Sweeps on a real Dask cluster (distributed.LocalCluster on loopback, 2 worker processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from microsim.cli import main
from microsim.storage import read_summary
from regression import CONFIG

distributed = pytest.importorskip("distributed")

FIGURES = ("eps_traj", "eps_ss", "eps_tau", "D_max", "tau_mic", "tau_eff", "E_ss_mic", "E_ss_eff")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as local:
        yield local


def test_dask_sweep_equals_local_sweep(cluster, tmp_path):
    """configs/ci.yaml through the Dask scheduler gives the loky run's summary (same code, same
    numbers: 1e-12)."""
    on_dask, on_loky = tmp_path / "dask.h5", tmp_path / "loky.h5"
    assert main(["sweep", str(CONFIG), "--output", str(on_dask),
                 "--scheduler", cluster.scheduler_address]) == 0
    assert main(["sweep", str(CONFIG), "--output", str(on_loky)]) == 0
    _, a = read_summary(on_dask)
    _, b = read_summary(on_loky)
    assert list(a["key"]) == list(b["key"])
    assert set(a["status"]) == {"complete"}
    for name in FIGURES:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-15, err_msg=name)


def test_killed_dask_worker_costs_only_its_point(cluster, tmp_path):
    """A worker process killed mid-sweep: Dask reschedules its task and the sweep completes."""
    config = tmp_path / "d.yaml"
    config.write_text(
        "model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 2}\n"
        "sweep: {kappa: {logspace: [0.01, 0.2, 6]}}\ntime: {points: 101}\n"
    )
    out = tmp_path / "d.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "microsim.cli", "sweep", str(config), "--output", str(out),
         "--scheduler", cluster.scheduler_address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = distributed.Client(cluster.scheduler_address)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(client.processing().values()):
            break
        time.sleep(0.05)
    busy = [addr for addr, tasks in client.processing().items() if tasks]
    if busy:
        pid = client.run(lambda: __import__("os").getpid(), workers=[busy[0]])[busy[0]]
        __import__("os").kill(pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    client.close()
    assert proc.returncode == 0, stderr
    _, columns = read_summary(out)
    assert list(columns["status"]) == ["complete"] * 6
    if not busy:
        pytest.skip("no task was running when we looked; nothing was killed")


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

    from microsim.config import load_config
    from microsim.sweep import tasks

    assert max(len(pickle.dumps(t)) for t in tasks(load_config(CONFIG))) < 2000
