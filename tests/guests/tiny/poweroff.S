# A multiboot kernel that powers the machine off the ACPI way: SLP_TYP = S5 (0 on
# a PIIX4 PM block) with SLP_EN (bit 13) written to PM1a_CNT at 0x604, as the
# FADT says. emu must exit with status 0.
  .section .text
  .code32
  .globl _start
  .align 4
mb: .long 0x1BADB002, 0x00000000, -(0x1BADB002)
_start:
  mov $0x604, %dx
  mov $0x2000, %ax
  out %ax, %dx
  # Not reached when poweroff works: report failure through isa-debug-exit.
  mov $0x55, %al
  out %al, $0xf4
  hlt
