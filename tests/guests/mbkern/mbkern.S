# mbkern: a tiny multiboot (v1) test kernel.
#
# Entered in 32-bit protected mode as multiboot says (EAX = 0x2BADB002, EBX = info,
# flat segments, paging off). It switches to long mode with its own GDT, IDT, TSS and
# identity-mapped page tables, prints "hello from mbkern" on COM1, drops to ring 3
# with SYSRET to run a workload (an LCG scrambling a 64 KiB buffer), comes back with
# SYSCALL (falling back to INT3 where the hypervisor's SYSCALL stays at CPL 3), prints
# "result <16 hex digits>" and writes EXIT_OK to the debug-exit port.
#
# Assembled with `as --defsym SMP=1` it also starts the other CPUs: INIT-SIPI-SIPI
# through the xAPIC to a real-mode trampoline at 0x8000; each AP goes 16 -> 32 ->
# 64-bit, prints "ap <apic id> up", and the BSP waits for NCPUS-1 of them before
# printing "all cpus up" and exiting.
#
# The 16/32-bit and ring-0 paths are kept short on purpose: some hypervisors (and
# the translator) run them far slower than the ring-3 loop.
#
# Exit codes (port 0xf4): 0x10 ok, 0x20 bad multiboot magic, 0x30 APs did not
# report in, 0x40|vector exception.
#
# The workload, for checking the printed result:
#   x = SEED; sum = 0; buf[8192] = {0}
#   repeat ITER times: x = x*LCG_A + LCG_C; j = (x >> 33) & 0x1fff;
#                      buf[j] ^= x; sum += buf[j]
#   result = sum

        .set LOAD_ADDR, 0x100000
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010000        # bit 16: the address fields below are valid
        .set COM1, 0x3f8
        .set EXIT_PORT, 0xf4
        .set EXIT_OK, 0x10
        .set LAPIC, 0xfee00000
        .set TRAMPOLINE, 0x8000          # SIPI vector 0x08
        .set ITER, 4000000
        .set SEED, 0x0123456789abcdef
        .set LCG_A, 6364136223846793005
        .set LCG_C, 1442695040888963407

        .set SEL_CODE64, 0x08
        .set SEL_DATA, 0x10
        .set SEL_USER_BASE, 0x18         # SYSRET: SS = base+8, CS = base+16
        .set SEL_TSS, 0x30
        .set SEL_CODE32, 0x40

        .ifndef SMP
        .set SMP, 0
        .endif
        .ifndef NCPUS
        .set NCPUS, 2
        .endif

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
        cmp $0x2BADB002, %eax
        jne bad_magic
        mov %ebx, mb_info
        lgdt gdt_ptr
        ljmp $SEL_CODE32, $1f
1:      mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $stack_top, %esp
        call long_mode_on                # does not return: jumps to entry64
bad_magic:
        mov $0x20, %al
        out %al, $EXIT_PORT
1:      hlt
        jmp 1b

# Shared by the BSP and the APs: PAE + LME (+SCE) + PG, then a far jump to 64-bit
# code: entry64 for the BSP, ap64 once the BSP has started the APs. Uses no stack.
long_mode_on:
        mov %cr4, %eax
        or $0x20, %eax                   # PAE
        mov %eax, %cr4
        mov $pml4, %eax
        mov %eax, %cr3
        mov $0xC0000080, %ecx            # EFER
        rdmsr
        or $0x101, %eax                  # LME | SCE
        wrmsr
        mov %cr0, %eax
        or $0x80000001, %eax             # PG | PE
        mov %eax, %cr0
.if SMP
        cmpl $0, in_ap_startup
        je 1f
        ljmp $SEL_CODE64, $ap64
1:
.endif
        ljmp $SEL_CODE64, $entry64

        .code64
entry64:
        mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        xor %eax, %eax
        mov %ax, %fs
        mov %ax, %gs
        mov $stack_top, %rsp
        call setup_idt
        call setup_tss
        lidt idt_ptr
        mov $SEL_TSS, %ax
        ltr %ax

        mov $msg_hello, %esi
        call puts_locked

