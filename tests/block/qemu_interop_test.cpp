// Interoperability with Debian's qemu-img/qemu-io as the oracle: images made
// and filled by qemu read back identically through our block layer; images we
// make pass `qemu-img check` and `qemu-img compare`; `info`/`map` agree.
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>

#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::Model;
using test::TempDir;

struct Write {
  uint64_t off, len;
  int pattern;  // -1: write -z (zeroes)
};

// Writes at unaligned offsets, across cluster and L2 boundaries.
const std::vector<Write> kWrites = {
    {0, 4096, 0x11},        {1000, 300000, 0x22},   {5 << 20, 2 << 20, 0x33},
    {(6 << 20) + 513, 70000, 0x44}, {(12 << 20) - 4096, 4096, 0x55},
    {(5 << 20) + 65536, 131072, -1},
};

void QemuWrite(const std::string& img, const std::string& fmt, const std::vector<Write>& ws, Model* m) {
  std::string cmd = "qemu-io -f " + fmt;
  for (const auto& w : ws) {
    if (w.pattern < 0) cmd += " -c 'write -z " + std::to_string(w.off) + " " + std::to_string(w.len) + "'";
    else cmd += " -c 'write -P " + std::to_string(w.pattern) + " " + std::to_string(w.off) + " " + std::to_string(w.len) + "'";
    m->Fill(w.off, w.len, w.pattern < 0 ? 0 : uint8_t(w.pattern));
  }
  auto r = test::Run(cmd + " " + img);
  ASSERT_EQ(r.code, 0) << r.out;
}

struct QemuCase {
  const char* name;
  const char* fmt;
  const char* opts;
};

class ReadQemuImages : public ::testing::TestWithParam<QemuCase> {};

TEST_P(ReadQemuImages, ContentMatches) {
  REQUIRE_QEMU();
  TempDir t;
  QemuCase c = GetParam();
  std::string img = t / "img";
  std::string cmd = std::string("qemu-img create -q -f ") + c.fmt;
  if (*c.opts) cmd += std::string(" -o ") + c.opts;
  ASSERT_EQ(test::Run(cmd + " " + img + " 12M").code, 0);
  Model m(12 << 20);
  QemuWrite(img, c.fmt, kWrites, &m);
  auto d = test::OpenOrDie(img);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->format_name(), c.fmt);
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
}

INSTANTIATE_TEST_SUITE_P(
    All, ReadQemuImages,
    ::testing::Values(QemuCase{"raw", "raw", ""}, QemuCase{"v2", "qcow2", "compat=0.10"},
                      QemuCase{"v3", "qcow2", "compat=1.1"},
                      QemuCase{"c512", "qcow2", "cluster_size=512"},
                      QemuCase{"c2M", "qcow2", "cluster_size=2M"},
                      QemuCase{"refcount1", "qcow2", "refcount_bits=1"},
                      QemuCase{"refcount64", "qcow2", "refcount_bits=64"},
                      QemuCase{"lazy", "qcow2", "lazy_refcounts=on"},
                      QemuCase{"extl2", "qcow2", "extended_l2=on"},
                      QemuCase{"extl2_32k", "qcow2", "extended_l2=on,cluster_size=32k"}),
    [](const auto& info) { return std::string(info.param.name); });

class CompressedByQemu : public ::testing::TestWithParam<const char*> {};

