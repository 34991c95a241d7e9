// Arithmetic helpers (DIV/IDIV, BCD, shifts and rotates, CMPXCHG8B/16B) and
// the flag-control instructions with privilege rules (POPF, CLI, STI), HLT.
#include <bit>
#include <string>

#include "hw/core/log.h"
#include "target-x86/decode/decoded_inst.h"
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

using accel::tcg::ExitStatus;

namespace {

uint64_t SzpFlags(uint64_t r, unsigned bits) {
  uint64_t m = bits == 64 ? ~0ull : (1ull << bits) - 1;
  r &= m;
  uint64_t f = 0;
  if (r == 0) f |= kFlagZF;
  if ((r >> (bits - 1)) & 1) f |= kFlagSF;
  if (!(std::popcount(r & 0xff) & 1)) f |= kFlagPF;
  return f;
}

void SetWithArith(X86Env& e, uint64_t arith) {
  e.cc_src = arith & kArithFlags;
  e.cc_op = kCcEflags;
}

}  // namespace

X86_HELPER(HelperDiv) {
  X86Cpu* cpu = CpuOf(ctx);
  uint64_t* r = cpu->env.s.regs;
  unsigned size = b & 0xff;
  bool sign = (b >> 8) & 1;
  unsigned bits = 8 * size;
  uint64_t m = bits == 64 ? ~0ull : (1ull << bits) - 1;
  uint64_t divisor = a & m;
  if (divisor == 0) {
    cpu->Raise(kDE);
    return 0;
  }
  unsigned __int128 dividend;
  if (size == 1) dividend = r[RAX] & 0xffff;
  else dividend = (static_cast<unsigned __int128>(r[RDX] & m) << bits) | (r[RAX] & m);
  unsigned __int128 q, rem;
  if (!sign) {
    q = dividend / divisor;
    rem = dividend % divisor;
    if (q > m) {
      cpu->Raise(kDE);
      return 0;
    }
  } else {
    // Sign-extend the 2*bits dividend and the divisor to 128 bits.
    unsigned dbits = 2 * bits;
    __int128 sd = dbits == 128 ? static_cast<__int128>(dividend)
                               : (static_cast<__int128>(dividend << (128 - dbits)) >> (128 - dbits));
    int64_t sv = static_cast<int64_t>(divisor << (64 - bits)) >> (64 - bits);
    if (sv == -1 && dbits == 128 && sd == (static_cast<__int128>(1) << 127)) {
      cpu->Raise(kDE);
      return 0;
    }
    __int128 sq = sd / sv, sr = sd % sv;
    __int128 lo = -(static_cast<__int128>(1) << (bits - 1));
    __int128 hi = (static_cast<__int128>(1) << (bits - 1)) - 1;
    if (sq < lo || sq > hi) {
      cpu->Raise(kDE);
      return 0;
    }
    q = static_cast<unsigned __int128>(sq);
    rem = static_cast<unsigned __int128>(sr);
  }
  uint64_t qv = static_cast<uint64_t>(q) & m, rv = static_cast<uint64_t>(rem) & m;
  switch (size) {
    case 1: r[RAX] = (r[RAX] & ~0xffffull) | qv | (rv << 8); break;
    case 2:
      r[RAX] = (r[RAX] & ~0xffffull) | qv;
      r[RDX] = (r[RDX] & ~0xffffull) | rv;
      break;
    case 4: r[RAX] = qv; r[RDX] = rv; break;
    default: r[RAX] = qv; r[RDX] = rv; break;
  }
  return 0;
}

X86_HELPER(HelperBound) {
  auto idx = static_cast<int64_t>(a);
  if (idx < static_cast<int64_t>(b) || idx > static_cast<int64_t>(c)) CpuOf(ctx)->Raise(kBR);
  return 0;
}

// Near branches outside 64-bit mode (SDM JMP/CALL/RET): a target above the CS limit is
// #GP(0). Called only where the target can exceed 64 KiB in 16-bit code (o32 branches).
X86_HELPER(HelperCsLimit) {
  X86Cpu* cpu = CpuOf(ctx);
  if (a > cpu->env.s.seg[CS].limit) cpu->Raise(kGP, 0, true);
  return 0;
}

