# real16: 16-bit protected mode and real mode, entered from the multiboot 32-bit
# entry. The 16-bit code is copied to LOW_BLOB (0x8000) and addresses its code and
# data as offsets from there (CS/DS base 0x8000 in both modes: selector 0x38/0x40,
# or segment 0x800). Results are kept in the blob and checked back in 32-bit mode.
#   16-bit protected mode: 286 interrupt vs trap gates (IF), the 16-bit frame,
#     #GP/#NP with selector error codes pushed as 16 bits, #UD, the PIT and the
#     LAPIC timer waking HLT.
#   Real mode (through 16-bit protected mode, CR0.PE cleared): IVT delivery of INT n
#     (IF and TF cleared, IP/CS/FLAGS pushed), #DE, #UD, #BR (BOUND), INT3, INTO,
#     IRET restoring FLAGS, the PIT (8259) and the LAPIC timer (reached through an
#     "unreal" FS) waking HLT; then back to 32-bit protected mode.

        .include "lib.S"

        .set B, LOW_BLOB
        .set VEC_INT, 0x30
        .set VEC_TRAP, 0x31
        .set PM16_SP, 0xf000             # stack: offset in the blob's segment

# ARM16 [resume]: the next instruction must trap (16-bit code, DS = the blob).
.macro ARM16 resume=blob
        movw $(\resume - blob), resume16 - blob
        movw $1, armed16 - blob
.endm

# KEEP src, dst [mask]: dst = src & mask (blob variables). Clobbers %ax.
.macro KEEP src, dst, mask=0xffff
        mov \src - blob, %ax
        and $\mask, %ax
        mov %ax, \dst - blob
.endm

main:
        # copy the blob, fill the IVT and the 16-bit IDT
        COPY_BLOB
        xor %ecx, %ecx
1:      movl $(((B >> 4) << 16) | (h_unexpected - blob)), (,%ecx,4)
        lea idt16(,%ecx,8), %edi
        movw $(h_unexpected - blob), (%edi)
        movw $SEL_CODE16, 2(%edi)
        movl $0x8600, 4(%edi)            # 286 interrupt gate, present, DPL 0
        inc %ecx
        cmp $256, %ecx
        jb 1b
.irp v, 0, 3, 4, 5, 6, VEC_INT, PIC_BASE, VEC_LAPIC_TIMER
        movw $(hr_\v - blob), 4 * \v
