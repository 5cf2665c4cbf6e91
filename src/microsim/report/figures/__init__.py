"""Figures of a sweep file: the paper's (Fig. 2-5) and the microscopic validity map.

Every figure is built from sweep HDF5 files (docs/hdf5.md) alone, read through
``microsim.sweeps.reading``: the /summary columns and the time series of ``/points/<key>``.
Which figures a file supports is decided by what was swept (root attribute ``swept``) and by
whether the microscopic columns hold numbers (``solver: {method: effective}`` leaves them NaN):

* effective only, one N: ``fig2ab`` (charging curves and fluctuation vs time, Fig. 2(a, b));
* effective only, N swept: ``fig2cd`` (e_N and sigma_N, Eq. 14-15), ``fig3`` (ergotropy/energy,
  Eq. 16), ``fig4`` (tau_1/tau_N, Eq. 17-20) and ``fig5`` (tau_1/tau_N over N/log N);
* microscopic, kappa or g swept: ``errors`` (eps_traj, eps_tau, D_max, eps_ss vs kappa, Eq. 7)
  and ``mic_vs_eff`` (charging curves of both descriptions for a few kappa at one N);
* microscopic, N swept at fixed g (or kappa): ``tau_ratio_mic_eff``;
* microscopic, kappa and bath parameters swept (criterion.BATH_AXES): ``criterion`` (an error
  against kappa and the candidate separation variables, one colour per bath configuration) in
  place of ``errors`` and ``mic_vs_eff``, which would mix the baths;
* microscopic, kappa and N swept: ``boundary`` (where eps_traj = 1 % and eps_tau = 10 %, vs N)
  and, at one bath configuration, ``speed_up`` (tau_1/tau_N at fixed kappa).

Several files can be read as one (dataset.combine), e.g. a sweep and its continuation in N.

Closed forms (Eq. 13-20, ``microsim.model.closed_forms``) are overlaid where they exist. Units: hbar = 1,
energies in units of w0, times in units of 1/w0. matplotlib is optional (``pip install
microsim[plot]``); it is imported only when a figure is drawn, and only the Agg canvas is used, so
no global pyplot state is touched.

Data lines carry a ``gid`` naming the /summary column or the point dataset they show (for instance
``E_ss_eff/N:collective`` or ``energy_mic@<key>``); guides and closed forms carry ``guide:...`` and
``closed:...``. Tests use the gids to compare the plotted numbers with the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report import criterion
from microsim.report.figures.baths import fig_criterion
from microsim.report.figures.descriptions import (
    fig_corrected,
    fig_description_map,
    fig_large_n,
    fig_speed_up_large,
)
from microsim.report.figures.law import fig_law
from microsim.report.figures.paper import (
    fig2ab_charging,
    fig2cd_steady,
    fig3_ergotropy,
    fig4_tau_ratio,
    fig5_tau_ratio_scaled,
)
from microsim.report.figures.validity import (
    fig_boundary,
    fig_errors_vs_kappa,
    fig_mic_vs_eff,
    fig_speed_up,
    fig_tau_ratio_mic_eff,
)
from microsim.report.measures import (
    KAPPA_AXES,
    description_curves,
    descriptions_in,
    effective_point,
    microscopic_curves,
    speed_up_data,
    speed_up_large_data,
    unique,
)
from microsim.report.plotting import (
    PlotDependencyError,
    matplotlib_classes,
)
from microsim.sweeps.reading import SweepData, as_data, combine

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PLOTS",
    "PlotDependencyError",
    "fig2ab_charging",
    "fig2cd_steady",
    "fig3_ergotropy",
    "fig4_tau_ratio",
    "fig5_tau_ratio_scaled",
    "fig_boundary",
    "fig_corrected",
    "fig_criterion",
    "fig_description_map",
    "fig_errors_vs_kappa",
    "fig_large_n",
    "fig_law",
    "fig_mic_vs_eff",
    "fig_speed_up",
    "fig_speed_up_large",
    "fig_tau_ratio_mic_eff",
    "render",
    "supported_figures",
]

FloatArray = NDArray[np.float64]


def _n_values(data: SweepData, **equal: Any) -> int:
    return len(unique(data.column("n_batteries")[data.rows(**equal)]))


def _supports_fig2ab(data: SweepData) -> bool:
    return 0 < data.rows().size <= 12 and _n_values(data) == 1 and not (
        data.has_microscopic() and any(k in data.swept for k in KAPPA_AXES))


def _supports_vs_n(data: SweepData) -> bool:
    return ("n_batteries" in data.swept and not data.has_microscopic()
            and _n_values(data, protocol="collective") >= 2
            and effective_point(data, data.rows()) is not None)


def _supports_fig4(data: SweepData) -> bool:
    if not _supports_vs_n(data):
        return False
    return int(np.isfinite(data.column("tau_eff")[data.rows(protocol="collective")]).sum()) >= 2


def _supports_fig5(data: SweepData) -> bool:
    rows = data.rows(protocol="collective")
    ok = np.isfinite(data.column("tau_eff")[rows]) & (data.column("n_batteries")[rows] >= 2)
    return _supports_vs_n(data) and int(ok.sum()) >= 2


def _supports_kappa(data: SweepData) -> bool:
    """kappa (or g) swept at one bath configuration (several: _supports_criterion)."""
    if not data.has_microscopic() or not any(k in data.swept for k in KAPPA_AXES):
        return False
    if any(k in data.swept for k in criterion.BATH_AXES):
        return False
    return any(rows.size >= 2 for rows in microscopic_curves(data).values())


def _supports_corrected(data: SweepData) -> bool:
    """kappa swept with microscopic results and the errors of an approximate description other
    than Eq. 8 stored (the corrected one, or any other: measures.descriptions_in)."""
    if not data.has_microscopic() or not any(k in data.swept for k in KAPPA_AXES):
        return False
    others = [f"eps_traj{d.errors}" for d in descriptions_in(data)[1:]]
    return any(rows.size >= 2 and np.isfinite(data.column(name)[rows]).any()
               for rows in description_curves(data).values() for name in others)


def _supports_speed_up_large(data: SweepData) -> bool:
    """N swept beyond the exact solvers (N >= 100) at fixed g, with an approximate description
    other than Eq. 8 (measures.descriptions_in)."""
    others = {d.suffix for d in descriptions_in(data)[1:]}
    if "n_batteries" not in data.swept or not others:
        return False
    rows = data.rows(protocol="collective")
    return bool(rows.size) and data.column("n_batteries")[rows].max() >= 100 and \
        any(others & set(kinds) for kinds in speed_up_large_data(data).values())


def _supports_tau_ratio_mic_eff(data: SweepData) -> bool:
    if not data.has_microscopic() or "n_batteries" not in data.swept:
        return False
    if any(k in data.swept for k in KAPPA_AXES):
        return False
    rows = data.rows(protocol="collective")
    return len(unique(data.column("n_batteries")[rows])) >= 2


def _supports_criterion(data: SweepData) -> bool:
    return (data.has_microscopic() and "kappa" in data.swept
            and any(k in data.swept for k in criterion.BATH_AXES))


def _supports_boundary(data: SweepData) -> bool:
    """kappa and N swept: some (protocol, measure) crosses its level at two or more N."""
    if not data.has_microscopic() or not {"kappa", "n_batteries"} <= set(data.swept):
        return False
    found = [b for b in criterion.boundaries(data, ("kappa",)) if math.isfinite(b.value)]
    groups = {(b.protocol, b.measure, b.bath) for b in found}
    return any(sum((b.protocol, b.measure, b.bath) == g for b in found) >= 2 for g in groups)


def _supports_speed_up(data: SweepData) -> bool:
    """kappa and N swept at one bath configuration, N = 1 and two more N at some kappa."""
    if not data.has_microscopic() or not {"kappa", "n_batteries"} <= set(data.swept):
        return False
    if any(k in data.swept for k in criterion.BATH_AXES):
        return False
    return bool(speed_up_data(data))


def _supports_description_map(data: SweepData) -> bool:
    """The validation grid: exact M = N rows at the paper's baths over at least three N and three
    kappa, with an approximate description beyond Eq. 8."""
    from microsim.report.measures import validation_rows

    if len(descriptions_in(data)) < 2 or not data.has_microscopic():
        return False
    rows = validation_rows(data)
    return len(unique(data.column("n_batteries")[rows])) >= 3 and \
        len(unique(data.column("kappa")[rows])) >= 3


def _supports_large_n(data: SweepData) -> bool:
    """The large-N study (configs/large_n*.yaml): its sweeps among the rows, N to 1000 or more."""
    rows = data.rows()
    names = data.sweep_names()[rows]
    return bool(rows.size) and any(str(n).startswith("large_n") for n in names) and \
        float(data.column("n_batteries")[rows].max()) >= 1000


def _supports_law(data: SweepData) -> bool:
    """The law's sweeps (configs/criterion_law_*.yaml): its fit set among the rows, with the
    first-order values stored (schema 1.6)."""
    from microsim.report.lawfit import FIT_SWEEP

    rows = data.rows()
    return bool((data.sweep_names()[rows] == FIT_SWEEP).any()) and \
        bool(np.isfinite(data.column("eps_traj_first_order")[rows].astype(float)).any())


#: Figure id -> (does the file support it, how to draw it), in the order they are rendered.


PLOTS: dict[str, tuple[Callable[[SweepData], bool], Callable[[SweepData | Path | str], Figure]]] = {
    "fig2ab": (_supports_fig2ab, fig2ab_charging),
    "fig2cd": (_supports_vs_n, fig2cd_steady),
    "fig3": (_supports_vs_n, fig3_ergotropy),
    "fig4": (_supports_fig4, fig4_tau_ratio),
    "fig5": (_supports_fig5, fig5_tau_ratio_scaled),
    "errors": (_supports_kappa, fig_errors_vs_kappa),
    "mic_vs_eff": (_supports_kappa, fig_mic_vs_eff),
    "tau_ratio_mic_eff": (_supports_tau_ratio_mic_eff, fig_tau_ratio_mic_eff),
    "criterion": (_supports_criterion, fig_criterion),
    "boundary": (_supports_boundary, fig_boundary),
    "speed_up": (_supports_speed_up, fig_speed_up),
    "corrected": (_supports_corrected, fig_corrected),
    "speed_up_large": (_supports_speed_up_large, fig_speed_up_large),
    "law": (_supports_law, fig_law),
    "large_n": (_supports_large_n, fig_large_n),
    "description_map": (_supports_description_map, fig_description_map),
}


def supported_figures(source: SweepData | Path | str) -> list[str]:
    """Ids of the figures (keys of PLOTS) that a sweep file supports."""
    data = as_data(source)
    return [fig_id for fig_id, (supports, _) in PLOTS.items() if supports(data)]


def render(path: SweepData | Path | str | Sequence[Path | str], out_dir: Path | str,
           only: Iterable[str] | None = None, formats: Sequence[str] = ("png", "pdf"),
           dpi: int = 150) -> list[Path]:
    """Write every figure the sweep file supports (or those in ``only``) as ``<name>_<id>.<fmt>``;
    several files are read as one (combine, named 'a+b').

    Returns the written paths, PNG before PDF for each figure. Raises PlotDependencyError without
    matplotlib, ValueError for a figure id that does not exist or that the file does not support.
    """
    data = combine([path] if isinstance(path, SweepData | str | Path) else list(path))
    out_dir = Path(out_dir)
    available = supported_figures(data)
    if only is None:
        wanted = available
    else:
        wanted = list(only)
        for fig_id in wanted:
            if fig_id not in PLOTS:
                raise ValueError(f"figure must be one of {', '.join(PLOTS)}, got {fig_id!r}")
            if fig_id not in available:
                raise ValueError(f"{path}: does not support figure {fig_id!r} (supports: "
                                 f"{', '.join(available) or 'none'})")
    if wanted:
        matplotlib_classes()
        out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fig_id in wanted:
        fig = PLOTS[fig_id][1](data)
        for fmt in formats:
            target = out_dir / f"{data.name}_{fig_id}.{fmt}"
            fig.savefig(target, dpi=dpi)
            written.append(target)
    return written
