# long: IA-32e mode. 64-bit IDT delivery (interrupt vs trap gates, the frame with
# SS:RSP always pushed, RSP aligned to 16 bytes), IST stacks, #DF on an IST stack,
# TF single-step, #PF during #PF delivery -> #DF,
# #GP and #SS (SS-relative) on non-canonical addresses, INTO -> #UD in 64-bit mode, SYSCALL/SYSRET
# round trip (STAR/LSTAR/FMASK), ring 3 <-> ring 0 by interrupt and IRETQ (RSP0
# from the 64-bit TSS), INT n through a DPL 0 gate from ring 3; compatibility mode
# at ring 0 and ring 3 (INTO works there, faults and the PIT's interrupt go through
# the 64-bit IDT); the
# PIT and the LAPIC timer waking HLT in 64-bit mode.

        .include "lib.S"

        .set VEC_INT, 0x30               # interrupt gate, DPL 0
        .set VEC_TRAP, 0x31              # trap gate
        .set VEC_USER, 0x32              # interrupt gate, DPL 3
        .set VEC_IST, 0x33               # interrupt gate on IST1
        .set VEC_ABSENT, 0x42
        .set NONCANON, 0x0000800000000000

.macro GATE64 vec, attr
        mov $\vec, %eax
        mov $stubs64 + \vec * 16, %ebx
        mov $\attr, %dx
        call set_gate64_32
.endm

main:
        call build_page_tables
        call setup_long                  # returns in compatibility mode
        GATE64 VEC_TRAP, 0x008f          # (32-bit code: set_gate64_32)
        GATE64 VEC_USER, 0x00ee
        GATE64 VEC_IST, 0x018e           # IST1
        GATE64 VEC_ABSENT, 0x000e
        GATE64 8, 0x018e                 # #DF on IST1
        GATE64 12, 0x018e                # #SS on IST1 (its fault may be on the stack)
        ljmp $SEL_CODE64, $main64

        .code64
main64:
        mov $SEL_DATA64, %ax
        mov %ax, %ss
        mov %cs, %eax
        CHECK64 "64-bit code segment", %rax, $SEL_CODE64

        # --- gates and the 64-bit frame -------------------------------------------
        sti
        push %rax                        # rsp = 8 mod 16: the CPU aligns it
        mov %rsp, %rbx
        ARM64
        int $VEC_INT
int_ret:
        cli
        pop %rax
        CHECK64 "interrupt gate vector", last_vec, $VEC_INT
        mov h_eflags, %rax
        and $0x200, %eax
        CHECK64 "interrupt gate clears IF", %rax, $0
        CHECK64 "frame rip", last_eip, $int_ret
        CHECK64 "frame cs", last_cs, $SEL_CODE64
        CHECK64 "frame rsp (pushed at the same cpl)", last_esp, %rbx
        CHECK64 "frame ss", last_ss, $SEL_DATA64
        and $~15, %rbx
        sub $40, %rbx
        CHECK64 "frame on a 16-byte aligned stack", last_frame, %rbx

        sti
        ARM64
        int $VEC_TRAP
        cli
        mov h_eflags, %rax
        and $0x200, %eax
        CHECK64 "trap gate keeps IF", %rax, $0x200

        ARM64
        int $VEC_IST
        CHECK64 "ist1 stack", last_frame, $(ist1_top - 40)

        ARM64 1f
        int $VEC_ABSENT
1:      CHECK64 "not-present gate: #NP", last_vec, $11
        CHECK64 "not-present gate: error code", last_err, $(VEC_ABSENT * 8 + 2)

        # #DF (delivered on IST1): #NP while delivering #NP
        movb $0x0e, idt64 + 11 * 16 + 5
        ARM64 1f
        int $VEC_ABSENT
1:      movb $0x8e, idt64 + 11 * 16 + 5
        CHECK64 "#DF from #NP during #NP", last_vec, $8
        CHECK64 "#DF error code", last_err, $0
        CHECK64 "#DF on ist1", last_frame, $(ist1_top - 40)

        ARM64
        pushfq
        orq $0x100, (%rsp)
        popfq
        nop                              # runs, then #DB
db_ret:
        CHECK64 "single-step #DB in 64-bit mode", last_vec, $1
        CHECK64 "single-step #DB after the next instruction", last_eip, $db_ret

        # --- canonical addresses --------------------------------------------------
        movabs $NONCANON, %rax
        ARM64 1f
        mov (%rax), %rbx
1:      CHECK64 "non-canonical load: #GP", last_vec, $13
        CHECK64 "non-canonical load: error code", last_err, $0
        movabs $NONCANON, %rbp
        ARM64 1f
        mov (%rbp), %rbx                 # SS-relative
