// Helpers for the block tests: temporary folders, running commands (qemu-img,
// qemu-io, emu-img), and an expected-content model of a disk.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "block/block_driver.h"
#include "block/file.h"
#include "block/image.h"

namespace emu::block::test {

struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  std::string operator/(const std::string& n) const { return path + "/" + n; }
};

struct Cmd {
  int code = -1;
  std::string out;  // stdout and stderr together
};
Cmd Run(const std::string& cmd);

bool QemuAvailable();
#define REQUIRE_QEMU()                                                                  \
  do {                                                                                  \
    if (!::emu::block::test::QemuAvailable())                                           \
      GTEST_SKIP() << "qemu-img/qemu-io (Debian qemu-utils) missing: run scripts/deps test"; \
  } while (0)

// Path of the emu-img built next to the tests.
std::string EmuImg();

// Creates an image of `size` bytes with the format's default options.
::testing::AssertionResult CreateEmpty(const std::string& fmt, const std::string& path, uint64_t size);

std::unique_ptr<BlockDriver> OpenOrDie(const std::string& path, bool rw = false,
                                       const std::string& fmt = "");

// The disk as it should read, for comparison after writes.
struct Model {
  std::vector<uint8_t> data;
  explicit Model(uint64_t size) : data(size, 0) {}
  void Fill(uint64_t off, uint64_t len, uint8_t v) { std::fill_n(data.begin() + off, len, v); }
  // The model as a raw image file (for qemu-img compare).
  void WriteRaw(const std::string& path) const;
};

// Every byte of `d` equals the model (reports the first difference).
::testing::AssertionResult MatchesModel(BlockDriver* d, const Model& m);

// qemu-img check finds `img` clean and qemu-img compare finds it equal to the
// model, written to `raw` for the comparison. An empty `fmt` lets qemu-img probe.
::testing::AssertionResult QemuAgrees(const std::string& img, const std::string& fmt, const Model& m,
                                      const std::string& raw);

std::string ReadFileText(const std::string& path);

}  // namespace emu::block::test
