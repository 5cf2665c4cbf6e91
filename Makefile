# Every target creates and uses .venv by itself: on a fresh machine `make test` alone suffices.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

CONFIG ?= configs/validity.yaml

PAPER := runs/paper_time.h5 runs/paper_vs_n.h5
STUDY := runs/criterion_baths.h5 runs/criterion_temperatures.h5 runs/criterion_n40.h5
LAW := runs/criterion_law_fit.h5 runs/criterion_law_held.h5 runs/criterion_law_held_m.h5 \
	runs/criterion_law_held_n24.h5 runs/criterion_law_held_n40.h5
LAW_JOINED := $(subst $(eval) ,+,$(strip $(LAW)))
LARGE_N := runs/large_n.h5 runs/large_n_one_engine.h5 runs/large_n_fixed_kappa.h5 \
	runs/large_n_exact.h5 runs/large_n_exact_60.h5 runs/large_n_cumulant.h5
LARGE_N_JOINED := $(subst $(eval) ,+,$(strip $(LARGE_N)))
LARGE_N_DELAY := runs/large_n.h5 runs/large_n_fixed_kappa.h5 runs/large_n_exact.h5 \
	runs/large_n_delay.h5 runs/large_n_delay_none.h5 runs/large_n_delay_fixed_kappa.h5
LARGE_N_DELAY_JOINED := $(subst $(eval) ,+,$(strip $(LARGE_N_DELAY)))
VALIDATION := runs/validity.h5 runs/validity_n40.h5 runs/cumulant_validation.h5 \
	runs/cumulant_validation_60.h5 runs/description_map_large.h5
VALIDATION_JOINED := $(subst $(eval) ,+,$(strip $(VALIDATION)))

.PHONY: corrected current large-n sweep test test-slow lint regression-update figures study results bench clean doc-tables docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,plot,distributed,data]"
	touch $(STAMP)

sweep: $(STAMP)  ## run a sweep config (default: the validity sweep) into runs/
	$(VENV)/bin/microsim sweep $(CONFIG)

test: $(STAMP)  ## fast physics test suite (what CI runs)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## the expensive checks too (full tensor space at N = 3, ...)
	$(PY) -m pytest -q -m "slow or not slow"

DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)  ## the documentation site into site/ (mkdocs --strict: a broken reference fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

doc-tables: $(STAMP)  ## regenerate the tables of docs/hdf5.md from the registry and the field schema
	$(PY) -m microsim.report.tables docs/hdf5.md

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples bench

figures: $(STAMP)  ## paper figures (Eq. 8, N <= 2000) and validity maps to N = 40 (measured: validity_n40 58 min, validity_large 27.5 min, the rest minutes)
	$(VENV)/bin/microsim sweep configs/paper/fig2_time.yaml
	$(VENV)/bin/microsim sweep configs/paper/vs_n.yaml
	$(VENV)/bin/microsim sweep configs/validity.yaml
	$(VENV)/bin/microsim sweep configs/validity_n40.yaml
	$(VENV)/bin/microsim sweep configs/validity_large.yaml
	for f in $(PAPER) runs/validity_large.h5; do $(VENV)/bin/microsim plot $$f --out runs/figures; done
	$(VENV)/bin/microsim plot runs/validity.h5 runs/validity_n40.h5 --out runs/figures

study: $(STAMP)  ## the criterion study of Eq. 7 and the law of Eq. 8's error (fit and held-back sweeps)
	$(VENV)/bin/microsim sweep configs/criterion_baths.yaml
	$(VENV)/bin/microsim sweep configs/criterion_temperatures.yaml
	$(VENV)/bin/microsim sweep configs/criterion_n40.yaml
	for f in $(STUDY); do $(VENV)/bin/microsim plot $$f --out runs/figures; done
	for c in fit held held_m held_n24 held_n40; do $(VENV)/bin/microsim sweep configs/criterion_law_$$c.yaml; done
	$(PY) -m microsim.report.lawfit $(LAW)
	$(VENV)/bin/microsim plot $(LAW) --out runs/figures

corrected: $(STAMP)  ## the corrected description (docs/physics.md §7) against the exact model, and N to 1000 (10 min: 8.4 + 0.5 + 1 measured)
	$(VENV)/bin/microsim sweep configs/corrected.yaml
	$(VENV)/bin/microsim sweep configs/speed_up_check.yaml
	$(VENV)/bin/microsim sweep configs/speed_up_large.yaml
	$(VENV)/bin/microsim plot runs/corrected.h5 --out runs/figures
	$(VENV)/bin/microsim plot runs/validity_large.h5 runs/speed_up_check.h5 runs/speed_up_large.h5 \
		--out runs/figures

large-n: $(STAMP)  ## the large-N study and the validation of the descriptions beyond Eq. 8 (issue 28; an N = M = 60 exact point takes about 10 GB and over an hour)
	for c in large_n_exact large_n_exact_60 large_n large_n_one_engine large_n_fixed_kappa \
		large_n_cumulant cumulant_validation cumulant_validation_60 description_map_large \
		large_n_delay large_n_delay_none large_n_delay_fixed_kappa delay_validation; do \
		$(VENV)/bin/microsim sweep configs/$$c.yaml; done
	$(PY) bench/delay_validation.py --runs runs
	$(PY) -m microsim.report.results $(LARGE_N_DELAY_JOINED)\#large_n \
		runs/delay_validation.h5+runs/large_n_exact.h5\#description_map --out docs/large_n.md \
		--title "Large N with the delay description: every family, from one commit"
	$(VENV)/bin/microsim plot $(LARGE_N) --out runs/figures --only large_n
	$(VENV)/bin/microsim plot $(VALIDATION) --out runs/figures --only description_map

results: figures study corrected large-n  ## docs/results.md with the figures and the numbers measured from them
	$(PY) -m microsim.report.results $(PAPER) runs/validity.h5+runs/validity_n40.h5 runs/validity_large.h5 \
		$(STUDY) $(LAW_JOINED)\#law $(VALIDATION_JOINED)\#description_map \
		$(LARGE_N_JOINED)\#large_n runs/corrected.h5\#corrected runs/validity_large.h5+runs/speed_up_check.h5+runs/speed_up_large.h5\#speed_up_large \
		--out docs/results.md

CURRENT_LARGE_N := runs/large_n.h5+runs/large_n_one_engine.h5+runs/large_n_fixed_kappa.h5+runs/large_n_cumulant.h5+runs/large_n_exact.h5+runs/large_n_exact_60.h5

current: $(STAMP)  ## the law of Eq. 8's error and the large-N study with its exact points from one commit into docs/current.md (about 1 h 45 min)
	for c in large_n_exact large_n_exact_60 large_n large_n_one_engine large_n_fixed_kappa large_n_cumulant criterion_law_fit \
		criterion_law_held criterion_law_held_m criterion_law_held_n24 criterion_law_held_n40; do \
		$(VENV)/bin/microsim sweep configs/$$c.yaml; done
	$(PY) -m microsim.report.results $(LAW_JOINED)\#law $(CURRENT_LARGE_N)\#large_n --out docs/current.md

bench: $(STAMP)  ## solver benchmarks -> bench/results.json, bench/grid.md (hours; each grid case stops at 30 min)
	$(PY) bench/run.py --out bench/results.json

regression-update: $(STAMP)  ## rerun configs/ci.yaml and rewrite tests/data/ci_reference.json
	$(PY) tests/regression.py runs/ci.h5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
