// TB cache: lookup, chaining with recorded links, invalidation, flush.
#include <gtest/gtest.h>

#include "accel/tcg/tb_cache.h"

namespace emu::accel::tcg {
namespace {

TranslationBlock* Add(TbCache& c, uint64_t pc, uint32_t size, uint64_t page2 = ~0ull) {
  auto tb = std::make_unique<TranslationBlock>();
  tb->key = TbKey{pc, pc, 0, 0};
  tb->size = size;
  tb->phys_page2 = page2;
  return c.Insert(std::move(tb));
}

TEST(TbCache, LookupByFullKey) {
  TbCache c;
  TranslationBlock* a = Add(c, 0x1000, 8);
  EXPECT_EQ(c.Lookup(TbKey{0x1000, 0x1000, 0, 0}), a);
  EXPECT_EQ(c.Lookup(TbKey{0x1000, 0x1000, 0, 1}), nullptr);  // other mode flags
  EXPECT_EQ(c.Lookup(TbKey{0x1000, 0x1000, 0x10, 0}), nullptr);  // other CS base
  EXPECT_EQ(c.Lookup(TbKey{0x1000, 0x2000, 0, 0}), nullptr);  // other physical page
}

TEST(TbCache, ChainsAreUndoneOnInvalidation) {
  TbCache c;
  TranslationBlock* a = Add(c, 0x1000, 8);
  TranslationBlock* b = Add(c, 0x1008, 8);
  TranslationBlock* d = Add(c, 0x3000, 8);
  c.Link(a, 0, b);
  c.Link(b, 1, a);
  c.Link(d, 0, b);
  EXPECT_EQ(a->next[0], b);
  EXPECT_EQ(b->incoming.size(), 2u);
  c.Invalidate(b);
  EXPECT_EQ(a->next[0], nullptr);
  EXPECT_EQ(d->next[0], nullptr);
  EXPECT_TRUE(a->incoming.empty());  // b's outgoing link to a is gone too
  EXPECT_EQ(c.Lookup(b->key), nullptr);
  c.Link(a, 0, b);  // linking to an invalid block is refused
  EXPECT_EQ(a->next[0], nullptr);
}

TEST(TbCache, RangeInvalidationIsByteExactAndCoversStraddlers) {
  TbCache c;
  TranslationBlock* a = Add(c, 0x1000, 0x10);
  TranslationBlock* b = Add(c, 0x1ff8, 0x10, 0x5000);  // continues on page 0x5000
  EXPECT_EQ(c.InvalidateRange(0x1010, 4), 0u);
  EXPECT_FALSE(a->invalid);
  EXPECT_EQ(c.InvalidateRange(0x5004, 1), 1u);
  EXPECT_TRUE(b->invalid);
  EXPECT_FALSE(c.IsCodePage(0x5000));
  EXPECT_EQ(c.InvalidateRange(0x100f, 1), 1u);
  EXPECT_TRUE(a->invalid);
  EXPECT_FALSE(c.IsCodePage(0x1000));
}

TEST(TbCache, FlushBumpsGenerationAndJumpCacheForgets) {
  TbCache c;
  JumpCache jc;
  TranslationBlock* a = Add(c, 0x1000, 8);
  jc.Put(a);
  EXPECT_EQ(jc.Find(0x1000, 0, 0, c.generation()), nullptr);  // first use syncs generation
  jc.Put(a);
  EXPECT_EQ(jc.Find(0x1000, 0, 0, c.generation()), a);
  EXPECT_EQ(jc.Find(0x1000, 0, 1, c.generation()), nullptr);
  c.Invalidate(a);
  EXPECT_EQ(jc.Find(0x1000, 0, 0, c.generation()), nullptr);
  TranslationBlock* b = Add(c, 0x2000, 8);
  jc.Put(b);
  c.FlushAll();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(jc.Find(0x2000, 0, 0, c.generation()), nullptr);
}

}  // namespace
}  // namespace emu::accel::tcg