.endr
        movw $(hp_int - blob), idt16 + VEC_INT * 8
        movw $(hp_trap - blob), idt16 + VEC_TRAP * 8
        movb $0x87, idt16 + VEC_TRAP * 8 + 5   # 286 trap gate
        movw $(hp_ud - blob), idt16 + 6 * 8
        movw $(hp_np - blob), idt16 + 11 * 8
        movw $(hp_gp - blob), idt16 + 13 * 8
        movw $(hp_pit - blob), idt16 + PIC_BASE * 8
        movw $(hp_lapic - blob), idt16 + VEC_LAPIC_TIMER * 8
        lidt idt16_ptr
        call run_blob
        lidt idt32_ptr
        CHECK_BLOB16 "pm16: interrupt gate vector", p_int_vec, $VEC_INT
        CHECK_BLOB16 "pm16: 286 interrupt gate clears IF", p_int_if, $0
        CHECK_BLOB16 "pm16: 16-bit frame ip", p_int_ip, $(pm16_int_ret - blob)
        CHECK_BLOB16 "pm16: 16-bit frame cs", p_int_cs, $SEL_CODE16
        CHECK_BLOB16 "pm16: 16-bit frame is 6 bytes", p_int_sp, $(PM16_SP - 6)
        CHECK_BLOB16 "pm16: 286 trap gate keeps IF", p_trap_if, $0x200
        CHECK_BLOB16 "pm16: mov ds beyond the gdt limit: #GP", p_gp_vec, $13
        CHECK_BLOB16 "pm16: #GP error code (16-bit push)", p_gp_err, $0x108
        CHECK_BLOB16 "pm16: #GP frame with error code is 8 bytes", p_gp_sp, $(PM16_SP - 8)
        CHECK_BLOB16 "pm16: mov es not present: #NP", p_np_vec, $11
        CHECK_BLOB16 "pm16: #NP error code", p_np_err, $SEL_NOTPRESENT
        CHECK_BLOB16 "pm16: ud2: #UD", p_ud_vec, $6
        CHECK_BLOB16 "pm16: #UD is a fault", p_ud_ip, $(pm16_ud - blob)
        CHECK_BLOB16 "pm16: pit wakes hlt", p_pit_vec, $PIC_BASE
        CHECK_BLOB16 "pm16: pit: hlt resumes after hlt", p_pit_ip, $(pm16_pit_ret - blob)
        CHECK_BLOB16 "pm16: lapic timer wakes hlt", p_lapic_vec, $VEC_LAPIC_TIMER
        CHECK_BLOB16 "real: cs after the switch", r_cs, $(B >> 4)
        CHECK_BLOB16 "real: int n through the ivt", r_int_vec, $VEC_INT
        CHECK_BLOB16 "real: int n pushes the next ip", r_int_ip, $(real_int_ret - blob)
        CHECK_BLOB16 "real: int n pushes cs", r_int_cs, $(B >> 4)
        CHECK_BLOB16 "real: int n clears IF", r_int_flags, $0
        CHECK_BLOB16 "real: int n pushes flags with IF", r_int_pflags, $0x200
        CHECK_BLOB16 "real: iret restores flags (CF set by the handler)", r_iret_cf, $1
        CHECK_BLOB16 "real: #DE vector", r_de_vec, $0
        CHECK_BLOB16 "real: #DE is a fault", r_de_ip, $(real_div - blob)
        CHECK_BLOB16 "real: #UD vector", r_ud_vec, $6
        CHECK_BLOB16 "real: #UD is a fault", r_ud_ip, $(real_ud - blob)
        CHECK_BLOB16 "real: #BR vector", r_br_vec, $5
        CHECK_BLOB16 "real: #BR is a fault", r_br_ip, $(real_bound - blob)
        CHECK_BLOB16 "real: bound in range does not trap", r_bound_ok, $1
        CHECK_BLOB16 "real: int3 vector", r_bp_vec, $3
        CHECK_BLOB16 "real: int3 is a trap", r_bp_ip, $(real_bp_ret - blob)
        CHECK_BLOB16 "real: into vector", r_of_vec, $4
        CHECK_BLOB16 "real: into is a trap", r_of_ip, $(real_of_ret - blob)
        CHECK_BLOB16 "real: pit irq0 wakes hlt", r_pit_vec, $PIC_BASE
        CHECK_BLOB16 "real: pit: hlt resumes after hlt", r_pit_ip, $(real_pit_ret - blob)
        CHECK_BLOB16 "real: lapic timer wakes hlt", r_lapic_vec, $VEC_LAPIC_TIMER
        CHECK_BLOB16 "unexpected 16-bit exceptions", unexpected16, $0
        jmp finish

# run_blob: runs the 16-bit code; it comes back in 32-bit protected mode at back32.
run_blob:
        pusha
        mov %esp, kernel_esp
        mov $SEL_DATA, %ax               # FS stays flat (4 GiB) into real mode
        mov %ax, %fs
        ljmp $SEL_CODE16, $(pm16 - blob)

# --- the 16-bit blob (copied to B) -------------------------------------------------
        .code16
        .balign 16
blob:
pm16:
        mov $SEL_DATA16, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $PM16_SP, %sp

        sti
        ARM16
        int $VEC_INT
pm16_int_ret:
        cli
        KEEP b_vec, p_int_vec
        KEEP b_hflags, p_int_if, 0x200
        KEEP b_ip, p_int_ip
        KEEP b_cs, p_int_cs
        KEEP b_frame, p_int_sp
        sti
        ARM16
        int $VEC_TRAP
        cli
        KEEP b_hflags, p_trap_if, 0x200

        mov $0x108, %ax
        ARM16 1f
        mov %ax, %ds
