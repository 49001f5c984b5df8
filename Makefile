# osupgrade — see README.md. `make run` is the main job, `make test` the tests.
GO      ?= go
OUT     ?= reports/out
FLEET   ?= auto
# Scenario seconds per wall second on Docker: at 20 the 5-minute health wait
# is 15 s, room for container start-up on a 2-core machine.
TIME_SCALE ?= 20
BIN     := bin/osupgrade

.PHONY: run test vet build clean fuzz race image lint-workflows

# Static (CGO_ENABLED=0): the binary goes into the Docker fleet's FROM
# scratch OS images as their agent, and into the osupgrade image.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/osupgrade

# The osupgrade image (Dockerfile): FROM scratch with $(BIN), labelled as
# the project's. `docker run` options for the Docker fleet: README.md.
IMAGE ?= osupgrade:latest
image: build
	docker build --label osupgrade.owner=osupgrade -t $(IMAGE) .

# The main job: every scenario on the default fleet (docker when the engine
# answers, sim otherwise), a summary table, JSON results in $(OUT)/.
# PARALLEL: scenarios at once (0: 2 per CPU within 30 Docker instances per
# CPU, README.md "Scenarios at once"; 1: one after another).
PARALLEL ?= 0
run: build
	$(BIN) run --fleet $(FLEET) --time-scale $(TIME_SCALE) --parallel $(PARALLEL) --out $(OUT) scenarios/

vet:
	$(GO) vet ./...

# Every package (Docker tests skip without an engine unless
# OSUPGRADE_REQUIRE_DOCKER=1), then the @docker features on containers when
# the engine answers.
# The packages that wait longest on containers go first (go test starts
# packages in the order named, two at a time here): the rest fit beside them
# instead of after them.
SLOW_PKGS := ./orchestrator/api/ ./fakes/fleettest/ ./harness/ ./cmd/osupgrade/ ./orchestrator/api/clients/
test: vet race lint-workflows
	$(GO) test -count=1 -timeout 14m $(SLOW_PKGS) ./...
	@if docker info >/dev/null 2>&1; then \
		echo "OSUPGRADE_FLEET=docker $(GO) test -count=1 -run TestFeatures ./features/"; \
		OSUPGRADE_FLEET=docker $(GO) test -count=1 -timeout 10m -run TestFeatures ./features/; \
	elif [ "$$OSUPGRADE_REQUIRE_DOCKER" = 1 ]; then \
		echo "make test: the Docker engine does not answer and OSUPGRADE_REQUIRE_DOCKER=1" >&2; exit 1; \
	else echo "make test: the Docker engine does not answer: @docker features not run on containers"; fi

# The stock clients against serve (in `make test` too, through ./...):
# Debian's azure-cli and python3-azure run orchestrator/api/testdata/clients/;
# a missing client skips, or fails when CI is set.
.PHONY: test-clients
test-clients:
	$(GO) test -count=1 -v -timeout 30m -run 'TestClient' ./orchestrator/api/clients/
	$(GO) test -count=1 -run 'TestSDKLifecycle|TestSDKServicePrincipal' ./orchestrator/api/

# actionlint (pinned in internal/workflowlint; with shellcheck's checks of
# the scripts when shellcheck is on PATH) over .github/workflows/, the
# composite action action.yml and the workflows `osupgrade init` writes.
# OSUPGRADE_ACTIONLINT=actionlint uses one on PATH instead of `go run`.
lint-workflows:
	$(GO) test -count=1 ./internal/workflowlint/ ./internal/scaffold/

# The race detector over the orchestrator, the harness and the fleets, short
# mode (Docker tests skip: the engine's own latency under -race's 5-10x
# slowdown would only test the engine). About 2 minutes here, most of it the
# instrumented build.
RACE_PKGS ?= ./orchestrator/... ./harness/... ./fakes/...
race:
	$(GO) test -race -short -count=1 -timeout 10m $(RACE_PKGS)

# Fuzz smoke runs: request decoding of the API and scenario parsing. Budgets
# are counts of inputs, not durations: go1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" when a duration runs out
# under load (golang/go#75804, fixed in go1.27; it failed CI here once).
# FUZZSCALE multiplies every count (about 5 s each on this machine at 1).
# The API's targets run under the race detector: a handler that shares a
# stored document across requests is found there (about 40 s each at 1).
FUZZSCALE ?= 2
fuzz:
	$(GO) test -race -run '^$$' -fuzz '^FuzzPutScaleSet$$' -fuzztime $$((4000 * $(FUZZSCALE)))x ./orchestrator/api/
	$(GO) test -race -run '^$$' -fuzz '^FuzzPatchScaleSet$$' -fuzztime $$((400 * $(FUZZSCALE)))x ./orchestrator/api/
	$(GO) test -race -run '^$$' -fuzz '^FuzzDecodeModel$$' -fuzztime $$((8000 * $(FUZZSCALE)))x ./orchestrator/api/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((25000 * $(FUZZSCALE)))x ./harness/scenario/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $$((10000 * $(FUZZSCALE)))x ./harness/scenario/

