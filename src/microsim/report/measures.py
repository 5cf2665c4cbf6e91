"""What the figures and docs/results.md measure on sweep files: groups of rows, curves, ratios and
slopes, read through microsim.sweeps.reading. No drawing (report/plotting.py, report/figures/)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions import approximate, get
from microsim.model import closed_forms as cf
from microsim.sweeps.reading import SweepData

FloatArray = NDArray[np.float64]


#: Error measures of the validity map (docs/physics.md §3), in panel order.
ERROR_MEASURES: tuple[str, ...] = ("eps_traj", "eps_tau", "D_max", "eps_ss")


#: eps_ss is exactly 0 without a battery environment (docs/physics.md §3); below this it is round-off
#: and its panel is left out.
EPS_SS_ROUNDOFF = 1e-9


#: At most this many kappa values in the microscopic-vs-effective charging figure.
MAX_CURVES = 4


#: Parameters that make the points of a file different physical problems along the kappa axis.
KAPPA_AXES = ("kappa", "g")


def unique(values: np.ndarray) -> list[Any]:
    out: list[Any] = []
    for v in values.tolist():
        if not any(v == u or (isinstance(v, float) and isinstance(u, float)
                              and math.isclose(v, u, rel_tol=1e-9)) for u in out):
            out.append(v)
    return out


def single_value(data: SweepData, rows: NDArray[np.intp], name: str) -> Any:
    """The common value of a column over ``rows``, or None if it varies."""
    values = unique(data.column(name)[rows])
    return values[0] if len(values) == 1 else None


def effective_point(data: SweepData, rows: NDArray[np.intp]) -> tuple[float, float, float] | None:
    """(beta_e w0, Gamma_e, w0) shared by ``rows``, or None if they differ or are not inverted."""
    x, gamma_e, w0 = (single_value(data, rows, k) for k in ("beta_e_w0", "gamma_e", "w0"))
    if x is None or gamma_e is None or w0 is None or not float(x) < 0:
        return None
    return float(x), float(gamma_e), float(w0)


def dense_n(n: FloatArray, count: int = 200) -> FloatArray:
    """Integers log-spaced over the range of n, for closed-form curves."""
    return np.unique(np.round(np.geomspace(max(n.min(), 1), n.max(), count)))


def epsilon_of(data: SweepData, rows: NDArray[np.intp]) -> float:
    eps = {float(data.point_attr(int(r), "epsilon")) for r in rows}
    if len(eps) != 1:
        raise ValueError(f"{data.path}: the rows use different tau thresholds epsilon {sorted(eps)}")
    return eps.pop()


def loglog_slope(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray,
                 x_max: float | None = None) -> tuple[float, float, float]:
    """Least-squares slope of log y against log x over the points with x <= x_max.

    Used for the error law of adiabatic elimination, eps ~ kappa^2 (Eq. 7-8). Points with
    non-positive or non-finite values are left out; if fewer than two remain below x_max, the two
    smallest x are used. Returns (slope, x_lo, x_hi), the range actually fitted.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x.size < 2:
        raise ValueError(f"a slope needs at least two positive points, got {x.size}")
    use = x <= x_max if x_max is not None else np.ones(x.size, dtype=bool)
    if use.sum() < 2:
        use = np.arange(x.size) < 2
    slope = np.polyfit(np.log(x[use]), np.log(y[use]), 1)[0]
    return float(slope), float(x[use][0]), float(x[use][-1])


def vs_n_rows(data: SweepData) -> dict[str, NDArray[np.intp]]:
    return {p: data.rows(sort_by="n_batteries", protocol=p)
            for p in protocols_of(data, data.rows())}


def ergotropy_ratio_collective(n: int, x: float, w0: float = 1.0) -> float:
    """Ergotropy/energy of the collective steady state: 1 - w0 (1 - e^{-xN}/Z_N)/(N w0 e_N) (Eq. 14, 16)."""
    return 1.0 - cf.passive_energy_collective(n, x, w0) / (n * w0 * cf.capacity(n, x))


