// Runs generated cases under the translator and on the host CPU (oracle batches) and
// compares registers, flags (minus the case's undefined ones), memory and exceptions.
//
// The translator side mirrors the oracle's process exactly: long mode, CPL 3, the snippet
// at oracle::SnippetAddress() (paging maps the oracle's harness and data addresses onto
// RAM), 32-bit code in a compatibility-mode segment, 16-bit code in a 16-bit segment with
// the oracle's segment bases. The snippet is followed by HLT, which faults (#GP) at CPL 3:
// that #GP at the end is "finished"; any other exception is compared with the host's.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/x86/diff/families.h"
#include "tests/x86/tcg_harness.h"

namespace emu::x86::difftest {

struct Outcome {
  std::string error;        // the run itself failed (timeout, kError...)
  bool faulted = false;
  int vector = -1;
  int64_t offset = -1;      // faulting instruction (trap: the next one), from snippet start
  oracle::Regs regs;
  std::vector<oracle::Region> mem;
};

class TcgRunner {
 public:
  TcgRunner();
  ~TcgRunner();
  Outcome Run(const Case& c);
  // False when the test machine could not be built (its exception stubs need binutils).
  bool ready() const { return ready_; }

 private:
  uint64_t Phys(Mode m, uint64_t addr) const;  // case address -> guest physical
  test::TestMachine m_;
  CpuState base_[3];
  std::atomic<int64_t> deadline_ns_{0};
  std::atomic<bool> stop_{false};
  std::thread watchdog_;
  bool ready_ = false;
};

// "" when the two runs agree, else a description of every difference.
std::string Compare(const Case& c, const oracle::Result& native, const Outcome& emu);
// A self-contained report: instruction bytes, disassembly, input state, both outputs.
std::string Describe(const Case& c, const oracle::Result& native, const Outcome& emu,
                     const std::string& diff);

// Per-case seed: any case can be regenerated alone from (seed, family, mode, index).
uint64_t CaseSeed(uint64_t seed, const std::string& family, Mode mode, uint64_t index);
const char* ModeName(Mode m);

struct Tally {
  uint64_t cases = 0, mismatches = 0, native_faults = 0;
  std::vector<std::string> reports;  // the first few mismatches
};

// Generates `count` cases of `f` in `mode` from case index `first`, runs both sides,
// compares; keeps up to `max_reports` reports.
void RunFamily(TcgRunner& runner, const Family& f, Mode mode, uint64_t seed, uint64_t first,
               uint64_t count, Tally* tally, size_t max_reports = 5);

}  // namespace emu::x86::difftest
