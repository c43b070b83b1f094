# privatelink-approver: build, test and demo.
#
#   make demo    the approver end to end on this machine (no AWS account)
#   make test    everything CI runs: lint, unit tests, end-to-end tests, template checks
#   make help    every target
#
# Tools this Makefile expects (checked by `make check-tools`): Go, and a
# python3 with moto, cfn-lint, aws-sam-translator and awscli installed.
# `make tools` installs the Go tools it needs (the Lambda Runtime Interface
# Emulator and staticcheck) into ./bin from the Go module proxy.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
GO ?= go
BIN := $(CURDIR)/bin
BOOTSTRAP := $(BIN)/bootstrap
APPROVERCTL := $(BIN)/approverctl
RIE := $(BIN)/aws-lambda-rie
STATICCHECK := $(BIN)/staticcheck

# The release version (VERSION holds it; the template's SemanticVersion and
# CHANGELOG.md follow it) and the commit, stamped into both binaries.
VERSION := $(shell cat VERSION)
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
VERSION_PKG := github.com/privatelink-approver/privatelink-approver/pkg/version
STAMP := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)
DIST := $(CURDIR)/dist

RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2

# The function is built without cgo and without the RPC entry point, as the
# provided.al2023 runtime wants. Everything but the race detector builds with
# cgo off, so vet, staticcheck, the local build and the end-to-end tests share
# one build cache (the SDK's EC2 package alone takes a minute to compile).
export CGO_ENABLED := 0
GO_LAMBDA_FLAGS := -tags lambda.norpc -ldflags="-s -w $(STAMP)"
GO_CLI_FLAGS := -ldflags="$(STAMP)"
GO_RELEASE_CLI_FLAGS := -ldflags="-s -w $(STAMP)"

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-24s %s\n", $$1, $$2}'

.PHONY: check-tools
check-tools: ## stop with a clear message when a required tool is missing
	@command -v $(GO) >/dev/null || { echo "missing: Go (https://go.dev/dl); put it on PATH"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "missing: $(PYTHON); set PYTHON=/path/to/python3"; exit 1; }
	@$(PYTHON) -c 'import moto' 2>/dev/null || { echo "missing: moto for $(PYTHON) (pip install 'moto[server]==5.2.1')"; exit 1; }
	@$(PYTHON) -c 'import cfnlint' 2>/dev/null || { echo "missing: cfn-lint for $(PYTHON) (pip install cfn-lint)"; exit 1; }
	@$(PYTHON) -c 'import samtranslator' 2>/dev/null || { echo "missing: aws-sam-translator for $(PYTHON) (pip install aws-sam-translator)"; exit 1; }
	@$(PYTHON) -c 'import awscli' 2>/dev/null || { echo "missing: awscli for $(PYTHON) (pip install awscli)"; exit 1; }

.PHONY: tools
tools: $(RIE) $(STATICCHECK) ## install the Go tools the tests need into ./bin

$(RIE):
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: build
build: ## build the function (bin/bootstrap) and approverctl for this machine, as the tests and demo run them
	$(GO) build $(GO_LAMBDA_FLAGS) -o $(BOOTSTRAP) ./functions/approver
	$(GO) build $(GO_CLI_FLAGS) -o $(APPROVERCTL) ./cmd/approverctl

# SAM's makefile contract: `sam build` runs this with ARTIFACTS_DIR set.
.PHONY: build-ApproverFunction
build-ApproverFunction: ## (sam build) the function for Lambda: linux/arm64 into $(ARTIFACTS_DIR)
	GOOS=linux GOARCH=arm64 $(GO) build $(GO_LAMBDA_FLAGS) -trimpath -o $(ARTIFACTS_DIR)/bootstrap ./functions/approver

.PHONY: test
test: check-tools tools lint test-docs test-unit test-fuzz test-e2e test-acceptance test-template ## everything CI runs

.PHONY: docs
docs: ## write the reference tables of the docs from the code (environment, decision fields, results, metrics)
	$(GO) run ./hack/docgen

.PHONY: test-docs
test-docs: ## fail when the docs' generated tables differ from the code, or the version is not the same everywhere
	$(GO) run ./hack/docgen -check
	@grep -q "SemanticVersion: $(VERSION)$$" template.yaml || { echo "template.yaml's SemanticVersion is not VERSION ($(VERSION))"; exit 1; }
	@grep -q "^## \[$(VERSION)\]" CHANGELOG.md || { echo "CHANGELOG.md has no section for VERSION ($(VERSION))"; exit 1; }

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./test/...

.PHONY: test-unit
test-unit: ## unit tests, with the race detector
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Fuzz targets: the policy parser and the event decoder. Seeds are in each
# package's testdata/fuzz; `make test` runs each briefly, `make fuzz` longer.
FUZZ_TARGETS := ./pkg/policy:FuzzParse ./pkg/policy:FuzzCompose ./pkg/trigger:FuzzDecode ./pkg/awsid:FuzzServiceIDsInMatchesTheRegexp
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 60s; or a count such as 100000x)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

# make test bounds the run by a count of executions, not a duration: Go 1.26's
# fuzz coordinator can fail a clean run with "context deadline exceeded" when
# a -fuzztime duration expires under load (golang/go#75804, fixed in Go 1.27).
.PHONY: test-fuzz
test-fuzz: ## a short bounded fuzz run of each target (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=50000x

.PHONY: test-e2e
test-e2e: check-tools build $(RIE) ## the real binary under the runtime emulator against moto
	APPROVER_BOOTSTRAP=$(BOOTSTRAP) APPROVERCTL=$(APPROVERCTL) AWS_LAMBDA_RIE=$(RIE) PYTHON=$(PYTHON) \
		$(GO) test -tags e2e -count=1 -timeout 15m ./test/e2e

# The acceptance test (test/acceptance): `make acceptance` against a stack
# deployed in a real account (it says which variables to set); make test
# runs the very same steps against the local stack. Built, not `go run`, to
# keep its exit codes (0 verified, 1 failed, 2 not configured).
.PHONY: acceptance
ACCEPTANCE_VARIABLES := ACCEPTANCE_PROVIDER_PROFILE ACCEPTANCE_CONSUMER_PROFILE ACCEPTANCE_STACK_NAME ACCEPTANCE_POLICY_PARAMETER ACCEPTANCE_SERVICE_TAG

acceptance: ## the acceptance test against a deployed stack in your AWS account (docs/deploy.md, Check it in your account)
	@missing=""; for v in $(ACCEPTANCE_VARIABLES); do [ -n "$${!v:-}" ] || missing="$$missing $$v"; done; \
	if [ -n "$$missing" ]; then \
		echo "make acceptance: set$$missing (see docs/deploy.md, Check it in your account); nothing was built or called"; exit 2; \
	fi
	@$(MAKE) --no-print-directory build
	$(GO) build -o $(BIN)/acceptance ./test/acceptance
	$(BIN)/acceptance -approverctl $(APPROVERCTL)

.PHONY: test-acceptance
test-acceptance: check-tools build $(RIE) ## the acceptance test's steps against the local stack (part of make test)
	$(GO) build -o $(BIN)/acceptance ./test/acceptance
	$(BIN)/acceptance -local -bootstrap $(BOOTSTRAP) -approverctl $(APPROVERCTL) -rie $(RIE) -python $(PYTHON)

.PHONY: test-template
test-template: check-tools ## cfn-lint the templates (and the main one's SAM translations) and check their contracts
	$(PYTHON) test/template/check.py template.yaml --org-reader org/org-reader-role.yaml --org org
	$(PYTHON) hack/package.py template.yaml --code-bucket-prefix example-artifacts --code-key privatelink-approver/$(VERSION)/function.zip -o $(BIN)/package-check/template.json
	$(PYTHON) test/localaws/smoke_test.py

