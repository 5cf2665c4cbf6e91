# %% [markdown]
# # One model point: the microscopic model against Eq. 8
#
# N = M engines and batteries, collective protocol, at the paper's effective point
# (beta_e w0 = -0.8, Gamma_e = 0.1 w0) and a time-scale separation kappa (Eq. 7). We solve the
# microscopic model exactly (permutation-symmetric solver) and the effective master equation of
# the batteries (Eq. 8), then look at the charging curves, the lag of the microscopic charging
# and the heat the engines draw. Units: hbar = k_B = 1, energies in w0, times in 1/w0.
#
# A jupytext "percent" script: run it as `python examples/one_point.py`, or open it as a notebook
# with `jupytext --to notebook examples/one_point.py`. `MICROSIM_EXAMPLES_SMALL=1` runs it on
# small settings (the test suite does), `MICROSIM_EXAMPLES_OUT` sets where figures go.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from microsim import ModelParams
from microsim.analysis.comparison import compare_until_charged

SMALL = os.environ.get("MICROSIM_EXAMPLES_SMALL") == "1"
OUT = Path(os.environ.get("MICROSIM_EXAMPLES_OUT", "runs/examples"))
OUT.mkdir(parents=True, exist_ok=True)

N = 4 if SMALL else 12
KAPPA = 0.1

# %% [markdown]
# `from_effective` chooses the bath rates and the coupling that give the requested effective
# dynamics and kappa (docs/physics.md §3); the derived quantities show what they are.

# %%
p = ModelParams.from_effective(beta_e_w0=-0.8, gamma_e=0.1, kappa=KAPPA, n_batteries=N)
print({k: round(v, 4) for k, v in p.derived().items()})
print(f"Gamma_h = {p.gamma_h:.4g}, g = {p.g:.4g}, gamma_01 = {p.gamma_01:.4g}")

# %%
c = compare_until_charged(p, points=101 if SMALL else 401)
for name in ("tau_mic", "tau_eff", "eps_traj", "eps_tau", "D_max"):
    print(f"{name:>9} = {c.figures[name]:.4g}")

# %% [markdown]
# The microscopic charging lags behind Eq. 8: the engine coherence |0><1| that carries the
# energy has to build up first (docs/physics.md §3, "Where the transient error comes from").

# %%
fig, (ax, lag) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
t = c.mic.t
ax.plot(t, c.mic.energy / N, label="microscopic")
ax.plot(t, c.eff.energy / N, "--", label="Eq. 8")
ax.set_xlabel(r"$t$ [$1/w_0$]")
ax.set_ylabel(r"$\langle H_B\rangle/(N w_0)$")
ax.legend()
lag.plot(t, (c.eff.energy - c.mic.energy) / N)
lag.set_xlabel(r"$t$ [$1/w_0$]")
lag.set_ylabel("(Eq. 8 - microscopic)/N")
fig.suptitle(f"N = {N}, kappa = {KAPPA}: eps_traj = {c.figures['eps_traj']:.3g}")
fig.savefig(OUT / "one_point_charging.png", dpi=120)

# %% [markdown]
# Thermodynamics of the charging (docs/physics.md §5): the heat from the hot bath up to the
# charging time and the efficiencies, microscopic and as Eq. 8 implies them.

# %%
for side, thermo in (("microscopic", c.thermo_mic), ("Eq. 8", c.thermo_eff)):
    if thermo is not None:
        shown = {k: round(v, 4) for k, v in thermo.figures.items() if k.endswith("_tau")}
        print(side, shown)
