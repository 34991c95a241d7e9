// Condition consumers (SETcc/CMOVcc/Jcc/ADC/LAHF...), near control transfers, LOOP/JCXZ,
// string instructions with REP prefixes, flag instructions and XLAT.
#include "tests/x86/diff/families.h"

namespace emu::x86::difftest {
namespace {

uint8_t B(int x) { return static_cast<uint8_t>(x); }

// Flags each condition code reads (cc / 2: O B Z BE S P L LE).
uint64_t CondFlags(int cc) {
  static const uint64_t k[8] = {OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF};
  return k[(cc >> 1) & 7];
}

// A condition code whose flags are all defined, or -1.
int DefinedCond(Gen& g) {
  for (int i = 0; i < 16; i++) {
    int cc = static_cast<int>(g.Below(16));
    if ((CondFlags(cc) & g.c().flags_undefined) == 0) return cc;
  }
  return -1;
}

// mov r32, imm32 (B8+r): the instruction a branch skips, so taken/not taken shows.
Insn MarkerMov(Gen& g) {
  Insn m;
  m.opcode = {0xb8};
  m.opreg = g.PickReg(false);
  m.imm = Imm(g.Rand(), g.mode() == Mode::k16 ? 2 : 4);
  return m;
}

size_t EncodedSize(Gen& g, const Insn& in) {
  Gen scratch(g.mode(), 0);
  scratch.Begin("size");
  scratch.Emit(in, "");
  return scratch.CodeSize();
}

// Emits a relative branch `op` (with rel8 or rel16/32 per `wide`) over a marker mov.
void BranchOverMarker(Gen& g, Insn br, bool wide, const std::string& note) {
  Insn m = MarkerMov(g);
  int64_t skip = static_cast<int64_t>(EncodedSize(g, m));
  int rel = wide ? (g.mode() == Mode::k16 ? 2 : 4) : 1;
  for (uint8_t p : br.prefixes) {
    if (p == 0x66 && g.mode() == Mode::k16 && wide) rel = 4;
  }
  br.imm = Imm(static_cast<uint64_t>(skip), rel);
  g.Emit(br, note);
  g.Emit(m, "marker");
}

}  // namespace

void AppendConsumer(Gen& g) {
  if (g.c().regs_undefined) return;
  uint64_t undef = g.c().flags_undefined;
  for (int tries = 0; tries < 8; tries++) {
    int kind = static_cast<int>(g.Below(7));
    Insn in;
    if (kind <= 2) {
      int cc = DefinedCond(g);
      if (cc < 0) continue;
      if (kind == 0) {  // SETcc r/m8 (register)
        in.opcode = {0x0f, B(0x90 + cc)};
        in.modrm = true;
        in.rm = g.PickReg();
        if (g.mode() == Mode::k64 && g.Chance(30)) in.rex = true;
        g.Emit(in, "setcc");
      } else if (kind == 1) {  // CMOVcc r, r
        int size = g.OpSize(false);
        g.SizePrefix(&in, size);
        in.opcode = {0x0f, B(0x40 + cc)};
        in.modrm = true;
        in.reg = g.PickReg();
        in.rm = g.PickReg();
        g.Emit(in, "cmovcc" + std::to_string(size));
      } else {  // Jcc over a marker
        bool wide = g.Chance(40);
        in.opcode = wide ? std::vector<uint8_t>{0x0f, B(0x80 + cc)} : std::vector<uint8_t>{B(0x70 + cc)};
        BranchOverMarker(g, in, wide, "jcc");
      }
      return;
    }
    if (kind == 3 && !(undef & CF)) {  // ADC/SBB r, r
      int size = g.OpSize(true);
      g.SizePrefix(&in, size);
      in.opcode = {B((g.Chance(50) ? 0x10 : 0x18) + (size == 8 ? 2 : 3))};
      in.modrm = true;
      in.reg = g.PickReg();
      in.rm = g.PickReg();
      g.Emit(in, "adc/sbb");
      return;
    }
    if (kind == 4 && !(undef & (SF | ZF | AF | PF | CF))) {  // LAHF
      g.EmitBytes({0x9f}, "lahf");
      return;
    }
    if (kind == 5 && !(undef & CF)) {  // RCL/RCR r, 1 / CMC / SALC
      if (g.mode() != Mode::k64 && g.Chance(30)) {
        g.EmitBytes({0xd6}, "salc");
        return;
      }
      int size = g.OpSize(true);
      g.SizePrefix(&in, size);
      in.opcode = {B(size == 8 ? 0xd0 : 0xd1)};
      in.modrm = true;
      in.reg = g.Chance(50) ? 2 : 3;
      in.rm = g.PickReg();
      // (Undefined flags stay masked: an earlier instruction may fault before this one.)
      g.Emit(in, "rcl/rcr,1");
      return;
    }
    if (kind == 6 && !(undef & (kArith | DF)) && !g.c().sp_operand) {  // PUSHF; POP r
      bool o16 = g.Chance(30);
      if (o16) g.EmitBytes({0x66, 0x9c}, "pushf16"); else g.EmitBytes({0x9c}, "pushf");
      Insn p;
      p.opcode = {0x58};
      if (o16) p.prefixes.push_back(0x66);
      p.opreg = g.PickReg(false);
      g.Emit(p, "pop");
      return;
    }
  }
}

void GenCond(Gen& g) {
  // Half the cases consume the random initial flags, half those of a producer.
  if (g.Chance(50)) {
    switch (g.Below(5)) {
      case 0: GenAlu(g); break;
      case 1: GenIncDec(g); break;
      case 2: GenShift(g); break;
      case 3: GenMul(g); break;
      default: GenBitTest(g); break;
    }
  }
  int cc = DefinedCond(g);
  if (cc < 0 || g.c().regs_undefined) return;
  // After a producer, registers may no longer hold what memory operands would need.
  g.set_no_memory(!g.c().notes.empty());
  Insn in;
  switch (g.Below(3)) {
    case 0: {  // CMOVcc Gv, Ev (a memory source is read whatever the condition)
      int size = g.OpSize(false);
      g.SizePrefix(&in, size);
      in.opcode = {0x0f, B(0x40 + cc)};
      in.modrm = true;
      in.reg = g.PickReg();
      g.RmOperand(&in, 40);
      g.Emit(in, "cmovcc" + std::to_string(size));
      return;
    }
    case 1:  // SETcc Eb
      in.opcode = {0x0f, B(0x90 + cc)};
      in.modrm = true;
      in.reg = static_cast<int>(g.Below(8));  // ModRM.reg is ignored
      g.RmOperand(&in, 40);
      g.Decorate(&in);
      g.Emit(in, "setcc");
      return;
    default: {
      bool wide = g.Chance(40);
      in.opcode = wide ? std::vector<uint8_t>{0x0f, B(0x80 + cc)} : std::vector<uint8_t>{B(0x70 + cc)};
      if (g.mode() == Mode::k64 && g.Chance(10)) in.prefixes.push_back(0x66);  // ignored (Intel)
      BranchOverMarker(g, in, wide, "jcc");
      return;
    }
  }
}

void GenControl(Gen& g) {
  Insn in;
  int kind = static_cast<int>(g.Below(6));
  // 64-bit mode: near branches are 64-bit whatever 66 says (Intel); elsewhere 66 changes
  // the operand size of CALL/RET (16-bit mode: to 32 bits, harmless here).
  bool o66 = g.mode() != Mode::k32 && g.Chance(15);
  if (o66) in.prefixes.push_back(0x66);
  switch (kind) {
    case 0:  // JMP rel8 / rel
      in.opcode = {B(g.Chance(50) ? 0xeb : 0xe9)};
      BranchOverMarker(g, in, in.opcode[0] == 0xe9, "jmp");
      return;
    case 1:  // CALL rel
      in.opcode = {0xe8};
      BranchOverMarker(g, in, true, "call");
      return;
    case 2:
    case 3: {  // CALL/JMP r/m (FF /2, /4) to the instruction after a marker
      in.opcode = {0xff};
      in.modrm = true;
      in.reg = kind == 2 ? 2 : 4;
      bool mem = g.Chance(50);
      int reg = -1;
      if (mem) {
        bool ao = g.Chance(20);
        g.MemTo(&in, g.Target(ao, 1), ao);
      } else {
        reg = g.PickFreeReg();
        in.rm = reg;
        g.Reserve(reg);
      }
      size_t at = g.CodeSize();
      g.Emit(in, kind == 2 ? "call r/m" : "jmp r/m");
      Insn m = MarkerMov(g);
      g.Emit(m, "marker");
      uint64_t target = g.CodeAddress(g.CodeSize());
      (void)at;
      int osize = g.mode() == Mode::k64 ? 64 : (g.mode() == Mode::k16) != o66 ? 16 : 32;
      if (mem) {
        g.Poke(in.mem.target, target, osize / 8);
      } else {
        uint64_t mask = osize == 64 ? ~0ull : (1ull << osize) - 1;
        g.SetReg(reg, (g.Rand() & ~mask) | target);
      }
      return;
    }
    default: {  // RET / RET imm16 to the instruction after a marker
      bool imm = kind == 5;
      in.opcode = {B(imm ? 0xc2 : 0xc3)};
      if (imm) in.imm = Imm(g.Chance(50) ? g.Below(16) * 2 : g.Rand(), 2);
      g.Emit(in, imm ? "ret imm" : "ret");
      Insn m = MarkerMov(g);
      g.Emit(m, "marker");
      uint64_t target = g.CodeAddress(g.CodeSize());
      int osize = g.mode() == Mode::k64 ? 64 : (g.mode() == Mode::k16) != o66 ? 16 : 32;
      const Layout& l = LayoutFor(g.mode());
      g.Poke(l.sp, target, osize / 8);
      return;
    }
  }
}

void GenLoop(Gen& g) {
  // LOOP/LOOPE/LOOPNE/JCXZ forward over a marker: taken or not shows in the marker
  // register and the count register (address size picks CX/ECX/RCX).
  Insn in;
  int k = static_cast<int>(g.Below(4));
  in.opcode = {B(0xe0 + k)};
  if (g.Chance(30)) in.prefixes.push_back(0x67);
  uint64_t c = g.Chance(50) ? g.Below(3) : g.Value(32);
  if (g.Chance(20)) c = g.Rand() & ~0xffffull;  // zero in the low 16 bits only
  g.SetReg(CX, c);
  g.Reserve(CX);
  BranchOverMarker(g, in, false, k == 3 ? "jcxz" : "loop");
}

void GenString(Gen& g) {
  // MOVS CMPS STOS LODS SCAS
  static const uint8_t kOps[5] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
  static const char* const kNames[5] = {"movs", "cmps", "stos", "lods", "scas"};
  int k = static_cast<int>(g.Below(5));
  int size = g.OpSize(true);
  Insn in;
  g.SizePrefix(&in, size);
  in.opcode = {B(kOps[k] + (size == 8 ? 0 : 1))};
  bool ao = g.Chance(25);
  if (ao) in.prefixes.push_back(0x67);
  int asize = g.AddrSize(ao);
  bool cmp = k == 1 || k == 4;
  int rep = static_cast<int>(g.Below(3));  // none, F3, F2 (F2 only for CMPS/SCAS)
  if (rep == 2 && !cmp) rep = 1;
  if (rep == 1) in.prefixes.push_back(0xf3);
  if (rep == 2) in.prefixes.push_back(0xf2);
  bool down = g.Chance(40);
  g.c().req.in.flags = (g.c().req.in.flags & ~uint64_t{DF}) | (down ? uint64_t{DF} : 0);
  uint64_t amask = asize == 64 ? ~0ull : (1ull << asize) - 1;
  auto addr_reg = [&](int r, uint64_t t) {
    g.SetReg(r, (g.Rand() & ~amask) | (t & amask));
    g.Reserve(r);
  };
  uint64_t count = g.Below(9);
  if (g.Chance(10)) count = 0;
  g.SetReg(CX, (g.Rand() & ~amask) | count);
  g.Reserve(CX);
  uint64_t src = g.Target(ao), dst = g.Target(ao);
  if (k != 2) addr_reg(SI, src);
  if (k != 3) addr_reg(DI, dst);
  int n = size / 8;
  if (cmp) {
    // Equal runs so REPE goes on (and REPNE stops) somewhere in the middle.
    uint64_t equal = g.Below(count + 2);
    int64_t step = down ? -n : n;
    for (uint64_t i = 0; i < equal; i++) {
      uint64_t v = g.Peek(dst + i * step, n);
      if (k == 1) g.Poke(src + i * step, v, n);
    }
    if (k == 4) {
      uint64_t v = g.Peek(dst + g.Below(count + 1) * step, n);
      uint64_t m = n == 8 ? ~0ull : (1ull << (8 * n)) - 1;
      if (!g.Reserved(AX)) g.SetReg(AX, (g.Reg(AX) & ~m) | (v & m));
    }
  }
  // A segment override applies to the source of MOVS/CMPS/LODS (never to ES:rDI).
  if (g.Chance(15)) in.prefixes.insert(in.prefixes.begin(), g.Chance(50) ? 0x36 : 0x26);
  g.Emit(in, std::string(rep == 1 ? "rep " : rep == 2 ? "repne " : "") + kNames[k] + std::to_string(size));
}

void GenFlagOps(Gen& g) {
  int k = static_cast<int>(g.Below(9));
  switch (k) {
    case 0: g.EmitBytes({0x9f}, "lahf"); return;
    case 1: g.EmitBytes({0x9e}, "sahf"); return;
    case 2: g.EmitBytes({0xf8}, "clc"); return;
    case 3: g.EmitBytes({0xf9}, "stc"); return;
    case 4: g.EmitBytes({0xf5}, "cmc"); return;
    case 5: g.EmitBytes({0xfc}, "cld"); return;
    case 6: g.EmitBytes({0xfd}, "std"); return;
    case 7: g.EmitBytes({0xd6}, "salc"); return;  // #UD in 64-bit mode
    default: {  // XLAT: AL = [rBX + AL]
      Insn in;
      in.opcode = {0xd7};
      bool ao = g.Chance(30);
      if (ao) in.prefixes.push_back(0x67);
      int asize = g.AddrSize(ao);
      uint64_t amask = asize == 64 ? ~0ull : (1ull << asize) - 1;
      uint64_t table = g.Target(ao) - 0x80;
      g.SetReg(BX, (g.Rand() & ~amask) | (table & amask));
      if (g.mode() == Mode::k64 && g.Chance(30)) in.rex_w = true;
      g.Emit(in, "xlat");
      return;
    }
  }
}

}  // namespace emu::x86::difftest