// Segment limit and type checks of a data access (SDM vol. 3, 5.3 and 5.4), for
// protected mode outside 64-bit mode: a null (unusable) segment, a write to a code or
// read-only data segment, a read of an execute-only code segment, or an offset range
// outside the limit (expand-down: above the limit and up to 64 KiB or 4 GiB by the B
// bit).
bool SegDataAccessOk(const CpuState& s, unsigned seg, uint64_t off, unsigned size, bool write) {
  const Segment& d = s.seg[seg];
  if (!d.present() || !d.s()) return false;
  const unsigned type = d.type();
  const bool code = type & 8;
  if (code ? (write || !(type & 2)) : (write && !(type & 2))) return false;
  const uint64_t last = off + size - 1;
  if (!code && (type & 4)) {
    const uint64_t upper = d.db() ? 0xffffffffull : 0xffff;
    return off > d.limit && last <= upper;
  }
  return last <= d.limit;
}

// Whether data accesses need those checks at all: false for every segment that is a
// present, writable, expand-up data segment with a 4 GiB limit (the flat case), in real
// and virtual-8086 mode (not checked) and in 64-bit mode (no limits).
bool SegChecksNeeded(const CpuState& s) {
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) return false;
  if ((s.efer & kEferLMA) && s.seg[CS].l()) return false;
  for (unsigned seg : {ES, SS, DS, FS, GS}) {
    const Segment& d = s.seg[seg];
    if (!d.present()) continue;  // null: not checked (see docs/translator.md)
    if (!d.s() || (d.type() & 0xe) != 2 || d.limit != 0xffffffffu) return true;
  }
  return false;
}

X86_HELPER(HelperSegCheck) {
  X86Cpu* cpu = CpuOf(ctx);
  const unsigned seg = b & 7, size = (b >> 8) & 0xff;
  if (!SegDataAccessOk(cpu->env.s, seg, a, size, (b >> 16) & 1)) cpu->Raise(seg == SS ? kSS : kGP, 0, true);
  return 0;
}

X86_HELPER(HelperBcd) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  uint64_t& rax = e.s.regs[RAX];
  uint64_t f = ComputeArith(e);
  uint8_t al = rax & 0xff, ah = (rax >> 8) & 0xff;
  bool cf = f & kFlagCF, af = f & kFlagAF;
  uint64_t nf = 0;
  switch (a) {
    case 0: case 1: {  // DAA / DAS
      uint8_t old = al;
      bool ncf = false, naf = false;
      if ((al & 0xf) > 9 || af) {
        ncf = a == 0 ? (cf || al > 0xf9) : (cf || al < 6);
        al = static_cast<uint8_t>(a == 0 ? al + 6 : al - 6);
        naf = true;
      }
      if (old > 0x99 || cf) {
        al = static_cast<uint8_t>(a == 0 ? al + 0x60 : al - 0x60);
        ncf = true;
      }
      rax = (rax & ~0xffull) | al;
      nf = SzpFlags(al, 8) | (ncf ? uint64_t{kFlagCF} : 0) | (naf ? uint64_t{kFlagAF} : 0);
      break;
    }
    case 2: case 3: {  // AAA / AAS
      uint16_t ax = rax & 0xffff;
      if ((al & 0xf) > 9 || af) {
        if (a == 2) ax = static_cast<uint16_t>(ax + 0x106);
        else ax = static_cast<uint16_t>(ax - 6 - 0x100);  // AX - 6 borrows from AH (SDM), then AH - 1
        nf = kFlagAF | kFlagCF;
      }
      ax &= 0xff0f;
      rax = (rax & ~0xffffull) | ax;
      nf |= SzpFlags(ax & 0xff, 8) & ~kFlagSF;
      break;
    }
    case 4: {  // AAM
      uint8_t imm = b & 0xff;
      if (imm == 0) {
        cpu->Raise(kDE);
        return 0;
      }
      ah = al / imm;
      al = al % imm;
      rax = (rax & ~0xffffull) | al | (static_cast<uint64_t>(ah) << 8);
      nf = SzpFlags(al, 8);
      break;
    }
    default: {  // AAD
      uint8_t imm = b & 0xff;
      al = static_cast<uint8_t>(al + ah * imm);
      rax = (rax & ~0xffffull) | al;
      nf = SzpFlags(al, 8);
      break;
    }
  }
  SetWithArith(e, nf);
  return 0;
}

// Shift kinds (translate/shift.cpp).
enum : unsigned { kShRol, kShRor, kShRcl, kShRcr, kShShl, kShShr, kShSal, kShSar, kShShld, kShShrd };

X86_HELPER(HelperShift) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  unsigned kind = c & 0xff;
  unsigned size = (c >> 8) & 0xff;
  unsigned bits = 8 * size;
  uint64_t m = bits == 64 ? ~0ull : (1ull << bits) - 1;
  uint64_t v = a & m;
  unsigned count = kind >= kShShld ? static_cast<unsigned>((c >> 16) & 63) : static_cast<unsigned>(b & 63);
  uint64_t f = ComputeArith(e);
  e.scratch_flags = f;
  if (count == 0) return v;
  auto msb = [&](uint64_t x) { return (x >> (bits - 1)) & 1; };
  uint64_t r = v, cf = f & kFlagCF ? 1 : 0, of = 0;
  uint64_t keep_szp = f & (kFlagSF | kFlagZF | kFlagPF | kFlagAF);
  bool rotate = true;
  switch (kind) {
    case kShRol: {
      unsigned n = count % bits;
      r = n ? ((v << n) | (v >> (bits - n))) & m : v;
      cf = r & 1;
      of = msb(r) ^ cf;
      break;
    }
    case kShRor: {
      unsigned n = count % bits;
      r = n ? ((v >> n) | (v << (bits - n))) & m : v;
      cf = msb(r);
      of = msb(r) ^ ((r >> (bits - 2)) & 1);
      break;
    }
    case kShRcl: {
      unsigned n = count % (bits + 1);
      for (unsigned i = 0; i < n; i++) {
        uint64_t out = msb(r);
        r = ((r << 1) | cf) & m;
        cf = out;
      }
      of = msb(r) ^ cf;
      break;
    }
    case kShRcr: {
      unsigned n = count % (bits + 1);
      of = msb(v) ^ cf;
      for (unsigned i = 0; i < n; i++) {
        uint64_t out = r & 1;
        r = (r >> 1) | (cf << (bits - 1));
        cf = out;
      }
      break;
    }
    case kShShl: case kShSal:
      rotate = false;
      if (count < bits) {
        r = (v << count) & m;
        cf = (v >> (bits - count)) & 1;
      } else {
        r = 0;
        cf = count == bits ? (v & 1) : 0;
      }
      of = msb(r) ^ cf;
      break;
    case kShShr:
      rotate = false;
      if (count < bits) {
        r = v >> count;
        cf = (v >> (count - 1)) & 1;
      } else {
        r = 0;
        cf = count == bits ? msb(v) : 0;
      }
      of = msb(v);
      break;
    case kShSar: {
      rotate = false;
      int64_t sv = static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
      unsigned n = count < bits ? count : bits - 1;
      r = static_cast<uint64_t>(sv >> n) & m;
      cf = (static_cast<uint64_t>(sv >> (count - 1 < bits ? count - 1 : bits - 1))) & 1;
      of = 0;
      break;
    }
    case kShShld: case kShShrd: {
      rotate = false;
      uint64_t s2 = b & m;
      unsigned n = count;
      if (n > bits) n %= bits;  // 16-bit operands with counts above 16: undefined
      if (n == 0) return v;
      if (kind == kShShld) {
        r = n == bits ? s2 : ((v << n) | (s2 >> (bits - n))) & m;
        cf = (v >> (bits - n)) & 1;
      } else {
        r = n == bits ? s2 : ((v >> n) | (s2 << (bits - n))) & m;
        cf = (v >> (n - 1)) & 1;
      }
      of = msb(r) ^ msb(v);
      break;
    }
    default: break;
  }
  uint64_t nf = rotate ? keep_szp : SzpFlags(r, bits);
  if (cf) nf |= kFlagCF;
  if (of) nf |= kFlagOF;
  e.scratch_flags = nf;
  return r;
}

