// VDI: images from qemu-img/qemu-io read back through our driver; images we
// create and write pass qemu-img check/compare/info; hostile headers refused.
#include <gtest/gtest.h>

#include "tests/block/vv_test_util.h"

namespace emu::block {
namespace {

using namespace vvtest;

constexpr uint64_t kMiB = 1 << 20;

const std::vector<Pattern> kPatterns = {
    {0, 4096, 0x11},               // start of block 0
    {kMiB - 512, 1024, 0x22},      // across the block 0/1 boundary
    {3 * kMiB + 4096, 65536, 0x33},
    {5 * kMiB - 4096, 4096, 0x44},  // last bytes of a 5 MiB disk
};

TEST(Vdi, ProbesOnlyVdi) {
  std::vector<uint8_t> h(512, 0);
  Put32(h, 0x40, 0xbeda107f);
  EXPECT_EQ(VdiFormat().probe(h.data(), h.size(), "x"), 100);
  h[0x40] = 0;
  EXPECT_EQ(VdiFormat().probe(h.data(), h.size(), "x"), 0);
}

void ReadsQemuImage(bool is_static) {
  test::TempDir t;
  std::string img = t / "q.vdi";
  std::string opt = is_static ? " -o static=on" : "";
  ASSERT_EQ(test::Run("qemu-img create -q -f vdi" + opt + " " + img + " 5M").code, 0);
  test::Cmd w = test::Run("qemu-io -f vdi" + QemuIoWrites(kPatterns) + " " + img);
  ASSERT_EQ(w.code, 0) << w.out;
  auto d = OpenWith(VdiFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_EQ(d.value->Size(), 5 * kMiB);
  EXPECT_EQ(d.value->format_name(), "vdi");
  EXPECT_TRUE(test::MatchesModel(d.value.get(), ModelOf(5 * kMiB, kPatterns)));
  // Block 2 was never written: unallocated in a dynamic image.
  std::vector<Extent> ex;
  ASSERT_TRUE(d.value->BlockStatus(2 * kMiB, kMiB, &ex).ok());
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].data, is_static);
}

TEST(Vdi, ReadsQemuDynamicImage) {
  REQUIRE_QEMU();
  ReadsQemuImage(false);
}

TEST(Vdi, ReadsQemuStaticImage) {
  REQUIRE_QEMU();
  ReadsQemuImage(true);
}

void WritesForQemu(bool is_static, uint64_t size) {
  test::TempDir t;
  std::string img = t / "ours.vdi", raw = t / "expect.raw";
  CreateOptions co;
  co.size = size;
  if (is_static) co.opts["static"] = "on";
  ASSERT_TRUE(VdiFormat().create(img, co).ok());
  std::vector<Pattern> ps = {{0, 4096, 0x11}, {kMiB - 512, 1024, 0x22}, {size - 512, 512, 0x55}};
  {
    auto d = OpenWith(VdiFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    for (const auto& p : ps) {
      std::vector<uint8_t> b(p.len, p.val);
      ASSERT_TRUE(d.value->Write(p.off, b.data(), b.size()).ok());
    }
    // Zeros into an unallocated block allocate nothing.
    std::vector<uint8_t> z(4096, 0);
    if (size > 3 * kMiB) {
      ASSERT_TRUE(d.value->Write(2 * kMiB, z.data(), z.size()).ok());
    }
    ASSERT_TRUE(d.value->Flush().ok());
  }
  test::Model m = ModelOf(size, ps);
  EXPECT_TRUE(test::QemuAgrees(img, "vdi", m, raw));
  test::Cmd info = test::Run("qemu-img info --output=json " + img);
  EXPECT_NE(info.out.find("\"virtual-size\": " + std::to_string(size)), std::string::npos)
      << info.out;
  EXPECT_NE(info.out.find("\"format\": \"vdi\""), std::string::npos) << info.out;
  // Reopened, our driver sees the same.
  auto d = OpenWith(VdiFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_TRUE(test::MatchesModel(d.value.get(), m));
  if (!is_static) {
    // Blocks 0, 1 and the last one were allocated, nothing else.
    uint64_t blocks = (size + kMiB - 1) / kMiB;
    auto bytes = ReadFileBytes(img);
    uint32_t allocated = bytes[0x184] | bytes[0x185] << 8;
    EXPECT_EQ(allocated, blocks > 2 ? 3u : blocks);
  }
}

TEST(Vdi, DynamicImageWeWritePassesQemuCheck) {
  REQUIRE_QEMU();
  WritesForQemu(false, 5 * kMiB);
}

TEST(Vdi, StaticImageWeWritePassesQemuCheck) {
  REQUIRE_QEMU();
  WritesForQemu(true, 3 * kMiB);
}

TEST(Vdi, OddSizeImage) {
  REQUIRE_QEMU();
  WritesForQemu(false, 1536000);
}

TEST(Vdi, CreateMatchesQemuLayout) {
  REQUIRE_QEMU();
  test::TempDir t;
  for (bool st : {false, true}) {
    std::string ours = t / "o.vdi", theirs = t / "t.vdi";
    CreateOptions co;
    co.size = 3 * kMiB + 4096;
    co.opts["static"] = st ? "on" : "off";
    ASSERT_TRUE(VdiFormat().create(ours, co).ok());
    ASSERT_EQ(test::Run(std::string("qemu-img create -q -f vdi -o static=") + (st ? "on " : "off ") +
                  theirs + " " + std::to_string(co.size))
                  .code,
              0);
    auto a = ReadFileBytes(ours), b = ReadFileBytes(theirs);
    ASSERT_EQ(a.size(), b.size());
    // Same bytes except the two random UUIDs.
    for (size_t i = 0x188; i < 0x1a8; i++) a[i] = b[i] = 0;
    EXPECT_TRUE(a == b) << "static=" << st;
  }
}

TEST(Vdi, RejectsUnknownCreateOption) {
  test::TempDir t;
  CreateOptions co;
  co.size = kMiB;
  co.opts["cluster_size"] = "4096";
  Status s = VdiFormat().create(t / "x.vdi", co);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster_size"), std::string::npos);
}

// A valid dynamic 4-block image in memory with block 1 allocated, for mutation.
std::vector<uint8_t> GoodImage() {
  test::TempDir t;
  CreateOptions co;
  co.size = 4 * kMiB;
  EXPECT_TRUE(VdiFormat().create(t / "g.vdi", co).ok());
  auto d = OpenWith(VdiFormat(), t / "g.vdi", false);
  EXPECT_TRUE(d.ok());
  std::vector<uint8_t> b(512, 0x77);
  EXPECT_TRUE(d.value->Write(kMiB, b.data(), b.size()).ok());
  d.value.reset();
  return ReadFileBytes(t / "g.vdi");
}

void ExpectRefused(std::vector<uint8_t> img, const std::string& phrase) {
  auto d = OpenMem(VdiFormat(), std::move(img), "/nonexistent/bad.vdi");
  ASSERT_FALSE(d.ok()) << "expected refusal: " << phrase;
  EXPECT_NE(d.status.message().find("/nonexistent/bad.vdi"), std::string::npos)
      << d.status.message();
  EXPECT_NE(d.status.message().find(phrase), std::string::npos) << d.status.message();
}

TEST(Vdi, GoodImageOpensFromMemory) {
  auto d = OpenMem(VdiFormat(), GoodImage());
  ASSERT_TRUE(d.ok()) << d.status.message();
  uint8_t b[512];
  ASSERT_TRUE(d.value->Read(kMiB, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0x77);
  EXPECT_FALSE(d.value->Read(4 * kMiB - 256, b, sizeof b).ok());  // past the end
}

TEST(Vdi, RefusesHostileHeaders) {
  auto g = GoodImage();
  auto m = g;
  m[0x40] ^= 1;
  ExpectRefused(m, "bad signature");
  ExpectRefused(std::vector<uint8_t>(g.begin(), g.begin() + 300), "too short");
  const HostileField kFields[] = {
      {0x44, 4, 0x00010000, "version"},
      {0x178, 4, 4096, "block size"},
      {0x180, 4, 0xffffffff, "block count"},         // block count overflow
      {0x170, 8, 5 * kMiB, "does not fit"},           // disk larger than its blocks
      {0x170, 8, ~uint64_t(0), "does not fit"},
      {0x154, 4, 0, "overlaps the header"},           // map inside the header
      {0x158, 4, 0xfffffe00, "past the end of the file"},  // data far beyond the file
      {0x200 + 4, 4, 7, "beyond the 4 blocks"},       // map entry beyond the 4 blocks
      {0x200 + 0, 4, 0, "already uses"},              // two entries share block 0
      {0x4c, 4, 4, "differencing"},
      {0x184, 4, 9, "blocks allocated"},
  };
  for (const HostileField& f : kFields) {
    SCOPED_TRACE(f.off);
    ExpectRefused(WithField(g, f), f.refusal);
  }
  m = g;
  Put32(m, 0x180, 1000);  // map would run into the data area
  Put64(m, 0x170, 1000 * kMiB);
  ExpectRefused(m, "overlaps the data area");
  m = g;
  m.resize(m.size() - 4096);  // data of block 0 cut short
  ExpectRefused(m, "truncated");
}

TEST(Vdi, WritesToReadOnlyImageFail) {
  auto d = OpenMem(VdiFormat(), GoodImage());
  ASSERT_TRUE(d.ok());
  OpenOptions o;
  o.read_only = true;
  auto r = VdiFormat().open(NewMemFile(GoodImage(), "/nonexistent/ro.vdi"), o);
  ASSERT_TRUE(r.ok());
  uint8_t b[512] = {};
  EXPECT_FALSE(r.value->Write(0, b, sizeof b).ok());
}

TEST(Vdi, AllocationAppendsAndPersists) {
  auto d = OpenMem(VdiFormat(), GoodImage());
  ASSERT_TRUE(d.ok());
  std::vector<uint8_t> b(kMiB + 1024, 0x99);
  ASSERT_TRUE(d.value->Write(2 * kMiB - 512, b.data(), b.size()).ok());
  std::vector<uint8_t> r(b.size());
  ASSERT_TRUE(d.value->Read(2 * kMiB - 512, r.data(), r.size()).ok());
  EXPECT_TRUE(r == b);
  uint8_t one[512];
  ASSERT_TRUE(d.value->Read(kMiB, one, sizeof one).ok());
  EXPECT_EQ(one[0], 0x77);  // the block written earlier is intact
}

// The layout VirtualBox itself writes: a 0x190-byte header, data area at 1 MiB.
TEST(Vdi, VirtualBoxLayout) {
  REQUIRE_QEMU();
  test::TempDir t;
  std::vector<uint8_t> b(kMiB, 0);
  const char text[] = "<<< Oracle VM VirtualBox Disk Image >>>\n";
  std::memcpy(b.data(), text, sizeof text - 1);
  Put32(b, 0x40, 0xbeda107f);
  Put32(b, 0x44, 0x00010001);
  Put32(b, 0x48, 0x190);
  Put32(b, 0x4c, 1);
  std::memcpy(b.data() + 0x54, "made by hand", 12);  // description survives our writes
  Put32(b, 0x154, 0x200);
  Put32(b, 0x158, kMiB);
  Put32(b, 0x168, 512);
  Put64(b, 0x170, 4 * kMiB);
  Put32(b, 0x178, kMiB);
  Put32(b, 0x180, 4);
  b[0x188] = 0x42;  // some create/modify UUIDs
  b[0x198] = 0x43;
  for (int i = 0; i < 4; i++) Put32(b, 0x200 + 4 * i, 0xffffffff);
  std::string img = t / "vbox.vdi";
  WriteFileBytes(img, b);
  std::vector<Pattern> ps = {{2 * kMiB + 512, 4096, 0x5e}};
  {
    auto d = OpenWith(VdiFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    for (const auto& p : ps) {
      std::vector<uint8_t> w(p.len, p.val);
      ASSERT_TRUE(d.value->Write(p.off, w.data(), w.size()).ok());
    }
  }
  auto after = ReadFileBytes(img);
  ASSERT_EQ(after.size(), 2 * kMiB);  // one block appended at the data offset
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&after[0x54])), "made by hand");
  EXPECT_NE(after[0x198] | after[0x199] << 8, 0x43);  // modify UUID renewed
  EXPECT_EQ(after[0x188], 0x42);                     // create UUID kept
  test::Model m = ModelOf(4 * kMiB, ps);
  EXPECT_TRUE(test::QemuAgrees(img, "vdi", m, t / "expect.raw"));
}

TEST(Vdi, CheckFindsCountMismatchAndInfoGivesBlockSize) {
  auto g = GoodImage();
  auto d = OpenMem(VdiFormat(), g);
  ASSERT_TRUE(d.ok());
  auto* ops = dynamic_cast<ImageOps*>(d.value.get());
  ASSERT_NE(ops, nullptr);
  ImageInfo info;
  ops->GetInfo(&info);
  EXPECT_EQ(info.cluster_size, kMiB);
  CheckResult ok;
  ASSERT_TRUE(ops->Check(false, false, &ok).ok());
  EXPECT_EQ(ok.corruptions, 0);
  Put32(g, 0x184, 3);  // header claims 3 blocks, the map has 1
  d = OpenMem(VdiFormat(), g);
  ASSERT_TRUE(d.ok());
  ops = dynamic_cast<ImageOps*>(d.value.get());
  CheckResult bad;
  ASSERT_TRUE(ops->Check(false, false, &bad).ok());
  EXPECT_EQ(bad.corruptions, 1);
  CheckResult fixed;
  ASSERT_TRUE(ops->Check(false, true, &fixed).ok());
  EXPECT_EQ(fixed.corruptions_fixed, 1);
}

}  // namespace
}  // namespace emu::block
