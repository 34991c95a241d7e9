// Generated differential tests: every family of integer instructions in 64-, 32- and
// 16-bit mode, each case run under the translator and on the host CPU from the same state.
// EMU_DIFFTEST_SEED overrides the seed; EMU_DIFFTEST_SCALE multiplies the case counts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

#include "tests/x86/diff/runner.h"

namespace emu::x86::difftest {
namespace {

struct Param {
  const Family* family;
  Mode mode;
};

std::vector<Param> AllParams() {
  std::vector<Param> v;
  for (const Family& f : Families()) {
    for (Mode m : {Mode::k64, Mode::k32, Mode::k16}) {
      unsigned bit = m == Mode::k64 ? k64 : m == Mode::k32 ? k32 : k16;
      if (f.modes & bit) v.push_back({&f, m});
    }
  }
  return v;
}

uint64_t EnvU64(const char* name, uint64_t def) {
  const char* s = std::getenv(name);
  return s && *s ? std::strtoull(s, nullptr, 0) : def;
}

TcgRunner& Runner() {
  static std::unique_ptr<TcgRunner> r = std::make_unique<TcgRunner>();
  return *r;
}

class Diff : public ::testing::TestWithParam<Param> {};

TEST_P(Diff, MatchesHost) {
  const Param& p = GetParam();
  std::string why;
  if (!oracle::Supported(p.mode, &why)) GTEST_SKIP() << why;
  if (!Runner().ready()) GTEST_SKIP() << "the test machine could not be set up (binutils missing?)";
  uint64_t seed = EnvU64("EMU_DIFFTEST_SEED", 1);
  uint64_t count = p.family->cases * EnvU64("EMU_DIFFTEST_SCALE", 1);
  Tally t;
  RunFamily(Runner(), *p.family, p.mode, seed, 0, count, &t);
  EXPECT_EQ(t.cases, count);
  EXPECT_EQ(t.mismatches, 0u) << t.mismatches << " of " << t.cases << " cases differ; first ones:\n"
                              << [&] {
                                   std::string s;
                                   for (const auto& r : t.reports) s += r + "\n";
                                   return s;
                                 }();
}

INSTANTIATE_TEST_SUITE_P(Families, Diff, ::testing::ValuesIn(AllParams()),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           return std::string(i.param.family->name) + "_" + ModeName(i.param.mode);
                         });

}  // namespace
}  // namespace emu::x86::difftest
