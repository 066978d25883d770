# Two entry points for a newcomer (see README): `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test

setup: $(STAMP)

# The stamp is rebuilt when a requirements file changes. OpenMMLab packages go in with
# --no-deps: their declared dependencies would replace opencv-python-headless
# (docs/stack.md, "A working set"). Importing yapf once builds its grammar cache before pytest's
# workers or Snakemake's jobs import it in parallel (a half-written cache is a CI failure there).
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -c "import yapf"
	touch $(STAMP)

run: setup
	$(BIN)/snakemake --cores 4 results/table1.csv

# pytest includes `snakemake --lint` and `snakefmt --check` (tests/test_workflow_static.py). Two
# workers, a test file each at a time: tests/test_workflow.py's smoke builds are made once, on one
# worker, while the other runs the other files (tests/test_workflow_rerun.py's own build among them).
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile
