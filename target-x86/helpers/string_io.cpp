// String instructions with REP prefixes, and port I/O with the IOPL / TSS I/O
// permission bitmap check.
#include <algorithm>
#include <cstring>

#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

using accel::tcg::ExitStatus;

namespace {

// Intel SDM vol. 1, 19.5: I/O permission checks.
bool IoAllowed(X86Cpu* cpu, uint16_t port, unsigned size) {
  const CpuState& s = cpu->env.s;
  if (!(s.cr0 & kCr0PE)) return true;
  unsigned iopl = (s.rflags >> 12) & 3;
  if (!(s.rflags & kFlagVM) && cpu->env.cpl <= iopl) return true;
  unsigned type = s.tr.type();
  if ((type != 9 && type != 11) || s.tr.limit < 0x67) return false;
  uint64_t off = 0;
  if (!cpu->Read(s.tr.base + 0x66, 2, &off, 0)) return false;
  uint64_t at = off + port / 8;
  if (at + 1 > s.tr.limit) return false;
  uint64_t bits = 0;
  if (!cpu->Read(s.tr.base + at, 2, &bits, 0)) return false;
  uint64_t mask = ((1ull << size) - 1) << (port & 7);
  return (bits & mask) == 0;
}

bool CheckIo(X86Cpu* cpu, uint16_t port, unsigned size) {
  if (IoAllowed(cpu, port, size)) return true;
  if (cpu->ctx.exit != ExitStatus::kException) cpu->Raise(kGP, 0, true);
  return false;
}

// I/O breakpoints (DR7 R/W = 10, meaningful only with CR4.DE): one test of two
// registers on the port path while no breakpoint is enabled.
bool IoBreak(X86Cpu* cpu, uint16_t port, unsigned size) {
  const CpuState& s = cpu->env.s;
  return (s.dr[7] & 0xff) && (s.cr4 & kCr4DE) && cpu->IoBreakpointHit(port, size);
}

enum : unsigned { kStrMovs, kStrCmps, kStrStos, kStrLods, kStrScas, kStrIns, kStrOuts };

void SetReg(uint64_t& r, uint64_t v, uint64_t amask) {
  if (amask == 0xffff) r = (r & ~0xffffull) | (v & 0xffff);
  else r = v & amask;
}

}  // namespace

