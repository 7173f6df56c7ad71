# Two entry points, each self-contained on a fresh machine:
#   make demo   set up .venv and run `rnnkit demo`
#   make test   set up .venv and run the test suite
# TORCH picks the PyTorch build installed first; the default is the CPU wheel
# (override e.g. `make test TORCH=torch` for the default CUDA build).
VENV  ?= .venv
TORCH ?= torch==2.13.0
PY    := $(VENV)/bin/python

.PHONY: setup demo test lint bench gpu-check browser
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

demo: setup
	$(VENV)/bin/rnnkit demo

test: setup browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Headless Chromium for the page test of `rnnkit serve` (tests/serve/test_page.py): Debian's
# chromium package, installed when it is missing and make runs as root with apt-get; otherwise
# this does nothing and that test skips, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make browser: installing Debian's chromium package"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	        >/dev/null; } || echo "make browser: chromium could not be installed; the page test will skip"; \
	  else \
	    echo "make browser: chromium not found and not root; the page test will skip"; \
	  fi; }

lint: setup
	$(VENV)/bin/ruff check rnnkit tests benchmarks
	$(VENV)/bin/ruff format --check rnnkit tests benchmarks

bench: setup
	$(VENV)/bin/rnnkit bench

# On a CUDA machine with PyTorch preinstalled (installs nothing): the CUDA-only tests, the
# cuDNN benchmark of rnnkit.nn against torch.nn and the determinism check; a Markdown report
# goes to $OUT (or the current directory). See benchmarks/gpu_check.py.
gpu-check:
	PYTHONPATH=. python3 benchmarks/gpu_check.py
