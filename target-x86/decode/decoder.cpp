// Table-driven x86 decoder: prefixes, opcode map escape, form lookup by ModRM and
// mandatory prefix, then ModRM/SIB/displacement and immediates as the chosen form's
// operand specifiers (operands.def) say. No allocation; reads at most 15 bytes.
#include <cstring>

#include "target-x86/cpu_state.h"
#include "target-x86/decode/decoded_inst.h"
#include "target-x86/decode/tables.h"

namespace emu::x86 {
namespace {

using decode::Cls;
using decode::Form;
using decode::Loc;
using decode::OperandSpec;
using decode::Pfx;
using decode::Sz;

constexpr unsigned kMaxLength = 15;

// Byte reader over the instruction window, tracking why reading stopped.
struct Reader {
  const uint8_t* bytes;
  size_t limit;  // min(avail, 15)
  size_t avail;
  unsigned pos = 0;
  DecodeStatus fail = DecodeStatus::kOk;

  bool Need(unsigned n) {
    if (pos + n <= limit) return true;
    fail = (pos + n > kMaxLength) ? DecodeStatus::kGeneralProtection : DecodeStatus::kNeedMoreBytes;
    return false;
  }
  uint64_t ReadLe(unsigned n) {  // caller checked Need(n)
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= static_cast<uint64_t>(bytes[pos + i]) << (8 * i);
    pos += n;
    return v;
  }
};

int64_t SignExtend(uint64_t v, unsigned bytes) {
  if (bytes >= 8) return static_cast<int64_t>(v);
  unsigned shift = 64 - 8 * bytes;
  return static_cast<int64_t>(v << shift) >> shift;
}

struct Ctx {
  CpuMode mode;
  unsigned opsize;
  unsigned addrsize;
  uint8_t rex;
  bool has_seg;
  uint8_t seg;
  uint8_t modrm;
};

unsigned SizeOf(Sz s, const Ctx& c) {
  switch (s) {
    case Sz::S0: return 0;
    case Sz::S1: return 1;
    case Sz::S2: return 2;
    case Sz::S4: return 4;
    case Sz::S8: return 8;
    case Sz::S10: return 10;
    case Sz::S16: return 16;
    case Sz::S512: return 512;
    case Sz::SV: return c.opsize;
    case Sz::SY: return c.opsize == 8 ? 8 : 4;
    case Sz::SZ: return c.opsize == 2 ? 2 : 4;
    case Sz::SC: return c.mode == CpuMode::k64 ? 8 : 4;
    case Sz::SP: return c.opsize + 2;
    case Sz::SA: return c.opsize * 2;
    case Sz::SDESC: return c.mode == CpuMode::k64 ? 10 : 6;
    case Sz::SENV: return c.opsize == 2 ? 14 : 28;
    case Sz::SFSAVE: return c.opsize == 2 ? 94 : 108;
    case Sz::SADDR: return c.addrsize;
  }
  return 0;
}

void SetGpr(Operand* op, unsigned reg, unsigned size, bool rex) {
  op->kind = OperandKind::kReg;
  op->size = static_cast<uint16_t>(size);
  op->reg = static_cast<uint8_t>(reg);
  switch (size) {
    case 1:
      if (!rex && reg >= 4 && reg < 8) {
        op->reg_class = RegClass::kGpr8High;
        op->reg = static_cast<uint8_t>(reg - 4);
      } else {
        op->reg_class = RegClass::kGpr8;
      }
      break;
    case 2: op->reg_class = RegClass::kGpr16; break;
    case 4: op->reg_class = RegClass::kGpr32; break;
    default: op->reg_class = RegClass::kGpr64; break;
  }
}

// Segment for a memory operand whose default is `def`: an override wins (in 64-bit mode
// only FS/GS prefixes were recorded, the others being null prefixes there).
uint8_t EffSeg(const Ctx& c, uint8_t def) { return c.has_seg ? c.seg : def; }

// Parses the ModRM memory form (SIB, displacement) into `m`; consumes bytes.
bool DecodeMem(Reader& r, const Ctx& c, MemOperand* m) {
  unsigned mod = c.modrm >> 6, rm = c.modrm & 7;
  m->address_size = static_cast<uint8_t>(c.addrsize);
  if (c.addrsize == 2) {
    static constexpr int8_t kBase[8] = {RBX, RBX, RBP, RBP, RSI, RDI, RBP, RBX};
    static constexpr int8_t kIndex[8] = {RSI, RDI, RSI, RDI, -1, -1, -1, -1};
    uint8_t def = DS;
    if (mod == 0 && rm == 6) {
      if (!r.Need(2)) return false;
      m->disp = static_cast<int64_t>(r.ReadLe(2));  // 16-bit absolute offset
    } else {
      m->base = kBase[rm];
      m->index = kIndex[rm];
      if (m->base == RBP) def = SS;
      if (mod == 1) {
        if (!r.Need(1)) return false;
        m->disp = SignExtend(r.ReadLe(1), 1);
      } else if (mod == 2) {
        if (!r.Need(2)) return false;
        m->disp = SignExtend(r.ReadLe(2), 2);
      }
    }
    m->seg = EffSeg(c, def);
    return true;
  }
  unsigned rex_b = (c.rex & 1) << 3, rex_x = (c.rex & 2) << 2;
  bool disp32 = false;
  if (rm == 4) {
    if (!r.Need(1)) return false;
    uint8_t sib = static_cast<uint8_t>(r.ReadLe(1));
    unsigned idx = ((sib >> 3) & 7) | rex_x;
    if (idx != 4) m->index = static_cast<int8_t>(idx);
    m->scale = static_cast<uint8_t>(1u << (sib >> 6));
    if ((sib & 7) == 5 && mod == 0) {
      disp32 = true;
    } else {
      m->base = static_cast<int8_t>((sib & 7) | rex_b);
    }
  } else if (rm == 5 && mod == 0) {
    disp32 = true;
    m->rip_relative = c.mode == CpuMode::k64;
  } else {
    m->base = static_cast<int8_t>(rm | rex_b);
  }
  if (mod == 1) {
    if (!r.Need(1)) return false;
    m->disp = SignExtend(r.ReadLe(1), 1);
  } else if (mod == 2 || disp32) {
    if (!r.Need(4)) return false;
    m->disp = SignExtend(r.ReadLe(4), 4);
  }
  // rSP/rBP bases address the stack segment; r12/r13 do not.
  m->seg = EffSeg(c, (m->base == RSP || m->base == RBP) ? SS : DS);
  return true;
}

bool PrefixMatches(Pfx want, bool p66, uint8_t last_rep) {
  switch (want) {
    case Pfx::P_: return true;
    case Pfx::NP: return !p66 && !last_rep;
    case Pfx::NF: return !last_rep;
    case Pfx::P66: return p66 && !last_rep;
    case Pfx::PF3: return last_rep == 0xf3;
    case Pfx::PF2: return last_rep == 0xf2;
  }
  return false;
}

bool SelMatches(uint16_t sel, uint8_t modrm) {
  if (!(sel & decode::kSelHasModrm)) return true;
  unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
  unsigned modc = sel & 3, sreg = (sel >> decode::kSelRegShift) & 15,
           srm = (sel >> decode::kSelRmShift) & 15;
  if (modc == decode::kSelModMem && mod == 3) return false;
  if (modc == decode::kSelModReg && mod != 3) return false;
  if (sreg != 8 && sreg != reg) return false;
  if (srm != 8 && srm != rm) return false;
  return true;
}

bool OperandsMatchMod(const Form& f, uint8_t modrm) {
  bool is_reg = (modrm >> 6) == 3;
  for (decode::Opd o : f.ops) {
    Loc l = decode::kOperandSpecs[static_cast<unsigned>(o)].loc;
    if (l == Loc::Mem && is_reg) return false;
    if (l == Loc::RmReg && !is_reg) return false;
  }
  return true;
}

}  // namespace

DecodeStatus Decode(const uint8_t* bytes, size_t avail, CpuMode mode, DecodedInst* out) {
  Reader r{bytes, avail < kMaxLength ? avail : kMaxLength, avail};
  out->prefixes = 0;
  out->rex = 0;
  out->segment_override = 0;
  out->has_modrm = false;
  out->modrm = 0;
  out->cond = 0;
  out->num_operands = 0;
  out->length = 0;
  bool is64 = mode == CpuMode::k64;
  bool p66 = false, p67 = false;
  uint8_t last_rep = 0, rex = 0;
  Ctx c{mode, 0, 0, 0, false, 0, 0};

  auto finish_fail = [&](DecodeStatus st) {
    unsigned n = r.pos < r.limit ? r.pos : static_cast<unsigned>(r.limit);
    out->length = static_cast<uint8_t>(n);
    std::memcpy(out->bytes, bytes, n);
    return st;
  };

  // Legacy prefixes and REX. A REX only counts when the opcode follows it directly.
  for (;;) {
    if (!r.Need(1)) return finish_fail(r.fail);
    uint8_t b = bytes[r.pos];
    switch (b) {
      case 0xf0: out->prefixes |= kPrefixLock; rex = 0; r.pos++; continue;
      case 0xf2: case 0xf3: last_rep = b; rex = 0; r.pos++; continue;
      case 0x66: p66 = true; rex = 0; r.pos++; continue;
      case 0x67: p67 = true; rex = 0; r.pos++; continue;
      case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65: {
        static constexpr uint8_t kSeg[] = {ES, CS, SS, DS};
        uint8_t s = b == 0x64 ? uint8_t{FS} : b == 0x65 ? uint8_t{GS} : kSeg[(b >> 3) & 3];
        if (!is64 || s == FS || s == GS) {
          c.has_seg = true;
          c.seg = s;
        }
        rex = 0;
        r.pos++;
        continue;
      }
      default:
        break;
    }
    if (is64 && (b & 0xf0) == 0x40) {
      rex = b;
      r.pos++;
      continue;
    }
    break;
  }
  if (last_rep == 0xf3) out->prefixes |= kPrefixRep;
  if (last_rep == 0xf2) out->prefixes |= kPrefixRepne;
  if (p66) out->prefixes |= kPrefixOpSize;
  if (p67) out->prefixes |= kPrefixAddrSize;
  if (c.has_seg) {
    out->prefixes |= kPrefixSeg;
    out->segment_override = c.seg;
  }
  if (rex) out->prefixes |= kPrefixRex;
  out->rex = rex;
  c.rex = rex;

  // Opcode and map escapes.
  OpcodeMap map = OpcodeMap::kPrimary;
  uint8_t opcode = static_cast<uint8_t>(r.ReadLe(1));
  if (opcode == 0x0f) {
    if (!r.Need(1)) return finish_fail(r.fail);
    opcode = static_cast<uint8_t>(r.ReadLe(1));
    map = OpcodeMap::k0F;
    if (opcode == 0x38 || opcode == 0x3a) {
      map = opcode == 0x38 ? OpcodeMap::k0F38 : OpcodeMap::k0F3A;
      if (!r.Need(1)) return finish_fail(r.fail);
      opcode = static_cast<uint8_t>(r.ReadLe(1));
    }
  }
  out->map = map;
  out->opcode = opcode;

  const decode::MapTable& table = decode::GetMap(map);
  const decode::OpcodeEntry& entry = table.entries[opcode];
  if (entry.count == 0) return finish_fail(DecodeStatus::kUndefined);

  if (entry.has_modrm) {
    if (!r.Need(1)) return finish_fail(r.fail);
    c.modrm = bytes[r.pos++];
    out->has_modrm = true;
    out->modrm = c.modrm;
  }
  // C4/C5 (LES/LDS) and 62 (BOUND) are VEX/EVEX prefixes in 64-bit mode or when the
  // next byte looks like a register ModRM; those encodings are not implemented: #UD.
  if (map == OpcodeMap::kPrimary && (opcode == 0xc4 || opcode == 0xc5 || opcode == 0x62) &&
      (is64 || (c.modrm >> 6) == 3)) {
    return finish_fail(DecodeStatus::kUndefined);
  }

  const Form* form = nullptr;
  for (unsigned i = 0; i < entry.count; i++) {
    const Form& f = table.forms[entry.forms[i]];
    if ((f.attrs & decode::I64) && is64) continue;
    if ((f.attrs & decode::O64) && !is64) continue;
    if ((f.attrs & decode::REXB) && !(rex & 1)) continue;
    if ((f.attrs & decode::REXW) && !(rex & 8)) continue;
    if (!PrefixMatches(f.pfx, p66, last_rep)) continue;
    if (entry.has_modrm && (!SelMatches(f.sel, c.modrm) || !OperandsMatchMod(f, c.modrm))) continue;
    form = &f;
    break;
  }
  if (!form) return finish_fail(DecodeStatus::kUndefined);

  // Operand and address size.
  bool opsize_prefix = p66 && form->pfx != Pfx::P66;
  if (is64) {
    if (rex & 8) c.opsize = 8;
    else if (form->attrs & decode::F64) c.opsize = 8;
    else if (opsize_prefix) c.opsize = 2;
    else c.opsize = (form->attrs & decode::D64) ? 8 : 4;
    c.addrsize = p67 ? 4 : 8;
  } else {
    bool big = mode == CpuMode::k32;
    c.opsize = (big != opsize_prefix) ? 4 : 2;
    big = mode == CpuMode::k32;
    c.addrsize = (big != p67) ? 4 : 2;
  }

  bool mod_reg = (c.modrm >> 6) == 3;
  if (out->prefixes & kPrefixLock) {
    const OperandSpec& first = decode::kOperandSpecs[static_cast<unsigned>(form->ops[0])];
    bool mem_dest = (first.loc == Loc::Rm || first.loc == Loc::Mem) && !mod_reg;
    if (!(form->attrs & decode::LOCK) || !mem_dest) return finish_fail(DecodeStatus::kUndefined);
  }

  // The memory form's SIB and displacement come right after ModRM.
  MemOperand modrm_mem;
  bool rm_always_reg = false;
  for (decode::Opd o : form->ops) {
    rm_always_reg |= decode::kOperandSpecs[static_cast<unsigned>(o)].loc == Loc::RmAlwaysReg;
  }
  if (entry.has_modrm && !mod_reg && !rm_always_reg) {
    if (!DecodeMem(r, c, &modrm_mem)) return finish_fail(r.fail);
  }

  unsigned reg_field = (c.modrm >> 3) & 7, rm_field = c.modrm & 7;
  unsigned rex_r = (rex & 4) << 1, rex_b = (rex & 1) << 3;
  // operand_size: 1 for byte forms, the z size (16/32) for forms whose only sized operands
  // are z-sized (IN/OUT/INS/OUTS eAX: REX.W does not make them 64-bit), else the attribute.
  bool byte_op = false, sized_op = false, v_op = false;
  unsigned n = 0;
  for (decode::Opd o : form->ops) {
    if (o == decode::Opd::NO) continue;
    const OperandSpec& s = decode::kOperandSpecs[static_cast<unsigned>(o)];
    Operand& op = out->ops[n++];
    op = Operand{};
    unsigned rsize = SizeOf(s.reg_size, c), msize = SizeOf(s.mem_size, c);
    bool size_dep = s.reg_size == Sz::SV || s.reg_size == Sz::SZ || s.reg_size == Sz::SY;
    if (s.cls == Cls::Gpr || s.loc == Loc::StrSrc || s.loc == Loc::StrDst || s.loc == Loc::Moffs) {
      if (s.reg_size == Sz::S1) byte_op = true;
      if (size_dep) sized_op = true;
      if (s.reg_size == Sz::SV || s.reg_size == Sz::SY) v_op = true;
    }
    Loc loc = s.loc;
    unsigned regnum = 0;
    switch (loc) {
      case Loc::Rm: case Loc::Mem:
        if (!mod_reg) {
          op.kind = OperandKind::kMem;
          op.mem = modrm_mem;
          op.size = static_cast<uint16_t>(msize);
          continue;
        }
        [[fallthrough]];
      case Loc::RmReg: case Loc::RmAlwaysReg:
        regnum = rm_field | rex_b;
        break;
      case Loc::Reg:
        regnum = reg_field | rex_r;
        break;
      case Loc::OpReg:
        regnum = (opcode & 7) | rex_b;
        break;
      case Loc::Fixed:
        regnum = s.fixed;
        break;
      case Loc::Imm: case Loc::ImmS: {
        unsigned enc = rsize;
        if (!r.Need(enc)) return finish_fail(r.fail);
        uint64_t v = r.ReadLe(enc);
        op.kind = OperandKind::kImm;
        if (loc == Loc::ImmS) {
          op.imm = SignExtend(v, enc);
          op.size = static_cast<uint16_t>(c.opsize);
        } else {
          op.imm = static_cast<int64_t>(v);
          op.size = static_cast<uint16_t>(enc);
        }
        continue;
      }
      case Loc::Rel: {
        if (!r.Need(rsize)) return finish_fail(r.fail);
        op.kind = OperandKind::kRel;
        op.imm = SignExtend(r.ReadLe(rsize), rsize);
        op.size = static_cast<uint16_t>(c.opsize);
        continue;
      }
      case Loc::FarPtr: {
        unsigned off = c.opsize;
        if (!r.Need(off + 2)) return finish_fail(r.fail);
        op.kind = OperandKind::kFarPtr;
        op.imm = static_cast<int64_t>(r.ReadLe(off));
        op.selector = static_cast<uint16_t>(r.ReadLe(2));
        op.size = static_cast<uint16_t>(off + 2);
        continue;
      }
      case Loc::Moffs: {
        if (!r.Need(c.addrsize)) return finish_fail(r.fail);
        op.kind = OperandKind::kMem;
        op.mem.address_size = static_cast<uint8_t>(c.addrsize);
        op.mem.disp = static_cast<int64_t>(r.ReadLe(c.addrsize));
        op.mem.seg = EffSeg(c, DS);
        op.size = static_cast<uint16_t>(msize);
        continue;
      }
      case Loc::One:
        op.kind = OperandKind::kImm;
        op.imm = 1;
        op.size = 1;
        continue;
      case Loc::StrSrc: case Loc::StrDst: case Loc::Xlat:
        op.kind = OperandKind::kMem;
        op.mem.address_size = static_cast<uint8_t>(c.addrsize);
        op.mem.base = static_cast<int8_t>(loc == Loc::StrSrc ? int{RSI} : loc == Loc::StrDst ? int{RDI} : int{RBX});
        op.mem.seg = loc == Loc::StrDst ? static_cast<uint8_t>(ES) : EffSeg(c, DS);
        op.size = static_cast<uint16_t>(msize);
        continue;
      case Loc::None:
        continue;
    }
    // A register operand.
    op.kind = OperandKind::kReg;
    op.size = static_cast<uint16_t>(rsize);
    switch (s.cls) {
      case Cls::Gpr:
        SetGpr(&op, regnum, rsize, rex != 0);
        break;
      case Cls::Seg:
        if (loc == Loc::Reg) regnum &= 7;  // REX.R does not extend segment registers
        if (regnum > GS) return finish_fail(DecodeStatus::kUndefined);
        // MOV CS, r/m is invalid (loading CS takes a far transfer).
        if (form->mnemonic == Mnemonic::MOV && &op == &out->ops[0] && regnum == CS) {
          return finish_fail(DecodeStatus::kUndefined);
        }
        op.reg_class = RegClass::kSeg;
        op.reg = static_cast<uint8_t>(regnum);
        break;
      case Cls::Cr:
        if (!(regnum == 0 || regnum == 2 || regnum == 3 || regnum == 4 || regnum == 8)) {
          return finish_fail(DecodeStatus::kUndefined);
        }
        op.reg_class = RegClass::kCr;
        op.reg = static_cast<uint8_t>(regnum);
        break;
      case Cls::Dr:
        if (regnum > 7) return finish_fail(DecodeStatus::kUndefined);
        op.reg_class = RegClass::kDr;
        op.reg = static_cast<uint8_t>(regnum);
        break;
      case Cls::St:
        op.reg_class = RegClass::kSt;
        op.reg = static_cast<uint8_t>(regnum & 7);
        break;
      case Cls::Mmx:
        op.reg_class = RegClass::kMmx;
        op.reg = static_cast<uint8_t>(regnum & 7);
        break;
      case Cls::Xmm:
        op.reg_class = RegClass::kXmm;
        op.reg = static_cast<uint8_t>(regnum);
        break;
      case Cls::None:
        break;
    }
  }
  out->num_operands = static_cast<uint8_t>(n);
  for (unsigned i = n; i < 4; i++) out->ops[i] = Operand{};
  if (form->attrs & decode::COND) out->cond = opcode & 15;

  out->mnemonic = form->mnemonic;
  unsigned opsize_out = c.opsize;
  if (byte_op && !sized_op) opsize_out = 1;
  else if (sized_op && !v_op) opsize_out = c.opsize == 2 ? 2 : 4;
  out->operand_size = static_cast<uint8_t>(opsize_out);
  out->address_size = static_cast<uint8_t>(c.addrsize);
  out->length = static_cast<uint8_t>(r.pos);
  std::memcpy(out->bytes, bytes, r.pos);
  return DecodeStatus::kOk;
}

}  // namespace emu::x86
