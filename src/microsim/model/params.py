"""Validated parameters of one model point and the quantities derived from them.

Symbols follow Ito & Watanabe, arXiv:2008.07089 (Eq. 1-8); units hbar = k_B = 1, energies and rates
in the same (arbitrary) unit, usually w0 = 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ENGINE_INITS",
    "NORMALIZATIONS",
    "PROTOCOLS",
    "ModelParams",
    "ParameterError",
    "effective_rate",
]

Protocol = Literal["collective", "individual"]
Normalization = Literal["sqrt_n", "none"]
EngineInit = Literal["steady", "ground"]

PROTOCOLS: tuple[str, ...] = ("collective", "individual")
NORMALIZATIONS: tuple[str, ...] = ("sqrt_n", "none")
ENGINE_INITS: tuple[str, ...] = ("steady", "ground")

#: Keys of the effective parametrization (from_effective) and the fields it determines itself.
EFFECTIVE_KEYS: tuple[str, ...] = ("beta_e_w0", "gamma_e", "kappa")
MICRO_ONLY_KEYS: tuple[str, ...] = ("beta_h", "gamma_h", "gamma_c", "g", "gamma_env")

#: Above this many batteries nothing but the effective birth-death equation can run anyway.
MAX_BATTERIES = 10_000_000


class ParameterError(ValueError):
    """A parameter is outside its allowed range; the message names it, the range and the value."""


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ParameterError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}")
    return value


def _positive(name: str, value: Any) -> float:
    value = _finite(name, value)
    if value <= 0:
        raise ParameterError(f"{name} must be > 0, got {value}")
    return value


def _count(name: str, value: Any, upper: int = MAX_BATTERIES) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be an integer in [1, {upper}], got {value!r}")
    if not 1 <= value <= upper:
        raise ParameterError(f"{name} must be an integer in [1, {upper}], got {value}")
    return int(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def effective_rate(g_engine: float, gamma_h: float, gamma_c: float, boltz_h: float,
                   boltz_c: float, boltz_e: float) -> float:
    """Rate one engine adds to the collective battery dissipator, Eq. 8.

    Gamma_e(g) = (2 g)^2 / (Gamma_h e^{-beta_h w_h} + Gamma_c e^{-beta_c w_c})
                 / (1 + e^{-beta_h w_h} + e^{-beta_e w0}),
    i.e. (2g)^2 p_0 / (2 gamma_01) from adiabatic elimination of the engine coherence |0><1|.
    ``boltz_b`` are the Boltzmann factors e^{-beta_h w_h}, e^{-beta_c w_c}, e^{-beta_e w0}.
    """
    return (2.0 * g_engine) ** 2 / (gamma_h * boltz_h + gamma_c * boltz_c) / (
        1.0 + boltz_h + boltz_e
    )


@dataclass(frozen=True)
class ModelParams:
    """One point of the microscopic model (Eq. 1-6) with its battery environment.

    Energies ``w0 < wh`` and rates share one unit; ``beta_*`` are inverse temperatures in its inverse.
    ``g`` is the coupling of Eq. 5 (collective; divided by sqrt(N) when ``normalization='sqrt_n'``)
    or of Eq. 6 (individual, engine j to battery j). ``gamma_env, beta_env`` add a battery
    environment Gamma (D[L] + e^{-beta w0} D[L^dag]): L = S^- (one bath) for the collective protocol,
    L = sigma_k^- (a bath per battery) for the individual one. ``n_engines`` (M) defaults to
    ``n_batteries``.
    """

    w0: float = 1.0
    wh: float = 3.0
    beta_h: float = 0.1
    beta_c: float = 1.0
    gamma_h: float = 1.0
    gamma_c: float = 1.0
    g: float = 0.1
    n_batteries: int = 1
    n_engines: int | None = None
    protocol: Protocol = "collective"
    normalization: Normalization = "sqrt_n"
    engine_init: EngineInit = "steady"
    gamma_env: float = 0.0
    beta_env: float = 0.0
    allow_no_inversion: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        w0 = _positive("w0", self.w0)
        wh = _finite("wh", self.wh)
        if not wh > w0:
            raise ParameterError(f"wh must be > w0 = {w0} (so that w_c = wh - w0 > 0), got {wh}")
        set_(self, "w0", w0)
        set_(self, "wh", wh)
        set_(self, "beta_h", _positive("beta_h", self.beta_h))
        set_(self, "beta_c", _positive("beta_c", self.beta_c))
        set_(self, "gamma_h", _positive("gamma_h", self.gamma_h))
        set_(self, "gamma_c", _positive("gamma_c", self.gamma_c))
        g = _finite("g", self.g)
        if g < 0:
            raise ParameterError(f"g must be >= 0, got {g}")
        set_(self, "g", g)
        n = _count("n_batteries", self.n_batteries)
        set_(self, "n_batteries", n)
        m = n if self.n_engines is None else _count("n_engines", self.n_engines)
        set_(self, "n_engines", m)
        _choice("protocol", self.protocol, PROTOCOLS)
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("engine_init", self.engine_init, ENGINE_INITS)
        if self.protocol == "individual" and m != n:
            raise ParameterError(
                f"n_engines must equal n_batteries = {n} for the individual protocol (Eq. 6), got {m}"
            )
        gamma_env = _finite("gamma_env", self.gamma_env)
        if gamma_env < 0:
            raise ParameterError(f"gamma_env must be >= 0, got {gamma_env}")
        set_(self, "gamma_env", gamma_env)
        set_(self, "beta_env", _finite("beta_env", self.beta_env))
        self._check_derived()
        ratio, bound = self.beta_h / self.beta_c, self.wc / self.wh
        if not self.allow_no_inversion and not ratio < bound:
            raise ParameterError(
                f"no population inversion: beta_h/beta_c must be < wc/wh = {bound:.6g} (Eq. 3), "
                f"got {ratio:.6g}; pass allow_no_inversion=True to simulate it anyway"
            )

    def _check_derived(self) -> None:
        """The derived rates must be finite and positive in floating point (extreme inputs)."""
        try:
            values = {"gamma_01": self.gamma_01, "kappa": self.kappa,
                      "gamma_e": self.gamma_e, "beta_e_w0": self.beta_e_w0}
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ParameterError(f"parameters outside the floating-point range ({exc}): "
                                 f"check beta_h wh, beta_c wc and the rates") from None
        bad = {k: v for k, v in values.items() if not math.isfinite(v)
               or (k == "gamma_01" and v <= 0)}
        if bad:
            shown = ", ".join(f"{k} = {v:.3g}" for k, v in bad.items())
            raise ParameterError(f"derived quantities out of range: {shown}; keep beta_h wh, "
                                 "beta_c wc below ~700 and rates within floating-point range")

    # ----------------------------------------------------------------- engine (Eq. 1-3)
    @property
    def wc(self) -> float:
        """Gap w_c = w_h - w_0 between engine levels |1> and |2> (Eq. 1)."""
        return self.wh - self.w0

    @property
    def boltz_h(self) -> float:
        """Hot-bath Boltzmann factor e^{-beta_h w_h}."""
        return math.exp(-self.beta_h * self.wh)

    @property
    def boltz_c(self) -> float:
        """Cold-bath Boltzmann factor e^{-beta_c w_c}."""
        return math.exp(-self.beta_c * self.wc)

    @property
    def engine_steady_populations(self) -> NDArray[np.float64]:
        """Engine steady state, Eq. 3: (p_0, p_1, p_2) proportional to (e^{beta_h w_h}, e^{beta_c w_c}, 1).

        Written relative to p_0 as (1, e^{-beta_e w0}, e^{-beta_h w_h}) so it cannot overflow.
        """
        p = np.array([1.0, math.exp(-self.beta_e_w0_engines), self.boltz_h])
        return p / p.sum()

    @property
    def gamma_01(self) -> float:
        """Decay rate of the engine coherence |0><1| (docs/physics.md §3).

        gamma_01 = (Gamma_h e^{-beta_h w_h} + Gamma_c e^{-beta_c w_c}) / 2.
        """
        return 0.5 * (self.gamma_h * self.boltz_h + self.gamma_c * self.boltz_c)

    # ----------------------------------------------------------------- coupling (Eq. 5-7)
    @property
    def batteries_per_problem(self) -> int:
        """Batteries that one engine couples to: N (collective, Eq. 5) or 1 (individual, Eq. 6)."""
        return self.n_batteries if self.protocol == "collective" else 1

    @property
    def g_engine(self) -> float:
        """Coupling of one engine to the collective battery operator: g/sqrt(N) or g (Eq. 5, 6)."""
        if self.protocol == "collective" and self.normalization == "sqrt_n":
            return self.g / math.sqrt(self.n_batteries)
        return self.g

    @property
    def kappa(self) -> float:
        """Time-scale separation parameter, Eq. 7.

        kappa = g_engine N / min_b[Gamma_b (1 + e^{-beta_b w_b})], which is g sqrt(N)/min_b[...] for
        the 1/sqrt(N) convention and g N/min_b[...] without it. For the individual protocol N -> 1
        (one engine-battery pair).
        """
        slowest = min(self.gamma_h * (1 + self.boltz_h), self.gamma_c * (1 + self.boltz_c))
        return self.g_engine * self.batteries_per_problem / slowest

    @property
    def kappa_01(self) -> float:
        """Candidate separation variable: coupling over the coherence decay (docs/physics.md §3).

        kappa_01 = g_engine N' / gamma_01, N' as in kappa; at fixed baths a fixed multiple of kappa,
        across baths a different weighting of them.
        """
        return self.g_engine * self.batteries_per_problem / self.gamma_01

    @property
    def kappa_up(self) -> float:
        """Candidate separation variable: coupling over the slowest uphill rate (docs/physics.md §3).

        kappa_up = g_engine N' / min_b (Gamma_b e^{-beta_b w_b}): how fast an engine that gave a
        quantum is pumped back to |1>, against how fast it gives the next.
        """
        uphill = min(self.gamma_h * self.boltz_h, self.gamma_c * self.boltz_c)
        return self.g_engine * self.batteries_per_problem / uphill

    # ----------------------------------------------------------------- effective (Eq. 8)
    @property
    def beta_e_w0_engines(self) -> float:
        """beta_e w0 = beta_h w_h - beta_c w_c imposed by the engines alone (Eq. 8); < 0 if inverted."""
        return self.beta_h * self.wh - self.beta_c * self.wc

    @property
    def gamma_e_engines(self) -> float:
        """Effective rate from the engines alone, Eq. 8: M Gamma_e(g_engine) for the collective problem.

        Each engine adds Gamma_e(g_engine); with M = N and g_engine = g/sqrt(N) this is Gamma_e(g).
        """
        engines = self.n_engines if self.protocol == "collective" else 1
        per_engine = effective_rate(
            self.g_engine, self.gamma_h, self.gamma_c, self.boltz_h, self.boltz_c,
            math.exp(-self.beta_e_w0_engines),
        )
        return engines * per_engine

    @property
    def gamma_e(self) -> float:
        """Effective collective rate of Eq. 8, including the battery environment: Gamma_e + Gamma."""
        return self.gamma_e_engines + self.gamma_env

    @property
    def beta_e_w0(self) -> float:
        """Effective beta_e w0 of Eq. 8 including the battery environment (docs/physics.md §2).

        beta_e w0 -> log(Gamma_e + Gamma) - log(Gamma_e e^{-beta_e w0} + Gamma e^{-beta w0}).
        """
        if self.gamma_env == 0.0:
            return self.beta_e_w0_engines
        ge = self.gamma_e_engines
        return math.log(ge + self.gamma_env) - math.log(
            ge * math.exp(-self.beta_e_w0_engines) + self.gamma_env * math.exp(-self.beta_env * self.w0)
        )

    @property
    def beta_e(self) -> float:
        """Effective (negative) inverse temperature beta_e of Eq. 8, in units of 1/w0."""
        return self.beta_e_w0 / self.w0

    # ----------------------------------------------------------------- helpers
    def derived(self) -> dict[str, float]:
        """The derived quantities users compare across runs, keyed as in configs and HDF5."""
        return {"beta_e_w0": self.beta_e_w0, "gamma_e": self.gamma_e, "kappa": self.kappa,
                "kappa_01": self.kappa_01, "kappa_up": self.kappa_up}

    def as_dict(self) -> dict[str, Any]:
        """All parameters as plain Python values (n_engines resolved)."""
        d = dataclasses.asdict(self)
        d.pop("allow_no_inversion")
        return d

    def replace(self, **changes: Any) -> ModelParams:
        """A copy with some parameters changed, validated again."""
        return dataclasses.replace(self, **changes)

    def pair(self) -> ModelParams:
        """The one engine-one battery problem that the individual protocol repeats N times (Eq. 6)."""
        return self.replace(n_batteries=1, n_engines=1, protocol="collective")

    @classmethod
    def from_values(cls, values: Mapping[str, Any],
                    spell: Callable[[str], str] = str) -> ModelParams:
        """A point from the microscopic parameters (the fields) or from the effective
        parametrization (beta_e_w0, gamma_e, kappa and optionally gamma_ratio, from_effective),
        whichever ``values`` names; both at once is an error. ``spell`` names a key in errors
        (the command line spells them as flags)."""
        given = {k: v for k, v in values.items() if v is not None}
        effective = [k for k in EFFECTIVE_KEYS if k in given]
        if not effective:
            if "gamma_ratio" in given:
                raise ParameterError(f"{spell('gamma_ratio')} belongs to the effective "
                                     f"parametrization ({', '.join(map(spell, EFFECTIVE_KEYS))})")
            return cls(**given)
        micro = [k for k in MICRO_ONLY_KEYS if k in given and not (k == "gamma_env"
                                                                  and given[k] == 0)]
        if micro:
            shown = ", ".join(spell(k) for k in (*micro, *effective))
            raise ParameterError(f"give microscopic or effective parameters, not both (got {shown})")
        missing = [k for k in EFFECTIVE_KEYS if k not in given]
        if missing:
            raise ParameterError("the effective parametrization needs "
                                 + ", ".join(spell(k) for k in missing))
        kw = {k: v for k, v in given.items()
              if k not in (*EFFECTIVE_KEYS, "allow_no_inversion", "gamma_env", "beta_env")}
        return cls.from_effective(given["beta_e_w0"], given["gamma_e"], given["kappa"],
                                  kw.pop("n_batteries", 1), **kw)

    @classmethod
    def from_effective(
        cls,
        beta_e_w0: float,
        gamma_e: float,
        kappa: float,
        n_batteries: int,
        *,
        w0: float = 1.0,
        wh: float = 3.0,
        beta_c: float = 1.0,
        gamma_ratio: float = 1.0,
        n_engines: int | None = None,
        protocol: Protocol = "collective",
        normalization: Normalization = "sqrt_n",
        engine_init: EngineInit = "steady",
    ) -> ModelParams:
        """The microscopic point with given effective dynamics and time-scale separation (docs/physics.md §3).

        beta_h = (beta_e_w0 + beta_c w_c)/w_h; with Gamma_c = r Gamma_h, c = min(1 + e^{-beta_h w_h},
        r (1 + e^{-beta_c w_c})) and N' = N (collective) or 1 (individual), Eq. 7 gives
        g_engine = kappa Gamma_h c / N' and Eq. 8 gives
        Gamma_h = gamma_e N'^2 (e^{-beta_h w_h} + r e^{-beta_c w_c}) / (4 M' kappa^2 c^2 p_0).
        """
        gamma_e = _positive("gamma_e", gamma_e)
        kappa = _positive("kappa", kappa)
        gamma_ratio = _positive("gamma_ratio", gamma_ratio)
        beta_e_w0 = _finite("beta_e_w0", beta_e_w0)
        n = _count("n_batteries", n_batteries)
        m = n if n_engines is None else _count("n_engines", n_engines)
        w0, wh, beta_c = _positive("w0", w0), _finite("wh", wh), _positive("beta_c", beta_c)
        if not wh > w0:
            raise ParameterError(f"wh must be > w0 = {w0} (so that w_c = wh - w0 > 0), got {wh}")
        wc = wh - w0
        beta_h = (beta_e_w0 + beta_c * wc) / wh
        if not math.isfinite(beta_h):
            raise ParameterError(f"beta_e_w0 = {beta_e_w0}, beta_c = {beta_c}, wh = {wh} give "
                                 f"beta_h = {beta_h}, outside the floating-point range")
        if beta_h <= 0:
            raise ParameterError(
                f"beta_e_w0 must be > -beta_c (wh - w0) = {-beta_c * wc:.6g} so that beta_h > 0, "
                f"got {beta_e_w0}"
            )
        n_eff = n if protocol == "collective" else 1
        m_eff = m if protocol == "collective" else 1
        try:
            boltz_h, boltz_c = math.exp(-beta_h * wh), math.exp(-beta_c * wc)
            p0 = 1.0 / (1.0 + boltz_h + math.exp(-beta_e_w0))
            slowest = min(1.0 + boltz_h, gamma_ratio * (1.0 + boltz_c))
            gamma_h = gamma_e * n_eff**2 * (boltz_h + gamma_ratio * boltz_c) / (
                4.0 * m_eff * kappa**2 * slowest**2 * p0
            )
            g_engine = kappa * gamma_h * slowest / n_eff
        except (OverflowError, ZeroDivisionError) as exc:
            raise ParameterError(f"beta_e_w0 = {beta_e_w0}, gamma_e = {gamma_e}, kappa = {kappa} "
                                 f"are outside the floating-point range ({exc})") from None
        if not (math.isfinite(gamma_h) and gamma_h > 0 and math.isfinite(g_engine)):
            raise ParameterError(f"beta_e_w0 = {beta_e_w0}, gamma_e = {gamma_e}, kappa = {kappa} "
                                 f"give gamma_h = {gamma_h:.3g}, outside the floating-point range")
        g = g_engine * math.sqrt(n) if (protocol == "collective" and normalization == "sqrt_n") \
            else g_engine
        return cls(
            w0=w0, wh=wh, beta_h=beta_h, beta_c=beta_c, gamma_h=gamma_h,
            gamma_c=gamma_ratio * gamma_h, g=g, n_batteries=n, n_engines=m, protocol=protocol,
            normalization=normalization, engine_init=engine_init,
        )
