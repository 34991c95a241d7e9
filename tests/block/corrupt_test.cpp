// Corrupt and hostile qcow2 images: each is refused (or the access fails) with a
// message naming the image and the problem; never a crash, hang or huge
// allocation (MemFile caps growth, header fields are bounded before use).
#include <cstring>
#include <functional>

#include "block/qcow2/qcow2.h"
#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::TempDir;

// A valid 4 MiB qcow2 (64 KiB clusters) with data in the first two clusters.
std::vector<uint8_t> BaseImage() {
  static std::vector<uint8_t> img;
  if (img.empty()) {
    TempDir t;
    EXPECT_TRUE(test::CreateEmpty("qcow2", t / "b.qcow2", 4 << 20));
    {
      auto d = test::OpenOrDie(t / "b.qcow2", true);
      std::vector<uint8_t> w(131072, 0x42);
      EXPECT_TRUE(d->Write(0, w.data(), w.size()).ok());
    }
    std::string s = test::ReadFileText(t / "b.qcow2");
    img.assign(s.begin(), s.end());
  }
  return img;
}

Result<std::unique_ptr<BlockDriver>> OpenMutated(const std::function<void(std::vector<uint8_t>&)>& f,
                                                 bool rw = false) {
  std::vector<uint8_t> img = BaseImage();
  f(img);
  OpenOptions o;
  o.read_only = !rw;
  o.open_backing = false;
  return OpenImageFile(NewMemFile(std::move(img), "hostile.qcow2", !rw), o);
}

void ExpectRefused(const std::function<void(std::vector<uint8_t>&)>& f, const std::string& what) {
  auto r = OpenMutated(f);
  ASSERT_FALSE(r.ok()) << "accepted an image with: " << what;
  EXPECT_NE(r.status.message().find("hostile.qcow2"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find(what), std::string::npos) << r.status.message();
}

// Opens, then reads everything: the read must fail naming the problem.
void ExpectReadFails(const std::function<void(std::vector<uint8_t>&)>& f, const std::string& what) {
  auto r = OpenMutated(f);
  ASSERT_TRUE(r.ok()) << r.status.message();
  std::vector<uint8_t> buf(r.value->Size());
  Status s = r.value->Read(0, buf.data(), buf.size());
  ASSERT_FALSE(s.ok()) << "read succeeded despite: " << what;
  EXPECT_NE(s.message().find("hostile.qcow2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  // check must not crash either, and must see something wrong.
  CheckResult cr;
  Status cs = dynamic_cast<ImageOps*>(r.value.get())->Check(false, false, &cr);
  EXPECT_TRUE(!cs.ok() || cr.corruptions > 0 || cr.check_errors > 0);
}

uint64_t L1Offset(const std::vector<uint8_t>& img) { return Be64(&img[40]); }
uint64_t L2Offset(const std::vector<uint8_t>& img) { return Be64(&img[L1Offset(img)]) & kQcow2OffsetMask; }

TEST(Corrupt, HeaderFieldsAtExtremeValues) {
  // Bad magic: probing calls it raw; named as qcow2 it is refused.
  OpenOptions o;
  o.format = "qcow2";
  std::vector<uint8_t> bad = BaseImage();
  bad[0] = 'X';
  auto r = OpenImageFile(NewMemFile(bad, "hostile.qcow2", true), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("not in qcow2 format"), std::string::npos);

  ExpectRefused([](auto& i) { i.resize(50); }, "too short");
  ExpectRefused([](auto& i) { i.resize(65536); }, "past the end of the file");
  ExpectRefused([](auto& i) { PutBe32(&i[4], 4); }, "unsupported qcow2 version 4");
  ExpectRefused([](auto& i) { PutBe32(&i[100], 0xffffffff); }, "header_length");
  ExpectRefused([](auto& i) { PutBe32(&i[100], 48); }, "header_length");
  ExpectRefused([](auto& i) { PutBe32(&i[20], 40); }, "cluster size");
  ExpectRefused([](auto& i) { PutBe32(&i[20], 0); }, "cluster size");
  ExpectRefused([](auto& i) { PutBe32(&i[36], 0xffffffff); }, "l1_size");
  ExpectRefused([](auto& i) { PutBe64(&i[24], 1ull << 40); }, "l1_size");  // too small for size
  ExpectRefused([](auto& i) { PutBe64(&i[24], 1ull << 63); }, "virtual size");
  ExpectRefused([](auto& i) { PutBe32(&i[56], 0xffffffff); }, "refcount_table_clusters");
  ExpectRefused([](auto& i) { PutBe32(&i[56], 0); }, "refcount_table_clusters");
  ExpectRefused([](auto& i) { PutBe32(&i[60], 0xffffffff); }, "nb_snapshots");
  ExpectRefused([](auto& i) { PutBe32(&i[60], 60000); PutBe64(&i[64], 65536); }, "snapshot");
  ExpectRefused([](auto& i) { PutBe64(&i[8], 512); PutBe32(&i[16], 0xffffffff); }, "backing_file_size");
  ExpectRefused([](auto& i) { PutBe64(&i[8], 1ull << 40); PutBe32(&i[16], 10); }, "backing file name");
  ExpectRefused([](auto& i) { PutBe32(&i[32], 1); }, "encrypted");
  ExpectRefused([](auto& i) { PutBe32(&i[96], 7); }, "refcount_order");
  ExpectRefused([](auto& i) { PutBe64(&i[72], 4); }, "external data file");
  ExpectRefused([](auto& i) { PutBe64(&i[72], 1ull << 40); }, "bit 40");
  ExpectRefused([](auto& i) { PutBe64(&i[40], 12345); }, "not cluster aligned");
  ExpectRefused([](auto& i) { PutBe64(&i[40], 0); }, "overlaps the header");
  ExpectRefused([](auto& i) { PutBe64(&i[40], Be64(&i[48])); }, "overlaps the refcount table");
  ExpectRefused([](auto& i) { PutBe64(&i[48], 1ull << 50); }, "refcount table");
  // A header extension claiming more bytes than the cluster has.
  ExpectRefused([](auto& i) {
    uint32_t hl = Be32(&i[100]);
    PutBe32(&i[hl], 0x12345678);
    PutBe32(&i[hl + 4], 0x7fffffff);
  }, "header extension");
}

TEST(Corrupt, BadTablesFailTheAccess) {
  ExpectReadFails([](auto& i) { PutBe64(&i[L1Offset(i)], (1ull << 40) | kQcow2Copied); }, "past the end");
  ExpectReadFails([](auto& i) { PutBe64(&i[L1Offset(i)], 0x10200 | kQcow2Copied); }, "not cluster aligned");
  ExpectReadFails([](auto& i) { PutBe64(&i[L2Offset(i)], (1ull << 45) | kQcow2Copied); }, "past the end");
  ExpectReadFails([](auto& i) { PutBe64(&i[L2Offset(i)], 0x30200 | kQcow2Copied); }, "not cluster aligned");
  // Compressed: all size bits set, offset near the end: bounded read, bad data.
  ExpectReadFails([](auto& i) {
    uint64_t e = kQcow2Compressed | (((1ull << 8) - 1) << 54) | (i.size() - 100);
    PutBe64(&i[L2Offset(i)], e);
  }, "compressed");
  ExpectReadFails([](auto& i) { PutBe64(&i[L2Offset(i)], kQcow2Compressed | (1ull << 53)); }, "compressed");
}

TEST(Corrupt, OverlappingMetadataIsReportedByCheck) {
  // An L2 entry that points at the L1 table: reads don't crash, check sees it.
  auto r = OpenMutated([](auto& i) { PutBe64(&i[L2Offset(i) + 16], L1Offset(i) | kQcow2Copied); });
  ASSERT_TRUE(r.ok());
  std::vector<uint8_t> buf(r.value->Size());
  (void)r.value->Read(0, buf.data(), buf.size());
  CheckResult cr;
  ASSERT_TRUE(dynamic_cast<ImageOps*>(r.value.get())->Check(false, false, &cr).ok());
  EXPECT_GT(cr.corruptions, 0);
}

TEST(Corrupt, WritesToBrokenRefcountsFailCleanly) {
  auto r = OpenMutated([](auto& i) { PutBe64(&i[Be64(&i[48])], 1ull << 40); }, true);
  ASSERT_TRUE(r.ok()) << r.status.message();
  std::vector<uint8_t> w(65536, 1);
  Status s = r.value->Write(3 << 20, w.data(), w.size());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("refcount block"), std::string::npos) << s.message();
  // The image is now marked corrupt: further writes are refused outright.
  s = r.value->Write(0, w.data(), 512);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("marked corrupt"), std::string::npos) << s.message();
}

TEST(Corrupt, SelfReferencingBackingFile) {
  TempDir t;
  ASSERT_TRUE(test::CreateEmpty("qcow2", t / "self.qcow2", 1 << 20));
  {
    auto d = test::OpenOrDie(t / "self.qcow2", true);
    ASSERT_TRUE(dynamic_cast<ImageOps*>(d.get())->SetBackingName("self.qcow2", "qcow2").ok());
  }
  auto r = OpenImage(t / "self.qcow2", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("loop"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("self.qcow2"), std::string::npos);
  auto e = test::Run(test::EmuImg() + " info " + (t / "self.qcow2"));
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.out.find("loop"), std::string::npos) << e.out;
}

TEST(Corrupt, EmuImgNamesTheFileAndProblem) {
  TempDir t;
  std::vector<uint8_t> img = BaseImage();
  PutBe32(&img[56], 0xffffffff);
  {
    auto f = OpenHostFile(t / "bad.qcow2", {.create = true});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f.value->PWrite(0, img.data(), img.size()).ok());
  }
  auto r = test::Run(test::EmuImg() + " info " + (t / "bad.qcow2"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("bad.qcow2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refcount_table_clusters"), std::string::npos) << r.out;
  r = test::Run(test::EmuImg() + " check " + (t / "bad.qcow2"));
  EXPECT_EQ(r.code, 1);
}

}  // namespace
}  // namespace emu::block