def tau_ratio_data(data: SweepData) -> tuple[FloatArray, FloatArray, float, float, NDArray[np.intp]]:
    """N, tau_1/tau_N (tau_1 exact, Eq. 17 at N = 1), x and epsilon of the collective rows."""
    rows = data.rows(sort_by="n_batteries", protocol="collective")
    point = effective_point(data, rows)
    if point is None:
        raise ValueError(f"{data.path}: the collective rows need one beta_e_w0 < 0 and one gamma_e")
    x, gamma_e, _ = point
    eps = epsilon_of(data, rows)
    tau = data.column("tau_eff")[rows].astype(float)
    ok = np.isfinite(tau)
    rows = rows[ok]
    n = data.column("n_batteries")[rows].astype(float)
    return n, cf.charging_time_single(gamma_e, x, eps) / tau[ok], x, eps, rows


def microscopic_curves(data: SweepData) -> dict[tuple[int, str], NDArray[np.intp]]:
    """Microscopic rows grouped by (N, protocol), each sorted by kappa."""
    out: dict[tuple[int, str], NDArray[np.intp]] = {}
    for r in data.rows(sort_by=["protocol", "n_batteries", "kappa"]):
        if not np.isfinite(data.column("E_ss_mic")[r]):
            continue
        group = (int(data.column("n_batteries")[r]), str(data.column("protocol")[r]))
        out[group] = np.append(out.get(group, np.array([], dtype=np.intp)), r)
    return out


def error_measures_of(data: SweepData) -> list[str]:
    rows = data.rows()
    measures = list(ERROR_MEASURES[:3])
    eps_ss = data.column("eps_ss")[rows].astype(float)
    if np.nanmax(np.abs(eps_ss), initial=0.0) > EPS_SS_ROUNDOFF:
        measures.append("eps_ss")
    return measures


def description_curves(data: SweepData) -> dict[tuple[tuple[float, ...], int], NDArray[np.intp]]:
    """Collective rows with Eq. 8's errors, in a file that holds another approximate description's
    (descriptions_in), grouped by (bath, N) and sorted by kappa; the bath is (Gamma_c/Gamma_h, w_h,
    beta_c). The individual protocol is left out: there the descriptions that keep one engine
    are the exact pair (docs/physics.md §7)."""
    if len(descriptions_in(data)) < 2:
        return {}
    out: dict[tuple[tuple[float, ...], int], NDArray[np.intp]] = {}
    for r in data.rows(sort_by=["n_batteries", "kappa"]):
        if str(data.column("protocol")[r]) != "collective" or \
                not np.isfinite(data.column("eps_traj")[r]):
            continue
        ratio = float(data.column("gamma_c")[r]) / float(data.column("gamma_h")[r])
        bath = (round(ratio, 9), float(data.column("wh")[r]), float(data.column("beta_c")[r]))
        group = (bath, int(data.column("n_batteries")[r]))
        out[group] = np.append(out.get(group, np.array([], dtype=np.intp)), r)
    return out


def speed_up_data(data: SweepData) -> dict[float, dict[str, FloatArray]]:
    """By kappa: N, tau_1/tau_N microscopic and Eq. 8, and tau_mic/tau_eff, over the collective
    rows of that kappa, tau_1 being each description's own N = 1 value at the same kappa (kappa
    values without an N = 1 row or with fewer than three N are left out)."""
    rows = data.rows(sort_by=("kappa", "n_batteries"), protocol="collective")
    kappa = data.column("kappa")[rows].astype(float)
    out: dict[float, dict[str, FloatArray]] = {}
    for value in unique(kappa):
        mine = rows[np.isclose(kappa, value, rtol=1e-9)]
        mine = mine[np.argsort(data.column("n_batteries")[mine], kind="stable")]
        n = data.column("n_batteries")[mine].astype(float)
        mic, eff = (data.column(f"tau_{k}")[mine].astype(float) for k in ("mic", "eff"))
        ok = np.isfinite(mic) & np.isfinite(eff)
        if not (n[ok] == 1).any() or ok.sum() < 3:
            continue
        first = int(np.flatnonzero(ok & (n == 1))[0])
        out[float(value)] = {"n": n[ok], "mic": mic[first] / mic[ok], "eff": eff[first] / eff[ok],
                             "lag": mic[ok] / eff[ok]}
    return out


def mic_vs_eff_rows(data: SweepData) -> tuple[int, str, NDArray[np.intp]]:
    """(N, protocol, rows) for the charging comparison: the group with most kappa values (ties:
    largest N), at most MAX_CURVES kappa spread over its range."""
    curves = microscopic_curves(data)
    (n, protocol), rows = max(curves.items(), key=lambda item: (item[1].size, item[0][0]))
    if rows.size > MAX_CURVES:
        pick = np.unique(np.round(np.linspace(0, rows.size - 1, MAX_CURVES)).astype(int))
        rows = rows[pick]
    return n, protocol, rows


