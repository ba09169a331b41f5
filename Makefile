PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test sim check lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mamabot run

sim: $(STAMP)
	$(BIN)/mamabot sim

check: $(STAMP)
	$(BIN)/mamabot check

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot handlers flows storage tests bench
	$(BIN)/ruff format --check bot handlers flows storage tests bench
	$(BIN)/mypy bot handlers flows storage

bench: $(STAMP)
	$(BIN)/python bench/keywords.py
	$(BIN)/python bench/guard_quality.py
	$(BIN)/python bench/guard_worst.py
	$(BIN)/python bench/stage_compare.py
	$(BIN)/python bench/pipeline.py --wechaty
	$(BIN)/python bench/welcome_wave.py
	$(BIN)/python bench/metrics.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
