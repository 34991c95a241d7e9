// Constant folding and propagation, algebraic identities, and forwarding of env
// stores/loads to later loads of the same slot. Temps may be written more than
// once (Builder::MovTo), so a value is only reused when its temp is written once.
#include <algorithm>
#include <bit>
#include <map>
#include <vector>

#include "accel/tcg/ir/eval.h"
#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {

namespace {

struct Folder {
  Block& b;
  std::vector<uint32_t> writes;   // number of definitions per temp
  std::vector<uint8_t> known;     // value currently known constant
  std::vector<uint64_t> val;
  std::map<uint64_t, uint32_t> const_temp;  // value -> const temp
  std::vector<uint8_t> width;     // upper bound of significant bits (single-def temps)

  explicit Folder(Block& blk) : b(blk) {
    writes.assign(b.num_temps, 0);
    for (const Op& o : b.ops)
      if (Info(o.opc).nout && o.dst != kNoTemp) writes[o.dst]++;
    known.assign(b.num_temps, 0);
    val.assign(b.num_temps, 0);
    width.assign(b.num_temps, 64);  // before the constants below
    for (uint32_t t = 0; t < b.num_temps; t++)
      if (b.is_const[t]) {
        known[t] = 1;
        val[t] = b.const_val[t];
        width[t] = static_cast<uint8_t>(64 - std::countl_zero(b.const_val[t]));
        const_temp.emplace(b.const_val[t], t);
      }
  }

  uint32_t ConstTemp(uint64_t v) {
    auto it = const_temp.find(v);
    if (it != const_temp.end()) return it->second;
    uint32_t t = b.num_temps++;
    b.is_const.push_back(1);
    b.const_val.push_back(v);
    writes.push_back(0);
    known.push_back(1);
    val.push_back(v);
    width.push_back(static_cast<uint8_t>(64 - std::countl_zero(v)));
    const_temp.emplace(v, t);
    return t;
  }

  void MakeMov(Op& o, uint32_t src) {
    o.opc = Opcode::k_mov;
    o.a = src;
    o.b = o.c = kNoTemp;
    o.aux = 0;
    o.imm = 0;
  }
  void MakeConst(Op& o, uint64_t v) { MakeMov(o, ConstTemp(v & Mask(o.type))); }

  // A temp whose value is the same wherever it is read (constant or written once).
  bool Stable(uint32_t t) const {
    return t != kNoTemp && t < writes.size() && (b.is_const[t] || writes[t] == 1);
  }
  bool SameValue(uint32_t x, uint32_t y) const {
    if (x == y) return Stable(x);
    return x != kNoTemp && y != kNoTemp && b.is_const[x] && b.is_const[y] &&
           b.const_val[x] == b.const_val[y];
  }

  // How many low bits of input `i` op `o` looks at (64: all of it).
  static unsigned ReadBits(const Op& o, unsigned i) {
    switch (o.opc) {
      case Opcode::k_ld_mem: case Opcode::k_call: case Opcode::k_ld_env:
        return 64;
      case Opcode::k_st_mem: return i == 1 ? Bits(o.type) : 64;
      case Opcode::k_select: return i == 0 ? 64 : Bits(o.type);
      case Opcode::k_zext: case Opcode::k_sext:
        return std::min(Bits(o.type), Bits(static_cast<Type>(o.aux)));
      default: return Bits(o.type);  // value ops and st_env read at their width
    }
  }

