# lib.S: the shared part of every system-test kernel (tests/guests/systest/*.S).
#
# A kernel is `.include "lib.S"` followed by `main` (32-bit code, ring 0, flat
# segments, interrupts off, paging off), which runs its checks and jumps to
# `finish`. This file provides:
#   - the multiboot v1 header and entry (own GDT, stack, 8259 remapped and masked,
#     LAPIC software-enabled with LINT0 as virtual wire);
#   - COM1 output and checks for 32- and 64-bit code (putc/puts/puthex/check with
#     the suffix 32 or 64): `CHECK32 name, got, expected` prints `ok name` or
#     `FAIL name: expected X got Y`; `finish` prints the totals and exits through
#     isa-debug-exit (port 0xf4): 0x10 all passed (emu status 33), 0x11 a check
#     failed (35), 0x12 an unexpected exception (37);
#   - a 32-bit IDT whose 256 stubs all enter `common32`, which records the
#     vector, error code, frame, EFLAGS inside the handler and CR2, then applies
#     the test's fix-up (`*fix_addr = *fix_addr & fix_and | fix_or`, e.g. to
#     repair a PTE so the faulting instruction restarts) and `resume` (new EIP),
#     and returns with IRET. The 64-bit IDT (setup_long) does the same.
#     A test arms `armed` before an instruction that must trap; a trap while not
#     armed is reported and ends the run;
#   - run_user32: ring 3 through IRET; ring-3 code returns with `int $0x81`;
#   - the 8254 (PIT) one-shot and the LAPIC timer, for HLT wake-ups.

        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010000        # bit 16: the address fields are valid
        .set COM1, 0x3f8
        .set EXIT_PORT, 0xf4
        .set EXIT_PASS, 0x10
        .set EXIT_FAIL, 0x11
        .set EXIT_UNEXPECTED, 0x12
        .set LAPIC, 0xfee00000
        .set PIC_BASE, 0x20              # IRQ0-7 -> 0x20-0x27, IRQ8-15 -> 0x28-0x2f
        .set VEC_LAPIC_TIMER, 0x40
        .set VEC_BACK, 0x81              # ring 3 -> kernel (DPL 3 gate)
        .set VEC_BACK64, 0x82            # same, for run_user64 (long mode)
        .set RESUME_KERNEL, 1            # ARM32 RESUME_KERNEL: the trap ends run_user32

# GDT layout, shared by all kernels (SYSRET needs user code32, data, code64 in a row).
        .set SEL_CODE32, 0x08
        .set SEL_DATA, 0x10
        .set SEL_UCODE32, 0x18           # used with RPL 3: 0x1b
        .set SEL_UDATA, 0x20             # 0x23
        .set SEL_UCODE64, 0x28           # 0x2b
        .set SEL_TSS32, 0x30
        .set SEL_CODE16, 0x38            # base 0x8000 (the low blob), limit 64 KiB
        .set SEL_DATA16, 0x40            # base 0x8000
        .set SEL_CODE64, 0x48
        .set SEL_DATA64, 0x50            # SYSCALL's SS (STAR = 0x48)
        .set SEL_CONFORMING, 0x58        # conforming code, DPL 0
        .set SEL_XONLY, 0x60             # execute-only code
        .set SEL_RODATA, 0x68            # read-only data
        .set SEL_NOTPRESENT, 0x70        # data, P = 0
        .set SEL_REAL16, 0x78            # data, base 0, limit 64 KiB (back to real mode)
        .set SEL_TSS64, 0x80             # 16 bytes
        .set SEL_SPARE, 0x90             # 0x90-0xf8: free for the kernels
        .set GDT_SIZE, 0x100

        .set LOW_BLOB, 0x8000            # where kernels copy their 16-bit code

        .text
        .code32
        .globl _start
_start:
        jmp entry32

        .balign 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
        .long mb_header                  # header_addr
        .long _start                     # load_addr
        .long _edata                     # load_end_addr
        .long _end                       # bss_end_addr
        .long _start                     # entry_addr

entry32:
        cli
        lgdt gdt_ptr
        ljmp $SEL_CODE32, $1f
1:      mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss
        mov $stack_top, %esp
        cld
        call setup_idt32
        call setup_tss32
        lidt idt32_ptr
        mov $SEL_TSS32, %ax
        ltr %ax
        call pic_init
        call lapic_init
        jmp main