1:      KEEP b_vec, p_gp_vec
        KEEP b_err, p_gp_err
        KEEP b_frame, p_gp_sp
        mov $SEL_NOTPRESENT, %ax
        ARM16 1f
        mov %ax, %es
1:      KEEP b_vec, p_np_vec
        KEEP b_err, p_np_err
        ARM16 1f
pm16_ud:
        ud2
1:      KEEP b_vec, p_ud_vec
        KEEP b_ip, p_ud_ip

        ARM16
        PIT_START 11932                  # 10 ms
        sti
        hlt
pm16_pit_ret:
        cli
        mov $0xfb, %al
        out %al, $0x21
        KEEP b_vec, p_pit_vec
        KEEP b_ip, p_pit_ip

        ARM16
        call lapic16
        sti
        hlt
        cli
        KEEP b_vec, p_lapic_vec

        # --- to real mode: 64 KiB segments are loaded, now clear PE ---------------
        mov $SEL_DATA16, %ax
        mov %ax, %ss
        mov %cr0, %eax
        and $~1, %eax
        mov %eax, %cr0
        ljmp $(B >> 4), $(real - blob)

real:
        mov $(B >> 4), %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $PM16_SP, %sp
        lidt ivt_ptr - blob
        mov %cs, %ax
        mov %ax, r_cs - blob

        sti
        ARM16
        int $VEC_INT
real_int_ret:
        cli
        KEEP b_vec, r_int_vec
        KEEP b_ip, r_int_ip
        KEEP b_cs, r_int_cs
        KEEP b_hflags, r_int_flags, 0x200
        KEEP b_flags, r_int_pflags, 0x200

        clc
        movw $1, orflags - blob          # the handler sets CF in the pushed FLAGS
        ARM16
        int $VEC_INT
        mov $0, %ax
        adc $0, %ax
        mov %ax, r_iret_cf - blob

        xor %cx, %cx
        mov $1, %ax
        xor %dx, %dx
        ARM16 1f
real_div:
        div %cx
1:      KEEP b_vec, r_de_vec
        KEEP b_ip, r_de_ip
        ARM16 1f
real_ud:
        ud2
1:      KEEP b_vec, r_ud_vec
        KEEP b_ip, r_ud_ip
        mov $20, %ax
        ARM16 1f
real_bound:
        bound %ax, bounds16 - blob
1:      KEEP b_vec, r_br_vec
        KEEP b_ip, r_br_ip
        mov $5, %ax
        bound %ax, bounds16 - blob
        movw $1, r_bound_ok - blob
        ARM16
        int3
real_bp_ret:
        KEEP b_vec, r_bp_vec
        KEEP b_ip, r_bp_ip
        mov $0x7f, %al
        add $1, %al
        ARM16
        into
real_of_ret:
        KEEP b_vec, r_of_vec
        KEEP b_ip, r_of_ip

        ARM16
        PIT_START 11932
        sti
        hlt
real_pit_ret:
        cli
        mov $0xfb, %al
        out %al, $0x21
        KEEP b_vec, r_pit_vec
        KEEP b_ip, r_pit_ip

        ARM16
        call lapic16                     # FS is still flat ("unreal")
        sti
        hlt
        cli
        KEEP b_vec, r_lapic_vec

        # --- back to 32-bit protected mode ------------------------------------------
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $SEL_CODE32, $back32

# lapic16: one-shot LAPIC timer through FS (flat 4 GiB, base 0).
lapic16:
        addr32 movl $0xb, %fs:LAPIC + 0x3e0
        addr32 movl $VEC_LAPIC_TIMER, %fs:LAPIC + 0x320
        addr32 movl $100000, %fs:LAPIC + 0x380
        ret