X86_HELPER(HelperString) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  const unsigned kind = a & 0xff;
  const unsigned size = (a >> 8) & 0xf;
  const unsigned rep = (a >> 12) & 0xf;
  const unsigned as = (a >> 16) & 0xff;
  const unsigned seg = (a >> 24) & 0xff;
  const uint64_t amask = as == 2 ? 0xffff : as == 4 ? 0xffffffffull : ~0ull;
  const uint64_t vmask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
  const bool code64 = (s.efer & kEferLMA) && s.seg[CS].l();
  const int64_t step = (s.rflags & kFlagDF) ? -static_cast<int64_t>(size) : size;
  const int mmu = cpu->mmu_idx();
  auto lin = [&](unsigned sg, uint64_t off) -> uint64_t {
    if (code64) return (sg == FS || sg == GS) ? s.seg[sg].base + off : off;
    return (s.seg[sg].base + off) & 0xffffffffu;
  };
  uint64_t& rsi = s.regs[RSI];
  uint64_t& rdi = s.regs[RDI];
  uint64_t& rcx = s.regs[RCX];
  const uint16_t port = static_cast<uint16_t>(s.regs[RDX]);
  if ((kind == kStrIns || kind == kStrOuts) && !CheckIo(cpu, port, size)) return 0;
  unsigned budget = 1u << 16;
  bool io_hit = false;
  // Segment limit/type checks per element where a data segment is not flat (arith.cpp).
  const bool seg_checks = SegChecksNeeded(s);
  auto seg_ok = [&](unsigned sg, uint64_t off, bool write) {
    if (SegDataAccessOk(s, sg, off, size, write)) return true;
    cpu->Raise(sg == SS ? kSS : kGP, 0, true);
    return false;
  };
  const bool bulk = !seg_checks && rep && step > 0 && (kind == kStrMovs || kind == kStrStos);
  for (;;) {
    if (bulk && (rcx & amask) >= 2) {
      // Forward REP MOVS/STOS over plain RAM: a whole run within a page at once
      // (elements remain for page ends, MMIO, code pages and overlapping moves).
      uint64_t count = rcx & amask, si = rsi & amask, di = rdi & amask;
      uint64_t dlin = lin(ES, di);
      uint64_t n = std::min<uint64_t>(count, (4096 - (dlin & 4095)) / size);
      if (amask != ~0ull) n = std::min<uint64_t>(n, (amask + 1 - di) / size);
      uint64_t slin = 0;
      if (kind == kStrMovs) {
        slin = lin(seg, si);
        n = std::min<uint64_t>(n, (4096 - (slin & 4095)) / size);
        if (amask != ~0ull) n = std::min<uint64_t>(n, (amask + 1 - si) / size);
      }
      if (n >= 2) {
        uint8_t* sp = kind == kStrMovs ? cpu->mmu()->HostAddr(ctx, slin, accel::tcg::Access::kRead, mmu) : nullptr;
        if (ctx->exit == ExitStatus::kException) return 0;
        uint8_t* dp = (kind == kStrStos || sp) ? cpu->mmu()->HostAddr(ctx, dlin, accel::tcg::Access::kWrite, mmu) : nullptr;
        if (ctx->exit == ExitStatus::kException) return 0;
        uint64_t bytes = n * size;
        bool ok = dp && (kind == kStrStos || sp + bytes <= dp || dp + bytes <= sp);
        if (ok) {
          if (kind == kStrMovs) {
            std::memcpy(dp, sp, bytes);
            SetReg(rsi, si + bytes, amask);
          } else if (size == 1) {
            std::memset(dp, static_cast<int>(s.regs[RAX] & 0xff), bytes);
          } else {
            uint64_t v = s.regs[RAX] & vmask;
            for (uint64_t i = 0; i < n; i++) std::memcpy(dp + i * size, &v, size);
          }
          SetReg(rdi, di + bytes, amask);
          SetReg(rcx, count - n, amask);
          if ((rcx & amask) == 0) break;
          if (--budget == 0 || ctx->exit_request.load(std::memory_order_relaxed)) {
            s.rip = ctx->insn_pc;
            ctx->exit = ExitStatus::kHelperExit;
            return 0;
          }
          continue;
        }
      }
    }
    if (rep && (rcx & amask) == 0) {
      // Nothing to do, but with a 32-bit address size the CPU still writes back ECX (and
      // the index registers of MOVS and STOS), clearing their upper halves: what Intel
      // CPUs do.
      if (amask == 0xffffffffull) {
        SetReg(rcx, rcx, amask);
        if (kind == kStrMovs) SetReg(rsi, rsi, amask);
        if (kind == kStrMovs || kind == kStrStos) SetReg(rdi, rdi, amask);
      }
      break;
    }
    uint64_t si = rsi & amask, di = rdi & amask;
    uint64_t v = 0, w = 0;
    if (seg_checks) {
      bool src = kind == kStrMovs || kind == kStrCmps || kind == kStrLods || kind == kStrOuts;
      bool dst_write = kind == kStrMovs || kind == kStrStos || kind == kStrIns;
      if (src && !seg_ok(seg, si, false)) return 0;
      if (!src || kind == kStrMovs || kind == kStrCmps) {
        if (!seg_ok(ES, di, dst_write)) return 0;
      }
    }
    switch (kind) {
      case kStrMovs:
        if (!cpu->Read(lin(seg, si), size, &v, mmu) || !cpu->Write(lin(ES, di), v, size, mmu)) return 0;
        break;
      case kStrStos:
        if (!cpu->Write(lin(ES, di), s.regs[RAX] & vmask, size, mmu)) return 0;
        break;
      case kStrLods:
        if (!cpu->Read(lin(seg, si), size, &v, mmu)) return 0;
        if (size == 4) s.regs[RAX] = v;
        else s.regs[RAX] = (s.regs[RAX] & ~vmask) | v;
        break;
      case kStrCmps:
        if (!cpu->Read(lin(seg, si), size, &v, mmu) || !cpu->Read(lin(ES, di), size, &w, mmu)) return 0;
        e.cc_dst = (v - w) & vmask;
        e.cc_src = w;
        e.cc_op = CcOp(kCcKindSub, size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3);
        break;
      case kStrScas:
        if (!cpu->Read(lin(ES, di), size, &w, mmu)) return 0;
        e.cc_dst = ((s.regs[RAX] & vmask) - w) & vmask;
        e.cc_src = w;
        e.cc_op = CcOp(kCcKindSub, size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3);
        break;
      case kStrIns:
        if (!cpu->mmu()->Probe(&cpu->ctx, lin(ES, di), size, accel::tcg::Access::kWrite, mmu)) return 0;
        v = cpu->bus()->PortRead(port, size);
        if (!cpu->Write(lin(ES, di), v, size, mmu)) return 0;
        io_hit = IoBreak(cpu, port, size);
        break;
      case kStrOuts:
        if (!cpu->Read(lin(seg, si), size, &v, mmu)) return 0;
        cpu->bus()->PortWrite(port, v, size);
        io_hit = IoBreak(cpu, port, size);
        break;
      default:
        break;
    }
    if (kind == kStrMovs || kind == kStrLods || kind == kStrCmps || kind == kStrOuts)
      SetReg(rsi, si + step, amask);
    if (kind != kStrLods && kind != kStrOuts) SetReg(rdi, di + step, amask);
    if (!rep) break;
    SetReg(rcx, (rcx & amask) - 1, amask);
    if (kind == kStrCmps || kind == kStrScas) {
      bool zf = e.cc_dst == 0;
      if (rep == 1 && !zf) break;
      if (rep == 2 && zf) break;
    }
    if ((rcx & amask) == 0) break;
    if (io_hit || --budget == 0 || ctx->exit_request.load(std::memory_order_relaxed)) {
      // (An I/O breakpoint traps after this iteration: the check in front of the
      // next instruction -- this one again -- delivers it, and IRET resumes it.)
      // Let interrupts in: the instruction restarts with the updated registers.
      s.rip = ctx->insn_pc;
      ctx->exit = ExitStatus::kHelperExit;
      return 0;
    }
  }
  return 0;
}

X86_HELPER(HelperIn) {
  X86Cpu* cpu = CpuOf(ctx);
  uint16_t port = static_cast<uint16_t>(a);
  unsigned size = static_cast<unsigned>(b);
  if (!CheckIo(cpu, port, size)) return 0;
  uint64_t v = cpu->bus()->PortRead(port, size);
  IoBreak(cpu, port, size);
  return v;
}

X86_HELPER(HelperOut) {
  X86Cpu* cpu = CpuOf(ctx);
  uint16_t port = static_cast<uint16_t>(a);
  unsigned size = static_cast<unsigned>(c);
  if (!CheckIo(cpu, port, size)) return 0;
  cpu->bus()->PortWrite(port, b, size);
  IoBreak(cpu, port, size);
  return 0;
}

}  // namespace emu::x86
