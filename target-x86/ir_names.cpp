#include "target-x86/ir_names.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "target-x86/translate/env.h"

namespace emu::x86 {

namespace {

struct Field {
  uint32_t off, size;
  std::string name;
};

std::vector<Field> BuildFields() {
  std::vector<Field> f;
  auto add = [&](std::string name, uint32_t off, uint32_t size) {
    f.push_back({off, size, std::move(name)});
  };
  static const char* const kRegs[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  for (uint32_t i = 0; i < 16; i++) add(kRegs[i], X86_OFF(s.regs) + 8 * i, 8);
  add("rip", X86_OFF(s.rip), 8);
  add("rflags", X86_OFF(s.rflags), 8);
  static const char* const kSegs[6] = {"es", "cs", "ss", "ds", "fs", "gs"};
  auto seg = [&](const std::string& n, uint32_t base) {
    add(n + ".sel", base + offsetof(Segment, selector), 2);
    add(n + ".base", base + offsetof(Segment, base), 8);
    add(n + ".limit", base + offsetof(Segment, limit), 4);
    add(n + ".attr", base + offsetof(Segment, attr), 2);
  };
  for (uint32_t i = 0; i < 6; i++) seg(kSegs[i], X86_OFF(s.seg) + i * sizeof(Segment));
  seg("ldtr", X86_OFF(s.ldtr));
  seg("tr", X86_OFF(s.tr));
  add("gdtr.base", X86_OFF(s.gdtr.base), 8);
  add("gdtr.limit", X86_OFF(s.gdtr.limit), 2);
  add("idtr.base", X86_OFF(s.idtr.base), 8);
  add("idtr.limit", X86_OFF(s.idtr.limit), 2);
  add("cr0", X86_OFF(s.cr0), 8);
  add("cr2", X86_OFF(s.cr2), 8);
  add("cr3", X86_OFF(s.cr3), 8);
  add("cr4", X86_OFF(s.cr4), 8);
  add("cr8", X86_OFF(s.cr8), 8);
  add("efer", X86_OFF(s.efer), 8);
  for (uint32_t i = 0; i < 8; i++) add("dr" + std::to_string(i), X86_OFF(s.dr) + 8 * i, 8);
  add("fcw", X86_OFF(s.fpu.fcw), 2);
  add("fsw", X86_OFF(s.fpu.fsw), 2);
  add("ftw", X86_OFF(s.fpu.ftw), 2);
  for (uint32_t i = 0; i < 8; i++) add("st" + std::to_string(i), X86_OFF(s.fpu.st) + 16 * i, 16);
  add("mxcsr", X86_OFF(s.fpu.mxcsr), 4);
  for (uint32_t i = 0; i < 16; i++)
    add("xmm" + std::to_string(i), X86_OFF(s.fpu.xmm) + 16 * i, 16);
  add("cc_dst", X86_OFF(cc_dst), 8);
  add("cc_src", X86_OFF(cc_src), 8);
  add("cc_src2", X86_OFF(cc_src2), 8);
  add("cc_op", X86_OFF(cc_op), 8);
  add("cc_op2", X86_OFF(cc_op2), 8);
  add("cc_dst2", X86_OFF(cc_dst2), 8);
  add("exc_vector", X86_OFF(exc_vector), 4);
  add("exc_error", X86_OFF(exc_error), 4);
  add("exc_next_rip", X86_OFF(exc_next_rip), 8);
  add("a20_mask", X86_OFF(a20_mask), 8);
  add("cpl", X86_OFF(cpl), 1);
  add("scratch_flags", X86_OFF(scratch_flags), 8);
  add("xmm_tmp", X86_OFF(xmm_tmp), 16);
  add("halted", X86_OFF(s.halted), 1);
  add("interrupt_shadow", X86_OFF(s.interrupt_shadow), 1);
  std::sort(f.begin(), f.end(), [](const Field& a, const Field& b) { return a.off < b.off; });
  return f;
}

}  // namespace

std::string EnvFieldName(uint32_t offset, accel::tcg::Type) {
  static const std::vector<Field> fields = BuildFields();
  auto it = std::upper_bound(fields.begin(), fields.end(), offset,
                             [](uint32_t o, const Field& f) { return o < f.off; });
  if (it == fields.begin()) return "";
  --it;
  if (offset >= it->off + it->size) return "";
  if (offset == it->off) return it->name;
  return it->name + "+" + std::to_string(offset - it->off);
}

}  // namespace emu::x86
