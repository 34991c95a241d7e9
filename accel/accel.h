// Accelerator and Vcpu: the two ways of running guest code (tcg, kvm) behind one
// interface. hw/ never sees these; system/ wires them to the machine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "target-x86/cpu_state.h"

namespace emu::accel {

enum class ExitReason {
  kHalt,       // HLT with interrupts that could wake it: wait for an interrupt
  kShutdown,   // triple fault or shutdown cycle: the machine resets (or exits)
  kStopped,    // Kick() asked it to return (pause, monitor, exit request)
  kDebug,      // breakpoint / single step for the gdbstub
  kError,      // internal error: message in RunResult::detail
};

struct RunResult {
  ExitReason reason;
  std::string detail;
};

// Callbacks from a running vCPU into the machine. Called on the vCPU thread; the
// implementation takes the machine lock around device access.
class CpuBus {
 public:
  virtual ~CpuBus() = default;
  virtual uint64_t PortRead(uint16_t port, unsigned size) = 0;
  virtual void PortWrite(uint16_t port, uint64_t value, unsigned size) = 0;
  virtual uint64_t MmioRead(uint64_t addr, unsigned size) = 0;
  virtual void MmioWrite(uint64_t addr, uint64_t value, unsigned size) = 0;
};

class Vcpu {
 public:
  virtual ~Vcpu() = default;
  // Runs guest code until something needs the caller's attention.
  virtual RunResult Run() = 0;
  // Makes a Run() in progress on another thread return kStopped soon. Thread-safe.
  virtual void Kick() = 0;
  virtual void GetState(x86::CpuState& s) = 0;
  virtual void SetState(const x86::CpuState& s) = 0;
  virtual int index() const = 0;
};

class Accelerator {
 public:
  virtual ~Accelerator() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<Vcpu> CreateVcpu(int index) = 0;
};

}  // namespace emu::accel
