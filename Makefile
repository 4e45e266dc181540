# Two commands a new user needs: `make demo` and `make test`. Both create .venv when missing
# and install the package with its dependencies from the package registry first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sparsekit-installed

.PHONY: setup demo test notebooks benchmarks strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparsekit)" >/dev/null
	# Notebooks you run are committed without their outputs: a git filter strips them on `git add`
	# (the working copy keeps them). Outside a git checkout there is nothing to install.
	if git rev-parse --git-dir >/dev/null 2>&1; then $(VENV)/bin/nbstripout --install; fi
	touch $(STAMP)

demo: setup
	$(PY) -m sparsekit demo

# Two processes, each test file whole on one of them: most tests compute on one torch thread, so
# two cores take about 40% off the time; a file's module fixtures are then built once.
test: setup
	$(PY) -m pytest -q -ra -n 2 --dist loadfile tests

notebooks: setup
	$(PY) -m sparsekit.app.notebook_runner --full --out build/notebooks

benchmarks: setup
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/masks.py

strip: setup
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
