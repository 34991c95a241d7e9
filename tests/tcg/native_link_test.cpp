// The native backend's block links: a link the TB cache records is patched
// into the code (the chain runs on without leaving native code), and undone
// when the target is invalidated (the source then returns its slot).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <memory>

#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/ir/builder.h"
#include "accel/tcg/ir/passes/passes.h"
#include "tests/tcg/fake_mmu.h"

namespace emu::accel::tcg {
namespace {

struct LinkEnv {
  uint64_t r[4];
  uint8_t frame[kInterpFrameBytes];
};

class NativeLink : public ::testing::Test, public MmuFixture {
 protected:
  void SetUp() override {
    if (!NativeSupported()) GTEST_SKIP() << "no native backend on this host";
    cache.AttachCode(&code);
    ctx.env = reinterpret_cast<uint8_t*>(env.get());
    ctx.frame_offset = offsetof(LinkEnv, frame);
  }
  // A block at pc adding `add` to r[reg], then going to `next` (or exiting; or,
  // with indirect, to the pc it stores in r[3]).
  TranslationBlock* Make(uint64_t pc, unsigned reg, uint64_t add, uint64_t next,
                         bool indirect = false) {
    Block blk;
    Builder b(&blk);
    b.InsnStart(pc);
    b.StEnv(Type::kI64, 8 * reg, b.AddI(Type::kI64, b.LdEnv(Type::kI64, 8 * reg), add));
    if (indirect) {
      b.StEnv(Type::kI64, 24, b.Const(next));
      b.Indirect(24);
    } else if (next) {
      b.Goto(next);
    } else {
      b.Exit();
    }
    RunPasses(blk);
    auto tb = std::make_unique<TranslationBlock>();
    tb->key = TbKey{pc, pc, 0, 0};
    tb->size = 4;
    EXPECT_TRUE(CompileInterp(blk, &tb->prog, ctx.frame_offset));
    TranslationBlock* t = cache.Insert(std::move(tb));
    EXPECT_TRUE(CompileNative(&t->prog, &code, ctx.frame_offset));
    return t;
  }
  int Run(TranslationBlock* tb, uint32_t budget) {
    ctx.chain_budget = budget;
    ctx.exit = ExitStatus::kNone;
    return RunNative(&ctx, tb->prog, code);
  }
  CodeBuffer code{8u << 20};
  std::unique_ptr<LinkEnv> env = std::make_unique<LinkEnv>();
};

TEST_F(NativeLink, LinksArePatchedAndUndone) {
  TranslationBlock* a = Make(0x1000, 0, 1, 0x2000);
  TranslationBlock* b = Make(0x2000, 1, 10, 0);
  EXPECT_EQ(Run(a, 10), 0);  // not linked: a returns its slot
  EXPECT_EQ(env->r[0], 1u);
  EXPECT_EQ(env->r[1], 0u);
  cache.Link(a, 0, b);
  const uint64_t blocks = ctx.blocks;
  EXPECT_EQ(Run(a, 10), -1);  // through the patched jump into b, which exits
  EXPECT_EQ(env->r[0], 2u);
  EXPECT_EQ(env->r[1], 10u);
  EXPECT_EQ(ctx.blocks - blocks, 2u);
  EXPECT_EQ(ctx.cur_tb, b);
  EXPECT_EQ(Run(a, 0), 0);  // no budget: no chaining
  EXPECT_EQ(env->r[1], 10u);
  cache.Invalidate(b);
  EXPECT_EQ(Run(a, 10), 0);  // unlinked again
  EXPECT_EQ(env->r[0], 4u);
  EXPECT_EQ(env->r[1], 10u);
}

TEST_F(NativeLink, ASelfLoopRunsUntilTheBudgetEnds) {
  TranslationBlock* a = Make(0x3000, 2, 3, 0x3000);
  cache.Link(a, 0, a);
  EXPECT_EQ(Run(a, 5), 0);  // entered once, then 5 chained entries
  EXPECT_EQ(env->r[2], 18u);
  ctx.exit_request.store(1);
  EXPECT_EQ(Run(a, 5), 0);  // an exit request stops the chain at the first end
  EXPECT_EQ(env->r[2], 21u);
  ctx.exit_request.store(0);
}

// The loop's answer for an indirect end (what CpuLoop::ChainMiss does with its
// jump cache), counted.
const InterpProgram* g_target = nullptr;
int g_misses = 0;
const InterpProgram* FakeMiss(ExecContext*, const InterpProgram*, int slot) {
  g_misses += slot < 0;
  return slot < 0 ? g_target : nullptr;
}

TEST_F(NativeLink, IndirectTargetsComeFromTheBlockCacheThenTheVcpuTable) {
  uint64_t tlb = 5, epoch = 7;
  std::unique_ptr<IndirectEntry[]> table(new IndirectEntry[1u << kIndirectBits]);
  ctx.tlb_epoch = &tlb;
  ctx.code_epoch = &epoch;
  ctx.ind_table = table.get();
  ctx.chain_miss = FakeMiss;
  TranslationBlock* a = Make(0x4000, 0, 1, 0x5000, true);
  TranslationBlock* b = Make(0x5000, 1, 10, 0);
  g_target = &b->prog;
  g_misses = 0;
  EXPECT_EQ(Run(a, 10), -1);  // asked the loop, then ran b
  EXPECT_EQ(env->r[1], 10u);
  EXPECT_EQ(g_misses, 1);
  EXPECT_EQ(Run(a, 10), -1);  // the block's own cache
  EXPECT_EQ(g_misses, 1);
  a->prog.ind[0] = a->prog.ind[1] = InterpProgram::IndirectTarget{};
  EXPECT_EQ(Run(a, 10), -1);  // the vCPU's table
  EXPECT_EQ(g_misses, 1);
  EXPECT_EQ(env->r[1], 30u);
  tlb++;  // a TLB flush: neither cache may answer
  EXPECT_EQ(Run(a, 10), -1);
  EXPECT_EQ(g_misses, 2);
  a->prog.ind[0] = a->prog.ind[1] = InterpProgram::IndirectTarget{};
  epoch++;  // code invalidated somewhere: the table entry is stale too
  EXPECT_EQ(Run(a, 10), -1);
  EXPECT_EQ(g_misses, 3);
  EXPECT_EQ(env->r[0], 5u);
  EXPECT_EQ(env->r[1], 50u);
  ctx.chain_miss = nullptr;
  ctx.ind_table = nullptr;
}

}  // namespace
}  // namespace emu::accel::tcg
