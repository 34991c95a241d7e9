# paging: #PF and the page walk under 2-level paging (4 KiB and 4 MiB PSE pages),
# PAE, and 4-level paging in IA-32e mode (the same checks run from compatibility
# mode: the walk does not depend on CS.L; the 64-bit IDT handles the faults).
# Per mode: not-present, write to read-only at CPL 0 with and without CR0.WP, user
# access to a supervisor page, user write to a read-only page, NX fetch (PAE and
# 4-level, EFER.NXE), a reserved bit in a large-page PDE (error code bit 3); each
# with CR2, the error code, and the faulting instruction restarting after the
# handler fixes the entry. A/D bits set by the walk; INVLPG and a CR3 reload make
# a PTE change visible.

        .include "lib.S"

# PAGING_TESTS prefix, pte, pde (-> the page table), big (large-page PDE),
# reserved bit of a large-page PDE, nx (1: also test NX; PTEs are 8 bytes)
.macro PAGING_TESTS pfx, pte, pde, big, rsvd, nx
        # not present: the restart reads the page once the handler sets P
        andl $~0x20, \pde
        movl $(page_a + 6), \pte
        invlpg TESTVA
        FIX $\pte, $-1, $1
        mov exc_count, %ebx
        ARM32
        mov TESTVA + 0x10, %eax
        CHECK32 "\pfx not present: vector", last_vec, $14
        CHECK32 "\pfx not present: error code", last_err, $0
        CHECK32 "\pfx not present: cr2", last_cr2, $(TESTVA + 0x10)
        CHECK32 "\pfx not present: restarted read", %eax, $0x11111111
        mov exc_count, %eax
        sub %ebx, %eax
        CHECK32 "\pfx not present: one fault", %eax, $1
        mov \pte, %eax
        and $0x60, %eax
        CHECK32 "\pfx walk sets A, not D, on a read", %eax, $0x20
        mov \pde, %eax
        and $0x20, %eax
        CHECK32 "\pfx walk sets A in the pde", %eax, $0x20
        movl $0x33333333, TESTVA + 0x20
        mov \pte, %eax
        and $0x60, %eax
        CHECK32 "\pfx write sets D", %eax, $0x60
        CHECK32 "\pfx write reached the page", page_a + 0x20, $0x33333333

        # read-only page at CPL 0: allowed while CR0.WP = 0, #PF(3) with WP
        movl $(page_a + 5), \pte
        invlpg TESTVA
        movl $0x44, TESTVA + 0x24
        CHECK32 "\pfx cr0.wp=0: ring 0 writes a read-only page", page_a + 0x24, $0x44
        mov %cr0, %eax
        or $0x10000, %eax
        mov %eax, %cr0
        FIX $\pte, $-1, $2
        ARM32
        movl $0x55, TESTVA + 0x28
        CHECK32 "\pfx cr0.wp=1: write to read-only: vector", last_vec, $14
        CHECK32 "\pfx cr0.wp=1: write to read-only: error code", last_err, $3
        CHECK32 "\pfx cr0.wp=1: write to read-only: cr2", last_cr2, $(TESTVA + 0x28)
        CHECK32 "\pfx cr0.wp=1: restarted write", page_a + 0x28, $0x55
        mov %cr0, %eax
        and $~0x10000, %eax
        mov %eax, %cr0

        # ring 3: supervisor page, then read-only user page
        movl $(page_a + 3), \pte
        invlpg TESTVA
        FIX $\pte, $-1, $4
        mov $user_read, %eax
        call run_user32
        CHECK32 "\pfx user read of a supervisor page: error code", last_err, $5
        CHECK32 "\pfx user read of a supervisor page: cr2", last_cr2, $(TESTVA + 0x10)
        CHECK32 "\pfx user read of a supervisor page: from ring 3", last_cs, $(SEL_UCODE32 + 3)
        CHECK32 "\pfx user read restarted", user_val, $0x11111111
        movl $(page_a + 5), \pte
        invlpg TESTVA
        FIX $\pte, $-1, $2
        mov $user_write, %eax
        call run_user32
        CHECK32 "\pfx user write to a read-only page: error code", last_err, $7
        CHECK32 "\pfx user write restarted", page_a + 0x2c, $0x66

.if \nx
        # NX: a fetch faults with I/D set; reads do not
        movl $(code_page + 7), \pte
        movl $0x80000000, \pte + 4
        invlpg TESTVA
        mov TESTVA, %eax                 # readable
        FIX $(\pte + 4), $0x7fffffff, $0
        xor %eax, %eax
        ARM32
        call TESTVA
        CHECK32 "\pfx nx fetch: vector", last_vec, $14
        CHECK32 "\pfx nx fetch: error code", last_err, $0x11
        CHECK32 "\pfx nx fetch: cr2", last_cr2, $TESTVA
        CHECK32 "\pfx nx fetch: eip", last_eip, $TESTVA
        CHECK32 "\pfx nx fetch restarted", %eax, $1
.endif

        # reserved bit in a large-page PDE mapping physical 0
        movl $(0x83 | \rsvd), \big
        invlpg BIGVA
        FIX $\big, $~\rsvd, $0
        ARM32
        mov BIGVA + big_marker, %eax
        CHECK32 "\pfx reserved bit: vector", last_vec, $14
        CHECK32 "\pfx reserved bit: error code", last_err, $9
        CHECK32 "\pfx reserved bit: cr2", last_cr2, $(BIGVA + big_marker)
        CHECK32 "\pfx reserved bit: restarted read", %eax, $0x600d600d

        # INVLPG and CR3 reloads
        movl $(page_a + 7), \pte
        invlpg TESTVA
        mov TESTVA + 0x10, %eax
        movl $(page_b + 7), \pte
        invlpg TESTVA
        CHECK32 "\pfx invlpg makes a pte change visible", TESTVA + 0x10, $0x22222222
        movl $(page_a + 7), \pte
        mov %cr3, %eax
        mov %eax, %cr3
        CHECK32 "\pfx cr3 reload makes a pte change visible", TESTVA + 0x10, $0x11111111
.endm

main:
        movl $0x11111111, page_a + 0x10
        movl $0x22222222, page_b + 0x10
        movl $0x000001b8, code_page      # mov $1, %eax; ret
        movl $0xc3000000, code_page + 4
        call build_page_tables

        call enable_legacy_paging
        PAGING_TESTS "2-level:", pte32, pde32, big32, 0x200000, 0

        call enable_pae_paging
        PAGING_TESTS "pae:", pte64, pde64, big64, 0x2000, 1

        call setup_long
        mov $0xC0000080, %ecx
        rdmsr
        and $0x400, %eax
        CHECK32 "efer.lma set", %eax, $0x400
        PAGING_TESTS "4-level (compat):", pte64, pde64, big64, 0x2000, 1
        jmp finish

user_read:
        ARM32
        mov TESTVA + 0x10, %eax
        mov %eax, user_val
        int $VEC_BACK

user_write:
        ARM32
        movl $0x66, TESTVA + 0x2c
        int $VEC_BACK

        .data
        .balign 4
user_val:       .long 0
big_marker:     .long 0x600d600d

        .bss
        .balign 4096
page_a:         .skip 4096
page_b:         .skip 4096
code_page:      .skip 4096
