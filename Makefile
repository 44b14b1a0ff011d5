# pairsearch — everything runs inside .venv, created with pip on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARCH ?= sep_aux
TRIALS ?= 200
WORKERS ?= auto
SEEDS ?=
REPEATS ?= 5
REPEATS_OTHER ?= 3
SEEDS_OPTION := $(if $(SEEDS),--seeds $(SEEDS),)
RESULTS ?= storage/results

.PHONY: install tune report results publish test test-all bench lint clean

$(BIN)/pairsearch: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch 2.14.1 + torchvision 0.29.1, pinned: the versions the tests and benchmarks ran with
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[dev,grpc]"
	touch $(BIN)/pairsearch

install: $(BIN)/pairsearch  ## create .venv and install pairsearch into it

tune: install  ## the main job: make tune ARCH=sep_aux TRIALS=200
	$(BIN)/pairsearch tune --arch $(ARCH) --trials $(TRIALS) --workers $(WORKERS)

report: install  ## retrain every search's best config over paired seeds and write the report
	$(BIN)/pairsearch final-report $(SEEDS_OPTION) --workers $(WORKERS)

# The published results, made with exactly what ships (the study files, both recipes): REPEATS
# independent searches of TRIALS trials of each arch of the 2×2 design, REPEATS_OTHER of every
# other registered arch, into RESULTS/pairsearch.db; then each search's choice on the default
# final seeds under the course recipe and under strong. Hours on 2 cores; the same command
# again resumes, and a larger REPEATS adds searches.
results: install  ## the published results anew with the shipped defaults, into RESULTS [storage/results]
	mkdir -p $(RESULTS)
	design="$$($(BIN)/pairsearch archs --design)"; \
	for arch in $$($(BIN)/pairsearch archs | cut -d' ' -f1); do \
	  repeats=$(REPEATS_OTHER); case " $$(echo $$design) " in *" $$arch "*) repeats=$(REPEATS);; esac; \
	  $(BIN)/pairsearch tune --arch $$arch --trials $(TRIALS) --repeats $$repeats --workers $(WORKERS) --quiet \
	    --storage sqlite:///$(RESULTS)/pairsearch.db || exit 1; \
	done
	$(BIN)/pairsearch final-report --storage sqlite:///$(RESULTS)/pairsearch.db $(SEEDS_OPTION) \
	  --workers $(WORKERS) --quiet --out $(RESULTS)/course
	$(BIN)/pairsearch final-report --storage sqlite:///$(RESULTS)/pairsearch.db $(SEEDS_OPTION) \
	  --workers $(WORKERS) --quiet --recipe strong --out $(RESULTS)/strong

# What `make results` made, as published in docs/results: the storage (one file at rest), the
# course report's tables flat (budget.csv: the budget curves), the strong recipe's in
# docs/results/strong, and a screenshot of the top of the course report (Debian's chromium, headless).
PUBLISHED := summary.md effects.csv results.csv pairwise.csv budget.csv
publish:  ## copy RESULTS into docs/results (storage, both recipes' tables, report.png)
	@# a -wal file beside the storage holds writes the main file lacks: copy only a storage at rest
	@if [ -e $(RESULTS)/pairsearch.db-wal ]; then \
	  echo "publish: $(RESULTS)/pairsearch.db is in use (a -wal file is beside it): stop the run first" >&2; exit 2; fi
	cp $(RESULTS)/pairsearch.db docs/results/pairsearch.db
	for file in $(PUBLISHED); do cp $(RESULTS)/course/$$file docs/results/$$file || exit 1; done
	mkdir -p docs/results/strong
	for file in $(PUBLISHED) effects_by_recipe.csv; do cp $(RESULTS)/strong/$$file docs/results/strong/$$file || exit 1; done
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1400 \
	  --virtual-time-budget=20000 --screenshot=$(CURDIR)/docs/results/report.png \
	  file://$(abspath $(RESULTS))/course/report.html

test: install  ## the unit suite (a few minutes on 2 cores)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: install  ## unit suite, then the slow end-to-end checks once
	$(BIN)/python -m pytest -m "not slow" -q
	$(BIN)/python -m pytest -m slow -q

bench: install  ## benchmarks; numbers go to bench/results/latest.json and bench/RESULTS.md
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check pairsearch tests bench

clean:
	rm -rf $(VENV) build *.egg-info