.if SMP
        call start_aps
.endif

        # SYSCALL/SYSRET: kernel CS in STAR[47:32], user base selector in STAR[63:48].
        mov $0xC0000081, %ecx
        xor %eax, %eax
        mov $((SEL_USER_BASE << 16) | SEL_CODE64), %edx
        wrmsr
        mov $0xC0000082, %ecx            # LSTAR
        mov $syscall_entry, %eax
        xor %edx, %edx
        wrmsr
        mov $0xC0000084, %ecx            # FMASK: clear TF, IF, DF, AC on entry
        mov $0x40700, %eax
        xor %edx, %edx
        wrmsr

        mov $user_entry, %ecx            # RIP for ring 3
        mov $0x2, %r11d                  # RFLAGS: interrupts off, IOPL 0
        mov $user_stack_top, %esp
        sysretq

# Ring 3 (runs natively under KVM). Returns to the kernel with SYSCALL, RDI = result.
user_entry:
        movabs $SEED, %rax
        movabs $LCG_A, %r8
        movabs $LCG_C, %r9
        xor %ebx, %ebx
        mov $ITER, %ecx
        mov $user_buf, %edi
1:      imul %r8, %rax
        add %r9, %rax
        mov %rax, %rdx
        shr $33, %rdx
        and $0x1fff, %edx
        xor %rax, (%rdi,%rdx,8)
        add (%rdi,%rdx,8), %rbx
        dec %ecx
        jnz 1b
        mov %rbx, %rdi
        mov $1, %eax
        syscall
        ud2                              # never returns here

syscall_entry:
        mov %cs, %eax
        test $3, %eax
        jz syscall_ring0
        # Some hypervisors (kvm_pvm, see docs/kvm.md) jump to LSTAR without leaving
        # CPL 3. Re-enter through the #BP gate (DPL 3), which does reach ring 0.
        int3
syscall_ring0:                           # also the #BP gate's target
        mov $stack_top, %esp             # only the BSP ever makes a system call
        mov %rdi, %rbx
        call lock_console
        mov $msg_result, %esi
        call puts
        mov %rbx, %rax
        call puthex
        mov $'\n', %edi
        call putc
        call unlock_console

.if SMP
        mov $5000000, %ecx               # about 10 s at 2 M emulated instructions/s
1:      cmpl $(NCPUS - 1), ap_count
        jae 2f
        pause
        dec %ecx
        jnz 1b
        mov $msg_ap_timeout, %esi
        call puts_locked
        mov $0x30, %al
        jmp exit
2:      mov $msg_all_up, %esi
        call puts_locked
.endif
        mov $EXIT_OK, %al
exit:
        out %al, $EXIT_PORT
1:      cli
        hlt
        jmp 1b

# --- console (COM1, polled) -------------------------------------------------------
# putc: character in %dil. Clobbers rax, rdx.
putc:
        mov $(COM1 + 5), %dx
1:      in %dx, %al
        test $0x20, %al                  # LSR.THRE
        jz 1b
        mov $COM1, %dx
        mov %dil, %al
        out %al, %dx
        ret

# puts: NUL-terminated string at %rsi. Clobbers rax, rdx, rsi, rdi.
puts:
1:      movzbl (%rsi), %edi
        test %edi, %edi
        jz 2f
        call putc
        inc %rsi
        jmp 1b
2:      ret

puts_locked:
        call lock_console
        call puts
        jmp unlock_console

# puthex: 16 hex digits of %rax. Clobbers rax, rdx, rdi.
puthex:
        push %rbx
        push %rcx
        mov %rax, %rbx
        mov $16, %ecx
1:      rol $4, %rbx
        mov %ebx, %eax
        and $0xf, %eax
        movzbl hexdigits(%rax), %edi
        call putc
        dec %ecx
        jnz 1b
        pop %rcx
        pop %rbx
        ret

