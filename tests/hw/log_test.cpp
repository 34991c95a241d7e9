// The -d/-D log facility: mask checks, whole-line writes from many threads, item
// names, one-time warnings.
#include "hw/core/log.h"

#include <gtest/gtest.h>

#include "hw/intc/i8259.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818.h"
#include "tests/hw/isa_fixture.h"

#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace emu::hw {
namespace {

std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { f_ = std::tmpfile(); ASSERT_NE(f_, nullptr); }
  void TearDown() override {
    SetLog(0, nullptr);
    if (f_) std::fclose(f_);
  }
  std::FILE* f_ = nullptr;
};

TEST_F(LogTest, OnlyEnabledItemsAreWrittenOneLineEach) {
  SetLog(static_cast<uint32_t>(LogMask::kGuestErrors), f_);
  EXPECT_TRUE(LogEnabled(LogMask::kGuestErrors));
  EXPECT_FALSE(LogEnabled(LogMask::kUnimp));
  Log(LogMask::kGuestErrors, "port 0x%x: %s", 0x1234, "bad");
  Log(LogMask::kUnimp, "not shown %d", 1);
  Log(LogMask::kGuestErrors, "already ends\n");
  LogText(LogMask::kGuestErrors, "text block");
  LogText(LogMask::kMmu, "hidden");
  EXPECT_EQ(Contents(f_), "port 0x1234: bad\nalready ends\ntext block\n");
}

TEST_F(LogTest, LongLinesAreNotTruncated) {
  SetLog(static_cast<uint32_t>(LogMask::kMmu), f_);
  std::string big(5000, 'x');
  Log(LogMask::kMmu, "<%s>", big.c_str());
  EXPECT_EQ(Contents(f_), "<" + big + ">\n");
}

TEST_F(LogTest, OffMeansNothingWrittenAndMaskReadBack) {
  SetLog(0, f_);
  for (const LogItem& it : LogItems()) Log(it.mask, "%s", it.name);
  EXPECT_EQ(Contents(f_), "");
  SetLog(static_cast<uint32_t>(LogMask::kOp) | static_cast<uint32_t>(LogMask::kInt), f_);
  EXPECT_EQ(LogMaskBits(), static_cast<uint32_t>(LogMask::kOp) | static_cast<uint32_t>(LogMask::kInt));
  EXPECT_EQ(LogStream(), f_);
  SetLog(0, nullptr);
  EXPECT_EQ(LogStream(), stderr);
}

TEST_F(LogTest, LinesFromManyThreadsStayWhole) {
  SetLog(static_cast<uint32_t>(LogMask::kGuestErrors), f_);
  const int kThreads = 4, kLines = 500;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([t] {
      for (int i = 0; i < kLines; i++)
        Log(LogMask::kGuestErrors, "thread %d line %d %s", t, i, "abcdefghijklmnopqrstuvwxyz");
    });
  for (auto& t : ts) t.join();
  std::istringstream in(Contents(f_));
  std::string line;
  int n = 0;
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    n++;
    int t, i;
    char tail[64];
    ASSERT_EQ(std::sscanf(line.c_str(), "thread %d line %d %63s", &t, &i, tail), 3) << line;
    EXPECT_STREQ(tail, "abcdefghijklmnopqrstuvwxyz") << line;
    seen.insert(line);
  }
  EXPECT_EQ(n, kThreads * kLines);
  EXPECT_EQ(seen.size(), size_t(kThreads * kLines));
}

// Guest errors from the core and from devices, on a bare port space.
TEST_F(LogTest, GuestErrorsFromPortsAndDevices) {
  test::IsaBus isa;
  I8259 pic(isa.root.get());
  I8254 pit(isa.root.get(), &isa.clock, nullptr);
  Mc146818 rtc(isa.root.get(), &isa.clock, nullptr);
  isa.Out(0x20, 0x63);  // specific EOI for IRQ 3 while off: nothing logged
  SetLog(static_cast<uint32_t>(LogMask::kGuestErrors), f_);
  isa.In(0x1234);
  isa.io.WriteN(0x1230, 0xbeef, 2);
  isa.Out(0x20, 0x63);  // specific EOI for IRQ 3, not in service
  isa.In(0x43);         // PIT control register is write-only
  isa.Out(0x70, 0x0c);
  isa.Out(0x71, 0x55);  // RTC register C is read-only
  isa.In(0x40);         // a valid access logs nothing
  EXPECT_EQ(Contents(f_),
            "io: unassigned read of 1 byte at 0x1234\n"
            "io: unassigned write of 2 bytes at 0x1230 value 0xbeef\n"
            "i8259 master: specific EOI for IRQ 3, which is not in service\n"
            "i8254: read of the write-only control register (port 0x43)\n"
            "mc146818: write 0x55 to read-only register C\n");
}

