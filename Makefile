# The two commands: `make run` serves the API on the embedded default (SQLite under ./var);
# `make test` installs what the tests need and runs ruff, mypy and pytest.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install is editable in setuptools' strict mode: a tree of links to the source files, which
# mypy can follow (it does not run import hooks). The tree lists the modules that existed when it
# was built, so the stamp changes with the list of modules as well as with pyproject.toml.
SOURCES := $(shell find domain projections api consumers -name '*.py' -o -name py.typed | sort)
HASH := $(shell { cat pyproject.toml; echo $(SOURCES); } | sha1sum | cut -c1-12)
# `make run` installs what serving needs; the tests' tools come on top for `make test`.
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-run run test lint typecheck pytest postgres bench fuzz kafka kafka-jars node-sdk browser-sdks chromium promtool compose-schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	rm -rf build/__editable__*
	$(BIN)/pip install --quiet --config-settings editable_mode=strict -e .
	rm -f $(VENV)/.installed-run-*
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet --config-settings editable_mode=strict -e '.[test]'
	rm -f $(VENV)/.installed-test-*
	touch $@

install-run: $(RUN_STAMP)

install: $(TEST_STAMP)

# The console (/console) is on here; `METALEDGER_CONSOLE=false make run` turns it off.
run: install-run
	METALEDGER_CONSOLE=$${METALEDGER_CONSOLE:-true} $(BIN)/metaledger serve

# A PostgreSQL server binary for the integration tests (the suite starts its own cluster).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

# The Kafka broker's jars from Maven Central (then cached in ~/.m2); the suite starts its own
# broker from them. Java 17 and Maven come from Debian's packages when missing.
kafka-jars:
	@{ command -v java && command -v mvn; } >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless maven; }
	compose/kafka/broker.sh --fetch-only

# A Kafka broker in the foreground on 127.0.0.1:9092, for `make run` with
# METALEDGER_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 (data in a temporary directory).
kafka: kafka-jars
	compose/kafka/broker.sh --host 127.0.0.1 --port 9092

# Debian's Chromium, which the console's browser tests drive through Playwright (Playwright's own
# browser download is not used).
chromium:
	@command -v /usr/bin/chromium >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The browser SDKs (auth0-spa-js, Lock) bundled for the browser login tests.
browser-sdks:
	@command -v npm >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	cd tests/e2e/browser_sdks && npm ci --silent --no-audit --no-fund && npm run --silent build

# The official Node.js Auth0 SDK, whose pager a search test drives (Node.js and npm come from
# Debian's packages when missing).
node-sdk:
	@command -v npm >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	cd tests/e2e/node_sdk && npm ci --silent --no-audit --no-fund

# Prometheus' promtool, which checks the compose stack's Prometheus configuration and dashboard
# queries (Debian's `prometheus` package ships it), and the Compose Specification's JSON schema.
promtool:
	@command -v promtool >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

compose-schema: node-sdk
	cd tests/integration/monitoring && npm ci --silent --no-audit --no-fund

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install postgres kafka-jars node-sdk browser-sdks chromium promtool compose-schema
	$(BIN)/pytest

test: lint typecheck pytest

# `make bench`: every benchmark at a small size, a few minutes in all. `make bench FULL=1`: the
# sizes the figures in docs/benchmarks.md come from (up to ten minutes each on 2 cores).
bench: install postgres kafka-jars
ifdef FULL
	$(BIN)/python -m tests.benchmarks.bench_users_http
	FULL=1 $(BIN)/python -m tests.benchmarks.bench_side_by_side
	$(BIN)/python -m tests.benchmarks.bench_search --backend sqlite
	$(BIN)/python -m tests.benchmarks.bench_search --backend postgres
	$(BIN)/python -m tests.benchmarks.bench_history
	$(BIN)/python -m tests.benchmarks.bench_relay
	$(BIN)/python -m tests.benchmarks.bench_auth --postgres
	$(BIN)/python -m tests.benchmarks.bench_clients
	$(BIN)/python -m tests.benchmarks.bench_rules
	$(BIN)/python -m tests.benchmarks.bench_console
	$(BIN)/python -m tests.benchmarks.bench_jobs
	$(BIN)/python -m tests.benchmarks.bench_observability
	$(BIN)/python -m tests.benchmarks.bench_custom_db --users 1000
	$(BIN)/python -m tests.benchmarks.bench_audit --backend sqlite --changes 10000000 --users 1000000 --log-users 40000 --seconds 20
	$(BIN)/python -m tests.benchmarks.bench_audit --backend postgres --changes 10000000 --users 1000000 --log-users 40000 --seconds 20
	$(BIN)/python -m tests.benchmarks.bench_browser_login --flows 40 --rounds 5 --pages 2000
	$(BIN)/python -m tests.benchmarks.bench_cluster --kills 10
else
	$(BIN)/python -m tests.benchmarks.bench_users_http --users 1000 --requests 2000
	$(BIN)/python -m tests.benchmarks.bench_side_by_side --workers 2
	$(BIN)/python -m tests.benchmarks.bench_search --users 20000 --log-users 2000 --seconds 5
	$(BIN)/python -m tests.benchmarks.bench_history --history 1000 --events 20000 --reads 200
	$(BIN)/python -m tests.benchmarks.bench_relay --users 1000 --seconds 5
	$(BIN)/python -m tests.benchmarks.bench_auth --users 10 --logins 20 --requests 500
	$(BIN)/python -m tests.benchmarks.bench_clients --requests 200 --rounds 2 --applications 50
	$(BIN)/python -m tests.benchmarks.bench_rules --logins 200 --runs 2000 --hostile-deadline 5
	$(BIN)/python -m tests.benchmarks.bench_console --backend sqlite --users 200 --reads 50
	$(BIN)/python -m tests.benchmarks.bench_jobs --users 20000 --http-users 500
	$(BIN)/python -m tests.benchmarks.bench_observability --requests 5000 --rounds 3
	$(BIN)/python -m tests.benchmarks.bench_custom_db --users 200
	$(BIN)/python -m tests.benchmarks.bench_audit --backend sqlite
	$(BIN)/python -m tests.benchmarks.bench_audit --backend postgres
	$(BIN)/python -m tests.benchmarks.bench_browser_login --flows 10 --rounds 2 --pages 200
	$(BIN)/python -m tests.benchmarks.bench_cluster --requests 600 --rounds 1 --kills 2
endif

# `make fuzz`: the schemathesis run of the suite (tests/fuzz) at FUZZ_CASES cases per store; it
# prints its figures (cases, statuses, 5xx) for each store.
FUZZ_CASES ?= 10000
fuzz: install postgres
	FUZZ_CASES=$(FUZZ_CASES) $(BIN)/pytest tests/fuzz -s

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
