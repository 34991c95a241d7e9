# task: hardware task switches and call gates in 32-bit protected mode.
#   JMP to a TSS (busy bits, registers saved and restored, no NT), CALL to a TSS
#   (NT, back link, IRET returning to the caller), INT n through a task gate, #DF
#   through a task gate (error code on the new task's stack), CALL to a 16-bit TSS
#   running 16-bit code, JMP to a busy TSS ->
#   #GP; a call gate from ring 3 to ring 0 (stack from the TSS, parameters copied,
#   RETF with an immediate back to ring 3), a DPL 0 call gate from ring 3 -> #GP.

        .include "lib.S"

        .set SEL_TSSB, SEL_SPARE         # 0x90: task B (JMP/CALL target)
        .set SEL_TSSC, SEL_SPARE + 8     # task C (behind the task gate of VEC_TASK)
        .set SEL_TSSD, SEL_SPARE + 16    # task D (behind the #DF task gate)
        .set SEL_CG3, SEL_SPARE + 24     # call gate, DPL 3, to ring 0, 2 parameters
        .set SEL_CG0, SEL_SPARE + 32     # call gate, DPL 0
        .set SEL_TSSE, SEL_SPARE + 40    # task E: 16-bit TSS, 16-bit code in the blob
        .set VEC_TASK, 0x50
        .set VEC_ABSENT, 0x42
        .set TSS_LINK, 0x00
        .set TSS_EIP, 0x20

# new_task tss, eip, esp: a 32-bit TSS for a ring-0 flat task, and its descriptor.
.macro NEW_TASK sel, tss, eip, esp
        mov $\tss, %edi
        xor %eax, %eax
        mov $26, %ecx
        rep stosl
        movl $\eip, \tss + TSS_EIP
        movl $0x2, \tss + 0x24           # EFLAGS
        movl $\esp, \tss + 0x38          # ESP
        movl $SEL_CODE32, \tss + 0x4c    # CS
        .irp off, 0x48, 0x50, 0x54, 0x58, 0x5c
        movl $SEL_DATA, \tss + \off      # ES SS DS FS GS
        .endr
        movw $104, \tss + 0x66
        mov $\tss, %eax
        mov $\sel, %ebx
        call tss_desc
.endm

# CALL_GATE sel, target, attr, params
.macro CALL_GATE sel, target, attr, params
        mov $\target, %eax
        mov %ax, gdt + \sel
        movw $SEL_CODE32, gdt + \sel + 2
        movb $\params, gdt + \sel + 4
        movb $\attr, gdt + \sel + 5
        shr $16, %eax
        mov %ax, gdt + \sel + 6
.endm

main:
        NEW_TASK SEL_TSSB, tss_b, task_b, stack_b
        NEW_TASK SEL_TSSC, tss_c, task_c, stack_c
        NEW_TASK SEL_TSSD, tss_d, task_d, stack_d
        CALL_GATE SEL_CG3, gate_target, 0xec, 2
        CALL_GATE SEL_CG0, gate_target, 0x8c, 0
        movw $SEL_TSSC, idt32 + VEC_TASK * 8 + 2
        movb $0x85, idt32 + VEC_TASK * 8 + 5     # task gate, DPL 0

        # --- JMP to a TSS and back -----------------------------------------------------
        mov $0x1234, %ebx
        mov $0x5678, %esi
        movl $0, b_use_iret
        ljmp $SEL_TSSB, $0
