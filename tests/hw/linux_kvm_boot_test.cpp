// Cross-checks the direct-boot pieces against the real Debian kernel running on
// the real CPU: a bare KVM vCPU (no emulator; the only devices are a serial
// transmit stub and the ACPI PM block) starts from the state our Linux loader
// computes, with our e820 map and ACPI tables in guest RAM. The kernel must
// decompress itself, read our boot_params and parse every ACPI table without
// complaint -- if the loader or a table were wrong, Linux would say so (or
// crash) long before it needs interrupts.
//
// Skipped without the kernel or /dev/kvm, and when KVM is too slow to be useful
// (nested virtualization without hardware help): a short probe measures it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "hw/i386/acpi/acpi_tables.h"
#include "hw/i386/acpi_pm.h"
#include "hw/i386/boot_cpu.h"
#include "hw/i386/e820.h"
#include "hw/i386/linux_loader.h"

namespace emu::hw {
namespace {

// In C++, <linux/kvm.h>'s flexible-array macro makes sizeof(kvm_cpuid2) and
// sizeof(kvm_msrs) 12 instead of the kernel's 8, which changes the ioctl numbers;
// use the kernel's. The CPUID buffer is only passed from one call to the other,
// so its entry layout does not matter here.
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);

void OnSignal(int) {}

kvm_segment ToKvm(const x86::Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = uint8_t(s.type());
  k.present = s.present();
  k.dpl = uint8_t(s.dpl());
  k.db = s.db();
  k.s = s.s();
  k.l = s.l();
  k.g = s.g();
  k.avl = (s.attr >> 12) & 1;
  k.unusable = !s.present();
  return k;
}

// One VM with one vCPU over a RAM region mapped at guest address 0.
class KvmGuest {
 public:
  // Returns an empty string on success, else why KVM cannot be used.
  std::string Open(MemoryRegion* ram) {
    kvm_ = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_ < 0) return std::string("/dev/kvm: ") + std::strerror(errno);
    cpuid_.resize(8 + 128 * sizeof(kvm_cpuid_entry2));
    reinterpret_cast<uint32_t*>(cpuid_.data())[0] = 128;
    if (ioctl(kvm_, kGetSupportedCpuid, cpuid_.data()) < 0) return Err("KVM_GET_SUPPORTED_CPUID");
    vm_ = ioctl(kvm_, KVM_CREATE_VM, 0);
    if (vm_ < 0) return Err("KVM_CREATE_VM");
    kvm_userspace_memory_region slot{};
    slot.memory_size = ram->size();
    slot.userspace_addr = reinterpret_cast<uint64_t>(ram->host());
    if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &slot) < 0) return Err("KVM_SET_USER_MEMORY_REGION");
    if (ioctl(vm_, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) return Err("KVM_SET_TSS_ADDR");
    vcpu_ = ioctl(vm_, KVM_CREATE_VCPU, 0);
    if (vcpu_ < 0) return Err("KVM_CREATE_VCPU");
    run_size_ = ioctl(kvm_, KVM_GET_VCPU_MMAP_SIZE, 0);
    void* p = mmap(nullptr, size_t(run_size_), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_, 0);
    if (p == MAP_FAILED) return Err("mmap kvm_run");
    run_ = static_cast<kvm_run*>(p);
    if (ioctl(vcpu_, kSetCpuid2, cpuid_.data()) < 0) return Err("KVM_SET_CPUID2");
    return "";
  }

  ~KvmGuest() {
    if (run_) munmap(run_, size_t(run_size_));
    for (int fd : {vcpu_, vm_, kvm_})
      if (fd >= 0) close(fd);
  }

  std::string SetState(const x86::CpuState& cpu) {
    kvm_sregs s{};
    if (ioctl(vcpu_, KVM_GET_SREGS, &s) < 0) return Err("KVM_GET_SREGS");
    s.cs = ToKvm(cpu.seg[x86::CS]);
    s.ds = ToKvm(cpu.seg[x86::DS]);
    s.es = ToKvm(cpu.seg[x86::ES]);
    s.fs = ToKvm(cpu.seg[x86::FS]);
    s.gs = ToKvm(cpu.seg[x86::GS]);
    s.ss = ToKvm(cpu.seg[x86::SS]);
    s.tr = ToKvm(cpu.tr);
    s.ldt = ToKvm(cpu.ldtr);
    s.gdt.base = cpu.gdtr.base;
    s.gdt.limit = cpu.gdtr.limit;
    s.idt.base = cpu.idtr.base;
    s.idt.limit = cpu.idtr.limit;
    s.cr0 = cpu.cr0;
    s.cr3 = cpu.cr3;
    s.cr4 = cpu.cr4;
    s.efer = cpu.efer;
    if (ioctl(vcpu_, KVM_SET_SREGS, &s) < 0) return Err("KVM_SET_SREGS");
    struct {
      uint32_t nmsrs, pad;
      kvm_msr_entry e[1];
    } msrs{1, 0, {}};
    msrs.e[0].index = 0x2ff;  // IA32_MTRR_DEF_TYPE
    msrs.e[0].data = cpu.mtrr_def_type;
    if (ioctl(vcpu_, kSetMsrs, &msrs) != 1) return Err("KVM_SET_MSRS");
    kvm_regs r{};
    // kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15; ours follows the encoding.
    static const int kMap[16] = {0, 2, 3, 1, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++) reinterpret_cast<uint64_t*>(&r)[kMap[i]] = cpu.regs[i];
    r.rip = cpu.rip;
    r.rflags = cpu.rflags;
    if (ioctl(vcpu_, KVM_SET_REGS, &r) < 0) return Err("KVM_SET_REGS");
    return "";
  }

  // Runs until `io` returns false, the guest halts or fails, or `limit` passes.
  // `io(port, is_out, data, size)` handles one port access. Returns why it stopped.
  std::string Run(std::chrono::milliseconds limit,
                  const std::function<bool(uint16_t, bool, uint8_t*, unsigned)>& io) {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigaction(SIGUSR1, &sa, nullptr);
    std::atomic<bool> done{false};
    pthread_t self = pthread_self();
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::thread watchdog([&] {
      while (!done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (std::chrono::steady_clock::now() > deadline) {
          run_->immediate_exit = 1;
          pthread_kill(self, SIGUSR1);
        }
      }
    });
    std::string why;
    while (why.empty()) {
      if (ioctl(vcpu_, KVM_RUN, 0) < 0) {
        if (errno != EINTR && errno != EAGAIN) why = Err("KVM_RUN");
        if (std::chrono::steady_clock::now() > deadline) why = "timeout";
        continue;
      }
      switch (run_->exit_reason) {
        case KVM_EXIT_IO: {
          auto* data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
          for (uint32_t n = 0; n < run_->io.count && why.empty(); n++, data += run_->io.size)
            if (!io(run_->io.port, run_->io.direction == KVM_EXIT_IO_OUT, data, run_->io.size))
              why = "done";
          break;
        }
        case KVM_EXIT_MMIO:  // no MMIO devices: reads as zero, writes dropped
          if (!run_->mmio.is_write) std::memset(run_->mmio.data, 0, sizeof run_->mmio.data);
          break;
        case KVM_EXIT_HLT: why = "hlt"; break;
        case KVM_EXIT_INTR: break;
        default: why = "exit reason " + std::to_string(run_->exit_reason); break;
      }
    }
    done = true;
    watchdog.join();
    run_->immediate_exit = 0;
    return why;
  }

 private:
  static std::string Err(const char* what) { return std::string(what) + ": " + std::strerror(errno); }
  int kvm_ = -1, vm_ = -1, vcpu_ = -1, run_size_ = 0;
  kvm_run* run_ = nullptr;
  std::vector<uint8_t> cpuid_;
};

