// emu-img convert between every pair of formats (and the VMDK subformats as
// destinations), checked by qemu-img: the copy must compare equal to the source
// and pass qemu-img check where the format has one.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {


using test::TempDir;

struct Fmt {
  std::string name;  // -O format
  std::string opts;  // -o options
  bool checkable;    // qemu-img check supports it
};

const std::vector<Fmt>& Formats() {
  static const std::vector<Fmt> f = {
      {"raw", "", false},
      {"qcow2", "compat=0.10", true},
      {"qcow2", "compat=1.1,cluster_size=4096", true},
      {"vdi", "", true},
      {"vdi", "static=on", true},
      {"vmdk", "subformat=monolithicSparse", true},
      {"vmdk", "subformat=monolithicFlat", true},
      {"vmdk", "subformat=twoGbMaxExtentSparse", true},
      {"vmdk", "subformat=streamOptimized", true},
  };
  return f;
}

std::string Label(const Fmt& f) { return f.name + (f.opts.empty() ? "" : "(" + f.opts + ")"); }

TEST(ConvertMatrix, EveryPairPreservesContent) {
  REQUIRE_QEMU();
  TempDir t;
  // The source of every conversion: data, zeros and an unallocated tail, made by qemu.
  std::string base = t / "base.raw";
  ASSERT_EQ(test::Run("qemu-img create -q -f raw " + base + " 6M").code, 0);
  ASSERT_EQ(test::Run("qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 2M 64k' "
                "-c 'write -P 0x01 5M 4k' " + base).code, 0);
  int n = 0;
  for (const Fmt& from : Formats()) {
    std::string src = t / ("src" + std::to_string(n++));
    std::string o = from.opts.empty() ? "" : " -o " + from.opts;
    // The sources are made by emu-img too, so each pair goes through both sides.
    test::Cmd c = test::Run(test::EmuImg() + " convert -f raw -O " + from.name + o + " " + base + " " + src);
    ASSERT_EQ(c.code, 0) << Label(from) << ": " << c.out;
    for (const Fmt& to : Formats()) {
      std::string dst = t / ("dst" + std::to_string(n++));
      std::string o2 = to.opts.empty() ? "" : " -o " + to.opts;
      c = test::Run(test::EmuImg() + " convert -f " + from.name + " -O " + to.name + o2 + " " + src +
              " " + dst);
      ASSERT_EQ(c.code, 0) << Label(from) << " -> " << Label(to) << ": " << c.out;
      c = test::Run("qemu-img compare -q -f raw -F " + to.name + " " + base + " " + dst);
      EXPECT_EQ(c.code, 0) << Label(from) << " -> " << Label(to) << ": " << c.out;
      if (to.checkable) {
        c = test::Run("qemu-img check -q -f " + to.name + " " + dst);
        EXPECT_EQ(c.code, 0) << Label(from) << " -> " << Label(to) << ": " << c.out;
      }
      test::Run("rm -f " + dst + "*");
    }
  }
}

}  // namespace
}  // namespace emu::block
