"""microsim.simulate, the one call a script needs, and the package's public face."""

from __future__ import annotations

import pydoc

import numpy as np
import pytest
import qutip

import microsim
from microsim.analysis.comparison import compare_until_charged
from microsim.model.params import ModelParams

POINT = dict(n_batteries=3, beta_e_w0=-0.8, gamma_e=0.1, kappa=0.05)


@pytest.fixture(scope="module")
def run():
    return microsim.simulate(**POINT, points=81)


def test_simulate_is_the_comparison_of_run(run):
    """The same numbers as compare_until_charged on the same point (bit for bit), plus stats."""
    c = compare_until_charged(ModelParams.from_effective(-0.8, 0.1, 0.05, 3), 81)
    for name in ("eps_traj", "tau_mic", "tau_eff", "eps_traj_corr", "E_ss_mic"):
        assert run.figures[name] == c.figures[name]
    assert run.derived["eps_traj_predicted"] == c.prediction.eps_traj_predicted
    for name in ("symmetric", "effective", "corrected", "cumulant", "moments"):
        assert run.stats[name]["wall_time"] > 0
        assert run.stats[name]["memory_estimate"] > 0
    assert run.stats["symmetric"]["propagation"] in ("chebyshev", "krylov", "implicit")
    assert run.sides == ("mic", "eff", "corr", "cum", "mom", "dly")


def test_labelled_views(run):
    frame = run.to_pandas()
    assert frame.index.name == "t" and len(frame) == 81
    np.testing.assert_array_equal(frame["energy_mic"].to_numpy(), run.comparison.mic.energy)
    ds = run.to_xarray()
    assert dict(ds.sizes) == {"description": 6, "t": 81, "m": 4, "level": 3}
    np.testing.assert_array_equal(ds["energy"].sel(description="eff").values,
                                  run.comparison.eff.energy)
    assert ds.attrs["eps_traj"] == run.figures["eps_traj"]


def test_battery_state_is_a_state_with_the_curve_s_energy(run):
    """The Dicke-diagonal Qobj: trace 1 to the integration's accuracy (atol 1e-11 per stored
    unknown: 1e-9 allowed), positive, and tr(H_B rho) = <H_B>(t) of the curve (H_B = w0 m on the
    Dicke states; the same populations, so round-off)."""
    t = run.t[40]
    rho = run.battery_state(t, "mic")
    assert isinstance(rho, qutip.Qobj) and rho.shape == (4, 4)
    assert rho.tr() == pytest.approx(1.0, abs=1e-9)
    assert min(rho.eigenenergies()) >= -1e-12
    energy = (qutip.Qobj(np.diag(np.arange(4.0))) * rho).tr()
    assert energy == pytest.approx(run.comparison.mic.energy[40], rel=1e-12)
    with pytest.raises(ValueError, match="not a time of the grid"):
        run.battery_state(t * 1.001, "mic")
    with pytest.raises(ValueError, match="description must be one of"):
        run.battery_state(t, "nope")


def test_individual_battery_state_is_the_product_of_n_pairs():
    run = microsim.simulate(n_batteries=3, beta_e_w0=-0.8, gamma_e=0.1, kappa=0.1,
                            protocol="individual", points=41)
    rho = run.battery_state(run.t[-1], "eff")
    assert rho.shape == (8, 8)
    number = sum(qutip.tensor([qutip.num(2) if j == k else qutip.qeye(2) for j in range(3)])
                 for k in range(3))
    assert (number * rho).tr() == pytest.approx(run.comparison.eff.energy[-1], rel=1e-12)


def test_simulate_takes_params_or_values_not_both():
    p = ModelParams.from_effective(-0.8, 0.1, 0.05, 2)
    with pytest.raises(TypeError, match="not both"):
        microsim.simulate(p, kappa=0.1)
    with pytest.raises(ValueError, match="effective parametrization needs"):
        microsim.simulate(n_batteries=2, kappa=0.1)


def test_the_package_shows_its_api():
    assert {"simulate", "ModelParams", "open_sweep", "compare", "descriptions"} <= set(dir(microsim))
    text = pydoc.render_doc(microsim, renderer=pydoc.plaintext)
    assert "microsim.simulate(" in text and "open_sweep" in text
    for name in ("simulate", "ModelParams", "open_sweep", "compare"):
        doc = getattr(microsim, name).__doc__
        assert doc and len(doc) > 80, name
    assert "Example" in microsim.simulate.__doc__
