// FXSAVE/FXRSTOR (512-byte image, SDM vol. 1, 10.5.1) and LDMXCSR/STMXCSR.
#include <cstring>

#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

X86_HELPER(HelperFxsave) {
  X86Cpu* cpu = CpuOf(ctx);
  FpuState& f = cpu->env.s.fpu;
  int mmu = cpu->mmu_idx();
  if (a & 15) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  const bool code64 = (cpu->env.s.efer & kEferLMA) && cpu->env.s.seg[CS].l();
  uint8_t img[512];
  if (b == 0) {
    std::memset(img, 0, sizeof img);
    auto put = [&](unsigned off, uint64_t v, unsigned n) { std::memcpy(img + off, &v, n); };
    put(0, f.fcw, 2);
    put(2, f.fsw, 2);
    put(4, f.ftw & 0xff, 1);
    put(6, f.fop, 2);
    put(8, f.fip, 8);
    put(16, f.fdp, 8);
    put(24, f.mxcsr, 4);
    put(28, 0xffff, 4);  // MXCSR_MASK
    for (int i = 0; i < 8; i++) std::memcpy(img + 32 + 16 * i, f.st[i], 16);
    for (int i = 0; i < (code64 ? 16 : 8); i++) std::memcpy(img + 160 + 16 * i, f.xmm[i], 16);
    if (!cpu->mmu()->Probe(&cpu->ctx, a, 512, accel::tcg::Access::kWrite, mmu)) return 0;
    for (unsigned i = 0; i < 512; i += 8) {
      uint64_t v;
      std::memcpy(&v, img + i, 8);
      if (!cpu->Write(a + i, v, 8, mmu)) return 0;
    }
    return 0;
  }
  for (unsigned i = 0; i < 512; i += 8) {
    uint64_t v;
    if (!cpu->Read(a + i, 8, &v, mmu)) return 0;
    std::memcpy(img + i, &v, 8);
  }
  uint32_t mxcsr;
  std::memcpy(&mxcsr, img + 24, 4);
  if (mxcsr & 0xffff0000u) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  std::memcpy(&f.fcw, img, 2);
  std::memcpy(&f.fsw, img + 2, 2);
  f.ftw = img[4];
  std::memcpy(&f.fop, img + 6, 2);
  std::memcpy(&f.fip, img + 8, 8);
  std::memcpy(&f.fdp, img + 16, 8);
  f.mxcsr = mxcsr;
  for (int i = 0; i < 8; i++) std::memcpy(f.st[i], img + 32 + 16 * i, 16);
  for (int i = 0; i < (code64 ? 16 : 8); i++) std::memcpy(f.xmm[i], img + 160 + 16 * i, 16);
  return 0;
}

X86_HELPER(HelperLdStMxcsr) {
  X86Cpu* cpu = CpuOf(ctx);
  FpuState& f = cpu->env.s.fpu;
  int mmu = cpu->mmu_idx();
  if (b) {
    uint64_t v;
    if (!cpu->Read(a, 4, &v, mmu)) return 0;
    if (v & 0xffff0000u) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    f.mxcsr = static_cast<uint32_t>(v);
  } else {
    cpu->Write(a, f.mxcsr, 4, mmu);
  }
  return 0;
}

}  // namespace emu::x86
