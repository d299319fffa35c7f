# The example service, examples/tracker, on this machine:
#   make setup   install dependencies, start the local PostgreSQL, apply the tracker's migrations, load its demo seeds
#   make start   three replicas on ports 3001-3003 in the background; pids and logs in .slipway/run/
#   make stop    stop the replicas, then the local PostgreSQL
#   make test    the whole test suite
# With DATABASE_URL set, setup and start use that server instead of the local one.

SLIPWAY := node dist/cli/main.js
MIGRATIONS := examples/tracker/migrations
SERVICE := examples/tracker/dist/main.js
RUN := .slipway/run
PORTS := 3001 3002 3003
# Each replica runs in a session of its own where setsid exists: closing the terminal that
# ran `make start` does not hang them up (node resets nohup's ignored SIGHUP).
SETSID := $(shell command -v setsid)

# `make` alone only says what there is.
.DEFAULT_GOAL := help
.PHONY: help setup example start stop test

help:
	@sed -n 's/^#   //p' Makefile

setup:
	npm install
ifndef DATABASE_URL
	$(SLIPWAY) db start
endif
	$(SLIPWAY) up --dir $(MIGRATIONS)
	$(SLIPWAY) seed --dir examples/tracker/seeds

# Compiles examples/tracker/src into examples/tracker/dist. It imports the package `slipway`
# itself, which resolves to ./dist (built by npm install).
example:
	npx tsc -p examples/tracker/tsconfig.json

# Every replica migrates at startup (one applies, the others find nothing to do), then
# listens; this waits until each says so. A replica whose pid file names a live tracker
# process is left alone.
start: example
	@mkdir -p $(RUN)
	@url="$${DATABASE_URL:-$$($(SLIPWAY) db start 2>/dev/null)}"; \
	[ -n "$$url" ] || { echo "make start: no database: run make setup first, or set DATABASE_URL" >&2; exit 1; }; \
	for port in $(PORTS); do \
	  if $(call running,$$port); then echo "port $$port: already running (pid $$(cat $(RUN)/tracker-$$port.pid))"; continue; fi; \
	  DATABASE_URL="$$url" PORT=$$port $(SETSID) node $(SERVICE) < /dev/null > $(RUN)/tracker-$$port.log 2>&1 & \
	  echo $$! > $(RUN)/tracker-$$port.pid; \
	done; \
	for port in $(PORTS); do \
	  for attempt in $$(seq 300); do \
	    grep -q '"msg":"listening on ' $(RUN)/tracker-$$port.log && break; \
	    $(call running,$$port) || { echo "port $$port: the replica exited; the end of $(RUN)/tracker-$$port.log:" >&2; tail -n 5 $(RUN)/tracker-$$port.log >&2; exit 1; }; \
	    sleep 0.1; \
	  done; \
	  grep -q '"msg":"listening on ' $(RUN)/tracker-$$port.log || { echo "port $$port: not listening after 30 s; see $(RUN)/tracker-$$port.log" >&2; exit 1; }; \
	  echo "http://127.0.0.1:$$port  (pid $$(cat $(RUN)/tracker-$$port.pid), log $(RUN)/tracker-$$port.log)"; \
	done

# SIGTERM: each replica finishes its in-flight requests, closes its pool and exits.
stop:
	@for port in $(PORTS); do \
	  if $(call running,$$port); then \
	    pid=$$(cat $(RUN)/tracker-$$port.pid); kill -TERM $$pid; \
	    for attempt in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	    if kill -0 $$pid 2>/dev/null; then echo "port $$port: pid $$pid still running after 10 s" >&2; else echo "port $$port: stopped (pid $$pid)"; fi; \
	  fi; \
	  rm -f $(RUN)/tracker-$$port.pid; \
	done
ifndef DATABASE_URL
	$(SLIPWAY) db stop
endif

test:
	npm test

# Shell test: does .slipway/run/tracker-<port>.pid name a live tracker process? (A stale
# pid file may name a pid that now belongs to something else: never signal that.)
running = [ -f $(RUN)/tracker-$(1).pid ] && ps -p "$$(cat $(RUN)/tracker-$(1).pid)" -o args= 2>/dev/null | grep -q '$(SERVICE)'