# Removes build output, reports, and every Docker resource labelled as
# osupgrade's (nothing else).
clean:
	@if docker info >/dev/null 2>&1; then $(GO) run ./cmd/osupgrade clean; fi
	rm -rf bin $(OUT)

# Gherkin features (features/README.md): every scenario on the simulated
# fleet; with OSUPGRADE_FLEET=docker, then the @docker ones on containers.
.PHONY: features
features:
	OSUPGRADE_FLEET=sim $(GO) test -count=1 ./features/...
	@if [ "$$OSUPGRADE_FLEET" = docker ]; then \
		echo "OSUPGRADE_FLEET=docker $(GO) test -count=1 -run TestFeatures ./features/..."; \
		OSUPGRADE_FLEET=docker $(GO) test -count=1 -run TestFeatures ./features/...; \
	fi

# Benchmarks (bench/, docs in `osupgrade bench -h`): simulated rollouts at
# 10^3..10^6, the fleet case (one platform version over 10..10,000 sets of
# 100 or 1,000 instances in 30 regions, makespan against its lower bounds),
# serve's GET latency with 1,000 sets rolling, the planner alone, and Docker
# at 50/100/200 containers next to the engine's limit and Swarm; writes
# $(OUT)/bench.{json,md,html,txt} and compares with bench/baseline.json.
# `make bench BENCHFLAGS=--quick` is CI's (sim up to 10^5, fleets of 10 and
# 100 sets of 100, serve with 100 sets, Docker 50); `make bench-fleet` the fleet case alone, every
# size. `go test -bench . ./bench/` gives the simulated figures in
# benchstat's format.
BENCHFLAGS ?=
.PHONY: bench
bench: build
	$(BIN) bench --out $(OUT) $(BENCHFLAGS)

.PHONY: bench-fleet
bench-fleet: build
	$(BIN) bench --only fleet --out $(OUT) $(BENCHFLAGS)

# Nightly chaos: random scenarios from a seed checked against I-1..I-7, a
# failing case shrunk into $(OUT)/; plus the checker's self-test (every
# planted planner bug must be caught). Defaults: 1000 runs on sim, 5 on
# docker (skipped with a message when the engine does not answer).
CHAOS_SEED        ?= $(shell date +%Y%m%d)
CHAOS_RUNS        ?= 1000
CHAOS_DOCKER_RUNS ?= 5
.PHONY: chaos
chaos: build
	$(GO) test -count=1 -run 'TestMutationsCaught' -v ./harness/ | grep -E 'mutation score|FAIL|ok'
	$(BIN) chaos --fleet sim --seed $(CHAOS_SEED) --runs $(CHAOS_RUNS) --out $(OUT)
	@if docker info >/dev/null 2>&1; then \
		$(BIN) chaos --fleet docker --seed $(CHAOS_SEED) --runs $(CHAOS_DOCKER_RUNS) --time-scale $(TIME_SCALE) --out $(OUT); \
	else echo "chaos: the Docker engine does not answer: docker runs skipped"; fi

# Soak (`osupgrade soak -h`): `serve --fleet sim` as a child on 127.0.0.1,
# mixed API load from loopback for SOAK_DURATION (planned rollouts with
# faults, churn, reads); fails on any 5xx, on RSS, goroutines or open fds
# not flat, or on a rollout that ends unlike its twin (the same requests
# replayed alone on the virtual clock). Writes $(OUT)/soak.json, serve.log.
SOAK_DURATION ?= 10m
.PHONY: soak
soak: build
	$(BIN) soak --duration $(SOAK_DURATION) --out $(OUT)

# A real three-node Docker Swarm on this machine (root, Linux): each node a
# dockerd in its own network namespace under $(SWARM_DIR), zones 1..3, the
# manager on node 1 (`osupgrade swarm -h`). swarm-down removes all of it.
SWARM_DIR ?= /tmp/osupgrade-swarm
.PHONY: swarm-up swarm-down
swarm-up: build
	$(BIN) swarm up --dir $(SWARM_DIR) --nodes 3
swarm-down: build
	$(BIN) swarm down --dir $(SWARM_DIR)
