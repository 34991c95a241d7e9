// The big differential sweep (bench/difftest/run): N cases spread over every family and
// mode in proportion to the suite's counts, or one family/mode, or one case to reproduce.
//   difftest_sweep [--seed S] [--count N] [--family F] [--mode 16|32|64] [--case I]
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/x86/diff/runner.h"

using namespace emu::x86::difftest;
namespace oracle = emu::x86::oracle;

namespace {

[[noreturn]] void Usage() {
  std::fprintf(stderr, "usage: difftest_sweep [--seed S] [--count N] [--family F] [--mode 16|32|64] [--case I]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, count = 2000000, one_case = ~0ull;
  std::string family, mode_name;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage();
    const char* v = argv[++i];
    if (a == "--seed") seed = std::strtoull(v, nullptr, 0);
    else if (a == "--count") count = std::strtoull(v, nullptr, 0);
    else if (a == "--family") family = v;
    else if (a == "--mode") mode_name = v;
    else if (a == "--case") one_case = std::strtoull(v, nullptr, 0);
    else Usage();
  }
  if (!family.empty() && !FindFamily(family)) {
    std::fprintf(stderr, "difftest_sweep: no family '%s'; families:", family.c_str());
    for (const Family& f : Families()) std::fprintf(stderr, " %s", f.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  if (!mode_name.empty() && mode_name != "16" && mode_name != "32" && mode_name != "64") Usage();
  TcgRunner runner;
  if (!runner.ready()) {
    std::fprintf(stderr, "difftest_sweep: the test machine could not be set up (binutils missing?)\n");
    return 1;
  }
  struct Job {
    const Family* f;
    Mode m;
  };
  std::vector<Job> jobs;
  uint64_t weight = 0;
  for (const Family& f : Families()) {
    if (!family.empty() && family != f.name) continue;
    for (Mode m : {Mode::k64, Mode::k32, Mode::k16}) {
      unsigned bit = m == Mode::k64 ? k64 : m == Mode::k32 ? k32 : k16;
      if (!(f.modes & bit) || (!mode_name.empty() && mode_name != ModeName(m))) continue;
      jobs.push_back({&f, m});
      weight += f.cases;
    }
  }
  if (one_case != ~0ull) {
    // Reproduce one case: always print it.
    for (const Job& j : jobs) {
      Gen g(j.m, CaseSeed(seed, j.f->name, j.m, one_case));
      Case c = Generate(*j.f, g);
      oracle::Result nat = oracle::RunNativeBatch({c.req})[0];
      Outcome emu = runner.Run(c);
      std::string diff = Compare(c, nat, emu);
      std::printf("%s%s\n", Describe(c, nat, emu, diff).c_str(), diff.empty() ? "  (match)" : "");
    }
    return 0;
  }
  Tally t;
  auto t0 = std::chrono::steady_clock::now();
  for (const Job& j : jobs) {
    uint64_t n = weight ? count * j.f->cases / weight : 0;
    Tally one;
    RunFamily(runner, *j.f, j.m, seed, 0, n, &one, 3);
    t.cases += one.cases;
    t.mismatches += one.mismatches;
    t.native_faults += one.native_faults;
    if (one.mismatches) {
      std::printf("%-14s %s-bit: %" PRIu64 " of %" PRIu64 " differ\n", j.f->name, ModeName(j.m), one.mismatches, one.cases);
      for (const auto& r : one.reports) std::printf("%s\n", r.c_str());
    }
    std::fflush(stdout);
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("seed %" PRIu64 ": %" PRIu64 " cases (%" PRIu64 " raised exceptions) in %.1f s, %.0f cases/s, %" PRIu64 " mismatches\n",
              seed, t.cases, t.native_faults, s, t.cases / s, t.mismatches);
  return t.mismatches ? 1 : 0;
}
