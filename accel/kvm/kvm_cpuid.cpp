#include "accel/kvm/kvm_cpuid.h"

namespace emu::accel {

namespace {

constexpr uint32_t Bit(int n) { return 1u << n; }

// Leaf 1 ECX features we hide: monitor/mwait (no idle model), VMX/SMX (no nesting),
// SpeedStep/TM2/DCA (no power management), PDCM (no PMU capabilities MSR).
constexpr uint32_t kLeaf1EcxHide = Bit(3) | Bit(5) | Bit(6) | Bit(7) | Bit(8) | Bit(15) | Bit(18);
// Leaf 1 EDX: ACPI thermal, TM, PBE -- thermal monitoring we do not model.
constexpr uint32_t kLeaf1EdxHide = Bit(22) | Bit(29) | Bit(31);
// Leaf 7.0 EBX: SGX, HLE, RTM (TSX cannot be migrated reliably), RDT-M, MPX, RDT-A,
// Intel PT.
constexpr uint32_t kLeaf7EbxHide =
    Bit(2) | Bit(4) | Bit(11) | Bit(12) | Bit(14) | Bit(15) | Bit(25);
// Leaf 7.0 ECX: PKU/OSPKE (protection keys), WAITPKG, SGX launch control.
constexpr uint32_t kLeaf7EcxHide = Bit(3) | Bit(4) | Bit(5) | Bit(30);
// XSAVE components of hidden features: MPX BNDREGS/BNDCSR, PT, PKRU.
constexpr uint32_t kXcr0Hide = Bit(3) | Bit(4) | Bit(9);
constexpr uint32_t kXssHide = Bit(8);

int ShiftFor(int n) {
  int s = 0;
  while ((1 << s) < n) ++s;
  return s;
}

bool Removed(uint32_t leaf) {
  // PMU (0xA), RDT (0xF, 0x10), SGX (0x12), PT (0x14): not backed.
  return leaf == 0xa || leaf == 0xf || leaf == 0x10 || leaf == 0x12 || leaf == 0x14;
}

kvm_cpuid_entry2 Topology(uint32_t leaf, uint32_t sub, const CpuidPolicy& p) {
  kvm_cpuid_entry2 e{};
  e.function = leaf;
  e.index = sub;
  e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  e.edx = static_cast<uint32_t>(p.apic_id);
  if (sub == 0) {  // SMT level: one thread per core
    e.eax = 0;
    e.ebx = 1;
    e.ecx = 0 | (1u << 8);
  } else if (sub == 1) {  // core level: all vCPUs in one package
    e.eax = static_cast<uint32_t>(ShiftFor(p.num_cpus));
    e.ebx = static_cast<uint32_t>(p.num_cpus);
    e.ecx = 1 | (2u << 8);
  } else {
    e.ecx = sub;  // level type 0: end of the list
  }
  return e;
}

}  // namespace

const kvm_cpuid_entry2* FindCpuid(const std::vector<kvm_cpuid_entry2>& table, uint32_t leaf,
                                  uint32_t subleaf) {
  for (const auto& e : table) {
    if (e.function != leaf) continue;
    if (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == subleaf) return &e;
  }
  return nullptr;
}

std::vector<kvm_cpuid_entry2> FilterCpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          const CpuidPolicy& p) {
  std::vector<kvm_cpuid_entry2> out;
  const int n = p.num_cpus < 1 ? 1 : p.num_cpus;
  const uint32_t apic_id = static_cast<uint32_t>(p.apic_id);
  bool have_0b = false, have_1f = false;
  for (kvm_cpuid_entry2 e : supported) {
    const uint32_t leaf = e.function;
    if (Removed(leaf)) continue;
    if (leaf == 0xb || leaf == 0x1f) {  // rebuilt below with our topology
      (leaf == 0xb ? have_0b : have_1f) = true;
      continue;
    }
    switch (leaf) {
      case 1:
        e.ecx &= ~kLeaf1EcxHide;
        if (!p.in_kernel_lapic) e.ecx &= ~(Bit(21) | Bit(24));  // x2APIC, TSC deadline
        e.edx &= ~kLeaf1EdxHide;
        e.ebx =
            (e.ebx & 0xffff) | (static_cast<uint32_t>(1 << ShiftFor(n)) << 16) | (apic_id << 24);
        if (n > 1)
          e.edx |= Bit(28);  // HTT: the count in EBX[23:16] is valid
        else
          e.edx &= ~Bit(28);
        break;
      case 4:
        if ((e.eax & 0x1f) != 0) {
          const uint32_t level = (e.eax >> 5) & 7;
          const uint32_t sharing = level >= 3 ? static_cast<uint32_t>(n - 1) : 0;
          e.eax = (e.eax & 0x3fff) | (sharing << 14) | (static_cast<uint32_t>(n - 1) << 26);
        }
        break;
      case 6:
        e.eax &= Bit(2);  // ARAT only: the LAPIC timer does not stop in C-states
        e.ebx = e.ecx = e.edx = 0;
        break;
      case 7:
        if (e.index == 0) {
          e.ebx &= ~kLeaf7EbxHide;
          e.ecx &= ~kLeaf7EcxHide;
        }
        break;
      case 0xd:
        if (e.index == 0) e.eax &= ~kXcr0Hide;
        if (e.index == 1) e.ecx &= ~kXssHide;
        if (e.index == 3 || e.index == 4 || e.index == 8 || e.index == 9) continue;
        break;
      case 0x80000007:
        e.edx &= ~Bit(8);  // invariant TSC: not guaranteed across migration
        break;
      default:
        break;
    }
    out.push_back(e);
  }
  for (int sub = 0; sub < 3; ++sub) {
    if (have_0b) out.push_back(Topology(0xb, sub, p));
    if (have_1f) out.push_back(Topology(0x1f, sub, p));
  }
  return out;
}

}  // namespace emu::accel
