# A multiboot kernel for the -d trace test (tests/integration/trace_test.cpp):
# turns on 32-bit paging with a known mapping (linear 0x40000000 -> physical
# 0x200000 through a second page table), checks it, invalidates that page, makes
# two guest errors (a read of an unassigned port, a write to the RTC's read-only
# register C) and powers off the ACPI way (exit status 0). Exit 0x55 through
# isa-debug-exit when the mapping does not work.
  .section .text
  .code32
  .globl _start
  .align 4
mb: .long 0x1BADB002, 0x00000000, -(0x1BADB002)
  .set PD, 0x120000
  .set PT0, 0x121000
  .set PT1, 0x122000
_start:
  mov $PD, %edi          # clear the page directory and both tables
  xor %eax, %eax
  mov $3072, %ecx
  rep stosl
  movl $(PT0 + 3), PD                # 0-4 MiB: identity
  movl $(PT1 + 3), PD + 256 * 4      # 1 GiB: PT1
  mov $PT0, %edi
  mov $3, %eax
  mov $1024, %ecx
1:
  mov %eax, (%edi)
  add $0x1000, %eax
  add $4, %edi
  loop 1b
  movl $0x200003, PT1                # 0x40000000 -> 0x200000
  mov $PD, %eax
  mov %eax, %cr3
  mov %cr0, %eax
  or $0x80000000, %eax
  mov %eax, %cr0
  jmp 2f
2:
  movl $0x5eed1234, 0x40000000
  cmpl $0x5eed1234, 0x200000
  jne fail
  invlpg 0x40000000
  mov $0x9999, %dx                   # nothing decodes this port
  in %dx, %al
  mov $0x0c, %al                     # RTC register C is read-only
  out %al, $0x70
  mov $0x55, %al
  out %al, $0x71
  mov $0x604, %dx                    # ACPI S5: emu exits with status 0
  mov $0x2000, %ax
  out %ax, %dx
fail:
  mov $0x55, %al
  out %al, $0xf4
  hlt