lock_console:
        mov $1, %eax
        xchg %eax, console_lock
        test %eax, %eax
        jz 1f
        pause
        jmp lock_console
1:      ret

unlock_console:
        movl $0, console_lock
        ret

# --- descriptor tables ----------------------------------------------------------------
# 32 interrupt gates pointing at the exception stubs (16 bytes apart).
setup_idt:
        mov $idt, %edi
        mov $exc_stubs, %esi
        xor %ecx, %ecx
1:      mov %rsi, %rax
        mov %ax, (%rdi)
        movw $SEL_CODE64, 2(%rdi)
        movw $0x8e00, 4(%rdi)            # present, DPL 0, 64-bit interrupt gate
        shr $16, %rax
        mov %ax, 6(%rdi)
        movq $0, 8(%rdi)
        add $16, %rdi
        add $16, %rsi
        inc %ecx
        cmp $32, %ecx
        jb 1b
        mov $syscall_ring0, %eax         # vector 3: the SYSCALL fallback, callable
        mov %ax, idt + 3 * 16            # from ring 3
        movw $0xee00, idt + 3 * 16 + 4
        shr $16, %eax
        mov %ax, idt + 3 * 16 + 6
        ret

# The 64-bit TSS descriptor (base, limit 103, type 9 present); RSP0 for ring-3 faults.
setup_tss:
        mov $tss, %eax
        mov %rax, %rdx
        and $0xffffff, %edx
        shl $16, %rdx
        or $0x67, %rdx
        movabs $0x0000890000000000, %rcx
        or %rcx, %rdx
        mov %rax, %rcx
        shr $24, %rcx
        shl $56, %rcx
        or %rcx, %rdx
        mov %rdx, gdt + SEL_TSS
        movq $0, gdt + SEL_TSS + 8
        movq $stack_top, tss + 4
        movw $104, tss + 102             # no I/O permission bitmap
        ret

        .balign 16
exc_stubs:
        .set vec, 0
        .rept 32
        .balign 16
        pushq $vec
        jmp exc_common
        .set vec, vec + 1
        .endr

exc_common:
        mov (%rsp), %rbx
        mov $msg_exception, %esi
        call puts                        # no lock: we may have faulted holding it
        mov %rbx, %rax
        call puthex
        mov $' ', %edi                   # then the next three stack slots: error
        call putc                        # code, RIP, CS -- or RIP, CS, RFLAGS
        mov 8(%rsp), %rax
        call puthex
        mov $' ', %edi
        call putc
        mov 16(%rsp), %rax
        call puthex
        mov $' ', %edi
        call putc
        mov 24(%rsp), %rax
        call puthex
        mov $'\n', %edi
        call putc
        mov %bl, %al
        and $0x1f, %al
        or $0x40, %al
        jmp exit

# --- SMP ---------------------------------------------------------------------------
.if SMP
start_aps:
        mov $trampoline, %esi
        mov $TRAMPOLINE, %edi
        mov $(trampoline_end - trampoline), %ecx
        cld
        rep movsb
        movl $1, in_ap_startup
        mov $LAPIC, %ebx
        orl $0x100, 0xf0(%rbx)           # spurious-interrupt register: APIC enabled
        movl $0, 0x310(%rbx)             # ICR high: destination unused (shorthand)
        movl $0x000C4500, 0x300(%rbx)    # INIT, level assert, all excluding self
        call icr_wait
        movl $(0x000C4600 | (TRAMPOLINE >> 12)), 0x300(%rbx)   # SIPI
        call icr_wait
        movl $(0x000C4600 | (TRAMPOLINE >> 12)), 0x300(%rbx)   # SIPI again, as the MP spec asks
        jmp icr_wait

icr_wait:
        testl $0x1000, 0x300(%rbx)       # delivery status: send pending
        jz 1f
        pause
        jmp icr_wait
1:      ret

