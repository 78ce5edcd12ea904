# Two commands do everything: `make run` and `make test`. `make help` lists the rest.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SPACY_MODEL := build/spacy_model/meta.json
MODEL := models/assistant.tar.gz
WIDGET_JS := widget/dist/rasa-widget.js
WIDGET_DEPS := widget/node_modules/.package-lock.json
WIDGET_HELP := widget/build/help.json
CONSOLE_JS := console/static/dist/dashboard.js
CONSOLE_DEPS := console/node_modules/.package-lock.json
RASA_INPUTS := config.yml domain.yml $(wildcard data/*/*.yml data/*/*/*.yml) content/safety_patterns.yml content/safety_patterns_es.yml \
               content/crisis_examples.yml content/crisis_examples_es.yml \
               $(wildcard components/*.py)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

# pytest runs on one worker per core (at most 2), each taking the next test when it is free: most
# of a server test's time is one process starting up, which leaves the other core idle.
PYTEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? 0 : 2 )))
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: help venv spacy train run shell lint validate pytest pytest-unit pytest-rest test-stories test evaluate audit purge clean
.PHONY: widget widget-test chromium console
.PHONY: prod-up prod-down prod-status test-prod
.PHONY: bench bench-ablation bench-profile bench-first-answer

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-15s %s\n", $$1, $$2}'

$(INSTALLED): requirements.lock
	@test -x $(BIN)/python || "$$(scripts/find_python.sh)" -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet pip==24.0
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.lock
	@touch $@

venv: $(INSTALLED) ## Create .venv with the exact versions in requirements.lock

$(SPACY_MODEL): $(INSTALLED) content/medications.yml scripts/build_spacy_model.py
	$(BIN)/python scripts/build_spacy_model.py

spacy: $(SPACY_MODEL) ## Build the spaCy pipeline (tokenizer, lemmatizer, medication names)

# Trained beside, then moved into place: a server or an interrupted training never sees half a file.
# The model is dated when its training started, so an input edited during the training is newer
# than the model and the next `make train` trains again.
$(MODEL): $(SPACY_MODEL) $(RASA_INPUTS)
	@rm -rf build/training && mkdir -p build && touch build/.training-started
	$(BIN)/python -m serving.launch train --out build/training --fixed-model-name assistant
	@mkdir -p models && mv build/training/assistant.tar.gz $@ && touch -r build/.training-started $@

train: $(MODEL) ## Train the model, only if data, domain, config or content changed

# No install scripts run: esbuild's binary comes as a package of its own (@esbuild/<platform>).
$(WIDGET_DEPS): widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# The "Get help now" numbers come from the resource slots in domain.yml, built into the widget.
$(WIDGET_HELP): domain.yml widget/help_panel.yml scripts/build_widget_help.py | $(INSTALLED)
	$(BIN)/python -m scripts.build_widget_help

$(WIDGET_JS): $(WIDGET_DEPS) $(WIDGET_HELP) widget/build.mjs $(wildcard widget/src/*)
	cd widget && npm run --silent build

widget: $(WIDGET_JS) ## Build the website chat widget, one file: widget/dist/rasa-widget.js

# The operator console's charts: Chart.js, pinned in console/package-lock.json, bundled with the
# dashboard's script into one file the console serves itself.
$(CONSOLE_DEPS): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

$(CONSOLE_JS): $(CONSOLE_DEPS) console/build.mjs $(wildcard console/src/*)
	cd console && npm run --silent build

console: $(CONSOLE_JS) ## Build the operator console's dashboard script (Chart.js): console/static/dist/

widget-test: $(WIDGET_DEPS) ## Unit tests of the widget's JavaScript (node --test)
	cd widget && npm test --silent

chromium: ## Install Debian's Chromium for the browser tests, if missing
	scripts/ensure_chromium.sh

run: $(SPACY_MODEL) $(WIDGET_JS) $(CONSOLE_JS) ## Set up, train if needed (a quick model first), serve at :5005 (widget demo :8080, console :8081); CREDENTIALS=credentials.messaging.yml adds messaging apps
	scripts/serve.sh

shell: $(MODEL) ## Chat with the assistant in this terminal
	scripts/serve.sh shell

lint: $(INSTALLED) ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy content overrides insights storage components actions channels serving benchmarks scripts console

validate: $(INSTALLED) ## rasa data validate: no errors, no warnings
	scripts/validate.sh

# The slowest tests are listed at the end: where CI's minutes go.
pytest: $(MODEL) $(WIDGET_JS) $(CONSOLE_JS) chromium ## Unit, data, NLU-quality, safety, end-to-end and browser tests
	$(PYTEST) --durations=25

# The same tests in two parts: those that need neither the trained model, the servers nor a
# browser (quick feedback while editing), and the rest.
pytest-unit: $(INSTALLED) ## The tests that need no trained model, server or browser (minutes)
	$(PYTEST) -m "not model and not server and not browser and not prod" --durations=10

pytest-rest: $(MODEL) $(WIDGET_JS) $(CONSOLE_JS) chromium ## The tests that need the model, the servers or a browser
	$(PYTEST) -m "(model or server or browser) and not prod" --durations=25

test-stories: $(MODEL) ## Conversation tests (tests/test_stories.yml)
	$(BIN)/python -m serving.launch test core -m $(MODEL) --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out results/stories

# Production profile (docs/deployment.md): Debian's PostgreSQL, Redis and nginx, two Rasa servers.
prod-up: $(MODEL) $(WIDGET_JS) $(CONSOLE_JS) ## Start the production profile on loopback: nginx :8090, 2 Rasa servers, PostgreSQL, Redis
	scripts/ensure_prod_packages.sh
	scripts/prod.sh up

prod-down: ## Stop the production profile (conversations stay in var/prod)
	scripts/prod.sh down

prod-status: ## What of the production profile runs
	scripts/prod.sh status

test-prod: $(MODEL) $(WIDGET_JS) $(CONSOLE_JS) ## Production-profile tests: 50 concurrent conversations, failover, restart (minutes)
	scripts/ensure_prod_packages.sh
	$(BIN)/pytest -m prod -s tests/test_prod_profile.py tests/test_console_prod.py

# The model trains (listed first, so it starts at once) while the checks and builds that do not
# need it run beside it (-j2), then the tests. Not the unit tests beside the training: its
# TensorFlow threads slow to half speed when another process takes a core (the three DIETs took
# 19.5 min beside the 6.5 min of pytest-unit, about 10 alone).
test: ## Everything: lint, validate, widget unit tests, pytest, conversation tests
	$(MAKE) --no-print-directory -j2 $(MODEL) lint validate widget-test $(WIDGET_JS) $(CONSOLE_JS) chromium
	$(MAKE) --no-print-directory pytest test-stories

evaluate: $(MODEL) ## Held-out report per set: answered right, did-you-mean, wrong, crisis recall (ARGS=--misses)
	$(BIN)/python -m scripts.evaluate --model $(MODEL) $(ARGS)

# Trains the project and a stock-config baseline once each (cached in build/bench/), then loads both.
bench: $(SPACY_MODEL) ## Load test vs a stock Rasa baseline: table, results/bench/bench.{json,png} (docs/performance.md)
	$(BIN)/python -m benchmarks

# The baseline once, then the project once per override with only that one off (and all on, twice).
bench-ablation: $(SPACY_MODEL) ## Each override off in turn vs all on: results/bench/ablation.{json,md} (ARGS="--only NAME": one; BENCH_SCALE=0.1: smoke)
	$(BIN)/python -m benchmarks --ablation $(ARGS)

bench-first-answer: ## Time `make run` from a fresh clone of this checkout to its first answer (benchmarks/first_answer.sh)
	benchmarks/first_answer.sh

bench-profile: $(MODEL) ## py-spy flame graphs of the per-message path at message 300 (results/bench/)
	$(BIN)/python -m benchmarks.profile

audit: ## Check the locked dependencies for known vulnerabilities (pip-audit, own venv)
	@test -x .venv-audit/bin/pip-audit || { "$$(scripts/find_python.sh)" -m venv .venv-audit && \
	  .venv-audit/bin/pip install --disable-pip-version-check --quiet pip-audit==2.10.1; }
	.venv-audit/bin/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off

purge: $(INSTALLED) ## Delete conversations older than the retention period (endpoints.yml)
	$(BIN)/python -m scripts.purge_conversations --endpoints endpoints.yml

clean: ## Remove build output (venv kept)
	rm -rf build models/*.tar.gz results widget/build widget/dist console/static/dist
