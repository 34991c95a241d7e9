#include "hw/i386/multiboot.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "hw/core/device.h"
#include "hw/i386/boot_cpu.h"

namespace emu::hw {

namespace {

// Header flags (requirements in bits 0-15, optional features above).
constexpr uint32_t kFlagPageAlign = 1u << 0;
constexpr uint32_t kFlagMemInfo = 1u << 1;
constexpr uint32_t kFlagVideoMode = 1u << 2;
constexpr uint32_t kFlagAoutKludge = 1u << 16;
// Information structure flags.
constexpr uint32_t kInfoMemory = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMods = 1u << 3;
constexpr uint32_t kInfoMmap = 1u << 6;
constexpr uint32_t kInfoLoaderName = 1u << 9;
constexpr size_t kInfoSize = 88;  // up to and including the VBE fields

uint64_t Le(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= uint64_t(b[off + i]) << (8 * i);
  return v;
}

void PutLe(std::vector<uint8_t>& b, size_t off, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) b[off + i] = uint8_t(v >> (8 * i));
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

uint64_t PageUp(uint64_t v) { return (v + 0xfff) & ~0xfffull; }

struct Loaded {
  uint64_t start = ~0ull, end = 0, entry = 0;
};

// Loads the PT_LOAD segments of an ELF32 or ELF64 image at their physical addresses.
Loaded LoadElf(AddressSpace& memory, const std::vector<uint8_t>& img, const std::string& name) {
  auto fail = [&](const std::string& msg) { throw ConfigError("kernel '" + name + "': " + msg); };
  if (img.size() < 52 || std::memcmp(img.data(), "\x7f" "ELF", 4) != 0)
    fail("not an ELF file and its multiboot header has no a.out address fields (flag 16)");
  bool is64 = img[4] == 2;
  if ((img[4] != 1 && img[4] != 2) || img[5] != 1) fail("unsupported ELF class or byte order");
  if (is64 && img.size() < 64) fail("truncated ELF header");
  uint64_t entry = is64 ? Le(img, 24, 8) : Le(img, 24, 4);
  uint64_t phoff = is64 ? Le(img, 32, 8) : Le(img, 28, 4);
  size_t phentsize = size_t(is64 ? Le(img, 54, 2) : Le(img, 42, 2));
  size_t phnum = size_t(is64 ? Le(img, 56, 2) : Le(img, 44, 2));
  size_t want = is64 ? 56 : 32;
  if (phnum == 0) fail("ELF file has no program headers");
  if (phentsize < want || phoff > img.size() || phnum * phentsize > img.size() - phoff)
    fail("ELF program headers lie outside the file");
  Loaded l;
  for (size_t i = 0; i < phnum; i++) {
    size_t ph = size_t(phoff) + i * phentsize;
    if (Le(img, ph, 4) != 1) continue;  // PT_LOAD only
    uint64_t off = is64 ? Le(img, ph + 8, 8) : Le(img, ph + 4, 4);
    uint64_t vaddr = is64 ? Le(img, ph + 16, 8) : Le(img, ph + 8, 4);
    uint64_t paddr = is64 ? Le(img, ph + 24, 8) : Le(img, ph + 12, 4);
    uint64_t filesz = is64 ? Le(img, ph + 32, 8) : Le(img, ph + 16, 4);
    uint64_t memsz = is64 ? Le(img, ph + 40, 8) : Le(img, ph + 20, 4);
    if (off > img.size() || filesz > img.size() - off)
      fail("ELF segment " + std::to_string(i) + " lies outside the file");
    if (filesz > memsz) fail("ELF segment " + std::to_string(i) + " has filesz > memsz");
    if (memsz == 0) continue;
    LoadIntoRam(memory, paddr, img.data() + off, filesz,
                "kernel '" + name + "' segment " + std::to_string(i), memsz - filesz);
    l.start = std::min(l.start, paddr);
    l.end = std::max(l.end, paddr + memsz);
    // A virtual entry point is translated through the segment that holds it.
    if (entry >= vaddr && entry - vaddr < memsz) l.entry = entry - vaddr + paddr;
  }
  if (l.end == 0) fail("ELF file has no loadable segment");
  if (l.entry == 0) l.entry = entry;
  return l;
}

Loaded LoadAout(AddressSpace& memory, const std::vector<uint8_t>& img, const MultibootHeader& h,
                const std::string& name) {
  auto fail = [&](const std::string& msg) { throw ConfigError("kernel '" + name + "': " + msg); };
  if (h.header_addr < h.load_addr || h.header_addr - h.load_addr > h.offset)
    fail("multiboot header_addr " + Hex(h.header_addr) + " and load_addr " + Hex(h.load_addr) +
         " put the load start before the beginning of the file");
  uint64_t file_off = h.offset - (h.header_addr - h.load_addr);
  uint64_t size = img.size() - file_off;
  if (h.load_end_addr) {
    if (h.load_end_addr < h.load_addr || h.load_end_addr - h.load_addr > size)
      fail("multiboot load_end_addr " + Hex(h.load_end_addr) + " lies outside the file");
    size = h.load_end_addr - h.load_addr;
  }
  uint64_t bss = 0;
  if (h.bss_end_addr) {
    if (h.bss_end_addr < h.load_addr + size)
      fail("multiboot bss_end_addr " + Hex(h.bss_end_addr) + " is below the loaded image");
    bss = h.bss_end_addr - (h.load_addr + size);
  }
  LoadIntoRam(memory, h.load_addr, img.data() + file_off, size, "kernel '" + name + "'", bss);
  Loaded l;
  l.start = h.load_addr;
  l.end = h.load_addr + size + bss;
  l.entry = h.entry_addr;
  return l;
}

}  // namespace

std::optional<MultibootHeader> FindMultibootHeader(const std::vector<uint8_t>& image,
                                                   const std::string& name) {
  auto fail = [&](const std::string& msg) { throw ConfigError("kernel '" + name + "': " + msg); };
  std::string problem;
  size_t limit = std::min(image.size(), kMultibootSearch);
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    if (Le(image, off, 4) != kMultibootHeaderMagic) continue;
    uint32_t flags = uint32_t(Le(image, off + 4, 4));
    uint32_t sum = uint32_t(kMultibootHeaderMagic + flags + uint32_t(Le(image, off + 8, 4)));
    if (sum != 0) {
      problem = "multiboot header at " + Hex(off) + " has a bad checksum";
      continue;
    }
    MultibootHeader h;
    h.offset = off;
    h.flags = flags;
    uint32_t unknown = flags & 0xffff & ~(kFlagPageAlign | kFlagMemInfo | kFlagVideoMode);
    if (unknown) fail("multiboot header requires unsupported features (flags " + Hex(flags) + ")");
    if (flags & kFlagVideoMode)
      std::fprintf(stderr, "emu: unimplemented: multiboot video mode information for '%s' "
                   "(the kernel asked for it; booting without)\n", name.c_str());
    if (flags & kFlagAoutKludge) {
      if (off + 32 > image.size()) fail("multiboot header address fields are truncated");
      h.aout_kludge = true;
      h.header_addr = uint32_t(Le(image, off + 12, 4));
      h.load_addr = uint32_t(Le(image, off + 16, 4));
      h.load_end_addr = uint32_t(Le(image, off + 20, 4));
      h.bss_end_addr = uint32_t(Le(image, off + 24, 4));
      h.entry_addr = uint32_t(Le(image, off + 28, 4));
    }
    return h;
  }
  if (!problem.empty()) fail(problem);
  return std::nullopt;
}