# --- console ---------------------------------------------------------------------
# Emitted twice: for 32-bit code (registers e*) and 64-bit code (r*). All preserve
# every register except as noted.
.macro LIB_PRINT sfx, r, digits
# putc: character in %al.
putc\sfx:
        push %\r\()dx
        push %\r\()ax
1:      mov $(COM1 + 5), %dx
        in %dx, %al
        test $0x20, %al                  # LSR.THRE
        jz 1b
        pop %\r\()ax
        mov $COM1, %dx
        out %al, %dx
        pop %\r\()dx
        ret

# puts: NUL-terminated string at %esi/%rsi.
puts\sfx:
        push %\r\()si
        push %\r\()ax
1:      lodsb
        test %al, %al
        jz 2f
        call putc\sfx
        jmp 1b
2:      pop %\r\()ax
        pop %\r\()si
        ret

# puthex: %eax (8 digits) / %rax (16 digits).
puthex\sfx:
        push %\r\()ax
        push %\r\()bx
        push %\r\()cx
        mov %\r\()ax, %\r\()bx
        mov $\digits, %ecx
1:      rol $4, %\r\()bx
        mov %ebx, %eax
        and $0xf, %eax
        mov hexdigits(%\r\()ax), %al
        call putc\sfx
        dec %ecx
        jnz 1b
        pop %\r\()cx
        pop %\r\()bx
        pop %\r\()ax
        ret

# check: name at %esi/%rsi, got in %eax/%rax, expected in %edx/%rdx.
check\sfx:
        incl n_checks
        cmp %\r\()dx, %\r\()ax
        jne 1f
        push %\r\()si
        mov $msg_ok, %esi
        call puts\sfx
        pop %\r\()si
        call puts\sfx
        push %\r\()ax
        mov $'\n', %al
        call putc\sfx
        pop %\r\()ax
        ret
1:      incl n_failed
        push %\r\()si
        mov $msg_fail, %esi
        call puts\sfx
        pop %\r\()si
        call puts\sfx
        push %\r\()si
        mov $msg_expected, %esi
        call puts\sfx
        xchg %\r\()ax, %\r\()dx
        call puthex\sfx
        mov $msg_got, %esi
        call puts\sfx
        xchg %\r\()ax, %\r\()dx
        call puthex\sfx
        push %\r\()ax
        mov $'\n', %al
        call putc\sfx
        pop %\r\()ax
        pop %\r\()si
        ret

# finish: totals, then the exit port. Never returns.
finish\sfx:
        mov $msg_done, %esi
        call puts\sfx
        mov n_checks, %eax
        call puthex\sfx
        mov $msg_failed, %esi
        call puts\sfx
        mov n_failed, %eax
        call puthex\sfx
        mov $'\n', %al
        call putc\sfx
        mov $EXIT_PASS, %al
        cmpl $0, n_failed
        je exit\sfx
        mov $EXIT_FAIL, %al
exit\sfx:
        out %al, $EXIT_PORT
1:      cli
        hlt
        jmp 1b
.endm

# CHECK32 name, got, expected: got/expected are any `mov` sources (registers are
# read before anything is clobbered; %eax, %edx, %esi are preserved).
.macro CHECK32 name, got, expected
        .pushsection .rodata
777:    .asciz "\name"
        .popsection
        push %eax
        push %edx
        push %esi
        push \got
        push \expected
        pop %edx
        pop %eax
        mov $777b, %esi
        call check32
        pop %esi
        pop %edx
        pop %eax
.endm

# ARM32 [resume]: the next instruction must trap; the handler then continues at
# `resume` (default: where the trap left off).
.macro ARM32 resume=0
        movl $\resume, resume
        movl $1, armed
.endm

# CHECK_BLOB16 name, var, expected: a 16-bit variable of the kernel's 16-bit code,
# assembled at `blob` and copied to LOW_BLOB.
.macro CHECK_BLOB16 name, var, expected
        movzwl LOW_BLOB + (\var - blob), %ecx
        CHECK32 "\name", %ecx, \expected
.endm

# The same for 64-bit code (values are 64-bit; immediates sign-extended from 32).
.macro CHECK64 name, got, expected
        .pushsection .rodata
777:    .asciz "\name"
        .popsection
        push %rax
        push %rdx
        push %rsi
        push \got
        push \expected
        pop %rdx
        pop %rax
        mov $777b, %esi
        call check64
        pop %rsi
        pop %rdx
        pop %rax
