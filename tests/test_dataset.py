"""Sweep files as labelled data (microsim.open_sweep): the same numbers through h5py, pandas and
xarray, axes read in step, failed points, one point's series by its values, NetCDF export."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import microsim
from microsim.analysis import comparison
from microsim.cli import main

pd = pytest.importorskip("pandas")
xr = pytest.importorskip("xarray")

#: Bath pairs read in step (together) times kappa times protocol: 2 x 2 x 2 points at N = 1.
CONFIG = """
name: labelled
model: {beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: 1}
sweep:
  wh: [3.0, 2.5]
  beta_c: [1.0, 2.0]
  together: [wh, beta_c]
  kappa: [0.01, 0.05]
  protocol: [collective, individual]
time: {points: 31}
parallel: {n_jobs: 1, backend: sequential}
"""


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    """The sweep above, with the points at kappa = 0.05 and w_h = 2.5 made to fail."""
    base = tmp_path_factory.mktemp("labelled")
    (base / "c.yaml").write_text(CONFIG)
    real = comparison.compare

    def flaky(p, *args, **kw):
        if p.kappa > 0.03 and p.wh == 2.5:
            raise FloatingPointError("made to fail")
        return real(p, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(comparison, "compare", flaky)
        assert main(["sweep", str(base / "c.yaml"), "--output", str(base / "c.h5")]) == 0
    return base / "c.h5"


def _h5(path):
    with h5py.File(path, "r") as f:
        return {k: (v.asstr()[()] if v.dtype.kind == "O" else v[()]) for k, v in f["summary"].items()}


def test_pandas_has_every_row_and_the_swept_axes(sweep_file):
    raw = _h5(sweep_file)
    frame = microsim.open_sweep(sweep_file).to_pandas()
    assert list(frame.columns[:4]) == ["wh", "beta_c", "kappa", "protocol"]
    assert len(frame) == 8 and (frame["status"] == "failed").sum() == 2
    for name in ("eps_traj", "tau_mic", "E_ss_eff", "key", "status", "gamma_h"):
        np.testing.assert_array_equal(frame[name].to_numpy(), raw[name])


def test_xarray_lays_the_points_out_on_the_swept_axes(sweep_file):
    """Dimensions: the pair (w_h, beta_c) read in step is one dimension with both as
    coordinates, kappa and protocol one each; every cell holds its row of /summary, the failed
    ones NaN with status 'failed'."""
    raw = _h5(sweep_file)
    ds = microsim.open_sweep(sweep_file).to_xarray()
    assert dict(ds.sizes) == {"wh_beta_c": 2, "kappa": 2, "protocol": 2}
    np.testing.assert_array_equal(ds["wh"].values, [3.0, 2.5])
    np.testing.assert_array_equal(ds["beta_c"].values, [1.0, 2.0])
    assert ds.attrs["name"] == "labelled" and ds.attrs["git_commit"] == h5py.File(
        sweep_file).attrs["git_commit"]
    for row in range(8):
        cell = ds.isel(wh_beta_c=int(raw["wh"][row] == 2.5),
                       kappa=int(raw["kappa"][row] > 0.03),
                       protocol=int(raw["protocol"][row] == "individual"))
        assert str(cell["status"].values) == raw["status"][row]
        assert str(cell["key"].values) == raw["key"][row]
        if raw["status"][row] == "complete":
            assert float(cell["eps_traj"]) == raw["eps_traj"][row]
        else:
            assert np.isnan(float(cell["eps_traj"]))


def test_series_of_one_point_by_its_values(sweep_file):
    data = microsim.open_sweep(sweep_file)
    series = data.series(wh=2.5, beta_c=2.0, kappa=0.01, protocol="individual")
    row = data.row(wh=2.5, beta_c=2.0, kappa=0.01, protocol="individual")
    key = str(data.column("key")[row])
    with h5py.File(sweep_file, "r") as f:
        group = f["points"][key]
        np.testing.assert_array_equal(series.index.to_numpy(), group["t"][()])
        np.testing.assert_array_equal(series["energy_mic"].to_numpy(), group["energy_mic"][()])
        pops = group["battery_populations_mic"][()]
    np.testing.assert_array_equal(series["battery_populations_mic[1]"].to_numpy(), pops[:, 1])
    assert series.index.name == "t"
    with pytest.raises(ValueError, match="0 complete points match"):
        data.series(wh=2.5, kappa=0.05, protocol="individual")  # the failed point
    with pytest.raises(ValueError, match="2 complete points match"):
        data.series(kappa=0.01, protocol="individual")


def test_netcdf_export_reads_back_the_same_dataset(sweep_file, tmp_path, capsys):
    pytest.importorskip("h5netcdf")
    out = tmp_path / "c.nc"
    assert main(["inspect", str(sweep_file), "--netcdf", str(out)]) == 0
    back = xr.open_dataset(out, engine="h5netcdf")
    ds = microsim.open_sweep(sweep_file).to_xarray()
    for name in ("eps_traj", "tau_mic", "wall_time"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    np.testing.assert_array_equal(back["status"].values.astype(str), ds["status"].values)
    assert not list(tmp_path.glob("*.part"))


def test_a_stored_config_this_version_cannot_read(sweep_file, tmp_path):
    """An older file whose config has a key this version does not know: the summary still reads
    (to_pandas, without the axes it cannot name), to_xarray says why it cannot lay it out."""
    import shutil

    old = tmp_path / "old.h5"
    shutil.copy(sweep_file, old)
    with h5py.File(old, "r+") as f:
        f.attrs["config"] = f.attrs["config"] + "\nretired_key: 1\n"
    data = microsim.open_sweep(old)
    assert data.config() is None
    frame = data.to_pandas()
    assert len(frame) == 8 and "eps_traj" in frame and "wh" in frame
    with pytest.raises(ValueError, match="no stored sweep configuration"):
        data.to_xarray()
