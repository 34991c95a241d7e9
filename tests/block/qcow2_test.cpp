// qcow2 driver through our own API: allocation, refcounts, COW from backing
// files, zero clusters, discard, compression, snapshots, resize, dirty/corrupt
// bits. Images are checked by our check and, when available, qemu-img check.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "block/qcow2/qcow2.h"
#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::Model;
using test::TempDir;

std::unique_ptr<BlockDriver> Create(const std::string& p, uint64_t size,
                                    std::map<std::string, std::string> opts = {}) {
  CreateOptions c;
  c.size = size;
  c.opts = std::move(opts);
  Status s = CreateImage("qcow2", p, c);
  EXPECT_TRUE(s.ok()) << s.message();
  return test::OpenOrDie(p, true);
}

void ExpectClean(BlockDriver* d) {
  auto* ops = dynamic_cast<ImageOps*>(d);
  ASSERT_TRUE(ops);
  CheckResult r;
  ASSERT_TRUE(ops->Check(false, false, &r).ok());
  EXPECT_EQ(r.corruptions, 0);
  EXPECT_EQ(r.leaks, 0);
  for (const auto& m : r.messages) ADD_FAILURE() << m;
}

void ExpectQemuClean(const std::string& p) {
  if (!test::QemuAvailable()) return;
  auto r = test::Run("qemu-img check " + p);
  EXPECT_EQ(r.code, 0) << r.out;
}

void RandomWrites(BlockDriver* d, Model* m, int n, uint64_t max_len, std::mt19937_64* rng) {
  for (int i = 0; i < n; i++) {
    uint64_t len = 1 + (*rng)() % max_len;
    uint64_t off = (*rng)() % (m->data.size() - len);
    uint8_t v = uint8_t((*rng)() | 1);
    std::vector<uint8_t> b(len, v);
    ASSERT_TRUE(d->Write(off, b.data(), len).ok());
    m->Fill(off, len, v);
  }
}

struct Variant {
  const char* compat;
  const char* cluster;
  const char* refbits;
};

class Qcow2Variants : public ::testing::TestWithParam<Variant> {};

TEST_P(Qcow2Variants, RandomWritesReopenAndCheck) {
  TempDir t;
  std::string p = t / "v.qcow2";
  Variant v = GetParam();
  Model m(12 << 20);
  std::mt19937_64 rng(42);
  {
    auto d = Create(p, m.data.size(),
                    {{"compat", v.compat}, {"cluster_size", v.cluster}, {"refcount_bits", v.refbits}});
    ASSERT_TRUE(d);
    RandomWrites(d.get(), &m, 60, 200000, &rng);
    ASSERT_TRUE(d->Flush().ok());
    EXPECT_TRUE(test::MatchesModel(d.get(), m));
    ExpectClean(d.get());
  }
  auto d = test::OpenOrDie(p, true);
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
  RandomWrites(d.get(), &m, 20, 100000, &rng);
  d.reset();
  ExpectQemuClean(p);
  d = test::OpenOrDie(p);
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
}

INSTANTIATE_TEST_SUITE_P(All, Qcow2Variants,
                         ::testing::Values(Variant{"1.1", "65536", "16"}, Variant{"0.10", "65536", "16"},
                                           Variant{"1.1", "512", "16"}, Variant{"1.1", "2M", "16"},
                                           Variant{"1.1", "4096", "1"}, Variant{"1.1", "4096", "8"},
                                           Variant{"1.1", "4096", "64"}, Variant{"1.1", "1024", "2"}));