struct NoMachine : MachineControl {
  void RequestExit(int) override {}
  void RequestReset() override {}
};

// How long 1M iterations of a two-instruction loop take under KVM (about 1 ms on
// hardware), or a negative value with `why` set when KVM is unusable.
double ProbeKvmSeconds(std::string* why) {
  auto root = MemoryRegion::Container("mem", 1ull << 32);
  auto ram = MemoryRegion::Ram("ram", 2 << 20);
  root->AddSubregion(0, ram.get());
  AddressSpace mem("mem", root.get());
  // mov ecx, 1000000; 1: dec ecx; jnz 1b; out 0x80, al
  const uint8_t code[] = {0xb9, 0x40, 0x42, 0x0f, 0x00, 0x49, 0x75, 0xfd, 0xe6, 0x80};
  LoadIntoRam(mem, 0x8000, code, sizeof code, "probe");
  x86::CpuState cpu;
  cpu.ResetToPowerOn();
  SetupFlat32(mem, cpu, 0x8000);
  KvmGuest g;
  *why = g.Open(ram.get());
  if (why->empty()) *why = g.SetState(cpu);
  if (!why->empty()) return -1;
  auto t0 = std::chrono::steady_clock::now();
  std::string stop = g.Run(std::chrono::milliseconds(500), [](uint16_t, bool, uint8_t*, unsigned) {
    return false;
  });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stop == "done" ? s : 1e9;
}

