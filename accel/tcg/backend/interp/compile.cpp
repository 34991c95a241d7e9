// The interpreter's compiler: decides where each temp of a (passed) Block lives
// and which handler runs each op.
//
// Every operand is a byte offset from env. A temp lives in one of three places:
// - in place in env: a value loaded from an env field and used before that
//   field changes is read from the field itself (the ld_env disappears); a value
//   stored to an 8-byte env field is written there by the op that computes it
//   (the st_env disappears) when that is exact at every point the block can
//   stop or a helper can look: see KeepStoredInEnv and KeepLoadedInEnv;
// - as an immediate of the op that reads it (constants), or, where an op has
//   no immediate form, in a frame slot set once at the block's start;
// - otherwise in a frame slot (after env), reused once the temp is dead.
// Fusions: an i64 add that only forms a memory address becomes the access's
// addressing mode ([a + imm], [a + b]); a setcond (or its negation) that only
// decides the branch becomes the compare-and-branch terminal.
#include <algorithm>
#include <vector>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/backend/interp/internal.h"

namespace emu::accel::tcg {

namespace {

using namespace interp;

// Above this many ops a block gets frame slots only (the in-place checks scan
// the ops between a definition and its uses).
constexpr size_t kMaxAnalyzedOps = 4096;
constexpr uint32_t kNoLoc = 0xffffffffu;

bool IsMem(Opcode o) { return o == Opcode::k_ld_mem || o == Opcode::k_st_mem; }

Cond Mirror(Cond c) {  // a c b == b Mirror(c) a
  switch (c) {
    case Cond::kLtu: return Cond::kGtu;
    case Cond::kLeu: return Cond::kGeu;
    case Cond::kGtu: return Cond::kLtu;
    case Cond::kGeu: return Cond::kLeu;
    case Cond::kLt: return Cond::kGt;
    case Cond::kLe: return Cond::kGe;
    case Cond::kGt: return Cond::kLt;
    case Cond::kGe: return Cond::kLe;
    default: return c;
  }
}

bool Overlaps(uint32_t a, uint32_t an, uint32_t b, uint32_t bn) { return a < b + bn && b < a + an; }

class Compiler {
 public:
  Compiler(const Block& b, InterpProgram* out, uint32_t frame_off, bool in_place)
      : b_(b), out_(out), frame_off_(frame_off), n_(b.ops.size()), in_place_(in_place) {}

  // Set when keeping values in env made a pending-store list read a field an
  // earlier store of the list writes: compile again without in-place values.
  bool hazard() const { return hazard_; }

  bool Run() {
    Fuse();
    CollectUses();
    if (in_place_ && n_ <= kMaxAnalyzedOps) {
      for (size_t j = 0; j < n_; j++)
        if (b_.ops[j].opc == Opcode::k_st_env) KeepStoredInEnv(j);
      for (size_t i = 0; i < n_; i++)
        if (b_.ops[i].opc == Opcode::k_ld_env && !absorbed_[i]) KeepLoadedInEnv(i);
    }
    if (!AssignSlots()) return false;
    return Emit();
  }

 private:
  struct UseAt {
    uint32_t pos;
    uint8_t bits;  // how many low bits the reader looks at
  };
  // A memory access with its address add folded in.
  struct MemForm {
    uint8_t mode = 0;  // 0: [a], 1: [a + imm], 2: [a + b], 3: [a + (b << imm)]
    uint32_t a = kNoTemp, b = kNoTemp;
    uint64_t imm = 0;
  };
  // A value in place in env, from its definition to its last use.
  struct InEnv {
    uint32_t off;
    uint32_t from, to;
  };

  bool IsConst(uint32_t t) const { return t != kNoTemp && t < b_.num_temps && b_.is_const[t]; }
  const std::vector<EnvStore>* Pending(size_t i) const {
    const Op& o = b_.ops[i];
    return HasPendingStores(o) ? &b_.pending_stores[o.c] : nullptr;
  }

