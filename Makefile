# Two commands do all set-up:  `make serve`  and  `make test`.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
PORT   ?= 8000

.PHONY: install serve test chromium nginx bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,eval]'
	touch $@

install: $(VENV)/.installed

# Debian's chromium drives the browser tests (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's nginx runs deploy/nginx-medsearch.conf in tests/test_proxy.py
# (started there on a loopback port; the package's own service is not used).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

serve: install
	$(VENV)/bin/medsearch serve --port $(PORT)

test: install chromium nginx
	$(PY) -m pytest

clean:
	rm -rf $(VENV) index/gen-* index/current index/.lock
