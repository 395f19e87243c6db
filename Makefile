# iovirt build. Out-of-tree objects in build/; sources are found by folder so a
# new file needs no Makefile edit.

BUILD   ?= build
CC      ?= gcc
PKGS    := liburing libdpdk
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -I. -MMD -MP
DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
URING_CFLAGS := $(shell pkg-config --cflags liburing 2>/dev/null)
LIBS    := $(shell pkg-config --libs liburing libdpdk 2>/dev/null) -lpthread -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

VMM_DIRS := core iommu emulated split passthrough bench
VMM_SRCS := $(foreach d,$(VMM_DIRS),$(wildcard $(d)/*.c))
VMM_ASMS := $(foreach d,$(VMM_DIRS),$(wildcard $(d)/*.S))
VMM_OBJS := $(VMM_SRCS:%.c=$(BUILD)/%.o) $(VMM_ASMS:%.S=$(BUILD)/%.o)
# Everything but main() goes into a static library the tests link against.
LIB_OBJS := $(filter-out $(BUILD)/core/main.o,$(VMM_OBJS))

TEST_SRCS := $(wildcard tests/*.c tests/unit/*.c tests/kvm/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all deps test lab bench bench-boot clean
all: $(BUILD)/iovirt $(BUILD)/guest.elf

deps:
	@bash scripts/deps.sh

include guest/guest.mk

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(URING_CFLAGS) $(DPDK_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The test guest is embedded in the binary (core/guest_image.S includes it).
$(BUILD)/core/guest_image.o: $(BUILD)/guest.elf
$(BUILD)/core/guest_image.o: CFLAGS += -DGUEST_ELF_PATH='"$(BUILD)/guest.elf"'

$(BUILD)/libiovirt.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/iovirt: $(BUILD)/core/main.o $(BUILD)/libiovirt.a
	$(CC) -o $@ $(BUILD)/core/main.o -Wl,--whole-archive $(BUILD)/libiovirt.a -Wl,--no-whole-archive $(LIBS)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(URING_CFLAGS) $(DPDK_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/iovirt-tests: $(TEST_OBJS) $(BUILD)/libiovirt.a
	$(CC) -o $@ $(TEST_OBJS) -Wl,--whole-archive $(BUILD)/libiovirt.a -Wl,--no-whole-archive $(CHECK_LIBS) $(LIBS)

test: deps all $(BUILD)/iovirt-tests
	bash tests/run.sh

lab: deps all
	bash lab/run.sh

bench: deps all
	$(BUILD)/iovirt bench --json $(BUILD)/bench.json

bench-boot: deps all
	$(BUILD)/iovirt bench --boot --json $(BUILD)/bench-boot.json

clean:
	rm -rf $(BUILD)

-include $(VMM_OBJS:.o=.d) $(TEST_OBJS:.o=.d)
