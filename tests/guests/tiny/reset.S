# A multiboot kernel that counts its boots in CMOS byte 0x7e (CMOS survives a
# reset), prints "boot N" on COM1, and on the first two boots asks the keyboard
# controller for a reset (0xfe to port 0x64). On the third boot it exits through
# isa-debug-exit at 0xf4 with the boot count. With -no-reboot, emu must instead
# exit with status 0 at the first reset request.
  .section .text
  .code32
  .globl _start
  .align 4
mb: .long 0x1BADB002, 0x00000000, -(0x1BADB002)
_start:
  mov $0x7e, %al
  out %al, $0x70
  in $0x71, %al
  inc %al
  mov %al, %bl
  mov $0x7e, %al
  out %al, $0x70
  mov %bl, %al
  out %al, $0x71
  mov $msg, %esi
1: lodsb
  test %al, %al
  jz 2f
  call putc
  jmp 1b
2: mov %bl, %al
  add $'0', %al
  call putc
  mov $'\n', %al
  call putc
  cmp $3, %bl
  jae 3f
  mov $0xfe, %al
  out %al, $0x64
  hlt
3: mov %bl, %al
  out %al, $0xf4
  hlt
putc:
  mov %al, %ah
  mov $0x3fd, %dx
4: in %dx, %al
  test $0x20, %al
  jz 4b
  mov $0x3f8, %dx
  mov %ah, %al
  out %al, %dx
  ret
msg: .asciz "boot "