X86_HELPER(HelperCmpxchg16b) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  uint64_t* r = e.s.regs;
  int mmu = cpu->mmu_idx();
  uint64_t f = ComputeArith(e);
  if (b == 16) {
    if (a & 15) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    uint64_t lo, hi;
    if (!cpu->Read(a, 8, &lo, mmu) || !cpu->Read(a + 8, 8, &hi, mmu)) return 0;
    bool eq = lo == r[RAX] && hi == r[RDX];
    uint64_t nlo = eq ? r[RBX] : lo, nhi = eq ? r[RCX] : hi;
    if (!cpu->mmu()->Probe(&cpu->ctx, a, 16, accel::tcg::Access::kWrite, mmu)) return 0;
    if (!cpu->Write(a, nlo, 8, mmu) || !cpu->Write(a + 8, nhi, 8, mmu)) return 0;
    if (!eq) {
      r[RAX] = lo;
      r[RDX] = hi;
    }
    SetWithArith(e, eq ? (f | kFlagZF) : (f & ~kFlagZF));
  } else {
    uint64_t v;
    if (!cpu->Read(a, 8, &v, mmu)) return 0;
    uint64_t cmp = (r[RAX] & 0xffffffffu) | (r[RDX] << 32);
    bool eq = v == cmp;
    uint64_t nv = eq ? ((r[RBX] & 0xffffffffu) | (r[RCX] << 32)) : v;
    if (!cpu->Write(a, nv, 8, mmu)) return 0;
    if (!eq) {
      r[RAX] = v & 0xffffffffu;
      r[RDX] = v >> 32;
    }
    SetWithArith(e, eq ? (f | kFlagZF) : (f & ~kFlagZF));
  }
  return 0;
}

X86_HELPER(HelperPopf) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  const CpuState& s = e.s;
  uint64_t cur = ComputeEflags(e);
  unsigned iopl = (cur >> 12) & 3;
  uint64_t mask = kArithFlags | kFlagTF | kFlagDF | kFlagNT | kFlagAC | kFlagID;
  if (s.rflags & kFlagVM) {
    if (iopl < 3) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    mask |= kFlagIF;
  } else {
    if (e.cpl == 0 || !(s.cr0 & kCr0PE)) mask |= kFlagIOPL;
    if (e.cpl <= iopl || !(s.cr0 & kCr0PE)) mask |= kFlagIF;
  }
  if (b == 2) mask &= 0xffff;
  SetEflags(e, (cur & ~mask) | (a & mask));
  return 0;
}

X86_HELPER(HelperSti) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  if (!(s.rflags & kFlagIF)) s.interrupt_shadow = true;
  s.rflags |= kFlagIF;
  return 0;
}

X86_HELPER(HelperCli) {
  CpuOf(ctx)->env.s.rflags &= ~kFlagIF;
  return 0;
}

X86_HELPER(HelperHlt) {
  X86Cpu* cpu = CpuOf(ctx);
  cpu->env.s.halted = true;
  cpu->env.s.rip = a;
  ctx->exit = ExitStatus::kHelperExit;
  return 0;
}

X86_HELPER(HelperUnimplemented) {
  X86Cpu* cpu = CpuOf(ctx);
  // Each time under -d unimp; once per mnemonic on stderr (the guest sees #UD).
  const char* name = MnemonicName(static_cast<Mnemonic>(a));
  hw::LogUnimplemented(std::string("tcg:") + name,
                       "tcg: unimplemented instruction %s at %04x:%llx (raising #UD)", name,
                       cpu->env.s.seg[CS].selector, static_cast<unsigned long long>(ctx->insn_pc));
  cpu->Raise(kUD);
  return 0;
}

}  // namespace emu::x86
