# Resident Orders — the two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RASA_VENV := .venv-rasa

.PHONY: install browser nginx up-scaled run test lint typecheck bench-nlu clean
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
	@test -n "$$(fc-list :lang=zh 2>/dev/null)" || { \
	  echo "Installing a CJK font (none is present) so Chinese pages render"; \
	  $(SUDO) apt-get install -y -q fonts-wqy-microhei fontconfig || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q fonts-wqy-microhei fontconfig; }; }

# The scaled-out stack on loopback (docs/deployment.md): PostgreSQL, Redis, 2 Rasa, 2 action
# servers, 2 bot workers (webhook), 2 web workers behind Debian's nginx, under honcho.
# Needs TELEGRAM_BOT_TOKEN (and, without real Telegram, TELEGRAM_API_BASE_URL); WEBHOOK_URL
# defaults to the local nginx, WEBHOOK_SECRET is generated once into data/webhook_secret.
nginx:
	@test -x /usr/sbin/nginx || { \
	  echo "Installing Debian's nginx for the scaled-out stack"; \
	  $(SUDO) apt-get install -y -q nginx || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nginx; }; }

up-scaled: install nginx
	$(VENV)/bin/orders train
	$(VENV)/bin/python deploy/scaled.py

test: install browser nginx lint typecheck
	$(VENV)/bin/orders train
	$(VENV)/bin/pytest

# Resident load through Telegram and bare Rasa, button load, the dashboard and Open311
# at 1M tickets (PostgreSQL); writes bench/results.json (see docs/performance.md).
# Options: make bench BENCH_ARGS="--residents 200 --rate 30 --tickets 1000000"
bench: install
	$(VENV)/bin/orders train
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

# NLU quality on the held-out set and classification latency through the engine.
bench-nlu: install
	$(VENV)/bin/orders evaluate-nlu --json bench/results-nlu.json

clean:
	rm -rf $(VENV) $(RASA_VENV) models data/run