TEST(LinuxKvmBoot, DebianKernelParsesOurBootParamsAndAcpiTables) {
  const char* guests = std::getenv("EMU_GUESTS");
  std::string path = guests ? std::string(guests) + "/linux/vmlinuz" : "$EMU_GUESTS/linux/vmlinuz";
  std::ifstream f(path, std::ios::binary);
  if (!guests || !f) GTEST_SKIP() << path << " is missing (tests/guests/make-linux makes it)";
  std::vector<uint8_t> kernel((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string why;
  double probe = ProbeKvmSeconds(&why);
  if (probe < 0) GTEST_SKIP() << "KVM is not usable here: " << why;
  if (probe > 0.05)
    GTEST_SKIP() << "KVM is too slow here to boot a kernel in a unit test (a 1M-iteration "
                 << "loop took " << (probe > 1e8 ? std::string("over 0.5") : std::to_string(probe))
                 << " s, ~1 ms on hardware; nested virtualization?)";

  constexpr uint64_t kRam = 256ull << 20;
  auto root = MemoryRegion::Container("mem", 1ull << 32);
  auto ram = MemoryRegion::Ram("ram", kRam);
  root->AddSubregion(0, ram.get());
  AddressSpace mem("mem", root.get());
  E820Map e820 = BuildPcE820(kRam, kAcpiRamAreaSize);
  uint64_t rsdp = InstallAcpiInRam(mem, BuildAcpiTables({}), AcpiRamArea(kRam, kAcpiRamAreaSize),
                                   kAcpiRamAreaSize);
  LinuxBootOptions o;
  o.cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200 nokaslr panic=-1";
  o.acpi_rsdp_addr = rsdp;
  x86::CpuState cpu;
  LoadLinuxImage(mem, e820, kernel, path, {}, "", o, &cpu);

  // The PM block answers on the port space (Linux may read the PM timer).
  Clock clock(Clock::Type::kVirtual);
  IrqLine sci;
  NoMachine machine;
  auto io_root = MemoryRegion::Container("io", 0x10000);
  AddressSpace io("io", io_root.get());
  AcpiPm pm(&clock, &sci, &machine);
  pm.MapPorts(io_root.get());

  KvmGuest g;
  ASSERT_EQ(g.Open(ram.get()), "");
  ASSERT_EQ(g.SetState(cpu), "");
  std::string out;
  uint8_t lcr = 0;
  // Far enough: acpi_boot_init() prints the PM timer port after parsing the FADT
  // and MADT.
  const std::string goal = "ACPI: PM-Timer IO Port";
  std::string stop = g.Run(std::chrono::seconds(60), [&](uint16_t port, bool is_out, uint8_t* d,
                                                         unsigned size) {
    if (port >= 0x3f8 && port < 0x400) {  // a transmit-only 16550
      if (is_out && port == 0x3fb) lcr = d[0];
      if (is_out && port == 0x3f8 && !(lcr & 0x80)) out += char(d[0]);
      if (!is_out) d[0] = port == 0x3fd ? 0x60 : 0;  // LSR: transmitter empty
      return out.find(goal) == std::string::npos;
    }
    uint64_t v = 0;
    if (is_out) {
      std::memcpy(&v, d, size);
      io.WriteN(port, v, size);
    } else {
      v = io.ReadN(port, size);
      std::memcpy(d, &v, size);
    }
    return true;
  });

  SCOPED_TRACE("guest output:\n" + out);
  EXPECT_EQ(stop, "done");
  EXPECT_NE(out.find("Command line: " + o.cmdline), std::string::npos);
  EXPECT_NE(out.find("BIOS-e820: [mem 0x0000000000100000-"), std::string::npos);
  EXPECT_NE(out.find("ACPI: RSDP 0x"), std::string::npos);
  for (const char* t : {"ACPI: XSDT", "ACPI: FACP", "ACPI: DSDT", "ACPI: FACS", "ACPI: APIC"})
    EXPECT_NE(out.find(t), std::string::npos) << t;
  EXPECT_NE(out.find("ACPI: PM-Timer IO Port: 0x608"), std::string::npos);
  // Linux reports table problems with these words.
  for (const char* bad : {"Incorrect checksum", "ACPI BIOS Error", "ACPI Error", "Invalid",
                          "mismatch"})
    EXPECT_EQ(out.find(bad), std::string::npos) << bad;
}

}  // namespace
}  // namespace emu::hw
