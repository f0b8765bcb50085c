# medseg: `make run` builds everything and opens the demo case; `make test` runs the tests.
MEDSEG_HOME ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/medseg
export MEDSEG_HOME
DEMO := $(MEDSEG_HOME)/demo
# Let the compiler use AVX-512, or else AVX2 and FMA, where the CPU has them (docs/DECISIONS.md);
# plain `swift build` stays portable to any x86-64. On AMD Zen 4 and later (AVX-512 BF16 and
# AMD's SSE4a) the target is znver4, whose tuning vectorises loops 512 bits wide; skylake-avx512's
# tuning keeps them at 256 bits (measured 5% slower encoder on Zen 4).
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has = $(findstring $(1),$(CPU_FLAGS))
TARGET_CPU := $(if $(and $(call has,avx512_bf16),$(call has,sse4a)),znver4,$(if $(and $(call has,avx512bw),$(call has,avx512vl)),skylake-avx512,$(if $(and $(call has,avx2),$(call has,fma)),haswell)))
SWIFT_FLAGS ?= $(if $(TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(TARGET_CPU))

.PHONY: setup build run test clean

setup:
	bash scripts/setup.sh

MODEL8 := $(MEDSEG_HOME)/models/lite_medsam.int8.medseg

# After a build, the int8 model file is (re)made when missing or older than the binary.
build: setup
	swift build -c release $(SWIFT_FLAGS)
	@if [ ! -f "$(MODEL8)" ] || [ .build/release/medseg -nt "$(MODEL8)" ]; then .build/release/medseg convert; fi

# Opens the demo MR in the workbench with the AAL atlas as ground truth.
run: build
	.build/release/medseg open $(DEMO)/ch2.nii.gz --gt $(DEMO)/aal.nii.gz

# Numeric code is 10-100x slower in debug builds, so the tests run in release with testability on.
test: setup
	swift test -c release -Xswiftc -enable-testing $(SWIFT_FLAGS)

clean:
	rm -rf .build
