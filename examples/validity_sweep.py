# %% [markdown]
# # A validity sweep, from config to figure
#
# How well does Eq. 8 describe the batteries as the time-scale separation kappa (Eq. 7) grows?
# We write a sweep config, run it (in parallel, into HDF5, resumable), open the file as labelled
# data with `microsim.open_sweep` and plot the error of Eq. 8 against kappa for several N.
#
# Run as `python examples/validity_sweep.py`; `MICROSIM_EXAMPLES_SMALL=1` uses a small grid.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import microsim
from microsim.cli import main

SMALL = os.environ.get("MICROSIM_EXAMPLES_SMALL") == "1"
OUT = Path(os.environ.get("MICROSIM_EXAMPLES_OUT", "runs/examples"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# The config names every parameter as docs/physics.md does; `sweep` lists the axes of a
# Cartesian product. The same file is what `make sweep CONFIG=...` takes.

# %%
n_values = [1, 2] if SMALL else [1, 2, 4, 8]
config = OUT / "validity_example.yaml"
config.write_text(f"""
name: validity_example
model: {{beta_e_w0: -0.8, gamma_e: 0.1, protocol: collective}}
sweep:
  kappa: {{logspace: [0.01, 0.3, {3 if SMALL else 6}]}}
  n_batteries: {n_values}
time: {{points: {101 if SMALL else 401}}}
parallel: {{n_jobs: {1 if SMALL else 2}}}
""")
out = OUT / "validity_example.h5"
assert main(["sweep", str(config), "--output", str(out), "--force"]) == 0

# %% [markdown]
# The file as an xarray Dataset: its dimensions are the swept axes.

# %%
data = microsim.open_sweep(out)
ds = data.to_xarray()
print(ds["eps_traj"].to_pandas())

# %%
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
for n in ds["n_batteries"].values:
    ax.loglog(ds["kappa"], ds["eps_traj"].sel(n_batteries=n), "o-", label=f"N = {n}")
ax.set_xlabel(r"$\kappa$ (Eq. 7)")
ax.set_ylabel(r"$\epsilon_{\rm traj}$")
ax.legend()
fig.savefig(OUT / "validity_example_eps_traj.png", dpi=120)

# %% [markdown]
# One point's time series, chosen by its parameters, as a DataFrame indexed by t.

# %%
series = data.series(kappa=float(ds["kappa"][0]), n_batteries=n_values[-1])
print(series[["energy_mic", "energy_eff"]].iloc[::20])