TEST_P(CompressedByQemu, ReadsBack) {
  REQUIRE_QEMU();
  TempDir t;
  Model m(6 << 20);
  for (size_t i = 0; i < m.data.size(); i++) m.data[i] = uint8_t((i / 777) % 13);
  m.WriteRaw(t / "src.raw");
  std::string ctype = GetParam();
  auto r = test::Run("qemu-img convert -c -O qcow2 -o compression_type=" + ctype + " " + (t / "src.raw") +
               " " + (t / "c.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-img check --output=json " + (t / "c.qcow2"));
  ASSERT_NE(r.out.find("compressed-clusters"), std::string::npos) << r.out;
  auto d = test::OpenOrDie(t / "c.qcow2");
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
  // And our compressed writes read back by qemu.
  r = test::Run(test::EmuImg() + " convert -c -O qcow2 -o compression_type=" + ctype + " " + (t / "src.raw") +
          " " + (t / "e.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-img check --output=json " + (t / "e.qcow2"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("compressed-clusters"), std::string::npos) << r.out;
  r = test::Run("qemu-img compare " + (t / "e.qcow2") + " " + (t / "src.raw"));
  EXPECT_EQ(r.code, 0) << r.out;
}

INSTANTIATE_TEST_SUITE_P(All, CompressedByQemu, ::testing::Values("zlib", "zstd"));

TEST(Interop, OurWritesPassQemuCheckAndCompare) {
  REQUIRE_QEMU();
  TempDir t;
  for (const char* opts : {"compat=0.10", "compat=1.1", "cluster_size=512", "cluster_size=2M",
                           "lazy_refcounts=on"}) {
    SCOPED_TRACE(opts);
    std::string img = t / "ours.qcow2";
    auto r = test::Run(test::EmuImg() + " create -q -f qcow2 -o " + opts + " " + img + " 12M");
    ASSERT_EQ(r.code, 0) << r.out;
    Model m(12 << 20);
    {
      auto d = test::OpenOrDie(img, true);
      ASSERT_TRUE(d);
      for (const auto& w : kWrites) {
        if (w.pattern < 0) {
          ASSERT_TRUE(d->WriteZeroes(w.off, w.len).ok());
          m.Fill(w.off, w.len, 0);
        } else {
          std::vector<uint8_t> b(w.len, uint8_t(w.pattern));
          ASSERT_TRUE(d->Write(w.off, b.data(), b.size()).ok());
          m.Fill(w.off, w.len, uint8_t(w.pattern));
        }
      }
    }
    EXPECT_TRUE(test::QemuAgrees(img, "", m, t / "expect.raw"));
  }
}

nlohmann::json InfoOf(const std::string& tool, const std::string& img) {
  auto r = test::Run(tool + " info --output=json " + img);
  EXPECT_EQ(r.code, 0) << r.out;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(Interop, InfoJsonAgreesWithQemuImg) {
  REQUIRE_QEMU();
  TempDir t;
  std::vector<std::string> imgs;
  auto mk = [&](const std::string& name, const std::string& args) {
    auto r = test::Run("qemu-img create -q " + args + " " + (t / name) + " 5M");
    ASSERT_EQ(r.code, 0) << r.out;
    imgs.push_back(t / name);
  };
  mk("a.raw", "-f raw");
  mk("v2.qcow2", "-f qcow2 -o compat=0.10");
  mk("v3.qcow2", "-f qcow2 -o lazy_refcounts=on,cluster_size=4k");
  mk("z.qcow2", "-f qcow2 -o compression_type=zstd,refcount_bits=8");
  mk("x.qcow2", "-f qcow2 -o extended_l2=on");
  mk("top.qcow2", "-f qcow2 -b v3.qcow2 -F qcow2");
  ASSERT_EQ(test::Run("qemu-img snapshot -c snap1 " + (t / "v2.qcow2")).code, 0);
  for (const auto& img : imgs) {
    SCOPED_TRACE(img);
    auto q = InfoOf("qemu-img", img), e = InfoOf(test::EmuImg(), img);
    ASSERT_FALSE(q.is_discarded());
    ASSERT_FALSE(e.is_discarded());
    for (const char* k : {"format", "virtual-size", "cluster-size", "backing-filename",
                          "full-backing-filename", "backing-filename-format", "format-specific",
                          "dirty-flag", "filename", "actual-size"})
      EXPECT_EQ(q.value(k, nlohmann::json()), e.value(k, nlohmann::json())) << k;
    ASSERT_EQ(q.contains("snapshots"), e.contains("snapshots"));
    if (q.contains("snapshots")) {
      EXPECT_EQ(q["snapshots"][0]["name"], e["snapshots"][0]["name"]);
      EXPECT_EQ(q["snapshots"][0]["id"], e["snapshots"][0]["id"]);
      EXPECT_EQ(q["snapshots"][0]["date-sec"], e["snapshots"][0]["date-sec"]);
    }
  }
}

TEST(Interop, ConvertBothWaysPreservesContent) {
  REQUIRE_QEMU();
  TempDir t;
  std::string src = t / "src.qcow2";
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + src + " 12M").code, 0);
  Model m(12 << 20);
  QemuWrite(src, "qcow2", kWrites, &m);
  std::string E = test::EmuImg();
  auto r = test::Run(E + " convert -O raw " + src + " " + (t / "a.raw"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img compare -f qcow2 -F raw " + src + " " + (t / "a.raw")).code, 0);
  r = test::Run(E + " convert -f raw -O qcow2 " + (t / "a.raw") + " " + (t / "b.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + (t / "b.qcow2")).code, 0);
  EXPECT_EQ(test::Run("qemu-img compare " + src + " " + (t / "b.qcow2")).code, 0);
  // Zero areas stay unallocated in the qcow2 output.
  r = test::Run("qemu-img info --output=json " + (t / "b.qcow2"));
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_LT(j["actual-size"].get<uint64_t>(), 6u << 20);
  r = test::Run(E + " convert -O qcow2 -o compat=0.10,cluster_size=512 " + src + " " + (t / "c.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + (t / "c.qcow2")).code, 0);
  EXPECT_EQ(test::Run("qemu-img compare " + src + " " + (t / "c.qcow2")).code, 0);
  auto d = test::OpenOrDie(t / "c.qcow2");
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
}

TEST(Interop, BackingChainThreeDeep) {
  REQUIRE_QEMU();
  TempDir t;
  Model m(8 << 20);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + (t / "b0.qcow2") + " 8M").code, 0);
  QemuWrite(t / "b0.qcow2", "qcow2", {{0, 8 << 20, 1}}, &m);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 -b b0.qcow2 -F qcow2 " + (t / "b1.qcow2")).code, 0);
  QemuWrite(t / "b1.qcow2", "qcow2", {{1 << 20, 1 << 20, 2}, {3 << 20, 65536, -1}}, &m);
  // The third layer made by us, with a relative backing path.
  auto r = test::Run(test::EmuImg() + " create -q -f qcow2 -b b1.qcow2 -F qcow2 " + (t / "b2.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  {
    auto d = test::OpenOrDie(t / "b2.qcow2", true);
    ASSERT_TRUE(d);
    std::vector<uint8_t> w(1000, 3);
    ASSERT_TRUE(d->Write((1 << 20) + 500, w.data(), w.size()).ok());  // COW from b1
    ASSERT_TRUE(d->Write((6 << 20) + 7, w.data(), w.size()).ok());    // COW from b0
    m.Fill((1 << 20) + 500, 1000, 3);
    m.Fill((6 << 20) + 7, 1000, 3);
    EXPECT_TRUE(test::MatchesModel(d.get(), m));
  }
  EXPECT_TRUE(test::QemuAgrees(t / "b2.qcow2", "", m, t / "expect.raw"));
  // map agrees with qemu-img on depth/zero/data/offset.
  auto q = test::Run("qemu-img map --output=json " + (t / "b2.qcow2"));
  auto e = test::Run(test::EmuImg() + " map --output=json " + (t / "b2.qcow2"));
  EXPECT_EQ(nlohmann::json::parse(q.out, nullptr, false), nlohmann::json::parse(e.out, nullptr, false))
      << q.out << "\n---\n" << e.out;
  // info --backing-chain lists all three.
  r = test::Run(test::EmuImg() + " info --backing-chain --output=json " + (t / "b2.qcow2"));
  auto chain = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(chain.is_array());
  EXPECT_EQ(chain.size(), 3u);
}

TEST(Interop, SnapshotsBothWays) {
  REQUIRE_QEMU();
  TempDir t;
  std::string img = t / "s.qcow2";
  std::string E = test::EmuImg();
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + img + " 4M").code, 0);
  ASSERT_EQ(test::Run("qemu-io -c 'write -P 0x61 0 1M' " + img).code, 0);
  ASSERT_EQ(test::Run("qemu-img snapshot -c from_qemu " + img).code, 0);
  ASSERT_EQ(test::Run("qemu-io -c 'write -P 0x62 0 1M' " + img).code, 0);
  auto r = test::Run(E + " snapshot -l " + img);
  EXPECT_NE(r.out.find("from_qemu"), std::string::npos) << r.out;
  r = test::Run(E + " snapshot -c from_emu " + img);
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-img snapshot -l " + img);
  EXPECT_NE(r.out.find("from_emu"), std::string::npos) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + img).code, 0);
  r = test::Run(E + " snapshot -a from_qemu " + img);
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-io -c 'read -P 0x61 0 1M' " + img);
  EXPECT_EQ(r.out.find("Pattern verification failed"), std::string::npos) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + img).code, 0);
  r = test::Run("qemu-img snapshot -a from_emu " + img);
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-io -c 'read -P 0x62 0 1M' " + img);
  EXPECT_EQ(r.out.find("Pattern verification failed"), std::string::npos) << r.out;
  ASSERT_EQ(test::Run(E + " snapshot -d from_qemu " + img).code, 0);
  r = test::Run("qemu-img snapshot -l " + img);
  EXPECT_EQ(r.out.find("from_qemu"), std::string::npos) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + img).code, 0);
}

