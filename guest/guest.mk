# The built-in test guest: a freestanding, PVH-bootable ELF loaded at 1 MiB.
# Its objects live in $(BUILD)/guest/, a folder the VMM build never globs.

GUEST_SRCS := $(wildcard guest/*.c)
GUEST_ASMS := $(wildcard guest/*.S)
GUEST_OBJS := $(GUEST_SRCS:%.c=$(BUILD)/%.o) $(GUEST_ASMS:%.S=$(BUILD)/%.o)

# No SSE (so no FPU state to set up in entry), no red zone (interrupts use the
# same stack), absolute addresses below 2 GiB (the image sits at 1 MiB).
GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -I. -MMD -MP \
	-ffreestanding -fno-pic -fno-pie -mno-red-zone -fno-stack-protector \
	-mgeneral-regs-only -mcmodel=small -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fcf-protection=none -fno-common
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/guest.ld -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack

$(BUILD)/guest/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/%.o: guest/%.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest.elf: $(GUEST_OBJS) guest/guest.ld
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS) -lgcc

-include $(GUEST_OBJS:.o=.d)
