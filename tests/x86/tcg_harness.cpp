#include "tests/x86/tcg_harness.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

namespace emu::x86::test {

bool Assemble(const std::string& src, int bits, std::vector<uint8_t>* out, std::string* err) {
  static std::mutex mu;
  static std::map<std::string, std::vector<uint8_t>> cache;
  std::string full = (bits == 16 ? ".code16\n" : bits == 32 ? ".code32\n" : ".code64\n") + src + "\n";
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(full);
  if (it != cache.end()) {
    *out = it->second;
    return true;
  }
  if (access("/usr/bin/as", X_OK) != 0 || access("/usr/bin/objcopy", X_OK) != 0) {
    *err = "binutils (as, objcopy) not installed";
    return false;
  }
  char dir[] = "/tmp/emu-tcg-asm-XXXXXX";
  if (!mkdtemp(dir)) {
    *err = "mkdtemp failed";
    return false;
  }
  std::string d = dir;
  {
    std::ofstream f(d + "/a.s");
    f << full;
  }
  std::string cmd = "cd " + d + " && as --64 -o a.o a.s 2> err.txt && objcopy -O binary -j .text a.o a.bin 2>> err.txt";
  int rc = std::system(cmd.c_str());
  std::ifstream bin(d + "/a.bin", std::ios::binary);
  if (rc != 0 || !bin) {
    std::ifstream e(d + "/err.txt");
    std::stringstream ss;
    ss << e.rdbuf();
    *err = "as failed: " + ss.str();
    std::system(("rm -rf " + d).c_str());
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(bin), std::istreambuf_iterator<char>());
  std::system(("rm -rf " + d).c_str());
  cache[full] = *out;
  return true;
}

uint64_t Desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  return (limit & 0xffffull) | (static_cast<uint64_t>(base & 0xffffff) << 16) |
         (static_cast<uint64_t>(access) << 40) | (static_cast<uint64_t>((limit >> 16) & 0xf) << 48) |
         (static_cast<uint64_t>(flags & 0xf) << 52) | (static_cast<uint64_t>(base >> 24) << 56);
}

Segment Seg(uint16_t sel, uint64_t base, uint32_t limit, uint16_t attr) {
  Segment s;
  s.selector = sel;
  s.base = base;
  s.limit = limit;
  s.attr = attr;
  return s;
}

std::string BackendName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Native" : "Interp";
}

namespace {

bool HasErr(int v) { return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21; }

}  // namespace

TestMachine::TestMachine(accel::tcg::TcgOptions opts)
    : root_(hw::MemoryRegion::Container("root", ~0ull)),
      ram_(hw::MemoryRegion::Ram("ram", kRamSize)),
      mmio_(hw::MemoryRegion::Mmio("dev", 0x1000, hw::MmioOps{})) {
  if (const char* l = std::getenv("EMU_TCG_TEST_LOG")) {
    // e.g. EMU_TCG_TEST_LOG=in_asm,int,cpu,exec
    std::string w = l;
    opts.log_in_asm = w.find("in_asm") != std::string::npos;
    opts.log_int = w.find("int") != std::string::npos;
    opts.log_cpu = w.find("cpu") != std::string::npos;
    opts.log_exec = w.find("exec") != std::string::npos;
  }
  root_->AddSubregion(0, ram_.get());
  root_->AddSubregion(0xfe000000, mmio_.get());
  as_ = std::make_unique<hw::AddressSpace>("memory", root_.get());
  accel_ = std::make_unique<accel::tcg::TcgAccelerator>(as_.get(), &bus_, opts);
  auto v = accel_->CreateVcpu(0);
  vcpu_.reset(static_cast<accel::tcg::TcgVcpu*>(v.release()));
}

TestMachine::~TestMachine() {
  vcpu_.reset();
  accel_.reset();
}

void TestMachine::Write(uint64_t addr, const void* data, size_t n) {
  ASSERT_LE(addr + n, kRamSize);
  std::memcpy(ram() + addr, data, n);
  // Keep translated code coherent with host-side writes (as DMA would).
  accel_->cache().InvalidateRange(addr, n);
}

uint64_t TestMachine::Read64(uint64_t addr) {
  uint64_t v;
  std::memcpy(&v, ram() + addr, 8);
  return v;
}
uint32_t TestMachine::Read32(uint64_t addr) {
  uint32_t v;
  std::memcpy(&v, ram() + addr, 4);
  return v;
}

