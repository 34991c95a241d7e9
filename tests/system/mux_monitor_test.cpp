// The mux escape keys and the HMP monitor, on in-memory chardevs.
#include <gtest/gtest.h>

#include <cstring>

#include "system/chardev.h"
#include "system/main_loop.h"
#include "system/monitor.h"

namespace emu::system {
namespace {

void Feed(hw::CharDev& dev, const std::string& s) {
  dev.Deliver(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

struct MuxFixture : ::testing::Test {
  MainLoop loop;
  hw::BufferCharDev* backend = nullptr;
  std::unique_ptr<MuxChardev> mux;
  hw::CharDev* serial = nullptr;
  hw::CharDev* second = nullptr;
  std::string serial_in, second_in;

  void SetUp() override {
    auto b = std::make_unique<hw::BufferCharDev>();
    backend = b.get();
    mux = std::make_unique<MuxChardev>(std::move(b), loop);
    serial = mux->AddFrontend();
    second = mux->AddFrontend();
    serial->SetFrontend({nullptr, [this](const uint8_t* d, size_t n) {
                           serial_in.append(reinterpret_cast<const char*>(d), n);
                         }});
    second->SetFrontend({nullptr, [this](const uint8_t* d, size_t n) {
                           second_in.append(reinterpret_cast<const char*>(d), n);
                         }});
  }
};

TEST_F(MuxFixture, PlainInputGoesToTheFirstFrontend) {
  Feed(*backend, "abc");
  EXPECT_EQ(serial_in, "abc");
  EXPECT_EQ(second_in, "");
}

TEST_F(MuxFixture, CtrlACtrlASendsOneCtrlA) {
  Feed(*backend, "a\x01\x01" "b");
  EXPECT_EQ(serial_in, "a\x01" "b");
  // Split across two reads.
  Feed(*backend, "\x01");
  Feed(*backend, "\x01");
  EXPECT_EQ(serial_in, "a\x01" "b\x01");
}

TEST_F(MuxFixture, CtrlAHPrintsHelp) {
  Feed(*backend, "\x01h");
  EXPECT_NE(backend->out.find("C-a x"), std::string::npos) << backend->out;
  EXPECT_NE(backend->out.find("C-a c"), std::string::npos);
  EXPECT_EQ(serial_in, "");
  EXPECT_FALSE(loop.exit_requested());
}

TEST_F(MuxFixture, CtrlAXRequestsExit) {
  Feed(*backend, "ab\x01x");
  EXPECT_EQ(serial_in, "ab");
  EXPECT_TRUE(loop.exit_requested());
  EXPECT_EQ(loop.exit_status(), 0);
  EXPECT_NE(backend->out.find("emu: terminated"), std::string::npos);
}

TEST_F(MuxFixture, CtrlACSwitchesFocus) {
  std::vector<std::string> events;
  dynamic_cast<MuxFrontend*>(second)->SetFocusHandler(
      [&](bool f) { events.push_back(f ? "in" : "out"); });
  Feed(*backend, "1\x01" "c2");
  EXPECT_EQ(serial_in, "1");
  EXPECT_EQ(second_in, "2");
  EXPECT_EQ(mux->focus(), 1);
  Feed(*backend, "\x01" "c3");
  EXPECT_EQ(serial_in, "13");
  EXPECT_EQ(events, (std::vector<std::string>{"in", "out"}));
}

TEST_F(MuxFixture, OutputOfAllFrontendsReachesTheBackend) {
  serial->WriteString("guest ");
  second->WriteString("monitor");
  EXPECT_EQ(backend->out, "guest monitor");
}

struct MonitorFixture : ::testing::Test {
  hw::BufferCharDev chr;
  int quits = 0, resets = 0, stops = 0, conts = 0;
  MonitorHooks Hooks() {
    MonitorHooks h;
    h.quit = [this] { quits++; };
    h.system_reset = [this] { resets++; };
    h.stop = [this] { stops++; };
    h.cont = [this] { conts++; };
    h.status = [] { return std::string("running"); };
    h.info_registers = [] { return std::string("RAX=0000000000000000\n"); };
    h.info_cpus = [] { return std::string("* CPU #0: pc=0x00000000000ffff0\n"); };
    return h;
  }
};

TEST_F(MonitorFixture, BannerAndPrompt) {
  Monitor mon(chr, Hooks());
  mon.Start();
  EXPECT_NE(chr.out.find("monitor - type 'help'"), std::string::npos);
  EXPECT_EQ(chr.out.substr(chr.out.size() - 6), "(emu) ");
}

TEST_F(MonitorFixture, Commands) {
  Monitor mon(chr, Hooks());
  mon.Start();
  auto run = [&](const std::string& line) {
    chr.out.clear();
    Feed(chr, line + "\r");
    return chr.out;
  };
  std::string out = run("help");
  for (const char* c : {"quit", "info status", "info version", "system_reset", "stop", "cont",
                        "info registers", "info cpus"})
    EXPECT_NE(out.find(c), std::string::npos) << c;
  EXPECT_NE(run("info version").find("0.1.0\r\n"), std::string::npos);
  EXPECT_NE(run("info status").find("VM status: running"), std::string::npos);
  EXPECT_NE(run("info registers").find("RAX=0000000000000000\r\n"), std::string::npos);
  EXPECT_NE(run("info cpus").find("* CPU #0: pc=0x00000000000ffff0\r\n"), std::string::npos);
  EXPECT_NE(run("bogus arg").find("unknown command: 'bogus'"), std::string::npos);
  EXPECT_NE(run("info bogus").find("unknown info command: 'bogus'"), std::string::npos);
  run("system_reset");
  run("stop");
  run("cont");
  run("c");
  run("q");
  EXPECT_EQ(run("quit").find("(emu) "), std::string::npos);  // no prompt after quit
  EXPECT_EQ(resets, 1);
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(conts, 2);
  EXPECT_EQ(quits, 2);
  // Every command ends with a fresh prompt.
  EXPECT_EQ(run("").substr(0, 2), "\r\n");
  EXPECT_NE(chr.out.find("(emu) "), std::string::npos);
}

TEST_F(MonitorFixture, LineEditing) {
  Monitor mon(chr, Hooks());
  mon.Start();
  chr.out.clear();
  // A typo fixed with backspace, an arrow key ignored, CR LF counted once.
  Feed(chr, "infx\x7fo st\x1b[Aatus\r\n");
  EXPECT_NE(chr.out.find("VM status: running"), std::string::npos) << chr.out;
  EXPECT_NE(chr.out.find("\b \b"), std::string::npos);  // the erase is echoed
  size_t prompts = 0;
  for (size_t p = chr.out.find("(emu) "); p != std::string::npos; p = chr.out.find("(emu) ", p + 1))
    prompts++;
  EXPECT_EQ(prompts, 1u);
}

TEST_F(MonitorFixture, PhysicalMemoryDump) {
  uint8_t ram[64];
  for (int i = 0; i < 64; i++) ram[i] = uint8_t(i);
  MonitorHooks h = Hooks();
  h.read_physical = [&](uint64_t addr, void* buf, size_t len) {
    if (addr > sizeof ram || len > sizeof ram - addr) return false;
    std::memcpy(buf, ram + addr, len);
    return true;
  };
  Monitor mon(chr, h);
  auto run = [&](const std::string& line) {
    chr.out.clear();
    mon.Execute(line);
    return chr.out;
  };
  EXPECT_EQ(run("xp 0x4"), "0000000000000004: 0x07060504\r\n");
  EXPECT_EQ(run("xp /2xg 8"), "0000000000000008: 0x0f0e0d0c0b0a0908 0x1716151413121110\r\n");
  EXPECT_EQ(run("xp /3ub 0x3d"), "000000000000003d: 61 62 63\r\n");
  EXPECT_EQ(run("xp /5xw 0"),
            "0000000000000000: 0x03020100 0x07060504 0x0b0a0908 0x0f0e0d0c\r\n"
            "0000000000000010: 0x13121110\r\n");
  EXPECT_NE(run("xp /4xw 0x3e").find("cannot read 16 bytes at 0x3e"), std::string::npos);
  EXPECT_NE(run("xp /4q 0").find("invalid format character 'q'"), std::string::npos);
  EXPECT_NE(run("xp /99999999xg 0").find("count must be between"), std::string::npos);
  EXPECT_NE(run("xp").find("usage: xp"), std::string::npos);
  EXPECT_NE(run("xp zz").find("usage: xp"), std::string::npos);
}

TEST_F(MonitorFixture, MissingHooksSayUnimplemented) {
  Monitor mon(chr, MonitorHooks{});
  Feed(chr, "info registers\rsystem_reset\rxp 0\rsystem_powerdown\r");
  EXPECT_NE(chr.out.find("unimplemented: xp"), std::string::npos);
  EXPECT_NE(chr.out.find("unimplemented: system_powerdown"), std::string::npos);
  EXPECT_NE(chr.out.find("unimplemented: info registers"), std::string::npos);
  EXPECT_NE(chr.out.find("unimplemented: system_reset"), std::string::npos);
}

TEST_F(MuxFixture, MonitorOnMuxShowsBannerWhenFocused) {
  // Re-attach the second front end to a monitor.
  int quits = 0;
  MonitorHooks hooks;
  hooks.quit = [&] { quits++; };
  Monitor mon(*second, hooks);
  mon.Start();
  EXPECT_EQ(backend->out.find("monitor"), std::string::npos);  // serial has the focus
  Feed(*backend, "\x01" "c");
  EXPECT_NE(backend->out.find("monitor - type 'help'"), std::string::npos);
  Feed(*backend, "quit\r");
  EXPECT_EQ(quits, 1);
  Feed(*backend, "\x01" "cboot\r");
  EXPECT_EQ(serial_in, "boot\r");
  EXPECT_EQ(quits, 1);
}

// Random bytes through a mux into a serial front end and the monitor: nothing
// crashes, and everything the monitor prints stays bounded.
TEST_F(MuxFixture, RandomInputIsHarmless) {
  MonitorHooks hooks;
  hooks.quit = [] {};
  hooks.read_physical = [](uint64_t, void* buf, size_t len) {
    std::memset(buf, 0xab, len);
    return true;
  };
  Monitor mon(*second, hooks);
  mon.Start();
  uint64_t seed = 99;
  for (int iter = 0; iter < 2000; iter++) {
    std::string chunk;
    for (int i = 0; i < 16; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      uint8_t b = uint8_t(seed >> 56);
      // Bias toward the interesting keys: Ctrl-a, 'c', CR, letters of commands.
      static const char keys[] = "\x01\x01" "cxh\r\rxp /4xg 0x10 info help ";
      if (b & 1) b = uint8_t(keys[(b >> 1) % (sizeof keys - 1)]);
      chunk += char(b);
    }
    Feed(*backend, chunk);
    backend->out.clear();
  }
  SUCCEED();
}

}  // namespace
}  // namespace emu::system
