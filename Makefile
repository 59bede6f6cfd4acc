# The front door. Every target first installs what is missing (idempotent).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CTEST := ctest --output-on-failure -j$(JOBS)
# make install: where (PREFIX) and into which staging root (DESTDIR).
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build demo test test-host test-cross test-aarch64 test-armhf test-asan test-tsan \
        soak fleet-sim bench cross install package footprint protocol-doc clean

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

# ARM targets: cross-built, their tests (unit and integration) run under qemu-user.
test-aarch64 test-armhf: test-%: deps
	@cmake --preset $* >/dev/null
	@cmake --build build/$* -j$(JOBS)
	@cd build/$* && $(CTEST)

test-cross: test-aarch64 test-armhf

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j$(JOBS)
	@cd build/asan && $(CTEST)

# ThreadSanitizer over the unit tests that call one agent from several threads
# while its sync worker runs (only those are built: a TSan build is slow).
TSAN_TESTS := test_api test_threads
test-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build build/tsan -j$(JOBS) --target $(TSAN_TESTS)
	@cd build/tsan && TSAN_OPTIONS="second_deadlock_stack=1 $${TSAN_OPTIONS:-}" $(CTEST) -R '^unit_(api|threads)$$'

# Host, aarch64, armhf, one after the other. CI=true adds the sanitizer builds.
test: test-host test-cross
	@if [ "$${CI:-}" = "true" ]; then $(MAKE) --no-print-directory test-asan test-tsan; fi

# The long form of the reliability tests (crash loops, hostile clients, faults):
# COHORT_SOAK=1 makes each use its full load and print its figures.
soak: build
	@cd build/host-debug && COHORT_SOAK=1 ctest --output-on-failure -V -L soak

# A million agents' scheduling against the API on a virtual clock: reboots,
# an outage, a 429 storm (requests per second over time; goal <= 2x steady).
fleet-sim: build
	@build/host-debug/tests/fleet/fleet_sim

bench: deps
	@cmake --preset host-release >/dev/null
	@cmake --build build/host-release -j$(JOBS)
	@./scripts/bench.sh build/host-release

# Every ARM preset: debug (with tests) and size-first release.
cross: deps
	@for p in aarch64 armhf aarch64-release armhf-release; do \
	  cmake --preset $$p >/dev/null && cmake --build build/$$p -j$(JOBS) || exit 1; \
	done

# The size-first host build, installed under $(PREFIX) (staged in $(DESTDIR)).
install: deps
	@cmake --preset host-size -B build/install -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build/install -j$(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install build/install

# Debian packages (cohortd, libcohort0, libcohort-dev) for amd64, arm64, armhf.
package: deps
	@./scripts/package.sh

# Sizes and memory of the size-first builds, host and ARM (under qemu-user).
footprint: deps
	@./scripts/footprint.sh

# docs/protocol.md's generated blocks (each method's params, from the method
# table) rewritten in place; unit_protocol_doc fails until they are.
protocol-doc: deps
	@cmake --preset host-debug >/dev/null
	@cmake --build build/host-debug -j$(JOBS) --target gen_protocol_doc
	@build/host-debug/tests/gen_protocol_doc --write docs/protocol.md

clean:
	@rm -rf build
