// Machine assembly: chardevs, the PC board, the accelerator, vCPU threads and the
// main loop, wired together from a MachineConfig.
//
// Threads: the main thread runs the glib main loop (chardev input, timers, the
// monitor). Each vCPU has a thread. Device access is serialized by the machine
// lock (MainLoop::lock()); vCPU threads take it around every port/MMIO access.
// Lock order: machine lock before run_mu_ (vCPU parking), never the reverse.
//
// Reset and exit are requests: a device (under the machine lock, often on a vCPU
// thread) calls RequestReset/RequestExit; vCPUs are kicked out of Run(); vCPU 0
// performs the reset while the others are parked, and the main loop ends on exit.
#include "system/machine.h"

#include <sys/prctl.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <chrono>

#include "accel/kvm/kvm_accel.h"
#include "accel/kvm/kvm_fallback.h"
#include "accel/tcg/tcg_accel.h"
#include "hw/devices.h"
#include "hw/core/log.h"
#include "hw/i386/pc.h"
#include "system/chardev.h"
#include "system/main_loop.h"
#include "system/monitor.h"
#include "target-x86/cpu_dump.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::system {

namespace {

// The vCPU index of this thread (-1 elsewhere): the LAPIC window is per CPU.
thread_local int t_vcpu = -1;

// One per vCPU under the translator: the LAPIC is the CPU's interrupt source.
struct LapicSource : accel::tcg::InterruptSource {
  hw::Lapic* l;
  std::recursive_mutex* mu;  // the machine lock
  bool Pending() override {
    std::lock_guard<std::recursive_mutex> g(*mu);
    return l->InterruptPending();
  }
  int Acknowledge() override {
    std::lock_guard<std::recursive_mutex> g(*mu);
    return l->Acknowledge();
  }
};

class Machine : public hw::MachineControl, public accel::CpuBus {
 public:
  explicit Machine(const MachineConfig& cfg) : cfg_(cfg), vclock_(hw::Clock::Type::kVirtual) {}
  ~Machine() override;
  int Run();

  // hw::MachineControl
  void RequestExit(int status) override;
  void RequestReset() override;
  void RequestPowerOff() override;

  // accel::CpuBus (called on vCPU threads)
  uint64_t PortRead(uint16_t port, unsigned size) override;
  void PortWrite(uint16_t port, uint64_t value, unsigned size) override;
  uint64_t MmioRead(uint64_t addr, unsigned size) override;
  void MmioWrite(uint64_t addr, uint64_t value, unsigned size) override;


 private:
  void Setup();
  void CreateChardevs();
  hw::CharDev* Chardev(const std::string& id);
  void CreateBoard();
  void CreateAccelerator();
  void CreateUserDevices();
  void CreateMonitor();
  void VcpuThread(int index);
  void DoReset();
  void Wake();
  void SyncTcgTsc();
  void SetUserPause(bool paused);
  // Each vCPU's state, taken on its own thread (empty when it did not answer).
  std::vector<std::optional<x86::CpuState>> Snapshot();
  std::vector<std::optional<x86::CpuState>> CollectStates();  // Snapshot's wait
  std::string InfoRegisters();
  std::string InfoCpus();

  MachineConfig cfg_;
  hw::Clock vclock_;
  std::unique_ptr<MainLoop> loop_;
  std::unique_ptr<ChardevSet> chardevs_;
  std::unique_ptr<hw::PcBoard> board_;
  std::unique_ptr<accel::KvmAccelerator> kvm_;
  // Under KVM: the translator for the instructions KVM cannot execute.
  std::unique_ptr<accel::TranslatorFallback> kvm_fallback_;
  std::unique_ptr<accel::tcg::TcgAccelerator> tcg_;
  std::vector<std::unique_ptr<accel::Vcpu>> vcpus_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Monitor> monitor_;
  std::FILE* log_ = nullptr;

