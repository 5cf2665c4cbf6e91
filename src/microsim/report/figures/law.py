"""The law of Eq. 8's error against the exact model: measured against predicted, every point."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from microsim.analysis import prediction as pr
from microsim.report.lawfit import law_rows
from microsim.report.plotting import LABELS, draw, new_figure
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


def _groups(data: SweepData, rows: NDArray[np.intp], fit: NDArray[np.bool_]
            ) -> dict[str, NDArray[np.bool_]]:
    """The fit set and the held-back rows by kind: N <= 12 with M = N, M != N, N >= 24."""
    n = data.column("n_batteries")[rows].astype(int)
    m = data.column("n_engines")[rows].astype(int)
    held = ~fit
    return {
        "fit set": fit,
        "held back, N <= 12": held & (n <= 12) & (m == n),
        "held back, M != N": held & (m != n),
        "held back, N >= 24": held & (n >= 24) & (m == n),
    }


STYLES = {
    "fit set": dict(marker="o", color="C0", mfc="C0", ms=4),
    "held back, N <= 12": dict(marker="o", color="C3", mfc="none", ms=5),
    "held back, M != N": dict(marker="s", color="C2", mfc="none", ms=6),
    "held back, N >= 24": dict(marker="*", color="k", mfc="none", ms=10),
}


def fig_law(source: SweepData | Path | str) -> Figure:
    """Measured eps_traj and eps_tau (the exact model) against the law's prediction
    (analysis/prediction.py), log axes: the fit set filled, the held-back points open; the
    diagonal and factor-2 band; in the eps_traj panel the lines of the target (predicted 1 %,
    measured 2 %): no point may sit above the horizontal one left of the vertical one."""
    data = as_data(source)
    law = law_rows(data)
    predicted = {"eps_traj": pr.law_traj(law.x2, law.e_n),
                 "eps_tau": pr.law_tau(law.tau_lag, law.tau_dep)}
    measured = {"eps_traj": law.eps_traj, "eps_tau": law.eps_tau}
    fig, axes = new_figure(2, width=5.2, height=4.6)
    groups = _groups(data, law.rows, law.fit)
    for ax, measure in zip(axes, ("eps_traj", "eps_tau"), strict=True):
        x, y = predicted[measure], measured[measure]
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        for name, select in groups.items():
            pick = select & ok
            if pick.any():
                draw(ax, x[pick], y[pick], f"law:{measure}:{name}", ls="none", label=name,
                     **STYLES[name])
        lo = float(min(x[ok].min(), y[ok].min())) / 2
        hi = float(max(x[ok].max(), y[ok].max())) * 2
        line = np.array([lo, hi])
        draw(ax, line, line, f"guide:diagonal:{measure}", color="0.3", lw=1)
        for factor in (0.5, 2.0):
            draw(ax, line, factor * line, f"guide:factor2:{measure}", color="0.5", lw=0.8,
                 ls=":")
        if measure == "eps_traj":
            ax.axvline(0.01, color="0.7", lw=0.8, gid="guide:predicted_1pct")
            ax.axhline(0.02, color="0.7", lw=0.8, gid="guide:measured_2pct")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"predicted {LABELS[measure]} (the law)")
        ax.set_ylabel(f"measured {LABELS[measure]} (exact)")
    axes[0].legend(fontsize="x-small", loc="upper left")
    fig.suptitle(f"Eq. 8's error, measured against the law (docs/physics.md §3): "
                 f"{int(law.fit.sum())} fit, {int((~law.fit).sum())} held back\n[{data.name}]",
                 fontsize="medium")
    return fig
