"""Where the delay description's finite-N error comes from (docs/physics.md §9; not a test).

    python bench/delay_chain_diagnosis.py [--n 10 40 160] [--out bench/delay_chain_diagnosis.md]

On Eq. 8's own birth-death chain (the Dicke ladder, up rate G_u (m + 1)(N - m), down
G_d m (N - m + 1), G_u / G_d = e^{-beta_e w0} = e^{0.8}; the time unit drops out of the
measure) the delay average of §9 is built twice, from the same Gumbel delays and the same
linear-stage clock (the chain's exact linear mean a(t) = N G_u (e^{r t} - 1) / r,
r = N (G_u - G_d) - G_d), over two deterministic realizations:

* sharp: a realization sits on one Dicke level, dm/dt = u(m) - d(m) (the chain's drift);
* binomial: a realization is a product state (the moments' picture, §8), its level binomial,
  so the drift is averaged over Var(m) = N n (1 - n): dm/dt = u - d - (G_u - G_d) N n (1 - n).

max_t |E - E_chain| / (N w0) of each against the exact chain (matrix exponential) on 801 points
over the charging. The binomial one is what the delay description does with the moments' curve.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm

RATIO = np.exp(0.8)  # G_u / G_d at the paper's beta_e w0 = -0.8


def chain_energy(n: int, t: np.ndarray) -> np.ndarray:
    """<m>(t)/N of the chain from the empty battery, by one matrix exponential per step."""
    m = np.arange(n + 1)
    up, down = RATIO * (m + 1) * (n - m), m * (n - m + 1.0)
    q = np.diag(-(up * (m < n) + down)) + np.diag(up[:-1], -1) + np.diag(down[1:], 1)
    step = expm(q * (t[1] - t[0]))
    x, out = np.eye(n + 1)[0], np.empty(t.size)
    for i in range(t.size):
        out[i] = x @ m / n
        x = step @ x
    return out


def delay_average(n: int, t: np.ndarray, spread: bool) -> np.ndarray:
    """The Gumbel average of one deterministic realization (binomial spread or sharp level)."""
    gain = n * (RATIO - 1.0) - 1.0

    def drift(_t: float, y: np.ndarray) -> list[float]:
        m = y[0]
        flow = RATIO * (m + 1) * (n - m) - m * (n - m + 1)
        return [flow - (RATIO - 1.0) * m * (1 - m / n) if spread else flow]

    sol = solve_ivp(drift, (0.0, 3.0 * t[-1]), [0.0], dense_output=True, rtol=1e-11, atol=1e-14)

    def curve(tt: np.ndarray) -> np.ndarray:
        return sol.sol(tt)[0] / n

    s = np.linspace(-40.0 / gain, 4.0 / gain, 4000)
    w = gain * np.exp(gain * s - np.exp(gain * s))
    w /= w.sum()
    mean = n * RATIO / gain * np.expm1(gain * t)
    return np.array([w @ curve(np.log1p(np.exp(gain * s) * a * gain / (n * RATIO)) / gain)
                     for a in mean])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument("--out", default="bench/delay_chain_diagnosis.md")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    lines = [f"From `python bench/delay_chain_diagnosis.py` at {commit}, "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}.", "",
             "| N | binomial realization (the delay description's picture) | sharp Dicke level | "
             "ratio |", "| --- | --- | --- | --- |"]
    for n in args.n:
        t = np.linspace(0.0, (12.0 * np.log(n) + 5.0) / (n * (RATIO - 1.0)), 801)
        exact = chain_energy(n, t)
        binomial, sharp = (float(np.abs(delay_average(n, t, spread) - exact).max())
                           for spread in (True, False))
        lines.append(f"| {n} | {binomial:.4f} | {sharp:.4f} | {binomial / sharp:.2f} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
