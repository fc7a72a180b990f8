# Resident Orders — the two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RASA_VENV := .venv-rasa

.PHONY: install browser run test lint typecheck bench-nlu clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(VENV)/.installed $(RASA_VENV)/.installed

# The application environment: current libraries, pinned in requirements/app.lock.txt.
$(VENV)/.installed: pyproject.toml requirements/app.lock.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(VENV)/bin/python -m pip install --quiet -r requirements/app.lock.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# The Rasa engine environment: Rasa 3.6.21 on Python 3.11, every package pinned
# (installed without dependency resolution; see docs/engine.md).
$(RASA_VENV)/.installed: requirements/rasa.lock.txt
	test -x $(RASA_VENV)/bin/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(RASA_VENV)/bin/python -m pip install --quiet --no-deps --ignore-requires-python -r requirements/rasa.lock.txt
	touch $@

# Sets everything up on first use, starts the stack and opens the terminal chat.
run: install
	$(VENV)/bin/orders chat --user me

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download does not work offline); a CJK font so Chinese pages render.
browser:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium and a CJK font for the browser tests"; \
	  $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei; }; }

test: install browser lint typecheck
	$(VENV)/bin/orders train
	$(VENV)/bin/pytest

# NLU quality on the held-out set and classification latency through the engine.
bench-nlu: install
	$(VENV)/bin/orders evaluate-nlu --json bench/results-nlu.json

clean:
	rm -rf $(VENV) $(RASA_VENV) models data/run
