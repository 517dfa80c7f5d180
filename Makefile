# Chemical Earth: developer commands. `make demo` gives a running portal on http://127.0.0.1:8000/.
# Every target is idempotent; work already done is skipped (stamp files under var/stamps/).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

SELF   := $(abspath $(lastword $(MAKEFILE_LIST)))
ROOT   := $(patsubst %/,%,$(dir $(SELF)))
VENV   := $(ROOT)/.venv
PY     := $(VENV)/bin/python
VAR    := $(ROOT)/var
STAMPS := $(VAR)/stamps
RUN    := $(VAR)/run
LOG    := $(VAR)/log
SERVICES := $(ROOT)/scripts/services.sh
MANAGE := $(PY) $(ROOT)/manage.py

export DJANGO_SETTINGS_MODULE ?= chemearth.settings
export DATABASE_URL ?= postgis://postgres@127.0.0.1:5432/chemearth
export PIP_DISABLE_PIP_VERSION_CHECK := 1

WEB_BIND   ?= 127.0.0.1:8000
WEB_URL    := http://$(WEB_BIND)/
PYTEST_ARGS ?=
BENCH_ARGS  ?= --samples 100000
TILES_BENCH_ARGS ?= --samples 100000
DASHBOARDS_BENCH_ARGS ?= --samples 1000000
# The tile benchmark's tools: wrk from Debian (nginx with njs is in APT_PACKAGES: the tests run
# deploy/nginx.conf), TiTiler in a venv of its own (its pinned
# rio-tiler, rasterio and pydantic must not meet the project's).
BENCH_APT_PACKAGES := wrk
BENCH_VENV  := $(VAR)/bench-venv
BENCH_PIP   := titiler.application uvicorn tipg locust
# The bench venv's stamp names its package list, so adding a package installs it.
BENCH_STAMP := $(STAMPS)/bench-venv-$(shell printf '%s' "$(BENCH_PIP)" | md5sum | cut -c1-8)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := postgresql-15 postgresql-client-15 postgresql-15-postgis-3 gdal-bin libgdal-dev libgeos-dev \
	libproj-dev redis-server gettext chromium fonts-noto-cjk fonts-dejavu-core nginx libnginx-mod-http-js \
	libpango-1.0-0 libpangoft2-1.0-0 zbar-tools poppler-utils
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -q -o DPkg::Lock::Timeout=600

.NOTPARALLEL:

# Inputs whose change means the step must run again. A stamp is per DATABASE_URL.
DB_KEY         := $(shell printf '%s' "$(DATABASE_URL)" | md5sum | cut -c1-10)
PIP_STAMP      := $(STAMPS)/pip-install
MIGRATE_STAMP  := $(STAMPS)/migrate-$(DB_KEY)
STATIC_STAMP   := $(STAMPS)/collectstatic
MIGRATIONS     := $(wildcard $(ROOT)/*/migrations/*.py)
STATIC_SOURCES := $(shell find $(ROOT)/static $(ROOT)/*/static -type f 2>/dev/null)
PO_FILES       := $(shell find $(ROOT)/locale $(ROOT)/*/locale -name '*.po' 2>/dev/null)
MO_FILES       := $(PO_FILES:.po=.mo)

.PHONY: help install install-system install-python services db demo stop test lint bench \
	bench-install bench-tiles bench-dashboards messages clean-var status

help:
	@echo "make install    Debian packages, .venv and the package with its test extras"
	@echo "make services   PostgreSQL/PostGIS on 127.0.0.1:5432 and Redis on 127.0.0.1:6379"
	@echo "make db         database from DATABASE_URL with PostGIS, migrations, static files"
	@echo "make demo       demo data, Celery worker and beat, web server on $(WEB_URL)"
	@echo "make stop       stop what demo (and services) started"
	@echo "make status     what is running, and the health checks (/health/)"
	@echo "make test       the test suite (PYTEST_ARGS='-k foo' to choose)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make bench      ingest benchmark ($(BENCH_ARGS))"
	@echo "make bench-install  nginx, wrk, TiTiler and tipg (var/bench-venv) for the tile and API benchmarks"
	@echo "make bench-tiles    tile benchmark ($(TILES_BENCH_ARGS))"
	@echo "make bench-dashboards  dashboard figures, cold/cached/plain SQL ($(DASHBOARDS_BENCH_ARGS))"
	@echo "make messages   compile translations"
	@echo "make clean-var  stop, then remove var/run and var/log"

# A pid file names a live process of ours: alive PIDFILE KEYWORD (keyword from its command line,
# so a stale pid file whose number was reused is not mistaken for ours).
alive = [ -f $(1) ] && ps -ww -o args= -p "$$(cat $(1))" 2>/dev/null | grep -q -- "$(2)"

# ------------------------------------------------------------------ install

install: install-system install-python

install-system:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' "$$p" 2>/dev/null)" = installed ] \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "install: Debian packages:$$missing"; \
	  for i in 1 2 3; do $(APT_GET) update -qq && break; sleep 10; done; \
	  $(APT_GET) install -y -q --no-install-recommends $$missing; \
	fi

install-python: $(PIP_STAMP)

$(VENV)/pyvenv.cfg:
	@echo "install: creating $(VENV)"
	@python3 -m venv $(VENV)

$(PIP_STAMP): $(ROOT)/pyproject.toml $(VENV)/pyvenv.cfg
	@echo "install: pip install -e '.[test]'"
	@mkdir -p $(LOG)
	@$(PY) -m pip install -e '$(ROOT)[test]' >$(LOG)/pip-install.log 2>&1 \
	  || { tail -n 40 $(LOG)/pip-install.log >&2; echo "install: pip failed, see $(LOG)/pip-install.log" >&2; exit 1; }
	@mkdir -p $(@D) && touch $@

# ----------------------------------------------------------------- services

services:
	@$(SERVICES) start

status:
	@$(SERVICES) status
	@for nk in 'worker:chemearth worker' 'beat:chemearth beat' 'web:gunicorn'; do \
	  name="$${nk%%:*}"; pidf=$(RUN)/$$name.pid; \
	  if $(call alive,$$pidf,$${nk#*:}); then \
	    echo "$$name: running (pid $$(cat $$pidf))"; \
	  else \
	    echo "$$name: not running"; \
	  fi; \
	done
	@# The checks behind /health/, run here with their details (exit status 1 when one is down).
	@if [ -x $(PY) ]; then cd $(ROOT) && $(MANAGE) health || true; fi
	@if $(call alive,$(RUN)/web.pid,gunicorn); then \
	  echo "web: $(WEB_URL)health/ answers HTTP $$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 $(WEB_URL)health/ || true)"; \
	fi

# ------------------------------------------------------------------------ db

# ensure-db prints a line only when it created the database or the extension; a new database
# invalidates the migrate stamp, so the make below migrates it.
db: install services
	@out="$$($(SERVICES) ensure-db)"; \
	if [ -n "$$out" ]; then echo "$$out"; rm -f $(MIGRATE_STAMP); fi
	@$(MAKE) -s -f $(SELF) $(MIGRATE_STAMP) $(STATIC_STAMP)

$(MIGRATE_STAMP): $(MIGRATIONS) $(PIP_STAMP)
	@echo "db: migrate"
	@cd $(ROOT) && $(MANAGE) migrate --noinput -v 0
	@mkdir -p $(@D) && touch $@

$(STATIC_STAMP): $(STATIC_SOURCES) $(PIP_STAMP)
	@echo "db: collectstatic"
	@cd $(ROOT) && $(MANAGE) collectstatic --noinput -v 0
	@mkdir -p $(@D) && touch $@

# --------------------------------------------------------------------- demo

# start_bg NAME, KEYWORD-IN-ITS-COMMAND-LINE, COMMAND
# Starts COMMAND detached (own session, so `stop` can end its children too) unless the pid file
# names a live process whose command line contains KEYWORD.
define start_bg
	@mkdir -p $(RUN) $(LOG); \
	pidf=$(RUN)/$(1).pid; \
	if $(call alive,$$pidf,$(2)); then \
	  echo "demo: $(1) already running (pid $$(cat $$pidf))"; \
	else \
	  cd $(ROOT); \
	  setsid nohup $(3) >>$(LOG)/$(1).log 2>&1 </dev/null & \
	  echo $$! >$$pidf; \
	  echo "demo: started $(1) (pid $$!, log $(LOG)/$(1).log)"; \
	fi
endef

demo: install services db $(MO_FILES)
	@cd $(ROOT) && $(MANAGE) load_demo
	@# The maps most visitors open first, rendered now so the viewer answers at once; the rest
	@# render on first request. Layers already current are left alone, so a second run is quick.
	@cd $(ROOT) && $(MANAGE) render_layers --medium topsoil --medium subsoil \
	  --element Cu --element Pb --element Zn --element As --element Ni --featured
	@pidf=$(RUN)/web.pid; \
	if ! { $(call alive,$$pidf,gunicorn); } \
	   && curl -s -o /dev/null --max-time 2 $(WEB_URL); then \
	  echo "demo: something else already answers on $(WEB_URL); stop it first" >&2; exit 1; \
	fi
	@# One worker takes every job kind's queue here; docker-compose.yml runs one for renders and
	@# one for the rest (the queue names come from settings: python -m chemearth.queues).
	$(call start_bg,worker,chemearth worker,$(VENV)/bin/celery -A chemearth worker -l info --concurrency 2 -Q $$($(PY) -m chemearth.queues))
	$(call start_bg,beat,chemearth beat,$(VENV)/bin/celery -A chemearth beat -l info -s $(VAR)/celerybeat-schedule)
	$(call start_bg,web,gunicorn,$(VENV)/bin/gunicorn chemearth.wsgi:application -b $(WEB_BIND) --workers 3 --access-logfile -)
	@for i in $$(seq 1 60); do \
	  code="$$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $(WEB_URL) || true)"; \
	  [ "$$code" != 000 ] && break; \
	  if ! kill -0 "$$(cat $(RUN)/web.pid)" 2>/dev/null; then code=000; break; fi; \
	  sleep 0.5; \
	done; \
	if [ "$$code" = 000 ]; then \
	  echo "demo: the web server did not answer on $(WEB_URL); last lines of $(LOG)/web.log:" >&2; \
	  tail -n 30 $(LOG)/web.log >&2; exit 1; \
	fi; \
	[ "$$code" -lt 400 ] || echo "demo: warning: $(WEB_URL) answered HTTP $$code" >&2; \
	for name in worker beat; do \
	  kill -0 "$$(cat $(RUN)/$$name.pid)" 2>/dev/null \
	    || { echo "demo: warning: the $$name exited, see $(LOG)/$$name.log:" >&2; \
	         tail -n 15 $(LOG)/$$name.log >&2; }; \
	done; \
	echo ""; \
	echo "Chemical Earth is running:  $(WEB_URL)"; \
	echo "Admin:                      $(WEB_URL)admin/"; \
	echo "Health:                     $(WEB_URL)health/ (make status prints its checks)"; \
	echo "Logs:                       $(LOG)/{web,worker,beat}.log"; \
	echo "Stop it with:               make stop"

# Each demo process is a session leader (see start_bg): TERM them all at once, wait up to 20 s for
# their process groups to end, then KILL what is left.
stop:
	@pids=""; \
	for nk in 'web:gunicorn' 'beat:chemearth beat' 'worker:chemearth worker'; do \
	  name="$${nk%%:*}"; pidf=$(RUN)/$$name.pid; \
	  if $(call alive,$$pidf,$${nk#*:}); then \
	    pid="$$(cat $$pidf)"; echo "stop: $$name (pid $$pid)"; \
	    kill -TERM "$$pid" 2>/dev/null || true; pids="$$pids $$pid"; \
	  fi; \
	  rm -f $$pidf; \
	done; \
	for i in $$(seq 1 100); do \
	  left=""; for pid in $$pids; do kill -0 -- "-$$pid" 2>/dev/null && left="$$left $$pid"; done; \
	  pids="$$left"; [ -z "$$pids" ] && break; sleep 0.2; \
	done; \
	for pid in $$pids; do echo "stop: killing process group $$pid" >&2; kill -KILL -- "-$$pid" 2>/dev/null || true; done
	@$(SERVICES) stop

# --------------------------------------------------------------------- tests

test: install services $(MO_FILES)
	@cd $(ROOT) && $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-python
	@cd $(ROOT); rc=0; \
	$(VENV)/bin/ruff check . || rc=1; \
	$(VENV)/bin/ruff format --check . || rc=1; \
	exit $$rc

bench: install services db
	@cd $(ROOT) && $(PY) benchmarks/ingest.py $(BENCH_ARGS)

# Debian starts a system nginx on port 80 when it installs the package (unless policy-rc.d says
# no); the benchmark never uses it, it runs its own from a generated config.
bench-install: install
	@missing=""; \
	for p in $(BENCH_APT_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' "$$p" 2>/dev/null)" = installed ] \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "bench-install: Debian packages:$$missing"; \
	  for i in 1 2 3; do $(APT_GET) update -qq && break; sleep 10; done; \
	  $(APT_GET) install -y -q --no-install-recommends $$missing; \
	fi
	@$(MAKE) -s -f $(SELF) $(BENCH_STAMP)

$(BENCH_STAMP):
	@echo "bench-install: $(BENCH_VENV) with $(BENCH_PIP)"
	@mkdir -p $(LOG)
	@[ -x $(BENCH_VENV)/bin/python ] || python3 -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install -q $(BENCH_PIP) >$(LOG)/bench-venv.log 2>&1 \
	  || { tail -n 40 $(LOG)/bench-venv.log >&2; echo "bench-install: pip failed, see $(LOG)/bench-venv.log" >&2; exit 1; }
	@mkdir -p $(@D) && touch $@

bench-tiles: bench-install services db
	@cd $(ROOT) && $(PY) benchmarks/tiles.py $(TILES_BENCH_ARGS)

# Its own database and Redis database 13; the development database is not needed.
bench-dashboards: install services
	@cd $(ROOT) && $(PY) benchmarks/dashboards.py $(DASHBOARDS_BENCH_ARGS)

# ------------------------------------------------------------- translations

messages: install-python
	@if [ -z "$(PO_FILES)" ]; then echo "messages: no .po files under locale/ yet"; else \
	  cd $(ROOT) && $(MANAGE) compilemessages --ignore=.venv --ignore=var --ignore=node_modules; fi

# The .mo files that test and demo need, compiled only when their .po changed.
%.mo: %.po
	@msgfmt --check-format -o $@ $<

# -------------------------------------------------------------------- clean

clean-var: stop
	@rm -rf $(RUN) $(LOG)