.endm

.macro ARM64 resume=0
        movq $\resume, resume
        movl $1, armed
.endm

# EOI: vector in %eax; acknowledges the 8259 or the LAPIC when it was theirs.
# Clobbers %eax. (A macro: used by the 32- and 64-bit handlers.)
.macro EOI
        cmp $PIC_BASE, %eax
        jb 2f
        cmp $(PIC_BASE + 16), %eax
        jae 1f
        cmp $(PIC_BASE + 8), %eax
        mov $0x20, %al
        jb 3f
        out %al, $0xa0
3:      out %al, $0x20
        jmp 2f
1:      cmp $VEC_LAPIC_TIMER, %eax
        jne 2f
        mov $(LAPIC + 0xb0), %ecx        # through a register: 64-bit code too
        movl $0, (%ecx)
2:
.endm

# COPY_BLOB: copies the kernel's 16-bit code (blob .. blob_end) to LOW_BLOB.
.macro COPY_BLOB
        mov $blob, %esi
        mov $LOW_BLOB, %edi
        mov $(blob_end - blob), %ecx
        rep movsb
.endm

# RECORD reg-prefix, slot-size, vector, error, frame: the handlers' common part:
# last_vec/err/frame/eip/cs/eflags/esp/ss and CR2 (SS:ESP only meaningful from an
# outer ring or 64-bit mode). Leaves the frame address in %ebx/%rbx.
.macro RECORD r, w, vec, err, frame
        mov \vec, %\r\()ax
        mov %\r\()ax, last_vec
        mov \err, %\r\()ax
        mov %\r\()ax, last_err
        lea \frame, %\r\()bx
        mov %\r\()bx, last_frame
        .irp v, last_eip, last_cs, last_eflags, last_esp, last_ss
        mov (%\r\()bx), %\r\()ax
        mov %\r\()ax, \v
        add $\w, %\r\()bx
        .endr
        mov %cr2, %\r\()ax
        mov %\r\()ax, last_cr2
        mov last_frame, %\r\()bx
.endm

# PIT_START count: 8254 channel 0 one-shot (mode 0, interrupt on terminal count),
# IRQ0 unmasked at the 8259. Any code size; clobbers %al.
.macro PIT_START count
        mov $0x30, %al
        out %al, $0x43
        mov $(\count & 0xff), %al
        out %al, $0x40
        mov $(\count >> 8), %al
        out %al, $0x40
        mov $0xfa, %al
        out %al, $0x21
.endm

# FIXUP: applies and clears the armed fix-up. Clobbers %eax, %ecx.
.macro FIXUP
        mov fix_addr, %ecx
        test %ecx, %ecx
        jz 1f
        mov (%ecx), %eax
        and fix_and, %eax
        or fix_or, %eax
        mov %eax, (%ecx)
        movl $0, fix_addr
1:
.endm

# FIX addr, and, or: arm a fix-up for the next trap.
.macro FIX addr, and, or
        movl \addr, fix_addr
        movl \and, fix_and
        movl \or, fix_or
.endm

# STUBS 32|64: the 256 IDT entry points (16 bytes apart) stubs32/stubs64: push a
# zero where the CPU pushes no error code, push the vector, go to common32/64.
.macro STUBS bits
        .balign 16
stubs\bits:
        .set vec, 0
        .rept 256
        .balign 16
        .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        push $0
        .endif
        push $vec
        jmp common\bits
        .set vec, vec + 1
        .endr
.endm

        .code32
LIB_PRINT 32, e, 8
finish: jmp finish32

# --- 32-bit IDT ------------------------------------------------------------------
# set_gate32: vector %eax, handler %ebx, selector %cx, type/attribute byte %dl
# (0x8e interrupt gate DPL 0, 0x8f trap gate, 0xee interrupt gate DPL 3, 0x0e not
# present...).
set_gate32:
        push %edi
        lea idt32(,%eax,8), %edi
        mov %bx, (%edi)
        mov %cx, 2(%edi)
        movb $0, 4(%edi)
        mov %dl, 5(%edi)
        push %ebx
        shr $16, %ebx
        mov %bx, 6(%edi)
        pop %ebx
        pop %edi
        ret

# set_attr32: vector %eax, type/attribute byte %dl (keeps handler and selector).
set_attr32:
        mov %dl, idt32 + 5(,%eax,8)
        ret

