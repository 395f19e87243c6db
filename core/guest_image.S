/* Embeds build/guest.elf so `iovirt run` needs no files. */
	.section .rodata.guest_image, "a"
	.balign 16
	.globl guest_image_start
guest_image_start:
	.incbin GUEST_ELF_PATH
	.globl guest_image_end
guest_image_end:
	.section .note.GNU-stack, "", @progbits
