# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv and install what they need on a machine that has only Python.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch is installed first and pinned, so that nothing later replaces it. On a machine with
# an NVIDIA driver the PyPI wheel (CUDA) is the right one; on a CPU-only machine pass the
# CPU index, e.g. `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu`, unless a
# local CPU wheel is already on pip's find-links (as on our CI machines).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX   ?=
TORCH_ARGS    := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: install demo test lint clean world

install: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "torch==$(TORCH_VERSION)" $(TORCH_ARGS)
	$(PIP) install -q -e ".[dev]"
	@# nanogcg, the reference our GCG test compares against, pins transformers<=4.47.1; its code
	@# runs on ours, so it comes without its pins (best effort: without it that one test skips)
	$(PIP) install -q --no-deps "nanogcg==0.3.0" || echo "nanogcg not installed: its comparison test will skip"
	@rm -f $(VENV)/.installed-*; touch $@
	@$(PY) -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu')"

# one pytest worker per core, a test file to a worker (its module fixtures are built once)
PYTEST_ARGS ?= -n auto --dist loadfile

demo: install
	$(VENV)/bin/safereflect demo $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