  // vCPU parking (halt, pause for reset) and the exit/reset requests.
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool quit_ = false;
  bool pause_ = false;       // parked for a reset
  bool user_pause_ = false;  // monitor "stop"
  int parked_ = 0;
  // "info registers": vCPU threads publish their state when the generation moves.
  uint64_t snap_request_ = 0;
  std::vector<uint64_t> snap_done_;
  std::vector<x86::CpuState> snaps_;
  uint64_t wake_gen_ = 0;
  std::atomic<bool> reset_pending_{false};
  std::atomic<int> exit_status_{0};
  std::vector<std::unique_ptr<LapicSource>> sources_;
};

Machine::~Machine() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    quit_ = true;
  }
  run_cv_.notify_all();
  for (auto& v : vcpus_) v->Kick();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  monitor_.reset();
  vcpus_.clear();
  tcg_.reset();
  if (kvm_fallback_) {
    hw::Log(hw::LogMask::kUnimp, "%s", kvm_fallback_->Summary().c_str());
    kvm_fallback_.reset();
  }
  kvm_.reset();
  board_.reset();
  chardevs_.reset();
  hw::SetLog(0, nullptr);
  if (log_ && log_ != stderr) std::fclose(log_);
}

void Machine::CreateChardevs() {
  chardevs_ = std::make_unique<ChardevSet>(*loop_);
  chardevs_->Create(cfg_.chardevs);
}

hw::CharDev* Machine::Chardev(const std::string& id) { return chardevs_->Attach(id); }

void Machine::CreateBoard() {
  hw::PcOptions o;
  o.ram_size = cfg_.ram_size;
  o.cpus = cfg_.smp;
  for (size_t i = 0; i < cfg_.serial.size() && i < 4; i++) o.serial[i] = Chardev(cfg_.serial[i]);
  o.user_pic = !kvm_ || !kvm_->has_irqchip();
  o.current_cpu = [] { return t_vcpu; };
  o.user_pit = !kvm_ || !kvm_->has_pit();
  o.bios = cfg_.bios.empty() ? "/usr/share/seabios/bios.bin" : cfg_.bios;
  o.kernel = cfg_.kernel;
  o.initrd = cfg_.initrd;
  o.append = cfg_.append;
  board_ = std::make_unique<hw::PcBoard>(o, &vclock_, this);
  hw::DeviceContext& ctx = board_->device_context();
  ctx.chardev = [this](const std::string& id) { return Chardev(id); };
  if (!cfg_.debugcon.empty())
    board_->AddDevice(std::make_unique<hw::DebugCon>(board_->io_root(), Chardev(cfg_.debugcon)));
}

void Machine::CreateAccelerator() {
  // CPU models: the translator implements one truthful model (docs/translator.md);
  // KVM passes the host's features through its filter. Both accept "max".
  const std::string& m = cfg_.cpu_model;
  if (m != "qemu64" && m != "max" && m != "host")
    throw hw::ConfigError("-cpu " + m + ": unknown CPU model (qemu64, max, host)");
  if (!cfg_.name.empty()) prctl(PR_SET_NAME, ("emu-" + cfg_.name).substr(0, 15).c_str());
  for (size_t i = 0; i < cfg_.accel_list.size(); i++) {
    const std::string& a = cfg_.accel_list[i];
    bool last = i + 1 == cfg_.accel_list.size();
    if (a == "kvm") {
      std::string err;
      accel::KvmAccelerator::Options ko;
      ko.num_cpus = cfg_.smp;
      kvm_ = accel::KvmAccelerator::Create(ko, &err);
      if (kvm_) return;
      if (m == "host" && last) throw hw::ConfigError("-cpu host needs -accel kvm: " + err);
      if (last) throw hw::ConfigError("-accel kvm: " + err);
      std::fprintf(stderr, "emu: warning: -accel kvm: %s; falling back to %s\n", err.c_str(),
                   cfg_.accel_list[i + 1].c_str());
    } else if (a == "tcg") {
      if (m == "host") throw hw::ConfigError("-cpu host: only with -accel kvm");
      return;  // created once the board (and its memory) exists
    } else {
      throw hw::ConfigError("-accel " + a + ": unknown accelerator (kvm, tcg)");
    }
  }
}

