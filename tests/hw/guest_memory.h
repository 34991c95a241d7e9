// Shared scaffolding for the boot-loader and firmware-table tests: guest RAM at
// address 0 of a memory space, image byte edits, and the corrupted-image loop.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hw/core/device.h"
#include "hw/core/memory.h"

namespace emu::hw::test {

struct GuestMemory {
  explicit GuestMemory(uint64_t ram_size, uint64_t space_size = 1ull << 32)
      : root(MemoryRegion::Container("mem", space_size)), ram(MemoryRegion::Ram("ram", ram_size)) {
    root->AddSubregion(0, ram.get());
  }
  uint64_t U(uint64_t a, unsigned n) { return mem.ReadN(a, n); }
  // The NUL-terminated string at `a`.
  std::string Str(uint64_t a) {
    std::string s;
    for (char c; (c = char(U(a++, 1))) != 0;) s += c;
    return s;
  }

  std::unique_ptr<MemoryRegion> root;
  std::unique_ptr<MemoryRegion> ram;
  AddressSpace mem{"mem", root.get()};
};

// Stores `v` little-endian in `n` bytes at `off`, growing `b` if needed.
inline void PutLe(std::vector<uint8_t>& b, size_t off, uint64_t v, unsigned n) {
  if (b.size() < off + n) b.resize(off + n);
  for (unsigned i = 0; i < n; i++) b[off + i] = uint8_t(v >> (8 * i));
}

// Loads `rounds` images made by corrupt(rng) with load(image): each must load
// or throw ConfigError (never crash; run under ASan for overreads), and both
// outcomes must occur.
template <typename Corrupt, typename Load>
void ExpectLoadsAndRefusals(int rounds, unsigned seed, Corrupt&& corrupt, Load&& load) {
  std::mt19937 rng(seed);
  int loaded = 0, refused = 0;
  for (int i = 0; i < rounds; i++) {
    std::vector<uint8_t> k = corrupt(rng);
    try {
      load(k);
      loaded++;
    } catch (const ConfigError&) {
      refused++;
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace emu::hw::test