TEST(Qcow2, RefcountTableGrowsWithSmallClusters) {
  // 512-byte clusters: one refcount block covers 128 KiB, one table cluster
  // 64 blocks, so 20 MiB of data needs the table to move.
  TempDir t;
  std::string p = t / "grow.qcow2";
  Model m(24 << 20);
  auto d = Create(p, m.data.size(), {{"cluster_size", "512"}});
  std::vector<uint8_t> b(1 << 20);
  for (uint64_t off = 0; off < (20u << 20); off += b.size()) {
    std::fill(b.begin(), b.end(), uint8_t(off >> 20 | 1));
    ASSERT_TRUE(d->Write(off, b.data(), b.size()).ok());
    m.Fill(off, b.size(), uint8_t(off >> 20 | 1));
  }
  ASSERT_TRUE(d->Flush().ok());
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
  ExpectClean(d.get());
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, BackingCopyOnWriteAndLoopDetection) {
  TempDir t;
  std::string base = t / "base.qcow2", top = t / "top.qcow2";
  Model m(4 << 20);
  {
    auto b = Create(base, m.data.size());
    std::vector<uint8_t> w(m.data.size(), 0x11);
    ASSERT_TRUE(b->Write(0, w.data(), w.size()).ok());
    m.Fill(0, m.data.size(), 0x11);
  }
  auto d = Create(top, 0, {{"backing_file", "base.qcow2"}, {"backing_fmt", "qcow2"}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Size(), m.data.size());
  std::vector<uint8_t> w(100, 0x22);
  ASSERT_TRUE(d->Write(70000, w.data(), w.size()).ok());  // partial cluster: COW
  m.Fill(70000, 100, 0x22);
  ASSERT_TRUE(d->Discard(1 << 20, 1 << 20).ok());  // v3: zero clusters over backing
  m.Fill(1 << 20, 1 << 20, 0);
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
  d.reset();
  ExpectQemuClean(top);
  // base -> top -> base: a loop.
  auto b = test::OpenOrDie(base, true);
  ASSERT_TRUE(dynamic_cast<ImageOps*>(b.get())->SetBackingName("top.qcow2", "qcow2").ok());
  b.reset();
  OpenOptions o;
  auto r = OpenImage(top, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("loop"), std::string::npos) << r.status.message();
}

TEST(Qcow2, ZeroesDiscardAndCompression) {
  TempDir t;
  std::string p = t / "z.qcow2";
  Model m(4 << 20);
  auto d = Create(p, m.data.size());
  std::vector<uint8_t> w(1 << 20);
  for (size_t i = 0; i < w.size(); i++) w[i] = uint8_t(i / 1000);
  auto* ops = dynamic_cast<ImageOps*>(d.get());
  ASSERT_TRUE(ops->WriteCompressed(0, w.data(), w.size()).ok());
  std::copy(w.begin(), w.end(), m.data.begin());
  ASSERT_TRUE(d->Write(2 << 20, w.data(), w.size()).ok());
  std::copy(w.begin(), w.end(), m.data.begin() + (2 << 20));
  ASSERT_TRUE(d->WriteZeroes((2 << 20) + 65536, 131072).ok());
  m.Fill((2 << 20) + 65536, 131072, 0);
  ASSERT_TRUE(d->Discard(0, 65536).ok());
  m.Fill(0, 65536, 0);
  std::vector<uint8_t> x(10, 0x99);  // overwrite inside a compressed cluster
  ASSERT_TRUE(d->Write(200000, x.data(), x.size()).ok());
  m.Fill(200000, 10, 0x99);
  EXPECT_TRUE(test::MatchesModel(d.get(), m));
  ASSERT_TRUE(d->Flush().ok());
  ExpectClean(d.get());
  std::vector<Extent> ext;
  ASSERT_TRUE(d->BlockStatus(0, d->Size(), &ext).ok());
  bool saw_zero = false;
  for (auto& e : ext) saw_zero |= e.zero && e.present && e.offset >= (2u << 20);
  EXPECT_TRUE(saw_zero);
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, SnapshotsCreateApplyDelete) {
  TempDir t;
  std::string p = t / "s.qcow2";
  auto d = Create(p, 2 << 20);
  auto* ops = dynamic_cast<ImageOps*>(d.get());
  std::vector<uint8_t> a(1 << 20, 0xaa), b(1 << 20, 0xbb), r(1 << 20);
  ASSERT_TRUE(d->Write(0, a.data(), a.size()).ok());
  ASSERT_TRUE(ops->CreateSnapshot("one").ok());
  EXPECT_FALSE(ops->CreateSnapshot("one").ok());
  ASSERT_TRUE(d->Write(0, b.data(), b.size()).ok());
  ExpectClean(d.get());
  ASSERT_TRUE(ops->CreateSnapshot("two").ok());
  ASSERT_TRUE(ops->ApplySnapshot("one").ok());
  ASSERT_TRUE(d->Read(0, r.data(), r.size()).ok());
  EXPECT_EQ(r, a);
  ExpectClean(d.get());
  ASSERT_TRUE(ops->ApplySnapshot("2").ok());  // by id
  ASSERT_TRUE(d->Read(0, r.data(), r.size()).ok());
  EXPECT_EQ(r, b);
  ASSERT_TRUE(ops->DeleteSnapshot("one").ok());
  EXPECT_FALSE(ops->DeleteSnapshot("one").ok());
  std::vector<SnapshotInfo> l;
  ASSERT_TRUE(ops->ListSnapshots(&l).ok());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "two");
  ExpectClean(d.get());
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, ResizeGrowAndShrink) {
  TempDir t;
  std::string p = t / "r.qcow2";
  auto d = Create(p, 1 << 20, {{"cluster_size", "4096"}});
  auto* ops = dynamic_cast<ImageOps*>(d.get());
  std::vector<uint8_t> w(1 << 20, 0x31);
  ASSERT_TRUE(d->Write(0, w.data(), w.size()).ok());
  ASSERT_TRUE(ops->Resize(64 << 20, false).ok());  // L1 must grow (4 KiB clusters)
  EXPECT_EQ(d->Size(), 64u << 20);
  ASSERT_TRUE(d->Write((64 << 20) - 4096, w.data(), 4096).ok());
  EXPECT_FALSE(ops->Resize(512 << 10, false).ok());
  ASSERT_TRUE(ops->Resize(512 << 10, true).ok());
  ASSERT_TRUE(ops->Resize(1 << 20, false).ok());
  uint8_t b[2];
  ASSERT_TRUE(d->Read((512 << 10) - 1, b, 2).ok());
  EXPECT_EQ(b[0], 0x31);
  EXPECT_EQ(b[1], 0);
  ExpectClean(d.get());
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, LazyRefcountsDirtyImageIsRepairedOnOpen) {
  TempDir t;
  std::string p = t / "lazy.qcow2";
  pid_t pid = fork();
  if (pid == 0) {
    // Child: write with lazy refcounts, damage a refcount, die without closing.
    auto d = Create(p, 1 << 20, {{"lazy_refcounts", "on"}});
    std::vector<uint8_t> w(4096, 1);
    if (!d->Write(0, w.data(), w.size()).ok() || !d->Flush().ok()) _exit(2);
    auto* q = dynamic_cast<Qcow2Image*>(d.get());
    if (!(q->header().incompatible & kIncDirty)) _exit(3);
    uint8_t hdr[104];
    q->file()->PRead(0, hdr, sizeof hdr);
    uint8_t e[8];
    q->file()->PRead(Be64(hdr + 48), e, 8);
    uint8_t zero[8] = {};
    q->file()->PWrite(Be64(e) + 2 * 4, zero, 8);  // refcounts of clusters 4-7
    q->file()->Flush();
    _exit(0);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  auto d = test::OpenOrDie(p, true);
  ASSERT_TRUE(d);
  auto* q = dynamic_cast<Qcow2Image*>(d.get());
  EXPECT_FALSE(q->header().incompatible & kIncDirty);
  ExpectClean(d.get());
  uint8_t b;
  ASSERT_TRUE(d->Read(100, &b, 1).ok());
  EXPECT_EQ(b, 1);
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, CorruptBitRefusesWritesUntilRepaired) {
  TempDir t;
  std::string p = t / "c.qcow2";
  Create(p, 1 << 20).reset();
  {
    auto f = OpenHostFile(p, {});
    ASSERT_TRUE(f.ok());
    uint8_t v[8];
    PutBe64(v, kIncCorrupt);
    ASSERT_TRUE(f.value->PWrite(72, v, 8).ok());
  }
  auto d = test::OpenOrDie(p, true);
  uint8_t b = 1;
  Status s = d->Write(0, &b, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("corrupt"), std::string::npos);
  ASSERT_TRUE(d->Read(0, &b, 1).ok());
  CheckResult r;
  ASSERT_TRUE(dynamic_cast<ImageOps*>(d.get())->Check(true, true, &r).ok());
  EXPECT_TRUE(d->Write(0, &b, 1).ok());
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, CheckFindsAndRepairsLeaks) {
  TempDir t;
  std::string p = t / "leak.qcow2";
  auto d = Create(p, 1 << 20);
  auto* q = dynamic_cast<Qcow2Image*>(d.get());
  // Append a cluster with refcount 1 that nothing uses: bump the refcount by
  // writing data, then unhook its L2 entry by hand.
  std::vector<uint8_t> w(65536, 3);
  ASSERT_TRUE(d->Write(0, w.data(), w.size()).ok());
  ASSERT_TRUE(d->Flush().ok());
  uint8_t hdr[48];
  ASSERT_TRUE(q->file()->PRead(0, hdr, sizeof hdr).ok());
  uint8_t l1e[8];
  ASSERT_TRUE(q->file()->PRead(Be64(hdr + 40), l1e, 8).ok());
  uint8_t zero[8] = {};
  ASSERT_TRUE(q->file()->PWrite(Be64(l1e) & kQcow2OffsetMask, zero, 8).ok());
  d.reset();
  d = test::OpenOrDie(p, true);
  auto* ops = dynamic_cast<ImageOps*>(d.get());
  CheckResult r;
  ASSERT_TRUE(ops->Check(false, false, &r).ok());
  EXPECT_EQ(r.leaks, 1);
  EXPECT_EQ(r.corruptions, 0);
  ASSERT_TRUE(ops->Check(true, false, &r).ok());
  EXPECT_EQ(r.leaks_fixed, 1);
  EXPECT_EQ(r.leaks, 0);
  d.reset();
  ExpectQemuClean(p);
}

TEST(Qcow2, InMemoryImageRoundTrip) {
  TempDir t;
  std::string p = t / "m.qcow2";
  Create(p, 1 << 20, {{"cluster_size", "4096"}}).reset();
  std::string bytes = test::ReadFileText(p);
  auto img = OpenImageFile(NewMemFile(std::vector<uint8_t>(bytes.begin(), bytes.end()), "mem"), {});
  ASSERT_TRUE(img.ok()) << img.status.message();
  EXPECT_EQ(img.value->format_name(), "qcow2");
  std::vector<uint8_t> w(10000, 7), r(10000);
  ASSERT_TRUE(img.value->Write(3000, w.data(), w.size()).ok());
  ASSERT_TRUE(img.value->Read(3000, r.data(), r.size()).ok());
  EXPECT_EQ(r, w);
  ExpectClean(img.value.get());
}

}  // namespace
}  // namespace emu::block
