"""The approximate descriptions beyond Eq. 8 against the exact model and at large N."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report.measures import (
    description_curves,
    descriptions_in,
    speed_up_large_data,
)
from microsim.report.plotting import (
    LABELS,
    bath_text,
    draw,
    legend_line,
    new_figure,
    palette,
    title,
)
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


#: Styles of the approximate descriptions after Eq. 8 (solid), in the file's order.
STYLES: tuple[dict[str, Any], ...] = (
    dict(ls="--", marker="s", mfc="none"), dict(ls="-.", marker="^", mfc="none"),
    dict(ls=":", marker="D", mfc="none"),
)


def styles_of(data: SweepData) -> dict[str, dict[str, Any]]:
    """Line style of each approximate description in the file: Eq. 8 solid with dots, the others
    from STYLES."""
    shown = descriptions_in(data)
    out = {shown[0].suffix: dict(ls="-", marker="o")}
    for d, style in zip(shown[1:], STYLES * 3, strict=False):
        out[d.suffix] = style
    return out


def fig_corrected(source: SweepData | Path | str) -> Figure:
    """eps_traj and eps_tau of Eq. 8 (filled, solid) and of every other approximate description
    in the file (open, dashed: the corrected description of docs/physics.md §7, and any other)
    against kappa, one colour per N, one column per bath configuration."""
    data = as_data(source)
    curves = description_curves(data)
    shown = descriptions_in(data)
    styles = styles_of(data)
    baths = sorted({bath for bath, _ in curves})
    sizes = sorted({n for _, n in curves})
    colors = dict(zip(sizes, palette(len(sizes)), strict=True))
    measures = ("eps_traj", "eps_tau")
    fig, axes = new_figure(len(baths), len(measures), width=4.0 if len(baths) > 1 else 6.5,
                           height=3.3)
    legend: dict[str, Any] = {}
    for c, bath in enumerate(baths):
        for r, measure in enumerate(measures):
            ax = axes[r * len(baths) + c]
            for (b, n), rows in curves.items():
                if b != bath:
                    continue
                kappa = data.column("kappa")[rows].astype(float)
                for d in shown:
                    y = data.column(measure + d.errors)[rows].astype(float)
                    ok = np.isfinite(y) & (y > 0)
                    if ok.any():
                        draw(ax, kappa[ok], y[ok], f"{measure}{d.errors}:{bath}:{n}",
                             color=colors[n], ms=3, label=f"$N = {n}$", **styles[d.suffix])
                        legend.setdefault(f"$N = {n}$", ax.lines[-1])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(LABELS["kappa"])
            ax.set_ylabel(LABELS[measure])
            if r == 0:
                ax.set_title(bath_text(bath), fontsize="small")
    line = legend_line()
    keys = [line([], [], color="0.3", label=d.label, **styles[d.suffix]) for d in shown]
    handles = keys + list(legend.values())
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
               fontsize="x-small")
    every = np.concatenate(list(curves.values())) if curves else np.array([], dtype=np.intp)
    names = " and ".join(d.label for d in shown)
    fig.suptitle(title(data, every, f"Errors against the exact model: {names}"))
    return fig


def fig_speed_up_large(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N (Eq. 17) vs N at fixed g: Eq. 8 (line), every other approximate description of
    the file (dashed, open markers; the corrected one to N = 1000 where it is stable) and the exact
    model (dots) where the files have it, one colour per g."""
    from matplotlib.ticker import ScalarFormatter

    data = as_data(source)
    curves = speed_up_large_data(data)
    fig, (ax,) = new_figure(1, width=8.0, height=4.6)
    styles = {**styles_of(data), "mic": dict(ls="none", marker="o", ms=6)}
    styles[descriptions_in(data)[0].suffix] = dict(ls="-", marker="none")
    names = {"mic": "exact", **{d.suffix: d.label for d in descriptions_in(data)}}
    for color, (g, by_kind) in zip(palette(len(curves)), curves.items(), strict=True):
        for kind, (n, ratio) in by_kind.items():
            draw(ax, n, ratio, f"tau_1/tau_{kind}:g={g:g}", color=color,
                 label=f"{names[kind]}, $g = {g:.3g}$", **{"ms": 4, **styles[kind]})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    fig.legend(loc="outside right center", fontsize="x-small")
    beyond = " and ".join(d.label for d in descriptions_in(data))
    fig.suptitle(f"Charging speed-up at fixed coupling g: exact where it runs, {beyond} beyond"
                 f"\n[{data.name}]", fontsize="medium")
    return fig