void Machine::CreateUserDevices() {
  hw::DeviceRegistry registry;
  hw::RegisterBuiltinDevices(registry);
  for (const DeviceConfig& d : cfg_.devices) {
    const hw::DeviceRegistry::Entry* e = registry.Find(d.driver);
    if (!e) throw hw::ConfigError("-device " + d.driver + ": unknown device (try -device help)");
    hw::Properties props(d.driver, d.props);
    board_->AddDevice(e->factory(board_->device_context(), props));
  }
}

void Machine::CreateMonitor() {
  hw::CharDev* chr = Chardev(cfg_.monitor);
  if (!chr) return;
  MonitorHooks hooks;
  hooks.quit = [this] { RequestExit(0); };
  hooks.system_reset = [this] { RequestReset(); };
  hooks.stop = [this] { SetUserPause(true); };
  hooks.cont = [this] { SetUserPause(false); };
  hooks.status = [this] {
    std::lock_guard<std::mutex> l(run_mu_);
    return std::string(user_pause_ ? "paused" : "running");
  };
  hooks.info_registers = [this] { return InfoRegisters(); };
  hooks.info_cpus = [this] { return InfoCpus(); };
  hooks.read_physical = [this](uint64_t addr, void* buf, size_t len) {
    return board_->memory().Read(addr, buf, len) == hw::MemResult::kOk;
  };
  monitor_ = std::make_unique<Monitor>(chr, std::move(hooks));
  monitor_->Start();
}

int Machine::Run() {
  if (!cfg_.log_file.empty()) {
    log_ = std::fopen(cfg_.log_file.c_str(), "w");
    if (!log_) throw hw::ConfigError("-D " + cfg_.log_file + ": cannot open for writing");
  }
  uint32_t log_mask = 0;
  for (const std::string& item : cfg_.log_items) log_mask |= hw::LogMaskForName(item);
  hw::SetLog(log_mask, log_);
  std::vector<hw::AddrRange> filter;
  for (const auto& [first, last] : cfg_.log_filter) filter.push_back({first, last});
  hw::SetLogFilter(std::move(filter));
  loop_ = std::make_unique<MainLoop>(&vclock_);
  loop_->InstallSignalHandlers();
  {
    std::lock_guard<std::recursive_mutex> setup(loop_->lock());
    Setup();
  }
  snap_done_.assign(cfg_.smp, 0);
  snaps_.resize(cfg_.smp);
  for (int i = 0; i < cfg_.smp; i++)
    threads_.emplace_back([this, i] { VcpuThread(i); });
  return loop_->Run();
}