  // ---- Fusion (decided first: it moves uses) ----
  void Fuse() {
    absorbed_.assign(n_, 0);
    mem_.assign(n_, MemForm{});
    std::vector<uint32_t> uses(b_.num_temps, 0), defs(b_.num_temps, 0);
    std::vector<uint32_t> def_at(b_.num_temps, kNoTemp);
    auto use = [&](uint32_t t) {
      if (t != kNoTemp && t < b_.num_temps) uses[t]++;
    };
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      const OpInfo& in = Info(o.opc);
      if (in.nin > 0) use(o.a);
      if (in.nin > 1) use(o.b);
      if (in.nin > 2 && !HasPendingStores(o)) use(o.c);
      if (const auto* l = Pending(i))
        for (const EnvStore& s : *l) use(s.temp);
      if (in.nout && o.dst != kNoTemp) {
        defs[o.dst]++;
        def_at[o.dst] = static_cast<uint32_t>(i);
      }
    }
    if (b_.term.kind == Terminal::Kind::kBranch) use(b_.term.cond);
    auto single_def_op = [&](uint32_t t) -> const Op* {
      if (t == kNoTemp || t >= b_.num_temps || IsConst(t) || defs[t] != 1 || uses[t] != 1) return nullptr;
      return &b_.ops[def_at[t]];
    };
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      if (!IsMem(o.opc)) continue;
      MemForm& m = mem_[i];
      m.a = o.a;
      const Op* add = single_def_op(o.a);
      if (!add || add->opc != Opcode::k_add || add->type != Type::kI64) continue;
      uint32_t x = add->a, y = add->b;
      if (IsConst(x)) std::swap(x, y);
      if (IsConst(x) || defs[x] > 1 || (!IsConst(y) && defs[y] > 1)) continue;
      absorbed_[def_at[o.a]] = 1;
      m.a = x;
      if (IsConst(y)) {
        m.mode = 1;
        m.imm = b_.const_val[y];
      } else {
        m.mode = 2;
        m.b = y;
        // A scaled index: the shift folds in too when the address is its only use.
        const Op* sh = single_def_op(y);
        if (sh && sh->opc == Opcode::k_shl && sh->type == Type::kI64 && IsConst(sh->b) &&
            b_.const_val[sh->b] < 4 && !IsConst(sh->a) && defs[sh->a] <= 1) {
          absorbed_[def_at[y]] = 1;
          m.mode = 3;
          m.b = sh->a;
          m.imm = b_.const_val[sh->b];
        }
      }
    }
    if (b_.term.kind == Terminal::Kind::kBranch) {
      bool negate = false;
      const Op* c = single_def_op(b_.term.cond);
      uint32_t c_at = c ? def_at[b_.term.cond] : kNoTemp;
      uint32_t xor_at = kNoTemp;
      if (c && c->opc == Opcode::k_xor && IsConst(c->b) && b_.const_val[c->b] == 1) {
        const Op* inner = single_def_op(c->a);
        if (inner && inner->opc == Opcode::k_setcond) {
          xor_at = c_at;
          c_at = def_at[c->a];
          c = inner;
          negate = true;
        } else {
          c = nullptr;
        }
      }
      auto one_def = [&](uint32_t t) { return t == kNoTemp || t >= b_.num_temps || defs[t] <= 1; };
      if (c && c->opc == Opcode::k_setcond && one_def(c->a) && one_def(c->b)) {
        absorbed_[c_at] = 1;
        if (xor_at != kNoTemp) absorbed_[xor_at] = 1;
        br_ = true;
        br_cond_ = static_cast<Cond>(c->aux);
        if (negate) br_cond_ = Invert(br_cond_);
        br_type_ = c->type;
        br_a_ = c->a;
        br_b_ = c->b;
        if (IsConst(br_a_)) {
          std::swap(br_a_, br_b_);
          br_cond_ = Mirror(br_cond_);
        }
      }
    }
  }

