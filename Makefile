# medseg: `make run` builds everything and opens the demo case; `make test` runs the tests.
MEDSEG_HOME ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/medseg
export MEDSEG_HOME
DEMO := $(MEDSEG_HOME)/demo
# Let the compiler use AVX2 and FMA where the CPU has them (docs/DECISIONS.md); plain
# `swift build` stays portable to any x86-64.
SWIFT_FLAGS ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null && echo -Xswiftc -target-cpu -Xswiftc haswell)

.PHONY: setup build run test clean

setup:
	bash scripts/setup.sh

build: setup
	swift build -c release $(SWIFT_FLAGS)

# Opens the demo MR in the workbench with the AAL atlas as ground truth.
run: build
	.build/release/medseg open $(DEMO)/ch2.nii.gz --gt $(DEMO)/aal.nii.gz

# Numeric code is 10-100x slower in debug builds, so the tests run in release with testability on.
test: setup
	swift test -c release -Xswiftc -enable-testing $(SWIFT_FLAGS)

clean:
	rm -rf .build
