# Entry points for developers and CI. `make test` is what CI runs (.ci/run)
# and what the README tells contributors to run: lint, the cgo-free build, and
# every test against real Kafka and Pulsar brokers that it starts and stops.
# See docs/CONTRIBUTING-brokers.md for the brokers.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
# Tools live in a git-ignored folder, never in the user's GOPATH/bin.
BIN := $(CURDIR)/.cache/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
TEST_TIMEOUT ?= 15m

.PHONY: test unit lint vet fmt staticcheck nocgo smoke bench brokers-up brokers-down brokers-status postgres-up postgres-down

# The broker restart tests kill brokers every other package shares, so they
# run on their own after everything else.
RESTART_TESTS := ^Test(Kafka|Pulsar)RestartKeepsData$$

# The servers the tests need: PostgreSQL (scripts/postgres.sh) and the
# brokers, each started before and stopped after the command that follows.
WITH_SERVERS := scripts/postgres.sh run -- scripts/brokers.sh run all --

test: lint nocgo ## lint, cgo-free build, then all tests (race detector) against real brokers and PostgreSQL
	$(WITH_SERVERS) bash -c '$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -skip "$(RESTART_TESTS)" ./... \
		&& EVENTBUS_TEST_RESTART=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run "$(RESTART_TESTS)" -v ./internal/smoke/'

# Broker tests skip without their EVENTBUS_TEST_* variables, also under CI.
unit: ## all tests that need no broker
	env -u CI -u EVENTBUS_TEST_KAFKA -u EVENTBUS_TEST_KAFKA_SASL -u EVENTBUS_TEST_KAFKA_TLS -u EVENTBUS_TEST_KAFKA_TLS_CA -u EVENTBUS_TEST_PULSAR -u EVENTBUS_TEST_PULSAR_ADMIN -u EVENTBUS_TEST_POSTGRES \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

lint: vet fmt staticcheck ## go vet, gofmt, staticcheck

vet:
	$(GO) vet ./...

fmt:
	@files=$$(gofmt -l .); if [[ -n $$files ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

# Only the Kafka driver may need cgo (confluent-kafka-go wraps librdkafka): every
# package that does not depend on confluent-kafka-go, whoever adds it, must
# build with CGO_ENABLED=0 so that users of the other backends can cross-compile.
nocgo: ## build every package that does not import confluent-kafka-go with CGO_ENABLED=0
	@pkgs=$$($(GO) list -e -f '{{if .GoFiles}}{{.ImportPath}}{{range .Deps}} {{.}}{{end}}{{end}}' ./... \
		| grep -v 'github.com/confluentinc/confluent-kafka-go' | cut -d' ' -f1); \
	echo "CGO_ENABLED=0 go build:" $$pkgs; \
	[[ -z $$pkgs ]] || CGO_ENABLED=0 $(GO) build $$pkgs

smoke: ## the raw-client smoke tests of the brokers alone
	scripts/brokers.sh run all -- $(GO) test -count=1 -v ./internal/smoke/

bench: ## benchmarks, against real brokers and PostgreSQL
	$(WITH_SERVERS) $(GO) test -run '^$$' -bench . ./...

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