ap64:
        mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $1, %eax
        lock xadd %eax, ap_ticket
        and $3, %eax                     # room for 4 AP stacks
        inc %eax
        shl $12, %eax
        add $ap_stacks, %eax
        mov %eax, %esp
        lidt idt_ptr
        mov $LAPIC, %ebx
        mov 0x20(%rbx), %ebx
        shr $24, %ebx                    # APIC ID
        call lock_console
        mov $msg_ap, %esi
        call puts
        mov %ebx, %eax
        call putdec
        mov $msg_up, %esi
        call puts
        call unlock_console
        lock incl ap_count
1:      cli
        hlt
        jmp 1b

# putdec: %eax (0..255) in decimal.
putdec:
        push %rbx
        mov %eax, %ebx
        cmp $100, %ebx
        jb 1f
        mov %ebx, %eax
        xor %edx, %edx
        mov $100, %ecx
        div %ecx
        mov %edx, %ebx
        lea '0'(%eax), %edi
        call putc
        jmp 2f
1:      cmp $10, %ebx
        jb 3f
2:      mov %ebx, %eax
        xor %edx, %edx
        mov $10, %ecx
        div %ecx
        mov %edx, %ebx
        lea '0'(%eax), %edi
        call putc
3:      lea '0'(%ebx), %edi
        call putc
        pop %rbx
        ret

# Copied to TRAMPOLINE; the AP starts here in real mode at CS = TRAMPOLINE >> 4, IP 0.
        .code16
trampoline:
        cli
        mov %cs, %ax
        mov %ax, %ds
        lgdtl tramp_gdt_ptr - trampoline
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $SEL_CODE32, $ap32
tramp_gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt
trampoline_end:

        .code32
ap32:
        mov $SEL_DATA, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        jmp long_mode_on
        .code64
.endif

# --- data --------------------------------------------------------------------------
        .balign 8
gdt:
        .quad 0
        .quad 0x00af9b000000ffff         # 0x08 kernel code, 64-bit
        .quad 0x00cf93000000ffff         # 0x10 kernel data, flat 4 GiB
        .quad 0x00cffb000000ffff         # 0x18 user code, 32-bit (SYSRET base; unused)
        .quad 0x00cff3000000ffff         # 0x20 user data
        .quad 0x00affb000000ffff         # 0x28 user code, 64-bit
        .quad 0, 0                       # 0x30 TSS (filled by setup_tss)
        .quad 0x00cf9b000000ffff         # 0x40 kernel code, 32-bit
gdt_end:

        .balign 8
        .word 0
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt
        .word 0
idt_ptr:
        .word 32 * 16 - 1
        .quad idt

msg_hello:      .asciz "hello from mbkern\n"
msg_result:     .asciz "result "
msg_exception:  .asciz "exception "
msg_ap:         .asciz "ap "
msg_up:         .asciz " up\n"
msg_all_up:     .asciz "all cpus up\n"
msg_ap_timeout: .asciz "timeout waiting for APs\n"
hexdigits:      .ascii "0123456789abcdef"

        .balign 4
mb_info:        .long 0
console_lock:   .long 0
in_ap_startup:  .long 0
ap_ticket:      .long 0
ap_count:       .long 0

# Identity map of the low 4 GiB with 2 MiB pages, user-accessible (the ring-3
# workload runs on the same map; this is a test kernel, not an OS).
        .balign 4096
pml4:
        .quad pdpt + 0x7
        .fill 511, 8, 0
pdpt:
        .quad pd + 0x0000 + 0x7
        .quad pd + 0x1000 + 0x7
        .quad pd + 0x2000 + 0x7
        .quad pd + 0x3000 + 0x7
        .fill 508, 8, 0
pd:
        .set page, 0
        .rept 2048
        .quad (page << 21) | 0x87        # present, writable, user, 2 MiB
        .set page, page + 1
        .endr

        .bss
        .balign 4096
idt:            .skip 32 * 16
tss:            .skip 104
        .balign 16
                .skip 8192
stack_top:
                .skip 4096
user_stack_top:
        .balign 4096
ap_stacks:      .skip 4 * 4096 + 4096
        .balign 4096
user_buf:       .skip 8192 * 8
