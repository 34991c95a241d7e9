# pm32: 32-bit protected mode without paging.
#   IDT delivery through interrupt vs trap gates (IF in the handler), the frame
#   (CS:EIP of faults vs traps), #DE #UD #BR #BP #OF #DB (TF, DR6.BS), segment-
#   load faults with selector error codes (#GP #NP #SS; LDT selectors), a
#   not-present IDT gate (#NP with the IDT bit), #DF (contributory during
#   contributory); ring 3 through IRET:
#   privileged instructions -> #GP(0), INT n through a DPL 0 gate -> #GP(vec*8+2),
#   the ring-0 stack from the TSS, #TS for a bad TSS.SS0 (handled by a conforming
#   segment), IOPL and the TSS I/O bitmap, SYSEXIT/SYSENTER; the PIT (8259) and the LAPIC timer
#   waking HLT.

        .include "lib.S"

        .set VEC_INT, 0x30               # interrupt gate, DPL 0
        .set VEC_TRAP, 0x31              # trap gate, DPL 0
        .set VEC_USER, 0x32              # interrupt gate, DPL 3
        .set VEC_ABSENT, 0x42            # not present
        .set USER_PORT, 0x3ff            # allowed by the I/O bitmap (COM1 scratch)
        .set DENIED_PORT, 0x3fe          # denied by the I/O bitmap
        .set SEL_LDT, SEL_SPARE          # LDT descriptor (base filled in)
        .set LSEL_DATA, 0x04             # LDT entry 0, TI set: flat data
        .set LSEL_ABSENT, 0x0c           # LDT entry 1: not present
        .set LSEL_BEYOND, 0x14           # past the LDT limit

# A ring-3 snippet that must trap with `vec` and error code `err`.
.macro USER_FAULT name, insn, vec, err
        mov $1f, %eax
        call run_user32
        CHECK32 "\name vector", last_vec, $\vec
        CHECK32 "\name error code", last_err, $\err
        CHECK32 "\name from ring 3", last_cs, $(SEL_UCODE32 + 3)
        jmp 3f
1:      ARM32 2f
        \insn
2:      int $VEC_BACK
3:
.endm

# A ring-0 instruction that must trap with `vec` and error code `err`, then skip it.
.macro KERNEL_FAULT name, insn, vec, err
        ARM32 1f
        \insn
1:      CHECK32 "\name vector", last_vec, $\vec
        CHECK32 "\name error code", last_err, $\err
.endm

main:
        # --- gates ----------------------------------------------------------------
        mov $VEC_TRAP, %eax
        mov $0x8f, %dl
        call set_attr32
        mov $VEC_USER, %eax
        mov $0xee, %dl
        call set_attr32
        mov $VEC_ABSENT, %eax
        mov $0x0e, %dl
        call set_attr32

        sti
        ARM32
        int $VEC_INT
int_ret:
        cli
        CHECK32 "interrupt gate vector", last_vec, $VEC_INT
        mov h_eflags, %eax
        and $0x200, %eax
        CHECK32 "interrupt gate clears IF", %eax, $0
        CHECK32 "int n pushes the next eip", last_eip, $int_ret
        CHECK32 "int n pushes cs", last_cs, $SEL_CODE32
        mov last_eflags, %eax
        and $0x200, %eax
        CHECK32 "int n pushes eflags with IF", %eax, $0x200

        sti
        ARM32
        int $VEC_TRAP
        cli
        CHECK32 "trap gate vector", last_vec, $VEC_TRAP
        mov h_eflags, %eax
        and $0x200, %eax
        CHECK32 "trap gate keeps IF", %eax, $0x200

        # --- exceptions in ring 0 -------------------------------------------------
        xor %ecx, %ecx
        mov $1, %eax
        xor %edx, %edx
        ARM32 1f
de_insn:
        div %ecx
1:      CHECK32 "#DE vector", last_vec, $0
        CHECK32 "#DE is a fault (eip of div)", last_eip, $de_insn

        ARM32 1f
ud_insn:
        ud2
1:      CHECK32 "#UD vector", last_vec, $6
        CHECK32 "#UD is a fault", last_eip, $ud_insn

        mov $20, %eax
        ARM32 1f
