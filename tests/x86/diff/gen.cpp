#include "tests/x86/diff/gen.h"

#include <cstdio>

namespace emu::x86::difftest {

const Layout& LayoutFor(Mode m) {
  // The data region crosses a page boundary at data + 0x200, so operands there straddle it.
  static const Layout k64 = {0x20000e00, 0x400, 0x20002c00, 0x400, 0x20002e00, 0, 0};
  // 32-bit mode: 16-bit addressing (67) reaches only the first 64 KiB: a small region there.
  static const Layout k32 = {0x20000e00, 0x400, 0x20002c00, 0x400, 0x20002e00, 0xc000, 0x200};
  static const Layout k16 = {0x1e00, 0x400, 0x3c00, 0x400, 0x3e00, 0, 0};
  return m == Mode::k16 ? k16 : m == Mode::k32 ? k32 : k64;
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string s;
  char b[4];
  for (uint8_t x : bytes) {
    std::snprintf(b, sizeof b, "%02x", x);
    if (!s.empty()) s += ' ';
    s += b;
  }
  return s;
}

Gen::Gen(Mode mode, uint64_t seed) : mode_(mode), rng_(seed) {}

uint64_t Gen::Value(int bits) {
  uint64_t mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
  uint64_t sign = 1ull << (bits - 1);
  uint64_t low;
  switch (Below(12)) {
    case 0: low = 0; break;
    case 1: low = 1; break;
    case 2: low = mask; break;                     // -1 / max unsigned
    case 3: low = sign - 1; break;                 // max signed
    case 4: low = sign; break;                     // min signed
    case 5: low = sign + Below(3) - 1; break;      // around the sign boundary
    case 6: low = mask - Below(4); break;          // just below max
    case 7: low = Below(17); break;                // small
    case 8: low = 1ull << Below(bits); break;      // one bit
    case 9: low = ~(1ull << Below(bits)); break;   // all but one bit
    default: low = Rand(); break;
  }
  return (Rand() & ~mask) | (low & mask);
}

int Gen::OpSize(bool byte) {
  static const int k64[] = {8, 16, 32, 64};
  int n = mode_ == Mode::k64 ? 4 : 3;
  if (byte) return k64[Below(n)];
  return k64[1 + Below(n - 1)];
}

void Gen::SetReg(int r, uint64_t v) {
  case_.req.in.gpr[r] = mode_ == Mode::k64 ? v : v & 0xffffffff;
}

int Gen::PickReg(bool allow_sp, bool allow_reserved) {
  for (int tries = 0;; tries++) {
    int r = static_cast<int>(Below(nregs()));
    if (r == SP && !allow_sp) continue;
    if (Reserved(r) && !allow_reserved && tries < 64) continue;
    return r;
  }
}

void Gen::Begin(const std::string& family) {
  case_ = Case();
  case_.family = family;
  case_.req.mode = mode_;
  case_.req.timeout_ms = 2000;
  reserved_ = 1u << SP;
  for (int r = 0; r < 16; r++) SetReg(r, r < nregs() ? Value(Chance(50) ? 64 : 32) : 0);
  const Layout& l = LayoutFor(mode_);
  // 16-bit stacks use SP only: the upper half of ESP must survive.
  SetReg(SP, mode_ == Mode::k16 ? (Rand() & 0xffff0000) | l.sp : l.sp);
  case_.req.in.flags = Rand() & (kArith | DF);
  std::vector<uint8_t> data(l.data_size), stack(l.stack_size);
  for (auto* v : {&data, &stack}) {
    for (size_t i = 0; i < v->size(); i += 8) {
      uint64_t x = Chance(30) ? Value(64) : Rand();
      for (int b = 0; b < 8; b++) (*v)[i + b] = static_cast<uint8_t>(x >> (8 * b));
    }
  }
  case_.req.mem.push_back({l.data, data});
  case_.req.mem.push_back({l.stack, stack});
  if (l.low_size) {
    std::vector<uint8_t> low(l.low_size);
    for (auto& b : low) b = static_cast<uint8_t>(Rand());
    case_.req.mem.push_back({l.low, low});
  }
}

void Gen::Poke(uint64_t addr, uint64_t v, int bytes) {
  for (auto& r : case_.req.mem) {
    for (int b = 0; b < bytes; b++) {
      uint64_t a = addr + b;
      if (a >= r.addr && a < r.addr + r.bytes.size()) r.bytes[a - r.addr] = static_cast<uint8_t>(v >> (8 * b));
    }
  }
}

uint64_t Gen::Peek(uint64_t addr, int bytes) const {
  uint64_t v = 0;
  for (const auto& r : case_.req.mem) {
    for (int b = 0; b < bytes; b++) {
      uint64_t a = addr + b;
      if (a >= r.addr && a < r.addr + r.bytes.size()) v |= static_cast<uint64_t>(r.bytes[a - r.addr]) << (8 * b);
    }
  }
  return v;
}

uint64_t Gen::DataTarget(int align) {
  const Layout& l = LayoutFor(mode_);
  uint64_t t = l.data + 0x100 + Below(0x200 - 16);
  if (Chance(15)) t = l.data + 0x200 - 1 - Below(15);  // straddle the page boundary
  if (align > 1) t &= ~static_cast<uint64_t>(align - 1);
  return t;
}

uint64_t Gen::Target(bool addr_override, int align) {
  const Layout& l = LayoutFor(mode_);
  if (mode_ == Mode::k32 && addr_override) {
    uint64_t t = l.low + 0x80 + Below(0x100);
    if (align > 1) t &= ~static_cast<uint64_t>(align - 1);
    return t;
  }
  return DataTarget(align);
}

int Gen::AddrSize(bool override) const {
  switch (mode_) {
    case Mode::k64: return override ? 32 : 64;
    case Mode::k32: return override ? 16 : 32;
    default: return override ? 32 : 16;
  }
}

void Gen::MemTo(Insn* insn, uint64_t target, bool addr_override) {
  if (addr_override) insn->prefixes.push_back(0x67);
  int asize = AddrSize(addr_override);
  insn->rm_mem = true;
  insn->modrm = true;
  insn->mem = MemOperand();
  insn->mem.target = target;
  if (asize == 16) {
    MemAddr16(insn, target);
  } else {
    MemAddr3264(insn, target, asize);
  }
}

// 16-bit ModRM addressing: [BX+SI], [BX+DI], [BP+SI], [BP+DI], [SI], [DI], [BP]/disp16, [BX].
void Gen::MemAddr16(Insn* insn, uint64_t target) {
  static const int kBase[8] = {BX, BX, BP, BP, -1, -1, BP, BX};
  static const int kIndex[8] = {SI, DI, SI, DI, SI, DI, -1, -1};
  MemOperand& m = insn->mem;
  m.addr16 = true;
  for (;;) {
    int rm = static_cast<int>(Below(8));
    int mod = static_cast<int>(Below(3));
    int b = kBase[rm], x = kIndex[rm];
    if ((b >= 0 && Reserved(b)) || (x >= 0 && Reserved(x))) {
      if (Chance(80)) continue;
      rm = 6;  // fall back to a plain disp16
      mod = 0;
    }
    m.rm = static_cast<uint8_t>(rm);
    m.mod = static_cast<uint8_t>(mod);
    if (mod == 0 && rm == 6) {
      m.disp_size = 2;
      m.disp = static_cast<int64_t>(target & 0xffff);
      return;
    }
    m.disp_size = mod == 1 ? 1 : mod == 2 ? 2 : 0;
    m.disp = mod == 1 ? static_cast<int8_t>(Rand()) : mod == 2 ? static_cast<int16_t>(Rand()) : 0;
    uint64_t idx = 0;
    if (x >= 0) {
      idx = Rand() & 0xffff;
      SetReg(x, (Rand() & 0xffff0000) | idx);
      Reserve(x);
    }
    if (b >= 0) {
      uint64_t bv = (target - idx - static_cast<uint64_t>(m.disp)) & 0xffff;
      SetReg(b, (Rand() & 0xffff0000) | bv);
      Reserve(b);
    } else {
      // [SI]/[DI] alone: the index register carries the whole address.
      uint64_t xv = (target - static_cast<uint64_t>(m.disp)) & 0xffff;
      SetReg(x, (Rand() & 0xffff0000) | xv);
    }
    return;
  }
}

void Gen::MemAddr3264(Insn* insn, uint64_t target, int asize) {
  MemOperand& m = insn->mem;
  const uint64_t amask = asize == 64 ? ~0ull : 0xffffffffull;
  const bool m64 = mode_ == Mode::k64;
  auto random_upper = [&](uint64_t low) {
    // Registers above the address size carry garbage the CPU must ignore.
    return asize == 32 && m64 ? (Rand() & ~0xffffffffull) | (low & amask) : low & amask;
  };
  enum Form { kBase, kSib, kSibNoBase, kAbs, kRipRel };
  Form form = static_cast<Form>(Below(m64 ? 5 : 4));
  if (form == kRipRel && !Chance(50)) form = kBase;
  int base = -1, index = -1, scale = 0;
  if (form == kBase || form == kSib) {
    base = PickReg(true, false);
    if (Chance(15)) base = SP;  // SP-based: its value is fixed, the displacement adapts
    if (form == kBase && (base & 7) == SP) form = kSib;  // SP/R12 need a SIB byte
  }
  if (form == kSib || form == kSibNoBase) {
    index = PickReg(false, false);
    if (index == base) index = -1;
    if (Chance(10)) index = -1;  // SIB without index
    scale = static_cast<int>(Below(4));
  }
  if (form == kAbs || form == kRipRel) {
    m.mod = 0;
    m.disp_size = 4;
    if (form == kRipRel) {
      m.rm = 5;
      m.rip_rel = true;
    } else if (m64 || Chance(50)) {
      m.rm = 4;
      m.has_sib = true;
      m.sib = 0x25;  // no base, no index
      if (m64 && Chance(30)) m.rex_b = true;  // base 101 with mod 00 stays "no base" under REX.B
    } else {
      m.rm = 5;
    }
    m.disp = static_cast<int32_t>(target & 0xffffffff);
    return;
  }
  // Displacement size: 0, 8 or 32 bits (base 101 needs one; SP-based may need 32).
  static const int kDispSizes[] = {0, 1, 4};
  int dsize = Pick(kDispSizes);
  if (form == kSibNoBase) dsize = 4;
  if (base >= 0 && (base & 7) == BP && dsize == 0) dsize = 1;
  uint64_t idx_val = 0;
  if (index >= 0) {
    idx_val = Chance(50) ? Below(64) - 32 : Rand();
    SetReg(index, random_upper(idx_val));
    Reserve(index);
  }
  uint64_t rest = (target - (idx_val << scale)) & amask;  // what base + disp must make
  int64_t disp = 0;
  if (base == SP) {
    uint64_t need = (rest - Reg(SP)) & amask;
    int64_t sneed = asize == 64 ? static_cast<int64_t>(need) : static_cast<int32_t>(need);
    if (sneed >= -128 && sneed <= 127 && dsize != 4) {
      dsize = 1;
    } else if (sneed >= INT32_MIN && sneed <= INT32_MAX) {
      dsize = 4;
    } else {
      // The index made the displacement too large: take a small index instead.
      idx_val = 0;
      if (index >= 0) SetReg(index, random_upper(0));
      rest = target & amask;
      need = (rest - Reg(SP)) & amask;
      sneed = asize == 64 ? static_cast<int64_t>(need) : static_cast<int32_t>(need);
      dsize = 4;
    }
    if (sneed == 0 && Chance(50) && dsize == 1) dsize = 0;
    disp = dsize ? sneed : 0;
  } else {
    disp = dsize == 1 ? static_cast<int8_t>(Rand()) : dsize == 4 ? static_cast<int32_t>(Rand()) : 0;
    if (base >= 0) {
      SetReg(base, random_upper(rest - static_cast<uint64_t>(disp)));
      Reserve(base);
    } else {
      disp = static_cast<int32_t>(rest);  // index*scale + disp32
    }
  }
  m.disp = disp;
  m.disp_size = dsize;
  m.mod = dsize == 0 ? 0 : dsize == 1 ? 1 : 2;
  if (form == kSibNoBase) m.mod = 0;
  if (form == kBase) {
    m.rm = static_cast<uint8_t>(base & 7);
    m.rex_b = base >= 8;
    return;
  }
  m.rm = 4;
  m.has_sib = true;
  int ib = index < 0 ? 4 : index;  // 100 without REX.X: no index
  int bb = form == kSibNoBase ? 5 : base;
  m.sib = static_cast<uint8_t>((scale << 6) | ((ib & 7) << 3) | (bb & 7));
  m.rex_x = index >= 8;
  m.rex_b = form != kSibNoBase && base >= 8;
}

void Gen::RmOperand(Insn* insn, int mem_pct) {
  insn->modrm = true;
  if (!no_memory_ && Chance(mem_pct)) {
    bool a = Chance(20);
    MemTo(insn, Target(a), a);
  } else {
    insn->rm_mem = false;
    insn->rm = PickReg();
  }
}

void Gen::SizePrefix(Insn* insn, int size) {
  if (size == 64) {
    insn->rex_w = true;
    if (Chance(10)) insn->prefixes.push_back(0x66);  // REX.W wins over 66
  } else if (size == 16) {
    if (mode_ != Mode::k16) insn->prefixes.push_back(0x66);
  } else if (size == 32) {
    if (mode_ == Mode::k16) insn->prefixes.push_back(0x66);
  }
}

void Gen::Decorate(Insn* insn) {
  if (Chance(10)) {
    // DS and SS have the same base in every mode here; ES too. In 64-bit mode all of
    // CS/DS/ES/SS overrides are ignored.
    static const uint8_t kSeg[] = {0x3e, 0x36, 0x26};
    insn->prefixes.insert(insn->prefixes.begin(), Pick(kSeg));
  }
  if (mode_ == Mode::k64 && Chance(10)) insn->rex = true;
}

size_t Gen::Emit(Insn in, const std::string& note) {
  std::vector<uint8_t>& code = case_.req.code;
  size_t start = code.size();
  for (uint8_t p : in.prefixes) code.push_back(p);
  int r = in.reg, b = in.rm_mem ? 0 : in.rm;
  bool rex_r = in.modrm && r >= 8;
  bool rex_b = in.rm_mem ? in.mem.rex_b : (in.modrm && b >= 8);
  if (in.opreg >= 8) rex_b = true;
  bool rex_x = in.rm_mem && in.mem.rex_x;
  if (mode_ == Mode::k64 && (in.rex || in.rex_w || rex_r || rex_b || rex_x)) {
    code.push_back(static_cast<uint8_t>(0x40 | (in.rex_w ? 8 : 0) | (rex_r ? 4 : 0) | (rex_x ? 2 : 0) | (rex_b ? 1 : 0)));
  }
  for (size_t i = 0; i < in.opcode.size(); i++) {
    uint8_t op = in.opcode[i];
    if (i + 1 == in.opcode.size() && in.opreg >= 0) op = static_cast<uint8_t>(op | (in.opreg & 7));
    code.push_back(op);
  }
  size_t disp_at = 0;
  if (in.modrm) {
    if (in.rm_mem) {
      const MemOperand& m = in.mem;
      code.push_back(static_cast<uint8_t>((m.mod << 6) | ((r & 7) << 3) | m.rm));
      if (m.has_sib) code.push_back(m.sib);
      disp_at = code.size();
      for (int i = 0; i < m.disp_size; i++) code.push_back(static_cast<uint8_t>(static_cast<uint64_t>(m.disp) >> (8 * i)));
    } else {
      code.push_back(static_cast<uint8_t>(0xc0 | ((r & 7) << 3) | (b & 7)));
    }
  }
  for (uint8_t x : in.imm) code.push_back(x);
  if (in.modrm && in.rm_mem && in.mem.rip_rel) {
    // RIP-relative: the displacement counts from the end of the instruction.
    uint64_t end = CodeAddress(code.size());
    int asize = AddrSize(false);
    for (uint8_t p : in.prefixes) {
      if (p == 0x67) asize = 32;
    }
    uint64_t d = in.mem.target - end;
    if (asize == 32) d &= 0xffffffff;
    for (int i = 0; i < 4; i++) code[disp_at + i] = static_cast<uint8_t>(d >> (8 * i));
  }
  if ((in.modrm && (in.reg == SP || (!in.rm_mem && in.rm == SP))) || in.opreg == SP) case_.sp_operand = true;
  case_.notes.push_back(note);
  return start;
}

void Gen::EmitBytes(const std::vector<uint8_t>& b, const std::string& note) {
  case_.req.code.insert(case_.req.code.end(), b.begin(), b.end());
  case_.notes.push_back(note);
}

}  // namespace emu::x86::difftest
