// A listing of a compiled interpreter program (-d out_asm, profiles): one op per
// line, operands as env field names or frame slots ("f3"), immediates inline.
#include <cinttypes>
#include <cstdio>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/backend/interp/internal.h"

namespace emu::accel::tcg {

namespace {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::string PrintInterp(const InterpProgram& p, uint32_t frame_offset, const IrNames& names) {
  auto loc = [&](uint32_t off) -> std::string {
    if (off >= frame_offset) return "f" + std::to_string((off - frame_offset) / 8);
    std::string n = names.env ? names.env(off, Type::kI64) : "";
    return n.empty() ? "env+" + Hex(off) : n;
  };
  using namespace interp;
  std::string s;
  for (const InterpOp& o : p.ops) {
    const unsigned k = o.handler;
    std::string line = "  ";
    line += InterpHandlerName(o.handler);
    if (k >= k_ld8_pre && k <= k_ld64_post) {
      const bool post = k >= k_ld8_post, st = k >= k_st8_pre && k <= k_st64_pre;
      const std::string wb = loc(post ? o.c : st ? o.d : o.b);
      if (post) line += " " + loc(o.d) + " = [" + loc(o.a) + "]; " + wb + " = " + loc(o.a) + " + " + Hex(o.imm);
      else if (st) line += " " + wb + " = " + loc(o.a) + " + " + Hex(o.imm) + "; [" + wb + "] = " + loc(o.c);
      else line += " " + wb + " = " + loc(o.a) + " + " + Hex(o.imm) + "; " + loc(o.d) + " = [" + wb + "]";
      s += line + "\n";
      continue;
    }
    const bool mem = k >= k_ld8 && k <= k_st64_rs;
    const bool ri = (k >= k_ld8_ri && k <= k_ld64_ri) || (k >= k_st8_ri && k <= k_st64_ri);
    const bool rr = (k >= k_ld8_rr && k <= k_ld64_rr) || (k >= k_st8_rr && k <= k_st64_rr);
    const bool rs = (k >= k_ld8_rs && k <= k_ld64_rs) || (k >= k_st8_rs && k <= k_st64_rs);
    if (mem) {
      std::string addr = "[" + loc(o.a) +
                         (rr   ? " + " + loc(o.b)
                          : rs ? " + " + loc(o.b) + " << " + std::to_string(o.imm)
                          : ri ? " + " + Hex(o.imm)
                               : "") +
                         "]";
      if (k <= k_ld64_rs) line += " " + loc(o.d) + " = " + addr;
      else line += " " + addr + " = " + loc(o.c);
    } else if (k == k_call || k == k_call_exit) {
      std::string n = HostFunctionName(o.imm);
      line += " " + loc(o.d) + " = " + (n.empty() ? Hex(o.imm) : n) + "(" + loc(o.a) + ", " + loc(o.b) +
              ", " + loc(o.c) + ")";
    } else if (k == k_end_branch) {
      line += " " + loc(o.a);
    } else if (k >= k_end && k <= k_end_indirect) {
    } else if (k >= k_br_eq && k <= k_br_ge_ri) {
      line += " " + loc(o.a) + ", " + (k >= k_br_eq_ri ? Hex(o.imm) : loc(o.b));
    } else if (k == k_movi || (k >= k_puti8 && k <= k_puti32)) {
      line += " " + loc(o.d) + " = " + Hex(o.imm);
    } else if (k == k_movi2) {
      line += " " + loc(o.d) + " = " + Hex(o.imm) + "; " + loc(o.c) + " = " + Hex(o.mask);
    } else if (k == k_mov2) {
      line += " " + loc(o.d) + " = " + loc(o.a) + "; " + loc(o.c) + " = " + loc(o.b);
    } else if (k == k_stop) {
      line += " " + Hex(o.pc);
    } else {
      line += " " + loc(o.d) + " = " + loc(o.a);
      const bool has_ri = k == k_add_ri || k == k_sub_ri || k == k_mul_ri || k == k_and_ri ||
                          k == k_or_ri || k == k_xor_ri || k == k_shl_ri || k == k_shr_ri ||
                          k == k_sar_ri || (k >= k_set_eq_ri && k <= k_set_ge_ri);
      const bool binary = has_ri || k == k_add || k == k_sub || k == k_mul || k == k_and ||
                          k == k_or || k == k_xor || k == k_shl || k == k_shr || k == k_sar ||
                          (k >= k_set_eq && k <= k_set_ge) || k == k_select || k == k_generic;
      if (has_ri) line += ", " + Hex(o.imm);
      else if (binary) line += ", " + loc(o.b);
      if (k == k_select || k == k_generic) line += ", " + loc(o.c);
      if (k == k_generic) line += std::string(" (") + Info(o.opc).name + ")";
    }
    if ((k >= k_end && k <= k_end_indirect) || (k >= k_br_eq && k <= k_br_ge_ri)) {
      // The moves folded into the terminal, done after its compare.
      for (const InterpTail& t : p.tail) {
        if (t.dst >= frame_offset + kInterpFrameBytes - 8) continue;  // unused entry
        line += "; " + loc(t.dst) + " = ";
        if (t.mask == 0) line += Hex(t.val);
        else line += loc(t.src) + (t.mask == ~0ull ? "" : " & " + Hex(t.mask));
      }
    }
    s += line + "\n";
  }
  return s;
}

}  // namespace emu::accel::tcg
