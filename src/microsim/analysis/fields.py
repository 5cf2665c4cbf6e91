"""The schema of every stored number: one list of fields, derived from the registered descriptions.

A comparison produces, for the exact reference (suffix ``mic``) and for every approximate
description d (suffix s, error suffix e: '' for Eq. 8, whose errors are the paper's):

* figures ``E_ss_s``, ``tau_s``, ``power_s`` and, for approximate ones, ``eps_traj<e>``,
  ``eps_ss<e>``, ``eps_tau<e>``, ``D_max<e>`` (docs/physics.md §3);
* time series ``energy_s``, ``sigma_s``, ``ergotropy_s``, ``battery_populations_s``;
* the status of each approximate one, ``s_status``;

and the thermodynamic figures and series of the reference and of Eq. 8 (docs/physics.md §5).
The HDF5 point attributes and datasets, the /summary columns, the keys of ``microsim run
--json``, the columns of ``microsim inspect`` and the tables of docs/hdf5.md all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from microsim.descriptions import approximate, get
from microsim.descriptions.protocol import Description
from microsim.model.thermodynamics import THERMO_FIGURES

__all__ = [
    "EFFECTIVE_THERMO",
    "ERROR_MEASURES",
    "PREDICTED",
    "Field",
    "description_figures",
    "description_series",
    "fields_table",
    "figure_names",
    "scalar_fields",
    "series_fields",
    "series_units",
    "status_names",
]

#: The error measures of an approximate description against the exact one (docs/physics.md §3).
ERROR_MEASURES: tuple[str, ...] = ("eps_traj", "eps_ss", "eps_tau", "D_max")

#: Thermodynamic figures of Eq. 8 stored with the suffix _eff.
EFFECTIVE_THERMO: tuple[str, ...] = ("heat_h_tau", "efficiency_tau", "heat_h_end", "efficiency_end")

#: The role of the exact reference: every exact description stores under this suffix.
REFERENCE = "mic"


@dataclass(frozen=True)
class Field:
    """One stored number or series: its name, unit (hbar = k_B = 1, energies in units of w0),
    a one-line meaning and the schema version that added it."""

    name: str
    unit: str
    doc: str
    since: str = "1.0"


#: Eq. 8's error predicted from the parameters (analysis/prediction.py), stored beside the
#: derived quantities (schema 1.6).
PREDICTED: tuple[Field, ...] = (
    Field("eps_traj_predicted", "dimensionless",
          "the law's eps_traj of Eq. 8 (docs/physics.md §3; NaN outside its derivation)", "1.6"),
    Field("eps_tau_predicted", "dimensionless", "the law's eps_tau of Eq. 8", "1.6"),
    Field("eps_traj_first_order", "dimensionless",
          "X^2: Eq. 8's first-order eps_traj, lag and depletion (docs/physics.md §3)", "1.6"),
    Field("tau_shift_lag", "dimensionless", "first-order shift of tau_eff by the coherence lag, "
          "relative", "1.6"),
    Field("tau_shift_depletion", "dimensionless", "first-order shift of tau_eff by the engines' "
          "depletion, relative", "1.6"),
)


_ERROR_DOCS = {
    "eps_traj": "max_t |E(t) - E_mic(t)| / (N w0)",
    "eps_ss": "|E_ss - E_ss_mic| / (N w0)",
    "eps_tau": "|tau_mic - tau| / tau",
    "D_max": "max_t of the trace distance to the microscopic battery state",
}


def _reference_label() -> tuple[str, str]:
    return REFERENCE, "the microscopic model (the exact reference)"


def description_figures(d: Description | None) -> tuple[Field, ...]:
    """The scalar fields of one description (None: the exact reference)."""
    suffix, who = _reference_label() if d is None or d.exact else (d.suffix, d.label)
    since = "1.0" if d is None else d.since
    out = [
        Field(f"E_ss_{suffix}", "energy", f"steady-state battery energy (solved directly), {who}",
              since),
        Field(f"tau_{suffix}", "time", f"charging time of Eq. 17 (NaN if not reached), {who}", since),
        Field(f"power_{suffix}", "energy/time",
              f"average power E(tau)/tau = (1 - eps) E_ss/tau (Eq. 17-18), {who}", since),
    ]
    if d is not None and not d.exact:
        out += [Field(f"{m}{d.error_suffix}", "dimensionless", f"{_ERROR_DOCS[m]}, {who}", since)
                for m in ERROR_MEASURES]
    return tuple(out)


def description_series(d: Description | None) -> tuple[Field, ...]:
    """The time series of one description (None: the exact reference), all on the grid t."""
    suffix, who = _reference_label() if d is None or d.exact else (d.suffix, d.label)
    since = "1.0" if d is None else d.since
    return (
        Field(f"energy_{suffix}", "energy", f"battery energy <H_B>(t), all N batteries, {who}",
              since),
        Field(f"sigma_{suffix}", "energy", f"energy fluctuation sigma(t), {who}", since),
        Field(f"ergotropy_{suffix}", "energy", f"ergotropy from the full 2^N spectrum, {who}", since),
        Field(f"battery_populations_{suffix}",
              "probability; columns m = 0..N (individual: one battery, 0..1)",
              f"Dicke populations p_m(t), {who}", since),
    )


def _descriptions() -> list[Description]:
    return [get(name) for name in approximate()]


def figure_names() -> tuple[str, ...]:
    """Every scalar figure of a comparison, in the order tables show them."""
    return tuple(f.name for f in scalar_fields() if f.name not in _thermo_names())


def status_names() -> tuple[str, ...]:
    """The point attribute that holds each approximate description's status, by name."""
    return tuple(f"{d.suffix}_status" for d in _descriptions())