br_insn:
        bound %eax, bounds
1:      CHECK32 "#BR vector", last_vec, $5
        CHECK32 "#BR is a fault", last_eip, $br_insn
        mov $5, %eax
        bound %eax, bounds               # in range: no trap (not armed)

        ARM32
        int3
bp_ret:
        CHECK32 "#BP vector", last_vec, $3
        CHECK32 "#BP is a trap (next eip)", last_eip, $bp_ret

        mov $0x7f, %al
        add $1, %al                      # OF = 1
        ARM32
        into
of_ret:
        CHECK32 "#OF vector", last_vec, $4
        CHECK32 "#OF is a trap", last_eip, $of_ret
        mov exc_count, %ebx
        mov $1, %al
        add $1, %al                      # OF = 0
        into
        CHECK32 "into without OF does not trap", exc_count, %ebx

        ARM32
        pushf
        orl $0x100, (%esp)
        popf
        nop                              # runs, then #DB
db_ret:
        CHECK32 "#DB single-step vector", last_vec, $1
        CHECK32 "#DB after the next instruction", last_eip, $db_ret
        mov last_dr6, %eax
        and $0x4000, %eax
        CHECK32 "#DB sets DR6.BS", %eax, $0x4000
        mov exc_count, %ebx
        nop
        CHECK32 "TF cleared by the handler", exc_count, %ebx

        # --- segment loads --------------------------------------------------------
        mov $0x108, %ax
        KERNEL_FAULT "mov ds beyond the GDT limit", "mov %ax, %ds", 13, 0x108
        mov %ds, %eax
        CHECK32 "ds kept after the fault", %eax, $SEL_DATA
        mov $SEL_NOTPRESENT, %ax
        KERNEL_FAULT "mov ds not present", "mov %ax, %ds", 11, SEL_NOTPRESENT
        KERNEL_FAULT "mov ss not present", "mov %ax, %ss", 12, SEL_NOTPRESENT
        mov $SEL_XONLY, %ax
        KERNEL_FAULT "mov ds execute-only", "mov %ax, %ds", 13, SEL_XONLY
        mov $SEL_RODATA, %ax
        KERNEL_FAULT "mov ss read-only", "mov %ax, %ss", 13, SEL_RODATA
        mov $SEL_UDATA + 3, %ax
        KERNEL_FAULT "mov ss rpl 3 at cpl 0", "mov %ax, %ss", 13, SEL_UDATA
        xor %eax, %eax
        KERNEL_FAULT "mov ss null", "mov %ax, %ss", 13, 0
        mov %ax, %fs                     # null into a data register is fine
        mov $SEL_DATA, %ax
        mov %ax, %fs
        KERNEL_FAULT "int n through a not-present gate", "int $VEC_ABSENT", 11, (VEC_ABSENT * 8 + 2)
        mov $0x108, %ax
        KERNEL_FAULT "ljmp beyond the GDT limit", "ljmp $0x108, $0", 13, 0x108

        # --- LDT: selectors with TI set -----------------------------------------------
        movw $15, gdt + SEL_LDT          # limit: two entries
        movb $0x82, gdt + SEL_LDT + 5    # present, LDT
        mov $ldt, %eax
        mov %ax, gdt + SEL_LDT + 2
        shr $16, %eax
        mov %al, gdt + SEL_LDT + 4
        mov %ah, gdt + SEL_LDT + 7
        mov $SEL_LDT, %ax
        lldt %ax
        mov $LSEL_DATA, %ax
        mov %ax, %es
        mov %es, %eax
        CHECK32 "mov es from the ldt", %eax, $LSEL_DATA
        mov $SEL_DATA, %ax
        mov %ax, %es
        mov $LSEL_ABSENT, %ax
        KERNEL_FAULT "ldt segment not present", "mov %ax, %es", 11, LSEL_ABSENT
        mov $LSEL_BEYOND, %ax
        KERNEL_FAULT "beyond the ldt limit", "mov %ax, %es", 13, LSEL_BEYOND
        xor %eax, %eax
        lldt %ax
        mov $LSEL_DATA, %ax
        KERNEL_FAULT "ti selector with a null ldtr", "mov %ax, %es", 13, LSEL_DATA

        # --- #DF: #NP while delivering #NP ----------------------------------------
        mov $11, %eax
        mov $0x0e, %dl
        call set_attr32
        KERNEL_FAULT "#DF from #NP during #NP", "int $VEC_ABSENT", 8, 0
        mov $11, %eax
        mov $0x8e, %dl
        call set_attr32
        # #GP while its own gate is absent: #NP(13*8+2+EXT) during #GP -> #DF
        mov $13, %eax
        mov $0x0e, %dl
        call set_attr32
        mov $0x108, %ax
        KERNEL_FAULT "#DF from #NP during #GP", "mov %ax, %ds", 8, 0
        mov $13, %eax
        mov $0x8e, %dl
        call set_attr32

        # --- ring 3 ---------------------------------------------------------------
        mov $user_hello, %eax
        call run_user32
        CHECK32 "iret to ring 3 (cs)", user_cs, $(SEL_UCODE32 + 3)
        CHECK32 "iret to ring 3 (ss)", user_ss, $(SEL_UDATA + 3)
        USER_FAULT "hlt at cpl 3", hlt, 13, 0
        USER_FAULT "mov cr0 at cpl 3", "mov %cr0, %eax", 13, 0
        USER_FAULT "lidt at cpl 3", "lidt idt32_ptr", 13, 0
        USER_FAULT "wrmsr at cpl 3", wrmsr, 13, 0
        USER_FAULT "cli at cpl 3 iopl 0", cli, 13, 0
        USER_FAULT "int through a dpl 0 gate", "int $VEC_INT", 13, (VEC_INT * 8 + 2)
        USER_FAULT "mov ds dpl 0 at cpl 3", "mov $SEL_DATA, %ax; mov %ax, %ds", 13, SEL_DATA
        USER_FAULT "in from a denied port", "mov $DENIED_PORT, %dx; in %dx, %al", 13, 0
        USER_FAULT "outw half denied", "mov $(USER_PORT - 1), %dx; out %ax, %dx", 13, 0

        mov $user_io, %eax
        call run_user32
        CHECK32 "i/o bitmap allows a port at iopl 0", user_io_value, $0x5a

        movl $0x3002, user_eflags        # IOPL 3: no bitmap, CLI/STI allowed
        mov $user_iopl3, %eax
        call run_user32
        movl $0x2, user_eflags
        CHECK32 "iopl 3 reads a bitmap-denied port", user_io_value, $0xa5
        CHECK32 "iopl 3 cli/sti", exc_count, user_exc_before

        # DPL 3 gate: the handler runs on TSS.ESP0 with the user SS:ESP in its frame
        mov $user_int, %eax
        call run_user32
        CHECK32 "dpl 3 gate from ring 3", last_vec, $VEC_USER
        CHECK32 "stack switch to tss.esp0", last_frame, $(tss_stack_top - 20)
        CHECK32 "frame has the user esp", last_esp, $user_stack_top
        CHECK32 "frame has the user ss", last_ss, $(SEL_UDATA + 3)
        CHECK32 "frame has the user cs", last_cs, $(SEL_UCODE32 + 3)

        # #TS: TSS.SS0 is a DPL 3 segment. Delivered to a conforming segment,
        # which needs no stack switch (so the fault is taken at CPL 3).
        mov $10, %eax
        mov $ts_conforming, %ebx
        mov $SEL_CONFORMING, %cx
        mov $0x8e, %dl
        call set_gate32
        movl $SEL_UDATA, tss32 + 8
        movl $0, last_vec
        mov $user_int, %eax
        call run_user32
        CHECK32 "#TS for a dpl 3 tss.ss0 (vector)", last_vec, $10
        CHECK32 "#TS error code is ss0", last_err, $SEL_UDATA
        CHECK32 "#TS handler in the conforming segment at cpl 3", ts_cs, $(SEL_CONFORMING + 3)

        # --- SYSEXIT / SYSENTER: CS/SS from IA32_SYSENTER_CS (+16/+24 for ring 3) ------
        mov $0x174, %ecx
        mov $SEL_CODE32, %eax
        xor %edx, %edx
        wrmsr
        mov $0x175, %ecx
        mov $sysenter_stack, %eax
        wrmsr
        mov $0x176, %ecx
        mov $sysenter_entry, %eax
        wrmsr
        call 1f
        jmp sysenter_done