  // ---- Uses, definitions, env writes ----
  void CollectUses() {
    const uint32_t nt = b_.num_temps;
    // The lists keep their storage from block to block (one per thread).
    if (uses_.size() < nt) uses_.resize(nt);
    for (uint32_t t = 0; t < nt; t++) uses_[t].clear();
    ndefs_.assign(nt, 0);
    def_.assign(nt, kNoTemp);
    last_def_.assign(nt, 0);
    auto use = [&](uint32_t t, size_t pos, unsigned bits) {
      if (t == kNoTemp || t >= nt || IsConst(t)) return;
      uses_[t].push_back(UseAt{static_cast<uint32_t>(pos), static_cast<uint8_t>(bits)});
    };
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      if (absorbed_[i]) continue;
      const unsigned w = Bits(o.type);
      switch (o.opc) {
        case Opcode::k_ld_env:
        case Opcode::k_insn_start:
          break;
        case Opcode::k_st_env: use(o.a, i, w); break;
        case Opcode::k_ld_mem:
        case Opcode::k_st_mem:
          use(mem_[i].a, i, 64);
          use(mem_[i].b, i, 64);
          if (o.opc == Opcode::k_st_mem) use(o.b, i, w);
          break;
        case Opcode::k_call:
          use(o.a, i, 64);
          use(o.b, i, 64);
          use(o.c, i, 64);
          break;
        case Opcode::k_select:
          use(o.a, i, 64);
          use(o.b, i, w);
          use(o.c, i, w);
          break;
        case Opcode::k_zext:
        case Opcode::k_sext: use(o.a, i, std::min(w, Bits(static_cast<Type>(o.aux)))); break;
        default: {
          const OpInfo& in = Info(o.opc);
          if (in.nin > 0) use(o.a, i, w);
          if (in.nin > 1) use(o.b, i, w);
          if (in.nin > 2) use(o.c, i, w);
          break;
        }
      }
      if (const auto* l = Pending(i))
        for (const EnvStore& s : *l) use(s.temp, i, Bits(s.type));
      if (Info(o.opc).nout && o.dst != kNoTemp && o.dst < nt) {
        if (ndefs_[o.dst]++ == 0) def_[o.dst] = static_cast<uint32_t>(i);
        last_def_[o.dst] = static_cast<uint32_t>(i);
      }
    }
    if (br_) {
      use(br_a_, n_, Bits(br_type_));
      use(br_b_, n_, Bits(br_type_));
    } else if (b_.term.kind == Terminal::Kind::kBranch) {
      use(b_.term.cond, n_, 64);
    }
    last_use_.assign(nt, 0);
    for (uint32_t t = 0; t < nt; t++)
      for (const UseAt& u : uses_[t]) last_use_[t] = std::max(last_use_[t], u.pos);
    loc_.assign(nt, kNoLoc);
    deleted_.assign(n_, 0);
  }

  // Does anything between positions (lo, hi) write env bytes [off, off+len)?
  // `at_hi` also checks what at `hi` itself writes before reading its operands
  // (pending stores of a slow path, helpers). `except` is a temp whose own
  // value being stored does not count (it is what the field should hold).
  bool Written(size_t lo, size_t hi, uint32_t off, uint32_t len, uint32_t except) const {
    for (size_t k = lo + 1; k < hi && k < n_; k++) {
      const Op& o = b_.ops[k];
      if (absorbed_[k]) continue;
      if (o.opc == Opcode::k_call) return true;
      if (o.opc == Opcode::k_st_env && !deleted_[k] && Overlaps(off, len, static_cast<uint32_t>(o.imm), Bytes(o.type)))
        return true;
      if (IsMem(o.opc))
        if (const auto* l = Pending(k))
          for (const EnvStore& s : *l)
            if (s.temp != except && Overlaps(off, len, s.offset, Bytes(s.type))) return true;
    }
    for (const InEnv& e : in_env_)
      if (e.from > lo && e.from < hi && Overlaps(off, len, e.off, 8)) return true;
    return false;
  }

  // st_env.i64 S, t: the op defining t writes S itself when S may hold t's value
  // from that point on (every stop or slow path in between expects it there:
  // the store was only sunk past them) and keeps it while t is used.
  void KeepStoredInEnv(size_t j) {
    const Op& st = b_.ops[j];
    const uint32_t t = st.a, s = static_cast<uint32_t>(st.imm);
    if (st.type != Type::kI64 || IsConst(t) || t >= b_.num_temps || ndefs_[t] != 1 ||
        loc_[t] != kNoLoc)
      return;
    const size_t p = def_[t];
    if (p >= j || absorbed_[p]) return;
    const Opcode po = b_.ops[p].opc;
    // (A load qualifies too: `mov eax, ecx` becomes one move from rcx's field
    // into rax's, also when the narrow value could not be read in place.)
    if (po == Opcode::k_st_env || po == Opcode::k_insn_start) return;
    // A helper that may leave the block: its result must not reach env before
    // the store would have (the block may end right after the call).
    if (po == Opcode::k_call && (b_.ops[p].aux & kHelperMayExit)) return;
    for (size_t k = p + 1; k < j; k++) {
      const Op& o = b_.ops[k];
      if (absorbed_[k]) continue;
      if (o.opc == Opcode::k_call) return;
      if ((o.opc == Opcode::k_st_env && !deleted_[k]) || o.opc == Opcode::k_ld_env)
        if (Overlaps(s, 8, static_cast<uint32_t>(o.imm), Bytes(o.type))) return;
      const bool mem = IsMem(o.opc);
      if (!mem && o.opc != Opcode::k_insn_start) continue;
      const auto* l = Pending(k);
      if (!l) {
        if (mem) return;  // a fault here must see the old value
        continue;
      }
      bool has = false;
      for (const EnvStore& e : *l) {
        if (!Overlaps(s, 8, e.offset, Bytes(e.type))) continue;
        if (e.temp != t || e.offset != s || e.type != Type::kI64) return;
        has = true;
      }
      if (!has) return;
    }
    const uint32_t to = std::max<uint32_t>(last_use_[t], static_cast<uint32_t>(j));
    if (Written(j, to + 1, s, 8, t)) return;
    for (const InEnv& e : in_env_)
      if (Overlaps(s, 8, e.off, 8) && e.from < to && p < e.to) return;
    loc_[t] = s;
    deleted_[j] = 1;
    in_env_.push_back(InEnv{s, static_cast<uint32_t>(p), to});
  }

  // t = ld_env X: uses of t read X itself while nothing writes X before the
  // last of them. A narrow load qualifies only if every reader looks at no
  // more than its width (the field's neighbours share the 8 bytes read).
  void KeepLoadedInEnv(size_t i) {
    const Op& ld = b_.ops[i];
    const uint32_t t = ld.dst, x = static_cast<uint32_t>(ld.imm);
    if (t >= b_.num_temps || ndefs_[t] != 1 || uses_[t].empty() || loc_[t] != kNoLoc) return;
    for (const UseAt& u : uses_[t])
      if (u.bits > Bits(ld.type)) return;
    const uint32_t last = last_use_[t];
    if (Written(i, last, x, Bytes(ld.type), kNoTemp)) return;
    loc_[t] = x;
    deleted_[i] = 1;
  }

  // ---- Frame slots ----
  uint32_t Slot(uint32_t s) const { return frame_off_ + 8 * s; }

  bool AssignSlots() {
    const uint32_t nt = b_.num_temps;
    const uint32_t max_slots = kInterpFrameBytes / 8 - 1;  // the last: unused tail entries
    // Constants read where an op has no immediate form: one slot each, set at
    // the start of the block.
    uint32_t next = 0;
    const_slot_.assign(nt, kNoLoc);
    std::vector<uint32_t> free;
    std::vector<std::vector<uint32_t>> dying(n_ + 1);
    std::vector<uint32_t> end(nt, kNoLoc);
    for (uint32_t t = 0; t < nt; t++) {
      if (IsConst(t) || loc_[t] != kNoLoc || ndefs_[t] == 0) continue;
      end[t] = std::max(last_use_[t], last_def_[t]);
      dying[end[t]].push_back(t);
    }
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      if (!absorbed_[i] && !deleted_[i]) NoteConsts(o, i);
    }
    if (br_ && IsConst(br_a_)) MaterializeConst(br_a_);
    if (!br_ && b_.term.kind == Terminal::Kind::kBranch) MaterializeConst(b_.term.cond);
    for (uint32_t t : materialized_) const_slot_[t] = Slot(next++);
    auto take = [&]() -> uint32_t {
      if (!free.empty()) {
        uint32_t s = free.back();
        free.pop_back();
        return s;
      }
      return next++;
    };
    auto release = [&](uint32_t t) { free.push_back((loc_[t] - frame_off_) / 8); };
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      if (absorbed_[i]) continue;
      const bool out = Info(o.opc).nout && o.dst != kNoTemp && o.dst < nt && !IsConst(o.dst);
      // Inputs dying here give their slots to this op's result (every handler
      // reads its operands before it writes).
      for (uint32_t t : dying[i])
        if (!(out && t == o.dst) && loc_[t] != kNoLoc) release(t);
      if (out && loc_[o.dst] == kNoLoc) loc_[o.dst] = Slot(take());
      if (out && end[o.dst] == i && loc_[o.dst] >= frame_off_) release(o.dst);  // unused result
      if (next > max_slots) return false;
    }
    frame_slots_ = next;
    return next <= max_slots;
  }

  void MaterializeConst(uint32_t t) {
    if (!IsConst(t) || std::find(materialized_.begin(), materialized_.end(), t) != materialized_.end()) return;
    materialized_.push_back(t);
  }
  // Constants in operand positions without an immediate form.
  void NoteConsts(const Op& o, size_t i) {
    switch (o.opc) {
      case Opcode::k_add: case Opcode::k_mul: case Opcode::k_and: case Opcode::k_or:
      case Opcode::k_xor: case Opcode::k_setcond:
        if (IsConst(o.a) && IsConst(o.b)) MaterializeConst(o.a);
        return;
      case Opcode::k_sub: case Opcode::k_shl: case Opcode::k_shr: case Opcode::k_sar:
        MaterializeConst(o.a);
        return;
      case Opcode::k_mov: case Opcode::k_zext:
      case Opcode::k_st_env: case Opcode::k_ld_env: case Opcode::k_insn_start:
        return;
      case Opcode::k_ld_mem:
      case Opcode::k_st_mem:
        MaterializeConst(mem_[i].a);
        MaterializeConst(mem_[i].b);
        if (o.opc == Opcode::k_st_mem) MaterializeConst(o.b);
        return;
      default: {
        const OpInfo& in = Info(o.opc);
        if (in.nin > 0) MaterializeConst(o.a);
        if (in.nin > 1) MaterializeConst(o.b);
        if (in.nin > 2) MaterializeConst(o.c);
        return;
      }
    }
  }

  // Where an input is read from (constants: their slot, if materialized).
  uint32_t Loc(uint32_t t) const {
    if (t == kNoTemp || t >= b_.num_temps) return 0;
    if (IsConst(t)) return const_slot_[t] == kNoLoc ? 0 : const_slot_[t];
    return loc_[t] == kNoLoc ? 0 : loc_[t];
  }

  // ---- Emission ----
  InterpOp Make(Kind k, const Op& o) {
    InterpOp io;
    io.handler = k;
    io.opc = o.opc;
    io.type = o.type;
    io.mask = Mask(o.type);
    io.aux = static_cast<uint8_t>(Bits(o.type));
    return io;
  }

  // Flattens one pending-store list; returns 1 + its index (0 when none).
  uint32_t PendingList(size_t i) {
    const auto* l = Pending(i);
    if (!l) return 0;
    auto idx1 = static_cast<uint32_t>(out_->pending.size() + 1);
    for (const EnvStore& s : *l) {
      InterpPending p{};
      p.dst = s.offset;
      p.bytes = static_cast<uint8_t>(Bytes(s.type));
      if (IsConst(s.temp)) {
        p.is_imm = 1;
        p.imm = b_.const_val[s.temp];
      } else {
        p.src = Loc(s.temp);
        if (p.src == p.dst) continue;  // computed in place
        // An earlier store of the list must not overwrite what this one reads
        // (an env field holding a value in place).
        for (size_t k = idx1 - 1; k < out_->pending.size(); k++)
          if (Overlaps(out_->pending[k].dst, out_->pending[k].bytes, p.src, p.bytes)) hazard_ = true;
      }
      out_->pending.push_back(p);
    }
    if (out_->pending.size() + 1 == idx1) return 0;
    out_->pending.back().last = 1;
    return idx1;
  }

  void EmitValue(const Op& o) {
    const uint64_t m = Mask(o.type);
    const unsigned bits = Bits(o.type);
    auto binop = [&](Kind rr, bool commutative) {
      uint32_t a = o.a, b = o.b;
      if (commutative && IsConst(a) && !IsConst(b)) std::swap(a, b);
      InterpOp io = Make(rr, o);
      io.d = Loc(o.dst);
      io.a = Loc(a);
      if (IsConst(b)) {
        io.handler = static_cast<uint8_t>(rr + 1);
        io.imm = b_.const_val[b];
      } else {
        io.b = Loc(b);
      }
      return io;
    };
    InterpOp io;
    switch (o.opc) {
      case Opcode::k_mov:
      case Opcode::k_zext:
        io = Make(k_mov, o);
        if (o.opc == Opcode::k_zext) io.mask = m & Mask(static_cast<Type>(o.aux));
        io.d = Loc(o.dst);
        if (IsConst(o.a)) {
          io.handler = k_movi;
          io.imm = b_.const_val[o.a] & io.mask;
        } else {
          io.a = Loc(o.a);
        }
        break;
      case Opcode::k_add: io = binop(k_add, true); break;
      case Opcode::k_sub: io = binop(k_sub, false); break;
      case Opcode::k_mul: io = binop(k_mul, true); break;
      case Opcode::k_and:
        io = binop(k_and, true);
        if (io.handler == k_and_ri) io.imm &= m;
        break;
      case Opcode::k_or: io = binop(k_or, true); break;
      case Opcode::k_xor: io = binop(k_xor, true); break;
      case Opcode::k_shl:
      case Opcode::k_shr:
      case Opcode::k_sar: {
        Kind k = o.opc == Opcode::k_shl ? k_shl : o.opc == Opcode::k_shr ? k_shr : k_sar;
        io = binop(k, false);
        if (io.handler == k) io.imm = bits - 1;
        else io.imm &= bits - 1;
        break;
      }
      case Opcode::k_setcond: {
        Cond c = static_cast<Cond>(o.aux);
        uint32_t a = o.a, b = o.b;
        if (IsConst(a) && !IsConst(b)) {
          std::swap(a, b);
          c = Mirror(c);
        }
        io = Make(static_cast<Kind>(k_set_eq + static_cast<unsigned>(c)), o);
        io.d = Loc(o.dst);
        io.a = Loc(a);
        SetCompareB(&io, c, b, o.type, k_set_eq_ri);
        break;
      }
      case Opcode::k_not: io = Make(k_not, o); io.d = Loc(o.dst); io.a = Loc(o.a); break;
      case Opcode::k_neg: io = Make(k_neg, o); io.d = Loc(o.dst); io.a = Loc(o.a); break;
      case Opcode::k_sext:
        io = Make(k_sext, o);
        io.aux = static_cast<uint8_t>(Bits(static_cast<Type>(o.aux)));
        io.d = Loc(o.dst);
        io.a = Loc(o.a);
        break;
      case Opcode::k_select:
        io = Make(k_select, o);
        io.d = Loc(o.dst);
        io.a = Loc(o.a);
        io.b = Loc(o.b);
        io.c = Loc(o.c);
        break;
      default:
        io = Make(k_generic, o);
        io.aux = o.aux;
        io.d = Loc(o.dst);
        io.a = Loc(o.a);
        io.b = Loc(o.b);
        io.c = Loc(o.c);
        break;
    }
    Push(io);
  }

  // The second operand of a compare: a location, or an immediate prepared for
  // the _ri form (masked for unsigned/equality, sign-extended for signed).
  void SetCompareB(InterpOp* io, Cond c, uint32_t b, Type t, Kind ri_base) {
    if (!IsConst(b)) {
      io->b = Loc(b);
      return;
    }
    io->handler = static_cast<uint8_t>(ri_base + static_cast<unsigned>(c));
    uint64_t v = b_.const_val[b];
    const bool is_signed = c == Cond::kLt || c == Cond::kLe || c == Cond::kGt || c == Cond::kGe;
    io->imm = is_signed ? static_cast<uint64_t>(SignExtend(v, t)) : v & Mask(t);
  }

  void EmitMem(const Op& o, size_t i, uint64_t pc) {
    const MemForm& f = mem_[i];
    const unsigned w = static_cast<unsigned>(o.type);
    const Kind base = o.opc == Opcode::k_ld_mem ? k_ld8 : k_st8;
    InterpOp io = Make(static_cast<Kind>(base + f.mode * 4 + w), o);
    io.aux = o.aux;
    io.pc = pc;
    io.a = Loc(f.a);
    io.b = Loc(f.b);
    io.imm = f.imm;
    if (o.opc == Opcode::k_ld_mem) io.d = Loc(o.dst);
    else io.c = Loc(o.b);
    uint32_t pend = PendingList(i);
    io.x = static_cast<uint16_t>(pend);
    if (pend > 0xffff) ok_ = false;
    if (o.opc == Opcode::k_st_mem) AddStop(&io);
    Push(io);
  }

  void AddStop(InterpOp* io) {
    if (out_->stops.size() >= 0xffff) ok_ = false;
    io->y = static_cast<uint16_t>(out_->stops.size());
    out_->stops.push_back(InterpStop{0, 0, 0});
    unresolved_.push_back(io->y);
  }

  // Appends an op; two adjacent 64-bit moves, or two 64-bit constant stores
  // (cc_src and cc_op at a block's end), become one (unless a stop points
  // between them).
  void Push(const InterpOp& io) {
    if (!out_->ops.empty() && out_->ops.size() != stop_target_) {
      InterpOp& last = out_->ops.back();
      if (io.handler == k_mov && io.mask == ~0ull && last.handler == k_mov && last.mask == ~0ull) {
        last.handler = k_mov2;
        last.c = io.d;
        last.b = io.a;
        return;
      }
      if (io.handler == k_movi && last.handler == k_movi) {
        last.handler = k_movi2;
        last.c = io.d;
        last.mask = io.imm;
        return;
      }
      // An i64 add of an immediate and the access through its result (push,
      // a load through a pointer just advanced) ...
      const bool last_addi = (last.handler == k_add_ri || last.handler == k_sub_ri) && last.mask == ~0ull;
      const uint64_t last_inc = last.handler == k_sub_ri ? 0 - last.imm : last.imm;
      const bool ld = io.handler >= k_ld8 && io.handler <= k_ld64;
      const bool st = io.handler >= k_st8 && io.handler <= k_st64;
      if (last_addi && io.a == last.d && (ld || st)) {
        InterpOp f = io;
        f.handler = static_cast<uint8_t>(ld ? k_ld8_pre + (io.handler - k_ld8) : k_st8_pre + (io.handler - k_st8));
        f.a = last.a;
        (ld ? f.b : f.d) = last.d;  // the write-back (a load's d is its result)
        f.imm = last_inc;
        last = f;
        return;
      }
      // ... and a load followed by the add of an immediate to its address
      // (pop, ret).
      const bool addi = (io.handler == k_add_ri || io.handler == k_sub_ri) && io.mask == ~0ull;
      if (addi && last.handler >= k_ld8 && last.handler <= k_ld64 && io.a == last.a &&
          last.d != last.a) {
        last.handler = static_cast<uint8_t>(k_ld8_post + (last.handler - k_ld8));
        last.c = io.d;
        last.imm = io.handler == k_sub_ri ? 0 - io.imm : io.imm;
        return;
      }
    }
    out_->ops.push_back(io);
  }

  // The block's last moves become the terminal's tail (InterpTail): one
  // dispatch less per block for the usual cc_src/cc_op stores. Not past a stop
  // target, and not onto what the terminal's compare reads (it runs first).
  void FoldTail() {
    const uint32_t unused = frame_off_ + kInterpFrameBytes - 8;
    InterpTail t[2];
    for (InterpTail& e : t) e = InterpTail{unused, unused, 0, 0};
    std::vector<uint32_t> reads;
    if (br_) {
      if (!IsConst(br_a_)) reads.push_back(Loc(br_a_));
      if (!IsConst(br_b_)) reads.push_back(Loc(br_b_));
    } else if (b_.term.kind == Terminal::Kind::kBranch) {
      reads.push_back(Loc(b_.term.cond));
    }
    std::vector<InterpTail> got;  // in reverse order
    while (!out_->ops.empty()) {
      const size_t idx = out_->ops.size() - 1;
      if (stop_target_ != ~size_t{0} && idx <= stop_target_) break;
      const InterpOp& op = out_->ops.back();
      std::vector<InterpTail> e;  // in program order
      switch (op.handler) {
        case k_movi: e = {{op.d, op.d, 0, op.imm}}; break;
        case k_movi2: e = {{op.d, op.d, 0, op.imm}, {op.c, op.c, 0, op.mask}}; break;
        case k_mov: e = {{op.d, op.a, op.mask, 0}}; break;
        case k_mov2: e = {{op.d, op.a, ~0ull, 0}, {op.c, op.b, ~0ull, 0}}; break;
        default: break;
      }
      if (e.empty() || got.size() + e.size() > 2) break;
      bool clash = false;
      for (const InterpTail& x : e)
        for (uint32_t r : reads) clash |= Overlaps(x.dst, 8, r, 8);
      if (clash) break;
      got.insert(got.end(), e.rbegin(), e.rend());
      out_->ops.pop_back();
    }
    for (size_t i = 0; i < got.size(); i++) t[i] = got[got.size() - 1 - i];
    out_->tail[0] = t[0];
    out_->tail[1] = t[1];
  }

  bool Emit() {
    out_->ops.clear();
    out_->stops.clear();
    out_->pending.clear();
    out_->ops.reserve(n_ + materialized_.size() + 1);
    for (uint32_t t : materialized_) {
      InterpOp io;
      io.handler = k_movi;
      io.opc = Opcode::k_mov;
      io.d = const_slot_[t];
      io.imm = b_.const_val[t];
      Push(io);
    }
    uint64_t cur_pc = 0;
    for (size_t i = 0; i < n_; i++) {
      const Op& o = b_.ops[i];
      if (o.opc == Opcode::k_insn_start) {
        // Instruction boundaries cost nothing at run time: memory ops and calls
        // carry their instruction's pc, and stores and calls the place to stop
        // at if they rewrite the running block (resolved here, at the next one).
        if (!unresolved_.empty()) {
          uint32_t pend = PendingList(i);
          if (pend > 0xffff) ok_ = false;
          for (uint16_t s : unresolved_)
            out_->stops[s] = InterpStop{static_cast<uint32_t>(out_->ops.size()), pend, o.imm, true};
          stop_target_ = out_->ops.size();
          unresolved_.clear();
        }
        cur_pc = o.imm;
        continue;
      }
      if (absorbed_[i] || deleted_[i]) continue;
      switch (o.opc) {
        case Opcode::k_ld_env: {
          InterpOp io = Make(k_mov, o);
          io.d = Loc(o.dst);
          io.a = static_cast<uint32_t>(o.imm);
          Push(io);
          break;
        }
        case Opcode::k_st_env: {
          const bool imm = IsConst(o.a);
          InterpOp io;
          if (o.type == Type::kI64) {
            io = Make(imm ? k_movi : k_mov, o);
          } else {
            const unsigned w = static_cast<unsigned>(o.type);  // 0..2
            io = Make(static_cast<Kind>((imm ? k_puti8 : k_put8) + w), o);
          }
          io.d = static_cast<uint32_t>(o.imm);
          if (imm) io.imm = b_.const_val[o.a];
          else io.a = Loc(o.a);
          Push(io);
          break;
        }
        case Opcode::k_ld_mem:
        case Opcode::k_st_mem: EmitMem(o, i, cur_pc); break;
        case Opcode::k_call: {
          InterpOp io = Make((o.aux & kHelperMayExit) ? k_call_exit : k_call, o);
          io.imm = o.imm;
          io.pc = cur_pc;
          io.d = Loc(o.dst);
          io.a = Loc(o.a);
          io.b = Loc(o.b);
          io.c = Loc(o.c);
          AddStop(&io);
          Push(io);
          break;
        }
        default: EmitValue(o); break;
      }
    }
    for (uint16_t s : unresolved_)
      out_->stops[s] = InterpStop{static_cast<uint32_t>(out_->ops.size()), 0, 0};
    FoldTail();
    InterpOp end;
    switch (b_.term.kind) {
      case Terminal::Kind::kGoto: end.handler = k_end_goto; break;
      case Terminal::Kind::kBranch: end.handler = k_end_branch; break;
      case Terminal::Kind::kIndirect: end.handler = k_end_indirect; break;
      default: end.handler = k_end; break;
    }
    if (br_) {
      Op cmp{Opcode::k_setcond, br_type_};
      end = Make(static_cast<Kind>(k_br_eq + static_cast<unsigned>(br_cond_)), cmp);
      end.a = Loc(br_a_);
      SetCompareB(&end, br_cond_, br_b_, br_type_, k_br_eq_ri);
    } else if (b_.term.kind == Terminal::Kind::kBranch) {
      end.a = Loc(b_.term.cond);
    }
    out_->ops.push_back(end);
    const void* const* labels = Labels();
    for (InterpOp& io : out_->ops)
      if (labels) io.h = labels[io.handler];
      else io.kind = io.handler;
    out_->term = b_.term;
    out_->frame_slots = frame_slots_;
    return ok_ && !hazard_;
  }

  const Block& b_;
  InterpProgram* out_;
  const uint32_t frame_off_;
  const size_t n_;
  const bool in_place_;
  bool hazard_ = false;
  std::vector<uint8_t> absorbed_, deleted_;
  std::vector<MemForm> mem_;
  bool br_ = false;
  Cond br_cond_ = Cond::kEq;
  Type br_type_ = Type::kI64;
  uint32_t br_a_ = kNoTemp, br_b_ = kNoTemp;
  std::vector<std::vector<UseAt>>& uses_ = UseLists();  // indexed below num_temps only
  static std::vector<std::vector<UseAt>>& UseLists() {
    thread_local std::vector<std::vector<UseAt>> lists;
    return lists;
  }
  std::vector<uint32_t> ndefs_, def_, last_def_, last_use_, loc_, const_slot_;
  std::vector<InEnv> in_env_;
  std::vector<uint32_t> materialized_;
  uint32_t frame_slots_ = 0;
  std::vector<uint16_t> unresolved_;
  size_t stop_target_ = ~size_t{0};
  bool ok_ = true;
};

}  // namespace

bool CompileInterp(const Block& b, InterpProgram* out, uint32_t frame_offset) {
  Compiler c(b, out, frame_offset, true);
  if (c.Run()) return true;
  return c.hazard() && Compiler(b, out, frame_offset, false).Run();
}

}  // namespace emu::accel::tcg
