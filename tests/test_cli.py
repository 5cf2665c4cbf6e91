"""``microsim run``: the JSON contract, the table, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from microsim.cli import main

EFFECTIVE = ["--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.05"]


def test_json_has_the_documented_keys(capsys):
    assert main(["run", "--N", "1", *EFFECTIVE, "--points", "101", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["derived"]) == {"beta_e_w0", "gamma_e", "kappa", "kappa_01", "kappa_up",
                                   "eps_traj_predicted", "eps_tau_predicted",
                                   "eps_traj_first_order", "tau_shift_lag", "tau_shift_depletion"}
    assert set(out["figures"]) == {
        "E_ss_mic", "E_ss_eff", "tau_mic", "tau_eff", "power_mic", "power_eff",
        "eps_traj", "eps_ss", "eps_tau", "D_max",
        *(f"{k}_{s}" for s in ("corr", "cum", "mom", "dly") for k in (
            "E_ss", "tau", "power", "eps_traj", "eps_ss", "eps_tau", "D_max")),
    }
    for key in ("t", "energy_mic", "energy_eff", "sigma_mic", "sigma_eff", "ergotropy_mic",
                "ergotropy_eff", "energy_corr", "sigma_corr", "ergotropy_corr"):
        assert len(out[key]) == 101
    assert out["corr_status"] == "ok"
    # one engine and one battery: the corrected description is the exact pair (docs §7), so
    # its error is the integration tolerance (rtol 1e-8) while Eq. 8's is kappa^2-sized
    assert out["figures"]["eps_traj_corr"] < 1e-6 < out["figures"]["eps_traj"]
    assert out["derived"]["kappa"] == pytest.approx(0.05, rel=1e-12)
    assert out["figures"]["E_ss_mic"] == pytest.approx(out["figures"]["E_ss_eff"], rel=1e-10)
    assert out["params"]["n_engines"] == 1


def test_energies_are_absolute_not_per_battery(capsys):
    main(["run", "--N", "2", *EFFECTIVE, "--points", "51", "--json", "--protocol", "individual"])
    out = json.loads(capsys.readouterr().out)
    single_capacity = 1 / (1 + 0.449328964117)  # e^{-0.8}: p_1 of one battery at Eq. 13
    assert out["figures"]["E_ss_eff"] == pytest.approx(2 * single_capacity, rel=1e-9)


def test_table_names_figures(capsys):
    main(["run", "--N", "1", "--g", "0.05", "--beta-h", "0.2", "--gamma-h", "1",
          "--gamma-c", "1", "--t-end", "50", "--points", "51"])
    out = capsys.readouterr().out
    for word in ("E_ss", "tau", "power", "eps_traj", "D_max", "beta_e_w0", "kappa"):
        assert word in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--N", "0"], "argument --N: expected an integer >= 1, got 0"),
        (["--gamma-h", "-1"], "gamma_h must be > 0, got -1.0"),
        (["--g", "nan"], "argument --g: expected a finite number"),
        (["--protocol", "joint"], "argument --protocol: invalid choice"),
        (["--beta-h", "0.9"], "no population inversion"),
        (["--kappa", "0.1", "--gamma-h", "1"], "not both"),
        (["--kappa", "0.1"], "needs --beta-e-w0, --gamma-e"),
        (["--t-end", "-5"], "--t-end must be > 0"),
        (["--N", "9", "--method", "full"], "needs about"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", *argv])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("microsim: error: ")
    assert fragment in lines[0]
    assert captured.out == ""


def test_console_script_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "microsim.cli", "run", "--gamma-c", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "microsim: error: gamma_c must be > 0, got 0.0\n"
    assert proc.stdout == ""


def test_method_effective_skips_the_microscopic_model(capsys):
    """N = 1000 is far beyond any microscopic solver; Eq. 8 alone still gives E_ss = N e_N, and
    the corrected description (stable here: N kappa^2 = 0.1) its own tau and E_ss = N e_N."""
    from microsim.model import closed_forms as cf

    weak = ["--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.01"]
    main(["run", "--N", "1000", *weak, "--method", "effective", "--points", "101", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["figures"]["E_ss_mic"] is None and out["figures"]["eps_traj"] is None
    assert out["figures"]["E_ss_eff"] == pytest.approx(1000 * cf.capacity(1000, -0.8), rel=1e-10)
    assert out["corr_status"] == "ok" and out["figures"]["eps_traj_corr"] is None
    assert out["figures"]["E_ss_corr"] == pytest.approx(out["figures"]["E_ss_eff"], rel=1e-10)
    assert out["figures"]["tau_corr"] == pytest.approx(out["figures"]["tau_eff"], rel=0.05)


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["run", "--N", "2", "--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.1", "--method",
     "symmetric", "--points", "21", "--json"],
    ["run", "--N", "50", "--beta-e-w0", "-0.8", "--gamma-e", "0.1", "--kappa", "0.1", "--method",
     "effective", "--points", "21", "--json"],
])
def test_the_command_line_loads_neither_qutip_nor_matplotlib(argv):
    """QuTiP (which imports matplotlib.pyplot) is needed only by the full solver: --help and a
    run with the symmetric or the effective solver load neither (the start-up time itself is
    measured in make bench, not here)."""
    probe = ("import sys, runpy; sys.argv = ['microsim'] + sys.argv[1:]\n"
             "try:\n    runpy.run_module('microsim.cli', run_name='__main__')\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "finally:\n    sys.stdout.flush()\n"
             "    print('LOADED', [m for m in ('qutip', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []", out[-300:]
