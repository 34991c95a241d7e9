#include "hw/nvram/fw_cfg.h"

#include "hw/i386/fw_cfg_setup.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace emu::hw {
namespace {

struct Rig {
  std::unique_ptr<MemoryRegion> mem_root = MemoryRegion::Container("mem", 1ull << 32);
  std::unique_ptr<MemoryRegion> ram = MemoryRegion::Ram("ram", 1 << 20);
  std::unique_ptr<MemoryRegion> io_root = MemoryRegion::Container("io", 0x10000);
  AddressSpace mem{"mem", mem_root.get()};
  AddressSpace io{"io", io_root.get()};
  FwCfg fw{&mem};
  Rig() {
    mem_root->AddSubregion(0, ram.get());
    fw.MapPorts(io_root.get());
  }
  void Select(uint16_t key) { io.WriteN(0x510, key, 2); }
  std::vector<uint8_t> ReadPort(size_t n) {
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = uint8_t(io.ReadN(0x511, 1));
    return out;
  }
  // The guest side of a DMA transfer, as firmware issues it.
  uint32_t Dma(uint64_t desc, uint32_t control, uint32_t len, uint64_t addr) {
    uint8_t d[16];
    auto be32 = [](uint8_t* p, uint32_t v) {
      for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (24 - 8 * i));
    };
    be32(d, control);
    be32(d + 4, len);
    be32(d + 8, uint32_t(addr >> 32));
    be32(d + 12, uint32_t(addr));
    mem.Write(desc, d, 16);
    auto bswap = [](uint32_t v) { return __builtin_bswap32(v); };
    io.WriteN(0x514, bswap(uint32_t(desc >> 32)), 4);
    io.WriteN(0x518, bswap(uint32_t(desc)), 4);
    return bswap(uint32_t(mem.ReadN(desc, 4)));
  }
};

uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

TEST(FwCfg, SignatureAndIdThroughPorts) {
  Rig r;
  r.Select(kFwCfgSignature);
  auto sig = r.ReadPort(4);
  EXPECT_EQ(std::string(sig.begin(), sig.end()), "QEMU");
  r.Select(kFwCfgId);
  auto id = r.ReadPort(4);
  EXPECT_EQ(id[0], kFwCfgFeatureTraditional | kFwCfgFeatureDma);
  // Past the end of an item the data port reads 0.
  EXPECT_EQ(r.ReadPort(2), std::vector<uint8_t>({0, 0}));
  // Re-selecting rewinds.
  r.Select(kFwCfgSignature);
  EXPECT_EQ(r.ReadPort(1)[0], 'Q');
  // The DMA register reads "QEMU CFG" big-endian.
  uint64_t hi = r.io.ReadN(0x514, 4), lo = r.io.ReadN(0x518, 4);
  EXPECT_EQ(__builtin_bswap32(uint32_t(hi)), 0x51454d55u);
  EXPECT_EQ(__builtin_bswap32(uint32_t(lo)), 0x20434647u);
}

TEST(FwCfg, IntegersAreLittleEndian) {
  Rig r;
  r.fw.SetU64(kFwCfgRamSize, 0x123456789ull);
  r.fw.SetU16(kFwCfgNbCpus, 4);
  r.Select(kFwCfgRamSize);
  EXPECT_EQ(r.ReadPort(8), std::vector<uint8_t>({0x89, 0x67, 0x45, 0x23, 1, 0, 0, 0}));
  r.Select(kFwCfgNbCpus);
  EXPECT_EQ(r.ReadPort(2), std::vector<uint8_t>({4, 0}));
}

TEST(FwCfg, DirectorySortedAndFileReadThroughDataPort) {
  Rig r;
  uint16_t k1 = r.fw.AddFile("etc/zeta", {1, 2, 3});
  uint16_t k2 = r.fw.AddFile("bootorder", {'/', 'x', '\n'});
  uint16_t k3 = r.fw.AddFile("etc/e820", std::vector<uint8_t>(40, 7));
  EXPECT_EQ(k1, kFwCfgFileFirst);
  EXPECT_THROW(r.fw.AddFile("bootorder", {}), std::logic_error);
  EXPECT_THROW(r.fw.AddFile(std::string(56, 'a'), {}), std::logic_error);
  r.Select(kFwCfgFileDir);
  auto cnt = r.ReadPort(4);
  ASSERT_EQ(Be32(cnt.data()), 3u);
  std::vector<std::string> names;
  std::vector<uint16_t> keys;
  std::vector<uint32_t> sizes;
  for (int i = 0; i < 3; i++) {
    auto e = r.ReadPort(64);
    sizes.push_back(Be32(e.data()));
    keys.push_back(uint16_t(e[4] << 8 | e[5]));
    names.emplace_back(reinterpret_cast<const char*>(e.data() + 8));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"bootorder", "etc/e820", "etc/zeta"}));
  EXPECT_EQ(keys, (std::vector<uint16_t>{k2, k3, k1}));
  EXPECT_EQ(sizes, (std::vector<uint32_t>{3, 40, 3}));
  r.Select(k3);
  EXPECT_EQ(r.ReadPort(41).back(), 0);  // 40 sevens, then 0
  r.Select(k1);
  EXPECT_EQ(r.ReadPort(3), std::vector<uint8_t>({1, 2, 3}));
  // Replacing a file updates the directory's size.
  r.fw.SetFile("etc/zeta", {9});
  r.Select(kFwCfgFileDir);
  auto all = r.ReadPort(4 + 3 * 64);
  EXPECT_EQ(Be32(all.data() + 4 + 2 * 64), 1u);
}

