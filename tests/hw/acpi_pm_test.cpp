#include "hw/i386/acpi_pm.h"

#include <gtest/gtest.h>

namespace emu::hw {
namespace {

struct FakeMachine : MachineControl {
  std::vector<int> exits;
  int resets = 0;
  void RequestExit(int status) override { exits.push_back(status); }
  void RequestReset() override { resets++; }
};

struct Rig {
  Clock clock{Clock::Type::kVirtual, true};
  IrqLine sci;
  FakeMachine machine;
  std::unique_ptr<MemoryRegion> io_root = MemoryRegion::Container("io", 0x10000);
  AddressSpace io{"io", io_root.get()};
  AcpiPm pm{&clock, &sci, &machine};
  Rig() { pm.MapPorts(io_root.get()); }
  uint32_t Timer() { return uint32_t(io.ReadN(0x608, 4)); }
};

TEST(AcpiPm, TimerRunsAt3579545HzAndWrapsAt24Bits) {
  Rig r;
  EXPECT_EQ(r.Timer(), 0u);
  r.clock.Step(kNsPerSec);
  EXPECT_EQ(r.Timer(), 3579545u);
  r.clock.Step(kNsPerSec / 1000);  // 1 ms more: 3579.545 ticks
  EXPECT_EQ(r.Timer(), 3579545u + 3579u);
  // 2^24 ticks take 4.687 s: at 5 s the counter has wrapped once.
  r.clock.Set(5 * kNsPerSec);
  EXPECT_EQ(r.Timer(), uint32_t((5ull * 3579545) & 0xffffff));
  EXPECT_LT(r.Timer(), 1u << 24);
  // Far in the future the computation neither overflows nor leaves 24 bits.
  r.clock.Set(int64_t(1) << 62);
  uint64_t want = uint64_t((unsigned __int128)(uint64_t(1) << 62) * 3579545 / kNsPerSec) & 0xffffff;
  EXPECT_EQ(r.Timer(), want);
  // Byte reads see the same counter.
  EXPECT_EQ(r.io.ReadN(0x609, 1), (want >> 8) & 0xff);
}

TEST(AcpiPm, TimerOverflowRaisesSciWhenEnabled) {
  Rig r;
  r.io.WriteN(0x602, kPm1TmrSts, 2);  // TMR_EN
  EXPECT_FALSE(r.sci.level());
  // Bit 23 toggles after 2^23 ticks = 2.3435 s.
  r.clock.Set(2343 * kNsPerSec / 1000);
  r.clock.RunExpired();
  EXPECT_FALSE(r.sci.level());
  r.clock.Set(2344 * kNsPerSec / 1000);
  EXPECT_EQ(r.clock.RunExpired(), 1);
  EXPECT_TRUE(r.sci.level());
  EXPECT_TRUE(r.io.ReadN(0x600, 2) & kPm1TmrSts);
  r.io.WriteN(0x600, kPm1TmrSts, 2);  // write 1 to clear
  EXPECT_FALSE(r.io.ReadN(0x600, 2) & kPm1TmrSts);
  EXPECT_FALSE(r.sci.level());
}

TEST(AcpiPm, PowerButtonSci) {
  Rig r;
  r.pm.PressPowerButton();
  EXPECT_FALSE(r.sci.level());  // not enabled
  r.io.WriteN(0x602, kPm1PwrBtnSts, 2);
  EXPECT_TRUE(r.sci.level());
  r.io.WriteN(0x601, kPm1PwrBtnSts >> 8, 1);  // byte write clears the high byte's bit
  EXPECT_FALSE(r.sci.level());
  EXPECT_EQ(r.io.ReadN(0x604, 2) & kPm1SciEn, kPm1SciEn);
}

TEST(AcpiPm, S5PowersOff) {
  Rig r;
  // Linux: read PM1_CNT, set SLP_TYP, write, then write again with SLP_EN.
  uint16_t cnt = uint16_t(r.io.ReadN(0x604, 2));
  cnt = uint16_t((cnt & ~(7 << 10)) | (kSlpTypS5 << 10));
  r.io.WriteN(0x604, cnt, 2);
  EXPECT_TRUE(r.machine.exits.empty());
  r.io.WriteN(0x604, cnt | kPm1SlpEn, 2);
  ASSERT_EQ(r.machine.exits.size(), 1u);
  EXPECT_EQ(r.machine.exits[0], 0);
  EXPECT_EQ(r.io.ReadN(0x604, 2) & kPm1SlpEn, 0u);  // write-only bit
  // Another sleep type does not power off.
  r.io.WriteN(0x604, (1 << 10) | kPm1SlpEn | kPm1SciEn, 2);
  EXPECT_EQ(r.machine.exits.size(), 1u);
}

TEST(AcpiPm, ResetControl) {
  Rig r;
  r.io.WriteN(0xcf9, 0x02, 1);
  EXPECT_EQ(r.machine.resets, 0);
  r.io.WriteN(0xcf9, 0x06, 1);
  EXPECT_EQ(r.machine.resets, 1);
  r.io.WriteN(0xcf9, 0x0e, 1);
  EXPECT_EQ(r.machine.resets, 2);
  EXPECT_EQ(r.io.ReadN(0xcf9, 1), 0x0au);  // RST_CPU reads back as 0
}

TEST(AcpiPm, GpeBlock) {
  Rig r;
  r.pm.SetGpeStatus(1 << 1);
  EXPECT_FALSE(r.sci.level());
  r.io.WriteN(0x60e, 1 << 1, 2);
  EXPECT_TRUE(r.sci.level());
  EXPECT_EQ(r.io.ReadN(0x60c, 2), 2u);
  r.io.WriteN(0x60c, 2, 2);
  EXPECT_FALSE(r.sci.level());
}

TEST(AcpiPm, SaveLoadRoundTrip) {
  Rig r;
  r.io.WriteN(0x602, kPm1PwrBtnSts, 2);
  r.pm.PressPowerButton();
  StateWriter w;
  r.pm.SaveState(w);
  Rig r2;
  StateReader rd(w.data());
  r2.pm.LoadState(rd);
  EXPECT_TRUE(r2.sci.level());
  EXPECT_EQ(r2.io.ReadN(0x602, 2), kPm1PwrBtnSts);
}

}  // namespace
}  // namespace emu::hw
