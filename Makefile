# The example service, examples/tracker, on this machine:
#   make setup   install dependencies, start the local PostgreSQL, apply the tracker's migrations to its database `tracker`, load its demo seeds
#   make start   three replicas on ports 3001-3003 in the background; pids and logs in .slipway/run/ (earlier logs kept as .log.1 … .log.5)
#   make stop    stop the replicas, then the local PostgreSQL
#   make test    the whole test suite
# With DATABASE_URL set, setup and start use that database instead of the local one.

SLIPWAY := node dist/cli/main.js
TSC := node_modules/.bin/tsc
# On the local server the tracker has a database of its own (created when missing), so it
# never meets the bookkeeping table of the migrations in ./migrations (the README's tour).
TRACKER_DB := tracker
MIGRATIONS := examples/tracker/migrations
SERVICE := examples/tracker/dist/main.js
RUN := .slipway/run
PORTS := 3001 3002 3003
# Each replica runs in a session of its own where setsid exists: closing the terminal that
# ran `make start` does not hang them up (node resets nohup's ignored SIGHUP).
SETSID := $(shell command -v setsid)

# `make` alone only says what there is.
.DEFAULT_GOAL := help
.PHONY: help setup database deps example start stop test

help:
	@sed -n 's/^#   //p' Makefile

setup:
	npm install
	npm run build
	@$(MAKE) --no-print-directory database

# The tracker's database: DATABASE_URL, or `tracker` on the local PostgreSQL; its migrations, then its seeds.
# Both phases at once (--post-deploy): no replica of an earlier release runs here.
database: deps
	@url="$${DATABASE_URL:-$$($(SLIPWAY) db start --database $(TRACKER_DB))}"; \
	[ -n "$$url" ] || exit 1; \
	[ -n "$$DATABASE_URL" ] || echo "the tracker's database: $$url"; \
	echo "$(SLIPWAY) up --post-deploy --dir $(MIGRATIONS)"; \
	DATABASE_URL="$$url" $(SLIPWAY) up --post-deploy --dir $(MIGRATIONS) || exit 1; \
	echo "$(SLIPWAY) seed --dir examples/tracker/seeds"; \
	DATABASE_URL="$$url" $(SLIPWAY) seed --dir examples/tracker/seeds

# The commands the other targets run come from npm install (make setup).
deps:
	@[ -x $(TSC) ] && [ -f dist/cli/main.js ] || { echo "dependencies are missing (no node_modules/.bin/tsc or dist/): run make setup first" >&2; exit 1; }

# Compiles examples/tracker/src into examples/tracker/dist. It imports the package `slipway`
# itself, which resolves to ./dist (built by make setup).
example: deps
	$(TSC) -p examples/tracker/tsconfig.json

# Every replica migrates at startup (one applies, the others find nothing to do), then
# listens; this waits until each says so. A replica whose pid file names a live tracker
# process is left alone. A replica's earlier log moves to .log.1 (and .log.1 to .log.2, up to .log.5).
start: example
	@mkdir -p $(RUN)
	@url="$${DATABASE_URL:-$$($(SLIPWAY) db start --database $(TRACKER_DB) 2>/dev/null)}"; \
	[ -n "$$url" ] || { echo "make start: no database: run make setup first, or set DATABASE_URL" >&2; exit 1; }; \
	for port in $(PORTS); do \
	  if $(call running,$$port); then echo "port $$port: already running (pid $$(cat $(RUN)/tracker-$$port.pid))"; continue; fi; \
	  log=$(RUN)/tracker-$$port.log; \
	  for i in 4 3 2 1; do [ ! -f $$log.$$i ] || mv $$log.$$i $$log.$$((i + 1)); done; \
	  [ ! -f $$log ] || mv $$log $$log.1; \
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

# SIGTERM to every replica at once: each finishes its in-flight requests, closes its pool and
# exits; this waits for all of them together (up to 10 s), polling every 20 ms. A process that
# has exited but not been reaped (a zombie) no longer counts as running.
stop:
	@stopping=""; \
	for port in $(PORTS); do \
	  if $(call running,$$port); then kill -TERM $$(cat $(RUN)/tracker-$$port.pid) && stopping="$$stopping $$port"; else rm -f $(RUN)/tracker-$$port.pid; fi; \
	done; \
	for attempt in $$(seq 500); do \
	  left=""; for port in $$stopping; do if $(call running,$$port); then left="$$left $$port"; fi; done; \
	  [ -n "$$left" ] || break; sleep 0.02; \
	done; \
	for port in $$stopping; do \
	  pid=$$(cat $(RUN)/tracker-$$port.pid); \
	  if $(call running,$$port); then echo "port $$port: pid $$pid still running after 10 s" >&2; else echo "port $$port: stopped (pid $$pid)"; rm -f $(RUN)/tracker-$$port.pid; fi; \
	done
ifndef DATABASE_URL
	@if [ -f dist/cli/main.js ]; then $(SLIPWAY) db stop; else echo "nothing to stop: slipway is not built yet (make setup)"; fi
endif

test:
	npm test

# Shell test: does .slipway/run/tracker-<port>.pid name a live tracker process? (A stale
# pid file may name a pid that now belongs to something else: never signal that.)
running = [ -f $(RUN)/tracker-$(1).pid ] && ps -p "$$(cat $(RUN)/tracker-$(1).pid)" -o args= 2>/dev/null | grep -q '$(SERVICE)'
