"""The delay description: the moment description's charging averaged over the random delay
with which the amplified vacuum starts it (docs/physics.md §9).

Charging starts from the U(1)-symmetric vacuum. In its linear stage the batteries' collective
mode is a phase-insensitive amplifier of the engines' spontaneous emission, with power gain
r > 0 (the largest real part of the moments' Jacobian at the initial state); from the vacuum
its excitation number is geometric, so one realization grows as m(t) ~ (W / <W>) a(t) with
W / <W> ~ Exp(1), a(t) = N n_lin(t) the mean of the linearized moments (a(t) ~ A e^{r t} once
the start is over). Once m >> 1 the realization is deterministic to O(N^-1/2): it is the
moments' own curve n(t) on its own clock,

    m(t) / N = n(tau_W(t)),   a(tau_W(t)) = (W / <W>) a(t),

so tau_W(0) = 0, the realizations average to the moments' mean while linear, and later
tau_W(t) = t + s with s = ln(W / <W>) / r, of density rho(s) = r e^{r s} exp(-e^{r s}) (the
delay of superfluorescence). The description is the average over s,

    E(t) = N w0 int ds rho(s) n(tau_s(t)),   p_m(t) = int ds rho(s) Binomial(N, n(tau_s(t)))(m).

It keeps the moments' linear stage, replaces their fixed-order battery statistics by the
O(N)-wide distribution of delays, and becomes exact as N -> infinity where the shift picture
does (measured in docs/physics.md §9). It is not meant for small N.

The integral is a trapezoid sum on s = j h over [-SPAN_BEFORE, SPAN_AFTER] / r (the mass left
out is below 1e-17), h = 2 pi / (RATE_MARGIN r + omega) with omega the fastest underdamped
ringing of the moments (their Jacobian at the initial and the steady state); the integrand is
smooth, so the sum converges faster than any power of h (refined in tests/test_delay.py).
a(t) is the exact solution of the linearized moments (matrix exponential), tabulated from
1e-12 / r to 60 / r, inverted by monotone interpolation in (ln t, ln a), and continued as
A e^{r t} beyond (its other terms are polynomial in t there, below e^{-60} of it); where a(t)
is not monotone (an underdamped start, seen at N = 40, M = 1, kappa = 10) its running maximum
is inverted. One integration of the moments on the sorted times tau_s(t_k) gives every node,
so the cost is that of the moments with T K output points, and memory is O(T K) whatever N is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import PchipInterpolator
from scipy.linalg import expm

from microsim.descriptions import moments
from microsim.descriptions.binomial import BinomialMixture
from microsim.descriptions.options import IntegrationError, SolverOptions
from microsim.descriptions.protocol import Description, Watch, collective_only
from microsim.descriptions.result import Propagator, SteadyState, Trajectory
from microsim.model.params import ModelParams

__all__ = ["DESCRIPTION", "delays", "growth_rate", "steady_state", "trajectory"]

FloatArray = NDArray[np.float64]

#: The delays kept, in units of 1/r: rho's mass below -40/r is e^{-40}, above 4/r e^{-e^4}.
SPAN_BEFORE, SPAN_AFTER = 40.0, 4.0

#: Node spacing h = 2 pi / (RATE_MARGIN r + omega): the trapezoid sum aliases the integrand's
#: content at 2 pi / h, and the delay density smooths a line at omega down to
#: |Gamma(1 + i nu / r)| ~ e^{-pi nu / (2 r)} at nu = 2 pi / h - omega (e^{-47} here).
RATE_MARGIN = 30.0


def _rates(p: ModelParams) -> tuple[float, float, float]:
    """(r, omega, scale): the largest real part of the moments' Jacobian at the initial state
    (the vacuum's power gain), the fastest underdamped ringing (|Im| > |Re|) there and at the
    steady state (0 if none; an overdamped mode does not ring), and the largest |eigenvalue|."""
    jac = moments.jacobian(p)
    start = np.linalg.eigvals(jac(0.0, moments.initial_state(p)))
    end = np.linalg.eigvals(jac(0.0, moments._steady_moments(p)))
    modes = np.concatenate([start, end])
    ringing = np.abs(modes.imag)[np.abs(modes.imag) > np.abs(modes.real)]
    return (float(start.real.max()), float(ringing.max()) if ringing.size else 0.0,
            float(np.abs(modes).max()))


def growth_rate(p: ModelParams) -> float:
    """r, the power gain of the linear stage (units of 1/time); raises IntegrationError when the
    vacuum is not amplified (r <= 1e-9 of the fastest rate: the moments conserve
    B2 - n (1 - n), so one eigenvalue is 0 up to round-off), where the delay picture has no
    meaning: engines without inversion, or few batteries, below the collective threshold (at
    the paper's point with kappa = 0.215, N = M = 2 and 3 have none, N = 4 has r = 0.033)."""
    r, _, scale = _rates(p)
    if not r > 1e-9 * scale:
        raise IntegrationError(f"no linear gain at the vacuum (r = {r:.3g}; below the "
                               "collective threshold, or no inversion): the delay "
                               "description needs an amplifying start")
    return r


def delays(p: ModelParams) -> tuple[FloatArray, FloatArray]:
    """The nodes s_j and weights w_j (summing to 1) of the delay average: trapezoid on the
    density rho(s) = r e^{r s} exp(-e^{r s}) of s = ln(W / <W>) / r, W / <W> ~ Exp(1)."""
    r = growth_rate(p)
    h = 2.0 * np.pi / (RATE_MARGIN * r + _rates(p)[1])
    s = np.arange(np.floor(-SPAN_BEFORE / (r * h)), np.ceil(SPAN_AFTER / (r * h)) + 1) * h
    density = r * np.exp(r * s - np.exp(r * s))
    return s, density / density.sum()


#: The linear stage's table, in units of 1/r: from EARLY_START to LINEAR_STEP in decades of
#: DECADE_POINTS uniform steps (the start has the baths' time scale, 1 / Gamma << 1 / r at
#: small kappa), then steps of LINEAR_STEP up to LINEAR_END.
EARLY_START, DECADE_POINTS, LINEAR_STEP, LINEAR_END = 1e-12, 90, 0.01, 60.0


def _stepped(generator: FloatArray, start: float, step: float, count: int) -> FloatArray:
    """The battery excitation of exp(generator t) e_8 at t = start + k step, k = 0..count - 1
    (two matrix exponentials, then products)."""
    z = expm(generator * start)[:, 8]
    move = expm(generator * step)
    out = np.empty(count)
    for k in range(count):
        out[k] = z[moments.N_B]
        z = move @ z
    return out


def _clock(p: ModelParams, r: float) -> Callable[[FloatArray, FloatArray], FloatArray]:
    """tau_s(t) = a^{-1}(e^{r s} a(t)), element-wise in the broadcast (t, s). a(t) is the
    battery excitation of the linearized moments from the initial state (exact, by matrix
    exponentials), tabulated as (ln t, ln a) and interpolated monotonically both ways; a ~ t^2
    before the table (n = g_e^2 M p1 t^2 + O(t^3)) and A e^{r t} after it."""
    y0 = moments.initial_state(p)
    generator = np.zeros((9, 9))
    generator[:8, :8] = moments.jacobian(p)(0.0, y0)
    generator[:8, 8] = moments.right_hand_side(p)(0.0, y0)
    decades = round(np.log10(LINEAR_STEP / EARLY_START))
    pieces, times = [], []
    for d in range(decades):
        start = EARLY_START * 10.0**d / r
        step = 9.0 * start / DECADE_POINTS
        pieces.append(_stepped(generator, start, step, DECADE_POINTS))
        times.append(start + step * np.arange(DECADE_POINTS))
    count = round(LINEAR_END / LINEAR_STEP)
    pieces.append(_stepped(generator, LINEAR_STEP / r, LINEAR_STEP / r, count))
    times.append(np.arange(1, count + 1) * (LINEAR_STEP / r))
    values, times = np.concatenate(pieces), np.concatenate(times)
    running = np.maximum.accumulate(np.asarray(values))
    rising = np.concatenate([[running[0] > 0], np.diff(running) > 0])
    log_t, log_a = np.log(times[rising]), np.log(running[rising])
    forward, inverse = PchipInterpolator(log_t, log_a), PchipInterpolator(log_a, log_t)
    (x_first, x_last), (l_first, l_last) = log_t[[0, -1]], log_a[[0, -1]]
    t_last = float(np.exp(x_last))

    def level(t: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            x = np.log(np.clip(t, 0.0, None))
        middle = forward(np.clip(x, x_first, x_last))
        return np.where(x < x_first, l_first + 2.0 * (x - x_first),
                        np.where(x > x_last, l_last + r * (t - t_last), middle))

    def clock(t: FloatArray, s: FloatArray) -> FloatArray:
        goal = level(np.asarray(t, dtype=float)) + r * np.asarray(s, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            before = np.exp(x_first + (goal - l_first) / 2.0)
        middle = np.exp(inverse(np.clip(goal, l_first, l_last)))
        out = np.where(goal < l_first, before,
                       np.where(goal > l_last, t_last + (goal - l_last) / r, middle))
        return np.where(np.isfinite(goal), out, 0.0)

    return clock


def _nodes(p: ModelParams, times: FloatArray, s: FloatArray, options: SolverOptions,
           clock: Callable[[FloatArray, FloatArray], FloatArray],
           ) -> tuple[FloatArray, moments._Worst | None]:
    """The moments at tau_{s_j}(t_k) (shape (T, K, 8)) from one integration on the sorted
    times; at tau = 0 the initial state."""
    y0 = moments.initial_state(p)
    when = clock(np.asarray(times, dtype=float)[:, None], s[None, :]).ravel()
    out = np.tile(y0, (when.size, 1))
    started = np.flatnonzero(when > 0)
    if started.size == 0:
        return out.reshape(len(times), s.size, 8), None
    order = started[np.argsort(when[started], kind="stable")]
    grid = np.concatenate([[0.0], when[order]])
    states, worst = moments._solve(p, y0, grid, options)
    out[order] = states[1:]
    return out.reshape(len(times), s.size, 8), worst


def _state(time: float, nodes: FloatArray) -> FloatArray:
    """The Propagator's state: the time, then the K nodes' moments."""
    return np.concatenate([[time], nodes.ravel()])


@dataclass(frozen=True)
class _Average:
    """What one point's delay average is built from: the nodes s, the weights w, the clock."""

    s: FloatArray
    w: FloatArray
    clock: Callable[[FloatArray, FloatArray], FloatArray]


def _average(p: ModelParams) -> _Average:
    s, w = delays(p)
    return _Average(s, w, _clock(p, growth_rate(p)))


def propagator(p: ModelParams, options: SolverOptions | None = None,
               average: _Average | None = None) -> Propagator:
    """The delay average as a Propagator. Its state is the time and the moments of every node;
    ``advance`` recomputes the nodes at the new times from the start, the same integration as the
    trajectory's (the moments are autonomous and every node is the one curve shifted)."""
    options = options or SolverOptions()
    a = average or _average(p)
    y0 = moments.initial_state(p)

    def advance(_x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        nodes, _ = _nodes(p, t, a.s, options, a.clock)
        for k, time in enumerate(np.asarray(t, dtype=float)):
            yield _state(float(time), nodes[k])

    def populations(x: FloatArray) -> FloatArray:
        n = x[1:].reshape(a.s.size, 8)[:, moments.N_B]
        return BinomialMixture(p.n_batteries, n[None, :], a.w)[0]

    return Propagator(initial=_state(0.0, np.tile(y0, (a.s.size, 1))), advance=advance,
                      populations=populations)


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None, watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """The delay average on the points ``keep`` of t. A node whose moments leave their physical
    set (moments.violations, beyond moments.TOLERANCE) fails the run with the reason, as the
    moments do; ``checks`` are the moments' over the whole integration."""
    if p.protocol != "collective":
        raise ValueError("the delay description solves one collective problem; the individual "
                         "protocol is its pair (ModelParams.pair())")
    options = options or SolverOptions()
    a = _average(p)
    prop = propagator(p, options, a)
    t = np.asarray(t, dtype=float)
    nodes, worst = _nodes(p, t, a.s, options, a.clock)
    if worst is None:
        worst = moments._Worst(p, np.append(moments.initial_state(p), 0.0))
        worst.flush()
    moments.refuse_unphysical(worst.bounds)
    if watch is not None:
        for k in range(t.size):
            state = _state(float(t[k]), nodes[k])
            watch(k, state, prop.populations(state))
    picked = slice(None) if keep is None else np.asarray(keep, dtype=bool)
    kept = nodes[picked]
    levels = BinomialMixture(p.n_batteries, kept[:, :, moments.N_B], a.w)
    p0, p1 = kept[:, :, moments.P0] @ a.w, kept[:, :, moments.P1] @ a.w
    checks = {"trace_error": 0.0,  # a mixture of binomials is normalized
              "hermiticity_error": 0.0,
              "min_eigenvalue": -max(max(worst.bounds.values()), 0.0),
              "first_law_error": worst.first_law / worst.scale}
    traj = Trajectory(t=t[picked], battery_populations=levels, energy=levels.energy(p.w0),
                      sigma=levels.sigma(p.w0), ergotropy=levels.ergotropy(p.w0),
                      engine_populations=np.stack([p0, p1, 1 - p0 - p1], axis=1), checks=checks)
    return traj, prop


def steady_state(p: ModelParams) -> SteadyState:
    """Every realization ends on the moments' fixed point, so the average does too."""
    return moments.steady_state(p)


def delay_memory(p: ModelParams, points: int) -> int:
    """The moments' at T K output points (K nodes of the delay), and a sweep's stored
    populations, T x (N + 1)."""
    r, omega, scale = _rates(p)
    gain = r > 1e-9 * scale  # without gain it refuses before allocating anything
    nodes = int((SPAN_BEFORE + SPAN_AFTER) * (RATE_MARGIN * r + omega) / (2 * np.pi * r)) + 2 \
        if gain else 1
    return int(8 * 9 * 2 * points * nodes + 8 * (p.n_batteries + 1) * 3 * points + 20 * 2**20)


DESCRIPTION = Description(
    name="delay", suffix="dly", label="delay",
    summary="the moments averaged over the random delay of the amplified vacuum (docs/physics.md "
            "§9); exact as N -> infinity, not for small N",
    trajectory=trajectory, steady_state=steady_state, memory=delay_memory,
    supports=collective_only, since="1.8",
)