setup_idt32:
        xor %eax, %eax
1:      mov %eax, %ebx
        shl $4, %ebx
        add $stubs32, %ebx
        mov $SEL_CODE32, %cx
        mov $0x8e, %dl
        call set_gate32
        inc %eax
        cmp $256, %eax
        jb 1b
        mov $VEC_BACK, %eax
        mov $back32, %ebx
        mov $0xee, %dl
        jmp set_gate32

# 32-bit TSS: ring-0 stack, I/O bitmap denying every port but COM1's scratch
# register (0x3ff); limit covers the bitmap and its terminating byte.
        .set TSS32_IOMAP, 104
setup_tss32:
        mov $tss32, %eax
        mov %ax, gdt + SEL_TSS32 + 2
        shr $16, %eax
        mov %al, gdt + SEL_TSS32 + 4
        mov %ah, gdt + SEL_TSS32 + 7
        movw $(TSS32_IOMAP + 8192), gdt + SEL_TSS32
        movb $0x89, gdt + SEL_TSS32 + 5  # present, 32-bit available TSS
        movb $0, gdt + SEL_TSS32 + 6
        movl $tss_stack_top, tss32 + 4   # ESP0
        movl $SEL_DATA, tss32 + 8        # SS0
        movw $TSS32_IOMAP, tss32 + 102
        mov $(tss32 + TSS32_IOMAP), %edi
        mov $0xff, %al
        mov $8193, %ecx
        rep stosb
        andb $~0x80, tss32 + TSS32_IOMAP + 0x3ff / 8
        ret

STUBS 32
common32:
        pusha
        mov %esp, %ebp
        push %ds                         # null when coming from virtual-8086 mode
        push %es
        mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov 4(%esp), %eax
        mov %eax, h_ds
        pushf
        pop %eax
        mov %eax, h_eflags
        RECORD e, 4, 32(%ebp), 36(%ebp), 40(%ebp)
        mov 20(%ebx), %eax               # from virtual-8086 mode: ES, DS
        mov %eax, last_v86_es
        mov 24(%ebx), %eax
        mov %eax, last_v86_ds
        incl exc_count
        cmpl $0, armed
        je unexpected32
        movl $0, armed
        mov last_vec, %eax
        cmp $1, %eax                     # single step: stop stepping
        jne 1f
        andl $~0x100, 8(%ebx)
        mov %dr6, %ecx
        mov %ecx, last_dr6
        xor %ecx, %ecx
        mov %ecx, %dr6
1:      EOI
        FIXUP
        mov resume, %ecx
        test %ecx, %ecx
        jz 3f
        movl $0, resume
        cmp $RESUME_KERNEL, %ecx
        je back32
        mov last_frame, %ebx
        mov %ecx, (%ebx)
3:      pop %es
        pop %ds
        popa
        add $8, %esp
        iret

unexpected32:
        mov $msg_unexpected, %esi
        call puts32
        mov last_vec, %eax
        call puthex32
        mov $msg_err, %esi
        call puts32
        mov last_err, %eax
        call puthex32
        mov $msg_at, %esi
        call puts32
        mov last_cs, %eax
        call puthex32
        mov $':', %al
        call putc32
        mov last_eip, %eax
        call puthex32
        mov $'\n', %al
        call putc32
        mov $EXIT_UNEXPECTED, %al
        jmp exit32

# run_user32: runs ring-3 code at %eax (EFLAGS from user_eflags, stack
# user_stack_top) until it executes `int $VEC_BACK`. Preserves the registers.
run_user32:
        pusha
        mov %esp, kernel_esp
        push $(SEL_UDATA + 3)
        push $user_stack_top
        pushl user_eflags
        push $(SEL_UCODE32 + 3)
        push %eax
        mov $(SEL_UDATA + 3), %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        iret
back32:
        mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss
        mov kernel_esp, %esp
        popa
        ret

# --- interrupt controllers and timers --------------------------------------------
# 8259 pair: edge triggered, vectors PIC_BASE.., cascade on IRQ2, everything masked.
pic_init:
        mov $0x11, %al
        out %al, $0x20
        out %al, $0xa0
        mov $PIC_BASE, %al
        out %al, $0x21
        mov $(PIC_BASE + 8), %al
        out %al, $0xa1
        mov $4, %al
        out %al, $0x21
        mov $2, %al
        out %al, $0xa1
        mov $1, %al
        out %al, $0x21
        out %al, $0xa1
        mov $0xff, %al
        out %al, $0xa1
        mov $0xfb, %al                   # all masked but the cascade
        out %al, $0x21
        ret

