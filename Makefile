# One command runs the system, one tests it; both set up whatever is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
VENV_BOT  := .venv-bot
RASA      := $(VENV_BOT)/bin/rasa
PYTEST    := $(VENV)/bin/pytest
SPACY_SV  := build/spacy_sv/meta.json
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# PostgreSQL server for the second test pass (trust auth on these machines).
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: help setup run test model validate test-bot nlu-cv nlu-heldout test-handoff test-postgres bench bench-nlu lock-handoff lock-bot system-deps clean

help:
	@echo "make run    - set up, train if needed, start all services (Ctrl-C stops them)"
	@echo "make test   - set up, train if needed, run every test"
	@echo "make bench  - benchmarks of the running system; make bench-nlu: training and parse times"
	@echo "make nlu-cv, make nlu-heldout - the NLU checks of make test on their own (reports/nlu*/)"

setup: $(VENV)/.installed $(VENV_BOT)/.installed $(SPACY_SV) system-deps

$(VENV)/.installed: requirements/handoff.txt
	@py=$$(command -v python3.11 || command -v python3); \
	  $$py -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: the handoff service needs Python 3.11 or newer (python3.11)." >&2; exit 1; }; \
	  [ -x $(VENV)/bin/python ] || $$py -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements/handoff.txt
	@touch $@

$(VENV_BOT)/.installed: requirements/bot.txt scripts/find-python310.sh
	@py=$$(scripts/find-python310.sh) || exit 1; \
	  [ -x $(VENV_BOT)/bin/python ] || $$py -m venv $(VENV_BOT)
	$(VENV_BOT)/bin/pip install -q --disable-pip-version-check -r requirements/bot.txt
	@touch $@

$(SPACY_SV): $(VENV_BOT)/.installed scripts/build_spacy_sv.py
	@mkdir -p build
	$(VENV_BOT)/bin/python scripts/build_spacy_sv.py build/spacy_sv

# Debian packages the tests need: docker-compose (1.29) validates docker-compose.yml (no engine
# needed), chromium is the browser the page tests drive, redis-server runs a private Redis that
# the fault tests stop and start. Installed only when missing.
DEBIAN_TOOLS := docker-compose:docker-compose chromium:chromium redis-server:redis-server
system-deps: node_modules/.installed
	@missing=""; for pair in $(DEBIAN_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing ..."; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || { echo "error: could not install$$missing with apt-get; install them and run again." >&2; exit 1; }; \
	  fi

# axe-core (accessibility checks inside the browser tests), pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm (Node.js) is needed for the browser tests' axe-core; install nodejs and npm." >&2; exit 1; }
	npm ci --no-audit --no-fund --silent
	@touch $@

model: $(VENV_BOT)/.installed $(SPACY_SV)
	@scripts/train.sh

run: setup model
	@$(VENV)/bin/python scripts/run.py

validate: $(VENV_BOT)/.installed $(SPACY_SV)
	$(VENV_BOT)/bin/python scripts/validate_bot.py

test-bot: model
	$(RASA) test core --stories bot/tests --model models/current.tar.gz --endpoints bot/endpoints.yml \
	  --fail-on-prediction-errors --out reports/conversations

# 5-fold cross-validation, folds seeded (scripts/nlu_eval.py): intent macro F1 >= 0.90, every
# intent >= 0.80; per-intent report, confusions and the fallback-threshold table in reports/nlu/.
nlu-cv: $(VENV_BOT)/.installed $(SPACY_SV)
	$(VENV_BOT)/bin/python scripts/nlu_eval.py cv

# The trained model on resident messages written apart from the training data (tests/nlu/).
nlu-heldout: model
	$(VENV_BOT)/bin/python scripts/nlu_eval.py heldout

test-handoff: setup model
	$(PYTEST) tests

test-postgres: setup
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(PYTEST) tests -m "not e2e"

test: setup validate test-bot nlu-heldout nlu-cv test-handoff test-postgres
	@echo "all tests passed"

bench: setup model
	$(VENV)/bin/python scripts/bench.py
	$(VENV)/bin/python scripts/bench_hub.py

bench-nlu: setup
	$(VENV)/bin/python scripts/bench_nlu.py

lock-handoff:
	$(VENV)/bin/pip freeze > requirements/handoff.txt
lock-bot:
	$(VENV_BOT)/bin/pip freeze > requirements/bot.txt

clean:
	rm -rf $(VENV) $(VENV_BOT) build models reports var .pytest_cache
