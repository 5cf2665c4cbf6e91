"""How microsim draws: matplotlib on the Agg canvas only (no global pyplot state), labels, styles
and titles shared by every figure. matplotlib is the optional ``plot`` extra, imported on first use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report.measures import (
    single_value,
)
from microsim.sweeps.reading import SweepData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


LABELS = {
    "time": r"$t$ [$1/w_0$]",
    "energy": r"$\langle H_B\rangle/(N w_0)$",
    "sigma": r"$\sigma/w_0$",
    "e_N": r"$e_N = \langle H_B\rangle_{\rm ss}/(N w_0)$",
    "sigma_N": r"$\sigma_N/w_0$",
    "N": r"$N$",
    "kappa": r"$\kappa$",
    "ergo_ratio": r"$\mathcal{E}_{\rm ss}/\langle H_B\rangle_{\rm ss}$",
    "tau_ratio": r"$\tau_1/\tau_N$",
    "tau_scaled": r"$(\tau_1/\tau_N)\,/\,(N/\ln N)$",
    "eps_traj": r"$\epsilon_{\rm traj}$",
    "eps_tau": r"$\epsilon_{\tau}$",
    "D_max": r"$D_{\max}$",
    "eps_ss": r"$\epsilon_{\rm ss}$",
}


#: How the title shows a parameter held fixed over the plotted points.
TITLE_SYMBOLS = {
    "n_batteries": "N", "n_engines": "M", "beta_e_w0": r"\beta_e w_0", "gamma_e": r"\Gamma_e/w_0",
    "kappa": r"\kappa", "g": "g/w_0",
}


#: Axis labels of the candidate separation variables.
CRITERION_LABELS = {
    "kappa": r"$\kappa$ (Eq. 7)",
    "kappa_01": r"$\kappa_{01} = g_e N'/\gamma_{01}$",
    "kappa_up": r"$\kappa_{\uparrow} = g_e N'/\min_b \Gamma_b e^{-\beta_b w_b}$",
}


MARKERS = {"collective": "o", "individual": "s"}


COLORS = {"collective": "C0", "individual": "C1"}


class PlotDependencyError(ImportError):
    """matplotlib is not installed; figures need the optional ``plot`` extra."""


def matplotlib_classes() -> tuple[Any, Any]:
    """The Figure class and the Agg canvas, imported on first use."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotDependencyError(
            f"figures need matplotlib, which is not installed ({exc}); "
            "install it with `pip install microsim[plot]`"
        ) from None
    return Figure, FigureCanvasAgg


def new_figure(ncols: int, nrows: int = 1, width: float = 5.0, height: float = 3.8
                ) -> tuple[Figure, list[Axes]]:
    figure_cls, canvas_cls = matplotlib_classes()
    fig = figure_cls(figsize=(width * ncols, height * nrows), layout="constrained")
    canvas_cls(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


def palette(n: int) -> list[Any]:
    matplotlib_classes()
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1) * 0.9) for i in range(n)]  # no repeated colour


def draw(ax: Axes, x: Any, y: Any, gid: str, **kw: Any) -> None:
    (line,) = ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), **kw)
    line.set_gid(gid)


def short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.3g}"
    return str(value)


def title(data: SweepData, rows: NDArray[np.intp], what: str,
           names: Sequence[str] = ("beta_e_w0", "gamma_e")) -> str:
    """'what' and the parameters held fixed over ``rows`` (sweep name and method last)."""
    parts = []
    for name in names:
        value = single_value(data, rows, name)
        if value is None:
            continue
        if name in ("gamma_e", "g"):
            w0 = single_value(data, rows, "w0") or 1.0
            value = float(value) / float(w0)
        parts.append(f"${TITLE_SYMBOLS.get(name, name)} = {short(value)}$")
    method = single_value(data, rows, "method")
    source = "Eq. 8" if method == "effective" else f"{method} vs Eq. 8"
    return f"{what}\n{', '.join(parts)}  [{data.name}, {source}]"


def row_label(data: SweepData, row: int) -> str:
    """The swept values of one row, e.g. 'collective, N = 10'."""
    parts = []
    for name in data.swept or ("protocol",):
        value = data.column(name)[row]
        if name == "protocol":
            parts.append(str(value))
        else:
            parts.append(f"${TITLE_SYMBOLS.get(name, name)} = {short(value)}$")
    if "protocol" not in data.swept:
        parts.insert(0, str(data.column("protocol")[row]))
    return ", ".join(parts)


def legend_line() -> Callable[..., Any]:
    from matplotlib.lines import Line2D

    return Line2D


def bath_text(bath: tuple[float, ...]) -> str:
    """'Gamma_c/Gamma_h = r, w_h = ., beta_c = .' of a description_curves bath."""
    r, wh, beta_c = bath
    return rf"$\Gamma_c/\Gamma_h = {r:g}$, $\omega_h = {wh:g}$, $\beta_c = {beta_c:g}$"
