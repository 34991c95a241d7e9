#include "tests/accel/harness.h"

#include <sys/stat.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace emu::accel::test {

namespace {

void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

x86::Segment Seg(uint16_t sel, uint16_t attr, uint64_t base = 0, uint32_t limit = 0xffffffff) {
  x86::Segment s;
  s.selector = sel;
  s.attr = attr;
  s.base = base;
  s.limit = limit;
  return s;
}

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

}  // namespace

Harness::Harness(uint64_t ram_size) {
  root_ = hw::MemoryRegion::Container("system", 1ull << 32);
  ram_ = hw::MemoryRegion::Ram("ram", ram_size);
  hw::MmioOps ops;
  ops.min_size = 1;
  ops.max_size = 8;
  ops.read = [this](uint64_t off, unsigned size) -> uint64_t {
    uint64_t v = regs_[(off / 8) % 8];
    return v >> ((off % 8) * 8);
  };
  ops.write = [this](uint64_t off, uint64_t value, unsigned size) {
    mmio_writes_++;
    if (off / 8 == 7) ExitLocked(static_cast<uint32_t>(value));  // doorbell
    uint64_t& r = regs_[(off / 8) % 8];
    unsigned shift = (off % 8) * 8;
    uint64_t mask = size >= 8 ? ~0ull : ((1ull << (size * 8)) - 1);
    r = (r & ~(mask << shift)) | ((value & mask) << shift);
  };
  mmio_ = hw::MemoryRegion::Mmio("scratch", 64, ops);
  rom_ = hw::MemoryRegion::Rom("rom", 64 * 1024);
  root_->AddSubregion(0, ram_.get());
  root_->AddSubregion(kMmioBase, mmio_.get());
  root_->AddSubregion(kRomBase, rom_.get());
  as_ = std::make_unique<hw::AddressSpace>("memory", root_.get());
}

Harness::~Harness() = default;

void Harness::Load(uint64_t addr, const void* data, size_t len) {
  if (addr > ram_size() || len > ram_size() - addr)
    throw std::out_of_range("Harness::Load beyond RAM");
  std::memcpy(ram() + addr, data, len);
}

void Harness::BuildPageTables() {
  uint8_t* m = ram();
  const uint64_t pdpt = kPml4 + 0x1000, pd = kPml4 + 0x2000;
  std::memset(m + kPml4, 0, 0x6000);
  Put64(m + kPml4, pdpt | 7);
  for (int i = 0; i < 4; ++i) Put64(m + pdpt + 8 * i, (pd + 0x1000 * i) | 7);
  for (uint64_t i = 0; i < 2048; ++i) Put64(m + pd + 8 * i, (i << 21) | 0x87);
  // GDT matching the selectors of LongModeUser (KVM takes the hidden parts from the
  // state, but a guest reloading a selector would read these).
  const uint64_t gdt[] = {0,
                          0x00af9b000000ffff,
                          0x00cf93000000ffff,
                          0x00cffb000000ffff,
                          0x00cff3000000ffff,
                          0x00affb000000ffff};
  std::memcpy(m + kGdt, gdt, sizeof gdt);
  uint64_t tss_lo =
      0x67 | ((kTss & 0xffffff) << 16) | (0x89ull << 40) | ((kTss >> 24) & 0xff) << 56;
  Put64(m + kGdt + 0x30, tss_lo);
  Put64(m + kGdt + 0x38, 0);
  std::memset(m + kTss, 0, 104);
  m[kTss + 102] = 104;  // no I/O bitmap: IOPL alone decides
}

x86::CpuState Harness::LongModeUser(uint64_t rip, uint64_t rsp) {
  x86::CpuState s;
  s.ResetToPowerOn();
  using namespace x86;
  s.cr0 = kCr0PE | kCr0MP | kCr0ET | kCr0NE | kCr0WP | kCr0PG;
  s.cr4 = kCr4PAE | kCr4OSFXSR | kCr4OSXMMEXCPT;
  s.cr3 = kPml4;
  s.efer = kEferLME | kEferLMA | kEferSCE;
  s.seg[CS] = Seg(0x2b, 0xa0fb);                                       // 64-bit code, DPL 3
  for (SegReg r : {ES, SS, DS, FS, GS}) s.seg[r] = Seg(0x23, 0xc0f3);  // data, DPL 3
  s.tr = Seg(0x30, 0x8b, kTss, 0x67);                                  // busy 64-bit TSS
  s.ldtr = Seg(0, 0x82, 0, 0xffff);
  s.gdtr = {kGdt, 0x3f};
  s.idtr = {0, 0};  // any fault is fatal (shutdown): tests must not fault
  s.rip = rip;
  s.regs[RSP] = rsp;
  s.regs[RDX] = 0;
  s.rflags = 0x2;
  return s;
}

x86::CpuState Harness::LongModeKernel(uint64_t rip, uint64_t rsp) {
  x86::CpuState s = LongModeUser(rip, rsp);
  using namespace x86;
  s.seg[CS] = Seg(0x08, 0xa09b);  // 64-bit code, DPL 0
  for (SegReg r : {ES, SS, DS, FS, GS}) s.seg[r] = Seg(0x10, 0xc093);
  s.rflags = 0x2;
  return s;
}

