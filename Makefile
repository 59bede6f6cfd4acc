# The front door. Every target first installs what is missing (idempotent).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CTEST := ctest --output-on-failure -j$(JOBS)

.PHONY: all deps build demo test test-host test-cross test-asan bench cross clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset host-debug >/dev/null
	@cmake --build build/host-debug -j$(JOBS)

demo: build
	@./scripts/demo.sh build/host-debug

test-host: build
	@cd build/host-debug && $(CTEST)

# ARM targets: cross-built, their tests run under qemu-user.
test-cross: deps
	@cmake --preset aarch64 >/dev/null
	@cmake --build build/aarch64 -j$(JOBS)
	@cd build/aarch64 && $(CTEST)

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j$(JOBS)
	@cd build/asan && $(CTEST)

# CI=true adds the sanitizer build.
test: test-host test-cross
	@if [ "$${CI:-}" = "true" ]; then $(MAKE) --no-print-directory test-asan; fi

bench: deps
	@cmake --preset host-release >/dev/null
	@cmake --build build/host-release -j$(JOBS)
	@./scripts/bench.sh build/host-release

cross: deps
	@for p in aarch64 armhf; do cmake --preset $$p >/dev/null && cmake --build build/$$p -j$(JOBS) || exit 1; done

clean:
	@rm -rf build