  // Identities that look at how an operand was computed (its single definition):
  //   add.t(sub.t(x, y), y) and sub.t(add.t(x, y), y) are x (the first operand
  //     a flags reader rebuilds from cc_dst and cc_src after cmp);
  //   setcond.t eq/ne (sub.t(x, y)), 0 compares x with y;
  //   mov.N(op.M(x, y)) with M > N is op.N(x, y) for ops whose low N bits only
  //     depend on the operands' low N bits (a 32-bit LEA of 64-bit registers).
  void LookThrough(Op& o, const std::vector<int32_t>& def_of) {
    auto def = [&](uint32_t t) -> const Op* {
      if (t == kNoTemp || t >= def_of.size() || def_of[t] < 0) return nullptr;
      return &b.ops[static_cast<size_t>(def_of[t])];
    };
    if (o.opc == Opcode::k_add || o.opc == Opcode::k_sub) {
      const Opcode inverse = o.opc == Opcode::k_add ? Opcode::k_sub : Opcode::k_add;
      for (int side = 0; side < (o.opc == Opcode::k_add ? 2 : 1); side++) {
        uint32_t inner = side ? o.b : o.a, other = side ? o.a : o.b;
        const Op* d = def(inner);
        if (d && d->opc == inverse && d->type == o.type && Stable(d->a) && SameValue(d->b, other)) {
          MakeMov(o, d->a);
          return;
        }
      }
    }
    if (o.opc == Opcode::k_setcond &&
        (static_cast<Cond>(o.aux) == Cond::kEq || static_cast<Cond>(o.aux) == Cond::kNe) &&
        o.b != kNoTemp && known[o.b] && (val[o.b] & Mask(o.type)) == 0) {
      const Op* d = def(o.a);
      if (d && d->opc == Opcode::k_sub && d->type == o.type && Stable(d->a) && Stable(d->b)) {
        o.a = d->a;
        o.b = d->b;
        return;
      }
    }
    if (o.opc == Opcode::k_mov && o.type != Type::kI64) {
      const Op* d = def(o.a);
      if (!d || Bits(d->type) <= Bits(o.type)) return;
      bool ok = false;
      switch (d->opc) {
        case Opcode::k_add: case Opcode::k_sub: case Opcode::k_mul: case Opcode::k_and:
        case Opcode::k_or: case Opcode::k_xor:
          ok = Stable(d->a) && Stable(d->b);
          break;
        case Opcode::k_not: case Opcode::k_neg:
          ok = Stable(d->a);
          break;
        case Opcode::k_shl:  // a count below N shifts the same low bits in
          ok = Stable(d->a) && d->b != kNoTemp && known[d->b] && val[d->b] < Bits(o.type);
          break;
        default: break;
      }
      if (!ok) return;
      const Type t = o.type;
      const uint32_t dst = o.dst;
      o = *d;
      o.type = t;
      o.dst = dst;
    }
  }

  // Identities with one constant operand. Returns true when `o` was rewritten.
  bool Simplify(Op& o) {
    const uint64_t m = Mask(o.type);
    auto is = [&](uint32_t t, uint64_t v) { return t != kNoTemp && known[t] && (val[t] & m) == v; };
    switch (o.opc) {
      case Opcode::k_add: case Opcode::k_or: case Opcode::k_xor:
        if (is(o.b, 0)) { MakeMov(o, o.a); return true; }
        if (is(o.a, 0)) { MakeMov(o, o.b); return true; }
        if (o.opc == Opcode::k_xor && o.a == o.b && writes[o.a] <= 1) { MakeConst(o, 0); return true; }
        return false;
      case Opcode::k_sub:
        if (is(o.b, 0)) { MakeMov(o, o.a); return true; }
        if (o.a == o.b && writes[o.a] <= 1) { MakeConst(o, 0); return true; }
        return false;
      case Opcode::k_shl: case Opcode::k_shr: case Opcode::k_sar: case Opcode::k_rotl:
      case Opcode::k_rotr:
        if (o.b != kNoTemp && known[o.b] && (val[o.b] & (Bits(o.type) - 1)) == 0) {
          MakeMov(o, o.a);
          return true;
        }
        return false;
      case Opcode::k_and:
        if (is(o.b, 0) || is(o.a, 0)) { MakeConst(o, 0); return true; }
        if (is(o.b, m)) { MakeMov(o, o.a); return true; }
        if (is(o.a, m)) { MakeMov(o, o.b); return true; }
        return false;
      case Opcode::k_mul:
        if (is(o.b, 0) || is(o.a, 0)) { MakeConst(o, 0); return true; }
        if (is(o.b, 1)) { MakeMov(o, o.a); return true; }
        if (is(o.a, 1)) { MakeMov(o, o.b); return true; }
        return false;
      case Opcode::k_select:
        if (known[o.a]) { MakeMov(o, val[o.a] ? o.b : o.c); return true; }
        if (o.b == o.c) { MakeMov(o, o.b); return true; }
        return false;
      default:
        return false;
    }
  }