TEST(FwCfg, DmaReadSelectSkipAndErrors) {
  Rig r;
  std::vector<uint8_t> data(300);
  for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(i * 3);
  uint16_t key = r.fw.AddFile("etc/table-loader", data);
  const uint64_t desc = 0x1000, buf = 0x2000;
  // Select + read 100 bytes.
  EXPECT_EQ(r.Dma(desc, uint32_t(key) << 16 | kFwCfgDmaSelect | kFwCfgDmaRead, 100, buf), 0u);
  EXPECT_EQ(std::memcmp(r.ram->host() + buf, data.data(), 100), 0);
  // Skip 50, then read the next 10: bytes 150..159.
  EXPECT_EQ(r.Dma(desc, kFwCfgDmaSkip, 50, 0), 0u);
  EXPECT_EQ(r.Dma(desc, kFwCfgDmaRead, 10, buf), 0u);
  EXPECT_EQ(std::memcmp(r.ram->host() + buf, data.data() + 150, 10), 0);
  // Reading across the end: the rest of the buffer becomes zero.
  std::memset(r.ram->host() + buf, 0xee, 200);
  EXPECT_EQ(r.Dma(desc, kFwCfgDmaRead, 200, buf), 0u);
  EXPECT_EQ(r.ram->host()[buf + 139], data[299]);
  EXPECT_EQ(r.ram->host()[buf + 140], 0);
  EXPECT_EQ(r.ram->host()[buf + 199], 0);
  // The port interface shares the offset: the item is exhausted.
  EXPECT_EQ(r.ReadPort(1)[0], 0);
  // A buffer outside RAM, and one that wraps the address space, set the error bit.
  EXPECT_EQ(r.Dma(desc, uint32_t(key) << 16 | kFwCfgDmaSelect | kFwCfgDmaRead, 16,
                  0x80000000ull),
            kFwCfgDmaError);
  EXPECT_EQ(r.Dma(desc, kFwCfgDmaRead, 0x1000, ~0ull - 0x10), kFwCfgDmaError);
  // Straddling the end of RAM is refused too.
  EXPECT_EQ(r.Dma(desc, kFwCfgDmaRead, 0x20, (1 << 20) - 0x10), kFwCfgDmaError);
  // Writes to a read-only item are refused.
  EXPECT_EQ(r.Dma(desc, uint32_t(key) << 16 | kFwCfgDmaSelect | kFwCfgDmaWrite, 4, buf),
            kFwCfgDmaError);
  // A descriptor outside RAM is ignored without crashing.
  r.Dma(0xfffffff0ull, kFwCfgDmaRead, 4, buf);
}

TEST(FwCfg, DmaWriteToWritableFile) {
  Rig r;
  uint16_t key = r.fw.AddFile("etc/writable", std::vector<uint8_t>(8, 0));
  r.fw.SetFileWritable("etc/writable", true);
  std::memcpy(r.ram->host() + 0x3000, "abcdefgh", 8);
  EXPECT_EQ(r.Dma(0x1000, uint32_t(key) << 16 | kFwCfgDmaSelect | kFwCfgDmaWrite, 8, 0x3000), 0u);
  EXPECT_EQ(std::string(r.fw.File("etc/writable")->begin(), r.fw.File("etc/writable")->end()),
            "abcdefgh");
  // Writing beyond the item's size is an error, not a resize.
  EXPECT_EQ(r.Dma(0x1000, uint32_t(key) << 16 | kFwCfgDmaSelect | kFwCfgDmaWrite, 9, 0x3000),
            kFwCfgDmaError);
}

TEST(FwCfg, SaveLoadKeepsTheReadPosition) {
  Rig r;
  r.Select(kFwCfgSignature);
  r.ReadPort(2);
  StateWriter w;
  r.fw.SaveState(w);
  Rig r2;
  StateReader rd(w.data());
  r2.fw.LoadState(rd);
  EXPECT_EQ(r2.ReadPort(2), std::vector<uint8_t>({'M', 'U'}));
}

TEST(FwCfg, PcSetupOffersWhatSeaBiosReads) {
  Rig r;
  PcFwCfgConfig c;
  c.ram_size = 8ull << 30;
  c.cpus = 2;
  c.boot_fail_wait_ms = 1000;
  c.bootorder = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
  SetupPcFwCfg(r.fw, c);
  r.Select(kFwCfgRamSize);
  auto ram = r.ReadPort(8);
  EXPECT_EQ(ram[4], 2);  // 8 GiB = 0x2_0000_0000
  r.Select(kFwCfgNbCpus);
  EXPECT_EQ(r.ReadPort(2)[0], 2);
  for (const char* f : {"etc/e820", "etc/acpi/tables", "etc/acpi/rsdp", "etc/table-loader",
                        "etc/boot-fail-wait", "bootorder", "etc/boot-cpus"})
    EXPECT_TRUE(r.fw.HasFile(f)) << f;
  // RAM below 3 GiB and above 4 GiB are both in etc/e820.
  const auto* e820 = r.fw.File("etc/e820");
  ASSERT_EQ(e820->size() % 20, 0u);
  bool high = false;
  for (size_t i = 0; i < e820->size(); i += 20)
    if ((*e820)[i + 4] == 1 && (*e820)[i + 16] == 1) high = true;  // addr 4 GiB, RAM
  EXPECT_TRUE(high);
  EXPECT_EQ(r.fw.File("etc/acpi/rsdp")->size(), 36u);
  EXPECT_EQ(r.fw.File("etc/table-loader")->size() % 128, 0u);
  EXPECT_EQ((*r.fw.File("etc/boot-fail-wait"))[0], 1000 & 0xff);
}

}  // namespace
}  // namespace emu::hw
