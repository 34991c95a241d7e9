#include "target-x86/cpu_dump.h"

#include <cinttypes>
#include <cstdio>

namespace emu::x86 {

std::string FormatCpuState(const CpuState& s) {
  static const char* const kRegs[16] = {"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
                                        "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
  static const char* const kSegs[kNumSegs] = {"ES", "CS", "SS", "DS", "FS", "GS"};
  std::string out;
  char buf[160];
  for (int i = 0; i < 16; i++) {
    std::snprintf(buf, sizeof buf, "%-3s=%016" PRIx64 "%s", kRegs[i], s.regs[i],
                  i % 4 == 3 ? "\n" : " ");
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "RIP=%016" PRIx64 " RFL=%08" PRIx64 " %s\n", s.rip, s.rflags,
                s.halted ? "HLT=1" : "HLT=0");
  out += buf;
  auto seg = [&](const char* name, const Segment& g) {
    std::snprintf(buf, sizeof buf, "%-3s=%04x %016" PRIx64 " %08x %04x\n", name, g.selector,
                  g.base, g.limit, g.attr);
    out += buf;
  };
  for (int i = 0; i < kNumSegs; i++) seg(kSegs[i], s.seg[i]);
  seg("LDT", s.ldtr);
  seg("TR", s.tr);
  std::snprintf(buf, sizeof buf, "GDT=     %016" PRIx64 " %08x\nIDT=     %016" PRIx64 " %08x\n",
                s.gdtr.base, s.gdtr.limit, s.idtr.base, s.idtr.limit);
  out += buf;
  std::snprintf(buf, sizeof buf,
                "CR0=%08" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08" PRIx64
                "\nEFER=%016" PRIx64 "\n",
                s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
  out += buf;
  return out;
}

}  // namespace emu::x86
