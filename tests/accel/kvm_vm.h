// Shared by the KVM accelerator tests: a KVM VM on the test harness
// (tests/accel/harness.h) and the skip for hosts without a usable /dev/kvm.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "accel/kvm/kvm_accel.h"
#include "tests/accel/harness.h"

namespace emu::accel::test {

constexpr uint64_t kCode = 0x10000;
constexpr uint64_t kStack = 0x20000;

#define REQUIRE_KVM()                                                   \
  do {                                                                  \
    std::string why_;                                                   \
    if (!::emu::accel::KvmAccelerator::Available(&why_)) GTEST_SKIP() << why_; \
  } while (0)

// Writes a 64-bit interrupt gate (present, DPL 0, selector 0x08) for `vector` to
// `handler` into the IDT at `idt`.
inline void LoadInterruptGate(Harness& h, uint64_t idt, unsigned vector, uint64_t handler) {
  uint8_t g[16] = {};
  g[0] = handler & 0xff;
  g[1] = (handler >> 8) & 0xff;
  g[2] = 0x08;  // selector
  g[5] = 0x8e;  // present, DPL 0, 64-bit interrupt gate
  for (int i = 0; i < 6; i++) g[6 + i] = (handler >> (16 + 8 * i)) & 0xff;
  h.Load(idt + vector * 16, g, sizeof g);
}

// KVM with `ncpus` vCPUs on a Harness (its memory and bus).
struct Vm {
  Harness h;
  std::unique_ptr<KvmAccelerator> kvm;
  std::vector<std::unique_ptr<Vcpu>> vcpus;

  bool Start(int ncpus, std::string* err) {
    KvmAccelerator::Options o;
    o.num_cpus = ncpus;
    kvm = KvmAccelerator::Create(o, err);
    if (!kvm) return false;
    kvm->SetCpuBus(&h);
    kvm->AttachMemory(&h.memory());
    for (int i = 0; i < ncpus; ++i) vcpus.push_back(kvm->CreateVcpu(i));
    return true;
  }
  std::vector<Vcpu*> all() {
    std::vector<Vcpu*> v;
    for (auto& p : vcpus) v.push_back(p.get());
    return v;
  }
};

}  // namespace emu::accel::test
