# medseg: `make run` builds everything and opens the demo case; `make test` runs the tests.
MEDSEG_HOME ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/medseg
export MEDSEG_HOME
DEMO := $(MEDSEG_HOME)/demo

.PHONY: setup build run test clean

setup:
	bash scripts/setup.sh

build: setup
	swift build -c release

# Until the workbench lands (issue 4), `run` describes the demo case.
run: build
	.build/release/medseg info $(DEMO)/ch2.nii.gz $(DEMO)/aal.nii.gz

# Numeric code is 10-100x slower in debug builds, so the tests run in release with testability on.
test: setup
	swift test -c release -Xswiftc -enable-testing

clean:
	rm -rf .build
