#include "accel/tcg/ir/print.h"

#include <cstdio>

namespace emu::accel::tcg {

namespace {

const char* const kTypeNames[] = {"i8", "i16", "i32", "i64"};
const char* const kCondNames[] = {"eq", "ne", "ltu", "leu", "gtu", "geu", "lt", "le", "gt", "ge"};

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string TempName(const Block& b, uint32_t t) {
  if (t == kNoTemp) return "-";
  if (t < b.is_const.size() && b.is_const[t]) return "$" + Hex(b.const_val[t]);
  return "t" + std::to_string(t);
}

std::string EnvName(uint32_t offset, Type t, const IrNames& names) {
  if (names.env) {
    std::string n = names.env(offset, t);
    if (!n.empty()) return n;
  }
  return "env+" + Hex(offset);
}

const char* TypeName(unsigned t) { return t < 4 ? kTypeNames[t] : "?"; }

}  // namespace

std::string PrintOp(const Block& b, const Op& o, const IrNames& names) {
  if (o.opc >= Opcode::kCount) return "<bad opcode " + std::to_string(unsigned(o.opc)) + ">";
  const OpInfo& in = Info(o.opc);
  if (o.opc == Opcode::k_insn_start) return "---- " + Hex(o.imm);
  std::string s;
  if (in.nout && o.dst != kNoTemp) s = TempName(b, o.dst) + " = ";
  s += in.name;
  if (o.opc != Opcode::k_call) s += std::string(".") + TypeName(static_cast<unsigned>(o.type));
  auto t = [&](uint32_t x) { return TempName(b, x); };
  switch (o.opc) {
    case Opcode::k_ld_env: return s + " " + EnvName(static_cast<uint32_t>(o.imm), o.type, names);
    case Opcode::k_st_env:
      return s + " " + EnvName(static_cast<uint32_t>(o.imm), o.type, names) + ", " + t(o.a);
    case Opcode::k_ld_mem: return s + " [" + t(o.a) + "] mmu" + std::to_string(o.aux);
    case Opcode::k_st_mem: return s + " [" + t(o.a) + "], " + t(o.b) + " mmu" + std::to_string(o.aux);
    case Opcode::k_setcond:
      return s + " " + (o.aux < 10 ? kCondNames[o.aux] : "?") + " " + t(o.a) + ", " + t(o.b);
    case Opcode::k_zext:
    case Opcode::k_sext: return s + " " + t(o.a) + " (from " + TypeName(o.aux) + ")";
    case Opcode::k_call: {
      std::string fn = HostFunctionName(o.imm);
      s += " " + (fn.empty() ? Hex(o.imm) : fn);
      const uint32_t args[3] = {o.a, o.b, o.c};
      int last = 2;
      while (last >= 0 && args[last] == kNoTemp) last--;
      for (int i = 0; i <= last; i++) s += (i ? ", " : " ") + t(args[i]);
      if (o.aux & kHelperPure) s += " pure";
      if (o.aux & kHelperMayExit) s += " may_exit";
      return s;
    }
    default: break;
  }
  const uint32_t args[3] = {o.a, o.b, o.c};
  for (unsigned i = 0; i < in.nin && i < 3; i++) s += (i ? ", " : " ") + t(args[i]);
  return s;
}

std::string PrintTerminal(const Block& b, const IrNames& names) {
  const Terminal& tm = b.term;
  if (tm.pc_off != kNoTemp &&
      (tm.kind == Terminal::Kind::kGoto || tm.kind == Terminal::Kind::kBranch)) {
    Block plain = b;
    plain.term.pc_off = kNoTemp;
    std::string s = PrintTerminal(plain, names) + " (" + EnvName(tm.pc_off, Type::kI64, names) +
                    " = " + Hex(tm.pc_vals[0]);
    if (tm.kind == Terminal::Kind::kBranch) s += " : " + Hex(tm.pc_vals[1]);
    return s + ")";
  }
  switch (tm.kind) {
    case Terminal::Kind::kNone: return "(no terminal)";
    case Terminal::Kind::kGoto: return "goto " + Hex(tm.targets[0]);
    case Terminal::Kind::kBranch:
      return "branch " + TempName(b, tm.cond) + " ? " + Hex(tm.targets[0]) + " : " +
             Hex(tm.targets[1]);
    case Terminal::Kind::kIndirect: return "indirect (next pc in env)";
    case Terminal::Kind::kExit: return "exit code=" + std::to_string(tm.exit_code);
    case Terminal::Kind::kRaise: return "raise code=" + std::to_string(tm.exit_code);
  }
  return "(bad terminal)";
}

std::string PrintBlock(const Block& b, const std::string& title, const IrNames& names) {
  std::string out;
  if (!title.empty()) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " pc=0x%llx insns=%u bytes=%u ops=%zu temps=%u\n",
                  static_cast<unsigned long long>(b.guest_pc), b.guest_insns, b.guest_size,
                  b.ops.size(), b.num_temps);
    out = title + buf;
  }
  for (const Op& o : b.ops) {
    bool marker = o.opc == Opcode::k_insn_start;
    out += (marker ? " " : "  ") + PrintOp(b, o, names) + "\n";
  }
  out += "  " + PrintTerminal(b, names) + "\n";
  return out;
}

}  // namespace emu::accel::tcg
