#include "hw/i386/e820.h"

#include <gtest/gtest.h>

namespace emu::hw {
namespace {

constexpr uint64_t MiB = 1ull << 20, GiB = 1ull << 30;

TEST(E820, Small128M) {
  E820Map m = BuildPcE820(128 * MiB);
  std::vector<E820Entry> want = {
      {0, 0x9fc00, kE820Ram},
      {0x9fc00, 0x400, kE820Reserved},
      {0xf0000, 0x10000, kE820Reserved},
      {0x100000, 127 * MiB, kE820Ram},
  };
  EXPECT_EQ(m.entries(), want);
  EXPECT_EQ(m.RamEndFrom(0x100000), 128 * MiB);
  EXPECT_EQ(m.RamEndFrom(0xa0000), 0u);
}

TEST(E820, AcpiAreaAtTopOfLowRam) {
  E820Map m = BuildPcE820(128 * MiB, 64 * 1024);
  ASSERT_EQ(m.entries().size(), 5u);
  EXPECT_EQ(m.entries()[3], (E820Entry{0x100000, 127 * MiB - 0x10000, kE820Ram}));
  EXPECT_EQ(m.entries()[4], (E820Entry{128 * MiB - 0x10000, 0x10000, kE820Acpi}));
  EXPECT_EQ(AcpiRamArea(128 * MiB, 64 * 1024), 128 * MiB - 0x10000);
}

TEST(E820, ThreeAndAHalfGigSplitsAt3G) {
  PcRamLayout l = PcRamLayout::For(3584 * MiB);
  EXPECT_EQ(l.below_4g, 3 * GiB);
  EXPECT_EQ(l.above_4g, 512 * MiB);
  E820Map m = BuildPcE820(3584 * MiB);
  ASSERT_EQ(m.entries().size(), 5u);
  EXPECT_EQ(m.entries()[3], (E820Entry{0x100000, 3 * GiB - MiB, kE820Ram}));
  EXPECT_EQ(m.entries()[4], (E820Entry{4 * GiB, 512 * MiB, kE820Ram}));
  // Just below the threshold everything stays low, up to the 3.5 GiB hole.
  PcRamLayout below = PcRamLayout::For(3584 * MiB - 1 * MiB);
  EXPECT_EQ(below.below_4g, 3583 * MiB);
  EXPECT_EQ(below.above_4g, 0u);
}

TEST(E820, EightGig) {
  E820Map m = BuildPcE820(8 * GiB);
  ASSERT_EQ(m.entries().size(), 5u);
  EXPECT_EQ(m.entries()[3].addr + m.entries()[3].size, 3 * GiB);
  EXPECT_EQ(m.entries()[4], (E820Entry{4 * GiB, 5 * GiB, kE820Ram}));
  uint64_t ram = 0;
  for (const auto& e : m.entries())
    if (e.type == kE820Ram) ram += e.size;
  EXPECT_EQ(ram, 8 * GiB - 0x400 - 0x60000);  // EBDA and 0xa0000-0xfffff are holes
}

TEST(E820, SerializedLayout) {
  E820Map m = BuildPcE820(8 * GiB);
  auto b = m.Serialize();
  ASSERT_EQ(b.size(), 5u * 20);
  const uint8_t* e = b.data() + 4 * 20;
  uint64_t addr = 0, size = 0;
  for (int i = 0; i < 8; i++) addr |= uint64_t(e[i]) << (8 * i);
  for (int i = 0; i < 8; i++) size |= uint64_t(e[8 + i]) << (8 * i);
  EXPECT_EQ(addr, 4 * GiB);
  EXPECT_EQ(size, 5 * GiB);
  EXPECT_EQ(e[16], kE820Ram);
  EXPECT_EQ(b[20 + 16], kE820Reserved);
}

TEST(E820, SetSplitsAndMerges) {
  E820Map m;
  m.Set(0, 0x10000, kE820Ram);
  m.Set(0x4000, 0x1000, kE820Reserved);
  ASSERT_EQ(m.entries().size(), 3u);
  m.Set(0x4000, 0x1000, kE820Ram);
  ASSERT_EQ(m.entries().size(), 1u);
  EXPECT_THROW(BuildPcE820(1 * MiB), std::invalid_argument);
}

}  // namespace
}  // namespace emu::hw