TEST(Interop, RebaseCommitResizeAmend) {
  REQUIRE_QEMU();
  TempDir t;
  std::string E = test::EmuImg();
  Model m(4 << 20);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + (t / "base.qcow2") + " 4M").code, 0);
  QemuWrite(t / "base.qcow2", "qcow2", {{0, 2 << 20, 7}}, &m);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 " + (t / "top.qcow2")).code, 0);
  QemuWrite(t / "top.qcow2", "qcow2", {{1 << 20, 4096, 8}}, &m);
  m.WriteRaw(t / "expect.raw");
  // Safe rebase onto nothing: the top becomes standalone with the same content.
  auto r = test::Run(E + " rebase -b '' " + (t / "top.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + (t / "top.qcow2")).code, 0);
  r = test::Run("qemu-img compare " + (t / "top.qcow2") + " " + (t / "expect.raw"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img info " + (t / "top.qcow2")).out.find("backing file"), std::string::npos);
  // Unsafe rebase back, then commit into the base.
  r = test::Run(E + " rebase -u -b base.qcow2 -F qcow2 " + (t / "top.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run(E + " commit " + (t / "top.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::Run("qemu-img check " + (t / "base.qcow2")).code, 0);
  r = test::Run("qemu-img compare " + (t / "base.qcow2") + " " + (t / "expect.raw"));
  EXPECT_EQ(r.code, 0) << r.out;
  // Resize and amend, checked by qemu-img.
  r = test::Run(E + " resize " + (t / "base.qcow2") + " +60M");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(test::Run("qemu-img info " + (t / "base.qcow2")).out.find("64 MiB"), std::string::npos);
  r = test::Run(E + " amend -o lazy_refcounts=on " + (t / "base.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(test::Run("qemu-img info " + (t / "base.qcow2")).out.find("lazy refcounts: true"), std::string::npos);
  r = test::Run(E + " amend -o compat=0.10 " + (t / "top.qcow2"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(test::Run("qemu-img info " + (t / "top.qcow2")).out.find("compat: 0.10"), std::string::npos);
  EXPECT_EQ(test::Run("qemu-img check " + (t / "base.qcow2")).code, 0);
  EXPECT_EQ(test::Run("qemu-img check " + (t / "top.qcow2")).code, 0);
}

}  // namespace
}  // namespace emu::block

namespace emu::block {
namespace {

TEST(Interop, PersistentBitmapsAreAccountedAndDroppedOnWrite) {
  REQUIRE_QEMU();
  TempDir t;
  std::string img = t / "bm.qcow2";
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + img + " 8M").code, 0);
  auto r = test::Run("qemu-img bitmap --add " + img + " b0");
  if (r.code != 0) GTEST_SKIP() << "qemu-img bitmap unsupported: " << r.out;
  ASSERT_EQ(test::Run("qemu-io -c 'write -P 1 0 1M' " + img).code, 0);
  r = test::Run(test::EmuImg() + " check " + img);
  EXPECT_EQ(r.code, 0) << r.out;  // bitmap clusters are not leaks
  EXPECT_EQ(InfoOf("qemu-img", img)["format-specific"], InfoOf(test::EmuImg(), img)["format-specific"]);
  EXPECT_EQ(test::Run("qemu-img info " + img).out, test::Run(test::EmuImg() + " info " + img).out);
  r = test::Run(test::EmuImg() + " resize " + img + " +1M");
  ASSERT_EQ(r.code, 0) << r.out;
  r = test::Run("qemu-img check " + img);
  EXPECT_EQ(r.code, 0) << r.out;  // bitmaps dropped and their clusters freed
  EXPECT_EQ(test::Run("qemu-img info " + img).out.find("bitmaps:"), std::string::npos);
}

}  // namespace
}  // namespace emu::block

namespace emu::block {
namespace {

TEST(Interop, ExtendedL2WritesPassQemuCheck) {
  REQUIRE_QEMU();
  TempDir t;
  std::mt19937_64 rng(7);
  Model m(4 << 20);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 " + (t / "base.qcow2") + " 4M").code, 0);
  QemuWrite(t / "base.qcow2", "qcow2", {{0, 4 << 20, 0x10}}, &m);
  std::string img = t / "ext.qcow2";
  auto r = test::Run(test::EmuImg() + " create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 " + img);
  ASSERT_EQ(r.code, 0) << r.out;
  QemuWrite(img, "qcow2", {{100000, 5000, 0x20}, {(2 << 20) + 4096, 65536, -1}}, &m);
  {
    auto d = test::OpenOrDie(img, true);
    ASSERT_TRUE(d);
    for (int i = 0; i < 40; i++) {
      uint64_t len = 1 + rng() % 20000, off = rng() % (m.data.size() - len);
      uint8_t v = uint8_t(0x30 + i);
      std::vector<uint8_t> b(len, v);
      ASSERT_TRUE(d->Write(off, b.data(), len).ok());
      m.Fill(off, len, v);
    }
    ASSERT_TRUE(d->WriteZeroes(3 << 20, 65536).ok());
    m.Fill(3 << 20, 65536, 0);
    ASSERT_TRUE(d->Discard(1 << 20, 65536).ok());
    m.Fill(1 << 20, 65536, 0);
    EXPECT_TRUE(test::MatchesModel(d.get(), m));
  }
  EXPECT_TRUE(test::QemuAgrees(img, "", m, t / "expect.raw"));
  auto q = test::Run("qemu-img map --output=json " + img);
  auto e = test::Run(test::EmuImg() + " map --output=json " + img);
  EXPECT_EQ(nlohmann::json::parse(q.out, nullptr, false), nlohmann::json::parse(e.out, nullptr, false))
      << q.out << "\n---\n" << e.out;
}

}  // namespace
}  // namespace emu::block

namespace emu::block {
namespace {

TEST(Interop, MeasureMapAndCheckOutputMatchQemuImg) {
  REQUIRE_QEMU();
  TempDir t;
  std::string E = test::EmuImg();
  Model m(3 << 20);
  for (size_t i = 0; i < m.data.size(); i++) m.data[i] = uint8_t(i % 7 == 0 ? i / 3001 : 0);
  m.WriteRaw(t / "src.raw");
  ASSERT_EQ(test::Run("qemu-img convert -c -O qcow2 " + (t / "src.raw") + " " + (t / "c.qcow2")).code, 0);
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 -b c.qcow2 -F qcow2 " + (t / "top.qcow2")).code, 0);
  ASSERT_EQ(test::Run("qemu-io -c 'write -P 3 1M 100k' " + (t / "top.qcow2")).code, 0);
  auto same = [&](const std::string& args) {
    auto q = test::Run("qemu-img " + args), e = test::Run(E + " " + args);
    EXPECT_EQ(q.code, e.code) << args;
    for (size_t p; (p = q.out.find("qemu-img: ")) != std::string::npos;) q.out.replace(p, 10, "emu-img: ");
    EXPECT_EQ(q.out, e.out) << args;
  };
  for (const char* size : {"1G", "100G", "3M"})
    for (const char* cs : {"65536", "4096", "2M"})
      same(std::string("measure -O qcow2 -o cluster_size=") + cs + " --size " + size);
  for (const char* f : {"src.raw", "c.qcow2", "top.qcow2"}) {
    same("measure -O qcow2 " + (t / f));
    same("measure -O raw " + (t / f));
    same("check --output=json " + (t / f));
    same("info " + (t / f));
  }
  same("check " + (t / "c.qcow2"));
  for (const std::string& a : {"-f qcow2 -o compat=0.10,preallocation=off,cluster_size=4k " + (t / "x1") + " 1M",
                               "-f qcow2 -b c.qcow2 -F qcow2 " + (t / "x2"),
                               "-f raw -o preallocation=falloc " + (t / "x3") + " 1M",
                               "-f qcow2 -o compression_type=zstd,extended_l2=on,lazy_refcounts=on,refcount_bits=8 " +
                                   (t / "x4") + " 1M",
                               "-f qcow2 " + (t / "x5") + " 1000"})
    same("create " + a);
  // Preallocated metadata: same file size and map as qemu-img's.
  ASSERT_EQ(test::Run("qemu-img create -q -f qcow2 -o preallocation=metadata " + (t / "pq") + " 20M").code, 0);
  ASSERT_EQ(test::Run(E + " create -q -f qcow2 -o preallocation=metadata " + (t / "pe") + " 20M").code, 0);
  EXPECT_EQ(test::Run("qemu-img check " + (t / "pe")).code, 0);
  EXPECT_EQ(test::Run("stat -c %s " + (t / "pq")).out, test::Run("stat -c %s " + (t / "pe")).out);
  EXPECT_EQ(test::Run("qemu-img map --output=json " + (t / "pq")).out,
            test::Run("qemu-img map --output=json " + (t / "pe")).out);
  same("map " + (t / "top.qcow2"));
  same("map --output=json " + (t / "top.qcow2"));
}

}  // namespace
}  // namespace emu::block