int TestMachine::bits() const {
  switch (mode_) {
    case Mode::kReal: case Mode::kProt16: return 16;
    case Mode::kProt32: case Mode::kCompat32: return 32;
    default: return 64;
  }
}

void TestMachine::Enter(Mode mode) {
  mode_ = mode;
  CpuState s;
  s.ResetToPowerOn();
  s.regs[RDX] = 0;
  Write64(0x500, ~0ull);
  Write64(0x508, ~0ull);
  Write64(0x510, ~0ull);
  bool lm = mode == Mode::kLong64 || mode == Mode::kCompat32;
  // Exception stubs at 0xb000 + 32 * vector: record vector, error code, rip; HLT.
  for (int v = 0; v < 32; v++) {
    std::string src;
    int sb = mode == Mode::kReal ? 16 : lm ? 64 : 32;
    char buf[200];
    if (sb == 16) {
      std::snprintf(buf, sizeof buf,
                    "movl $%d, 0x500\nmovw %%sp, %%bp\nmovw (%%bp), %%bp\nmovw %%bp, 0x510\nhlt\n", v);
      src = buf;
    } else if (sb == 32) {
      std::snprintf(buf, sizeof buf, "movl $%d, 0x500\n%spushl (%%esp)\npopl 0x510\nhlt\n", v,
                    HasErr(v) ? "popl 0x508\n" : "");
      src = buf;
    } else {
      std::snprintf(buf, sizeof buf, "movq $%d, 0x500\n%spushq (%%rsp)\npopq 0x510\nhlt\n", v,
                    HasErr(v) ? "popq 0x508\n" : "");
      src = buf;
    }
    std::vector<uint8_t> code;
    std::string err;
    if (!Assemble(src, sb, &code, &err)) break;
    ASSERT_LE(code.size(), 32u) << src;
    Write(0xb000 + 32 * v, code.data(), code.size());
  }
  if (mode == Mode::kReal) {
    for (int v = 0; v < 256; v++) Write32(v * 4, static_cast<uint32_t>(0x0b00u << 16 | (v < 32 ? 32 * v : 0)));
    s.idtr.base = 0;
    s.idtr.limit = 0x3ff;
    s.seg[CS] = Seg(0x1000, 0x10000, 0xffff, 0x9b);
    for (int sr : {DS, ES, FS, GS}) s.seg[sr] = Seg(0, 0, 0xffff, 0x93);
    s.seg[SS] = Seg(0x7000, 0x70000, 0xffff, 0x93);
    s.rip = 0;
    s.regs[RSP] = 0xfff0;
    SetState(s);
    return;
  }
  // GDT.
  Write64(kGdt + 0x00, 0);
  Write64(kGdt + 0x08, Desc(0, 0xfffff, 0x9b, 0xc));
  Write64(kGdt + 0x10, Desc(0, 0xfffff, 0x93, 0xc));
  Write64(kGdt + 0x18, Desc(kCode, 0xffff, 0x9b, 0x0));  // 16-bit code based at kCode
  Write64(kGdt + 0x20, Desc(0, 0xffff, 0x93, 0x0));
  Write64(kGdt + 0x28, Desc(0, 0xfffff, 0x9b, 0xa));
  Write64(kGdt + 0x30, Desc(kTss, 0x67, 0x89, 0x0));
  Write64(kGdt + 0x38, 0);
  Write64(kGdt + 0x40, Desc(0, 0xfffff, 0xfb, 0xc));
  Write64(kGdt + 0x48, Desc(0, 0xfffff, 0xf3, 0xc));
  Write64(kGdt + 0x50, Desc(0, 0xfffff, 0xfb, 0xa));
  s.gdtr.base = kGdt;
  s.gdtr.limit = 0x57;
  // TSS: ring-0 stack at 0x90000 (32-bit: esp0/ss0; 64-bit: rsp0).
  std::vector<uint8_t> tss(0x68, 0);
  if (lm) {
    uint64_t rsp0 = 0x90000;
    std::memcpy(&tss[4], &rsp0, 8);
  } else {
    uint32_t esp0 = 0x90000, ss0 = 0x10;
    std::memcpy(&tss[4], &esp0, 4);
    std::memcpy(&tss[8], &ss0, 4);
  }
  uint16_t iomap = 0x68;  // no bitmap: all ports denied above IOPL
  std::memcpy(&tss[0x66], &iomap, 2);
  Write(kTss, tss.data(), tss.size());
  s.tr = Seg(0x30, kTss, 0x67, 0x8b);
  // IDT: vectors 0-31 to the stubs, DPL 3 interrupt gates.
  for (int v = 0; v < 256; v++) {
    uint64_t off = 0xb000 + 32 * (v < 32 ? v : 0);
    uint16_t sel = lm ? 0x28 : 0x08;
    uint64_t lo = (off & 0xffff) | (static_cast<uint64_t>(sel) << 16) | (0xeeull << 40) |
                  (((off >> 16) & 0xffff) << 48);
    if (lm) {
      Write64(kIdt + 16 * v, lo);
      Write64(kIdt + 16 * v + 8, off >> 32);
    } else {
      Write64(kIdt + 8 * v, lo);
    }
  }
  s.idtr.base = kIdt;
  s.idtr.limit = lm ? 16 * 256 - 1 : 8 * 256 - 1;
  s.cr0 = kCr0PE | kCr0ET | kCr0NE;
  s.rip = kCode;
  s.regs[RSP] = kStack;
  if (lm) {
    // 4-level identity map of 0-4 GiB with 2 MiB pages (user accessible).
    Write64(kPml4, (kPml4 + 0x1000) | 7);
    for (int i = 0; i < 4; i++) {
      uint64_t pd = kPml4 + 0x2000 + 0x1000 * i;
      Write64(kPml4 + 0x1000 + 8 * i, pd | 7);
      for (int j = 0; j < 512; j++) Write64(pd + 8 * j, ((static_cast<uint64_t>(i) << 30) | (static_cast<uint64_t>(j) << 21)) | 0x87);
    }
    s.cr3 = kPml4;
    s.cr4 = kCr4PAE | kCr4OSFXSR;
    s.efer = kEferLME | kEferLMA | kEferSCE | kEferNXE;
    s.cr0 |= kCr0PG | kCr0WP;
    s.seg[CS] = mode == Mode::kLong64 ? Seg(0x28, 0, 0xffffffff, 0xa09b) : Seg(0x08, 0, 0xffffffff, 0xc09b);
    for (int sr : {DS, ES, FS, GS, SS}) s.seg[sr] = Seg(0x10, 0, 0xffffffff, 0xc093);
  } else if (mode == Mode::kProt32) {
    s.seg[CS] = Seg(0x08, 0, 0xffffffff, 0xc09b);
    for (int sr : {DS, ES, FS, GS, SS}) s.seg[sr] = Seg(0x10, 0, 0xffffffff, 0xc093);
  } else {  // kProt16
    s.seg[CS] = Seg(0x18, kCode, 0xffff, 0x009b);
    s.rip = 0;
    for (int sr : {DS, ES, FS, GS}) s.seg[sr] = Seg(0x20, 0, 0xffff, 0x0093);
    s.seg[SS] = Seg(0x10, 0, 0xffffffff, 0xc093);  // 32-bit stack so kStack fits
  }
  SetState(s);
}

bool TestMachine::Load(const std::string& src, uint64_t addr) {
  std::vector<uint8_t> code;
  std::string err;
  if (!Assemble(src, bits(), &code, &err)) {
    ADD_FAILURE() << "cannot assemble: " << err << "\n" << src;
    return false;
  }
  Write(addr, code.data(), code.size());
  return true;
}

accel::RunResult TestMachine::Run(int timeout_ms) {
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < timeout_ms / 10 && !done.load(); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done.load()) vcpu_->Kick();
  });
  accel::RunResult r = vcpu_->Run();
  done = true;
  watchdog.join();
  return r;
}

CpuState TestMachine::State() {
  CpuState s;
  vcpu_->GetState(s);
  return s;
}

void TestMachine::SetState(const CpuState& s) { vcpu_->SetState(s); }

accel::RunResult RunCode(TestMachine& m, const std::string& src) {
  EXPECT_TRUE(m.Load(src));
  return m.Run();
}

}  // namespace emu::x86::test
