// VMDK: every subformat qemu-img creates (and qemu-io fills) reads back through
// our driver; images we create and write pass qemu-img check/compare/info;
// hostile descriptors and sparse headers are refused with a message.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/block/vv_test_util.h"

namespace emu::block {
namespace {

using namespace vvtest;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = 1 << 30;

const char* const kSubformats[] = {"monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                                   "twoGbMaxExtentFlat", "streamOptimized"};

const std::vector<Pattern> kPatterns = {
    {0, 4096, 0x11},
    {65536 - 512, 1024, 0x22},  // across a grain boundary
    {kMiB + 4096, 70000, 0x33},
    {5 * kMiB - 512, 512, 0x44},
};

void WritePatterns(BlockDriver* d, const std::vector<Pattern>& ps) {
  for (const auto& p : ps) {
    std::vector<uint8_t> b(p.len, p.val);
    Status s = d->Write(p.off, b.data(), b.size());
    ASSERT_TRUE(s.ok()) << s.message();
  }
}

TEST(Vmdk, Probe) {
  const uint8_t kdmv[] = {'K', 'D', 'M', 'V', 1, 0, 0, 0};
  EXPECT_EQ(VmdkFormat().probe(kdmv, sizeof kdmv, "x"), 100);
  std::string desc = "# Disk DescriptorFile\nversion=1\n";
  EXPECT_EQ(VmdkFormat().probe(reinterpret_cast<const uint8_t*>(desc.data()), desc.size(), "x"), 100);
  std::string other = "hello world";
  EXPECT_EQ(VmdkFormat().probe(reinterpret_cast<const uint8_t*>(other.data()), other.size(), "x"), 0);
}

class VmdkSubformat : public ::testing::TestWithParam<const char*> {};

TEST_P(VmdkSubformat, ReadsQemuImage) {
  REQUIRE_QEMU();
  test::TempDir t;
  std::string img = t / "q.vmdk", sub = GetParam();
  test::Model m = ModelOf(5 * kMiB, kPatterns);
  if (sub == "streamOptimized") {
    // qemu writes stream-optimized images only through convert.
    m.WriteRaw(t / "src.raw");
    test::Cmd c = test::Run("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized " +
                         (t / "src.raw") + " " + img);
    ASSERT_EQ(c.code, 0) << c.out;
  } else {
    ASSERT_EQ(test::Run("qemu-img create -q -f vmdk -o subformat=" + sub + " " + img + " 5M").code, 0);
    test::Cmd w = test::Run("qemu-io -f vmdk" + QemuIoWrites(kPatterns) + " " + img);
    ASSERT_EQ(w.code, 0) << w.out;
  }
  auto d = OpenWith(VmdkFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_EQ(d.value->Size(), 5 * kMiB);
  EXPECT_TRUE(test::MatchesModel(d.value.get(), m));
  if (sub.find("Sparse") != std::string::npos || sub == "streamOptimized") {
    // As qemu-img map: grain 0 holds data, grain 2 was never written (not present).
    std::vector<Extent> ex;
    ASSERT_TRUE(d.value->BlockStatus(0, 3 * 65536, &ex).ok());
    ASSERT_EQ(ex.size(), 2u);
    EXPECT_TRUE(ex[0].data && ex[0].present);
    EXPECT_EQ(ex[0].length, 2 * 65536u);
    EXPECT_TRUE(!ex[1].data && ex[1].zero && !ex[1].present);
  }
  auto* ops = dynamic_cast<ImageOps*>(d.value.get());
  ASSERT_NE(ops, nullptr);
  ImageInfo info;
  ops->GetInfo(&info);
  bool sparse = sub.find("Sparse") != std::string::npos || sub == "streamOptimized";
  EXPECT_EQ(info.cluster_size, sparse ? 65536u : 0u);
}

TEST_P(VmdkSubformat, ImageWeWritePassesQemuCheck) {
  REQUIRE_QEMU();
  test::TempDir t;
  std::string img = t / "ours.vmdk", sub = GetParam();
  CreateOptions co;
  co.size = 5 * kMiB;
  co.opts["subformat"] = sub;
  Status cs = VmdkFormat().create(img, co);
  ASSERT_TRUE(cs.ok()) << cs.message();
  std::vector<Pattern> ps = kPatterns;
  {
    auto d = OpenWith(VmdkFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    if (sub == "streamOptimized") {
      // Sequential small writes go through the pending-grain buffer; then one grain
      // is rewritten out of order (appended again).
      for (uint64_t off = 0; off < 3 * 65536; off += 4096) {
        std::vector<uint8_t> b(4096, uint8_t(0x50 + off / 65536));
        ASSERT_TRUE(d.value->Write(off, b.data(), b.size()).ok());
      }
      ps.insert(ps.begin(), {{0, 65536, 0x50}, {65536, 65536, 0x51}, {131072, 65536, 0x52}});
    }
    WritePatterns(d.value.get(), ps);
    ASSERT_TRUE(d.value->Flush().ok());
  }
  test::Model m = ModelOf(5 * kMiB, ps);
  EXPECT_TRUE(test::QemuAgrees(img, "vmdk", m, t / "expect.raw"));
  test::Cmd info = test::Run("qemu-img info --output=json " + img);
  EXPECT_NE(info.out.find("\"virtual-size\": 5242880"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"format\": \"vmdk\""), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"create-type\": \"" + sub + "\""), std::string::npos) << info.out;
  auto d = OpenWith(VmdkFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_TRUE(test::MatchesModel(d.value.get(), m));
}

// Same files as qemu-img create, but for the random CID.
void ExpectSameAsQemu(const std::string& opts, uint64_t size) {
  test::TempDir t;
  mkdir((t / "a").c_str(), 0755);
  mkdir((t / "b").c_str(), 0755);
  CreateOptions co;
  co.size = size;
  size_t pos = 0;
  while (pos < opts.size()) {
    size_t comma = opts.find(',', pos);
    if (comma == std::string::npos) comma = opts.size();
    std::string kv = opts.substr(pos, comma - pos);
    co.opts[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
    pos = comma + 1;
  }
  Status cs = VmdkFormat().create(t / "a/d.vmdk", co);
  ASSERT_TRUE(cs.ok()) << cs.message();
  ASSERT_EQ(test::Run("qemu-img create -q -f vmdk -o " + opts + " " + (t / "b/d.vmdk") + " " +
                   std::to_string(co.size))
                .code,
            0);
  test::Cmd la = test::Run("cd " + (t / "a") + " && find . -type f -name '*-*' -printf '%s %f\\n' | sort");
  test::Cmd lb = test::Run("cd " + (t / "b") + " && find . -type f -name '*-*' -printf '%s %f\\n' | sort");
  EXPECT_EQ(la.out, lb.out);  // extent files (the descriptor's length varies with the CID)
  test::Cmd files = test::Run("cd " + (t / "a") + " && ls");
  std::string names = files.out;
  pos = 0;
  while (pos < names.size()) {
    size_t nl = names.find('\n', pos);
    std::string n = names.substr(pos, nl - pos);
    pos = nl + 1;
    auto a = ReadFileBytes(t / ("a/" + n)), b = ReadFileBytes(t / ("b/" + n));
    std::string sa(a.begin(), a.end()), sb(b.begin(), b.end());
    // The CID is random and printed unpadded: drop its value, and in an embedded
    // descriptor re-pad so that the sectors after it stay in place.
    for (std::string* s : {&sa, &sb}) {
      size_t c = s->find("\nCID=");
      if (c == std::string::npos) continue;
      size_t removed = s->find('\n', c + 1) - (c + 5);
      s->erase(c + 5, removed);
      if (s->compare(0, 4, "KDMV") == 0) s->insert(21 * 512 - removed, removed, '\0');
    }
    EXPECT_TRUE(sa == sb) << "file " << n << " differs from qemu-img's (" << opts << ")";
  }
}

TEST_P(VmdkSubformat, CreateMatchesQemuLayout) {
  REQUIRE_QEMU();
  ExpectSameAsQemu(std::string("subformat=") + GetParam() + ",adapter_type=lsilogic",
                   3 * kMiB + 1000);
}

TEST(Vmdk, CreateOptionsMatchQemu) {
  REQUIRE_QEMU();
  ExpectSameAsQemu("zeroed_grain=on", kMiB);
  ExpectSameAsQemu("compat6=on,adapter_type=buslogic", 7 * kMiB);
  ExpectSameAsQemu("hwversion=7,toolsversion=123,adapter_type=legacyESX", 100 * kMiB);
  ExpectSameAsQemu("subformat=twoGbMaxExtentSparse", 5 * kGiB);
}

INSTANTIATE_TEST_SUITE_P(All, VmdkSubformat, ::testing::ValuesIn(kSubformats));

// Two extents: reads and writes that straddle the 2 GiB boundary, checked with qemu-io.
TEST(Vmdk, SplitExtentsAcrossBoundary) {
  REQUIRE_QEMU();
  for (const char* sub : {"twoGbMaxExtentSparse", "twoGbMaxExtentFlat"}) {
    test::TempDir t;
    std::string img = t / "s.vmdk";
    uint64_t size = 2 * kGiB + kMiB;
    ASSERT_EQ(test::Run(std::string("qemu-img create -q -f vmdk -o subformat=") + sub + " " + img +
                     " " + std::to_string(size))
                  .code,
              0);
    std::vector<Pattern> ps = {{2 * kGiB - 4096, 8192, 0x61}, {size - 512, 512, 0x62}};
    ASSERT_EQ(test::Run("qemu-io -f vmdk" + QemuIoWrites(ps) + " " + img).code, 0);
    test::Model m(0);
    {
      auto d = OpenWith(VmdkFormat(), img, false);
      ASSERT_TRUE(d.ok()) << d.status.message();
      ASSERT_EQ(d.value->Size(), size);
      std::vector<uint8_t> got(16384);
      ASSERT_TRUE(d.value->Read(2 * kGiB - 8192, got.data(), got.size()).ok());
      for (size_t i = 0; i < got.size(); i++)
        ASSERT_EQ(got[i], (i >= 4096 && i < 12288) ? 0x61 : 0) << sub << " byte " << i;
      std::vector<uint8_t> b(1024, 0x71);
      ASSERT_TRUE(d.value->Write(2 * kGiB - 512, b.data(), b.size()).ok());
    }
    test::Cmd r = test::Run("qemu-io -f vmdk -c 'read -P 0x61 " + std::to_string(2 * kGiB - 4096) +
                         " 3584' -c 'read -P 0x71 " + std::to_string(2 * kGiB - 512) +
                         " 1024' -c 'read -P 0x61 " + std::to_string(2 * kGiB + 512) +
                         " 3584' -c 'read -P 0x62 " + std::to_string(size - 512) + " 512' " + img);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out.find("Pattern verification failed"), std::string::npos) << r.out;
    test::Cmd c = test::Run("qemu-img check -f vmdk " + img);
    EXPECT_EQ(c.code, 0) << c.out;
  }
}

// A stream whose grain directory is only found through the footer, as VMware
// and one-pass writers produce: header gdOffset = -1, then footer marker, footer,
// end-of-stream marker at the end of the file.
TEST(Vmdk, ReadsStreamWithFooter) {
  REQUIRE_QEMU();
  test::TempDir t;
  test::Model m = ModelOf(5 * kMiB, kPatterns);
  m.WriteRaw(t / "src.raw");
  std::string img = t / "f.vmdk";
  ASSERT_EQ(test::Run("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized " +
                   (t / "src.raw") + " " + img)
                .code,
            0);
  auto b = ReadFileBytes(img);
  ASSERT_EQ(b.size() % 512, 0u);
  std::vector<uint8_t> footer(b.begin(), b.begin() + 512);
  Put64(b, 56, ~uint64_t(0));
  std::vector<uint8_t> marker(512, 0);
  Put64(marker, 0, 1);
  Put32(marker, 12, 3);
  b.insert(b.end(), marker.begin(), marker.end());
  b.insert(b.end(), footer.begin(), footer.end());
  b.insert(b.end(), 512, 0);
  WriteFileBytes(img, b);
  test::Cmd cmp = test::Run("qemu-img compare -f vmdk -F raw " + img + " " + (t / "src.raw"));
  EXPECT_EQ(cmp.code, 0) << "qemu disagrees with the crafted image: " << cmp.out;
  auto d = OpenWith(VmdkFormat(), img, false);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_TRUE(test::MatchesModel(d.value.get(), m));
  uint8_t x[512] = {1};
  Status s = d.value->Write(0, x, sizeof x);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unimplemented"), std::string::npos) << s.message();
}

// --- hostile images ---------------------------------------------------------

std::vector<uint8_t> SmallSparse(const std::string& sub = "monolithicSparse") {
  test::TempDir t;
  CreateOptions co;
  co.size = 2 * kMiB;
  co.opts["subformat"] = sub;
  EXPECT_TRUE(VmdkFormat().create(t / "g.vmdk", co).ok());
  {
    auto d = OpenWith(VmdkFormat(), t / "g.vmdk", false);
    EXPECT_TRUE(d.ok()) << d.status.message();
    std::vector<uint8_t> b(65536, 0x5a);
    EXPECT_TRUE(d.value->Write(0, b.data(), b.size()).ok());
  }
  return ReadFileBytes(t / "g.vmdk");
}

std::string OpenError(std::vector<uint8_t> img) {
  auto d = OpenMem(VmdkFormat(), std::move(img), "/nonexistent/bad.vmdk");
  if (d.ok()) return "";
  EXPECT_NE(d.status.message().find("/nonexistent/bad.vmdk"), std::string::npos)
      << d.status.message();
  return d.status.message();
}

#define EXPECT_REFUSED(img, phrase)                                       \
  do {                                                                    \
    std::string msg_ = OpenError(img);                                    \
    EXPECT_NE(msg_, "") << "expected refusal: " << phrase;                \
    EXPECT_NE(msg_.find(phrase), std::string::npos) << msg_;              \
  } while (0)

// `img` opens, but reading 512 bytes at `off` fails with `phrase` in the message.
void ExpectReadRefused(std::vector<uint8_t> img, uint64_t off, const std::string& phrase) {
  auto d = OpenMem(VmdkFormat(), std::move(img), "/nonexistent/gt.vmdk");
  ASSERT_TRUE(d.ok()) << d.status.message();
  uint8_t b[512];
  Status s = d.value->Read(off, b, sizeof b);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(phrase), std::string::npos) << s.message();
}

// The same for `img` with one hostile field.
void ExpectReadRefused(const std::vector<uint8_t>& img, const HostileField& f, uint64_t off) {
  ExpectReadRefused(WithField(img, f), off, f.refusal);
}

TEST(Vmdk, GoodSmallImageFromMemory) {
  auto d = OpenMem(VmdkFormat(), SmallSparse());
  ASSERT_TRUE(d.ok()) << d.status.message();
  uint8_t b[512];
  ASSERT_TRUE(d.value->Read(65536 - 512, b, sizeof b).ok());
  EXPECT_EQ(b[511], 0x5a);
  ASSERT_TRUE(d.value->Read(65536, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0);
}

TEST(Vmdk, RefusesHostileSparseHeaders) {
  auto g = SmallSparse();
  auto m = g;
  m[0] = 'X';
  EXPECT_REFUSED(m, "not a VMDK image");
  EXPECT_REFUSED(std::vector<uint8_t>(g.begin(), g.begin() + 300), "too short");
  const HostileField kFields[] = {
      {12, 8, uint64_t(1) << 60, "64 TiB"},
      {20, 8, 0, "grain size"},
      {20, 8, uint64_t(1) << 40, "grain size"},
      {44, 4, 0, "entries per grain table"},
      {44, 4, 1 << 20, "entries per grain table"},
      {56, 8, 1u << 30, "grain directory"},            // grain directory far outside the file
      {26 * 512, 4, 0x7fffffff, "outside the file"},  // GD entry 0 -> a table past the end
      {4, 4, 9, "version"},
  };
  for (const HostileField& f : kFields) {
    SCOPED_TRACE(f.off);
    EXPECT_REFUSED(WithField(g, f), f.refusal);
  }
  m = g;
  Put64(m, 12, uint64_t(1) << 36);  // 32 TiB of 512-byte grains, one entry per table
  Put64(m, 20, 1);
  Put32(m, 44, 1);
  EXPECT_REFUSED(m, "too large");
  m = g;
  m[75] = '\n';  // text-mode transfer damage
  EXPECT_REFUSED(m, "newline");
}

// Images whose grain tables were never allocated (directory entries 0) get
// them appended on the first write, in both directories.
TEST(Vmdk, AllocatesMissingGrainTables) {
  REQUIRE_QEMU();
  test::TempDir t;
  std::string img = t / "n.vmdk";
  CreateOptions co;
  co.size = 2 * kMiB;
  ASSERT_TRUE(VmdkFormat().create(img, co).ok());
  auto b = ReadFileBytes(img);
  Put32(b, 21 * 512, 0);  // redundant directory entry 0
  Put32(b, 26 * 512, 0);  // directory entry 0
  WriteFileBytes(img, b);
  std::vector<Pattern> ps = {{70000, 5000, 0x2f}};
  {
    auto d = OpenWith(VmdkFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    uint8_t z[512];
    ASSERT_TRUE(d.value->Read(0, z, sizeof z).ok());
    EXPECT_EQ(z[0], 0);
    WritePatterns(d.value.get(), ps);
  }
  b = ReadFileBytes(img);
  EXPECT_EQ(b.size(), 65536u + 2 * 2048 + 65536);  // two tables, one grain
  // The grain went to the old end (sector 128), then the two tables after it.
  EXPECT_EQ(b[26 * 512] | b[26 * 512 + 1] << 8, 256);
  EXPECT_EQ(b[21 * 512] | b[21 * 512 + 1] << 8, 260);
  test::Model m = ModelOf(2 * kMiB, ps);
  EXPECT_TRUE(test::QemuAgrees(img, "vmdk", m, t / "expect.raw"));
}

TEST(Vmdk, CheckReportsBadGrainTables) {
  auto g = SmallSparse();
  auto d = OpenMem(VmdkFormat(), g);
  ASSERT_TRUE(d.ok());
  CheckResult ok;
  ASSERT_TRUE(dynamic_cast<ImageOps*>(d.value.get())->Check(false, false, &ok).ok());
  EXPECT_EQ(ok.corruptions, 0);
  Put32(g, 27 * 512 + 8, 0x00ffffff);
  d = OpenMem(VmdkFormat(), g);
  ASSERT_TRUE(d.ok());
  CheckResult bad;
  ASSERT_TRUE(dynamic_cast<ImageOps*>(d.value.get())->Check(false, false, &bad).ok());
  EXPECT_EQ(bad.corruptions, 1);
  ASSERT_EQ(bad.messages.size(), 1u);
  EXPECT_NE(bad.messages[0].find("past the end"), std::string::npos) << bad.messages[0];
}

TEST(Vmdk, RefusesGrainTableEntriesOutOfRange) {
  auto g = SmallSparse();
  // qemu's layout for 2 MiB: GD at sector 26, its only table at sector 27.
  ExpectReadRefused(g, {27 * 512 + 4, 4, 0x00ffffff, "past the end of the file"}, 0);
  ExpectReadRefused(g, {27 * 512 + 4, 4, 3, "inside the metadata"}, 65536);  // into the header and descriptor
}

TEST(Vmdk, RefusesDamagedCompressedGrains) {
  auto g = SmallSparse("streamOptimized");
  // Our stream: the first grain's marker sits at sector 128 (the overhead).
  ExpectReadRefused(g, {128 * 512, 8, 999, "grain marker"}, 0);  // marker names another sector
  auto m = g;
  m[128 * 512 + 20] ^= 0xff;  // deflate data damaged
  ExpectReadRefused(m, 0, "");
  ExpectReadRefused(g, {128 * 512 + 8, 4, 0x7fffffff, "bad size"}, 0);  // absurd compressed size
}

// Descriptor files naming extents outside the image's folder.
TEST(Vmdk, ExtentPathsConfinedToImageFolder) {
  test::TempDir t;
  mkdir((t / "img").c_str(), 0755);
  mkdir((t / "other").c_str(), 0755);
  WriteFileBytes(t / "other/data.raw", std::vector<uint8_t>(1024 * 1024, 0x42));
  WriteFileBytes(t / "img/in.raw", std::vector<uint8_t>(1024 * 1024, 0x43));
  symlink((t / "other/data.raw").c_str(), (t / "img/link.raw").c_str());
  auto desc = [&](const std::string& name, const std::string& type = "FLAT") {
    std::string s = "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
                    "createType=\"monolithicFlat\"\nRW 2048 " + type + " \"" + name + "\" 0\n";
    WriteFileBytes(t / "img/d.vmdk", std::vector<uint8_t>(s.begin(), s.end()));
    return OpenWith(VmdkFormat(), t / "img/d.vmdk", true);
  };
  auto r = desc("in.raw");
  ASSERT_TRUE(r.ok()) << r.status.message();
  uint8_t b[512];
  ASSERT_TRUE(r.value->Read(0, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0x43);
  r = desc("../other/data.raw");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("outside the image's folder"), std::string::npos)
      << r.status.message();
  r = desc(t / "other/data.raw");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("absolute path"), std::string::npos) << r.status.message();
  r = desc("link.raw");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("outside"), std::string::npos) << r.status.message();
  r = desc("/etc/passwd");
  EXPECT_FALSE(r.ok());
  // The user may allow the folder.
  OpenOptions o;
  o.allowed_dirs.push_back(t / "other");
  desc("../other/data.raw");
  r = OpenWith(VmdkFormat(), t / "img/d.vmdk", true, o);
  ASSERT_TRUE(r.ok()) << r.status.message();
  ASSERT_TRUE(r.value->Read(0, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0x42);
  r = desc("in.raw", "SESPARSE");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("unimplemented"), std::string::npos);
  r = desc("in.raw", "VMFSSPARSE");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("bad magic"), std::string::npos) << r.status.message();
  r = desc("missing.raw");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("missing.raw"), std::string::npos);
}

TEST(Vmdk, RefusesBadDescriptors) {
  test::TempDir t;
  WriteFileBytes(t / "in.raw", std::vector<uint8_t>(4096, 1));
  auto open = [&](const std::string& s) {
    WriteFileBytes(t / "d.vmdk", std::vector<uint8_t>(s.begin(), s.end()));
    return OpenWith(VmdkFormat(), t / "d.vmdk", true);
  };
  const std::string head = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n";
  auto r = open(head + "createType=\"x\"\nRW 99999999999999 FLAT \"in.raw\" 0\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("64 TiB"), std::string::npos) << r.status.message();
  r = open(head + "createType=\"x\"\nRW 8 FLAT \"in.raw\" 0\nRW 18446744073709551615 ZERO\n");
  ASSERT_FALSE(r.ok());
  r = open(head + "createType=\"x\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("no extents"), std::string::npos);
  r = open(head + "createType=\"x\"\nRW 8 FLAT \"in.raw\nbogus line\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("line"), std::string::npos) << r.status.message();
  r = open(head + "parentFileNameHint=\"base.vmdk\"\ncreateType=\"x\"\nRW 8 FLAT \"in.raw\" 0\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("parent"), std::string::npos);
  r = open(head + "createType=\"fullDevice\"\nRW 8 FLAT \"in.raw\" 0\n");
  ASSERT_FALSE(r.ok());
  // ZERO and RDONLY extents: reads work, writes refused.
  r = open(head + "createType=\"x\"\nRDONLY 8 FLAT \"in.raw\" 0\nRW 8 ZERO\n");
  ASSERT_TRUE(r.ok()) << r.status.message();
  EXPECT_EQ(r.value->Size(), 8192u);
  uint8_t b[8192];
  ASSERT_TRUE(r.value->Read(0, b, sizeof b).ok());
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[4096], 0);
}

// An ESX sparse (COWD) extent: 1 MiB of 8 KiB grains, directory at sector 4,
// its one table at sector 5, free space from sector 37.
std::vector<uint8_t> CowdExtent() {
  std::vector<uint8_t> b(37 * 512, 0);
  Put32(b, 0, 0x44574f43);
  Put32(b, 4, 1);
  Put32(b, 8, 3);
  Put32(b, 12, 2048);
  Put32(b, 16, 16);
  Put32(b, 20, 4);
  Put32(b, 24, 1);
  Put32(b, 28, 37);
  Put32(b, 4 * 512, 5);
  return b;
}

TEST(Vmdk, VmfsSparseExtentReadWrite) {
  REQUIRE_QEMU();
  test::TempDir t;
  WriteFileBytes(t / "c-delta.vmdk", CowdExtent());
  std::string d = "# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\n"
                  "createType=\"vmfsSparse\"\n\nRW 2048 VMFSSPARSE \"c-delta.vmdk\"\n";
  WriteFileBytes(t / "c.vmdk", std::vector<uint8_t>(d.begin(), d.end()));
  std::vector<Pattern> ps = {{8192 - 512, 1024, 0x71}, {kMiB - 512, 512, 0x72}};
  {
    auto r = OpenWith(VmdkFormat(), t / "c.vmdk", false);
    ASSERT_TRUE(r.ok()) << r.status.message();
    EXPECT_EQ(r.value->Size(), kMiB);
    WritePatterns(r.value.get(), ps);
  }
  test::Model m = ModelOf(kMiB, ps);
  m.WriteRaw(t / "expect.raw");
  // qemu 7.2 lists a lone VMFSSPARSE extent twice (its disk is 2 MiB), so it
  // serves as the oracle for the first MiB only.
  test::Cmd q = test::Run("qemu-io -r -f vmdk -c 'read -P 0x71 7680 1024' -c 'read -P 0 8704 1039360' "
                       "-c 'read -P 0x72 1048064 512' " + (t / "c.vmdk"));
  EXPECT_EQ(q.code, 0) << q.out;
  EXPECT_EQ(q.out.find("failed"), std::string::npos) << q.out;
  auto b = ReadFileBytes(t / "c-delta.vmdk");
  EXPECT_EQ(b.size(), (37 + 3 * 16) * 512u);  // three grains appended
  EXPECT_EQ(b[28], 37 + 3 * 16);              // and the free sector moved past them
  auto r = OpenWith(VmdkFormat(), t / "c.vmdk", true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(test::MatchesModel(r.value.get(), m));
  // A COWD extent named SPARSE (or the reverse) is refused.
  d.replace(d.find("VMFSSPARSE"), 10, "SPARSE");
  WriteFileBytes(t / "c.vmdk", std::vector<uint8_t>(d.begin(), d.end()));
  r = OpenWith(VmdkFormat(), t / "c.vmdk", true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("COWD"), std::string::npos) << r.status.message();
  // On its own, the COWD file is an image too.
  auto alone = OpenWith(VmdkFormat(), t / "c-delta.vmdk", true);
  ASSERT_TRUE(alone.ok()) << alone.status.message();
  EXPECT_TRUE(test::MatchesModel(alone.value.get(), m));
  auto bad = CowdExtent();
  Put32(bad, 24, 0);  // directory too small for the capacity
  auto e = OpenMem(VmdkFormat(), bad);
  EXPECT_FALSE(e.ok());
}

int64_t InfoCid(BlockDriver* d) {
  ImageInfo info;
  dynamic_cast<ImageOps*>(d)->GetInfo(&info);
  for (const auto& [k, v] : info.specific)
    if (k == "cid") return v.i;
  return -1;
}

// The first write gives the disk a new content ID (embedded or in the descriptor file).
TEST(Vmdk, FirstWriteRenewsCid) {
  REQUIRE_QEMU();
  for (const char* sub : {"monolithicSparse", "monolithicFlat"}) {
    test::TempDir t;
    std::string img = t / "c.vmdk";
    CreateOptions co;
    co.size = kMiB;
    co.opts["subformat"] = sub;
    ASSERT_TRUE(VmdkFormat().create(img, co).ok());
    int64_t before, after;
    {
      auto d = OpenWith(VmdkFormat(), img, false);
      ASSERT_TRUE(d.ok()) << d.status.message();
      before = InfoCid(d.value.get());
      uint8_t b[512];
      std::memset(b, 0x3c, sizeof b);
      ASSERT_TRUE(d.value->Write(0, b, sizeof b).ok());
      after = InfoCid(d.value.get());
      EXPECT_NE(before, after) << sub;
    }
    test::Cmd info = test::Run("qemu-img info --output=json " + img);
    EXPECT_NE(info.out.find("\"cid\": " + std::to_string(after)), std::string::npos) << info.out;
    EXPECT_EQ(test::Run("qemu-img check " + img).code, 0);
    test::Cmd r = test::Run("qemu-io -f vmdk -c 'read -P 0x3c 0 512' " + img);
    EXPECT_EQ(r.out.find("failed"), std::string::npos) << r.out;
  }
}

TEST(Vmdk, ZeroedGrainEntries) {
  REQUIRE_QEMU();
  test::TempDir t;
  std::string img = t / "z.vmdk";
  CreateOptions co;
  co.size = kMiB;
  co.opts["zeroed_grain"] = "on";
  ASSERT_TRUE(VmdkFormat().create(img, co).ok());
  {
    auto d = OpenWith(VmdkFormat(), img, false);
    ASSERT_TRUE(d.ok());
    WritePatterns(d.value.get(), {{0, 3 * 65536, 0x6d}});
    ASSERT_TRUE(d.value->WriteZeroes(0, 65536).ok());        // whole grain: entry 1
    ASSERT_TRUE(d.value->WriteZeroes(65536 + 512, 512).ok());  // partial: zeros written
    ASSERT_TRUE(d.value->WriteZeroes(5 * 65536, 65536).ok());  // unallocated grain
  }
  test::Model m = ModelOf(kMiB, {{65536, 512, 0x6d}, {65536 + 1024, 2 * 65536 - 1024, 0x6d}});
  auto b = ReadFileBytes(img);
  EXPECT_EQ(b[27 * 512], 1);      // grain 0: zeroed-grain entry
  EXPECT_EQ(b[27 * 512 + 20], 1);  // grain 5 too
  EXPECT_TRUE(test::QemuAgrees(img, "vmdk", m, t / "expect.raw"));
  auto d = OpenWith(VmdkFormat(), img, true);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(test::MatchesModel(d.value.get(), m));
}

TEST(Vmdk, CompressionOnlyForStreams) {
  test::TempDir t;
  CreateOptions co;
  co.size = kMiB;
  ASSERT_TRUE(VmdkFormat().create(t / "m.vmdk", co).ok());
  co.opts["subformat"] = "streamOptimized";
  ASSERT_TRUE(VmdkFormat().create(t / "s.vmdk", co).ok());
  auto m = OpenWith(VmdkFormat(), t / "m.vmdk", false);
  auto s = OpenWith(VmdkFormat(), t / "s.vmdk", false);
  ASSERT_TRUE(m.ok() && s.ok());
  EXPECT_EQ(dynamic_cast<ImageOps*>(m.value.get())->CompressionGranularity(), 0u);
  EXPECT_EQ(dynamic_cast<ImageOps*>(s.value.get())->CompressionGranularity(), 65536u);
}

// Through the block layer's probing: descriptor files and sparse files are vmdk,
// and a VDI is vdi (not raw).
TEST(Vmdk, ProbedByOpenImage) {
  test::TempDir t;
  for (const char* sub : {"monolithicSparse", "monolithicFlat", "streamOptimized"}) {
    std::string img = t / (std::string(sub) + ".vmdk");
    CreateOptions co;
    co.size = kMiB;
    co.opts["subformat"] = sub;
    ASSERT_TRUE(CreateImage("vmdk", img, co).ok());
    OpenOptions o;
    o.read_only = true;
    o.lock = false;
    auto d = OpenImage(img, o);
    ASSERT_TRUE(d.ok()) << d.status.message();
    EXPECT_EQ(d.value->format_name(), "vmdk") << sub;
  }
  ASSERT_TRUE(test::CreateEmpty("vdi", t / "x.vdi", kMiB));
  OpenOptions o;
  o.lock = false;
  auto d = OpenImage(t / "x.vdi", o);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_EQ(d.value->format_name(), "vdi");
}

TEST(Vmdk, RejectsUnknownCreateOptions) {
  test::TempDir t;
  CreateOptions co;
  co.size = kMiB;
  co.opts["subformat"] = "twoGbMaxExtentStream";
  EXPECT_FALSE(VmdkFormat().create(t / "x.vmdk", co).ok());
  co.opts = {{"cluster_size", "4096"}};
  Status s = VmdkFormat().create(t / "x.vmdk", co);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster_size"), std::string::npos);
  co.opts = {{"adapter_type", "scsi"}};
  EXPECT_FALSE(VmdkFormat().create(t / "x.vmdk", co).ok());
}


// --- descriptor rewrite on first write (fuzz finding) ------------------------

// The input of a vmdk_fuzz report (heap overflow "in RenewCid", reached from
// Write): a 1 MiB monolithicSparse disk, descriptor at sectors 1..20, redundant
// directory at 21 (its table at 22), directory at 26 (its table at 27), grains
// from sector 128. The report came from a build whose vmdk.cpp object predated
// an ExtentIO vtable change; this image must open and be written safely.
std::vector<uint8_t> FuzzCidImage() {
  std::vector<uint8_t> m(65536, 0);
  Put32(m, 0, 0x564d444b);  // KDMV
  Put32(m, 4, 1);
  Put32(m, 8, 3);            // newline test, redundant directory
  Put64(m, 12, 2048);        // capacity (sectors)
  Put64(m, 20, 128);         // grain size
  Put64(m, 28, 1);           // descriptor offset
  Put64(m, 36, 20);          // descriptor size
  Put32(m, 44, 512);         // entries per grain table
  Put64(m, 48, 21);          // redundant directory
  Put64(m, 56, 26);          // directory
  Put64(m, 64, 128);         // overhead
  m[73] = '\n';
  m[74] = ' ';
  m[75] = '\r';
  m[76] = '\n';
  const std::string text =
      "# Disk DescriptorFile\nversion=1\nCID=3aa01615\nparentCID=ffffffff\n"
      "createType=\"monolithicSparse\"\n\n# Extent description\nRW 2048 SPARSE \"vmdk\"\n\n"
      "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n"
      "ddb.geometry.cylinders = \"2\"\nddb.geometry.heads = \"16\"\n"
      "ddb.geometry.sectors = \"63\"\nddb.adapterType = \"ide\"\n"
      "ddb.toolsVersion = \"2147483647\"\n";
  std::copy(text.begin(), text.end(), m.begin() + 512);
  Put32(m, 21 * 512, 22);
  Put32(m, 26 * 512, 27);
  return m;
}

TEST(Vmdk, FuzzCidImageWrittenSafely) {
  test::TempDir t;
  std::string img = t / "fuzz.vmdk";
  const std::vector<uint8_t> orig = FuzzCidImage();
  WriteFileBytes(img, orig);
  uint64_t off = 0;
  int64_t before = -1, after = -1;
  {
    auto d = OpenWith(VmdkFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    uint64_t n = d.value->Size();
    ASSERT_EQ(n, kMiB);
    off = n / 3 / 512 * 512;  // where the fuzz target writes
    before = InfoCid(d.value.get());
    EXPECT_EQ(before, 0x3aa01615);
    std::vector<uint8_t> b(512, 0xa5);
    Status s = d.value->Write(off, b.data(), b.size());
    ASSERT_TRUE(s.ok()) << s.message();
    after = InfoCid(d.value.get());
    EXPECT_NE(after, before);
    ASSERT_TRUE(d.value->Flush().ok());
  }
  std::vector<uint8_t> now = ReadFileBytes(img);
  ASSERT_GE(now.size(), orig.size());
  // Header and directories untouched; the descriptor area holds text then NULs.
  EXPECT_TRUE(std::equal(orig.begin(), orig.begin() + 512, now.begin()));
  EXPECT_TRUE(std::equal(orig.begin() + 21 * 512, orig.begin() + 22 * 512, now.begin() + 21 * 512));
  EXPECT_TRUE(std::equal(orig.begin() + 26 * 512, orig.begin() + 27 * 512, now.begin() + 26 * 512));
  std::string area(now.begin() + 512, now.begin() + 21 * 512);
  size_t nul = area.find('\0');
  ASSERT_NE(nul, std::string::npos);
  EXPECT_EQ(area.find_first_not_of('\0', nul), std::string::npos);
  char cidline[32];
  snprintf(cidline, sizeof cidline, "\nCID=%x\n", unsigned(after));
  EXPECT_NE(area.find(cidline), std::string::npos) << area.substr(0, nul);
  auto d = OpenWith(VmdkFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_EQ(InfoCid(d.value.get()), after);
  uint8_t b[512];
  ASSERT_TRUE(d.value->Read(off, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0xa5);
  EXPECT_EQ(b[511], 0xa5);
  ASSERT_TRUE(d.value->Read(0, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0);
}

// An embedded descriptor that fills its reserved area leaves no room for a
// longer CID: the write is refused rather than spilling past the area.
TEST(Vmdk, EmbeddedDescriptorWithoutRoomForCid) {
  std::vector<uint8_t> m = FuzzCidImage();
  Put64(m, 36, 1);  // one sector reserved
  std::string text = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n"
                     "createType=\"monolithicSparse\"\nRW 2048 SPARSE \"vmdk\"\n#";
  text.resize(512, 'x');  // a comment up to the last byte: no NUL in the area
  std::fill(m.begin() + 512, m.begin() + 1024, 0);
  std::copy(text.begin(), text.end(), m.begin() + 512);
  auto d = OpenMem(VmdkFormat(), m, "/nonexistent/full.vmdk");
  ASSERT_TRUE(d.ok()) << d.status.message();
  uint8_t b[512];
  std::memset(b, 0x11, sizeof b);
  Status s = d.value->Write(0, b, sizeof b);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no room for a new CID"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/nonexistent/full.vmdk"), std::string::npos) << s.message();
}

// The descriptor area is rewritten in place, so it may not share sectors with
// the directories or the grains.
TEST(Vmdk, RefusesEmbeddedDescriptorOverlappingMetadata) {
  std::vector<uint8_t> m = FuzzCidImage();
  Put64(m, 36, 22);  // sectors 1..22: over the redundant directory at 21
  EXPECT_REFUSED(m, "overlaps the redundant grain directory");
  m = FuzzCidImage();
  Put64(m, 48, 0);   // no redundant directory ...
  Put32(m, 8, 1);
  Put64(m, 36, 26);  // ... but sectors 1..26 cover the directory at 26
  EXPECT_REFUSED(m, "overlaps the grain directory");
  m = FuzzCidImage();
  Put64(m, 64, 10);  // grains may start at sector 10, inside the descriptor
  EXPECT_REFUSED(m, "overlaps the grains");
}

// The CID line is found as the parser finds it (blanks around '=', CRLF), and a
// descriptor file with NUL padding and junk after the text stays parseable.
TEST(Vmdk, DescriptorFileCidRewrite) {
  test::TempDir t;
  std::string img = t / "f.vmdk";
  CreateOptions co;
  co.size = kMiB;
  co.opts["subformat"] = "monolithicFlat";
  ASSERT_TRUE(VmdkFormat().create(img, co).ok());
  std::vector<uint8_t> raw = ReadFileBytes(img);
  std::string text(raw.begin(), raw.end());
  size_t at = text.find("\nCID=");
  ASSERT_NE(at, std::string::npos);
  size_t nl = text.find('\n', at + 1);
  text = text.substr(0, at) + "\n  CID = 7 \r" + text.substr(nl);
  text += std::string(16, '\0') + "junk that must not be revived";
  WriteFileBytes(img, std::vector<uint8_t>(text.begin(), text.end()));
  int64_t after;
  {
    auto d = OpenWith(VmdkFormat(), img, false);
    ASSERT_TRUE(d.ok()) << d.status.message();
    EXPECT_EQ(InfoCid(d.value.get()), 7);
    uint8_t b[512];
    std::memset(b, 0x3c, sizeof b);
    Status s = d.value->Write(512, b, sizeof b);
    ASSERT_TRUE(s.ok()) << s.message();
    after = InfoCid(d.value.get());
    EXPECT_NE(after, 7);
  }
  std::vector<uint8_t> now = ReadFileBytes(img);
  std::string nt(now.begin(), now.end());
  EXPECT_EQ(nt.find('\0'), std::string::npos);
  EXPECT_EQ(nt.find("junk"), std::string::npos);
  char cidline[32];
  snprintf(cidline, sizeof cidline, "\n  CID = %x \r\n", unsigned(after));
  EXPECT_NE(nt.find(cidline), std::string::npos) << nt;
  auto d = OpenWith(VmdkFormat(), img, true);
  ASSERT_TRUE(d.ok()) << d.status.message();
  EXPECT_EQ(InfoCid(d.value.get()), after);
  uint8_t b[512];
  ASSERT_TRUE(d.value->Read(512, b, sizeof b).ok());
  EXPECT_EQ(b[0], 0x3c);
}

}  // namespace
}  // namespace emu::block