# LAPIC on (spurious vector 0xff), LINT0 as ExtINT (the 8259 reaches the CPU),
# timer masked. Uses the physical address: call it without paging or identity-mapped.
lapic_init:
        movl $0x1ff, LAPIC + 0xf0
        movl $0x700, LAPIC + 0x350
        movl $0x10000, LAPIC + 0x320
        ret

pic_mask_all:
        mov $0xfb, %al
        out %al, $0x21
        ret

# lapic_oneshot: one-shot timer, vector VEC_LAPIC_TIMER, divide by 1, count %eax.
# Expects LAPIC registers reachable at the address in %edi (physical or mapped).
lapic_oneshot:
        movl $0xb, 0x3e0(%edi)           # divide by 1
        movl $VEC_LAPIC_TIMER, 0x320(%edi)
        mov %eax, 0x380(%edi)
        ret

# --- paging and long mode ----------------------------------------------------------
# Page tables (build_page_tables, paging off). Everything is identity-mapped,
# user-accessible and writable, except two windows the tests control:
#   TESTVA (1 GiB): a 4 KiB page table (pt32 / pt64, entry 0 is the test PTE);
#   BIGVA (2 GiB): the test large page (PDE big32 / big64, empty at first).
#   2-level: pd32, 4 MiB pages (CR4.PSE).
#   PAE: pdpt_pae -> pd_pae (4 pages: 0-1 GiB, 1 GiB -> pt64, 2 GiB, 3-4 GiB).
#   4-level: pml4[0] -> pdpt_lm -> the same four PDs.
        .set TESTVA, 0x40000000
        .set BIGVA, 0x80000000
        .set pte32, pt32
        .set pte64, pt64
        .set pde32, pd32 + 256 * 4       # -> pt32
        .set pde64, pd_pae + 512 * 8     # -> pt64
        .set big32, pd32 + 512 * 4
        .set big64, pd_pae + 1024 * 8

build_page_tables:
        xor %ecx, %ecx
1:      mov %ecx, %eax
        shl $22, %eax
        or $0x87, %eax                   # present, writable, user, 4 MiB
        mov %eax, pd32(,%ecx,4)
        inc %ecx
        cmp $1024, %ecx
        jb 1b
        movl $(pt32 + 7), pde32
        movl $0, big32
        xor %ecx, %ecx
2:      mov %ecx, %eax
        shl $21, %eax
        or $0x87, %eax                   # 2 MiB
        mov %eax, pd_pae(,%ecx,8)
        movl $0, pd_pae + 4(,%ecx,8)
        inc %ecx
        cmp $2048, %ecx
        jb 2b
        movl $(pt64 + 7), pde64
        movl $0, big64
        xor %ecx, %ecx
3:      mov %ecx, %eax
        shl $12, %eax
        add $pd_pae, %eax
        lea 1(%eax), %edx
        mov %edx, pdpt_pae(,%ecx,8)      # PAE PDPTEs: present only
        lea 7(%eax), %edx
        mov %edx, pdpt_lm(,%ecx,8)
        inc %ecx
        cmp $4, %ecx
        jb 3b
        movl $(pdpt_lm + 7), pml4
        ret

paging_off:
        mov %cr0, %eax
        and $0x7fffffff, %eax
        mov %eax, %cr0
        ret

paging_on:
        mov %cr0, %eax
        or $0x80000000, %eax
        mov %eax, %cr0
        ret

# set_efer: ORs %eax into IA32_EFER.
set_efer:
        push %eax
        mov $0xC0000080, %ecx
        rdmsr
        or (%esp), %eax
        wrmsr
        pop %eax
        ret

enable_legacy_paging:
        mov %cr4, %eax
        or $0x10, %eax                   # PSE
        mov %eax, %cr4
        mov $pd32, %eax
        mov %eax, %cr3
        jmp paging_on

enable_pae_paging:
        call paging_off
        mov %cr4, %eax
        or $0x20, %eax                   # PAE
        mov %eax, %cr4
        mov $0x800, %eax                 # NXE
        call set_efer
        mov $pdpt_pae, %eax
        mov %eax, %cr3
        jmp paging_on

