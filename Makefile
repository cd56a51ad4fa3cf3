# smg build. `make` builds build/smg and build/smg-sim.
#   make SAN=asan   ASan+UBSan flavour in build-asan/
#   make SAN=tsan   TSan flavour in build-tsan/
#   make run        install deps, build, start two simulated engines + the gateway
#   make test       install deps, build, run every test suite (also under ASan+UBSan)
#   make bench      benchmarks side by side with peers (nginx, haproxy)
SAN ?=
ifeq ($(SAN),)
BUILD ?= build
SANFLAGS :=
OPT ?= -O2
else ifeq ($(SAN),asan)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT ?= -O1
else ifeq ($(SAN),tsan)
BUILD ?= build-tsan
SANFLAGS := -fsanitize=thread
OPT ?= -O1
else
$(error SAN must be empty, asan or tsan)
endif

CC ?= cc
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wno-missing-field-initializers -Isrc -pthread -MMD -MP
CFLAGS += $(CFLAGS_BASE) $(SANFLAGS)
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS := -luv -lhttp_parser -ljansson -lyaml -lpcre2-8 -lutf8proc -lm

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SMG_MAIN := src/main.c
SIM_SRC := $(sort $(wildcard tools/sim/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: unit-bins all deps run test unit bench clean fuzz fuzz-replay check-banned docs
all: check-banned $(BUILD)/smg $(BUILD)/smg-sim

# V=1 shows the full commands
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsmg.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/smg: $(BUILD)/obj/src/main.o $(BUILD)/libsmg.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/smg-sim: $(SIM_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libsmg.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/unit.o $(BUILD)/libsmg.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(BUILD)

deps:
	@tools/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run-demo.sh

test: deps
	@tests/run-all.sh

bench: deps
	@bench/run.sh

check-banned:
	@tools/check-banned.sh

docs: $(BUILD)/smg
	@tools/gen-config-doc.sh $(BUILD)/smg > docs/configuration.md.tmp && mv docs/configuration.md.tmp docs/configuration.md

# libFuzzer targets (clang): the library is compiled once with coverage
# instrumentation into build-fuzz/obj, each target links against it.
FUZZ_BUILD := build-fuzz
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -pthread -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC-FUZZ $<"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/libsmg-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^
$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_BUILD)/libsmg-fuzz.a
	@echo "  LD-FUZZ $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libsmg-fuzz.a $(LDLIBS)
fuzz: $(FUZZ_BIN)
fuzz-replay: $(FUZZ_BIN)
	@tests/fuzz/replay.sh $(FUZZ_BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD)/obj $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
