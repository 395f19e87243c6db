#include "guest/lapic.h"

#include "guest/asm_defs.h"
#include "guest/io.h"

#define LAPIC_REG_ID            0x020
#define LAPIC_REG_TPR           0x080
#define LAPIC_REG_SVR           0x0F0
#define LAPIC_REG_LVT_TIMER     0x320
#define LAPIC_REG_TIMER_INITIAL 0x380
#define LAPIC_REG_TIMER_DIVIDE  0x3E0

#define LAPIC_SVR_ENABLE        0x100
#define LAPIC_TIMER_DIVIDE_BY_1 0xB
#define LAPIC_LVT_ONE_SHOT      0x0     /* mode bits 17..18 clear, unmasked */

static void lapic_write(uint32_t reg, uint32_t value)
{
	mmio_write32(LAPIC_BASE + reg, value);
}

void lapic_enable(void)
{
	lapic_write(LAPIC_REG_TPR, 0);
	lapic_write(LAPIC_REG_SVR, LAPIC_SVR_ENABLE | VECTOR_SPURIOUS);
	lapic_write(LAPIC_REG_TIMER_DIVIDE, LAPIC_TIMER_DIVIDE_BY_1);
	lapic_write(LAPIC_REG_LVT_TIMER, LAPIC_LVT_ONE_SHOT | VECTOR_LAPIC_TIMER);
}

uint32_t lapic_id(void)
{
	return mmio_read32(LAPIC_BASE + LAPIC_REG_ID) >> 24;
}

void lapic_timer_arm(uint32_t count)
{
	lapic_write(LAPIC_REG_TIMER_INITIAL, count);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_REG_TIMER_INITIAL, 0);
}