std::vector<MultibootModule> ParseMultibootModules(const std::string& spec) {
  std::vector<MultibootModule> out;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    MultibootModule m;
    m.cmdline = cur;
    m.path = cur.substr(0, cur.find(' '));
    out.push_back(m);
    cur.clear();
  };
  for (size_t i = 0; i < spec.size(); i++) {
    if (spec[i] == ',') {
      if (i + 1 < spec.size() && spec[i + 1] == ',') {
        cur += ',';
        i++;
        continue;
      }
      flush();
      continue;
    }
    cur += spec[i];
  }
  flush();
  return out;
}

MultibootBootInfo LoadMultibootImage(AddressSpace& memory, const E820Map& e820,
                                     const std::vector<uint8_t>& kernel,
                                     const std::string& kernel_name, const std::string& cmdline,
                                     const std::vector<MultibootModuleData>& modules,
                                     x86::CpuState* cpu) {
  auto fail = [&](const std::string& msg) {
    throw ConfigError("kernel '" + kernel_name + "': " + msg);
  };
  std::optional<MultibootHeader> h = FindMultibootHeader(kernel, kernel_name);
  if (!h) fail("no multiboot header in the first 8 KiB");
  Loaded l = h->aout_kludge ? LoadAout(memory, kernel, *h, kernel_name)
                            : LoadElf(memory, kernel, kernel_name);
  if (l.entry > 0xffffffffull) fail("entry point " + Hex(l.entry) + " is above 4 GiB");
  if (l.start < kBootGdtAddr + 0x20 && l.end > kBootGdtAddr)
    fail("the kernel loads over the boot GDT at " + Hex(kBootGdtAddr));
  uint64_t ram_end = e820.RamEndFrom(kPcHighMemStart);
  if (ram_end == 0) fail("guest has no RAM at 1 MiB");

  MultibootBootInfo info;
  info.load_start = l.start;
  info.load_end = l.end;
  info.entry = l.entry;

  // The information area: structure, kernel command line, loader name, module
  // strings, module list, memory map -- all in one block after the kernel.
  std::vector<uint8_t> area(kInfoSize, 0);
  uint64_t base = PageUp(std::max(l.end, kPcHighMemStart));
  auto add_bytes = [&](const void* p, size_t n, size_t align) -> uint64_t {
    while (area.size() % align) area.push_back(0);
    size_t at = area.size();
    area.insert(area.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return base + at;
  };
  auto add_string = [&](const std::string& s) { return add_bytes(s.c_str(), s.size() + 1, 1); };
  uint32_t flags = kInfoMemory | kInfoCmdline | kInfoMmap | kInfoLoaderName;
  PutLe(area, 4, kPcEbdaStart >> 10, 4);                    // mem_lower (KiB)
  PutLe(area, 8, (ram_end - kPcHighMemStart) >> 10, 4);     // mem_upper (KiB)
  PutLe(area, 16, add_string(cmdline), 4);
  PutLe(area, 64, add_string("emu"), 4);
  std::vector<uint64_t> mod_strings;
  for (const auto& m : modules) mod_strings.push_back(add_string(m.cmdline));
  // Memory map: entries of {u32 size = 20, u64 base, u64 length, u32 type}.
  std::vector<uint8_t> mmap;
  for (const auto& e : e820.entries()) {
    size_t at = mmap.size();
    mmap.resize(at + 24);
    PutLe(mmap, at, 20, 4);
    PutLe(mmap, at + 4, e.addr, 8);
    PutLe(mmap, at + 12, e.size, 8);
    PutLe(mmap, at + 20, e.type, 4);
  }
  PutLe(area, 44, mmap.size(), 4);
  PutLe(area, 48, add_bytes(mmap.data(), mmap.size(), 4), 4);
  uint64_t mods_list = 0;
  if (!modules.empty()) {
    flags |= kInfoMods;
    std::vector<uint8_t> list(16 * modules.size(), 0);
    mods_list = add_bytes(list.data(), list.size(), 4);
    PutLe(area, 20, modules.size(), 4);
    PutLe(area, 24, mods_list, 4);
  }
  // Modules, page aligned after the information area.
  uint64_t next = PageUp(base + area.size());
  for (size_t i = 0; i < modules.size(); i++) {
    const auto& m = modules[i];
    uint64_t start = next, end = start + m.data.size();
    if (end > ram_end)
      throw ConfigError("multiboot module '" + m.cmdline + "' (" +
                        std::to_string(m.data.size()) + " bytes) does not fit in low RAM");
    LoadIntoRam(memory, start, m.data.data(), m.data.size(), "multiboot module '" + m.cmdline + "'");
    size_t e = size_t(mods_list - base) + 16 * i;
    PutLe(area, e, start, 4);
    PutLe(area, e + 4, end, 4);
    PutLe(area, e + 8, mod_strings[i], 4);
    info.modules.emplace_back(start, end);
    next = PageUp(end);
  }
  PutLe(area, 0, flags, 4);
  if (base + area.size() > ram_end) fail("no room for the multiboot information in low RAM");
  LoadIntoRam(memory, base, area.data(), area.size(), "multiboot information");
  info.info_addr = base;

  if (cpu) {
    cpu->ResetToPowerOn();
    SetupFlat32(memory, *cpu, info.entry);
    cpu->regs[x86::RAX] = kMultibootBootMagic;
    cpu->regs[x86::RBX] = info.info_addr;
  }
  return info;
}

MultibootBootInfo LoadMultiboot(AddressSpace& memory, const E820Map& e820,
                                const std::string& kernel_path, const std::string& append,
                                const std::string& initrd_spec, x86::CpuState* cpu) {
  std::vector<uint8_t> kernel = ReadWholeFile(kernel_path, "kernel");
  std::vector<MultibootModuleData> mods;
  for (const auto& m : ParseMultibootModules(initrd_spec))
    mods.push_back({ReadWholeFile(m.path, "multiboot module"), m.cmdline});
  std::string cmdline = append.empty() ? kernel_path : kernel_path + " " + append;
  return LoadMultibootImage(memory, e820, kernel, kernel_path, cmdline, mods, cpu);
}

}  // namespace emu::hw
