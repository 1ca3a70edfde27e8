# Missiva: `make demo` runs every journey end to end, `make test` runs the tests (every
# tier), `make test-fast` the unit tier alone (under 30 s), `make run JOURNEY=x` one
# journey, `make airflow` the Airflow UI on the same embedded home, `make env` prints this
# environment as `export` lines for a shell (eval "$$(make -s env)").
# This file is the one place for the demo environment and its ports.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO_DATE ?= 2026-11-02
DEMO_CUSTOMERS ?= 200
SMTP_PORT ?= 8025
SMS_PORT ?= 8026
UI_PORT ?= 8080
export SMTP_PORT SMS_PORT UI_PORT

export PATH := $(BIN):$(PATH)
export MISSIVA_HOME ?= $(CURDIR)/var
export AIRFLOW_HOME := $(MISSIVA_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR := LocalExecutor
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS := admin:admin,viewer:viewer
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE := $(AIRFLOW_HOME)/passwords.json
# Task logs at INFO, so Missiva's loggers (and each run's report) reach them; Airflow's own
# (structlog) loggers stay at WARNING. namespace_levels cannot raise a logger above
# logging_level: Airflow's stdlib handler filters at logging_level.
export AIRFLOW__LOGGING__LOGGING_LEVEL := INFO
export AIRFLOW__LOGGING__NAMESPACE_LEVELS := airflow=WARNING task=WARNING
# the UI port moves the api-server and the address its workers call back
export AIRFLOW__API__PORT := $(UI_PORT)
export AIRFLOW__API__BASE_URL := http://localhost:$(UI_PORT)
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL := http://localhost:$(UI_PORT)/execution/
export AIRFLOW_CONN_MISSIVA_CORE := {"conn_type": "generic", "extra": {"sqlalchemy_url": "sqlite:///$(MISSIVA_HOME)/core.db"}}
export AIRFLOW_CONN_SMTP_DEFAULT := {"conn_type": "smtp", "host": "127.0.0.1", "port": $(SMTP_PORT), "extra": {"disable_tls": true, "disable_ssl": true}}
export AIRFLOW_CONN_MISSIVA_SMS := {"conn_type": "http", "schema": "http", "host": "127.0.0.1", "port": $(SMS_PORT), "password": "demo-token"}
export GX_ANALYTICS_ENABLED := False
# Demo runs must not depend on the hour: the production policy without quiet hours
# (`make airflow`'s scheduler keeps the production policy unless you set it).
demo run env: export MISSIVA_CONTACT_POLICY ?= $(CURDIR)/include/contact_policy_no_quiet_hours.toml

.PHONY: demo run env test test-fast airflow cluster lint lock system-check clean

system-check:
	@scripts/check-system.sh $(PYTHON)

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt \
		-r requirements.txt -r requirements-dev.txt -e .
	touch $@

demo: system-check $(VENV)/.installed
	@scripts/demo.sh $(DEMO_DATE) $(DEMO_CUSTOMERS)

# make run JOURNEY=<dag id> [DATE=YYYY-MM-DD] [CONF='{"param": ...}']: one journey
# through Airflow (`airflow dags test`) on the demo home, with its sinks; prints the report
run: system-check $(VENV)/.installed
	@JOURNEY='$(JOURNEY)' DATE='$(DATE)' scripts/run.sh "$$CONF"

env:
	@scripts/env.sh

airflow: system-check $(VENV)/.installed
	@scripts/airflow.sh

# The deployed shape on this machine: api-server, scheduler, dag-processor, triggerer,
# two Celery workers sharing no disk, Postgres (metadata, ledger, core), Redis, SeaweedFS.
# Needs Postgres and Redis on 127.0.0.1 (MISSIVA_CLUSTER_POSTGRES_URL/_REDIS_URL).
CLUSTER_PORT ?= 8080
cluster: system-check $(VENV)/.installed
	@env -u AIRFLOW_HOME $(BIN)/python -m missiva.devtools.cluster --port $(CLUSTER_PORT) \
		--root $(MISSIVA_HOME)/cluster

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/missiva templates lint

# pytest exits 5 when it collected no tests: a test run that tested nothing fails.
define run_pytest
	@$(BIN)/pytest $(1); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make $@: pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc
endef

# every tier: tests/unit, tests/component, tests/dags, tests/integration, tests/e2e in three
# processes (most tests wait on servers and subprocesses, not the CPU), then the cluster
# and the fault matrix one at a time (they share Redis's queues; the matrix prints one table)
test: system-check lint
	$(call run_pytest,-n 3 --dist loadfile --ignore=tests/cluster --ignore=tests/fault_matrix)
	$(call run_pytest,-p no:xdist tests/cluster tests/fault_matrix)

# the unit tier alone: pure logic, no servers, processes, WeasyPrint or Airflow
test-fast: $(VENV)/.installed
	$(call run_pytest,tests/unit)

lock: $(VENV)/.installed
	( echo "# The whole resolved tree for requirements*.txt (Python 3.11, Linux)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable ) > constraints.txt

clean:
	rm -rf $(MISSIVA_HOME)