  void Run() {
    // env slot -> temp holding its current value (single-definition temps only).
    struct Slot { uint32_t temp; Type type; };
    std::map<uint64_t, Slot> env;
    auto kill_overlap = [&](uint64_t off, Type t) {
      uint64_t end = off + Bytes(t);
      for (auto it = env.lower_bound(off >= 8 ? off - 7 : 0); it != env.end() && it->first < end;) {
        if (it->first + Bytes(it->second.type) > off) it = env.erase(it);
        else ++it;
      }
    };
    // Copy propagation: a single-definition temp defined by a full-width mov of a
    // single-definition temp is replaced by its source everywhere after.
    std::vector<uint32_t> alias(b.num_temps, kNoTemp);
    // Single-definition temps defined by setcond: its op (condition and inputs).
    std::vector<int32_t> setcond_def(b.num_temps, -1);
    // The op defining each single-definition temp (index), for the identities
    // that look through an operand's definition.
    std::vector<int32_t> def_of(b.num_temps, -1);
    // Truncations: a single-definition temp defined by mov.N/zext.N of another
    // stable temp is that temp for readers of at most N bits.
    std::vector<uint32_t> trunc_src(b.num_temps, kNoTemp);
    std::vector<uint8_t> trunc_bits(b.num_temps, 0);
    for (size_t oi = 0; oi < b.ops.size(); oi++) {
      Op& o = b.ops[oi];
      const OpInfo& in = Info(o.opc);
      // Propagate copies and constants into inputs.
      uint32_t* args[3] = {&o.a, &o.b, &o.c};
      for (unsigned i = 0; i < in.nin; i++) {
        uint32_t t = *args[i];
        if (t != kNoTemp && t < alias.size() && alias[t] != kNoTemp) *args[i] = t = alias[t];
        if (t != kNoTemp && t < trunc_src.size() && trunc_src[t] != kNoTemp &&
            ReadBits(o, i) <= trunc_bits[t])
          *args[i] = t = trunc_src[t];
        if (t != kNoTemp && known[t] && !b.is_const[t]) *args[i] = ConstTemp(val[t]);
      }
      LookThrough(o, def_of);
      if (o.opc == Opcode::k_ld_env) {
        auto it = env.find(o.imm);
        if (it != env.end() && Bytes(it->second.type) >= Bytes(o.type) && writes[o.dst] == 1) {
          // A load of the low part of what was stored (little-endian env).
          MakeMov(o, it->second.temp);
        } else if (writes[o.dst] == 1) {
          kill_overlap(o.imm, o.type);
          env[o.imm] = Slot{o.dst, o.type};
        }
      } else if (o.opc == Opcode::k_st_env) {
        kill_overlap(o.imm, o.type);
        if (writes[o.a] <= 1) env[o.imm] = Slot{o.a, o.type};
      } else if (o.opc == Opcode::k_call) {
        env.clear();  // helpers may read and write env
      }
      const OpInfo& now = Info(o.opc);  // ld_env may have become a mov
      if ((now.flags & kPure) && o.opc != Opcode::k_ld_env) {
        const unsigned nin = now.nin;
        bool all_const = true;
        for (unsigned i = 0; i < nin; i++)
          if (*args[i] == kNoTemp || !known[*args[i]]) all_const = false;
        if (all_const) {
          uint64_t v = EvalValueOp(o.opc, o.type, o.aux, val[o.a],
                                   nin > 1 ? val[o.b] : 0, nin > 2 ? val[o.c] : 0);
          MakeConst(o, v);
        } else {
          Simplify(o);
        }
      }
      // A negated condition (Jcc/SETcc/CMOVcc with the low opcode bit set):
      // xor(setcond(c, a, b), 1) is setcond(!c, a, b) when a and b still hold
      // their values (single definitions).
      if (o.opc == Opcode::k_xor) {
        uint32_t sc = kNoTemp;
        if (o.b != kNoTemp && known[o.b] && val[o.b] == 1) sc = o.a;
        else if (o.a != kNoTemp && known[o.a] && val[o.a] == 1) sc = o.b;
        if (sc != kNoTemp && sc < setcond_def.size() && setcond_def[sc] >= 0) {
          const Op s = b.ops[static_cast<size_t>(setcond_def[sc])];
          if ((b.is_const[s.a] || writes[s.a] == 1) && (b.is_const[s.b] || writes[s.b] == 1)) {
            o.opc = Opcode::k_setcond;
            o.type = s.type;
            o.aux = static_cast<uint8_t>(Invert(static_cast<Cond>(s.aux)));
            o.a = s.a;
            o.b = s.b;
            o.c = kNoTemp;
          }
        }
      }
      if (o.opc == Opcode::k_setcond && o.dst != kNoTemp && o.dst < setcond_def.size() &&
          writes[o.dst] == 1)
        setcond_def[o.dst] = static_cast<int32_t>(oi);
      if (in.nout && o.dst != kNoTemp && o.dst < def_of.size() && writes[o.dst] == 1) {
        def_of[o.dst] = static_cast<int32_t>(oi);
        if ((o.opc == Opcode::k_mov || o.opc == Opcode::k_zext) && Stable(o.a)) {
          unsigned bits = Bits(o.type);
          if (o.opc == Opcode::k_zext) bits = std::min(bits, Bits(static_cast<Type>(o.aux)));
          trunc_src[o.dst] = o.a;
          trunc_bits[o.dst] = static_cast<uint8_t>(bits);
        }
      }
      // zext of a value that already fits the source width is a copy.
      if (o.opc == Opcode::k_zext && o.a != kNoTemp && o.a < width.size() && !b.is_const[o.a] &&
          writes[o.a] == 1 && width[o.a] <= Bits(static_cast<Type>(o.aux))) {
        o.opc = Opcode::k_mov;
        o.aux = 0;
      }
      if (o.opc == Opcode::k_mov && writes[o.dst] == 1 && o.a != kNoTemp &&
          (b.is_const[o.a] || writes[o.a] == 1) && o.dst < alias.size() &&
          (o.type == Type::kI64 || (o.a < width.size() && width[o.a] <= Bits(o.type))))
        alias[o.dst] = o.a;
      // Significant bits of the result (ops mask their result to their width).
      if (Info(o.opc).nout && o.dst != kNoTemp && o.dst < width.size() && writes[o.dst] == 1) {
        unsigned w = Bits(o.type);
        if (o.opc == Opcode::k_setcond) w = 1;
        if ((o.opc == Opcode::k_mov || o.opc == Opcode::k_zext) && o.a != kNoTemp && o.a < width.size() &&
            (b.is_const[o.a] || writes[o.a] == 1))
          w = std::min<unsigned>(w, width[o.a]);
        if (o.opc == Opcode::k_zext) w = std::min<unsigned>(w, Bits(static_cast<Type>(o.aux)));
        if (o.opc == Opcode::k_and) {
          for (uint32_t x : {o.a, o.b})
            if (x != kNoTemp && x < width.size() && (b.is_const[x] || writes[x] == 1))
              w = std::min<unsigned>(w, width[x]);
        }
        width[o.dst] = static_cast<uint8_t>(w);
      }
      if (now.nout && o.dst != kNoTemp) {
        if (o.opc == Opcode::k_mov && known[o.a]) {
          known[o.dst] = 1;
          val[o.dst] = val[o.a] & Mask(o.type);
        } else {
          known[o.dst] = 0;
        }
      }
    }
    Terminal& t = b.term;
    if (t.kind == Terminal::Kind::kBranch && t.cond < alias.size() && alias[t.cond] != kNoTemp)
      t.cond = alias[t.cond];
    if (t.kind == Terminal::Kind::kBranch && t.cond != kNoTemp && known[t.cond]) {
      int slot = val[t.cond] ? 0 : 1;
      Terminal g{Terminal::Kind::kGoto, kNoTemp, {t.targets[slot], 0}};
      g.pc_off = t.pc_off;
      g.pc_vals[0] = t.pc_vals[slot];
      t = g;
    }
  }
};

}  // namespace

void FoldConstants(Block& b) { Folder(b).Run(); }

}  // namespace emu::accel::tcg