TEST(LogFilter, ParsesTheThreeRangeFormsAndRejectsTheRest) {
  std::vector<AddrRange> r;
  std::string err;
  ASSERT_TRUE(ParseLogFilter("0x1000..0x1fff,0x8000+0x100,0x500-0x10,42..42", &r, &err)) << err;
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].first, 0x1000u);
  EXPECT_EQ(r[0].last, 0x1fffu);
  EXPECT_EQ(r[1].first, 0x8000u);
  EXPECT_EQ(r[1].last, 0x80ffu);
  EXPECT_EQ(r[2].first, 0x4f1u);
  EXPECT_EQ(r[2].last, 0x500u);
  EXPECT_EQ(r[3].first, 42u);
  EXPECT_EQ(r[3].last, 42u);
  ASSERT_TRUE(ParseLogFilter("0xffffffffffffff00+0x100", &r, &err)) << err;
  EXPECT_EQ(r[0].last, ~0ull);
  const std::pair<const char*, const char*> bad[] = {
      {"", "is not start..end"},
      {"0x10", "is not start..end"},
      {"abc..0x10", "is not start..end"},
      {"0x10..", "is not start..end"},
      {"0x10,,0x20..0x30", "is not start..end"},
      {"0x20..0x10", "the end comes before the start"},
      {"0x10+0", "the size must not be 0"},
      {"0x10-0x20", "below 0"},
      {"0xffffffffffffffff+2", "past the end"},
      {"0x10+-1", "is not start..end"},
  };
  for (const auto& [text, why] : bad) {
    EXPECT_FALSE(ParseLogFilter(text, &r, &err)) << text;
    EXPECT_NE(err.find(why), std::string::npos) << text << ": " << err;
  }
}

TEST(LogFilter, InRange) {
  EXPECT_TRUE(LogInRange(0x1234));  // no filter: everywhere
  SetLogFilter({{0x1000, 0x1fff}, {0x8000, 0x8000}});
  EXPECT_TRUE(LogInRange(0x1000));
  EXPECT_TRUE(LogInRange(0x1fff));
  EXPECT_FALSE(LogInRange(0x2000));
  EXPECT_FALSE(LogInRange(0xfff));
  EXPECT_TRUE(LogInRange(0x8000));
  EXPECT_FALSE(LogInRange(0x8001));
  SetLogFilter({});
  EXPECT_TRUE(LogInRange(0x2000));
}

TEST(LogItems, NamesMapToDistinctBits) {
  std::set<uint32_t> bits;
  for (const LogItem& it : LogItems()) {
    uint32_t b = LogMaskForName(it.name);
    EXPECT_EQ(b, static_cast<uint32_t>(it.mask)) << it.name;
    EXPECT_TRUE(bits.insert(b).second) << it.name;
    EXPECT_NE(std::string(it.help), "") << it.name;
  }
  for (const char* n : {"in_asm", "op", "op_opt", "out_asm", "exec", "cpu", "int", "mmu", "unimp",
                        "guest_errors"})
    EXPECT_NE(LogMaskForName(n), 0u) << n;
  EXPECT_EQ(LogMaskForName("op_ind"), 0u);
  EXPECT_EQ(LogMaskForName(""), 0u);
}

TEST(WarnOnce, PrintsTheFirstTimeOnly) {
  testing::internal::CaptureStderr();
  WarnOnce("log_test:key", "unimplemented: %s", "thing");
  WarnOnce("log_test:key", "unimplemented: %s", "thing again");
  WarnOnce("log_test:other", "other %d", 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "emu: unimplemented: thing\nemu: other 2\n");
}

TEST_F(LogTest, UnimplementedGoesToTheLogEachTimeAndToStderrOnce) {
  SetLog(static_cast<uint32_t>(LogMask::kUnimp), f_);
  testing::internal::CaptureStderr();
  LogUnimplemented("log_test:unimp", "dev: unimplemented: mode %d", 1);
  LogUnimplemented("log_test:unimp", "dev: unimplemented: mode %d", 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "emu: dev: unimplemented: mode 1\n");
  EXPECT_EQ(Contents(f_), "dev: unimplemented: mode 1\ndev: unimplemented: mode 2\n");
  // Off: still once on stderr (a new key), nothing in the log.
  SetLog(0, f_);
  testing::internal::CaptureStderr();
  LogUnimplemented("log_test:unimp2", "other");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "emu: other\n");
}

}  // namespace
}  // namespace emu::hw
