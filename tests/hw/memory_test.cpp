#include "hw/core/memory.h"

#include <gtest/gtest.h>

#include <vector>

namespace emu::hw {
namespace {

struct Log {
  std::vector<std::tuple<char, uint64_t, uint64_t, unsigned>> ops;
};

MmioOps Recorder(Log* log, unsigned min, unsigned max, uint64_t read_value = 0x1122334455667788) {
  MmioOps ops;
  ops.min_size = min;
  ops.max_size = max;
  ops.read = [=](uint64_t off, unsigned size) {
    log->ops.emplace_back('r', off, 0, size);
    return read_value >> (8 * (off % 8));
  };
  ops.write = [=](uint64_t off, uint64_t v, unsigned size) { log->ops.emplace_back('w', off, v, size); };
  return ops;
}

TEST(Memory, RamReadWriteAndUnassigned) {
  auto root = MemoryRegion::Container("root", 1ull << 32);
  auto ram = MemoryRegion::Ram("ram", 0x10000);
  root->AddSubregion(0, ram.get());
  AddressSpace as("mem", root.get());
  EXPECT_EQ(as.WriteN(0x100, 0xdeadbeef, 4), MemResult::kOk);
  EXPECT_EQ(as.ReadN(0x100, 4), 0xdeadbeefu);
  EXPECT_EQ(ram->host()[0x100], 0xef);
  MemResult r;
  EXPECT_EQ(as.ReadN(0x20000, 2, &r), 0xffffu);
  EXPECT_EQ(r, MemResult::kUnassigned);
  // A read straddling the end of RAM: RAM part real, the rest 0xff.
  ram->host()[0xffff] = 0x42;
  EXPECT_EQ(as.ReadN(0xffff, 2), 0xff42u);
}

TEST(Memory, PriorityOverlapAndRejectAmbiguous) {
  auto root = MemoryRegion::Container("root", 1 << 20);
  auto low = MemoryRegion::Ram("low", 0x1000);
  auto high = MemoryRegion::Ram("high", 0x100);
  root->AddSubregion(0, low.get(), 0);
  root->AddSubregion(0x800, high.get(), 1);
  AddressSpace as("mem", root.get());
  const auto& v = as.view();
  ASSERT_EQ(v.ranges.size(), 3u);
  EXPECT_EQ(v.ranges[0].region, low.get());
  EXPECT_EQ(v.ranges[0].size, 0x800u);
  EXPECT_EQ(v.ranges[1].region, high.get());
  EXPECT_EQ(v.ranges[2].region, low.get());
  EXPECT_EQ(v.ranges[2].start, 0x900u);
  EXPECT_EQ(v.ranges[2].offset, 0x900u);
  auto clash = MemoryRegion::Ram("clash", 0x10);
  EXPECT_THROW(root->AddSubregion(0x10, clash.get(), 0), std::logic_error);
  // Disabling the high region uncovers the low one again.
  high->SetEnabled(false);
  EXPECT_EQ(as.view().ranges.size(), 1u);
}

TEST(Memory, AliasSeesTarget) {
  auto root = MemoryRegion::Container("root", 1 << 20);
  auto ram = MemoryRegion::Ram("ram", 0x4000);
  auto alias = MemoryRegion::Alias("alias", ram.get(), 0x1000, 0x1000);
  root->AddSubregion(0, ram.get());
  root->AddSubregion(0x10000, alias.get());
  AddressSpace as("mem", root.get());
  as.WriteN(0x1004, 0x55aa, 2);
  EXPECT_EQ(as.ReadN(0x10004, 2), 0x55aau);
  as.WriteN(0x10ff0, 7, 1);
  EXPECT_EQ(ram->host()[0x1ff0], 7);
}

TEST(Memory, MmioSplitsWideAccesses) {
  Log log;
  auto root = MemoryRegion::Container("root", 1 << 20);
  auto dev = MemoryRegion::Mmio("dev", 0x100, Recorder(&log, 1, 2));
  root->AddSubregion(0x1000, dev.get());
  AddressSpace as("mem", root.get());
  as.WriteN(0x1010, 0xaabbccdd, 4);
  ASSERT_EQ(log.ops.size(), 2u);
  EXPECT_EQ(log.ops[0], std::make_tuple('w', uint64_t(0x10), uint64_t(0xccdd), 2u));
  EXPECT_EQ(log.ops[1], std::make_tuple('w', uint64_t(0x12), uint64_t(0xaabb), 2u));
}

TEST(Memory, MmioWidensNarrowAccesses) {
  Log log;
  auto root = MemoryRegion::Container("root", 1 << 20);
  auto dev = MemoryRegion::Mmio("dev", 0x100, Recorder(&log, 4, 4, 0x11223344));
  root->AddSubregion(0, dev.get());
  AddressSpace as("mem", root.get());
  EXPECT_EQ(as.ReadN(0x2, 1), 0x22u);
  ASSERT_EQ(log.ops.size(), 1u);
  EXPECT_EQ(std::get<1>(log.ops[0]), 0u);
  EXPECT_EQ(std::get<3>(log.ops[0]), 4u);
  log.ops.clear();
  // Narrow write = read-modify-write of the whole register.
  as.WriteN(0x1, 0xff, 1);
  ASSERT_EQ(log.ops.size(), 2u);
  EXPECT_EQ(std::get<0>(log.ops[1]), 'w');
  EXPECT_EQ(std::get<2>(log.ops[1]), 0x1122ff44u);
}

TEST(Memory, PortSpaceIsAnAddressSpace) {
  Log log;
  auto io = MemoryRegion::Container("io", 0x10000);
  auto port = MemoryRegion::Mmio("port", 8, Recorder(&log, 1, 1));
  io->AddSubregion(0x3f8, port.get());
  AddressSpace as("io", io.get());
  as.WriteN(0x3f9, 0x1234, 2);  // outw splits into two byte writes
  ASSERT_EQ(log.ops.size(), 2u);
  EXPECT_EQ(std::get<1>(log.ops[0]), 1u);
  EXPECT_EQ(std::get<1>(log.ops[1]), 2u);
}

TEST(Memory, ListenerSeesRebuild) {
  auto root = MemoryRegion::Container("root", 1 << 20);
  auto ram = MemoryRegion::Ram("ram", 0x1000);
  AddressSpace as("mem", root.get());
  int calls = 0;
  size_t last = 0;
  as.AddListener([&](const FlatView& v) {
    calls++;
    last = v.ranges.size();
  });
  root->AddSubregion(0, ram.get());
  as.view();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last, 1u);
  ram->SetOffset(0x4000);
  EXPECT_EQ(as.view().ranges[0].start, 0x4000u);
}

}  // namespace
}  // namespace emu::hw
