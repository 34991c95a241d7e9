// The CPUID table a KVM vCPU gets: what KVM_GET_SUPPORTED_CPUID reports, minus what
// our devices do not back or what we could not migrate, plus per-vCPU topology.
// A pure function so that it is testable without /dev/kvm.
#pragma once

#include <cstdint>
#include <vector>

#include "accel/kvm/kvm_sys.h"

namespace emu::accel {

struct CpuidPolicy {
  int apic_id = 0;               // this vCPU's (initial) APIC ID
  int num_cpus = 1;              // -smp N: N single-threaded cores in one package
  bool in_kernel_lapic = false;  // x2APIC and TSC-deadline only with KVM's LAPIC
};

std::vector<kvm_cpuid_entry2> FilterCpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          const CpuidPolicy& policy);

// Finds leaf/subleaf in a table (subleaf ignored for leaves KVM marks as not indexed).
const kvm_cpuid_entry2* FindCpuid(const std::vector<kvm_cpuid_entry2>& table, uint32_t leaf,
                                  uint32_t subleaf = 0);

}  // namespace emu::accel
