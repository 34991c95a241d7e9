// A minimal board for accelerator tests (not a machine): RAM at 0, a fake COM1 that
// collects what the guest writes to THR, an isa-debug-exit-like port at 0xf4, a
// scratch MMIO device, and a CpuBus over them. Plus helpers to place code, build
// long-mode page tables and produce the multiboot entry state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "accel/accel.h"
#include "hw/core/memory.h"
#include "target-x86/cpu_state.h"

namespace emu::accel::test {

class Harness : public CpuBus {
 public:
  static constexpr uint16_t kCom1 = 0x3f8;
  static constexpr uint16_t kExitPort = 0xf4;
  static constexpr uint16_t kMagicPort = 0x510;  // reads return kMagicValue
  static constexpr uint32_t kMagicValue = 0xfeedf00d;
  // 8 registers of 8 bytes; a write to register 7 (the doorbell) ends the run like
  // the exit port, with the written value as exit code (ring 3 cannot do port I/O
  // under kvm_pvm).
  static constexpr uint64_t kMmioBase = 0xd0000000;
  static constexpr uint64_t kRomBase = 0xe0000000;  // 64 KiB ROM (read-only slot)
  // Page tables written by BuildPageTables (identity, 4 GiB, 2 MiB pages, user).
  static constexpr uint64_t kPml4 = 0x1000;
  static constexpr uint64_t kGdt = 0x800;
  static constexpr uint64_t kTss = 0x900;

  explicit Harness(uint64_t ram_size = 64ull << 20);
  ~Harness() override;

  hw::AddressSpace& memory() { return *as_; }
  hw::MemoryRegion& root() { return *root_; }
  hw::MemoryRegion& rom() { return *rom_; }
  uint8_t* ram() { return ram_->host(); }
  uint64_t ram_size() const { return ram_->size(); }

  void Load(uint64_t addr, const void* data, size_t len);
  void Load(uint64_t addr, const std::vector<uint8_t>& data) {
    Load(addr, data.data(), data.size());
  }
  // Identity map of 4 GiB, user-accessible, plus a GDT and TSS for the states below.
  void BuildPageTables();
  // 64-bit ring 3 at `rip`, paging on, interrupts off.
  static x86::CpuState LongModeUser(uint64_t rip, uint64_t rsp);
  // 64-bit ring 0 (CS 0x08, data 0x10), same paging.
  static x86::CpuState LongModeKernel(uint64_t rip, uint64_t rsp);
  // What a multiboot v1 loader hands over: 32-bit flat protected mode, paging off.
  static x86::CpuState MultibootEntry(uint32_t entry, uint32_t info_addr);
  // A zeroed multiboot information structure with mem_lower/mem_upper.
  void WriteMultibootInfo(uint32_t addr);

  // CpuBus. Thread-safe (one lock, like the machine lock).
  uint64_t PortRead(uint16_t port, unsigned size) override;
  void PortWrite(uint16_t port, uint64_t value, unsigned size) override;
  uint64_t MmioRead(uint64_t addr, unsigned size) override;
  void MmioWrite(uint64_t addr, uint64_t value, unsigned size) override;

  std::string serial();
  // The exit port or doorbell value, once written.
  std::optional<uint32_t> exit_code();
  uint64_t mmio_reg(unsigned i);
  // How many writes reached `port` (any port the harness does not model is counted).
  unsigned port_writes(uint16_t port);
  unsigned mmio_writes() { return mmio_writes_.load(); }

  // Runs the vCPUs (one thread each) until the guest writes the exit port, a vCPU
  // stops with shutdown/error, or `timeout` passes. Returns each vCPU's last result;
  // timed_out() tells whether the deadline hit.
  std::vector<RunResult> RunUntilExit(const std::vector<Vcpu*>& vcpus,
                                      std::chrono::milliseconds timeout);
  bool timed_out() const { return timed_out_; }

 private:
  std::unique_ptr<hw::MemoryRegion> root_, ram_, mmio_, rom_;
  std::unique_ptr<hw::AddressSpace> as_;
  void ExitLocked(uint32_t code);  // mu_ held
  std::mutex mu_;
  std::string serial_;
  std::optional<uint32_t> exit_;
  uint64_t regs_[8] = {};
  std::atomic<unsigned> mmio_writes_{0};
  std::vector<unsigned> port_writes_ = std::vector<unsigned>(65536);
  std::vector<Vcpu*> running_;
  bool timed_out_ = false;
};

// Reads a whole file; empty on failure.
std::vector<uint8_t> ReadFile(const std::string& path);
// The guest cache ($EMU_GUESTS), building the mbkern kernels into it when missing
// (through tests/guests/make-mbkern). Empty with *why set if that is not possible.
std::string GuestCache(std::string* why);

}  // namespace emu::accel::test