1:      CHECK64 "non-canonical stack reference: #SS", last_vec, $12
        CHECK64 "non-canonical stack reference: error code", last_err, $0
        ARM64 1f
        mov %fs:(%rbp), %rbx             # override: no longer SS
1:      CHECK64 "non-canonical fs: reference: #GP", last_vec, $13
        mov %rsp, %r12
        movabs $(NONCANON + 0x100), %rsp
        ARM64 1f
        push %rax                        # #SS is delivered on IST1
1:      mov %r12, %rsp
        CHECK64 "push through a non-canonical rsp: #SS", last_vec, $12
        movabs $NONCANON, %rax
        ARM64 1f
        jmp *%rax
1:      CHECK64 "non-canonical jump target: #GP", last_vec, $13
        movabs $0xffff800000000000, %rax  # canonical (unmapped): #PF, not #GP
        ARM64 1f
        mov (%rax), %rbx
1:      CHECK64 "canonical high address: #PF", last_vec, $14
        movabs $0xffff800000000000, %rax
        CHECK64 "canonical high address: cr2", last_cr2, %rax

        ARM64 1f
into_insn:
        .byte 0xce                       # INTO: invalid in 64-bit mode
1:      CHECK64 "into in 64-bit mode: #UD", last_vec, $6
        CHECK64 "into in 64-bit mode: fault", last_eip, $into_insn

        # --- ring 3 by IRETQ, back by interrupt -----------------------------------
        mov $user64, %eax
        call run_user64
        CHECK64 "iretq to ring 3: cs", user_cs, $(SEL_UCODE64 + 3)
        CHECK64 "iretq to ring 3: ss", user_ss, $(SEL_UDATA + 3)
        CHECK64 "dpl 3 gate from ring 3", last_vec, $VEC_USER
        CHECK64 "stack switch to tss.rsp0", last_frame, $(tss_stack_top - 40)
        CHECK64 "frame has the user rsp", last_esp, $(user_stack_top - 8)
        CHECK64 "frame has the user ss", last_ss, $(SEL_UDATA + 3)
        CHECK64 "frame has the user cs", last_cs, $(SEL_UCODE64 + 3)

        mov $user64_hlt, %eax
        call run_user64
        CHECK64 "hlt at cpl 3: #GP", last_vec, $13
        CHECK64 "hlt at cpl 3: error code", last_err, $0
        CHECK64 "hlt at cpl 3: from ring 3", last_cs, $(SEL_UCODE64 + 3)
        mov $user64_int, %eax
        call run_user64
        CHECK64 "int through a dpl 0 gate from ring 3: #GP", last_vec, $13
        CHECK64 "int through a dpl 0 gate: error code", last_err, $(VEC_INT * 8 + 2)

        # #PF while delivering #PF (the ring-0 stack is not mapped) -> #DF on IST1;
        # the handler restores RSP0 and the user code goes back to the kernel.
        movl $(TESTVA + 0x1000), tss64 + 4
        FIX $(tss64 + 4), $0, $tss_stack_top
        mov $user64_pf, %eax
        call run_user64
        CHECK64 "#PF during #PF delivery: #DF", last_vec, $8
        CHECK64 "#PF during #PF delivery: error code", last_err, $0
        CHECK64 "#PF during #PF delivery: cr2 of the frame push", last_cr2, $(TESTVA + 0xff8)
        CHECK64 "#PF during #PF delivery: on ist1", last_frame, $(ist1_top - 40)

        # --- SYSCALL / SYSRET ------------------------------------------------------
        mov $0xC0000081, %ecx            # STAR: SYSRET base 0x18, SYSCALL CS 0x48
        xor %eax, %eax
        mov $(((SEL_UCODE32 + 3) << 16) | SEL_CODE64), %edx
        wrmsr
        mov $0xC0000082, %ecx            # LSTAR
        mov $syscall_entry, %eax
        xor %edx, %edx
        wrmsr
        mov $0xC0000084, %ecx            # FMASK: IF and TF
        mov $0x300, %eax
        wrmsr
        push %rbx
        push %rbp
        mov %rsp, kernel_esp
        mov $user_sys, %ecx
        mov $0x202, %r11d                # IF set in ring 3
        mov $user_stack_top, %esp
        sysretq
sys_back:
        pop %rbp
        pop %rbx
        CHECK64 "sysret: user cs", user_cs, $(SEL_UCODE64 + 3)
        CHECK64 "sysret: user ss", user_ss, $(SEL_UDATA + 3)
        mov user_flags, %rax
        and $0x200, %eax
        CHECK64 "sysret: rflags from r11", %rax, $0x200
        CHECK64 "syscall: kernel cs from star", sys_cs, $SEL_CODE64
        CHECK64 "syscall: kernel ss = cs + 8", sys_ss, $SEL_DATA64
        CHECK64 "syscall: rcx = return rip", sys_rcx, $sys_ret
        mov sys_r11, %rax
        and $0x200, %eax
        CHECK64 "syscall: r11 = user rflags", %rax, $0x200
        mov sys_flags, %rax
        and $0x200, %eax
        CHECK64 "syscall: fmask clears IF", %rax, $0

        # --- compatibility mode ----------------------------------------------------
        ljmp *compat_ptr