x86::CpuState Harness::MultibootEntry(uint32_t entry, uint32_t info_addr) {
  x86::CpuState s;
  s.ResetToPowerOn();
  using namespace x86;
  s.cr0 = kCr0PE | kCr0ET;
  s.seg[CS] = Seg(0x08, 0xc09b);  // 32-bit code, flat
  for (SegReg r : {ES, SS, DS, FS, GS}) s.seg[r] = Seg(0x10, 0xc093);
  s.tr = Seg(0, 0x8b, 0, 0xffff);
  s.gdtr = {0, 0};
  s.idtr = {0, 0x3ff};
  s.rip = entry;
  s.regs[RAX] = 0x2BADB002;
  s.regs[RBX] = info_addr;
  s.regs[RDX] = 0;
  s.rflags = 0x2;
  return s;
}

void Harness::WriteMultibootInfo(uint32_t addr) {
  uint8_t info[116] = {};
  uint32_t flags = 1, lower = 640, upper = static_cast<uint32_t>((ram_size() >> 10) - 1024);
  std::memcpy(info, &flags, 4);
  std::memcpy(info + 4, &lower, 4);
  std::memcpy(info + 8, &upper, 4);
  Load(addr, info, sizeof info);
}

uint64_t Harness::PortRead(uint16_t port, unsigned size) {
  std::lock_guard<std::mutex> g(mu_);
  if (port == kCom1 + 5) return 0x60;  // LSR: THR empty, transmitter idle
  if (port == kMagicPort) return size == 4 ? kMagicValue : (kMagicValue & ((1u << (8 * size)) - 1));
  if (port >= kCom1 && port < kCom1 + 8) return 0;
  return size == 4 ? 0xffffffff : (1u << (8 * size)) - 1;  // unassigned
}

void Harness::PortWrite(uint16_t port, uint64_t value, unsigned size) {
  std::lock_guard<std::mutex> g(mu_);
  port_writes_[port]++;
  if (port == kCom1) {
    serial_.push_back(static_cast<char>(value & 0xff));
  } else if (port == kExitPort) {
    ExitLocked(static_cast<uint32_t>(value));
  }
}

void Harness::ExitLocked(uint32_t code) {
  exit_ = code;
  for (Vcpu* v : running_) v->Kick();
}

uint64_t Harness::MmioRead(uint64_t addr, unsigned size) {
  std::lock_guard<std::mutex> g(mu_);
  return as_->ReadN(addr, size);
}

void Harness::MmioWrite(uint64_t addr, uint64_t value, unsigned size) {
  std::lock_guard<std::mutex> g(mu_);
  as_->WriteN(addr, value, size);
  as_->view();  // flush layout changes to listeners (KVM slots), as the machine does
}

std::string Harness::serial() {
  std::lock_guard<std::mutex> g(mu_);
  return serial_;
}

std::optional<uint32_t> Harness::exit_code() {
  std::lock_guard<std::mutex> g(mu_);
  return exit_;
}

unsigned Harness::port_writes(uint16_t port) {
  std::lock_guard<std::mutex> g(mu_);
  return port_writes_[port];
}

uint64_t Harness::mmio_reg(unsigned i) {
  std::lock_guard<std::mutex> g(mu_);
  return regs_[i % 8];
}

std::vector<RunResult> Harness::RunUntilExit(const std::vector<Vcpu*>& vcpus,
                                             std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> g(mu_);
    running_ = vcpus;
  }
  timed_out_ = false;
  std::vector<RunResult> results(vcpus.size(), RunResult{ExitReason::kStopped, "not run"});
  std::mutex done_mu;
  std::condition_variable done_cv;
  std::atomic<bool> stop{false};
  size_t finished = 0;
  auto stop_all = [&] {
    stop = true;
    for (Vcpu* v : vcpus) v->Kick();
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < vcpus.size(); ++i) {
    threads.emplace_back([&, i] {
      for (;;) {
        RunResult r = vcpus[i]->Run();
        results[i] = r;
        if (exit_code() || stop) break;
        if (r.reason == ExitReason::kStopped) continue;  // stray signal: keep going
        stop_all();  // halt without irqchip, shutdown, error, debug: end the run
        break;
      }
      std::lock_guard<std::mutex> g(done_mu);
      ++finished;
      done_cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> l(done_mu);
    if (!done_cv.wait_for(l, timeout, [&] { return finished == vcpus.size(); })) {
      timed_out_ = true;
      l.unlock();
      stop_all();
    }
  }
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> g(mu_);
  running_.clear();
  return results;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::string GuestCache(std::string* why) {
  std::string cache;
  if (const char* g = std::getenv("EMU_GUESTS"))
    cache = g;
  else if (const char* b = std::getenv("EMU_BUILD_ROOT"))
    cache = std::string(b) + "/guests";
  if (cache.empty()) {
    *why = "neither EMU_GUESTS nor EMU_BUILD_ROOT is set";
    return "";
  }
  if (Exists(cache + "/mbkern.bin") && Exists(cache + "/mbkern-smp.bin")) return cache;
  const char* src = std::getenv("EMU_SOURCE_ROOT");
  if (!src) {
    *why = cache + "/mbkern.bin missing and EMU_SOURCE_ROOT unset (run tests/guests/prepare)";
    return "";
  }
  std::string cmd = "bash '" + std::string(src) + "/tests/guests/make-mbkern' '" + cache + "'";
  if (std::system(cmd.c_str()) != 0 || !Exists(cache + "/mbkern.bin")) {
    *why = "tests/guests/make-mbkern failed (needs binutils)";
    return "";
  }
  return cache;
}

}  // namespace emu::accel::test
