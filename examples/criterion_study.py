# %% [markdown]
# # Is Eq. 7 the right criterion? The criterion study's data
#
# Eq. 7 says the error of Eq. 8 is a function of kappa alone. We vary what it says should not
# matter, the bath asymmetry Gamma_c/Gamma_h, at fixed effective dynamics, and ask which variable
# collapses the errors: kappa, or kappa_01 = g_e N'/gamma_01 (docs/physics.md §3). With
# `make study` done, this reads runs/criterion_baths.h5; otherwise it runs a small bath sweep.
#
# Run as `python examples/criterion_study.py`; `MICROSIM_EXAMPLES_SMALL=1` always runs the small
# sweep.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import microsim
from microsim.cli import main
from microsim.report import criterion

SMALL = os.environ.get("MICROSIM_EXAMPLES_SMALL") == "1"
OUT = Path(os.environ.get("MICROSIM_EXAMPLES_OUT", "runs/examples"))
OUT.mkdir(parents=True, exist_ok=True)

study = Path("runs/criterion_baths.h5")
if SMALL or not study.exists():
    config = OUT / "criterion_example.yaml"
    config.write_text("""
name: criterion_example
model: {beta_e_w0: -0.8, gamma_e: 0.1, protocol: collective, n_batteries: 1}
sweep:
  gamma_ratio: [0.1, 1.0, 10.0]
  kappa: [0.01, 0.03, 0.1, 0.3]
time: {points: 101}
parallel: {n_jobs: 1}
""")
    study = OUT / "criterion_example.h5"
    assert main(["sweep", str(config), "--output", str(study), "--force"]) == 0

# %% [markdown]
# The spread across baths of the prefactor A of eps_traj = A v^2, for each candidate v:
# 1 would mean v alone sets the error.

# %%
data = microsim.open_sweep(study)
for entry in criterion.collapse_table(data, measures=("eps_traj",)):
    if entry.protocol == "collective":
        print(f"N = {entry.n_batteries:>2}  {entry.variable:>8}: prefactor spread "
              f"{entry.prefactor_spread:.3g} over {entry.baths} baths")

# %% [markdown]
# The same at a glance: eps_traj against kappa and against kappa_01, one colour per bath.

# %%
n = int(max(data.column("n_batteries")[data.rows()]))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for ax, variable in zip(axes, ("kappa", "kappa_01"), strict=True):
    for label, (v, y, _) in criterion.bath_curves(data, "eps_traj", variable, "collective",
                                                  n).items():
        ax.loglog(v, y, "o-", label=label)
    ax.set_xlabel(variable)
    ax.set_ylabel("eps_traj")
axes[1].legend(fontsize="x-small")
fig.savefig(OUT / "criterion_example.png", dpi=120)

# %% [markdown]
# Where does Eq. 8 stop being valid (eps_traj = 1 %)? The boundary of each bath curve, in both
# variables: the smaller its spread, the better the variable works as a criterion.

# %%
for b in criterion.boundaries(data):
    if b.protocol == "collective" and b.measure == "eps_traj":
        shown = f"{b.value:.3g}" if b.value == b.value else "not reached in the swept range"
        print(f"{b.bath:<40} {b.variable:>8} = {shown}")