1:      pusha
        mov %esp, kernel_esp
        mov $(SEL_UDATA + 3), %ax
        mov %ax, %ds
        mov %ax, %es
        mov $user_sysenter, %edx         # EIP
        mov $user_stack_top, %ecx        # ESP
        sti                              # SYSENTER must clear IF again
        sysexit
sysenter_entry:
        mov %cs, %eax
        mov %eax, se_cs
        mov %ss, %eax
        mov %eax, se_ss
        mov %esp, se_esp
        pushf
        pop %eax
        mov %eax, se_flags
        jmp back32
sysenter_done:
        CHECK32 "sysexit: user cs", se_user_cs, $(SEL_UCODE32 + 3)
        CHECK32 "sysexit: user ss", se_user_ss, $(SEL_UDATA + 3)
        CHECK32 "sysexit: user esp from ecx", se_user_esp, $user_stack_top
        CHECK32 "sysenter: kernel cs", se_cs, $SEL_CODE32
        CHECK32 "sysenter: kernel ss", se_ss, $SEL_DATA
        CHECK32 "sysenter: esp from the msr", se_esp, $sysenter_stack
        mov se_flags, %eax
        and $0x200, %eax
        CHECK32 "sysenter clears IF", %eax, $0

        # --- external interrupts waking HLT ---------------------------------------
        ARM32
        PIT_START 11932                  # 10 ms
        sti
        hlt
