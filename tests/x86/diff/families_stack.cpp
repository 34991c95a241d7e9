// Stack families (PUSH/POP forms, PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE), exceptions
// (privileged instructions, #UD, INT3/INT1/INTO, BOUND, #PF with no partial store,
// non-canonical #GP), instruction sequences, and the family table.
#include "tests/x86/diff/families.h"

namespace emu::x86::difftest {
namespace {

uint8_t B(int x) { return static_cast<uint8_t>(x); }

// Stack operand size for a 66 prefix choice: 16-bit mode defaults to 16, 64-bit to 64.
int StackSize(Gen& g, bool o66) {
  switch (g.mode()) {
    case Mode::k16: return o66 ? 32 : 16;
    case Mode::k32: return o66 ? 16 : 32;
    default: return o66 ? 16 : 64;
  }
}

// The 2 MiB boundary at 0x30000000: the page below is mapped (region), the one above is not
// (on both sides), so accesses across it fault with #PF after writing nothing.
constexpr uint64_t kEdgeEnd = 0x30000000, kEdgeSize = 0x200;

}  // namespace

void GenStack(Gen& g) {
  Insn in;
  bool o66 = g.Chance(25);
  if (o66) in.prefixes.push_back(0x66);
  int osize = StackSize(g, o66);
  const Layout& l = LayoutFor(g.mode());
  switch (g.Below(8)) {
    case 0:
      in.opcode = {0x50};
      in.opreg = g.PickReg();
      g.Emit(in, "push r" + std::to_string(osize));
      return;
    case 1:
      in.opcode = {0x58};
      in.opreg = g.PickReg();
      g.Emit(in, "pop r" + std::to_string(osize));
      return;
    case 2:
    case 3: {  // PUSH r/m (FF /6), POP r/m (8F /0; an rSP base is read after the pop)
      bool push = g.Below(2) == 0;
      in.opcode = {B(push ? 0xff : 0x8f)};
      in.modrm = true;
      in.reg = push ? 6 : 0;
      g.RmOperand(&in, 60);
      g.Emit(in, std::string(push ? "push" : "pop") + " r/m" + std::to_string(osize));
      return;
    }
    case 4:
      if (g.Chance(50)) {
        in.opcode = {0x6a};
        in.imm = Imm(g.Value(8), 1);
      } else {
        in.opcode = {0x68};
        in.imm = Imm(g.Value(32), osize == 16 ? 2 : 4);
      }
      g.Emit(in, "push imm" + std::to_string(osize));
      return;
    case 5:
      in.opcode = {0x9c};
      g.Emit(in, "pushf" + std::to_string(osize));
      return;
    case 6: {
      // POPF at CPL 3 with IOPL 0: IF and IOPL are kept silently. TF and AC are left out
      // (a trap after the snippet; Linux runs user code with CR0.AM set).
      uint64_t v = g.Rand() & ~((1ull << 8) | (1ull << 18));
      g.Poke(l.sp, v, osize / 8);
      in.opcode = {0x9d};
      g.Emit(in, "popf" + std::to_string(osize));
      return;
    }
    default:  // PUSHA/POPA (#UD in 64-bit mode)
      in.opcode = {B(g.Chance(50) ? 0x60 : 0x61)};
      g.Emit(in, in.opcode[0] == 0x60 ? "pusha" : "popa");
      return;
  }
}

void GenEnterLeave(Gen& g) {
  const Layout& l = LayoutFor(g.mode());
  bool o66 = g.Chance(20);
  uint64_t bp = l.stack + 0x100 + g.Below(0x2f0);
  uint64_t keep = g.mode() == Mode::k16 ? g.Rand() & 0xffff0000 : 0;
  if (g.mode() == Mode::k64 && g.Chance(30)) keep = 0;
  g.SetReg(BP, keep | bp);
  g.Reserve(BP);
  Insn in;
  if (o66) in.prefixes.push_back(0x66);
  if (g.Chance(35)) {
    in.opcode = {0xc9};
    g.Emit(in, "leave");
    return;
  }
  // Every nesting level 0-31, sometimes with bits above the 5 that count (mod 32).
  unsigned level = static_cast<unsigned>(g.Below(32)) + (g.Chance(15) ? 32 * static_cast<unsigned>(1 + g.Below(7)) : 0);
  if (g.Chance(30) && (level & 31) > 1) {
    // The old frame just below SP: the copies read what the push of BP and the earlier
    // copies (and the FrameTemp slot) write.
    int osize = StackSize(g, o66) / 8;
    g.SetReg(BP, keep | (l.sp - osize * g.Below(2 * (level & 31) + 2)));
  }
  uint64_t frame = g.Chance(50) ? g.Below(64) * 2 : g.Rand() & 0xffff;
  in.opcode = {0xc8};
  in.imm = Imm(frame, 2);
  in.imm.push_back(B(level));
  g.Emit(in, "enter level " + std::to_string(level));
}

void GenFaults(Gen& g) {
  struct Seq {
    std::vector<uint8_t> bytes;
    const char* name;
  };
  static const Seq kPrivileged[] = {
      {{0x0f, 0x0b}, "ud2"},           {{0xf4}, "hlt"},
      {{0xfa}, "cli"},                 {{0xfb}, "sti"},
      {{0xe4, 0x60}, "in al, imm"},    {{0xe6, 0x80}, "out imm, al"},
      {{0xec}, "in al, dx"},           {{0xef}, "out dx, ax"},
      {{0x6c}, "insb"},                {{0x6f}, "outsw"},
      {{0x0f, 0x20, 0xc0}, "mov r, cr0"}, {{0x0f, 0x22, 0xd8}, "mov cr3, r"},
      {{0x0f, 0x21, 0xc0}, "mov r, dr0"}, {{0x0f, 0x30}, "wrmsr"},
      {{0x0f, 0x32}, "rdmsr"},         {{0x0f, 0x06}, "clts"},
      {{0x0f, 0x08}, "invd"},          {{0x0f, 0x09}, "wbinvd"},
      {{0x0f, 0x01, 0xf0}, "lmsw"},    {{0x0f, 0x00, 0xd0}, "lldt"},
      {{0x0f, 0x00, 0xd8}, "ltr"},     {{0xcc}, "int3"},
      {{0xf1}, "int1"},                {{0xce}, "into"},
      {{0xf0, 0x90}, "lock nop"},      {{0xf0, 0x8b, 0xc0}, "lock mov"},
  };
  // Valid elsewhere, #UD in 64-bit mode (push/pop of ES/CS/SS/DS, far call/jmp, PUSHA...).
  static const Seq kInvalid64[] = {
      {{0x06}, "push es"}, {{0x07}, "pop es"}, {{0x0e}, "push cs"}, {{0x16}, "push ss"},
      {{0x17}, "pop ss"},  {{0x1e}, "push ds"}, {{0x1f}, "pop ds"},
      {{0x9a, 1, 2, 3, 4, 5, 6}, "call far"}, {{0xea, 1, 2, 3, 4, 5, 6}, "jmp far"},
      {{0xd4, 0x0a}, "aam"}, {{0xd5, 0x0a}, "aad"}, {{0x60}, "pusha"}, {{0x61}, "popa"},
      {{0x27}, "daa"}, {{0x2f}, "das"}, {{0x37}, "aaa"}, {{0x3f}, "aas"},
      {{0x82, 0xc0, 1}, "82 /0 (alias of 80)"}, {{0xd6}, "salc"}, {{0xce}, "into"},
      // (C4/C5 LES/LDS and 62 BOUND are VEX/EVEX prefixes on this host: not generated.)
  };
  int k = static_cast<int>(g.Below(10));
  bool paging = g.mode() != Mode::k16;
  if (k < 5) {
    const Seq& s = g.Pick(kPrivileged);
    g.EmitBytes(s.bytes, s.name);
    return;
  }
  if (k < 6 && g.mode() == Mode::k64) {
    const Seq& s = g.Pick(kInvalid64);
    g.EmitBytes(s.bytes, s.name);
    return;
  }
  if (k < 9 && paging) {
    // A store, load or read-modify-write across the end of the mapped page: #PF, and the
    // bytes below the boundary must stay unwritten.
    std::vector<uint8_t> edge(kEdgeSize);
    for (auto& b : edge) b = static_cast<uint8_t>(g.Rand());
    g.c().req.mem.push_back({kEdgeEnd - kEdgeSize, edge});
    int size = g.OpSize(false);
    Insn in;
    g.SizePrefix(&in, size);
    static const uint8_t kOps[] = {0x89, 0x8b, 0x01, 0x87, 0x0f};
    uint8_t op = g.Pick(kOps);
    in.opcode = op == 0x0f ? std::vector<uint8_t>{0x0f, 0xc1} : std::vector<uint8_t>{op};
    in.modrm = true;
    in.reg = g.PickReg();
    uint64_t t = kEdgeEnd - 1 - g.Below(size / 8 - 1) + (g.Chance(20) ? 0x100 : 0);
    g.MemTo(&in, t, g.mode() == Mode::k64 && g.Chance(20));
    g.Emit(in, "access across an unmapped page");
    return;
  }
  if (g.mode() == Mode::k64) {
    // A non-canonical address: #GP(0), or #SS(0) when the access goes through SS (an RSP
    // or RBP base without a segment override, or the stack of PUSH/POP/CALL/RET/...).
    uint64_t addr = (g.Chance(50) ? 0x8000000000000000ull : 0x0000800000000000ull) + (g.Rand() & 0xffff);
    if (g.Chance(30)) {
      static const Seq kStackOps[] = {
          {{0x50}, "push rax"}, {{0x5b}, "pop rbx"}, {{0x9c}, "pushf"}, {{0x9d}, "popf"},
          {{0xe8, 0, 0, 0, 0}, "call"}, {{0xc3}, "ret"}, {{0xc2, 8, 0}, "ret imm"},
          {{0xc8, 16, 0, 0}, "enter"}, {{0xc8, 0, 0, 3}, "enter level 3"}, {{0xc9}, "leave"},
          {{0xff, 0x34, 0x24}, "push [rsp]"}, {{0x8f, 0x00}, "pop [rax]"},
          {{0x6a, 1}, "push imm8"}, {{0x0f, 0xa0}, "push fs"},
      };
      const Seq& s = g.Pick(kStackOps);
      bool rbp = s.bytes[0] == 0xc9 || (s.bytes[0] == 0xc8 && g.Chance(50));  // LEAVE, ENTER's copies
      g.SetReg(rbp ? BP : SP, addr);
      g.c().sp_operand = true;
      g.EmitBytes(s.bytes, std::string(s.name) + " with a non-canonical " + (rbp ? "rbp" : "rsp"));
      return;
    }
    Insn in;
    in.rex_w = true;
    in.opcode = {B(g.Chance(50) ? 0x8b : 0x89)};
    in.modrm = true;
    in.reg = g.PickReg();
    int base = g.PickFreeReg();
    if (g.Chance(30)) base = g.Chance(50) ? SP : BP;
    in.rm_mem = true;
    if (base == SP) {
      in.mem.rm = 4;
      in.mem.has_sib = true;
      in.mem.sib = 0x24;
    } else if (base == BP) {
      in.mem.mod = 1;  // [rbp+0]
      in.mem.rm = 5;
      in.mem.disp_size = 1;
    } else {
      in.mem.rm = static_cast<uint8_t>(base & 7);
      in.mem.rex_b = base >= 8;
      if ((base & 7) == BP || (base & 7) == SP) {  // r12/r13 need a SIB byte / disp8
        in.mem.rm = 4;
        in.mem.has_sib = true;
        in.mem.sib = static_cast<uint8_t>(0x20 | (base & 7));
        if ((base & 7) == BP) in.mem.mod = 1, in.mem.disp_size = 1;
      }
    }
    // A segment override: DS on an RSP/RBP base makes it #GP; SS elsewhere makes it #SS.
    if (g.Chance(25)) in.prefixes.push_back(g.Chance(50) ? 0x3e : 0x36);
    if (base == SP) g.c().sp_operand = true;
    g.SetReg(base, addr);
    g.Emit(in, "non-canonical access");
    return;
  }
  // INT3 / INTO with OF set or clear.
  g.EmitBytes({B(g.Chance(50) ? 0xce : 0xcc)}, "into/int3");
}

void GenBound(Gen& g) {
  // BOUND Gv, Ma (16/32-bit modes): #BR when the signed index is outside [lo, hi].
  int size = g.OpSize(false);
  Insn in;
  g.SizePrefix(&in, size);
  in.opcode = {0x62};
  in.modrm = true;
  in.reg = g.PickFreeReg();
  g.Reserve(in.reg);
  bool ao = g.Chance(20);
  uint64_t t = g.Target(ao);
  g.MemTo(&in, t, ao);
  int n = size / 8;
  int64_t lo = static_cast<int64_t>(g.Below(200)) - 100, hi = lo + static_cast<int64_t>(g.Below(100)) - 10;
  int64_t idx = lo + static_cast<int64_t>(g.Below(140)) - 20;
  g.Poke(t, static_cast<uint64_t>(lo), n);
  g.Poke(t + n, static_cast<uint64_t>(hi), n);
  uint64_t mask = size == 32 ? 0xffffffffull : 0xffff;
  g.SetReg(in.reg, (g.Reg(in.reg) & ~mask) | (static_cast<uint64_t>(idx) & mask));
  g.Emit(in, "bound" + std::to_string(size));
}

void GenSequence(Gen& g) {
  // A producer, then register-only steps whose undefined flags do not depend on values,
  // each rolled back and retried if it would read a flag left undefined before it.
  switch (g.Below(4)) {
    case 0: GenAlu(g); break;
    case 1: GenShift(g); break;
    case 2: GenMul(g); break;
    default: GenIncDec(g); break;
  }
  int steps = 1 + static_cast<int>(g.Below(3));
  g.set_no_memory(true);
  for (int i = 0; i < steps; i++) {
    Case saved = g.c();
    uint64_t undef = g.c().flags_undefined;
    switch (g.Below(5)) {
      case 0: GenAlu(g); break;
      case 1: GenIncDec(g); break;
      case 2: GenMul(g); break;
      case 3: GenConvert(g); break;
      default: AppendConsumer(g); break;
    }
    const std::string& note = g.c().notes.empty() ? std::string() : g.c().notes.back();
    bool reads_cf = note.rfind("adc", 0) == 0 || note.rfind("sbb", 0) == 0;
    if (reads_cf && (undef & CF)) g.c() = saved;
  }
  g.set_no_memory(false);
}

const std::vector<Family>& Families() {
  static const std::vector<Family> k = {
      {"Alu", GenAlu, kAllModes, 5000, true},
      {"IncDecNegNot", GenIncDec, kAllModes, 2000, true},
      {"Mov", GenMov, kAllModes, 1200, false},
      {"MovExt", GenMovExt, kAllModes, 1200, true},
      {"Lea", GenLea, kAllModes, 2000, false},
      {"Xchg", GenXchg, kAllModes, 1000, false},
      {"Cmpxchg", GenCmpxchg, kAllModes, 2000, true},
      {"Convert", GenConvert, kAllModes, 400, false},
      {"Shift", GenShift, kAllModes, 5000, true},
      {"ShiftDouble", GenShiftDouble, kAllModes, 2500, true},
      {"Mul", GenMul, kAllModes, 2500, true},
      {"Div", GenDiv, kAllModes, 2500, false},
      {"Bcd", GenBcd, kAllModes, 1500, true},
      {"BitTest", GenBitTest, kAllModes, 2500, true},
      {"BitScan", GenBitScan, kAllModes, 2500, true},
      {"Cond", GenCond, kAllModes, 4000, false},
      {"Control", GenControl, kAllModes, 1200, false},
      {"Loop", GenLoop, kAllModes, 1000, false},
      {"String", GenString, kAllModes, 3500, true},
      {"Stack", GenStack, kAllModes, 2500, false},
      {"EnterLeave", GenEnterLeave, kAllModes, 1500, false},
      {"FlagOps", GenFlagOps, kAllModes, 600, true},
      {"Movbe", GenMovbe, kAllModes, 600, false},
      {"Faults", GenFaults, kAllModes, 1500, false},
      {"Bound", GenBound, k16 | k32, 400, false},
      {"Sequence", GenSequence, kAllModes, 3500, true},
      {"Nop", GenNop, kAllModes, 600, true},
      {"LongInsn", GenLongInsn, kAllModes, 300, false},
      {"LockRules", GenLockRules, kAllModes, 1200, false},
      {"NearBranch66", GenNearBranch66, k16 | k32, 400, false},
      {"Seg", GenSeg, kAllModes, 1200, false},
      {"FsGs", GenFsGs, k64, 1200, true},
      {"SegLimit16", GenSegLimit16, k16, 1500, false},
  };
  return k;
}

const Family* FindFamily(const std::string& name) {
  for (const Family& f : Families()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

Case Generate(const Family& f, Gen& g) {
  g.Begin(f.name);
  f.gen(g);
  if (f.consumer && g.Chance(40)) AppendConsumer(g);
  return g.Take();
}

}  // namespace emu::x86::difftest