void Machine::Setup() {
  CreateChardevs();
  CreateAccelerator();
  CreateBoard();
  CreateUserDevices();
  CreateMonitor();

  if (kvm_) {
    for (const std::string& item : cfg_.log_items)
      // in_asm and int: only for what the translator executes for KVM (fallback).
      if (item != "unimp" && item != "guest_errors" && item != "in_asm" && item != "int")
        std::fprintf(stderr, "emu: warning: -d %s: only the translator produces it, not kvm\n",
                     item.c_str());
    kvm_->AttachMemory(&board_->memory());
    kvm_->SetCpuBus(this);
    // What KVM reports as an emulation failure, the translator executes: same memory,
    // same bus; it runs on the failing vCPU's thread, so t_vcpu (the LAPIC window)
    // is that vCPU's. KVM ignores the A20 gate; the translator follows the board.
    kvm_fallback_ = std::make_unique<accel::TranslatorFallback>(kvm_.get(), &board_->memory(), this);
    kvm_fallback_->SetA20(board_->a20());
    board_->SetA20Listener([this](bool on) { kvm_fallback_->SetA20(on); });
    if (kvm_->has_irqchip())
      for (int n = 0; n < 16; n++) board_->ConnectIsaIrq(n, kvm_->IrqSink(n));
    for (int i = 0; i < cfg_.smp; i++) vcpus_.push_back(kvm_->CreateVcpu(i));
  } else {
    accel::tcg::TcgOptions to;
    to.singlestep = cfg_.singlestep;
    to.perf_map = cfg_.perf_map;
    to.native = cfg_.tcg_backend != "interp";
    for (const std::string& item : cfg_.log_items) {
      if (item == "in_asm") to.log_in_asm = true;
      if (item == "exec") to.log_exec = true;
      if (item == "cpu") to.log_cpu = true;
      if (item == "int") to.log_int = true;
      if (item == "op") to.log_op = true;
      if (item == "op_opt") to.log_op_opt = true;
      if (item == "out_asm") to.log_out_asm = true;
    }
    if (log_) to.log = log_;
    tcg_ = std::make_unique<accel::tcg::TcgAccelerator>(&board_->memory(), this, to);
    for (int i = 0; i < cfg_.smp; i++) {
      auto v = tcg_->CreateVcpu(i);
      auto* tv = static_cast<accel::tcg::TcgVcpu*>(v.get());
      // Under the translator the board always has user-space LAPICs (the PIC's
      // INTR reaches them through LINT0), so each vCPU asks its own.
      hw::Lapic* l = board_->lapic(i);
      auto src = std::make_unique<LapicSource>();
      src->l = l;
      src->mu = &loop_->lock();
      tv->SetInterruptSource(src.get());
      sources_.push_back(std::move(src));
      l->kick = [this, tv] { tv->InterruptRequest(); Wake(); };
      l->on_init = [this, tv] { tv->RequestInit(); Wake(); };
      l->on_sipi = [this, tv](uint8_t vec) { tv->RequestSipi(vec); Wake(); };
      l->on_nmi = [this, tv] { tv->RaiseNmi(); Wake(); };
      vcpus_.push_back(std::move(v));
    }
    board_->SetA20Listener([this](bool on) {
      for (auto& v : vcpus_) static_cast<accel::tcg::TcgVcpu*>(v.get())->SetA20(on);
    });
  }

  x86::CpuState boot = board_->Boot();
  vcpus_[0]->SetState(boot);
  SyncTcgTsc();
}

// RESET zeroes every CPU's time-stamp counter at the same instant, so on a real
// board all TSCs agree. Our translator vCPUs count host time from their own
// creation, and only vCPU 0 gets the boot state: give the others vCPU 0's clock so
// the guest's TSC synchronization check (Linux compares TSC reads across CPUs and
// turns the TSC off on a warp) sees one clock.
void Machine::SyncTcgTsc() {
  if (!tcg_) return;
  auto& t0 = static_cast<accel::tcg::TcgVcpu*>(vcpus_[0].get())->cpu();
  for (size_t i = 1; i < vcpus_.size(); i++) {
    auto& t = static_cast<accel::tcg::TcgVcpu*>(vcpus_[i].get())->cpu();
    t.tsc_base_ns = t0.tsc_base_ns;
    t.tsc_offset = t0.tsc_offset;
  }
}

void Machine::Wake() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    wake_gen_++;
  }
  run_cv_.notify_all();
}

void Machine::VcpuThread(int index) {
  accel::Vcpu* v = vcpus_[index].get();
  t_vcpu = index;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(run_mu_);
      if (snap_done_[index] != snap_request_) {
        l.unlock();
        x86::CpuState st;
        if (tcg_) static_cast<accel::tcg::TcgVcpu*>(v)->GetStateFromOwnThread(st);
        else v->GetState(st);
        l.lock();
        snaps_[index] = st;
        snap_done_[index] = snap_request_;
        run_cv_.notify_all();
      }
      if ((pause_ || user_pause_) && !quit_) {
        parked_++;
        run_cv_.notify_all();
        run_cv_.wait(l, [&] {
          return (!pause_ && !user_pause_) || quit_ || snap_done_[index] != snap_request_;
        });
        parked_--;
        continue;
      }
      if (quit_) return;
    }
    if (reset_pending_ && index == 0) {
      DoReset();
      continue;
    }
    uint64_t gen_before;
    {
      std::lock_guard<std::mutex> gl(run_mu_);
      gen_before = wake_gen_;
    }
    accel::RunResult r = v->Run();
    switch (r.reason) {
      case accel::ExitReason::kStopped:
      case accel::ExitReason::kDebug:
        break;
      case accel::ExitReason::kHalt: {
        std::unique_lock<std::mutex> l(run_mu_);
        uint64_t gen = gen_before;  // a SIPI/IPI that woke us during Run() must not be lost
        l.unlock();
        // Re-check: an interrupt may have arrived before we recorded the wake
        // generation. Only the translator returns kHalt; its interrupts come from
        // the LAPIC, whose lock-free hint is refreshed on every change (a change to
        // pending also kicks us, so a stale "no" cannot be lost). Not the machine
        // lock: the monitor holds it while it waits for every vCPU's snapshot, and
        // a halted vCPU must be able to answer.
        hw::Lapic* lapic = board_->lapic(index);
        if (lapic && lapic->MaybePending()) break;
        l.lock();
        run_cv_.wait(l, [&] {
          return wake_gen_ != gen || quit_ || pause_ || user_pause_ || reset_pending_ ||
                 snap_done_[index] != snap_request_;
        });
        break;
      }
      case accel::ExitReason::kShutdown:
        if (cfg_.no_reboot) {
          RequestExit(0);
        } else {
          std::fprintf(stderr, "emu: vcpu %d: triple fault, resetting\n", index);
          reset_pending_ = true;
        }
        break;
      case accel::ExitReason::kError:
        std::fprintf(stderr, "emu: vcpu %d: %s\n", index, r.detail.c_str());
        // Also in the -D file, where a -d unimp reader looks for it.
        if (r.detail.rfind("unimplemented", 0) == 0)
          hw::Log(hw::LogMask::kUnimp, "vcpu %d: %s", index, r.detail.c_str());
        RequestExit(1);
        break;
    }
  }
}

void Machine::DoReset() {
  // Park the other vCPUs, reset the board, then let everyone run again.
  std::unique_lock<std::mutex> l(run_mu_);
  pause_ = true;
  for (size_t i = 1; i < vcpus_.size(); i++) vcpus_[i]->Kick();
  int others = int(vcpus_.size()) - 1;
  run_cv_.wait(l, [&] { return parked_ >= others || quit_; });
  l.unlock();
  {
    std::lock_guard<std::recursive_mutex> ml(loop_->lock());
    x86::CpuState s = board_->Reset();
    vcpus_[0]->SetState(s);
    SyncTcgTsc();
    // The board's reset puts A20 back without telling its listener.
    if (kvm_fallback_) kvm_fallback_->SetA20(board_->a20());
    reset_pending_ = false;
  }
  l.lock();
  pause_ = false;
  l.unlock();
  run_cv_.notify_all();
}

void Machine::SetUserPause(bool paused) {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    user_pause_ = paused;
  }
  if (paused) {
    vclock_.Pause();
    for (auto& v : vcpus_) v->Kick();
  } else {
    vclock_.Resume();
    loop_->Wakeup();
  }
  run_cv_.notify_all();
}

std::vector<std::optional<x86::CpuState>> Machine::Snapshot() {
  // Monitor commands run on the main loop with the machine lock held once (the
  // loop's dispatch). A vCPU in an I/O exit needs that lock to finish the access
  // and answer, so let go of it while waiting (the machine lock is taken before
  // run_mu_ everywhere, so run_mu_ is not held when it is taken back). The wait
  // stays bounded: a vCPU that does not answer in time is shown as busy.
  std::recursive_mutex& machine_lock = loop_->lock();
  machine_lock.unlock();
  std::vector<std::optional<x86::CpuState>> out = CollectStates();
  machine_lock.lock();
  return out;
}

std::vector<std::optional<x86::CpuState>> Machine::CollectStates() {
  std::unique_lock<std::mutex> l(run_mu_);
  uint64_t gen = ++snap_request_;
  l.unlock();
  run_cv_.notify_all();
  for (auto& v : vcpus_) v->Kick();
  l.lock();
  std::vector<std::optional<x86::CpuState>> out(vcpus_.size());
  for (size_t i = 0; i < vcpus_.size(); i++) {
    bool ok = run_cv_.wait_for(l, std::chrono::milliseconds(500),
                               [&] { return snap_done_[i] == gen || quit_; });
    if (ok && snap_done_[i] == gen) out[i] = snaps_[i];
  }
  return out;
}

std::string Machine::InfoRegisters() {
  std::vector<std::optional<x86::CpuState>> snaps = Snapshot();
  std::string out;
  for (size_t i = 0; i < snaps.size(); i++) {
    out += "CPU#" + std::to_string(i) + "\n";
    out += snaps[i] ? x86::FormatCpuState(*snaps[i]) : "(busy)\n";
  }
  return out;
}

// One line per vCPU: where it is and whether it waits (HLT, or for a SIPI).
std::string Machine::InfoCpus() {
  std::vector<std::optional<x86::CpuState>> snaps = Snapshot();
  std::string out;
  for (size_t i = 0; i < snaps.size(); i++) {
    char line[96];
    if (!snaps[i]) {
      std::snprintf(line, sizeof line, "  CPU #%zu: (busy)\n", i);
    } else {
      const x86::CpuState& c = *snaps[i];
      std::snprintf(line, sizeof line, "%c CPU #%zu: pc=0x%016llx%s\n", i == 0 ? '*' : ' ', i,
                    static_cast<unsigned long long>(c.seg[x86::CS].base + c.rip),
                    c.halted ? " (halted)" : "");
    }
    out += line;
  }
  return out;
}

void Machine::RequestExit(int status) {
  exit_status_ = status;
  {
    std::lock_guard<std::mutex> l(run_mu_);
    quit_ = true;
  }
  run_cv_.notify_all();
  for (auto& v : vcpus_) v->Kick();
  if (loop_) loop_->RequestExit(status);
}

void Machine::RequestPowerOff() {
  if (!cfg_.no_shutdown) {
    RequestExit(0);
    return;
  }
  // -no-shutdown: keep emu (and its monitor) alive with the guest stopped.
  std::fprintf(stderr, "emu: guest powered off; staying up because of -no-shutdown\n");
  SetUserPause(true);
}

void Machine::RequestReset() {
  if (cfg_.no_reboot) {
    RequestExit(0);
    return;
  }
  reset_pending_ = true;
  for (auto& v : vcpus_) v->Kick();
  Wake();
}

uint64_t Machine::PortRead(uint16_t port, unsigned size) {
  std::lock_guard<std::recursive_mutex> l(loop_->lock());
  return board_->io().ReadN(port, size);
}

void Machine::PortWrite(uint16_t port, uint64_t value, unsigned size) {
  std::lock_guard<std::recursive_mutex> l(loop_->lock());
  board_->io().WriteN(port, value, size);
  board_->memory().view();  // apply layout changes now (KVM slots follow the view)
}

uint64_t Machine::MmioRead(uint64_t addr, unsigned size) {
  std::lock_guard<std::recursive_mutex> l(loop_->lock());
  return board_->memory().ReadN(addr, size);
}

void Machine::MmioWrite(uint64_t addr, uint64_t value, unsigned size) {
  std::lock_guard<std::recursive_mutex> l(loop_->lock());
  board_->memory().WriteN(addr, value, size);
  board_->memory().view();
}

}  // namespace

int RunMachine(const MachineConfig& config) {
  Machine m(config);
  return m.Run();
}

}  // namespace emu::system