pit_ret:
        cli
        call pic_mask_all
        CHECK32 "pit irq0 through the 8259 wakes hlt", last_vec, $PIC_BASE
        CHECK32 "hlt resumes after hlt", last_eip, $pit_ret

        ARM32
        mov $LAPIC, %edi
        mov $100000, %eax
        call lapic_oneshot
        sti
        hlt
        cli
        CHECK32 "lapic timer wakes hlt", last_vec, $VEC_LAPIC_TIMER
        jmp finish

# --- ring-3 snippets ------------------------------------------------------------
user_hello:
        mov %cs, %eax
        mov %eax, user_cs
        mov %ss, %eax
        mov %eax, user_ss
        int $VEC_BACK

user_io:
        mov $USER_PORT, %dx
        mov $0x5a, %al
        out %al, %dx
        xor %eax, %eax
        in %dx, %al
        mov %eax, user_io_value
        int $VEC_BACK

user_iopl3:
        mov exc_count, %eax
        mov %eax, user_exc_before
        mov $USER_PORT, %dx
        mov $0xa5, %al
        out %al, %dx
        mov $DENIED_PORT, %dx            # allowed by IOPL alone
        in %dx, %al
        mov $USER_PORT, %dx
        xor %eax, %eax
        in %dx, %al
        mov %eax, user_io_value
        cli
        sti
        cli
        int $VEC_BACK

user_int:
        ARM32
        int $VEC_USER
        int $VEC_BACK

user_sysenter:
        mov %cs, %eax
        mov %eax, se_user_cs
        mov %ss, %eax
        mov %eax, se_user_ss
        mov %esp, se_user_esp
        sysenter

# #TS handler: conforming code, so it runs at CPL 3 on the user stack.
ts_conforming:
        pop %eax
        mov %eax, last_err
        movl $10, last_vec
        mov %cs, %eax
        mov %eax, ts_cs
        movl $SEL_DATA, tss32 + 8
        movl $0, armed
        int $VEC_BACK

        .data
        .balign 8
ldt:    .quad 0x00cf93000000ffff         # data
        .quad 0x00cf13000000ffff         # data, not present
bounds:         .long 0, 10
user_cs:        .long 0
user_ss:        .long 0
user_io_value:  .long 0
user_exc_before: .long 0
ts_cs:          .long 0
.irp v, se_cs, se_ss, se_esp, se_flags, se_user_cs, se_user_ss, se_user_esp
\v:     .long 0
.endr
        .bss
        .balign 16
                .skip 1024
sysenter_stack:
