# debug: the debug registers in 32-bit protected mode, with a #DB handler of its
# own that counts, records DR6 and the stacked EIP, clears DR6 and TF, and sets RF
# in the frame (so a faulting instruction breakpoint lets the instruction run).
#   Instruction breakpoint (DR0, R/W=00): #DB before the instruction with DR6.B0,
#   once per execution (RF suppresses only the re-execution after the handler); a
#   breakpoint whose L/G bits are clear never triggers. Data breakpoints: R/W=01 on
#   a dword (a read does not trigger; a write overlapping it does, after the
#   instruction, DR6.B1), R/W=11 on a word through G2 (reads next to it on the same
#   page do not trigger, a byte read inside it does, DR6.B2). TF: #DB after the
#   instruction with DR6.BS. (DR7.GD is left to tests/x86/tcg_task_test.cpp: QEMU's
#   TCG, the second implementation these kernels are checked against, ignores it.)

        .include "lib.S"

        .set DR7_L0, 1 << 0
        .set DR7_L1, 1 << 2
        .set DR7_G2, 1 << 5
        .set DR6_BS, 1 << 14

main:
        mov $1, %eax                     # vector 1 -> db_handler
        mov $db_handler, %ebx
        mov $SEL_CODE32, %cx
        mov $0x8e, %dl
        call set_gate32

        # --- instruction breakpoint -------------------------------------------------
        movl $0, db_count
        mov $bp1, %eax
        mov %eax, %dr0
        mov $DR7_L0, %eax                # R/W0 = 00 (execute), LEN0 = 00
        mov %eax, %dr7
        xor %ecx, %ecx
        mov $2, %edi
bp1:    inc %ecx
        dec %edi
        jnz bp1
        xor %eax, %eax
        mov %eax, %dr7
        CHECK32 "instruction breakpoint: one #DB per execution", db_count, $2
        CHECK32 "instruction breakpoint: eip of the instruction", db_eip, $bp1
        mov db_dr6, %eax
        and $0xf, %eax
        CHECK32 "instruction breakpoint: DR6.B0", %eax, $1
        CHECK32 "instruction breakpoint: the instruction ran each time", %ecx, $2

        movl $0, db_count
        mov $bp2, %eax
        mov %eax, %dr0
        mov $0x400, %eax                 # L0 = G0 = 0
        mov %eax, %dr7
bp2:    nop
        CHECK32 "disabled instruction breakpoint", db_count, $0

        # --- data breakpoint on writes -----------------------------------------------
        mov $wdata, %eax
        mov %eax, %dr1
        mov $(DR7_L1 | (1 << 20) | (3 << 22)), %eax  # R/W1 = 01, LEN1 = 11 (dword)
        mov %eax, %dr7
        mov wdata, %ebx
        CHECK32 "write breakpoint: a read does not trigger", db_count, $0
        movw $0x1234, wdata + 2
after_write:
        CHECK32 "write breakpoint: one #DB", db_count, $1
        CHECK32 "write breakpoint: trap after the write", db_eip, $after_write
        mov db_dr6, %eax
        and $0xf, %eax
        CHECK32 "write breakpoint: DR6.B1", %eax, $2
        CHECK32 "write breakpoint: the write happened", wdata, $0x12340000

        # --- data breakpoint on reads and writes ---------------------------------------
        movl $0, db_count
        mov $(rdata + 4), %eax
        mov %eax, %dr2
        mov $(DR7_G2 | (3 << 24) | (1 << 26)), %eax  # R/W2 = 11, LEN2 = 01 (word)
        mov %eax, %dr7
        mov rdata, %eax
        mov rdata + 8, %eax
        CHECK32 "read/write breakpoint: neighbours do not trigger", db_count, $0
        movb rdata + 5, %al
after_read:
        CHECK32 "read/write breakpoint: a read triggers", db_count, $1
        CHECK32 "read/write breakpoint: trap after the read", db_eip, $after_read
        mov db_dr6, %eax
        and $0xf, %eax
        CHECK32 "read/write breakpoint: DR6.B2", %eax, $4
        xor %eax, %eax
        mov %eax, %dr7

        # --- single step ------------------------------------------------------------------
        movl $0, db_count
        pushf
        orl $0x100, (%esp)
        popf
        nop
after_step:
        CHECK32 "single step: one #DB", db_count, $1
        CHECK32 "single step: after the instruction", db_eip, $after_step
        mov db_dr6, %eax
        and $DR6_BS, %eax
        CHECK32 "single step: DR6.BS", %eax, $DR6_BS

        jmp finish

db_handler:
        push %eax
        incl db_count
        mov %dr6, %eax
        mov %eax, db_dr6
        mov 4(%esp), %eax
        mov %eax, db_eip
        xor %eax, %eax
        mov %eax, %dr6
        andl $~0x100, 12(%esp)           # TF off
        orl $0x10000, 12(%esp)           # RF on
        pop %eax
        iret

        .data
        .balign 16
wdata:          .long 0, 0
rdata:          .long 0, 0, 0, 0
db_count:       .long 0
db_dr6:         .long 0
db_eip:         .long 0
        .text