compat_done:
        CHECK64 "compat ring 0: cs", compat_cs, $SEL_CODE32
        CHECK64 "compat ring 0: int through the 64-bit idt", compat_vec, $VEC_INT
        CHECK64 "compat ring 0: frame cs", compat_frame_cs, $SEL_CODE32
        CHECK64 "compat ring 0: into traps (#OF)", compat_into, $4
        CHECK64 "compat ring 0: pit irq0 wakes hlt", compat_pit_vec, $PIC_BASE
        CHECK64 "compat ring 0: hlt resumes after hlt", compat_pit_eip, $compat_hlt_ret
        CHECK64 "compat ring 3: hlt -> #GP", last_vec, $13
        CHECK64 "compat ring 3: from cs", last_cs, $(SEL_UCODE32 + 3)

        # --- timers waking HLT in 64-bit mode -----------------------------------------
        ARM64
        PIT_START 11932
        sti
        hlt
pit_ret:
        cli
        mov $0xfb, %al
        out %al, $0x21
        CHECK64 "pit irq0 wakes hlt", last_vec, $PIC_BASE
        CHECK64 "hlt resumes after hlt", last_eip, $pit_ret

        ARM64
        mov $LAPIC, %edi
        movl $0xb, 0x3e0(%rdi)
        movl $VEC_LAPIC_TIMER, 0x320(%rdi)
        movl $100000, 0x380(%rdi)
        sti
        hlt
        cli
        CHECK64 "lapic timer wakes hlt", last_vec, $VEC_LAPIC_TIMER
        jmp finish64

syscall_entry:
        mov %cs, %eax
        mov %rax, sys_cs
        mov %ss, %eax
        mov %rax, sys_ss
        mov %rcx, sys_rcx
        mov %r11, sys_r11
        pushfq                           # still on the user stack: fine here
        pop %rax
        mov %rax, sys_flags
        mov kernel_esp, %rsp
        jmp sys_back

# --- ring 3 (64-bit) ---------------------------------------------------------------
user64:
        mov %cs, %eax
        mov %rax, user_cs
        mov %ss, %eax
        mov %rax, user_ss
        push %rax                        # rsp = user_stack_top - 8 at the INT
        ARM64
        int $VEC_USER
        int $VEC_BACK64

user64_hlt:
        ARM64 1f
        hlt
1:      int $VEC_BACK64

user64_int:
        ARM64 1f
        int $VEC_INT
1:      int $VEC_BACK64

user64_pf:
        ARM64 1f
        mov TESTVA, %rax                 # not present; so is the RSP0 stack
1:      int $VEC_BACK64

user_sys:
        mov %cs, %eax
        mov %rax, user_cs
        mov %ss, %eax
        mov %rax, user_ss
        pushfq
        pop %rax
        mov %rax, user_flags
        syscall
sys_ret:
        ud2

# --- compatibility mode (32-bit code under IA-32e paging) ---------------------------
        .code32
compat32:
        mov %cs, %eax
        mov %eax, compat_cs
        ARM32
        int $VEC_INT
        mov last_vec, %eax
        mov %eax, compat_vec
        mov last_cs, %eax
        mov %eax, compat_frame_cs
        mov $0x7f, %al
        add $1, %al
        ARM32
        into
        mov last_vec, %eax
        mov %eax, compat_into
        ARM32
        PIT_START 11932
        sti
        hlt
compat_hlt_ret:
        cli
        call pic_mask_all
        mov last_vec, %eax
        mov %eax, compat_pit_vec
        mov last_eip, %eax
        mov %eax, compat_pit_eip
        mov $compat_user, %eax
        call run_user32                  # IRETD to compatibility-mode ring 3
        ljmp $SEL_CODE64, $compat_done

compat_user:
        ARM32 1f
        hlt
1:      int $VEC_BACK

        .data
        .balign 8
compat_ptr:     .long compat32
                .word SEL_CODE32
        .balign 8
user_cs:        .quad 0
user_ss:        .quad 0
user_flags:     .quad 0
sys_cs:         .quad 0
sys_ss:         .quad 0
sys_rcx:        .quad 0
sys_r11:        .quad 0
sys_flags:      .quad 0
compat_cs:      .quad 0
compat_vec:     .quad 0
compat_frame_cs: .quad 0
compat_into:    .quad 0
compat_pit_vec: .quad 0
compat_pit_eip: .quad 0
