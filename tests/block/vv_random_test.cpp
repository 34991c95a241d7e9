// Random writes and reads against a byte model, for every VDI/VMDK layout we
// write: the driver must agree with the model throughout, after reopening, and
// qemu-img must agree at the end (check + compare).
#include <random>

#include <gtest/gtest.h>

#include "tests/block/vv_test_util.h"

namespace emu::block {
namespace {

using namespace vvtest;

struct Case {
  const char* format;
  const char* opt_key;
  const char* opt_val;
};

class VvRandom : public ::testing::TestWithParam<Case> {};

TEST_P(VvRandom, MatchesModel) {
  const Case c = GetParam();
  const FormatInfo& fmt = std::string(c.format) == "vdi" ? VdiFormat() : VmdkFormat();
  test::TempDir t;
  std::string img = t / (std::string("r.") + c.format);
  const uint64_t size = 3 * (1 << 20) + 4096;
  CreateOptions co;
  co.size = size;
  co.opts[c.opt_key] = c.opt_val;
  ASSERT_TRUE(fmt.create(img, co).ok());
  test::Model m(size);
  std::mt19937_64 rng(1234);
  {
    auto d = OpenWith(fmt, img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    for (int i = 0; i < 300; i++) {
      uint64_t len = 1 + rng() % 20000;
      uint64_t off = rng() % (size - len);
      if (rng() % 3) {
        std::vector<uint8_t> b(len);
        uint8_t v = uint8_t(rng());
        // Sometimes zeros (the skip-allocation paths), sometimes a pattern.
        for (uint64_t k = 0; k < len; k++) b[k] = (i % 7 == 0) ? 0 : uint8_t(v + k / 512);
        Status s = d.value->Write(off, b.data(), len);
        ASSERT_TRUE(s.ok()) << s.message();
        std::memcpy(m.data.data() + off, b.data(), len);
      } else {
        std::vector<uint8_t> b(len);
        ASSERT_TRUE(d.value->Read(off, b.data(), len).ok());
        ASSERT_EQ(0, std::memcmp(b.data(), m.data.data() + off, len)) << "read " << i;
      }
    }
    ASSERT_TRUE(d.value->Flush().ok());
  }
  auto d = OpenWith(fmt, img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  std::vector<uint8_t> all(size);
  ASSERT_TRUE(d.value->Read(0, all.data(), size).ok());
  EXPECT_TRUE(all == m.data) << "content differs after reopening";
  if (!test::QemuAvailable()) GTEST_SKIP() << "qemu-img not installed: driver-only checks passed";
  EXPECT_TRUE(test::QemuAgrees(img, c.format, m, t / "expect.raw"));
}

INSTANTIATE_TEST_SUITE_P(
    All, VvRandom,
    ::testing::Values(Case{"vdi", "static", "off"}, Case{"vdi", "static", "on"},
                      Case{"vmdk", "subformat", "monolithicSparse"},
                      Case{"vmdk", "subformat", "monolithicFlat"},
                      Case{"vmdk", "subformat", "twoGbMaxExtentSparse"},
                      Case{"vmdk", "subformat", "streamOptimized"},
                      Case{"vmdk", "zeroed_grain", "on"}),
    [](const ::testing::TestParamInfo<Case>& i) {
      return std::string(i.param.format) + "_" + i.param.opt_key + "_" + i.param.opt_val;
    });

}  // namespace
}  // namespace emu::block
