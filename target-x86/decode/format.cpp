#include "target-x86/decode/format.h"

#include <cstdio>

namespace emu::x86 {

namespace {

const char* const kGpr64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"};
const char* const kGpr32[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
const char* const kGpr16[] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di"};
const char* const kGpr8[] = {"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"};
const char* const kGpr8High[] = {"ah", "ch", "dh", "bh"};
const char* const kSeg[] = {"es", "cs", "ss", "ds", "fs", "gs"};

std::string Gpr(int reg, unsigned size) {
  if (reg < 0 || reg > 15) return "?";
  if (reg < 8) {
    switch (size) {
      case 1: return kGpr8[reg];
      case 2: return kGpr16[reg];
      case 4: return kGpr32[reg];
      default: return kGpr64[reg];
    }
  }
  std::string n = "r" + std::to_string(reg);
  return size == 1 ? n + "b" : size == 2 ? n + "w" : size == 4 ? n + "d" : n;
}

std::string Hex(int64_t v) {
  char buf[24];
  if (v < 0) {
    std::snprintf(buf, sizeof(buf), "-0x%llx", static_cast<unsigned long long>(-static_cast<uint64_t>(v)));
  } else {
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  }
  return buf;
}

const char* SizeName(unsigned size) {
  switch (size) {
    case 1: return "byte ";
    case 2: return "word ";
    case 4: return "dword ";
    case 8: return "qword ";
    case 10: return "tbyte ";
    case 16: return "xmmword ";
    default: return "";
  }
}

std::string Memory(const Operand& op) {
  const MemOperand& m = op.mem;
  std::string s = SizeName(op.size);
  s += m.seg < 6 ? kSeg[m.seg] : "?";
  s += ":[";
  bool any = false;
  if (m.rip_relative) {
    s += m.address_size == 4 ? "eip" : "rip";
    any = true;
  }
  if (m.base >= 0) {
    s += Gpr(m.base, m.address_size);
    any = true;
  }
  if (m.index >= 0) {
    if (any) s += "+";
    s += Gpr(m.index, m.address_size);
    if (m.scale > 1) s += "*" + std::to_string(m.scale);
    any = true;
  }
  if (m.disp != 0 || !any) {
    if (any && m.disp >= 0) s += "+";
    s += Hex(m.disp);
  }
  return s + "]";
}

}  // namespace

std::string RegisterName(const Operand& op) {
  unsigned r = op.reg;
  switch (op.reg_class) {
    case RegClass::kGpr8: return Gpr(static_cast<int>(r), 1);
    case RegClass::kGpr8High: return r < 4 ? kGpr8High[r] : "?";
    case RegClass::kGpr16: return Gpr(static_cast<int>(r), 2);
    case RegClass::kGpr32: return Gpr(static_cast<int>(r), 4);
    case RegClass::kGpr64: return Gpr(static_cast<int>(r), 8);
    case RegClass::kSeg: return r < 6 ? kSeg[r] : "?";
    case RegClass::kCr: return "cr" + std::to_string(r);
    case RegClass::kDr: return "dr" + std::to_string(r);
    case RegClass::kSt: return "st(" + std::to_string(r) + ")";
    case RegClass::kMmx: return "mm" + std::to_string(r);
    case RegClass::kXmm: return "xmm" + std::to_string(r);
    case RegClass::kNone: break;
  }
  return "?";
}

std::string FormatInst(const DecodedInst& d) {
  std::string s;
  if (d.lock()) s += "LOCK ";
  if (d.rep()) s += "REP ";
  if (d.repne()) s += "REPNE ";
  s += MnemonicName(d.mnemonic);
  if (d.mnemonic == Mnemonic::JCC || d.mnemonic == Mnemonic::SETCC ||
      d.mnemonic == Mnemonic::CMOVCC) {
    s += "(" + std::to_string(d.cond) + ")";
  }
  for (unsigned i = 0; i < d.num_operands && i < 4; i++) {
    const Operand& op = d.ops[i];
    s += i ? ", " : " ";
    switch (op.kind) {
      case OperandKind::kReg: s += RegisterName(op); break;
      case OperandKind::kMem: s += Memory(op); break;
      case OperandKind::kImm: s += Hex(op.imm); break;
      case OperandKind::kRel: s += "rel " + Hex(op.imm); break;
      case OperandKind::kFarPtr: {
        char buf[40];
        std::snprintf(buf, sizeof(buf), "0x%x:0x%llx", op.selector,
                      static_cast<unsigned long long>(op.imm));
        s += buf;
        break;
      }
      case OperandKind::kNone: s += "?"; break;
    }
  }
  s += " ;";
  char b[4];
  for (unsigned i = 0; i < d.length && i < 15; i++) {
    std::snprintf(b, sizeof(b), " %02x", d.bytes[i]);
    s += b;
  }
  return s;
}

}  // namespace emu::x86
