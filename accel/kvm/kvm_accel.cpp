#include "accel/kvm/kvm_accel.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "accel/kvm/kvm_cpuid.h"
#include "accel/kvm/kvm_vcpu.h"

namespace emu::accel {

namespace {

constexpr uint64_t kPage = 4096;
// Three pages for the VMX real-mode TSS and one for the identity page table, just
// below the BIOS ROM where no RAM or device of the PC lives.
constexpr uint64_t kTssAddr = 0xfeffd000;
constexpr uint64_t kIdentityMapAddr = 0xfeffc000;

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int Check(int fd, long cap) {
  int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

}  // namespace

bool KvmCaps::HasMsr(uint32_t index) const {
  return std::find(msrs.begin(), msrs.end(), index) != msrs.end();
}

bool KvmAccelerator::Available(std::string* why, const std::string& device) {
  int fd = open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (why) *why = device + ": " + std::strerror(errno);
    return false;
  }
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  if (v != KVM_API_VERSION) {
    if (why)
      *why = "KVM not available: API version " + std::to_string(v) + ", expected " +
             std::to_string(KVM_API_VERSION);
    return false;
  }
  return true;
}

std::unique_ptr<KvmAccelerator> KvmAccelerator::Create(const Options& opts, std::string* error) {
  std::unique_ptr<KvmAccelerator> k(new KvmAccelerator);
  k->opts_ = opts;
  auto fail = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  k->kvm_fd_ = open(opts.device.c_str(), O_RDWR | O_CLOEXEC);
  if (k->kvm_fd_ < 0) return fail(opts.device + ": " + std::strerror(errno));
  KvmCaps& c = k->caps_;
  c.api_version = ioctl(k->kvm_fd_, KVM_GET_API_VERSION, 0);
  if (c.api_version != KVM_API_VERSION)
    return fail("KVM not available: API version " + std::to_string(c.api_version) + ", expected " +
                std::to_string(KVM_API_VERSION));
  if (!Check(k->kvm_fd_, KVM_CAP_USER_MEMORY))
    return fail("KVM not available: no KVM_CAP_USER_MEMORY");
  if (opts.num_cpus < 1) return fail("KVM: need at least one vCPU");

  k->vm_fd_ = ioctl(k->kvm_fd_, KVM_CREATE_VM, 0);
  if (k->vm_fd_ < 0) return fail("KVM not available: " + Errno("KVM_CREATE_VM"));
  const int vm = k->vm_fd_;
  c.irqchip = Check(vm, KVM_CAP_IRQCHIP);
  c.pit2 = Check(vm, KVM_CAP_PIT2);
  c.readonly_mem = Check(vm, KVM_CAP_READONLY_MEM);
  c.immediate_exit = Check(vm, KVM_CAP_IMMEDIATE_EXIT);
  c.mp_state = Check(vm, KVM_CAP_MP_STATE);
  c.vcpu_events = Check(vm, KVM_CAP_VCPU_EVENTS);
  c.debugregs = Check(vm, KVM_CAP_DEBUGREGS);
  c.xsave = Check(vm, KVM_CAP_XSAVE);
  c.tsc_deadline = Check(vm, KVM_CAP_TSC_DEADLINE_TIMER);
  c.sync_regs = static_cast<uint32_t>(Check(vm, KVM_CAP_SYNC_REGS));
  c.recommended_vcpus = std::max(1, Check(vm, KVM_CAP_NR_VCPUS));
  c.max_vcpus = Check(vm, KVM_CAP_MAX_VCPUS);
  if (c.max_vcpus == 0) c.max_vcpus = c.recommended_vcpus;
  c.max_memslots = std::max(1, Check(vm, KVM_CAP_NR_MEMSLOTS));
  if (!c.immediate_exit)
    return fail("KVM not available: no KVM_CAP_IMMEDIATE_EXIT (kernel too old)");
  if (opts.num_cpus > c.max_vcpus)
    return fail("KVM: -smp " + std::to_string(opts.num_cpus) + " exceeds this host's limit of " +
                std::to_string(c.max_vcpus) + " vCPUs");

  // MSRs KVM can save and restore for us.
  {
    std::vector<uint8_t> buf(sizeof(kvm_msr_list) + 1024 * sizeof(uint32_t));
    auto* list = reinterpret_cast<kvm_msr_list*>(buf.data());
    list->nmsrs = 1024;
    if (ioctl(k->kvm_fd_, KVM_GET_MSR_INDEX_LIST, list) == 0)
      c.msrs.assign(list->indices, list->indices + list->nmsrs);
  }
  // CPUID: grow the buffer until KVM stops saying E2BIG.
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
    cpuid->nent = n;
    if (ioctl(k->kvm_fd_, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
      k->supported_cpuid_.assign(cpuid->entries, cpuid->entries + cpuid->nent);
      break;
    }
    if (errno != E2BIG) return fail("KVM not available: " + Errno("KVM_GET_SUPPORTED_CPUID"));
  }
  if (k->supported_cpuid_.empty()) return fail("KVM not available: empty CPUID table");

  // Intel VMX needs these for real mode; harmless elsewhere.
  if (Check(vm, KVM_CAP_SET_TSS_ADDR) && ioctl(vm, KVM_SET_TSS_ADDR, kTssAddr) < 0)
    return fail("KVM: " + Errno("KVM_SET_TSS_ADDR"));
  if (Check(vm, KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
    uint64_t addr = kIdentityMapAddr;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
      return fail("KVM: " + Errno("KVM_SET_IDENTITY_MAP_ADDR"));
  }

  if (opts.irqchip) {
    if (!c.irqchip) {
      k->irqchip_note_ =
          "KVM has no in-kernel irqchip (KVM_CAP_IRQCHIP): "
          "interrupt controllers must be emulated in user space";
    } else if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
      k->irqchip_note_ = "in-kernel irqchip unavailable: " + Errno("KVM_CREATE_IRQCHIP");
    } else {
      k->irqchip_ = true;
    }
  } else {
    k->irqchip_note_ = "in-kernel irqchip disabled by option";
  }
  if (k->irqchip_ && opts.irq0_to_pin2) {
    std::string err;
    if (!k->SetPcIrqRouting(&err)) return fail("KVM: " + err);
  }
  if (k->irqchip_ && opts.pit && c.pit2) {
    kvm_pit_config pit{};
    // Port 0x61 (channel-2 gate and output, refresh toggle) is then served in the
    // kernel from the in-kernel PIT, as BIOS and Linux delay loops need it; it never
    // reaches the CpuBus.
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) return fail("KVM: " + Errno("KVM_CREATE_PIT2"));
    k->pit_ = true;
  }

