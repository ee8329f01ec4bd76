# The two entry points of README.md. Both work on a fresh machine: they create .venv and install
# every distribution of requirements/lock.txt (exact versions, --require-hashes), then the package itself
# without dependencies. The lock's torch is 2.13.0+cpu, which PyPI lacks: pip finds it through this host's
# find-links, or TORCH_INDEX=https://download.pytorch.org/whl/cpu installs it first (unhashed; the lock's
# step then finds it installed). A TORCH_INDEX giving another build (+cu...) fails the lock's step.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The package's one command line (src/hybrid_retrieval/cli.py): every step and tool is a subcommand.
HR := $(VENV)/bin/hybrid-retrieval
STAMP := $(VENV)/.installed
CORES ?= 2
CONFIG ?= config/config.yaml
PYTHON ?= python3
TORCH_INDEX ?=
# Every distribution the venv holds, exact and hashed (make lock-deps rewrites it).
LOCK := requirements/lock.txt
PIP_TOOLS ?= pip-tools==7.7.0

.PHONY: seeds toy-falcon-h1 reproduce test test-unit system-deps lint clean-results reference check-reference slurm lock lock-deps rehearsal rehearsal-test config-file

# Every target that reads $(CONFIG) checks first that it exists: a typo is an error, never the default run.
config-file:
	@test -f '$(CONFIG)' || { echo "CONFIG=$(CONFIG): no such config file; pass an existing one: $(filter-out %.lock.yaml,$(wildcard config/*.yaml))" >&2; exit 2; }

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
	  "Python 3.11 is needed (pyproject: requires-python >=3.11,<3.12), found " + sys.version.split()[0] + \
	  "; pass PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --no-deps torch==2.13.0 --index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK) || { echo "installing $(LOCK) failed;" \
	  "without this host's local torch wheel pass TORCH_INDEX=https://download.pytorch.org/whl/cpu (torch 2.13.0+cpu)" >&2; exit 1; }
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve every transitive dependency of pyproject.toml's pins (extras test and slurm) into $(LOCK), with
# sha256 hashes, for CPython 3.11 on Linux x86-64. pip-tools runs from a throwaway venv, never $(VENV), and
# resolves through this host's pip configuration (torch 2.13.0+cpu from the local wheel or TORCH_INDEX).
lock-deps:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(PYTHON) -m venv "$$tmp" && \
	  "$$tmp/bin/python" -m pip install --quiet $(PIP_TOOLS) && \
	  CUSTOM_COMPILE_COMMAND='make lock-deps' "$$tmp/bin/pip-compile" --quiet --generate-hashes --allow-unsafe \
	    --strip-extras --extra test --extra slurm --no-emit-index-url --no-emit-find-links --upgrade \
	    $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) --output-file $(LOCK) pyproject.toml

# Chromium (report check) and a LaTeX engine (paper build) from Debian's packages, when we may install them.
system-deps:
	@bash scripts/install-system-deps.sh

reproduce: config-file $(STAMP) system-deps
	@bash scripts/clear-stale-lock.sh
	$(VENV)/bin/snakemake --configfile $(CONFIG) --profile profiles/local --cores $(CORES)
	@$(HR) summary --config $(CONFIG)
	-@$(HR) check-reference --config $(CONFIG)

test: $(STAMP) system-deps
	$(VENV)/bin/pytest

# The unit tests alone (minutes): no model suite (tests/model), no Snakemake run (tests/workflow), nothing
# marked slow or workflow.
test-unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit -m "not slow and not workflow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests workflow benchmarks tools
	$(VENV)/bin/snakemake --lint

# The SLURM executor plugin (pinned extra [slurm]) for --profile profiles/slurm.
slurm: $(STAMP)
	$(PY) -m pip install --quiet -e '.[slurm]'
	@echo "Then: $(VENV)/bin/snakemake --configfile config/paper.yaml --profile profiles/slurm"

# Resolve the config's hub branches/tags again and rewrite its lock file (config/<name>.lock.yaml).
lock: config-file $(STAMP)
	$(HR) lock --refresh $(CONFIG)

# Reference outputs (reference/README.md): compare the finished run of $(CONFIG) with them, or refresh them
# (and ARTIFACT.md's expected verdicts) from a finished default run on portable numerics. The check's exit
# status is 0 identical, 1 different, 2 no reference or it could not run; GNU make turns every failed
# recipe into its own status 2, so the recipe prints the check's status, and scripts call the command itself.
check-reference: config-file $(STAMP)
	@$(HR) check-reference --config $(CONFIG); status=$$?; \
	  if [ $$status -ne 0 ]; then echo "reference check: exit status $$status (1 different, 2 no reference or the check could not run; the same from $(HR) check-reference)" >&2; fi; \
	  exit $$status

reference: config-file $(STAMP)
	$(HR) refresh-reference --config $(CONFIG)

# The offline dress rehearsal of the real-model path (ARTIFACT.md §3b): stand-ins under the real names on a
# local hub (olah), config/rehearsal.yaml through profiles/slurm on a one-node SLURM cluster (root, Debian).
# Test tooling, outside the package: tools/rehearsal/ (rehearsal.py, standins.py).
rehearsal: $(STAMP) system-deps
	$(PY) tools/rehearsal/rehearsal.py

# Only the rehearsal's tests (also part of `make test`; servers started and stopped by the test).
rehearsal-test: $(STAMP) system-deps
	$(VENV)/bin/pytest -x tests/workflow/test_rehearsal.py

# The toys on three training seeds (config/seeds.yaml; ~40 min on 2 cores, not part of reproduce), then
# ARTIFACT.md's verdict table per claim x toy x seed (docs/seeds/claims.csv keeps the run's claims).
seeds: $(STAMP)
	$(VENV)/bin/snakemake --configfile config/seeds.yaml --profile profiles/local --cores $(CORES)
	$(HR) seed-table runs/seeds/results/claims.csv

# Issue 24's contrast family: a FalconH1 toy (attention and Mamba2 side by side in every layer) through the
# whole study in its own run folder (config/toy-falcon-h1.yaml; ~20 min on 2 cores, not part of reproduce).
toy-falcon-h1: $(STAMP)
	$(VENV)/bin/snakemake --configfile config/toy-falcon-h1.yaml --profile profiles/local --cores $(CORES)
	@$(HR) summary --config config/toy-falcon-h1.yaml
