# The two commands the README names: `make lab` (the labs on the embedded default) and `make test`.
# Each sets itself up from nothing: a virtual environment in .venv with labkit and its dev extras.
# `make quick` is the quick loop while editing: the pytest suite without the tests marked slow (lab runs, kernels,
# worker processes, the wheel build); `make test` runs everything.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.labkit-installed
export LABKIT_CACHE ?= $(CURDIR)/data/cache
export NUMBA_CACHE_DIR ?= $(CURDIR)/data/cache/numba
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: lab test quick bench install readme check-export check-clean check-readme nbtest pytest

# pip byte-compiles what it installs: where PYTHONDONTWRITEBYTECODE is set, Python would
# otherwise compile torch's modules again in every process that imports them.
$(STAMP): setup.py settings.ini
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/labkit lab --preset small --out runs/default

test: $(STAMP) check-export check-clean check-readme nbtest pytest

check-export: $(STAMP)
	$(PY) tools/check_generated.py export

check-clean: $(STAMP)
	$(PY) tools/check_generated.py clean

check-readme: $(STAMP)
	$(PY) tools/check_generated.py readme

readme: $(STAMP)
	$(PY) tools/check_generated.py readme || true

# librosa's numba functions compiled into one cache by two processes at once can crash a worker (a segfault, seen
# about one run in five with two workers): the feature code is compiled once first, then two notebooks run at a time.
nbtest: $(STAMP)
	$(PY) -c "from labkit.audio.parallel import warmup; warmup()"
	$(BIN)/nbdev_test --path nbs --n_workers 2 --timing

# Two workers, one test file (or class) each at a time, the longest first (tests/conftest.py). A lab run read by
# several tests is made once per session (the first worker to need it runs it, the other waits for it and reads it).
# One BLAS/OpenMP thread per process: two workers each running a kernel on 2 cores would otherwise run 4 threads.
XDIST := -n 2 --dist loadscope --no-loadscope-reorder
pytest: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest tests -q -p no:cacheprovider $(XDIST)

quick: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest tests -q -p no:cacheprovider $(XDIST) -m "not slow"

bench: $(STAMP)
	$(BIN)/labkit bench