# --- 16-bit handlers ---------------------------------------------------------------
# H16 name, vector, has_error, eoi (0 none, 1 8259, 2 LAPIC through FS): records
# vector, error, IP, CS, FLAGS, the SP of the IP slot and the handler's FLAGS;
# applies `resume` (new IP) and `orflags`; IRET.
.macro H16 name, vec, haserr, eoi
\name:
        push %bp
        mov %sp, %bp
        push %ax
        pushf
        pop %ax
        mov %ax, b_hflags - blob
        movw $\vec, b_vec - blob
        .if \haserr
        mov 2(%bp), %ax
        mov %ax, b_err - blob
        .endif
        .set F, 2 + 2 * \haserr
        mov F(%bp), %ax
        mov %ax, b_ip - blob
        mov F + 2(%bp), %ax
        mov %ax, b_cs - blob
        mov F + 4(%bp), %ax
        mov %ax, b_flags - blob
        lea 2(%bp), %ax                  # lowest word the CPU pushed
        mov %ax, b_frame - blob
        .if \eoi == 1
        mov $0x20, %al
        out %al, $0x20
        .endif
        .if \eoi == 2
        addr32 movl $0, %fs:LAPIC + 0xb0
        .endif
        cmpw $0, armed16 - blob
        jne 1f
        incw unexpected16 - blob
1:      movw $0, armed16 - blob
        mov resume16 - blob, %ax
        test %ax, %ax
        jz 2f
        mov %ax, F(%bp)
        movw $0, resume16 - blob
2:      mov orflags - blob, %ax
        or %ax, F + 4(%bp)
        movw $0, orflags - blob
        pop %ax
        pop %bp
        .if \haserr
        add $2, %sp
        .endif
        iret
.endm

H16 hp_int, VEC_INT, 0, 0
H16 hp_trap, VEC_TRAP, 0, 0
H16 hp_ud, 6, 0, 0
H16 hp_np, 11, 1, 0
H16 hp_gp, 13, 1, 0
H16 hp_pit, PIC_BASE, 0, 1
H16 hp_lapic, VEC_LAPIC_TIMER, 0, 2
.irp v, 0, 3, 4, 5, 6, VEC_INT
H16 hr_\v, \v, 0, 0
.endr
H16 hr_PIC_BASE, PIC_BASE, 0, 1
H16 hr_VEC_LAPIC_TIMER, VEC_LAPIC_TIMER, 0, 2

h_unexpected:
        incw unexpected16 - blob
        mov $EXIT_UNEXPECTED, %al
        out %al, $EXIT_PORT
1:      hlt
        jmp 1b

        .balign 4
ivt_ptr:        .word 0x3ff
                .long 0
bounds16:       .word 0, 10
armed16:        .word 0
resume16:       .word 0
orflags:        .word 0
unexpected16:   .word 0
b_vec:            .word 0
b_err:            .word 0
b_ip:             .word 0
b_cs:             .word 0
b_flags:          .word 0
b_frame:          .word 0
b_hflags:         .word 0
.irp r, p_int_vec, p_int_if, p_int_ip, p_int_cs, p_int_sp, p_trap_if, p_gp_vec, p_gp_err, p_gp_sp
\r:     .word 0
.endr
.irp r, p_np_vec, p_np_err, p_ud_vec, p_ud_ip, p_pit_vec, p_pit_ip, p_lapic_vec
\r:     .word 0
.endr
.irp r, r_cs, r_int_vec, r_int_ip, r_int_cs, r_int_flags, r_int_pflags, r_iret_cf
\r:     .word 0
.endr
.irp r, r_de_vec, r_de_ip, r_ud_vec, r_ud_ip, r_br_vec, r_br_ip, r_bound_ok, r_bp_vec, r_bp_ip
\r:     .word 0
.endr
.irp r, r_of_vec, r_of_ip, r_pit_vec, r_pit_ip, r_lapic_vec
\r:     .word 0
.endr
blob_end:
        .code32

        .data
        .balign 8
        .word 0
idt16_ptr:
        .word 256 * 8 - 1
        .long idt16

        .bss
        .balign 8
idt16:          .skip 256 * 8
