// raw driver, probing, explicit formats, -snapshot overlays, read-only.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "block/qcow2/qcow2.h"
#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::TempDir;

TEST(Raw, CreatePreallocationModes) {
  TempDir t;
  for (const char* mode : {"off", "falloc", "full"}) {
    std::string p = t / (std::string(mode) + ".raw");
    CreateOptions c;
    c.size = 4 << 20;
    c.opts["preallocation"] = mode;
    ASSERT_TRUE(CreateImage("raw", p, c).ok()) << mode;
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 4 << 20);
    if (std::string(mode) == "off") EXPECT_LT(st.st_blocks * 512, 1 << 20);
    else EXPECT_GE(st.st_blocks * 512, 4 << 20) << mode;
  }
  CreateOptions bad;
  bad.size = 1;
  bad.opts["preallocation"] = "sometimes";
  Status s = CreateImage("raw", t / "x.raw", bad);
  EXPECT_NE(s.message().find("sometimes"), std::string::npos);
  bad.opts = {{"colour", "blue"}};
  EXPECT_NE(CreateImage("raw", t / "x.raw", bad).message().find("colour"), std::string::npos);
}

TEST(Raw, ReadWriteAndHoles) {
  TempDir t;
  std::string p = t / "d.raw";
  ASSERT_TRUE(test::CreateEmpty("raw", p, 8 << 20));
  auto d = test::OpenOrDie(p, true);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->format_name(), "raw");
  std::vector<uint8_t> w(65536, 0x5c);
  ASSERT_TRUE(d->Write(1 << 20, w.data(), w.size()).ok());
  EXPECT_FALSE(d->Write((8 << 20) - 10, w.data(), 20).ok());  // past the end
  std::vector<Extent> ext;
  ASSERT_TRUE(d->BlockStatus(0, d->Size(), &ext).ok());
  ASSERT_GE(ext.size(), 3u);
  EXPECT_FALSE(ext[0].data);
  EXPECT_EQ(ext[0].length, 1u << 20);
  EXPECT_TRUE(ext[1].data);
}

TEST(Probe, RawImageCannotNameABackingFile) {
  // A raw disk whose guest wrote a qcow2 header naming /etc/passwd as backing
  // file: opened as raw (explicitly), no backing file is opened or trusted.
  TempDir t;
  std::string q = t / "evil.qcow2";
  CreateOptions c;
  c.size = 1 << 20;
  c.opts["backing_file"] = "/etc/hostname";
  c.opts["backing_fmt"] = "raw";
  ASSERT_TRUE(CreateQcow2(q, c).ok());
  auto d = test::OpenOrDie(q, false, "raw");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->format_name(), "raw");
  auto* ops = dynamic_cast<ImageOps*>(d.get());
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->Backing(), nullptr);
}

TEST(Probe, ProbedRawRefusesToBecomeQcow2) {
  TempDir t;
  std::string p = t / "guest.raw";
  ASSERT_TRUE(test::CreateEmpty("raw", p, 1 << 20));
  std::vector<uint8_t> hdr(512, 0);
  PutBe32(hdr.data(), kQcow2Magic);
  PutBe32(hdr.data() + 4, 3);
  {
    auto d = test::OpenOrDie(p, true);  // probed
    Status s = d->Write(0, hdr.data(), hdr.size());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("probed raw image"), std::string::npos) << s.message();
    std::vector<uint8_t> ok(512, 0x11);
    EXPECT_TRUE(d->Write(0, ok.data(), ok.size()).ok());
  }
  auto d = test::OpenOrDie(p, true, "raw");  // named: the guest owns every byte
  EXPECT_TRUE(d->Write(0, hdr.data(), hdr.size()).ok());
}

TEST(Probe, ExplicitFormatMismatchIsAClearError) {
  TempDir t;
  std::string p = t / "plain.raw";
  ASSERT_TRUE(test::CreateEmpty("raw", p, 1 << 20));
  OpenOptions o;
  o.format = "qcow2";
  auto r = OpenImage(p, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("not in qcow2 format"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find(p), std::string::npos);
  o.format = "floppy";
  r = OpenImage(p, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("floppy"), std::string::npos);
}

int CountOverlays(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d))
    if (std::strncmp(e->d_name, "emu-snapshot-", 13) == 0) n++;
  closedir(d);
  return n;
}

TEST(Overlay, SnapshotOnLeavesBaseUntouched) {
  TempDir t;
  std::string p = t / "base.raw";
  ASSERT_TRUE(test::CreateEmpty("raw", p, 2 << 20));
  // Overlays go to $TMPDIR (else /var/tmp): use our own folder so that other
  // processes' overlays don't disturb the count.
  std::string tmp = t / "tmp";
  mkdir(tmp.c_str(), 0700);
  const char* old_tmpdir = getenv("TMPDIR");
  std::string saved = old_tmpdir ? old_tmpdir : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  int before = CountOverlays(tmp);
  {
    OpenOptions o;
    o.snapshot = true;
    auto r = OpenImage(p, o);
    if (old_tmpdir) setenv("TMPDIR", saved.c_str(), 1);
    else unsetenv("TMPDIR");
    ASSERT_TRUE(r.ok()) << r.status.message();
    EXPECT_FALSE(r.value->read_only());
    std::vector<uint8_t> w(4096, 0x77);
    ASSERT_TRUE(r.value->Write(8192, w.data(), w.size()).ok());
    uint8_t b = 0;
    ASSERT_TRUE(r.value->Read(8192, &b, 1).ok());
    EXPECT_EQ(b, 0x77);
    EXPECT_EQ(CountOverlays(tmp), before);  // already unlinked
  }
  auto d = test::OpenOrDie(p);
  uint8_t b = 1;
  ASSERT_TRUE(d->Read(8192, &b, 1).ok());
  EXPECT_EQ(b, 0);
}

TEST(Overlay, ReadOnlyRefusesWrites) {
  TempDir t;
  std::string p = t / "ro.qcow2";
  ASSERT_TRUE(test::CreateEmpty("qcow2", p, 1 << 20));
  auto d = test::OpenOrDie(p, false);
  ASSERT_TRUE(d->read_only());
  uint8_t b = 1;
  Status s = d->Write(0, &b, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("read-only"), std::string::npos);
}

TEST(Size, ParsesSuffixes) {
  uint64_t v;
  ASSERT_TRUE(ParseSize("64M", &v));
  EXPECT_EQ(v, 64ull << 20);
  ASSERT_TRUE(ParseSize("1.5G", &v));
  EXPECT_EQ(v, 3ull << 29);
  ASSERT_TRUE(ParseSize("512", &v));
  EXPECT_EQ(v, 512u);
  EXPECT_FALSE(ParseSize("12Q", &v));
  EXPECT_FALSE(ParseSize("-1", &v));
  EXPECT_FALSE(ParseSize("99999E", &v));
}

}  // namespace
}  // namespace emu::block

namespace emu::block {
namespace {

TEST(Raw, BlockDevice) {
  TempDir t;
  std::string backing = t / "loop.img";
  ASSERT_EQ(test::Run("truncate -s 4M " + backing).code, 0);
  auto r = test::Run("losetup -f --show " + backing);
  if (r.code != 0 || r.out.rfind("/dev/loop", 0) != 0)
    GTEST_SKIP() << "no loop device here (needs root and /dev/loop-control): " << r.out;
  std::string dev = r.out.substr(0, r.out.find('\n'));
  {
    auto d = test::OpenOrDie(dev, true, "raw");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->Size(), 4u << 20);  // BLKGETSIZE64
    std::vector<uint8_t> w(8192, 0x6b), b(8192);
    EXPECT_TRUE(d->Write(4096, w.data(), w.size()).ok());
    EXPECT_TRUE(d->Flush().ok());
    EXPECT_TRUE(d->Read(4096, b.data(), b.size()).ok());
    EXPECT_EQ(b, w);
    EXPECT_FALSE(d->Write(4 << 20, w.data(), 1).ok());
    auto* ops = dynamic_cast<ImageOps*>(d.get());
    Status s = ops->Resize(8 << 20, false);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("block device"), std::string::npos) << s.message();
  }
  test::Run("losetup -d " + dev);
  std::string img = test::ReadFileText(backing);
  ASSERT_EQ(img.size(), 4u << 20);
  EXPECT_EQ(uint8_t(img[4096]), 0x6b);
}

}  // namespace
}  // namespace emu::block
