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

.PHONY: lab test quick bench install readme check-export check-clean check-readme warmup nbtest notebooks pytest

# A recent pip first: it resolves and installs the same packages in about 45 s, where the pip that a new venv of
# Python 3.11 comes with takes 70. A module is byte-compiled the first time a process imports it, not all of
# site-packages by pip at install (38 s on one core, most of it for modules labkit never imports). Where the environment
# sets PYTHONDONTWRITEBYTECODE, as some machines do, Python would never write the compiled files and every kernel would
# compile torch again: not here.
export PYTHONDONTWRITEBYTECODE :=
$(STAMP): setup.py settings.ini
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U "pip>=26"
	$(PY) -m pip install -q --no-compile -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/labkit lab --preset small --out runs/default

# The notebooks run one at a time beside pytest's two workers, on the CPU time those leave while they wait on a
# kernel starting, a lab's time limit or a lock.
test: $(STAMP) check-export check-clean check-readme
	$(MAKE) --no-print-directory -j 2 --output-sync=line notebooks pytest

check-export: $(STAMP)
	$(PY) tools/check_generated.py export

check-clean: $(STAMP)
	$(PY) tools/check_generated.py clean

check-readme: $(STAMP)
	$(PY) tools/check_generated.py readme

readme: $(STAMP)
	$(PY) tools/check_generated.py readme || true

# librosa's numba functions compiled into one cache by two processes at once can crash a worker (a segfault, seen
# about one run in five with two workers). labkit's feature code compiles them under a lock (`labkit.audio.beats.warmup`),
# but a notebook may call librosa's beat tracker itself: the notebooks start once `warmup` has compiled them, and run
# two at a time (`nbtest`) or one at a time beside pytest (`notebooks`, what `test` runs, while pytest starts at once).
NBTEST := $(BIN)/nbdev_test --path nbs --timing
warmup: $(STAMP)
	$(PY) -c "from labkit.audio.beats import warmup; warmup()"

nbtest: warmup
	$(NBTEST) --n_workers 2

notebooks: warmup
	$(NBTEST) --n_workers 1

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
