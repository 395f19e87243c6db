/* Identity map of 0..4 GiB with 2 MiB pages, built by the assembler so the
 * entry code spends no instructions on it. The fourth GiB holds the PCI MMIO
 * window (0xC0000000) and the LAPIC (0xFEE00000): uncached there.
 * Every entry is user-accessible so iovirt.cpl=3 can run the drivers' loop
 * (image, DMA pages, BARs, LAPIC) in ring 3 without a second set of tables;
 * CR4 leaves SMEP and SMAP off, so ring 0 still reaches all of it. */
#define PTE_PRESENT  (1 << 0)
#define PTE_WRITE    (1 << 1)
#define PTE_USER     (1 << 2)
#define PTE_PWT      (1 << 3)
#define PTE_PCD      (1 << 4)
#define PTE_LARGE    (1 << 7)

#define PTE_TABLE (PTE_PRESENT | PTE_WRITE | PTE_USER)
#define PDE_RAM   (PTE_TABLE | PTE_LARGE)
#define PDE_MMIO  (PDE_RAM | PTE_PWT | PTE_PCD)

	.section .data.page_tables, "aw"
	.balign 4096
	.globl page_table_pml4
page_table_pml4:
	.quad page_table_pdpt + PTE_TABLE
	.fill 511, 8, 0

page_table_pdpt:
	.quad page_table_pd + 0x0000 + PTE_TABLE
	.quad page_table_pd + 0x1000 + PTE_TABLE
	.quad page_table_pd + 0x2000 + PTE_TABLE
	.quad page_table_pd + 0x3000 + PTE_TABLE
	.fill 508, 8, 0

/* Four page directories back to back: 2048 entries of 2 MiB. */
page_table_pd:
	.set pde_addr, 0
	.rept 1536
	.quad pde_addr + PDE_RAM
	.set pde_addr, pde_addr + 0x200000
	.endr
	.rept 512
	.quad pde_addr + PDE_MMIO
	.set pde_addr, pde_addr + 0x200000
	.endr
