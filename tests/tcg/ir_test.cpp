// IR builder, passes and the interpreter on small hand-built blocks.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/ir/builder.h"
#include "accel/tcg/ir/eval.h"
#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {
namespace {

struct Env {
  uint64_t r[4];
  uint64_t pc;
};

// The interpreter keeps its temps in a frame right after env.
struct EnvAndFrame {
  Env env;
  uint8_t frame[kInterpFrameBytes];
};

uint64_t RunBlock(Block& b, Env& env, int* slot = nullptr, bool passes = true) {
  if (passes) RunPasses(b);
  EXPECT_EQ(Verify(b), "");
  InterpProgram p;
  auto ef = std::make_unique<EnvAndFrame>();
  ef->env = env;
  EXPECT_TRUE(CompileInterp(b, &p, offsetof(EnvAndFrame, frame)));
  ExecContext ctx;
  ctx.env = reinterpret_cast<uint8_t*>(&ef->env);
  ctx.frame_offset = offsetof(EnvAndFrame, frame);
  int s = RunInterp(&ctx, p);
  env = ef->env;
  if (slot) *slot = s;
  return env.r[0];
}

constexpr uint32_t R(int i) { return static_cast<uint32_t>(offsetof(Env, r) + 8 * i); }

TEST(Ir, ArithmeticAtEachWidth) {
  struct Case { Opcode op; Type t; uint64_t a, b, want; };
  const Case cases[] = {
      {Opcode::k_add, Type::kI8, 0xff, 1, 0},
      {Opcode::k_add, Type::kI16, 0xffff, 2, 1},
      {Opcode::k_sub, Type::kI32, 0, 1, 0xffffffff},
      {Opcode::k_sar, Type::kI8, 0x80, 7, 0xff},
      {Opcode::k_sar, Type::kI64, 0x8000000000000000ull, 63, ~0ull},
      {Opcode::k_shr, Type::kI16, 0x8000, 15, 1},
      {Opcode::k_shl, Type::kI32, 1, 33, 2},  // count modulo width
      {Opcode::k_rotl, Type::kI8, 0x81, 1, 0x03},
      {Opcode::k_rotr, Type::kI16, 0x0001, 1, 0x8000},
      {Opcode::k_mulhu, Type::kI64, ~0ull, ~0ull, ~0ull - 1},
      {Opcode::k_mulhs, Type::kI64, ~0ull, ~0ull, 0},
      {Opcode::k_mulhs, Type::kI8, 0x80, 0x80, 0x40},
      {Opcode::k_mulhu, Type::kI32, 0xffffffff, 2, 1},
  };
  for (const Case& c : cases) {
    for (bool fold : {false, true}) {
      Block b;
      Builder bb(&b);
      Val a = fold ? bb.Const(c.a) : bb.LdEnv(Type::kI64, R(1));
      Val v = fold ? bb.Const(c.b) : bb.LdEnv(Type::kI64, R(2));
      bb.StEnv(Type::kI64, R(0), bb.Bin(c.op, c.t, a, v));
      bb.Exit();
      Env env{{0, c.a, c.b, 0}, 0};
      EXPECT_EQ(RunBlock(b, env), c.want) << Info(c.op).name << " fold=" << fold;
    }
  }
}

TEST(Ir, ExtendCompareSelectBitOps) {
  EXPECT_EQ(EvalValueOp(Opcode::k_sext, Type::kI64, uint8_t(Type::kI8), 0x80, 0, 0),
            0xffffffffffffff80ull);
  EXPECT_EQ(EvalValueOp(Opcode::k_zext, Type::kI64, uint8_t(Type::kI16), 0x12345, 0, 0), 0x2345u);
  EXPECT_TRUE(EvalCond(Cond::kLt, 0xff, 0, Type::kI8));
  EXPECT_FALSE(EvalCond(Cond::kLtu, 0xff, 0, Type::kI8));
  EXPECT_EQ(EvalValueOp(Opcode::k_clz, Type::kI16, 0, 1, 0, 0), 15u);
  EXPECT_EQ(EvalValueOp(Opcode::k_clz, Type::kI32, 0, 0, 0, 0), 32u);
  EXPECT_EQ(EvalValueOp(Opcode::k_ctz, Type::kI64, 0, 0x100, 0, 0), 8u);
  EXPECT_EQ(EvalValueOp(Opcode::k_popcnt, Type::kI8, 0, 0x1ff, 0, 0), 8u);
  EXPECT_EQ(EvalValueOp(Opcode::k_bswap, Type::kI32, 0, 0x11223344, 0, 0), 0x44332211u);
  EXPECT_EQ(EvalValueOp(Opcode::k_bswap, Type::kI16, 0, 0x1122, 0, 0), 0x2211u);

  Block b;
  Builder bb(&b);
  Val x = bb.LdEnv(Type::kI64, R(1));
  Val lt = bb.SetCond(Cond::kLt, Type::kI32, x, bb.Const(0));
  bb.StEnv(Type::kI64, R(0), bb.Select(Type::kI64, lt, bb.Const(111), bb.Const(222)));
  bb.Exit();
  Env env{{0, 0xfffffffe, 0, 0}, 0};
  EXPECT_EQ(RunBlock(b, env), 111u);
}

TEST(Ir, ConstantFoldingRemovesWork) {
  Block b;
  Builder bb(&b);
  Val a = bb.Add(Type::kI32, bb.Const(40), bb.Const(2));
  Val c = bb.Mul(Type::kI32, a, bb.Const(1));
  Val unused = bb.Xor(Type::kI64, bb.LdEnv(Type::kI64, R(1)), bb.Const(5));
  (void)unused;
  bb.StEnv(Type::kI64, R(0), c);
  bb.Exit();
  RunPasses(b);
  // Only the store of a constant survives.
  ASSERT_EQ(b.ops.size(), 1u) << b.Dump();
  EXPECT_EQ(b.ops[0].opc, Opcode::k_st_env);
  EXPECT_TRUE(b.is_const[b.ops[0].a]);
  EXPECT_EQ(b.const_val[b.ops[0].a], 42u);
}

TEST(Ir, EnvStoreForwardsToLoad) {
  Block b;
  Builder bb(&b);
  Val v = bb.AddI(Type::kI64, bb.LdEnv(Type::kI64, R(1)), 1);
  bb.StEnv(Type::kI64, R(2), v);
  Val back = bb.LdEnv(Type::kI64, R(2));
  bb.StEnv(Type::kI64, R(0), bb.AddI(Type::kI64, back, 1));
  bb.Exit();
  RunPasses(b);
  int loads = 0;
  for (const Op& o : b.ops) loads += o.opc == Opcode::k_ld_env;
  EXPECT_EQ(loads, 1) << b.Dump();
  Env env{{0, 10, 0, 0}, 0};
  EXPECT_EQ(RunBlock(b, env, nullptr, false), 12u) << b.Dump();
  EXPECT_EQ(env.r[2], 11u);
}

TEST(Ir, PartialOverlapKillsForwarding) {
  Block b;
  Builder bb(&b);
  bb.StEnv(Type::kI64, R(1), bb.Const(0x1111111111111111ull));
  bb.StEnv(Type::kI8, R(1), bb.Const(0xff));
  bb.StEnv(Type::kI64, R(0), bb.LdEnv(Type::kI64, R(1)));
  bb.Exit();
  Env env{};
  EXPECT_EQ(RunBlock(b, env), 0x11111111111111ffull);
}

TEST(Ir, BranchFoldsToGotoAndSlotsAreReported) {
  Block b;
  Builder bb(&b);
  Val c = bb.SetCond(Cond::kEq, Type::kI32, bb.Const(1), bb.Const(1));
  bb.Branch(c, 0x100, 0x200);
  RunPasses(b);
  EXPECT_EQ(b.term.kind, Terminal::Kind::kGoto);
  EXPECT_EQ(b.term.targets[0], 0x100u);

  Block b2;
  Builder b2b(&b2);
  b2b.Branch(b2b.LdEnv(Type::kI64, R(1)), 0x100, 0x200);
  Env env{{0, 0, 0, 0}, 0};
  int slot = -2;
  RunBlock(b2, env, &slot);
  EXPECT_EQ(slot, 1);
  env.r[1] = 5;
  RunBlock(b2, env, &slot);
  EXPECT_EQ(slot, 0);
}

TEST(Ir, VerifierCatchesUseBeforeDefinition) {
  Block b;
  Builder bb(&b);
  Val t = bb.Temp();
  bb.StEnv(Type::kI64, R(0), t);
  EXPECT_NE(Verify(b), "");  // also: no terminal
  bb.Exit();
  EXPECT_NE(Verify(b).find("before definition"), std::string::npos);
}

uint64_t AddThree(ExecContext*, uint64_t a, uint64_t b, uint64_t c) { return a + b + c; }
uint64_t Raises(ExecContext* ctx, uint64_t, uint64_t, uint64_t) {
  ctx->exit = ExitStatus::kException;
  return 0;
}

TEST(Ir, HelperCallsAndEarlyExit) {
  Block b;
  Builder bb(&b);
  bb.InsnStart(0x10);
  bb.StEnv(Type::kI64, R(0), bb.Call(AddThree, kHelperPure, bb.Const(1), bb.Const(2), bb.Const(3)));
  bb.InsnStart(0x11);
  bb.Call(Raises, kHelperMayExit);
  bb.StEnv(Type::kI64, R(1), bb.Const(99));  // must not run
  bb.Goto(0x20);
  RunPasses(b);
  InterpProgram p;
  ASSERT_TRUE(CompileInterp(b, &p, offsetof(EnvAndFrame, frame)));
  auto ef = std::make_unique<EnvAndFrame>();
  Env& env = ef->env;
  env = Env{};
  ExecContext ctx;
  ctx.env = reinterpret_cast<uint8_t*>(&env);
  EXPECT_EQ(RunInterp(&ctx, p), -1);
  EXPECT_EQ(env.r[0], 6u);
  EXPECT_EQ(env.r[1], 0u);
  EXPECT_EQ(ctx.insn_pc, 0x11u);
  EXPECT_EQ(ctx.exit, ExitStatus::kException);
}

TEST(Ir, DeadPureHelperIsRemoved) {
  Block b;
  Builder bb(&b);
  bb.Call(AddThree, kHelperPure, bb.Const(1), bb.Const(2), bb.Const(3));
  bb.Exit();
  RunPasses(b);
  EXPECT_TRUE(b.ops.empty());
}

TEST(Ir, DeadEnvStoresOnlyWithoutObservers) {
  Block b;
  Builder bb(&b);
  bb.InsnStart(0x10);
  bb.StEnv(Type::kI64, R(0), bb.Const(1));  // dead: overwritten, nothing observes
  bb.InsnStart(0x11);
  bb.StEnv(Type::kI64, R(0), bb.Const(2));  // live: a load may fault before the next store
  Val v = bb.LdMem(Type::kI32, bb.Const(0x1000), 0);
  bb.StEnv(Type::kI64, R(1), v);
  bb.StEnv(Type::kI64, R(0), bb.Const(3));
  bb.StEnv(Type::kI32, R(2), bb.Const(4));  // live: read back below
  Val back = bb.LdEnv(Type::kI32, R(2));
  bb.StEnv(Type::kI32, R(2), back);
  bb.Exit();
  EliminateDeadEnvStores(b);
  std::vector<uint64_t> stored;
  for (const Op& o : b.ops)
    if (o.opc == Opcode::k_st_env && o.imm == R(0)) stored.push_back(b.const_val[o.a]);
  EXPECT_EQ(stored, (std::vector<uint64_t>{2, 3}));
  int r2 = 0;
  for (const Op& o : b.ops) r2 += o.opc == Opcode::k_st_env && o.imm == R(2);
  EXPECT_EQ(r2, 2);
}

TEST(Ir, StoreBeforeAStoppingBoundaryIsKept) {
  // After a guest store the block may stop at the next instruction boundary
  // (self-modifying code), so env must be complete there.
  Block b;
  Builder bb(&b);
  bb.InsnStart(0x10);
  bb.StMem(Type::kI8, bb.Const(0x2000), bb.Const(0), 0);
  bb.StEnv(Type::kI64, R(0), bb.Const(1));
  bb.InsnStart(0x11);
  bb.StEnv(Type::kI64, R(0), bb.Const(2));
  bb.Exit();
  EliminateDeadEnvStores(b);
  int n = 0;
  for (const Op& o : b.ops) n += o.opc == Opcode::k_st_env;
  EXPECT_EQ(n, 2);
}

TEST(Ir, WidthAwareFolding) {
  Block b;
  Builder bb(&b);
  Val x = bb.LdEnv(Type::kI32, R(1));
  Val y = bb.Add(Type::kI32, x, bb.Const(1));
  Val z = bb.Zext(Type::kI64, Type::kI32, y);  // already zero-extended: a copy
  bb.StEnv(Type::kI64, R(0), z);
  Val w = bb.LdEnv(Type::kI16, R(0));           // low part of the stored value
  bb.StEnv(Type::kI64, R(2), bb.Zext(Type::kI64, Type::kI16, w));
  bb.Exit();
  RunPasses(b);
  int zexts32 = 0, extensions = 0, loads = 0;
  for (const Op& o : b.ops) {
    zexts32 += o.opc == Opcode::k_zext && o.aux == static_cast<uint8_t>(Type::kI32);
    extensions += o.opc == Opcode::k_zext || o.opc == Opcode::k_mov;
    loads += o.opc == Opcode::k_ld_env;
  }
  EXPECT_EQ(zexts32, 0) << b.Dump();  // a copy: gone
  // The 16-bit one reads the add (a zext or a truncating mov: one op).
  EXPECT_EQ(extensions, 1) << b.Dump();
  EXPECT_EQ(loads, 1) << b.Dump();
  Env env{{0, 0xffffffff, 0, 0}, 0};
  EXPECT_EQ(RunBlock(b, env, nullptr, false), 0u);  // 32-bit wrap
  env = Env{{0, 0x1fffe, 0, 0}, 0};
  RunBlock(b, env, nullptr, false);
  EXPECT_EQ(env.r[0], 0x1ffffu);
  EXPECT_EQ(env.r[2], 0xffffu);
}

// The identities that look through an operand's definition (fold.cpp
// LookThrough): each removes an op and keeps the value.
TEST(Ir, FoldingLooksThroughDefinitions) {
  auto count = [](const Block& b, Opcode op, Type t) {
    int n = 0;
    for (const Op& o : b.ops) n += o.opc == op && o.type == t;
    return n;
  };
  for (uint64_t x : {0x12345ull, 0xffull, 0x100000005ull}) {
    for (uint64_t y : {5ull, 0x105ull}) {
      // cmp x, y; jbe: leu(add(sub(x, y), y), y) is leu(x, y).
      Block b1;
      Builder b(&b1);
      Val vx = b.LdEnv(Type::kI64, R(1)), vy = b.LdEnv(Type::kI64, R(2));
      Val d = b.Sub(Type::kI8, vx, vy);
      b.StEnv(Type::kI64, R(3), d);
      b.StEnv(Type::kI64, R(0), b.SetCond(Cond::kLeu, Type::kI8, b.Add(Type::kI8, d, vy), vy));
      b.Exit();
      RunPasses(b1);
      EXPECT_EQ(count(b1, Opcode::k_add, Type::kI8), 0) << b1.Dump();
      Env env{{0, x, y, 0}, 0};
      EXPECT_EQ(RunBlock(b1, env, nullptr, false), (x & 0xff) <= (y & 0xff) ? 1u : 0u);
      EXPECT_EQ(env.r[3], (x - y) & 0xff);
      // lea ecx, [rax - 0x30]: mov.i32(add.i64(x, c)) is add.i32(x, c).
      Block b2;
      Builder c(&b2);
      c.StEnv(Type::kI64, R(0), c.Mov(Type::kI32, c.AddI(Type::kI64, c.LdEnv(Type::kI64, R(1)), ~0x2full)));
      c.Exit();
      RunPasses(b2);
      EXPECT_EQ(count(b2, Opcode::k_add, Type::kI64), 0) << b2.Dump();
      EXPECT_EQ(count(b2, Opcode::k_mov, Type::kI32), 0) << b2.Dump();
      env = Env{{0, x, y, 0}, 0};
      EXPECT_EQ(RunBlock(b2, env, nullptr, false), (x - 0x30) & 0xffffffff);
      // cmp; sete: eq(sub(x, y), 0) compares x with y (the sub is dead).
      Block b3;
      Builder e(&b3);
      Val ex = e.LdEnv(Type::kI64, R(1)), ey = e.LdEnv(Type::kI64, R(2));
      e.StEnv(Type::kI64, R(0), e.SetCond(Cond::kEq, Type::kI8, e.Sub(Type::kI8, ex, ey), e.Const(0)));
      e.Exit();
      RunPasses(b3);
      EXPECT_EQ(count(b3, Opcode::k_sub, Type::kI8), 0) << b3.Dump();
      env = Env{{0, x, y, 0}, 0};
      EXPECT_EQ(RunBlock(b3, env, nullptr, false), (x & 0xff) == (y & 0xff) ? 1u : 0u);
      // Truncations are looked through by readers of no more bits: sub.i8 of
      // mov.i8(mov.i32(x)) reads x.
      Block b4;
      Builder f(&b4);
      Val t32 = f.Mov(Type::kI32, f.LdEnv(Type::kI64, R(1)));
      f.StEnv(Type::kI64, R(3), t32);
      f.StEnv(Type::kI64, R(0), f.Sub(Type::kI8, f.Mov(Type::kI8, t32), f.Const(9)));
      f.Exit();
      RunPasses(b4);
      EXPECT_EQ(count(b4, Opcode::k_mov, Type::kI8), 0) << b4.Dump();
      env = Env{{0, x, y, 0}, 0};
      EXPECT_EQ(RunBlock(b4, env, nullptr, false), (x - 9) & 0xff);
      EXPECT_EQ(env.r[3], x & 0xffffffff);
    }
  }
}

TEST(Ir, NegatedConditionFoldsIntoSetcond) {
  for (uint64_t x : {5ull, 6ull}) {
    Block b;
    Builder bb(&b);
    Val c = bb.SetCond(Cond::kEq, Type::kI32, bb.LdEnv(Type::kI64, R(1)), bb.Const(5));
    bb.StEnv(Type::kI64, R(0), bb.Xor(Type::kI64, c, bb.Const(1)));
    bb.Goto(0x20);
    bb.SetTerminalPc(offsetof(Env, pc), 0x1234);
    RunPasses(b);
    for (const Op& o : b.ops) EXPECT_NE(o.opc, Opcode::k_xor);
    Env env{{0, x, 0, 0}, 0};
    int slot = -1;
    EXPECT_EQ(RunBlock(b, env, &slot, false), x == 5 ? 0u : 1u);
    EXPECT_EQ(slot, 0);
    EXPECT_EQ(env.pc, 0x1234u);  // stored by the terminal
  }
}

}  // namespace
}  // namespace emu::accel::tcg
