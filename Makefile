# osupgrade — see README.md. `make run` is the main job, `make test` the tests.
GO      ?= go
OUT     ?= reports/out
FLEET   ?= auto
BIN     := bin/osupgrade

.PHONY: run test vet build clean

build:
	$(GO) build -o $(BIN) ./cmd/osupgrade

# The main job: every scenario on the default fleet (docker when the engine
# answers, sim otherwise), a summary table, JSON results in $(OUT)/.
run: build
	$(BIN) run --fleet $(FLEET) --out $(OUT) scenarios/

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 14m ./...

clean:
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
# 10^3..10^6, the planner alone, and Docker at 50/100/200 containers next to
# the engine's limit and Swarm; writes $(OUT)/bench.{json,md,html,txt} and
# compares with bench/baseline.json. `make bench BENCHFLAGS=--quick` is CI's
# (sim up to 10^5, Docker 50). `go test -bench . ./bench/` gives the same
# simulated figures in benchstat's format.
BENCHFLAGS ?=
.PHONY: bench
bench: build
	$(BIN) bench --out $(OUT) $(BENCHFLAGS)
