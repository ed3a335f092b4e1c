# Entry points for developers and CI. `make test` is what CI runs (.ci/run)
# and what the README tells contributors to run: lint, the cgo-free build, and
# every test against real Kafka and Pulsar brokers that it starts and stops.
# See docs/CONTRIBUTING-brokers.md for the brokers.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
# The repository is a workspace of modules (go.work): the library (bus,
# memory), the heavy drivers kafka/ and pulsar/, outbox/, the command, the
# examples, the integration tests and the comparison benchmarks (bench/)
# each have their own go.mod, so that a program pays only for what it
# imports. PKGS is every package of all of them; ./... would stop at the
# first nested module.
MODULE := github.com/eventbus-go/eventbus
PKGS := $(MODULE)/...
MODULE_DIRS := $(shell $(GO) list -m -f '{{.Dir}}' 2>/dev/null)
# Tools live in a git-ignored folder, never in the user's GOPATH/bin.
BIN := $(CURDIR)/.cache/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
TEST_TIMEOUT ?= 15m

.PHONY: test tmux unit lint vet fmt staticcheck modules nocgo smoke bench bench-compare fuzz brokers-up brokers-down brokers-status postgres-up postgres-down

# The broker restart tests kill brokers every other package shares, so they
# run on their own after everything else.
RESTART_TESTS := ^Test(Kafka|Pulsar)RestartKeepsData$$|^TestPulsarRestartMidStream$$
# The fault tests of integration/failover run apart: the Kafka cluster test in a
# 3-node cluster started for it alone, once the single brokers have stopped.
FAILOVER := ./integration/failover/
CLUSTER_TESTS := ^TestKafkaCluster

# The servers the tests need: PostgreSQL (scripts/postgres.sh) and the
# brokers, each started before and stopped after the command that follows.
WITH_SERVERS := scripts/postgres.sh run -- scripts/brokers.sh run all --

test: lint nocgo fuzz tmux ## lint, cgo-free build, fuzzing, then all tests (race detector) against real brokers and PostgreSQL
	$(WITH_SERVERS) bash -c '$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -skip "$(RESTART_TESTS)" \
			$$($(GO) list $(PKGS) | grep -v /integration/failover) \
		&& EVENTBUS_TEST_RESTART=1 $(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) -run "$(RESTART_TESTS)" -v ./integration/smoke/ $(FAILOVER)'
	scripts/brokers.sh run kafka-cluster -- $(GO) test -race -count=1 -timeout 5m -run '$(CLUSTER_TESTS)' -v $(FAILOVER)

