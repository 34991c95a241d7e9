// HostFunctionName: helper names for IR listings, read once from the running
// executable's ELF symbol table (/proc/self/exe), shifted by its load address.
// Only used when IR is printed, so the cost of reading the table is paid by
// tracing runs alone.
#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "accel/tcg/ir/print.h"

namespace emu::accel::tcg {

namespace {

struct Sym {
  uint64_t addr, size;
  std::string name;
};

bool ReadAt(int fd, uint64_t off, void* buf, size_t len) {
  return pread(fd, buf, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
}

// "emu::x86::HelperIn(emu::accel::tcg::ExecContext*, ...)" -> "HelperIn".
std::string ShortName(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : mangled;
  std::free(d);
  size_t clone = s.find(" [clone");
  if (clone != std::string::npos) s.resize(clone);
  // Cut the parameter list: the last parenthesised group ("(anonymous
  // namespace)" may come earlier).
  size_t close = s.rfind(')');
  if (close != std::string::npos) {
    int depth = 0;
    for (size_t i = close + 1; i-- > 0;) {
      if (s[i] == ')') depth++;
      if (s[i] == '(' && --depth == 0) {
        s.resize(i);
        break;
      }
    }
  }
  size_t colon = s.rfind("::");
  return colon == std::string::npos ? s : s.substr(colon + 2);
}

uint64_t LoadBias() {
  uint64_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        *static_cast<uint64_t*>(out) = info->dlpi_addr;
        return 1;  // the first object is the executable
      },
      &bias);
  return bias;
}

std::vector<Sym> LoadSymbols() {
  std::vector<Sym> syms;
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return syms;
  Elf64_Ehdr eh;
  std::vector<Elf64_Shdr> sh;
  if (ReadAt(fd, 0, &eh, sizeof eh) && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shentsize == sizeof(Elf64_Shdr) &&
      eh.e_shnum > 0 && eh.e_shnum < 65280) {
    sh.resize(eh.e_shnum);
    if (!ReadAt(fd, eh.e_shoff, sh.data(), sh.size() * sizeof(Elf64_Shdr))) sh.clear();
  }
  const uint64_t bias = LoadBias();
  for (const Elf64_Shdr& s : sh) {
    if (s.sh_type != SHT_SYMTAB || s.sh_link >= sh.size() || s.sh_size > (256u << 20)) continue;
    const Elf64_Shdr& strs = sh[s.sh_link];
    if (strs.sh_size > (256u << 20)) continue;
    std::vector<Elf64_Sym> table(s.sh_size / sizeof(Elf64_Sym));
    std::vector<char> names(strs.sh_size + 1, 0);
    if (!ReadAt(fd, s.sh_offset, table.data(), table.size() * sizeof(Elf64_Sym)) ||
        !ReadAt(fd, strs.sh_offset, names.data(), strs.sh_size))
      continue;
    for (const Elf64_Sym& e : table) {
      if (ELF64_ST_TYPE(e.st_info) != STT_FUNC || e.st_value == 0 || e.st_name >= strs.sh_size)
        continue;
      syms.push_back({e.st_value + bias, e.st_size, ShortName(&names[e.st_name])});
    }
  }
  close(fd);
  std::sort(syms.begin(), syms.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  return syms;
}

}  // namespace

std::string HostFunctionName(uint64_t addr) {
  static std::once_flag once;
  static std::vector<Sym> syms;
  std::call_once(once, [] { syms = LoadSymbols(); });
  auto it = std::upper_bound(syms.begin(), syms.end(), addr,
                             [](uint64_t a, const Sym& s) { return a < s.addr; });
  if (it == syms.begin()) return "";
  --it;
  if (addr != it->addr && addr >= it->addr + std::max<uint64_t>(it->size, 1)) return "";
  return it->name;
}

}  // namespace emu::accel::tcg