def series_or_none(data: SweepData, row: int, name: str) -> FloatArray | None:
    """A point's series, or None where the file predates it (schema < 1.4 for the _corr ones)."""
    try:
        return data.array(row, name)
    except (KeyError, ValueError):
        return None


def tau_ratio_mic_eff_data(data: SweepData) -> dict[str, Any]:
    rows = np.array([r for r in data.rows(sort_by="n_batteries", protocol="collective")
                     if np.isfinite(data.column("E_ss_mic")[r])], dtype=np.intp)
    n = data.column("n_batteries")[rows].astype(float)
    out: dict[str, Any] = {"rows": rows, "n": n}
    single = rows[n == 1]
    for kind in ("mic", "eff"):
        tau = data.column(f"tau_{kind}")[rows].astype(float)
        if single.size:
            tau_1 = float(data.column(f"tau_{kind}")[single[0]])
            out["tau_1_source"] = "N = 1 row of the file"
        else:
            point = effective_point(data, rows)
            if point is None:
                raise ValueError(f"{data.path}: no N = 1 row and no common inverted beta_e_w0")
            tau_1 = cf.charging_time_single(point[1], point[0], epsilon_of(data, rows))
            out["tau_1_source"] = "exact effective tau_1 (Eq. 17)"
        out[kind] = tau_1 / tau
    return out


def speed_up_large_data(data: SweepData) -> dict[float, dict[str, tuple[FloatArray, FloatArray]]]:
    """tau_1/tau_N by fixed coupling g and description ('mic', then descriptions_in): (N, ratio), each
    from the rows where that description's tau is finite, tau_1 from its own N = 1 row (a
    description without one is left out). Files read together may repeat an N: the first counts."""
    out: dict[float, dict[str, tuple[FloatArray, FloatArray]]] = {}
    rows = data.rows(sort_by="n_batteries", protocol="collective")
    g = data.column("g").astype(float)
    for value in sorted({round(float(g[r]), 12) for r in rows}):
        group = [r for r in rows if abs(g[r] - value) <= 1e-9 * value]
        out[value] = {}
        for kind in ("mic", *(d.suffix for d in descriptions_in(data))):
            n_seen: dict[int, float] = {}
            for r in group:
                tau = float(data.column(f"tau_{kind}")[r])
                n = int(data.column("n_batteries")[r])
                if math.isfinite(tau) and n not in n_seen:
                    n_seen[n] = tau
            if 1 in n_seen and len(n_seen) > 1:
                n_arr = np.array(sorted(n_seen), dtype=float)
                tau_arr = np.array([n_seen[int(k)] for k in n_arr])
                out[value][kind] = (n_arr, n_seen[1] / tau_arr)
    return out


def protocols_of(data: SweepData, rows: NDArray[np.intp]) -> list[str]:
    present = set(data.column("protocol")[rows].tolist())
    return [p for p in ("collective", "individual") if p in present]


@dataclass(frozen=True)
class Shown:
    """An approximate description as a file holds it: figure suffix, error suffix, label."""

    suffix: str
    errors: str
    label: str


def descriptions_in(data: SweepData) -> list[Shown]:
    """The approximate descriptions whose figures a file holds, Eq. 8 first: every suffix s of a
    column E_ss_s but the reference's, labelled as the file's root attribute ``descriptions``
    (schema >= 1.5) says, else as this version's registry does, else by the suffix itself."""
    stored = {d["suffix"]: d for d in json.loads(data.attrs.get("descriptions", "[]"))}
    suffixes = [name[len("E_ss_"):] for name in data.summary
                if name.startswith("E_ss_") and name != "E_ss_mic"]
    suffixes.sort(key=lambda s: s != "eff")
    out = []
    for suffix in suffixes:
        if suffix in stored:
            known = stored[suffix]
            out.append(Shown(suffix, known["errors"], known["label"]))
            continue
        found = [get(name) for name in approximate() if get(name).suffix == suffix]
        out.append(Shown(suffix, found[0].error_suffix, found[0].label) if found else
                   Shown(suffix, f"_{suffix}", suffix))
    return out


#: The sweeps of the large-N study at fixed kappa (all others of it are at fixed couplings).
FIXED_KAPPA_SWEEPS = ("large_n_fixed_kappa", "large_n_delay_fixed_kappa")

#: What makes two N = 1 rows the same point (the normalization of Eq. 5 is moot at N = 1).
COUPLINGS = ("w0", "wh", "beta_h", "beta_c", "gamma_h", "gamma_c", "g", "n_engines")


@dataclass(frozen=True)
class Family:
    """One family of the large-N study: couplings fixed ('g') or kappa fixed, the normalization of
    Eq. 5 and whether M = N or M = 1."""

    fixed: str
    normalization: str
    engines: str

    @property
    def label(self) -> str:
        norm = "g/sqrt(N)" if self.normalization == "sqrt_n" else "g"
        return (f"fixed {self.fixed}, {self.engines}" if self.fixed == "kappa"
                else f"fixed g ({norm}), {self.engines}")


def large_n_data(data: SweepData) -> dict[Family, dict[str, dict[str, Any]]]:
    """By family and description ('mic' and each suffix of descriptions_in): N, tau and the
    power over the rows where that description's tau is finite (the first row of an N counts),
    and tau_1/tau_N from the family's N = 1 (at N = 1 both normalizations and both engine
    counts are the same point, so any N = 1 row of the same fixing serves). A description
    that has no N = 1 (the delay one refuses below the collective threshold) takes the exact
    tau_1, and its entry says so (``tau_1``: 'exact'). Where the fixing has no exact N = 1 row,
    the exact one of any N = 1 row with the same couplings serves (fixed kappa = 0.1 and the
    fixed couplings of configs/large_n.yaml meet at N = 1, to the 12 digits stored there)."""
    rows = data.rows(protocol="collective")
    sweeps = data.sweep_names()
    n_col = data.column("n_batteries").astype(int)
    m_col = data.column("n_engines").astype(int)
    kinds = ("mic", *(d.suffix for d in descriptions_in(data)))
    family_of: dict[int, Family] = {}
    for r in rows:
        fixed = "kappa" if sweeps[r] in FIXED_KAPPA_SWEEPS else "g"
        engines = "M = 1" if m_col[r] == 1 and n_col[r] > 1 else "M = N"
        family_of[int(r)] = Family(fixed, str(data.column("normalization")[r]), engines)
    families = sorted({f for f in family_of.values()}, key=lambda f: (f.fixed, f.engines,
                                                                        f.normalization))
    ones = [r for r in family_of if n_col[r] == 1]

    def same_point(r: int, other: int) -> bool:
        return all(math.isclose(float(data.column(k)[r]), float(data.column(k)[other]),
                                rel_tol=1e-9) for k in COUPLINGS)

    def single(kind: str, fixed: str) -> float:
        taus = [float(data.column(f"tau_{kind}")[r]) for r in ones
                if family_of[r].fixed == fixed]
        found = next((t for t in taus if math.isfinite(t)), math.nan)
        if kind == "mic" and not math.isfinite(found):
            mine = [r for r in ones if family_of[r].fixed == fixed]
            taus = [float(data.column("tau_mic")[r]) for r in ones
                    if any(same_point(r, m) for m in mine)]
            found = next((t for t in taus if math.isfinite(t)), math.nan)
        return found

    out: dict[Family, dict[str, dict[str, Any]]] = {}
    for family in families:
        out[family] = {}
        for kind in kinds:
            seen: dict[int, tuple[float, float]] = {}
            for r, f in family_of.items():
                tau = float(data.column(f"tau_{kind}")[r])
                if math.isfinite(tau) and f == family and n_col[r] not in seen:
                    seen[int(n_col[r])] = (tau, float(data.column(f"power_{kind}")[r]))
            tau_1, source = single(kind, family.fixed), "own"
            if not math.isfinite(tau_1) and kind != "mic":
                tau_1, source = single("mic", family.fixed), "exact"
            if len(seen) < 2 or not math.isfinite(tau_1):
                continue
            n = np.array(sorted(seen), dtype=float)
            tau = np.array([seen[int(k)][0] for k in n])
            out[family][kind] = {"n": n, "tau": tau, "ratio": tau_1 / tau, "tau_1": source,
                                 "power": np.array([seen[int(k)][1] for k in n])}
    return out



def _map_row(data: SweepData, r: int) -> bool:
    """A collective row with M = N at the paper's baths (Gamma_c = Gamma_h, w_h = 3, beta_c = 1)."""
    return int(data.column("n_engines")[r]) == int(data.column("n_batteries")[r]) \
        and abs(float(data.column("gamma_c")[r]) / float(data.column("gamma_h")[r]) - 1) < 1e-9 \
        and float(data.column("wh")[r]) == 3.0 and float(data.column("beta_c")[r]) == 1.0


def validation_rows(data: SweepData) -> NDArray[np.intp]:
    """The collective rows with M = N at the paper's baths and an exact reference: the validation
    grid over (N, kappa)."""
    rows = data.rows(sort_by=["n_batteries", "kappa"], protocol="collective")
    keep = [r for r in rows if np.isfinite(data.column("E_ss_mic")[r]) and _map_row(data, r)]
    return np.array(keep, dtype=np.intp)


#: The description the others are measured against where nothing exact runs: the cumulant one,
#: exact at M = 1 and validated against the exact model to N = M = 40 (docs/validation.md).
LARGE_N_REFERENCE = "cum"


def beyond_exact_rows(data: SweepData, reference: str = LARGE_N_REFERENCE) -> NDArray[np.intp]:
    """The collective M = N rows at the paper's baths with no exact solution but with the large-N
    reference computed: the map's part beyond the exact solver."""
    if f"{reference}_status" not in data.summary:
        return np.array([], dtype=np.intp)
    rows = data.rows(sort_by=["n_batteries", "kappa"], protocol="collective")
    keep = [r for r in rows if not np.isfinite(data.column("E_ss_mic")[r]) and _map_row(data, r)]
    return np.array(keep, dtype=np.intp)


@dataclass(frozen=True)
class AgainstReference:
    """One description against the large-N reference at one point, from the stored series:
    eps_traj = max_t |E - E_ref|/(N w0) from the stored time grid (``peak``) and from every second
    grid point (their difference measures what the sampling of the maximum moves it), and
    eps_tau = |tau_ref - tau|/tau (over the description's own tau, as the stored eps_tau). NaN
    where either failed; ``reason`` says which."""

    eps_traj: float
    eps_traj_coarse: float
    eps_tau: float
    reason: str


def computed(data: SweepData, row: int, suffix: str) -> bool:
    """Whether description ``suffix`` left a finite charging curve at ``row``: it ran and was not
    stopped (a status such as 'positivity violated ...; figures kept' keeps its numbers)."""
    energy = series_or_none(data, row, f"energy_{suffix}")
    return energy is not None and bool(np.all(np.isfinite(energy))) and \
        bool(np.isfinite(data.column(f"tau_{suffix}")[row]))


def peak(t: FloatArray, y: FloatArray) -> float:
    """The maximum of a smooth sampled curve: the vertex of the parabola through the largest sample
    and its two neighbours (error O(dt^3) at an interior maximum), the sample itself at an end."""
    i = int(np.argmax(y))
    if i == 0 or i == y.size - 1:
        return float(y[i])
    a, b, c = np.polyfit(t[i - 1:i + 2] - t[i], y[i - 1:i + 2], 2)
    return float(y[i]) if a >= 0 else float(max(y[i], c - b * b / (4 * a)))


def against_reference(data: SweepData, row: int, suffix: str,
                      reference: str = LARGE_N_REFERENCE) -> AgainstReference:
    """Description ``suffix`` against ``reference`` at summary row ``row`` (docs/physics.md §3's
    eps_traj and eps_tau with the reference in place of the exact model)."""
    nan = float("nan")
    for who in (reference, suffix):
        if not computed(data, row, who):
            return AgainstReference(nan, nan, nan,
                                    f"{who}: {data.column(f'{who}_status')[row]}")
    scale = float(data.column("n_batteries")[row]) * float(data.column("w0")[row])
    t = data.array(row, "t")
    gap = np.abs(data.array(row, f"energy_{suffix}") - data.array(row, f"energy_{reference}"))
    tau = float(data.column(f"tau_{suffix}")[row])
    tau_ref = float(data.column(f"tau_{reference}")[row])
    return AgainstReference(peak(t, gap) / scale, peak(t[::2], gap[::2]) / scale,
                            abs(tau_ref - tau) / tau, "ok")