# Every Go fuzz target runs for FUZZTIME on top of its seed corpus (the
# f.Add seeds and the package's testdata/fuzz/<target>/ files); a failure
# saves its input to testdata/fuzz for the regular tests to replay. The
# budget is a count of inputs, a few seconds' worth each: a duration budget
# fails now and then on a loaded machine with a bare "context deadline
# exceeded" and no input, a race in Go 1.26's fuzz coordinator
# (https://go.dev/issue/75804, fixed in Go 1.27).
# The eventbus command's terminal tests drive it through tmux; as root on a
# Debian machine without it, install it.
tmux:
	@command -v tmux >/dev/null || { [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq tmux >/dev/null; } \
		|| { echo "make test needs tmux: apt-get install tmux"; exit 1; }

FUZZTIME ?= 40000x

fuzz: ## run every fuzz target for FUZZTIME (40000 inputs, a few seconds) each
	@grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			echo "fuzz $$(dirname "$$file") $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) "$$(dirname "$$file")" || exit 1; \
		done; \
	done

# Broker tests skip without their EVENTBUS_TEST_* variables, also under CI.
unit: ## all tests that need no broker
	env -u CI -u EVENTBUS_TEST_KAFKA -u EVENTBUS_TEST_KAFKA_SASL -u EVENTBUS_TEST_KAFKA_TLS -u EVENTBUS_TEST_KAFKA_TLS_CA -u EVENTBUS_TEST_PULSAR -u EVENTBUS_TEST_PULSAR_ADMIN -u EVENTBUS_TEST_KAFKA_CLUSTER -u EVENTBUS_TEST_KAFKA_TOOLS -u EVENTBUS_TEST_POSTGRES \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

lint: vet fmt staticcheck modules ## go vet, gofmt, staticcheck, every module complete on its own

vet:
	$(GO) vet $(PKGS)

fmt:
	@files=$$(gofmt -l .); if [[ -n $$files ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

# Outside the workspace (GOWORK=off), as a user's build sees it, every
# module's go.mod and go.sum must name all it needs, tests included.
modules:
	@for dir in $(MODULE_DIRS); do \
		(cd "$$dir" && GOWORK=off $(GO) list -deps -test ./... >/dev/null) || { echo "module $$dir is incomplete on its own: GOWORK=off go mod tidy -e in it"; exit 1; }; \
	done

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

# Only the Kafka driver may need cgo (confluent-kafka-go wraps librdkafka): every
# package that does not depend on confluent-kafka-go, whoever adds it, must
# build with CGO_ENABLED=0 so that users of the other backends can cross-compile.
nocgo: ## build every package that does not import confluent-kafka-go with CGO_ENABLED=0
	@pkgs=$$($(GO) list -e -f '{{if .GoFiles}}{{.ImportPath}}{{range .Deps}} {{.}}{{end}}{{end}}' $(PKGS) \
		| grep -v 'github.com/confluentinc/confluent-kafka-go' | cut -d' ' -f1); \
	echo "CGO_ENABLED=0 go build:" $$pkgs; \
	[[ -z $$pkgs ]] || CGO_ENABLED=0 $(GO) build $$pkgs

smoke: ## the raw-client smoke tests of the brokers alone
	scripts/brokers.sh run all -- $(GO) test -count=1 -v ./integration/smoke/

bench: ## benchmarks, against real brokers and PostgreSQL
	$(WITH_SERVERS) $(GO) test -run '^$$' -bench . $(PKGS)

# The comparison with other libraries lives in its own module, bench/, so
# that its dependencies (Watermill, franz-go, ...) never reach the root
# module. It writes bench/results/latest.md (the tables), latest.json (every
# run) and latest.log (the contenders' logs). BENCH_BACKENDS picks the
# backends, and only their brokers start; BENCH_ARGS passes flags, e.g.
# BENCH_ARGS='-runs 1'; bench-compare -h lists them.
BENCH_COMPARE := $(BIN)/bench-compare
BENCH_ARGS ?=
BENCH_BACKENDS ?= kafka,pulsar,memory
bench_kafka := $(findstring kafka,$(BENCH_BACKENDS))
bench_pulsar := $(findstring pulsar,$(BENCH_BACKENDS))
bench_brokers := $(if $(bench_kafka),$(if $(bench_pulsar),all,kafka),$(if $(bench_pulsar),pulsar))
comma := ,
bench_versions := $(if $(bench_kafka),Apache Kafka $$KAFKA_VERSION (KRaft$(comma) 1 broker))$(if $(and $(bench_kafka),$(bench_pulsar)),$(comma) )$(if $(bench_pulsar),Apache Pulsar $$PULSAR_VERSION (standalone))

bench-compare: ## eventbus against raw clients, franz-go and Watermill (median of 3 runs), into bench/results/latest.md
	cd bench && $(GO) build -o $(BENCH_COMPARE) ./cmd/bench-compare
	source scripts/versions.sh && $(if $(bench_brokers),scripts/brokers.sh run $(bench_brokers) --) $(BENCH_COMPARE) \
		-out bench/results/latest.md -backends $(BENCH_BACKENDS) $(if $(bench_versions),-broker-versions "$(bench_versions)") $(BENCH_ARGS)

brokers-up: ## start Kafka and Pulsar (or only one: scripts/brokers.sh up kafka)
	scripts/brokers.sh up

brokers-down: ## stop them and delete their data
	scripts/brokers.sh down

brokers-status:
	scripts/brokers.sh status

postgres-up: ## start the test PostgreSQL (127.0.0.1:55432); prints the variable to export
	scripts/postgres.sh up

postgres-down: ## stop it and delete its data
	scripts/postgres.sh down
