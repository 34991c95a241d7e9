// Helpers for the VDI/VMDK tests (besides block_test_util.h's): write patterns,
// opening images through one format's driver, editing image bytes.
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/file.h"
#include "block/format.h"
#include "block/image.h"
#include "tests/block/block_test_util.h"

namespace emu::block::vvtest {

struct Pattern {
  uint64_t off, len;
  uint8_t val;
};

// A disk model filled with `ps`.
inline test::Model ModelOf(uint64_t size, const std::vector<Pattern>& ps) {
  test::Model m(size);
  for (const auto& p : ps) m.Fill(p.off, p.len, p.val);
  return m;
}

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

// A little-endian header field given a hostile value, and the words of the
// refusal it must cause.
struct HostileField {
  size_t off;
  int width;  // 4 or 8 bytes
  uint64_t value;
  const char* refusal;
};

// `img` with the field of `f` changed.
inline std::vector<uint8_t> WithField(std::vector<uint8_t> img, const HostileField& f) {
  if (f.width == 8) Put64(img, f.off, f.value);
  else Put32(img, f.off, uint32_t(f.value));
  return img;
}

}  // namespace emu::block::vvtest
