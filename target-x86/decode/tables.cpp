// Builds the opcode-form arrays from the .def tables and indexes them by opcode byte.
#include "target-x86/decode/tables.h"

#include <array>
#include <iterator>
#include <vector>

namespace emu::x86::decode {

const OperandSpec kOperandSpecs[] = {
#define O(name, loc, cls, rs, ms, n) {Loc::loc, Cls::cls, Sz::rs, Sz::ms, n},
#include "target-x86/decode/operands.def"
#undef O
};

namespace {

// Names used by the .def lines.
constexpr uint16_t Z = 0;
constexpr uint16_t MEM = MakeSel(kSelModMem, 8, 8);
constexpr uint16_t REG = MakeSel(kSelModReg, 8, 8);
constexpr uint16_t R0 = MakeSel(kSelModAny, 0, 8), R1 = MakeSel(kSelModAny, 1, 8),
                   R2 = MakeSel(kSelModAny, 2, 8), R3 = MakeSel(kSelModAny, 3, 8),
                   R4 = MakeSel(kSelModAny, 4, 8), R5 = MakeSel(kSelModAny, 5, 8),
                   R6 = MakeSel(kSelModAny, 6, 8), R7 = MakeSel(kSelModAny, 7, 8);
constexpr uint16_t M0 = MakeSel(kSelModMem, 0, 8), M1 = MakeSel(kSelModMem, 1, 8),
                   M2 = MakeSel(kSelModMem, 2, 8), M3 = MakeSel(kSelModMem, 3, 8),
                   M4 = MakeSel(kSelModMem, 4, 8), M5 = MakeSel(kSelModMem, 5, 8),
                   M6 = MakeSel(kSelModMem, 6, 8), M7 = MakeSel(kSelModMem, 7, 8);
constexpr uint16_t X0 = MakeSel(kSelModReg, 0, 8), X1 = MakeSel(kSelModReg, 1, 8),
                   X2 = MakeSel(kSelModReg, 2, 8), X3 = MakeSel(kSelModReg, 3, 8),
                   X4 = MakeSel(kSelModReg, 4, 8), X5 = MakeSel(kSelModReg, 5, 8),
                   X6 = MakeSel(kSelModReg, 6, 8), X7 = MakeSel(kSelModReg, 7, 8);
constexpr uint16_t XR(unsigned reg, unsigned rm) { return MakeSel(kSelModReg, reg, rm); }

#define I(op, sel, pfx, mn, a, b, c, attrs) \
  {op, sel, Pfx::pfx, Mnemonic::mn, {Opd::a, Opd::b, Opd::c, Opd::NO}, static_cast<uint16_t>(attrs)},
#define I4(op, sel, pfx, mn, a, b, c, d, attrs) \
  {op, sel, Pfx::pfx, Mnemonic::mn, {Opd::a, Opd::b, Opd::c, Opd::d}, static_cast<uint16_t>(attrs)},

constexpr Form kPrimary[] = {
#include "target-x86/decode/map_primary.def"
#include "target-x86/decode/map_x87.def"
};
constexpr Form k0F[] = {
#include "target-x86/decode/map_0f.def"
};
constexpr Form k0F38[] = {
#include "target-x86/decode/map_0f38.def"
};
constexpr Form k0F3A[] = {
#include "target-x86/decode/map_0f3a.def"
};
#undef I
#undef I4

// Holds the index storage of one map; built once, never freed (lives for the process).
struct BuiltMap {
  MapTable table;
  std::vector<uint16_t> refs;
};

void Build(BuiltMap* out, const Form* forms, unsigned n) {
  std::array<std::vector<uint16_t>, 256> per_op;
  for (unsigned i = 0; i < n; i++) {
    const Form& f = forms[i];
    unsigned span = (f.attrs & PLUSR) ? 8 : 1;
    for (unsigned k = 0; k < span; k++) per_op[f.opcode + k].push_back(static_cast<uint16_t>(i));
  }
  size_t total = 0;
  for (auto& v : per_op) total += v.size();
  out->refs.reserve(total);
  std::array<size_t, 256> start{};
  for (unsigned op = 0; op < 256; op++) {
    start[op] = out->refs.size();
    out->refs.insert(out->refs.end(), per_op[op].begin(), per_op[op].end());
  }
  out->table.forms = forms;
  out->table.num_forms = n;
  for (unsigned op = 0; op < 256; op++) {
    OpcodeEntry& e = out->table.entries[op];
    e.forms = out->refs.data() + start[op];
    e.count = static_cast<uint8_t>(per_op[op].size());
    e.has_modrm = false;
    for (uint16_t idx : per_op[op]) e.has_modrm |= FormNeedsModrm(forms[idx]);
  }
}

const MapTable& BuildOnce(BuiltMap*& slot, const Form* forms, unsigned n) {
  if (!slot) {
    auto* b = new BuiltMap;
    Build(b, forms, n);
    slot = b;
  }
  return slot->table;
}

struct AllMaps {
  BuiltMap* maps[4] = {};
  AllMaps() {
    BuildOnce(maps[0], kPrimary, std::size(kPrimary));
    BuildOnce(maps[1], k0F, std::size(k0F));
    BuildOnce(maps[2], k0F38, std::size(k0F38));
    BuildOnce(maps[3], k0F3A, std::size(k0F3A));
  }
};

}  // namespace

bool FormNeedsModrm(const Form& f) {
  if (f.sel & kSelHasModrm) return true;
  for (Opd o : f.ops) {
    switch (kOperandSpecs[static_cast<unsigned>(o)].loc) {
      case Loc::Rm: case Loc::Reg: case Loc::RmReg: case Loc::RmAlwaysReg: case Loc::Mem:
        return true;
      default:
        break;
    }
  }
  return false;
}

const MapTable& GetMap(OpcodeMap map) {
  static const AllMaps all;  // thread-safe one-time construction
  return all.maps[static_cast<unsigned>(map) & 3]->table;
}

}  // namespace emu::x86::decode

namespace emu::x86 {

const char* MnemonicName(Mnemonic m) {
  static constexpr const char* kNames[] = {
#define M(name) #name,
#include "target-x86/decode/mnemonics.def"
#undef M
  };
  auto i = static_cast<unsigned>(m);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

}  // namespace emu::x86
