# v86: virtual-8086 mode, entered with IRET (EFLAGS.VM) from 32-bit protected mode.
# The 16-bit code is copied to LOW_BLOB (0x8000) and runs with CS = DS = SS = 0x800.
#   IOPL 3: INT n goes through the protected-mode IDT to a ring-0 handler, which
#   finds the v86 segment registers in its frame and null selectors in DS/ES, and
#   returns with IRETD; CLI/STI work. IOPL 0: INT n, CLI, PUSHF, IRET -> #GP(0); I/O
#   follows the TSS I/O bitmap whatever IOPL is; #UD and #DE are delivered through
#   the IDT with a virtual-8086 frame; the PIT's interrupt arrives in v86 mode.

        .include "lib.S"

        .set B, LOW_BLOB
        .set SEG, B >> 4
        .set V86_SP, 0xf000
        .set VEC_INT, 0x30
        .set VM, 0x20000
        .set USER_PORT, 0x3ff
        .set DENIED_PORT, 0x3fe

# V86_FAULT name, entry, iopl, vector: runs the blob at `entry` with IOPL, which
# must trap with `vector` (the trap ends the run).
.macro V86_FAULT name, entry, iopl, vec
        movl $RESUME_KERNEL, resume
        movl $1, armed
        mov $(\entry - blob), %eax
        mov $(\iopl << 12), %ebx
        call run_v86
        CHECK32 "\name: vector", last_vec, $\vec
        CHECK32 "\name: error code", last_err, $0
        mov last_eflags, %eax
        and $VM, %eax
        CHECK32 "\name: frame has VM", %eax, $VM
        CHECK32 "\name: frame cs", last_cs, $SEG
.endm

main:
        COPY_BLOB
        mov $VEC_INT, %eax               # INT n from v86 (CPL 3) needs a DPL 3 gate
        mov $0xee, %dl
        call set_attr32

        # IOPL 3: INT n through the IDT, and back with IRETD
        movl $1, armed
        mov $(v86_int - blob), %eax
        mov $0x3000, %ebx
        call run_v86
        CHECK32 "iopl 3 int n: vector", last_vec, $VEC_INT
        mov last_eflags, %eax
        and $VM, %eax
        CHECK32 "iopl 3 int n: frame has VM", %eax, $VM
        CHECK32 "iopl 3 int n: frame cs", last_cs, $SEG
        CHECK32 "iopl 3 int n: frame ip", last_eip, $(v86_int_ret - blob)
        CHECK32 "iopl 3 int n: frame ss", last_ss, $SEG
        CHECK32 "iopl 3 int n: frame sp", last_esp, $V86_SP
        CHECK32 "iopl 3 int n: frame ds", last_v86_ds, $SEG
        CHECK32 "iopl 3 int n: frame es", last_v86_es, $(SEG + 1)
        CHECK32 "iopl 3 int n: handler gets a null ds", h_ds, $0
        CHECK32 "iopl 3 int n: stack from tss.esp0", last_frame, $(tss_stack_top - 36)
        CHECK_BLOB16 "iretd back to v86: code went on", v86_after, $0x86
        CHECK_BLOB16 "iretd back to v86: cs:ip addressing", v86_cs_seen, $SEG
        CHECK_BLOB16 "iopl 3 cli/sti do not trap", v86_cli_ok, $1

        # the PIT's IRQ0 interrupts virtual-8086 code (a loop; HLT is privileged
        # there): delivered to ring 0 with a v86 frame; the handler sets the flag
        # the loop waits for (a fix-up), IRETD resumes the loop
        movl $1, armed
        FIX $(B + (v86_flag - blob)), $-1, $1
        PIT_START 11932
        mov $(v86_wait - blob), %eax
        mov $0x3000, %ebx
        call run_v86
        call pic_mask_all
        CHECK32 "pit irq0 interrupts v86 code", last_vec, $PIC_BASE
        mov last_eflags, %eax
        and $VM, %eax
        CHECK32 "pit irq0 in v86: frame has VM", %eax, $VM
        CHECK32 "pit irq0 in v86: frame cs", last_cs, $SEG
        CHECK_BLOB16 "pit irq0 in v86: the loop saw the handler's write", v86_flag, $1

        V86_FAULT "iopl 0 int n", v86_int, 0, 13
        V86_FAULT "iopl 0 cli", v86_cli, 0, 13
        V86_FAULT "iopl 0 pushf", v86_pushf, 0, 13
        V86_FAULT "iopl 0 iret", v86_iret, 0, 13
        V86_FAULT "in from a bitmap-denied port", v86_in_denied, 3, 13
        V86_FAULT "ud2 in v86", v86_ud, 3, 6
        CHECK32 "ud2 in v86: fault ip", last_eip, $(v86_ud - blob)

        movb $0, B + (v86_io_value - blob)
        mov $(v86_io - blob), %eax       # allowed by the bitmap at IOPL 0; ends with #UD
        xor %ebx, %ebx
        movl $RESUME_KERNEL, resume
        movl $1, armed
        call run_v86
        CHECK_BLOB16 "iopl 0 i/o through the bitmap", v86_io_value, $0x5a
        CHECK32 "iopl 0 i/o: run ended at the ud2", last_vec, $6
        jmp finish

# run_v86: IRET into virtual-8086 mode at SEG:%ax with IOPL bits %ebx; the run ends
# with `int $VEC_BACK` (IOPL 3) or a trap armed with RESUME_KERNEL.
run_v86:
        pusha
        mov %esp, kernel_esp
        push $SEG                        # GS
        push $SEG                        # FS
        push $SEG                        # DS
        push $(SEG + 1)                  # ES
        push $SEG                        # SS
        push $V86_SP
        lea (VM | 2)(%ebx), %ecx
        push %ecx                        # EFLAGS
        push $SEG                        # CS
        push %eax                        # IP
        iret

# --- the virtual-8086 code (copied to B) -----------------------------------------------
        .code16
        .balign 16
blob:
v86_int:
        int $VEC_INT
v86_int_ret:
        movb $0x86, v86_after - blob
        mov %cs, %ax
        mov %ax, v86_cs_seen - blob
        cli
        sti
        cli
        movw $1, v86_cli_ok - blob
        int $VEC_BACK

v86_wait:
        sti
1:      cmpw $0, v86_flag - blob
        je 1b
        cli
        int $VEC_BACK

v86_cli:
        cli
        int $VEC_BACK

v86_pushf:
        pushf
        int $VEC_BACK

v86_iret:
        push $0
        push $0
        push $0
        iret

v86_in_denied:
        mov $DENIED_PORT, %dx
        in %dx, %al
        int $VEC_BACK

v86_ud:
        ud2

v86_io:
        mov $USER_PORT, %dx
        mov $0x5a, %al
        out %al, %dx
        xor %al, %al
        in %dx, %al
        mov %al, v86_io_value - blob
        ud2

        .balign 2
v86_after:      .word 0
v86_cs_seen:    .word 0
v86_cli_ok:     .word 0
v86_io_value:   .word 0
v86_flag:       .long 0
blob_end:
        .code32