_THERMO_DOCS = {
    "heat_h_tau": ("energy", "heat from the hot bath Q_h up to tau_mic"),
    "heat_c_tau": ("energy", "heat from the cold bath Q_c up to tau_mic"),
    "efficiency_tau": ("dimensionless", "E(tau) / Q_h(tau)"),
    "efficiency_ergotropy_tau": ("dimensionless", "ergotropy(tau) / Q_h(tau)"),
    "heat_h_end": ("energy", "Q_h at the end of the grid"),
    "heat_c_end": ("energy", "Q_c at the end of the grid"),
    "efficiency_end": ("dimensionless", "E / Q_h at the end of the grid"),
    "efficiency_ergotropy_end": ("dimensionless", "ergotropy / Q_h at the end of the grid"),
    "entropy_production_end": ("dimensionless", "Sigma at the end of the grid"),
    "efficiency_ssd": ("dimensionless", "Scovil-Schulz-DuBois efficiency w0 / w_h"),
    "efficiency_carnot": ("dimensionless", "Carnot efficiency 1 - beta_h / beta_c"),
}


def _thermo_fields() -> tuple[Field, ...]:
    reference = tuple(Field(name, *_THERMO_DOCS[name], since="1.1") for name in THERMO_FIGURES)
    effective = tuple(Field(f"{name}_eff", _THERMO_DOCS[name][0],
                            f"{_THERMO_DOCS[name][1]} (tau_eff), as Eq. 8 implies", since="1.1")
                      for name in EFFECTIVE_THERMO)
    return reference + effective


def _thermo_names() -> set[str]:
    return {f.name for f in _thermo_fields()}


def scalar_fields() -> tuple[Field, ...]:
    """The figures of the reference and of every approximate description, then thermodynamics."""
    out = list(description_figures(None))
    for d in _descriptions():
        out += description_figures(d)
    return (*out, *_thermo_fields())


#: Series that belong to no one description.
COMMON_SERIES: tuple[Field, ...] = (
    Field("t", "1/energy (hbar = 1; energies in the unit of w0)", "the time grid"),
    Field("engine_populations", "probability; columns |0>, |1>, |2>, mean over engines",
          "mean engine level populations (microscopic)"),
    Field("trace_distance", "dimensionless, in [0, 1]",
          "trace distance of the battery states, microscopic vs Eq. 8"),
    Field("heat_current_h", "energy/time; J_h = Tr[H_0 D_h rho], > 0 when the hot bath gives energy",
          "hot-bath heat current", "1.1"),
    Field("heat_current_c", "energy/time; J_c = Tr[H_0 D_c rho]", "cold-bath heat current", "1.1"),
    Field("heat_current_env", "energy/time; from the battery environment",
          "battery-environment heat current", "1.1"),
    Field("heat_h", "energy; Q_h(t), integrated from 0", "hot-bath heat", "1.1"),
    Field("heat_c", "energy; Q_c(t)", "cold-bath heat", "1.1"),
    Field("heat_env", "energy; Q_env(t)", "battery-environment heat", "1.1"),
    Field("battery_power_mic", "energy/time; d<H_B>/dt", "battery power, microscopic", "1.1"),
    Field("battery_power_eff", "energy/time; d<H_B>/dt", "battery power, Eq. 8", "1.1"),
    Field("heat_h_eff", "energy; (w_h/w0) Delta E_eff, the heat Eq. 8 implies",
          "hot-bath heat Eq. 8 implies", "1.1"),
    Field("heat_c_eff", "energy; -(w_c/w0) Delta E_eff", "cold-bath heat Eq. 8 implies", "1.1"),
    Field("entropy_production", "dimensionless (k_B = 1); Delta S - beta_h Q_h - beta_c Q_c - beta Q_env",
          "entropy production Sigma(t)", "1.1"),
    Field("entropy_production_marginal", "dimensionless; with the correlation-free entropy, >= Sigma",
          "its correlation-free upper bound", "1.1"),
)


def series_fields() -> tuple[Field, ...]:
    """Every dataset of a sweep point: the grid, each description's series, the common ones."""
    out = [COMMON_SERIES[0], *description_series(None)]
    for d in _descriptions():
        out += description_series(d)
    return (*out, *COMMON_SERIES[1:])


def series_units() -> dict[str, str]:
    """Dataset name -> its ``units`` attribute."""
    return {f.name: f.unit for f in series_fields()}


def fields_table(fields: tuple[Field, ...]) -> str:
    """A Markdown table of fields (name, unit, meaning, schema version): docs/hdf5.md's."""
    lines = ["| name | unit | meaning | since |", "| --- | --- | --- | --- |"]
    lines += [f"| `{f.name}` | {f.unit} | {f.doc} | {f.since} |" for f in fields]
    return "\n".join(lines)

