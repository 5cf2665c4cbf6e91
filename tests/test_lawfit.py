"""The law's fit and its figure on sweep files (report/lawfit.py, report/figures/law.py)."""

from __future__ import annotations

import numpy as np
import pytest

from microsim.analysis import prediction as pr
from microsim.report import figures, lawfit, paragraphs
from microsim.sweeps.config import parse_config
from microsim.sweeps.execute import execute, tasks
from microsim.sweeps.reading import combine
from microsim.sweeps.storage import SweepStore


def test_the_fit_recovers_known_constants():
    """On errors made by the law itself with other constants, the fit returns them (1e-4)."""
    rng = np.random.default_rng(3)
    x2 = 10 ** rng.uniform(-4, 0, 60)
    e_n = rng.uniform(0.4, 1.0, 60)
    eps = pr.law_traj(x2, e_n, 1.2, 0.5, 1.3)
    np.testing.assert_allclose(lawfit.fit_traj(eps, x2, e_n), [1.2, 0.5, 1.3], rtol=1e-4)
    lag, dep = rng.uniform(-1, 0, 60), rng.uniform(0.02, 3, 60)
    np.testing.assert_allclose(lawfit.fit_tau(pr.law_tau(lag, dep, 0.8, 0.6), lag, dep),
                               [0.8, 0.6], rtol=1e-4)


SWEEP = """
name: {name}
model: {{beta_e_w0: -0.8, gamma_e: 0.1, n_batteries: {n}}}
sweep: {{kappa: [0.02, 0.1, 0.4], gamma_ratio: [{ratio}]}}
time: {{points: 81}}
parallel: {{backend: sequential}}
"""


@pytest.fixture(scope="module")
def law_files(tmp_path_factory):
    """A tiny fit set (N = 1, equal baths) and a held-back file (N = 2, Gamma_c = 20 Gamma_h)."""
    out = []
    for name, n, ratio in (("criterion_law_fit", 1, 1.0), ("criterion_law_held", 2, 20.0)):
        directory = tmp_path_factory.mktemp(name)
        config = parse_config(SWEEP.format(name=name, n=n, ratio=ratio), directory / "c.yaml")
        path = directory / f"{name}.h5"
        with SweepStore(config, path) as store:
            store.add(execute(tasks(config), config.parallel))
        out.append(path)
    return out


def test_law_figure_plots_the_files_numbers(law_files):
    data = combine(law_files)
    assert "law" in figures.supported_figures(data)
    assert "law" not in figures.supported_figures(combine(law_files[1:]))  # no fit set
    law = lawfit.law_rows(data)
    assert law.fit.sum() == 3 and (~law.fit).sum() == 3
    fig = figures.fig_law(data)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.lines}
    fit_line = lines["law:eps_traj:fit set"]
    np.testing.assert_allclose(fit_line.get_xdata(), pr.law_traj(law.x2, law.e_n)[law.fit])
    np.testing.assert_allclose(fit_line.get_ydata(), law.eps_traj[law.fit])
    # the stored prediction is the law of the stored first-order values
    np.testing.assert_allclose(data.column("eps_traj_predicted")[law.rows],
                               pr.law_traj(law.x2, law.e_n), rtol=1e-12)


def test_law_paragraph_states_the_targets(law_files):
    text = paragraphs.PARAGRAPHS["law"](combine(law_files))
    assert "Targets on the held-back points" in text and "| held back | 3 |" in text
