// Soft TLB: RAM fast path, MMIO slow path, faults, page crossing, code pages.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/ir/builder.h"
#include "accel/tcg/ir/passes/passes.h"
#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"
#include "tests/tcg/fake_mmu.h"

namespace emu::accel::tcg {
namespace {

class SoftMmuTest : public ::testing::Test, public MmuFixture {};

TEST_F(SoftMmuTest, RamLoadsAndStoresHitAfterOneMiss) {
  mmu.Store(&ctx, 0x1000, 0x1122334455667788ull, 8, 0);
  EXPECT_EQ(ctx.exit, ExitStatus::kNone);
  EXPECT_EQ(mmu.Load(&ctx, 0x1000, 8, 0), 0x1122334455667788ull);
  EXPECT_EQ(mmu.Load(&ctx, 0x1002, 2, 0), 0x5566u);
  EXPECT_EQ(ram->host()[0x1000], 0x88);
  int walks = walker.walks;
  for (int i = 0; i < 100; i++) mmu.Load(&ctx, 0x1000 + i, 1, 0);
  EXPECT_EQ(walker.walks, walks);  // all hits
}

TEST_F(SoftMmuTest, TranslationOffsetIsApplied) {
  walker.offset = 0x10000;
  mmu.Store(&ctx, 0x2000, 0xdead, 2, 1);
  EXPECT_EQ(ram->host()[0x12000], 0xad);
  uint64_t pa = 0;
  ASSERT_TRUE(mmu.TranslateCode(&ctx, 0x2345, 1, &pa));
  EXPECT_EQ(pa, 0x12345u);
}

TEST_F(SoftMmuTest, MmioGoesToTheBus) {
  EXPECT_EQ(mmu.Load(&ctx, 0xfee00020, 4, 0), 0xab04 + (0xfee00020ull << 16));
  mmu.Store(&ctx, 0xfee000b0, 7, 4, 0);
  EXPECT_EQ(bus.mmio_writes[0xfee000b0], 7u);
}

TEST_F(SoftMmuTest, FaultSetsExceptionAndCrossPageStoreIsAllOrNothing) {
  walker.unmapped[0x5000] = true;
  EXPECT_EQ(mmu.Load(&ctx, 0x5008, 4, 0), 0u);
  EXPECT_EQ(ctx.exit, ExitStatus::kException);
  ctx.exit = ExitStatus::kNone;
  ram->host()[0x4fff] = 0x11;
  mmu.Store(&ctx, 0x4ffe, 0xffffffff, 4, 0);  // straddles into the unmapped page
  EXPECT_EQ(ctx.exit, ExitStatus::kException);
  EXPECT_EQ(ram->host()[0x4fff], 0x11);  // nothing written
  ctx.exit = ExitStatus::kNone;
  mmu.Store(&ctx, 0x3ffe, 0xa1b2c3d4, 4, 0);  // straddles two mapped pages
  EXPECT_EQ(ctx.exit, ExitStatus::kNone);
  EXPECT_EQ(mmu.Load(&ctx, 0x3ffe, 4, 0), 0xa1b2c3d4u);
}

TEST_F(SoftMmuTest, ReadOnlyPageFaultsOnWriteOnly) {
  walker.readonly[0x6000] = true;
  EXPECT_EQ(mmu.Load(&ctx, 0x6000, 1, 0), 0u);
  EXPECT_EQ(ctx.exit, ExitStatus::kNone);
  mmu.Store(&ctx, 0x6000, 1, 1, 0);
  EXPECT_EQ(ctx.exit, ExitStatus::kException);
}

TEST_F(SoftMmuTest, FlushPageForcesAWalk) {
  mmu.Load(&ctx, 0x7000, 1, 0);
  int walks = walker.walks;
  mmu.Load(&ctx, 0x7000, 1, 0);
  EXPECT_EQ(walker.walks, walks);
  mmu.FlushPage(0x7abc);
  mmu.Load(&ctx, 0x7000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 1);
  mmu.FlushAll();
  mmu.Load(&ctx, 0x7000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 2);
}

TEST_F(SoftMmuTest, WritesToCodePagesInvalidateOverlappingBlocks) {
  mmu.Store(&ctx, 0x8000, 0, 4, 0);  // entry filled before the page holds code
  auto tb = std::make_unique<TranslationBlock>();
  tb->key = TbKey{0x8010, 0x8010, 0, 0};
  tb->size = 16;
  TranslationBlock* p = cache.Insert(std::move(tb));
  EXPECT_TRUE(cache.IsCodePage(0x8000));
  mmu.Store(&ctx, 0x8000, 1, 4, 0);  // same page, outside the block
  EXPECT_FALSE(p->invalid);
  ctx.cur_tb = p;
  mmu.Store(&ctx, 0x801e, 0x90, 1, 0);  // inside the running block
  EXPECT_TRUE(p->invalid);
  EXPECT_EQ(ctx.exit, ExitStatus::kStopAtInsn);
  EXPECT_EQ(cache.Lookup(p->key), nullptr);
  EXPECT_FALSE(cache.IsCodePage(0x8000));
}

TEST_F(SoftMmuTest, FlushForgetsEveryFilledEntry) {
  // Few fills: the flush resets just those; many: the whole table.
  for (int n : {3, 600}) {
    for (int i = 0; i < n; i++) mmu.Load(&ctx, 0x1000ull * (i % 200) + (i / 200) * 0x100000ull, 1, i & 1);
    mmu.FlushAll();
    int walks = walker.walks;
    mmu.Load(&ctx, 0, 1, 0);
    mmu.Load(&ctx, 0x1000, 1, 1);
    EXPECT_EQ(walker.walks, walks + 2) << n;
  }
}

TEST_F(SoftMmuTest, ContextFlushKeepsGlobalEntries) {
  // Few fills (the list of filled entries) and many (the whole table).
  for (int n : {0, 1200}) {
    walker.global[0x3000] = true;
    mmu.Load(&ctx, 0x3000, 1, 0);
    for (int i = 0; i < n; i++) mmu.Load(&ctx, 0x10000 + 0x1000ull * (i % 240), 1, i % 4);
    mmu.Load(&ctx, 0x4000, 1, 0);
    mmu.FlushContext(true);
    int walks = walker.walks;
    mmu.Load(&ctx, 0x3000, 1, 0);
    EXPECT_EQ(walker.walks, walks) << n;      // kept
    mmu.Load(&ctx, 0x4000, 1, 0);
    EXPECT_EQ(walker.walks, walks + 1) << n;  // dropped
    // Kept entries are flushed by the next flush that does not keep them.
    mmu.FlushContext(false);
    mmu.Load(&ctx, 0x3000, 1, 0);
    EXPECT_EQ(walker.walks, walks + 2) << n;
    mmu.FlushContext(true);
    mmu.FlushAll();
    mmu.Load(&ctx, 0x3000, 1, 0);
    EXPECT_EQ(walker.walks, walks + 3) << n;
  }
}

TEST_F(SoftMmuTest, ContextsKeepTheirEntries) {
  mmu.Load(&ctx, 0x1000, 1, 0);
  mmu.SwitchContext(1);
  EXPECT_EQ(mmu.context_tag(), 1u);
  int walks = walker.walks;
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 1);  // context 1 starts empty
  mmu.SwitchContext(0);
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 1);  // context 0 still has it
  // INVLPG-style page flushes reach every context.
  mmu.FlushPage(0x1000);
  mmu.Load(&ctx, 0x1000, 1, 0);
  mmu.SwitchContext(1);
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 3);
  // A context flush is only the current context's.
  mmu.FlushContext(false);
  mmu.SwitchContext(0);
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 3);
}

