# One-command entry points for a fresh machine (Python 3.11+ with venv).
#   make demo   – the whole hall on embedded broker + database, simulated devices
#   make test   – unit tests, then integration/acceptance tests against the machine's
#                 Mosquitto and PostgreSQL, then the pages in headless Chromium, then the same
#                 integration tests against the embedded amqtt broker and pgserver
#                 (scripts/ensure-idp first installs the sign-on tests' OpenID provider from npm)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-unit test-services test-embedded test-timescale lint bench install lock

# Every package, the installers too, comes from requirements/app.lock, each checked against
# its hash; the project itself goes in without dependencies. setuptools and wheel (locked, below
# 82) build it and face-recognition-models in place of an unchecked build environment.
$(STAMP): pyproject.toml requirements/app.lock requirements/face.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/app.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# face_recognition 1.3.0 asks for "dlib", which would compile from source: dlib-bin (in the
	# lock) provides the module, so the two face packages go in without their requirements.
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --require-hashes \
	  -r requirements/face.lock
	touch $(STAMP)

install: $(STAMP)

# Re-lock after changing the dependencies in pyproject.toml (docs/deployment.md): keeps every
# pin it can; make lock LOCK_ARGS=--upgrade (or --upgrade-package NAME) moves them on.
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --extra dev \
	  --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  $(LOCK_ARGS) -o requirements/app.lock pyproject.toml requirements/tools.in

demo: $(STAMP)
	$(VENV)/bin/hall demo

test: $(STAMP)
	scripts/ensure-services
	scripts/ensure-idp
	$(PY) -m pytest -q -p no:cacheprovider tests/unit
	$(PY) -m pytest -q -p no:cacheprovider tests/integration tests/acceptance tests/security
	scripts/ensure-browser
	$(PY) -m pytest -q -p no:cacheprovider tests/browser
	HALL_TEST_EMBEDDED=1 $(PY) -m pytest -q -p no:cacheprovider tests/integration

# The integration tests against a TimescaleDB server (not part of make test, which runs on the
# machine's plain PostgreSQL): one with timescaledb preloaded, and one with it installed but not
# preloaded (for the refusal of migration 0002). docs/deployment.md says how to build and start
# both. Example:
#   make test-timescale HALL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5433/postgres \
#        HALL_TEST_TIMESCALE_NOT_PRELOADED_URL=postgresql://postgres@127.0.0.1:5434/postgres
test-timescale: $(STAMP)
	@test -n "$(HALL_TEST_DATABASE_URL)" || { echo "make test-timescale: set HALL_TEST_DATABASE_URL \
	to a PostgreSQL with TimescaleDB preloaded, e.g. make test-timescale \
	HALL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5433/postgres \
	HALL_TEST_TIMESCALE_NOT_PRELOADED_URL=postgresql://postgres@127.0.0.1:5434/postgres \
	(docs/deployment.md: Testing against TimescaleDB)" >&2; exit 2; }
	@test -n "$(HALL_TEST_TIMESCALE_NOT_PRELOADED_URL)" || { echo "make test-timescale: set \
	HALL_TEST_TIMESCALE_NOT_PRELOADED_URL to a PostgreSQL with TimescaleDB installed but not \
	preloaded (docs/deployment.md: Testing against TimescaleDB)" >&2; exit 2; }
	scripts/ensure-services
	HALL_TEST_DATABASE_URL='$(HALL_TEST_DATABASE_URL)' HALL_TEST_EXPECT_TIMESCALE=1 \
	HALL_TEST_TIMESCALE_NOT_PRELOADED_URL='$(HALL_TEST_TIMESCALE_NOT_PRELOADED_URL)' \
	$(PY) -m pytest -q -p no:cacheprovider tests/integration tests/timescale

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	scripts/ensure-services
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/latency.py

# Mutation testing of the pure modules ([tool.mutmut] in pyproject.toml, docs/testing.md); slow,
# so not part of make test. One worker, niced: the machine is shared. A fresh copy every time, so
# the scores always come from the tests as they are now; fails if a module scores below 85 %.
mutation: $(STAMP)
	rm -rf mutants
	@start=$$(date +%s); nice -n 10 $(VENV)/bin/mutmut run --max-children 1 || exit $$?; \
	  echo "mutmut run: $$(( $$(date +%s) - start )) s"
	$(PY) scripts/mutation-report --min 85
