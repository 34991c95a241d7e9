#include "hw/i386/linux_loader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "hw/core/device.h"
#include "hw/i386/boot_cpu.h"

namespace emu::hw {

namespace {

// Setup header offsets (boot.rst).
enum : size_t {
  kSetupSects = 0x1f1, kSysSize = 0x1f4, kBootFlag = 0x1fe, kJump = 0x200, kHeaderMagic = 0x202,
  kVersion = 0x206, kTypeOfLoader = 0x210, kLoadFlags = 0x211, kCode32Start = 0x214,
  kRamdiskImage = 0x218, kRamdiskSize = 0x21c, kHeapEndPtr = 0x224, kCmdLinePtr = 0x228,
  kInitrdAddrMax = 0x22c, kKernelAlignment = 0x230, kRelocatable = 0x234, kXLoadFlags = 0x236,
  kCmdlineSize = 0x238, kPrefAddress = 0x258, kInitSize = 0x260,
};
// boot_params (zero page) offsets (zero-page.rst).
enum : size_t {
  kZpExtMemK = 0x002, kZpVideoMode = 0x006, kZpVideoCols = 0x007, kZpVideoLines = 0x00e,
  kZpIsVga = 0x00f, kZpVideoPoints = 0x010, kZpAcpiRsdp = 0x070, kZpExtRamdiskImage = 0x0c0,
  kZpExtRamdiskSize = 0x0c4, kZpExtCmdLinePtr = 0x0c8, kZpAltMemK = 0x1e0,
  kZpE820Entries = 0x1e8, kZpHeaderEnd = 0x290, kZpE820Table = 0x2d0,
};
constexpr size_t kZpE820Max = 128;
constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint32_t kHdrS = 0x53726448;  // "HdrS"

uint64_t Le(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= uint64_t(b[off + i]) << (8 * i);
  return v;
}

void PutLe(uint8_t* p, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) p[i] = uint8_t(v >> (8 * i));
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

[[noreturn]] void Fail(const std::string& what, const std::string& name, const std::string& msg) {
  throw ConfigError(what + " '" + name + "': " + msg);
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

bool LooksLikeLinuxKernel(const std::vector<uint8_t>& image) {
  return image.size() >= kHeaderMagic + 4 && Le(image, kHeaderMagic, 4) == kHdrS;
}

LinuxSetupHeader LinuxSetupHeader::Parse(const std::vector<uint8_t>& image,
                                         const std::string& name) {
  auto fail = [&](const std::string& msg) { Fail("kernel", name, msg); };
  if (image.size() < 1024) fail("file too short for a Linux kernel (" +
                                std::to_string(image.size()) + " bytes)");
  if (!LooksLikeLinuxKernel(image)) fail("not a Linux bzImage (no \"HdrS\" signature at 0x202)");
  if (Le(image, kBootFlag, 2) != 0xaa55) fail("bad boot flag (expected 0xaa55 at 0x1fe)");
  LinuxSetupHeader h;
  h.version = uint16_t(Le(image, kVersion, 2));
  if (h.version < 0x206) {
    char v[16];
    std::snprintf(v, sizeof v, "%u.%02u", h.version >> 8, h.version & 0xff);
    fail(std::string("boot protocol ") + v + " is too old (2.06 or later is required)");
  }
  // Version 2.06+ headers reach cmdline_size; later fields are read only when the
  // protocol has them, and the header must lie inside the file.
  h.header_end = kJump + 2 + image[kJump + 1];
  if (h.header_end > image.size() || h.header_end < kCmdlineSize + 4)
    fail("setup header length " + Hex(h.header_end) + " is inconsistent with protocol " +
         Hex(h.version));
  h.setup_sects = image[kSetupSects];
  h.syssize = uint32_t(Le(image, kSysSize, 4));
  h.loadflags = image[kLoadFlags];
  h.initrd_addr_max = uint32_t(Le(image, kInitrdAddrMax, 4));
  h.kernel_alignment = uint32_t(Le(image, kKernelAlignment, 4));
  h.relocatable = image[kRelocatable] != 0;
  h.cmdline_size = uint32_t(Le(image, kCmdlineSize, 4));
  if (h.version >= 0x20a) {
    if (h.header_end < kInitSize + 4) fail("setup header too short for protocol 2.10+");
    h.pref_address = Le(image, kPrefAddress, 8);
    h.init_size = uint32_t(Le(image, kInitSize, 4));
  }
  if (h.version >= 0x20c) h.xloadflags = uint16_t(Le(image, kXLoadFlags, 2));
  if (!(h.loadflags & kLoadedHigh)) fail("zImage kernels (not loaded high) are not supported");
  if (h.setup_size() >= image.size())
    fail("setup_sects (" + std::to_string(h.setup_sects) + ") points beyond the end of the file");
  uint64_t pm_size = image.size() - h.setup_size();
  // syssize counts 16-byte units, rounded up (memtest86+ ends 8 bytes short of it).
  if (uint64_t(h.syssize) * 16 > pm_size + 15)
    fail("file is truncated: the header promises " + std::to_string(uint64_t(h.syssize) * 16) +
         " bytes of kernel after the setup code, the file has " + std::to_string(pm_size));
  if (h.syssize == 0) fail("syssize is 0 (no protected-mode kernel)");
  if (h.relocatable && (h.kernel_alignment == 0 || (h.kernel_alignment & (h.kernel_alignment - 1))))
    fail("kernel_alignment " + Hex(h.kernel_alignment) + " is not a power of two");
  return h;
}

LinuxBootInfo LoadLinuxImage(AddressSpace& memory, const E820Map& e820,
                             const std::vector<uint8_t>& kernel, const std::string& kernel_name,
                             const std::vector<uint8_t>& initrd, const std::string& initrd_name,
                             const LinuxBootOptions& opt, x86::CpuState* cpu) {
  auto fail = [&](const std::string& msg) { Fail("kernel", kernel_name, msg); };
  LinuxBootInfo info;
  LinuxSetupHeader& h = info.header = LinuxSetupHeader::Parse(kernel, kernel_name);
  bool entry64 = opt.entry64 && h.has_64bit_entry();
  if (opt.entry64 && !entry64 && !opt.fallback_to_32bit)
    fail("the kernel has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)");

  uint64_t ram_end = e820.RamEndFrom(kPcHighMemStart);  // low RAM above 1 MiB, ACPI excluded
  if (ram_end == 0) fail("guest has no RAM at 1 MiB");

  // Protected-mode kernel.
  info.kernel_addr = kLinuxDefaultLoadAddr;
  if (opt.use_pref_address && h.relocatable && h.pref_address) info.kernel_addr = h.pref_address;
  info.kernel_size = kernel.size() - h.setup_size();
  LoadIntoRam(memory, info.kernel_addr, kernel.data() + h.setup_size(), info.kernel_size,
              "kernel '" + kernel_name + "'");
  // The kernel decompresses into init_size bytes at its runtime address: the load
  // address rounded to kernel_alignment, but not below pref_address (boot.rst).
  uint64_t runtime = info.kernel_addr;
  if (h.relocatable) runtime = AlignUp(runtime, h.kernel_alignment);
  runtime = std::max(runtime, h.pref_address);
  if (runtime >= ram_end || h.init_size > ram_end - runtime)
    fail("needs " + Hex(h.init_size) + " bytes at " + Hex(runtime) +
         " to decompress, the guest's low RAM ends at " + Hex(ram_end) + " (use more -m)");
  uint64_t kernel_end = std::max(info.kernel_addr + info.kernel_size, runtime + h.init_size);

  // Command line.
  std::string cmdline = opt.cmdline;
  uint64_t max_cmdline = std::min<uint64_t>(h.cmdline_size ? h.cmdline_size : 255,
                                            kLinuxCmdlineMax - 1);
  if (cmdline.size() > max_cmdline)
    fail("command line is " + std::to_string(cmdline.size()) + " bytes, the kernel takes at most " +
         std::to_string(max_cmdline));
  info.cmdline_addr = kLinuxCmdline;
  LoadIntoRam(memory, info.cmdline_addr, reinterpret_cast<const uint8_t*>(cmdline.c_str()),
              cmdline.size() + 1, "kernel command line");

  // Initrd: as high as possible, page aligned, below initrd_addr_max and the end
  // of low RAM (which excludes an ACPI area at its top), above the kernel.
  if (!initrd.empty()) {
    uint64_t limit = std::min<uint64_t>(ram_end, uint64_t(h.initrd_addr_max) + 1);
    if (initrd.size() > limit || ((limit - initrd.size()) & ~0xfffull) < kernel_end)
      Fail("initrd", initrd_name,
           std::to_string(initrd.size()) + " bytes do not fit between the kernel (ending at " +
               Hex(kernel_end) + ") and " + Hex(limit) + " (use more -m)");
    info.initrd_addr = (limit - initrd.size()) & ~0xfffull;
    info.initrd_size = initrd.size();
    LoadIntoRam(memory, info.initrd_addr, initrd.data(), initrd.size(),
                "initrd '" + initrd_name + "'");
  }

  // Zero page.
  std::vector<uint8_t> zp(4096, 0);
  size_t hdr_end = std::min<size_t>(h.header_end, kZpHeaderEnd);
  std::memcpy(&zp[kSetupSects], &kernel[kSetupSects], hdr_end - kSetupSects);
  zp[kTypeOfLoader] = 0xff;  // "undefined" loader
  PutLe(&zp[kCode32Start], info.kernel_addr, 4);
  PutLe(&zp[kCmdLinePtr], info.cmdline_addr, 4);
  PutLe(&zp[kZpExtCmdLinePtr], info.cmdline_addr >> 32, 4);
  PutLe(&zp[kRamdiskImage], info.initrd_addr, 4);
  PutLe(&zp[kRamdiskSize], info.initrd_size, 4);
  PutLe(&zp[kZpExtRamdiskImage], info.initrd_addr >> 32, 4);
  PutLe(&zp[kZpExtRamdiskSize], info.initrd_size >> 32, 4);
  PutLe(&zp[kHeapEndPtr], 0, 2);
  zp[kLoadFlags] &= uint8_t(~0x80);  // CAN_USE_HEAP: no real-mode heap, setup never runs
  PutLe(&zp[kZpAcpiRsdp], opt.acpi_rsdp_addr, 8);
  uint64_t ext_k = (ram_end - kPcHighMemStart) >> 10;
  PutLe(&zp[kZpExtMemK], std::min<uint64_t>(ext_k, 0xfc00), 2);
  PutLe(&zp[kZpAltMemK], std::min<uint64_t>(ext_k, 0xffffffff), 4);
  if (opt.vga_text) {
    zp[kZpVideoMode] = 3;
    zp[kZpVideoCols] = 80;
    zp[kZpVideoLines] = 25;
    zp[kZpIsVga] = 1;  // VIDEO_TYPE_VGAC
    PutLe(&zp[kZpVideoPoints], 16, 2);
  }
  const auto& entries = e820.entries();
  if (entries.size() > kZpE820Max) fail("e820 map has too many entries for boot_params");
  zp[kZpE820Entries] = uint8_t(entries.size());
  auto table = e820.Serialize();
  std::memcpy(&zp[kZpE820Table], table.data(), table.size());
  info.zero_page = kLinuxZeroPage;
  LoadIntoRam(memory, info.zero_page, zp.data(), zp.size(), "Linux zero page");

  // CPU state.
  info.entry = entry64 ? info.kernel_addr + 0x200 : info.kernel_addr;
  info.entry64 = entry64;
  if (cpu) {
    cpu->ResetToPowerOn();
    if (entry64) {
      SetupLongMode(memory, *cpu, info.entry);
    } else {
      SetupFlat32(memory, *cpu, info.entry);
    }
    cpu->regs[x86::RSI] = info.zero_page;
    cpu->regs[x86::RBP] = 0;
    cpu->regs[x86::RDI] = 0;
    cpu->regs[x86::RBX] = 0;
    cpu->regs[x86::RDX] = 0;
  }
  return info;
}

LinuxBootInfo LoadLinux(AddressSpace& memory, const E820Map& e820, const std::string& kernel_path,
                        const std::string& initrd_path, const LinuxBootOptions& options,
                        x86::CpuState* cpu) {
  std::vector<uint8_t> kernel = ReadWholeFile(kernel_path, "kernel");
  std::vector<uint8_t> initrd;
  if (!initrd_path.empty()) initrd = ReadWholeFile(initrd_path, "initrd");
  return LoadLinuxImage(memory, e820, kernel, kernel_path, initrd, initrd_path, options, cpu);
}

}  // namespace emu::hw