TEST_F(SoftMmuTest, SwitchingBackRestoresEntriesFilledTwice) {
  // The same slot filled three times (0x1000 and 0x101000 share it), a global
  // entry, and after a table overflow: all come back after a round trip.
  walker.global[0x7000] = true;
  for (int n : {0, 600}) {
    const uint64_t other = 5 + n;  // a fresh context each time
    mmu.Load(&ctx, 0x1000, 1, 0);
    mmu.Load(&ctx, 0x101000, 1, 0);
    mmu.Load(&ctx, 0x1000, 1, 0);
    mmu.Load(&ctx, 0x7000, 1, 1);
    for (int i = 0; i < n; i++) mmu.Load(&ctx, 0x10000 + 0x1000ull * (i % 200), 1, 2 + i % 2);
    mmu.SwitchContext(other);
    int walks = walker.walks;
    mmu.Load(&ctx, 0x1000, 1, 0);
    EXPECT_EQ(walker.walks, walks + 1) << n;
    mmu.SwitchContext(0);
    mmu.Load(&ctx, 0x1000, 1, 0);
    mmu.Load(&ctx, 0x7000, 1, 1);
    mmu.Store(&ctx, 0x1000, 7, 1, 0);
    EXPECT_EQ(walker.walks, walks + 1) << n;
    EXPECT_EQ(mmu.Load(&ctx, 0x1000, 1, 0), 7u);
    mmu.SwitchContext(other);
    EXPECT_EQ(mmu.Load(&ctx, 0x1000, 1, 0), 7u);  // the same RAM through the other context's entry
    EXPECT_EQ(walker.walks, walks + 1) << n;
    mmu.SwitchContext(0);
  }
}