# set_gate64: vector %eax, handler %ebx, type/attribute %dl, IST %dh. Clobbers %edi.
.macro SET_GATE64
        mov %eax, %edi
        shl $4, %edi
        add $idt64, %edi
        mov %bx, (%edi)
        movw $SEL_CODE64, 2(%edi)
        mov %dh, 4(%edi)
        mov %dl, 5(%edi)
        push %ebx
        shr $16, %ebx
        mov %bx, 6(%edi)
        pop %ebx
        movl $0, 8(%edi)
        movl $0, 12(%edi)
        ret
.endm
set_gate64_32:
        SET_GATE64

# setup_long: from 32-bit protected mode (ring 0, paging on or off) into IA-32e
# mode: 4-level paging, EFER.LME/NXE/SCE, the 64-bit IDT (all stubs64; VEC_BACK
# -> back64_to32) and TSS (RSP0 = tss_stack_top, IST1 = ist1_top). Returns in
# compatibility mode (CS is still the 32-bit SEL_CODE32).
setup_long:
        mov $tss64, %eax
        movw $103, gdt + SEL_TSS64
        mov %ax, gdt + SEL_TSS64 + 2
        shr $16, %eax
        mov %al, gdt + SEL_TSS64 + 4
        movb $0x89, gdt + SEL_TSS64 + 5
        movb $0, gdt + SEL_TSS64 + 6
        mov %ah, gdt + SEL_TSS64 + 7
        movl $tss_stack_top, tss64 + 4
        movl $ist1_top, tss64 + 0x24
        movw $104, tss64 + 102
        xor %eax, %eax
1:      mov %eax, %ebx
        shl $4, %ebx
        add $stubs64, %ebx
        mov $0x008e, %dx
        call set_gate64_32
        inc %eax
        cmp $256, %eax
        jb 1b
        mov $VEC_BACK, %eax
        mov $back64_to32, %ebx
        mov $0x00ee, %dx
        call set_gate64_32
        mov $VEC_BACK64, %eax
        mov $back64, %ebx
        mov $0x00ee, %dx
        call set_gate64_32
        call paging_off
        mov %cr4, %eax
        or $0x20, %eax
        mov %eax, %cr4
        mov $pml4, %eax
        mov %eax, %cr3
        mov $0x901, %eax                 # LME | NXE | SCE
        call set_efer
        call paging_on
        lidt idt64_ptr
        mov $SEL_TSS64, %ax
        ltr %ax
        ret

        .code64
LIB_PRINT 64, r, 16

STUBS 64
# Same contract as common32; the frame is RIP, CS, RFLAGS, RSP, SS (8 bytes each).
common64:
        push %rax
        push %rbx
        push %rcx
        push %rdx
        push %rsi
        push %rdi
        push %rbp
        push %r8
        push %r9
        push %r10
        push %r11
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, %rbp
        pushfq
        pop %rax
        mov %rax, h_eflags
        RECORD r, 8, 120(%rbp), 128(%rbp), 136(%rbp)
        incl exc_count
        cmpl $0, armed
        je unexpected64
        movl $0, armed
        mov last_vec, %eax
        cmp $1, %eax
        jne 1f
        andq $~0x100, 16(%rbx)
        mov %dr6, %rcx
        mov %rcx, last_dr6
        xor %ecx, %ecx
        mov %rcx, %dr6
1:      EOI
        FIXUP
        mov resume, %rcx
        test %rcx, %rcx
        jz 3f
        movq $0, resume
        mov %rcx, (%rbx)
3:      pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %r11
        pop %r10
        pop %r9
        pop %r8
        pop %rbp
        pop %rdi
        pop %rsi
        pop %rdx
        pop %rcx
        pop %rbx
        pop %rax
        add $16, %rsp
        iretq

unexpected64:
        mov $msg_unexpected, %esi
        call puts64
        mov last_vec, %rax
        call puthex64
        mov $msg_err, %esi
        call puts64
        mov last_err, %rax
        call puthex64
        mov $msg_at, %esi
        call puts64
        mov last_cs, %rax
        call puthex64
        mov $':', %al
        call putc64
        mov last_eip, %rax
        call puthex64
        mov $'\n', %al
        call putc64
        mov $EXIT_UNEXPECTED, %al
        jmp exit64

