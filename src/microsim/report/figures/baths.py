"""The criterion figure: one error measure against kappa and the candidate variables across baths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report import criterion
from microsim.report.measures import (
    protocols_of,
)
from microsim.report.plotting import (
    CRITERION_LABELS,
    LABELS,
    draw,
    new_figure,
    palette,
    short,
    title,
)
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


def fig_criterion(source: SweepData | Path | str, measure: str = "eps_traj") -> Figure:
    """The criterion test: one error measure against kappa (Eq. 7) and the two candidate variables
    kappa_01, kappa_up (docs/physics.md §3), one colour per bath configuration, at the largest N of
    the file; one row per protocol. A variable that governs the error puts the colours on one
    curve; the panel titles give the prefactor spread of the v^2 law (criterion.collapse)."""
    from matplotlib.ticker import NullFormatter

    data = as_data(source)
    rows = data.rows()
    n = int(max(data.column("n_batteries")[rows]))
    protocols = protocols_of(data, rows)
    fig, axes = new_figure(len(criterion.VARIABLES), len(protocols), width=4.0, height=3.3)
    legend: dict[str, Any] = {}
    for r, protocol in enumerate(protocols):
        for c, variable in enumerate(criterion.VARIABLES):
            ax = axes[r * len(criterion.VARIABLES) + c]
            curves = criterion.bath_curves(data, measure, variable, protocol, n)
            colors = palette(len(curves))
            for color, (label, (v, y, _)) in zip(colors, curves.items(), strict=True):
                draw(ax, v, y, f"{measure}:{variable}:{protocol}:{label}", color=color,
                      marker="o", ms=3, label=label)
                legend.setdefault(label, ax.lines[-1])
            _, spread, _ = criterion.collapse(list(curves.values()))
            xs = np.concatenate([v for v, _, _ in curves.values()]) if curves else np.ones(1)
            if xs.max() <= xs.min() * (1 + 1e-6):  # one kappa per bath (thin large-N grid): dots
                ax.set_xlim(xs.min() / 2, xs.max() * 2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # they collide on a short decade
            ax.set_xlabel(CRITERION_LABELS[variable])
            ax.set_ylabel(LABELS[measure])
            ax.set_title(f"{protocol}, $N = {n}$: $A$ spread {short(spread)}", fontsize="small")
    fig.legend(list(legend.values()), list(legend), loc="outside right center", fontsize="x-small")
    fig.suptitle(title(data, rows, f"Does one variable collapse {measure} across the baths?"))
    return fig
