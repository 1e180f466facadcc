# make test: install what is missing, run the whole suite against services it starts itself.
# make demo: install what is missing, start and seed the sandbox, extract its lists, print the report.
# make demo-yarn: the same extract on YARN into HDFS, on a Hadoop minicluster that lives as long as the command.
VENV := .venv
PY := $(VENV)/bin/python
SANDBOX := $(PY) -m mediaextract_sandbox --root .sandbox

.PHONY: install test unit demo demo-yarn dist sandbox-up sandbox-down bench torture clean

install:
	@bash scripts/bootstrap.sh

# Two pytest workers (pytest-xdist): most of the suite waits on JVMs, servers and the minicluster,
# so two overlap on a 2-core machine; tests/conftest.py cuts the suite into units (a module each,
# tests/cluster one) and orders them. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

unit: install
	$(PY) -m pytest tests/unit

demo: install
	@$(SANDBOX) up
	@$(SANDBOX) seed
	./spark-submit.sh extract --conf conf/local.yaml --name demo .sandbox/lists

demo-yarn: install
	@$(SANDBOX) up
	@$(SANDBOX) seed
	@$(SANDBOX) yarn-demo

# What spark-submit.sh ships to a cluster (it runs this itself): the package zip (modules and
# defaults.yaml only; the sandbox in dev/ never ships) and the packed executor environment.
dist: install
	bash scripts/dist.sh

sandbox-up: install
	$(SANDBOX) up

sandbox-down:
	$(SANDBOX) down

bench: install
	$(PY) bench/thumbs.py
	$(PY) bench/fetch.py

# Issue 10's torture run by hand: 200 seeds (about 2 h 15 min on an idle 2-core machine).
torture: install
	$(PY) bench/torture.py --seeds 200

clean: sandbox-down
	rm -rf .sandbox out
