// Helpers for the VDI/VMDK tests: temporary folders, running qemu-img/qemu-io,
// opening images through our drivers, and an expected-content model.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/file.h"
#include "block/format.h"
#include "block/image.h"

namespace emu::block::vvtest {

struct TmpDir {
  std::string path;
  TmpDir() {
    char t[] = "/tmp/emu-vv-XXXXXX";
    path = mkdtemp(t);
  }
  ~TmpDir() { (void)!system(("rm -rf '" + path + "'").c_str()); }
  std::string operator/(const std::string& n) const { return path + "/" + n; }
};

struct CmdResult {
  int code = -1;
  std::string out;
};

inline CmdResult RunCmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool HaveQemu() {
  return RunCmd("qemu-img --version").code == 0 && RunCmd("qemu-io --version").code == 0;
}

#define VV_REQUIRE_QEMU()                                                              \
  do {                                                                                 \
    if (!::emu::block::vvtest::HaveQemu())                                             \
      GTEST_SKIP() << "qemu-img/qemu-io (Debian qemu-utils) not installed: scripts/deps test"; \
  } while (0)

// The content the disk should have, as a flat byte array.
struct Model {
  std::vector<uint8_t> bytes;
  explicit Model(uint64_t size) : bytes(size, 0) {}
  void Fill(uint64_t off, uint64_t len, uint8_t v) { std::memset(bytes.data() + off, v, len); }
  void WriteRaw(const std::string& path) const {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
};

struct Pattern {
  uint64_t off, len;
  uint8_t val;
};

inline std::string QemuIoWrites(const std::vector<Pattern>& ps) {
  std::string s;
  for (const auto& p : ps) {
    char b[96];
    snprintf(b, sizeof b, " -c 'write -P 0x%02x %llu %llu'", p.val, (unsigned long long)p.off,
             (unsigned long long)p.len);
    s += b;
  }
  return s;
}

inline Result<std::unique_ptr<BlockDriver>> OpenWith(const FormatInfo& fmt, const std::string& path,
                                                     bool ro, OpenOptions o = {}) {
  FileOpenOptions fo;
  fo.read_only = ro;
  fo.lock = false;
  Result<std::unique_ptr<File>> f = OpenHostFile(path, fo);
  if (!f.ok()) return {f.status, nullptr};
  o.read_only = ro;
  o.lock = false;
  return fmt.open(std::move(f.value), o);
}

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline Result<std::unique_ptr<BlockDriver>> OpenMem(const FormatInfo& fmt, std::vector<uint8_t> b,
                                                    const std::string& name = "/nonexistent/img") {
  OpenOptions o;
  o.lock = false;
  return fmt.open(NewMemFile(std::move(b), name), o);
}

inline void Put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; i++) b[off + i] = uint8_t(v >> (8 * i));
}
inline void Put64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  Put32(b, off, uint32_t(v));
  Put32(b, off + 4, uint32_t(v >> 32));
}

}  // namespace emu::block::vvtest
