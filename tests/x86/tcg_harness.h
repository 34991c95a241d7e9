// A CPU-only test machine for the translator: RAM, a fake bus with a debug
// port, a TcgVcpu, helpers to enter each CPU mode, and a runtime assembler
// (binutils `as`, skipped when missing).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "accel/tcg/tcg_accel.h"
#include "hw/core/memory.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86::test {

// Assembles `src` (AT&T syntax, with a leading .code16/.code32/.code64 added for
// `bits`) to flat binary. Returns false with a reason when binutils are missing.
bool Assemble(const std::string& src, int bits, std::vector<uint8_t>* out, std::string* err);

struct FakeBus : accel::CpuBus {
  std::map<uint16_t, uint64_t> port_values;  // what IN returns
  std::vector<std::pair<uint16_t, uint64_t>> port_writes;
  std::map<uint64_t, uint64_t> mmio;          // MMIO at 0xfe000000 (echoes writes)
  std::string debug_out;                      // bytes written to port 0xe9
  std::function<void(uint16_t, uint64_t)> on_port_write;  // a test's device, if any
  uint64_t PortRead(uint16_t port, unsigned size) override {
    auto it = port_values.find(port);
    return it == port_values.end() ? (size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffu) : it->second;
  }
  void PortWrite(uint16_t port, uint64_t value, unsigned size) override {
    if (port == 0xe9) debug_out.push_back(static_cast<char>(value));
    port_writes.emplace_back(port, value);
    if (on_port_write) on_port_write(port, value);
  }
  uint64_t MmioRead(uint64_t addr, unsigned size) override {
    auto it = mmio.find(addr);
    return it == mmio.end() ? 0 : it->second;
  }
  void MmioWrite(uint64_t addr, uint64_t value, unsigned size) override { mmio[addr] = value; }
};

enum class Mode { kReal, kProt32, kProt16, kLong64, kCompat32 };

// A GDT descriptor (flags: G, D/B, L, AVL in bits 3-0) and a descriptor-cache segment.
uint64_t Desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
Segment Seg(uint16_t sel, uint64_t base, uint32_t limit, uint16_t attr);

class TestMachine {
 public:
  static constexpr uint64_t kRamSize = 16u << 20;
  static constexpr uint64_t kCode = 0x10000;   // where snippets are loaded
  static constexpr uint64_t kStack = 0x80000;  // initial stack top
  static constexpr uint64_t kGdt = 0x1000, kIdt = 0x2000, kTss = 0x3000;
  static constexpr uint64_t kPml4 = 0x4000;    // identity map of the first 1 GiB

  explicit TestMachine(accel::tcg::TcgOptions opts = {});
  ~TestMachine();

  uint8_t* ram() { return ram_->host(); }
  void Write(uint64_t addr, const void* data, size_t n);
  void Write32(uint64_t addr, uint32_t v) { Write(addr, &v, 4); }
  void Write64(uint64_t addr, uint64_t v) { Write(addr, &v, 8); }
  uint64_t Read64(uint64_t addr);
  uint32_t Read32(uint64_t addr);

  // Puts the CPU in `mode` with flat segments, rip = kCode, rsp = kStack; for
  // protected/long modes builds a GDT, a TSS, paging (long mode) and an IDT
  // whose handlers store the vector at 0x500, the error code at 0x508 and the
  // stacked rip at 0x510, then HLT.
  void Enter(Mode mode);
  // Assembles and loads code at `addr` (default kCode). Skips the test on failure.
  bool Load(const std::string& src, uint64_t addr = kCode);
  // Runs until HLT (or shutdown/error/timeout). Returns the reason.
  accel::RunResult Run(int timeout_ms = 10000);

  CpuState State();
  void SetState(const CpuState& s);
  X86Cpu& cpu() { return vcpu_->cpu(); }
  accel::tcg::TcgVcpu& vcpu() { return *vcpu_; }
  accel::tcg::TcgAccelerator& accel() { return *accel_; }
  FakeBus& bus() { return bus_; }
  Mode mode() const { return mode_; }
  int bits() const;
  // Exception recorded by the test IDT handlers (-1 if none).
  int64_t vector() {
    uint32_t v = Read32(0x500);
    return v == 0xffffffffu ? int64_t{-1} : static_cast<int64_t>(v);
  }

 private:
  std::unique_ptr<hw::MemoryRegion> root_, ram_, mmio_;
  std::unique_ptr<hw::AddressSpace> as_;
  FakeBus bus_;
  std::unique_ptr<accel::tcg::TcgAccelerator> accel_;
  std::unique_ptr<accel::tcg::TcgVcpu> vcpu_;
  Mode mode_ = Mode::kReal;
};

// Loads `src` at TestMachine::kCode (a failed load is a test failure) and runs it.
accel::RunResult RunCode(TestMachine& m, const std::string& src);

// Base of value-parameterized tests that run under each translator backend:
// the parameter is TcgOptions::native. A suite derives its own fixture from it
// and instantiates with BackendValues() and BackendName ("Native", "Interp").
class BackendTest : public ::testing::TestWithParam<bool> {
 protected:
  accel::tcg::TcgOptions Opts() const {
    accel::tcg::TcgOptions o;
    o.native = GetParam();
    return o;
  }
  // What Opts() must give: native code only where the host can run it.
  bool ExpectNativeCode() const { return GetParam() && accel::tcg::NativeSupported(); }
};
inline auto BackendValues() { return ::testing::Values(true, false); }
std::string BackendName(const ::testing::TestParamInfo<bool>& info);

}  // namespace emu::x86::test
