// The translator as KVM's emulation fallback (accel/kvm/kvm_fallback.h), on the
// test harness. Every test skips with the reason when /dev/kvm cannot be used;
// tests that need a fallback to happen check its count only when KVM used it
// (hardware KVM runs these instructions natively).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "accel/kvm/kvm_accel.h"
#include "accel/kvm/kvm_fallback.h"
#include "accel/kvm/kvm_vcpu.h"
#include "tests/accel/harness.h"
#include "tests/accel/kvm_vm.h"

namespace emu::accel {
namespace {

using test::Harness;
using test::Vm;
using test::kCode;
using test::kStack;
using namespace std::chrono_literals;

// One vCPU with the translator as its emulation fallback, in 64-bit ring 0 with an
// IDT at kIdt that Gate() fills with interrupt gates. Start() is false (with *err)
// when KVM cannot be set up.
struct FallbackVm {
  static constexpr uint64_t kIdt = 0x3000;
  Vm vm;
  std::unique_ptr<TranslatorFallback> fb;

  bool Start(std::string* err) {
    if (!vm.Start(1, err)) return false;
    fb = std::make_unique<TranslatorFallback>(vm.kvm.get(), &vm.h.memory(), &vm.h,
                                              TranslatorFallback::Options{.announce = false});
    vm.h.BuildPageTables();
    return true;
  }
  // A 64-bit interrupt gate, DPL 0, selector 0x08, for `vector` to `handler`.
  void Gate(unsigned vector, uint64_t handler) {
    test::LoadInterruptGate(vm.h, kIdt, vector, handler);
  }
  // A handler that is a lone IRETQ at `at`, for `vector`.
  void IretqHandler(unsigned vector, uint64_t at) {
    const uint8_t iretq[] = {0x48, 0xcf};
    vm.h.Load(at, iretq, sizeof iretq);
    Gate(vector, at);
  }
  KvmVcpu* vcpu() { return static_cast<KvmVcpu*>(vm.vcpus[0].get()); }
  // Ring 0 at `rip` with the IDT, as SetState wants it.
  static x86::CpuState Kernel(uint64_t rip) {
    x86::CpuState s = Harness::LongModeKernel(rip, kStack);
    s.idtr = {kIdt, 256 * 16 - 1};
    return s;
  }
  // Runs until the exit port; the exit code (0xdead if there was none).
  uint32_t RunToExit(std::chrono::milliseconds timeout, RunResult* last = nullptr) {
    auto res = vm.h.RunUntilExit(vm.all(), timeout);
    if (last) *last = res[0];
    return vm.h.exit_code().value_or(0xdead);
  }
};

// The translator as the emulation fallback, on a ring-0 64-bit loop of INT $0x40
// (whose handler is a lone IRETQ). kvm_pvm (this host) cannot emulate INT n in ring
// 0; hardware KVM runs it natively, and then only the result is checked.
TEST(KvmFallback, TranslatorRunsRing0IntN) {
  REQUIRE_KVM();
  constexpr uint64_t kHandler = kCode + 0x100;
  const uint8_t loop[] = {
      0xb9, 0x05, 0x00, 0x00, 0x00,  // mov $5, %ecx
      0xcd, 0x40,                    // 1: int $0x40
      0x41, 0xff, 0xc4,              // inc %r12d
      0xff, 0xc9,                    // dec %ecx
      0x75, 0xf7,                    // jnz 1b
      0x44, 0x89, 0xe0,              // mov %r12d, %eax
      0x04, 0x20,                    // add $0x20, %al
      0xe6, 0xf4,                    // out %al, $0xf4
      0xeb, 0xfe,                    // jmp .
  };
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  f.vm.h.Load(kCode, loop, sizeof loop);
  f.IretqHandler(0x40, kHandler);
  x86::CpuState s = FallbackVm::Kernel(kCode);
  s.regs[x86::R12] = 0;
  s.regs[x86::R13] = 0x1234;  // a register the instructions never touch
  s.fpu.xmm[3][0] = 0x5a;     // likewise SSE state
  f.vcpu()->SetState(s);
  RunResult last;
  EXPECT_EQ(f.RunToExit(10s, &last), 0x25u) << last.detail;  // five handler round trips
  f.vcpu()->GetState(s);
  EXPECT_EQ(s.regs[x86::RSP], kStack);  // every frame popped
  EXPECT_EQ(s.regs[x86::R13], 0x1234u);
  EXPECT_EQ(s.fpu.xmm[3][0], 0x5a);
  std::printf("%s\n", f.fb->Summary().c_str());
  if (f.fb->exits() == 0) {
    std::printf("this KVM executed INT n in ring 0 natively: no fallback needed\n");
    return;
  }
  EXPECT_GE(f.fb->instructions(), 5u);  // the five INTs at least
  EXPECT_GE(f.fb->instructions(), f.fb->exits());
}

// A stretch of instructions KVM fails on one after the other: INT $0x40 whose handler
// starts with INT $0x41, whose handler starts with INT $0x42, ... (then IRETQs all the
// way back). Under kvm_pvm each INT fails right where the last exit resumed KVM, so
// the exits step more and more of them at once: fewer exits than instructions.
TEST(KvmFallback, BurstsThroughConsecutiveFailures) {
  REQUIRE_KVM();
  constexpr int kDepth = 16;
  constexpr uint64_t kHandlers = kCode + 0x400;
  const uint8_t main_code[] = {0xcd, 0x40,              // int $0x40
                               0xb0, 0x42, 0xe6, 0xf4,  // mov $0x42, %al; out %al, $0xf4
                               0xeb, 0xfe};             // jmp .
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  f.vm.h.Load(kCode, main_code, sizeof main_code);
  for (int i = 0; i < kDepth; ++i) {
    const uint64_t h = kHandlers + 16 * i;
    const uint8_t nested[] = {0xcd, static_cast<uint8_t>(0x41 + i), 0x48, 0xcf};  // int; iretq
    if (i + 1 < kDepth)
      f.vm.h.Load(h, nested, sizeof nested);
    else
      f.vm.h.Load(h, nested + 2, 2);  // iretq
    f.Gate(0x40 + i, h);
  }
  f.vcpu()->SetState(FallbackVm::Kernel(kCode));
  RunResult last;
  EXPECT_EQ(f.RunToExit(10s, &last), 0x42u) << last.detail;
  x86::CpuState s;
  f.vcpu()->GetState(s);
  EXPECT_EQ(s.regs[x86::RSP], kStack);
  std::printf("%s\n", f.fb->Summary().c_str());
  if (f.fb->exits() == 0) GTEST_SKIP() << "this KVM executes INT n in ring 0 itself";
  EXPECT_GE(f.fb->instructions(), static_cast<uint64_t>(kDepth));
  EXPECT_LE(f.fb->exits(), 6u);  // 1 + 2 + 4 + 8 >= 16
}

// Code that KVM rewrites between two fallbacks is not seen by the translator's write
// tracking: the fallback must not run what it translated before. INT $0x40 at L,
// then (natively) L's vector byte becomes 0x41 and the loop goes back to L.
TEST(KvmFallback, SeesCodeRewrittenUnderKvm) {
  REQUIRE_KVM();
  constexpr uint64_t kH40 = kCode + 0x100, kH41 = kCode + 0x200;
  const uint8_t loop[] = {
      0xcd, 0x40,                                      // L: int $0x40
      0xc6, 0x04, 0x25, 0x01, 0x00, 0x01, 0x00, 0x41,  // movb $0x41, L+1 (kCode + 1)
      0xeb, 0xf4,                                      // jmp L
  };
  const uint8_t h41[] = {0xb0, 0x41, 0xe6, 0xf4, 0xeb, 0xfe};  // mov $0x41,%al; out; jmp .
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  f.vm.h.Load(kCode, loop, sizeof loop);
  f.IretqHandler(0x40, kH40);
  f.vm.h.Load(kH41, h41, sizeof h41);
  f.Gate(0x41, kH41);
  f.vcpu()->SetState(FallbackVm::Kernel(kCode));
  RunResult last;
  uint32_t code = f.RunToExit(5s, &last);
  ASSERT_FALSE(f.vm.h.timed_out()) << "the translator ran its stale INT $0x40 again";
  EXPECT_EQ(code, 0x41u) << last.detail;
  std::printf("%s\n", f.fb->Summary().c_str());
}

// Single-stepping (the gdbstub) through an instruction the fallback executes: one
// instruction, then kDebug, as for the ones KVM executes.
TEST(KvmFallback, SingleStepsThroughTheFallback) {
  REQUIRE_KVM();
  constexpr uint64_t kHandler = kCode + 0x100;
  const uint8_t code[] = {0xb9, 0x05, 0x00, 0x00, 0x00,  // mov $5, %ecx
                          0xcd, 0x40,                    // int $0x40
                          0xeb, 0xfe};                   // jmp .
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  f.vm.h.Load(kCode, code, sizeof code);
  f.IretqHandler(0x40, kHandler);
  KvmVcpu* v = f.vcpu();
  v->SetState(FallbackVm::Kernel(kCode));
  v->SetGuestDebug(true, false);
  RunResult r = v->Run();
  ASSERT_EQ(r.reason, ExitReason::kDebug) << r.detail;
  x86::CpuState s;
  v->GetState(s);
  EXPECT_EQ(s.rip, kCode + 5);
  r = v->Run();  // the INT: into the handler, and stop there
  ASSERT_EQ(r.reason, ExitReason::kDebug) << r.detail;
  v->GetState(s);
  EXPECT_EQ(s.rip, kHandler);
  EXPECT_EQ(s.regs[x86::RSP], kStack - 40);  // the interrupt frame
  if (f.fb->exits() > 0) {
    EXPECT_EQ(f.fb->instructions(), 1u);
  }
  v->SetGuestDebug(false, false);
}

// The in-kernel LAPIC is not on the CpuBus: the translator reads its registers and
// writes the plain ones through KVM_GET/SET_LAPIC of the vCPU it steps for. Code in
// MMIO (which KVM cannot execute) sets the TPR to 0x20, reads it back and exits
// with it.
TEST(KvmFallback, ReachesTheInKernelLapic) {
  REQUIRE_KVM();
  const uint8_t jump[] = {0xb8, 0x00, 0x00, 0x00, 0xd0,  // mov $0xd0000000, %eax
                          0xff, 0xe0};                   // jmp *%rax
  const uint8_t mmio_code[32] = {
      0xb8, 0x20, 0x00, 0x00, 0x00,                          // mov $0x20, %eax
      0xa3, 0x80, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00,  // mov %eax, 0xfee00080 (TPR)
      0x31, 0xc0,                                            // xor %eax, %eax
      0xa1, 0x80, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00,  // mov 0xfee00080, %eax
      0xe6, 0xf4,                                            // out %al, $0xf4
      0xeb, 0xfe,                                            // jmp .
  };
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  if (!f.vm.kvm->has_irqchip()) GTEST_SKIP() << f.vm.kvm->irqchip_note();
  f.vm.h.Load(kCode, jump, sizeof jump);
  for (unsigned i = 0; i < 4; ++i) {
    uint64_t q;
    std::memcpy(&q, mmio_code + 8 * i, 8);
    f.vm.h.MmioWrite(Harness::kMmioBase + 8 * i, q, 8);
  }
  f.vcpu()->SetState(FallbackVm::Kernel(kCode));
  RunResult last;
  EXPECT_EQ(f.RunToExit(10s, &last), 0x20u) << last.detail;
  EXPECT_EQ(f.vcpu()->ReadLapic(0x80), 0x20u);
  x86::CpuState s;
  f.vcpu()->GetState(s);
  EXPECT_EQ(s.cr8, 2u);  // CR8 is the TPR's priority class
  EXPECT_GE(f.fb->instructions(), 5u);
  EXPECT_LT(f.fb->exits(), f.fb->instructions());  // a run of failures: bursts
}

// A port of the in-kernel irqchip is out of the translator's reach: when the very
// instruction KVM failed needs one, the vCPU stops with KVM's error and the reason.
// Here `out %al, $0x20` fetched from MMIO (which KVM cannot execute from).
TEST(KvmFallback, InKernelDeviceIsAClearError) {
  REQUIRE_KVM();
  const uint8_t jump[] = {0xb8, 0x00, 0x00, 0x00, 0xd0,  // mov $0xd0000000, %eax
                          0xff, 0xe0};                   // jmp *%rax
  FallbackVm f;
  std::string err;
  ASSERT_TRUE(f.Start(&err)) << err;
  if (!f.vm.kvm->has_irqchip()) GTEST_SKIP() << f.vm.kvm->irqchip_note();
  f.vm.h.Load(kCode, jump, sizeof jump);
  f.vm.h.MmioWrite(Harness::kMmioBase, 0xfeeb20e6, 8);  // out %al, $0x20; jmp .
  f.vcpu()->SetState(FallbackVm::Kernel(kCode));
  RunResult last;
  f.RunToExit(10s, &last);
  ASSERT_FALSE(f.vm.h.timed_out());
  EXPECT_EQ(last.reason, ExitReason::kError);
  const std::string& d = last.detail;
  EXPECT_NE(d.find("KVM internal error: suberror 1 (emulation failure)"), std::string::npos) << d;
  EXPECT_NE(d.find("the translator could not execute it either: unimplemented: port 0x20"),
            std::string::npos) << d;
  EXPECT_NE(d.find("RIP=d0000000"), std::string::npos) << d;
  EXPECT_EQ(f.fb->exits(), 1u);
  EXPECT_EQ(f.fb->instructions(), 0u);
}
}  // namespace
}  // namespace emu::accel