# run_user64: runs 64-bit ring-3 code at %rax (RFLAGS from user_eflags, stack
# user_stack_top) until it executes `int $VEC_BACK64`. Preserves the registers.
run_user64:
        push %rbx
        push %rbp
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, kernel_esp
        push $(SEL_UDATA + 3)
        push $user_stack_top
        pushq user_eflags
        push $(SEL_UCODE64 + 3)
        push %rax
        iretq
back64:
        mov $SEL_DATA, %ax               # the interrupt left a null SS
        mov %ax, %ss
        mov kernel_esp, %rsp
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbp
        pop %rbx
        ret

# VEC_BACK while the kernel runs 32-bit code in compatibility mode (run_user32):
# IRETQ to back32 on the kernel stack.
back64_to32:
        mov kernel_esp, %eax
        push $SEL_DATA
        push %rax
        pushfq
        push $SEL_CODE32
        push $back32
        iretq
        .code32

# --- data ------------------------------------------------------------------------
        .section .rodata
msg_ok:         .asciz "ok "
msg_fail:       .asciz "FAIL "
msg_expected:   .asciz ": expected "
msg_got:        .asciz " got "
msg_done:       .asciz "done: checks "
msg_failed:     .asciz " failed "
msg_unexpected: .asciz "FAIL unexpected exception "
msg_err:        .asciz " error "
msg_at:         .asciz " at "
hexdigits:      .ascii "0123456789abcdef"

        .data
        .balign 8
gdt:
        .quad 0
        .quad 0x00cf9b000000ffff         # 0x08 code32
        .quad 0x00cf93000000ffff         # 0x10 data
        .quad 0x00cffb000000ffff         # 0x18 user code32
        .quad 0x00cff3000000ffff         # 0x20 user data
        .quad 0x00affb000000ffff         # 0x28 user code64
        .quad 0                          # 0x30 TSS32 (setup_tss32)
        .quad 0x00009b008000ffff         # 0x38 code16, base 0x8000
        .quad 0x000093008000ffff         # 0x40 data16, base 0x8000
        .quad 0x00af9b000000ffff         # 0x48 code64
        .quad 0x00cf93000000ffff         # 0x50 data (SYSCALL SS)
        .quad 0x00cf9f000000ffff         # 0x58 conforming code32, DPL 0
        .quad 0x00cf99000000ffff         # 0x60 execute-only code32
        .quad 0x00cf91000000ffff         # 0x68 read-only data
        .quad 0x00cf13000000ffff         # 0x70 data, not present
        .quad 0x000093000000ffff         # 0x78 data16, base 0
        .quad 0, 0                       # 0x80 TSS64
        .fill (GDT_SIZE - 0x90) / 8, 8, 0
        .balign 8
        .word 0
gdt_ptr:
        .word GDT_SIZE - 1
        .long gdt
        .word 0
idt32_ptr:
        .word 256 * 8 - 1
        .long idt32
        .word 0
idt64_ptr:
        .word 256 * 16 - 1
        .quad idt64

        .balign 4
n_checks:       .long 0
n_failed:       .long 0
armed:          .long 0
resume:         .long 0, 0
fix_addr:       .long 0, 0
fix_and:        .long 0, 0
fix_or:         .long 0, 0
exc_count:      .long 0
last_vec:       .long 0, 0
last_err:       .long 0, 0
last_frame:     .long 0, 0
last_eip:       .long 0, 0
last_cs:        .long 0, 0
last_eflags:    .long 0, 0
last_cr2:       .long 0, 0
last_esp:       .long 0, 0
last_ss:        .long 0, 0
last_v86_es:    .long 0, 0
last_v86_ds:    .long 0, 0
h_ds:           .long 0, 0
last_dr6:       .long 0, 0
h_eflags:       .long 0, 0
kernel_esp:     .long 0, 0
user_eflags:    .long 0x2, 0

        .bss
        .balign 4096
idt32:          .skip 256 * 8
tss32:          .skip 104 + 8192 + 1
        .balign 16
                .skip 8192
stack_top:
                .skip 8192
tss_stack_top:
                .skip 8192
user_stack_top:
                .skip 4096
ist1_top:
        .balign 4096
idt64:          .skip 256 * 16
tss64:          .skip 104
        .balign 4096
pd32:           .skip 4096
pt32:           .skip 4096
pd_pae:         .skip 4 * 4096
pt64:           .skip 4096
pdpt_lm:        .skip 4096
pml4:           .skip 4096
pdpt_pae:       .skip 32
        .text