jmp_back:
        CHECK32 "jmp to tss: task b ran", b_runs, $1
        CHECK32 "jmp to tss: task register in task b", b_tr, $SEL_TSSB
        mov b_flags, %eax
        and $0x4000, %eax
        CHECK32 "jmp to tss: NT clear", %eax, $0
        CHECK32 "jmp to tss: old task no longer busy", b_main_type, $0x89
        CHECK32 "jmp to tss: new task busy", b_self_type, $0x8b
        CHECK32 "jmp to tss: task b's registers from its tss", b_ebx, $0
        CHECK32 "jmp back: ebx restored from the tss", %ebx, $0x1234
        CHECK32 "jmp back: esi restored from the tss", %esi, $0x5678
        CHECK32 "jmp back: eip saved in the old tss", tss32 + TSS_EIP, $jmp_back
        str %eax
        CHECK32 "jmp back: task register", %eax, $SEL_TSS32

        # --- CALL to a TSS, IRET back (nested task) -----------------------------------
        movl $1, b_use_iret
        lcall $SEL_TSSB, $0
        pushf
        pop %eax
        and $0x4000, %eax
        CHECK32 "call to tss: caller's NT still clear", %eax, $0
        CHECK32 "call to tss: task b ran again", b_runs, $2
        mov b_flags, %eax
        and $0x4000, %eax
        CHECK32 "call to tss: NT set in the called task", %eax, $0x4000
        CHECK32 "call to tss: back link", b_link, $SEL_TSS32
        CHECK32 "call to tss: caller stays busy", b_main_type, $0x8b
        movzbl gdt + SEL_TSSB + 5, %eax
        CHECK32 "iret to the caller: nested task no longer busy", %eax, $0x89
        str %eax
        CHECK32 "iret to the caller: task register", %eax, $SEL_TSS32

        # --- INT n through a task gate ---------------------------------------------------
        int $VEC_TASK
        CHECK32 "task gate: task c ran", c_runs, $1
        CHECK32 "task gate: task register in task c", c_tr, $SEL_TSSC
        mov c_flags, %eax
        and $0x4000, %eax
        CHECK32 "task gate: NT set", %eax, $0x4000
        CHECK32 "task gate: back link", c_link, $SEL_TSS32

        # --- #DF through a task gate -------------------------------------------------------
        movw $SEL_TSSD, idt32 + 8 * 8 + 2
        movb $0x85, idt32 + 8 * 8 + 5
        mov $11, %eax
        mov $0x0e, %dl
        call set_attr32
        mov $VEC_ABSENT, %eax
        call set_attr32
        mov exc_count, %ebx
        int $VEC_ABSENT
df_resume:
        mov $11, %eax
        mov $0x8e, %dl
        call set_attr32
        CHECK32 "#DF task gate: task d ran", d_runs, $1
        CHECK32 "#DF task gate: error code on the new task's stack", d_err, $0
        CHECK32 "#DF task gate: task register in task d", d_tr, $SEL_TSSD
        CHECK32 "#DF task gate: no handler in the old task", exc_count, %ebx

        # --- CALL to a 16-bit TSS ------------------------------------------------------------
        COPY_BLOB
        mov $tss_e, %edi
        xor %eax, %eax
        mov $11, %ecx
        rep stosl
        movw $(task_e - blob), tss_e + 0x0e      # IP
        movw $0x2, tss_e + 0x10                  # FLAGS
        movw $0xf000, tss_e + 0x1a               # SP
        movw $SEL_DATA16, tss_e + 0x22           # ES
        movw $SEL_CODE16, tss_e + 0x24           # CS
        movw $SEL_DATA16, tss_e + 0x26           # SS
        movw $SEL_DATA16, tss_e + 0x28           # DS
        mov $tss_e, %eax
        mov $SEL_TSSE, %ebx
        call tss_desc
        movw $0x2b, gdt + SEL_TSSE               # 16-bit TSS: limit 43
        movb $0x81, gdt + SEL_TSSE + 5           # available 16-bit TSS
        lcall $SEL_TSSE, $0
        CHECK_BLOB16 "16-bit tss: task e ran", e_runs, $1
        CHECK_BLOB16 "16-bit tss: task register", e_tr, $SEL_TSSE
        CHECK_BLOB16 "16-bit tss: NT set", e_flags, $0x4000
        CHECK_BLOB16 "16-bit tss: busy while running", e_type, $0x83
        movzwl tss_e, %eax
        CHECK32 "16-bit tss: back link", %eax, $SEL_TSS32
        movzbl gdt + SEL_TSSE + 5, %eax
        CHECK32 "16-bit tss: not busy after iret", %eax, $0x81
        str %eax
        CHECK32 "16-bit tss: back in the 32-bit task", %eax, $SEL_TSS32

        # --- JMP to a busy TSS ---------------------------------------------------------------
        ARM32 1f
        ljmp $SEL_TSS32, $0
1:      CHECK32 "jmp to the busy current tss: #GP", last_vec, $13
        CHECK32 "jmp to the busy current tss: error code", last_err, $SEL_TSS32

        # --- call gates ------------------------------------------------------------------------
        mov $user_gate, %eax
        call run_user32
        CHECK32 "call gate: target runs at cpl 0", g_cs, $SEL_CODE32
        CHECK32 "call gate: stack from tss.esp0", g_esp, $(tss_stack_top - 24)
        CHECK32 "call gate: ss from tss.ss0", g_ss, $SEL_DATA
        CHECK32 "call gate: return cs", g_ret_cs, $(SEL_UCODE32 + 3)
        CHECK32 "call gate: return eip", g_ret_eip, $gate_ret
        CHECK32 "call gate: first parameter copied", g_p0, $0x2222
        CHECK32 "call gate: second parameter copied", g_p1, $0x1111
        CHECK32 "call gate: caller's esp", g_user_esp, $(user_stack_top - 8)
        CHECK32 "call gate: caller's ss", g_user_ss, $(SEL_UDATA + 3)
        CHECK32 "retf imm: back in ring 3", u_cs_after, $(SEL_UCODE32 + 3)
        CHECK32 "retf imm: parameters released", u_esp_after, $user_stack_top

        mov $user_gate0, %eax
        call run_user32
        CHECK32 "dpl 0 call gate from ring 3: #GP", last_vec, $13
        CHECK32 "dpl 0 call gate from ring 3: error code", last_err, $SEL_CG0
        jmp finish