TEST_F(SoftMmuTest, LeastRecentlyUsedContextIsRecycled) {
  for (unsigned t = 0; t < kTlbContexts; t++) {
    mmu.SwitchContext(t);
    mmu.Load(&ctx, 0x1000, 1, 0);
  }
  int walks = walker.walks;
  mmu.SwitchContext(kTlbContexts);  // recycles tag 0's context (least recently used)
  mmu.SwitchContext(2);
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks);
  mmu.SwitchContext(0);  // gone: starts empty (recycling tag 1's)
  mmu.Load(&ctx, 0x1000, 1, 0);
  EXPECT_EQ(walker.walks, walks + 1);
  EXPECT_EQ(mmu.switches, kTlbContexts + 2 + 0u);
}

// Env stores sunk past a memory op are performed when it faults (env exact at
// the fault), and only the last one survives when it does not.
struct SinkEnv {
  uint64_t r[2];
  uint8_t frame[kInterpFrameBytes];  // the interpreter's temps follow env
};

TEST_F(SoftMmuTest, SunkEnvStoresAreExactAtAFault) {
  walker.unmapped[0x5000] = true;
  for (uint64_t addr : {0x5008ull, 0x4008ull}) {
    Block b;
    Builder bb(&b);
    bb.InsnStart(0x10);
    bb.StEnv(Type::kI64, 0, bb.Const(1));
    bb.InsnStart(0x11);
    Val v = bb.LdMem(Type::kI64, bb.Const(addr), 0);
    bb.StEnv(Type::kI64, 0, bb.Const(2));
    bb.StEnv(Type::kI64, 8, v);
    bb.Exit();
    RunPasses(b);
    int stores = 0;
    for (const Op& o : b.ops) stores += o.opc == Opcode::k_st_env;
    EXPECT_EQ(stores, 2);  // the first store to r[0] is gone from the normal path
    ASSERT_EQ(b.pending_stores.size(), 1u);
    InterpProgram p;
    ASSERT_TRUE(CompileInterp(b, &p, offsetof(SinkEnv, frame)));
    auto envp = std::make_unique<SinkEnv>();
    SinkEnv& env = *envp;
    env.r[0] = env.r[1] = 7;
    ram->host()[0x4008] = 0x42;
    ctx.env = reinterpret_cast<uint8_t*>(&env);
    ctx.frame_offset = offsetof(SinkEnv, frame);
    ctx.exit = ExitStatus::kNone;
    int slot = RunInterp(&ctx, p);
    if (addr == 0x5008) {
      EXPECT_EQ(slot, -1);
      EXPECT_EQ(ctx.exit, ExitStatus::kException);
      EXPECT_EQ(ctx.insn_pc, 0x11u);
      EXPECT_EQ(env.r[0], 1u);  // the pending store, performed at the fault
      EXPECT_EQ(env.r[1], 7u);
    } else {
      EXPECT_EQ(ctx.exit, ExitStatus::kNone);
      EXPECT_EQ(env.r[0], 2u);
      EXPECT_EQ(env.r[1], 0x42u);
    }
  }
}


// The interpreter fuses address adds with the accesses that use or follow them
// (push: an add and a store through it; pop/ret: a load and an add of its
// address). A chain of pops, where each write-back lands in the slot the next
// one reads, must see each address once (this caught a handler reading its
// source again after writing it back).
struct StackEnv {
  uint64_t r[8];
  uint8_t frame[kInterpFrameBytes];
};

TEST_F(SoftMmuTest, FusedStackAccessesMatchTheUnfusedOnes) {
  for (uint64_t i = 0; i < 8; i++)
    mmu.Store(&ctx, 0x3000 + 8 * i, 0x1111111111111111ull * (i + 1), 8, 0);
  auto build = [](Block& b) {
    Builder bb(&b);
    bb.InsnStart(0x10);
    Val sp = bb.LdEnv(Type::kI64, 0);                 // r0: stack pointer
    Val t1 = bb.AddI(Type::kI64, sp, 0x10);            // add rsp, 0x10
    Val v1 = bb.LdMem(Type::kI64, t1, 0);              // pop
    Val t2 = bb.AddI(Type::kI64, t1, 8);
    Val v2 = bb.LdMem(Type::kI64, t2, 0);              // pop
    Val t3 = bb.AddI(Type::kI64, t2, 8);
    Val v3 = bb.LdMem(Type::kI64, t3, 0);              // ret
    Val t4 = bb.AddI(Type::kI64, t3, 8);
    Val t5 = bb.Sub(Type::kI64, t4, bb.Const(8));      // push v1
    bb.StMem(Type::kI64, t5, v1, 0);
    Val t6 = bb.Sub(Type::kI64, t5, bb.Const(8));      // push v2
    bb.StMem(Type::kI64, t6, v2, 0);
    bb.StEnv(Type::kI64, 8, v1);
    bb.StEnv(Type::kI64, 16, v2);
    bb.StEnv(Type::kI64, 24, v3);
    bb.StEnv(Type::kI64, 0, t6);
    bb.Exit();
  };
  Block b;
  build(b);
  RunPasses(b);
  InterpProgram p;
  ASSERT_TRUE(CompileInterp(b, &p, offsetof(StackEnv, frame)));
  int fused = 0;
  for (const InterpOp& o : p.ops) {
    std::string n = InterpHandlerName(o.handler);
    fused += n.find("_pre") != std::string::npos || n.find("_post") != std::string::npos;
  }
  EXPECT_GE(fused, 3) << PrintInterp(p, offsetof(StackEnv, frame));
  auto envp = std::make_unique<StackEnv>();
  envp->r[0] = 0x3000;
  ctx.env = reinterpret_cast<uint8_t*>(envp.get());
  ctx.frame_offset = offsetof(StackEnv, frame);
  ctx.exit = ExitStatus::kNone;
  RunInterp(&ctx, p);
  EXPECT_EQ(ctx.exit, ExitStatus::kNone);
  EXPECT_EQ(envp->r[1], 0x3333333333333333ull) << PrintInterp(p, offsetof(StackEnv, frame));
  EXPECT_EQ(envp->r[2], 0x4444444444444444ull);
  EXPECT_EQ(envp->r[3], 0x5555555555555555ull);
  EXPECT_EQ(envp->r[0], 0x3018u);
  EXPECT_EQ(mmu.Load(&ctx, 0x3020, 8, 0), 0x3333333333333333ull);
  EXPECT_EQ(mmu.Load(&ctx, 0x3018, 8, 0), 0x4444444444444444ull);
}

}  // namespace
}  // namespace emu::accel::tcg
