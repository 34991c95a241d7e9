// X86Cpu basics: guest memory access for helpers, exception recording.
#include "target-x86/helpers/x86_cpu.h"

#include <chrono>

namespace emu::x86 {

using accel::tcg::ExitStatus;

X86Cpu::X86Cpu() {
  ctx.env = reinterpret_cast<uint8_t*>(&env);
  ctx.frame_offset = static_cast<uint32_t>(interp_frame - ctx.env);
  ctx.tlb_epoch = &tlb_generation;
  ctx.cpu = this;
  env.s.ResetToPowerOn();
  tsc_base_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

bool X86Cpu::Read(uint64_t lin, unsigned size, uint64_t* v, int mmu_idx) {
  *v = mmu_->Load(&ctx, lin, size, mmu_idx);
  return ctx.exit != ExitStatus::kException;
}

bool X86Cpu::Write(uint64_t lin, uint64_t v, unsigned size, int mmu_idx) {
  mmu_->Store(&ctx, lin, v, size, mmu_idx);
  return ctx.exit != ExitStatus::kException;
}

void X86Cpu::Raise(int vector, uint32_t error, bool has_error) {
  env.exc_vector = vector;
  env.exc_error = error;
  env.exc_has_error = has_error;
  env.exc_soft = 0;
  ctx.exit = ExitStatus::kException;
}

void X86Cpu::RaiseSoft(int vector, uint64_t next_rip) {
  Raise(vector);
  env.exc_soft = 1;
  env.exc_next_rip = next_rip;
}

bool X86Cpu::PushAt(uint64_t ss_base, uint64_t* sp, unsigned sp_size, uint64_t v,
                    unsigned size, int mmu_idx) {
  uint64_t mask = sp_size == 8 ? ~0ull : sp_size == 4 ? 0xffffffffull : 0xffffull;
  uint64_t nsp = (*sp - size) & mask;
  uint64_t lin = ss_base + nsp;
  if (sp_size != 8) lin &= 0xffffffffull;
  if (!Write(lin, v, size, mmu_idx)) return false;
  *sp = nsp;
  return true;
}

uint64_t X86Cpu::ReadTsc() {
  uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
  return now - tsc_base_ns + tsc_offset;
}

}  // namespace emu::x86