  k->vcpu_mmap_size_ = ioctl(k->kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (k->vcpu_mmap_size_ < static_cast<int>(sizeof(kvm_run)))
    return fail("KVM not available: " + Errno("KVM_GET_VCPU_MMAP_SIZE"));
  return k;
}

KvmAccelerator::~KvmAccelerator() {
  if (as_ && listener_) as_->RemoveListener(listener_);
  if (vm_fd_ >= 0) close(vm_fd_);  // drops the slots with the VM
  if (kvm_fd_ >= 0) close(kvm_fd_);
}

// ISA IRQ n -> PIC pin n (master 0-7, slave 8-15; 2 is the cascade) and IOAPIC pin n,
// except IRQ 0 -> IOAPIC pin 2; GSIs 16-23 -> IOAPIC pins 16-23.
bool KvmAccelerator::SetPcIrqRouting(std::string* error) {
  std::vector<kvm_irq_routing_entry> e;
  auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry r{};
    r.gsi = gsi;
    r.type = KVM_IRQ_ROUTING_IRQCHIP;
    r.u.irqchip.irqchip = chip;
    r.u.irqchip.pin = pin;
    e.push_back(r);
  };
  for (uint32_t i = 0; i < 16; ++i) {
    if (i == 2) continue;
    add(i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
    add(i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
  }
  for (uint32_t i = 16; i < 24; ++i) add(i, KVM_IRQCHIP_IOAPIC, i);
  std::vector<uint8_t> buf(sizeof(kvm_irq_routing) + e.size() * sizeof(kvm_irq_routing_entry));
  auto* r = reinterpret_cast<kvm_irq_routing*>(buf.data());
  r->nr = static_cast<uint32_t>(e.size());
  std::memcpy(r->entries, e.data(), e.size() * sizeof(kvm_irq_routing_entry));
  if (ioctl(vm_fd_, KVM_SET_GSI_ROUTING, r) < 0) {
    *error = Errno("KVM_SET_GSI_ROUTING");
    return false;
  }
  return true;
}

std::vector<kvm_cpuid_entry2> KvmAccelerator::CpuidFor(int index) const {
  CpuidPolicy p;
  p.apic_id = index;
  p.num_cpus = opts_.num_cpus;
  p.in_kernel_lapic = irqchip_;
  return FilterCpuid(supported_cpuid_, p);
}

std::unique_ptr<Vcpu> KvmAccelerator::CreateVcpu(int index) {
  return std::unique_ptr<Vcpu>(CreateKvmVcpu(index));
}

KvmVcpu* KvmAccelerator::CreateKvmVcpu(int index) {
  if (!bus_) throw std::logic_error("KvmAccelerator: SetCpuBus before CreateVcpu");
  if (index < 0 || index >= opts_.num_cpus)
    throw std::out_of_range("KVM: vCPU index " + std::to_string(index) + " out of range");
  return new KvmVcpu(this, index);
}

void KvmAccelerator::SetIrq(unsigned gsi, bool level) {
  if (!irqchip_) throw std::logic_error("KVM: SetIrq without an in-kernel irqchip");
  kvm_irq_level l{};
  l.irq = gsi;
  l.level = level ? 1 : 0;
  if (ioctl(vm_fd_, KVM_IRQ_LINE, &l) < 0)
    throw std::runtime_error("KVM: " + Errno("KVM_IRQ_LINE"));
}

std::function<void(bool)> KvmAccelerator::IrqSink(unsigned gsi) {
  return [this, gsi](bool level) { SetIrq(gsi, level); };
}

void KvmAccelerator::AttachMemory(hw::AddressSpace* as) {
  if (as_) throw std::logic_error("KVM: AttachMemory called twice");
  as_ = as;
  listener_ = as->AddListener([this](const hw::FlatView& v) { SyncSlots(v); });
  SyncSlots(as->view());  // the view may already be built: map it now
}

std::vector<KvmAccelerator::Slot> KvmAccelerator::slots() const {
  std::lock_guard<std::mutex> g(slots_mu_);
  std::vector<Slot> out;
  for (const auto& [gpa, s] : slots_) out.push_back(s);
  return out;
}

// Brings the KVM slots in line with the RAM/ROM ranges of `view`: slots that changed
// are deleted first (KVM refuses overlapping slots), then the new ones are added.
// Range edges that are not page-aligned stay unmapped and reach the CpuBus as MMIO.
void KvmAccelerator::SyncSlots(const hw::FlatView& view) {
  std::lock_guard<std::mutex> g(slots_mu_);
  std::map<uint64_t, Slot> want;
  for (const auto& r : view.ranges) {
    if (!r.is_ram() || !r.region->host()) continue;
    uint64_t start = (r.start + kPage - 1) & ~(kPage - 1);
    uint64_t end = (r.start + r.size) & ~(kPage - 1);
    if (end <= start) continue;
    uint8_t* host = r.region->host() + r.offset + (start - r.start);
    if (reinterpret_cast<uintptr_t>(host) % kPage != 0) {
      std::fprintf(stderr,
                   "emu: kvm: %s at 0x%llx is not page-aligned in host memory; "
                   "accesses take the slow MMIO path\n",
                   r.region->name().c_str(), static_cast<unsigned long long>(r.start));
      continue;
    }
    bool ro = r.region->kind() == hw::MemoryRegion::Kind::kRom || r.region->read_only();
    want[start] = Slot{0, start, end - start, host, ro};
  }
  auto same = [](const Slot& a, const Slot& b) {
    return a.gpa == b.gpa && a.size == b.size && a.host == b.host && a.readonly == b.readonly;
  };
  auto set = [&](const Slot& s, bool remove) {
    kvm_userspace_memory_region m{};
    m.slot = s.id;
    m.guest_phys_addr = s.gpa;
    m.memory_size = remove ? 0 : s.size;
    m.userspace_addr = reinterpret_cast<uint64_t>(s.host);
    m.flags = (s.readonly && caps_.readonly_mem && !remove) ? KVM_MEM_READONLY : 0;
    if (ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
      char where[64];
      std::snprintf(where, sizeof where, " (slot at 0x%llx, %llu bytes)",
                    static_cast<unsigned long long>(s.gpa),
                    static_cast<unsigned long long>(s.size));
      throw std::runtime_error("KVM: " + Errno("KVM_SET_USER_MEMORY_REGION") + where);
    }
  };
  for (auto it = slots_.begin(); it != slots_.end();) {
    auto w = want.find(it->first);
    if (w != want.end() && same(w->second, it->second)) {
      ++it;
      continue;
    }
    set(it->second, true);
    free_slot_ids_.push_back(it->second.id);
    it = slots_.erase(it);
  }
  for (auto& [gpa, s] : want) {
    if (slots_.count(gpa)) continue;
    if (!free_slot_ids_.empty()) {
      s.id = free_slot_ids_.back();
      free_slot_ids_.pop_back();
    } else {
      if (next_slot_id_ >= static_cast<uint32_t>(caps_.max_memslots))
        throw std::runtime_error("KVM: out of memory slots");
      s.id = next_slot_id_++;
    }
    if (s.readonly && !caps_.readonly_mem)
      std::fprintf(stderr, "emu: kvm: no KVM_CAP_READONLY_MEM: ROM %llx is writable by the guest\n",
                   static_cast<unsigned long long>(gpa));
    set(s, false);
    slots_[gpa] = s;
  }
}

}  // namespace emu::accel