.PHONY: demo
demo: check-tools build $(RIE) ## run the approver end to end against a local AWS, then stop it
	$(GO) run ./test/demo -bootstrap $(BOOTSTRAP) -approverctl $(APPROVERCTL) -rie $(RIE) -python $(PYTHON)

.PHONY: bench
bench: check-tools build $(RIE) ## measure cold start, AWS calls for a burst and policy evaluation; write BENCHMARKS.md
	$(GO) build $(GO_LAMBDA_FLAGS) -o $(BIN)/floor ./test/bench/floor
	$(GO) run ./test/bench -bootstrap $(BOOTSTRAP) -floor $(BIN)/floor -rie $(RIE) -python $(PYTHON) -out BENCHMARKS.md

# A release: approverctl for Linux and macOS on amd64 and arm64, the
# function's arm64 zip (bootstrap at its root, as provided.al2023 wants),
# the template, and their SHA-256 sums. Built from a clean checkout of a
# tagged commit, with the version and commit stamped in.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: release
release: check-tools ## build dist/: approverctl per platform, the function's zip, the template, SHA256SUMS
	rm -rf $(DIST) && mkdir -p $(DIST)/function
	@for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "approverctl $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -trimpath $(GO_RELEASE_CLI_FLAGS) -o $(DIST)/approverctl_$(VERSION)_$${os}_$${arch} ./cmd/approverctl; \
	done
	GOOS=linux GOARCH=arm64 $(GO) build $(GO_LAMBDA_FLAGS) -trimpath -o $(DIST)/function/bootstrap ./functions/approver
	cd $(DIST)/function && $(PYTHON) -m zipfile -c $(DIST)/privatelink-approver-function_$(VERSION)_linux_arm64.zip bootstrap
	rm -rf $(DIST)/function
	sed 's|^      CodeUri: \.$$|      CodeUri: privatelink-approver-function_$(VERSION)_linux_arm64.zip|' template.yaml > $(DIST)/template.yaml
	@grep -q 'CodeUri: privatelink-approver-function_' $(DIST)/template.yaml || { echo "release: the template's CodeUri was not pointed at the zip"; exit 1; }
	cd $(DIST) && sha256sum * > SHA256SUMS
	@echo "wrote $(DIST):" && ls -l $(DIST)

# The template for service-managed StackSets (which take no transform):
# plain CloudFormation, the function's code read from the S3 bucket
# CODE_BUCKET_PREFIX-REGION of each Region (docs/deploy.md, One policy for
# an organization).
CODE_KEY ?= privatelink-approver/$(VERSION)/function.zip

.PHONY: package
package: check-tools ## dist/template.json (plain CloudFormation for StackSets) and dist/function.zip, for CODE_BUCKET_PREFIX=NAME
	@[ -n "$(CODE_BUCKET_PREFIX)" ] || { echo "make package: set CODE_BUCKET_PREFIX=NAME: the function's code is read from the bucket NAME-REGION of each Region"; exit 2; }
	mkdir -p $(DIST)/package-build
	GOOS=linux GOARCH=arm64 $(GO) build $(GO_LAMBDA_FLAGS) -trimpath -o $(DIST)/package-build/bootstrap ./functions/approver
	rm -f $(DIST)/function.zip && cd $(DIST)/package-build && $(PYTHON) -m zipfile -c $(DIST)/function.zip bootstrap
	rm -rf $(DIST)/package-build
	$(PYTHON) hack/package.py template.yaml --code-bucket-prefix $(CODE_BUCKET_PREFIX) --code-key $(CODE_KEY) -o $(DIST)/template.json
	@echo "upload $(DIST)/function.zip to s3://$(CODE_BUCKET_PREFIX)-REGION/$(CODE_KEY) in every Region the stack set deploys to"

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN) $(DIST) .aws-sam