# tss_desc: descriptor %ebx <- available 32-bit TSS at %eax, limit 103.
tss_desc:
        movw $103, gdt(%ebx)
        mov %ax, gdt + 2(%ebx)
        shr $16, %eax
        mov %al, gdt + 4(%ebx)
        movb $0x89, gdt + 5(%ebx)
        movb $0, gdt + 6(%ebx)
        mov %ah, gdt + 7(%ebx)
        ret

# --- tasks -------------------------------------------------------------------------------
task_b:
        incl b_runs
        str %eax
        mov %eax, b_tr
        pushf
        pop %eax
        mov %eax, b_flags
        movzwl tss_b + TSS_LINK, %eax
        mov %eax, b_link
        movzbl gdt + SEL_TSS32 + 5, %eax
        mov %eax, b_main_type
        movzbl gdt + SEL_TSSB + 5, %eax
        mov %eax, b_self_type
        mov %ebx, b_ebx
        mov $0xbbbb, %ebx                # must not leak into the main task
        mov $0xbbbb, %esi
        cmpl $0, b_use_iret
        jne 1f
        ljmp $SEL_TSS32, $0
        jmp task_b
1:      iret
        jmp task_b

task_c:
        incl c_runs
        str %eax
        mov %eax, c_tr
        pushf
        pop %eax
        mov %eax, c_flags
        movzwl tss_c + TSS_LINK, %eax
        mov %eax, c_link
        iret
        jmp task_c

task_d:
        incl d_runs
        pop %eax
        mov %eax, d_err
        str %eax
        mov %eax, d_tr
        movl $df_resume, tss32 + TSS_EIP # the old task restarts past the fault
        iret
        jmp task_d

# --- call gates ----------------------------------------------------------------------------
user_gate:
        push $0x1111
        push $0x2222
        lcall $(SEL_CG3 + 3), $0
gate_ret:
        mov %cs, %eax
        mov %eax, u_cs_after
        mov %esp, u_esp_after
        int $VEC_BACK

gate_target:
        mov %cs, %eax
        mov %eax, g_cs
        mov %ss, %eax
        mov %eax, g_ss
        mov %esp, g_esp
        .irp v, g_ret_eip, g_ret_cs, g_p0, g_p1, g_user_esp, g_user_ss
        pop %eax
        mov %eax, \v
        .endr
        sub $24, %esp
        lret $8

user_gate0:
        ARM32 1f
        lcall $(SEL_CG0 + 3), $0
1:      int $VEC_BACK

# --- task E: 16-bit code, copied to LOW_BLOB (CS/DS base 0x8000) --------------------------
        .code16
        .balign 16
blob:
task_e:
        incw e_runs - blob
        str %ax
        mov %ax, e_tr - blob
        pushf
        pop %ax
        and $0x4000, %ax
        mov %ax, e_flags - blob
        mov $SEL_DATA, %ax               # read the GDT through a flat segment
        mov %ax, %es
        addr32 movzbw %es:gdt + SEL_TSSE + 5, %ax
        mov %ax, e_type - blob
        iret                             # NT: back to the caller's task
        jmp task_e
        .balign 2
e_runs:         .word 0
e_tr:           .word 0
e_flags:        .word 0
e_type:         .word 0
blob_end:
        .code32

        .data
        .balign 4
.irp v, b_runs, b_tr, b_flags, b_link, b_main_type, b_self_type, b_ebx, b_use_iret
\v:     .long 0
.endr
.irp v, c_runs, c_tr, c_flags, c_link, d_runs, d_err, d_tr
\v:     .long 0
.endr
.irp v, g_cs, g_ss, g_esp, g_ret_eip, g_ret_cs, g_p0, g_p1, g_user_esp, g_user_ss
\v:     .long 0
.endr
u_cs_after:     .long 0
u_esp_after:    .long 0

        .bss
        .balign 16
tss_b:          .skip 104
tss_c:          .skip 104
tss_d:          .skip 104
tss_e:          .skip 44
        .balign 16
                .skip 4096
stack_b:
                .skip 4096
stack_c:
                .skip 4096
stack_d:
