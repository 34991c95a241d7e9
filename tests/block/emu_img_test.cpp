// emu-img as a user sees it: exit codes and one clear message per error.
#include <sys/mount.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::TempDir;

test::Cmd Img(const std::string& args) { return test::Run(test::EmuImg() + " " + args); }

#define EXPECT_FAILS_WITH(cmd_, want_code_, text_)                                \
  do {                                                                             \
    auto r_ = (cmd_);                                                              \
    EXPECT_EQ(r_.code, want_code_) << r_.out;                                      \
    EXPECT_NE(r_.out.find(text_), std::string::npos) << "missing '" << text_ << "' in: " << r_.out; \
  } while (0)

TEST(EmuImg, UserErrorsNameTheProblem) {
  TempDir t;
  ASSERT_EQ(Img("create -q -f raw " + (t / "a.raw") + " 1M").code, 0);
  EXPECT_FAILS_WITH(Img("info " + (t / "missing.qcow2")), 1, "missing.qcow2': No such file or directory");
  EXPECT_FAILS_WITH(Img("info -f qcow2 " + (t / "a.raw")), 1, "is not in qcow2 format");
  EXPECT_FAILS_WITH(Img("info -f floppy " + (t / "a.raw")), 1, "Unknown driver 'floppy'");
  EXPECT_FAILS_WITH(Img("create -f floppy " + (t / "b") + " 1M"), 1, "Unknown file format 'floppy'");
  EXPECT_FAILS_WITH(Img("convert -O floppy " + (t / "a.raw") + " " + (t / "b")), 1, "Unknown file format 'floppy'");
  EXPECT_FAILS_WITH(Img("create -f qcow2 -o colour=red " + (t / "b") + " 1M"), 1, "Invalid parameter 'colour'");
  EXPECT_FAILS_WITH(Img("create -f qcow2 -o cluster_size=512 " + (t / "b") + " 100T"), 1, "too large");
  EXPECT_FAILS_WITH(Img("create -f qcow2 -o cluster_size=3000 " + (t / "b") + " 1M"), 1, "Cluster size");
  EXPECT_FAILS_WITH(Img("create -f qcow2 " + (t / "b") + " 12Q"), 1, "Invalid image size");
  EXPECT_FAILS_WITH(Img("create -f qcow2 -o compat=0.10,lazy_refcounts=on " + (t / "b") + " 1M"), 1, "Lazy refcounts");
  EXPECT_FAILS_WITH(Img("create -f qcow2 -b " + (t / "nobase") + " " + (t / "b") + " 1M"), 1, "nobase");
  EXPECT_FAILS_WITH(Img("convert -z " + (t / "a.raw") + " " + (t / "b")), 1, "invalid option -- 'z'");
  EXPECT_FAILS_WITH(Img("info --frobnicate " + (t / "a.raw")), 1, "unrecognized option '--frobnicate'");
  EXPECT_FAILS_WITH(Img("frob"), 1, "Command not found: frob");
  EXPECT_FAILS_WITH(Img("resize " + (t / "a.raw") + " 512k"), 1, "--shrink");
  EXPECT_FAILS_WITH(Img("snapshot -c x " + (t / "a.raw")), 1, "does not support snapshots");
  EXPECT_FAILS_WITH(Img("convert -c -O raw " + (t / "a.raw") + " " + (t / "c.raw")), 1, "Compression not supported");
}

TEST(EmuImg, SecondWriterIsRefused) {
  TempDir t;
  ASSERT_EQ(Img("create -q -f qcow2 " + (t / "a.qcow2") + " 1M").code, 0);
  OpenOptions o;
  auto d = OpenImage(t / "a.qcow2", o);
  ASSERT_TRUE(d.ok());
  EXPECT_FAILS_WITH(Img("resize " + (t / "a.qcow2") + " 2M"), 1, "Failed to get \"write\" lock");
  EXPECT_FAILS_WITH(Img("info " + (t / "a.qcow2")), 1, "a.qcow2");
  EXPECT_EQ(Img("info -U " + (t / "a.qcow2")).code, 0);
}

TEST(EmuImg, ReadOnlyDestinationAndDiskFull) {
  TempDir t;
  ASSERT_EQ(Img("create -q -f raw " + (t / "src.raw") + " 4M").code, 0);
  ASSERT_EQ(test::Run("dd if=/dev/urandom of=" + (t / "src.raw") + " bs=1M count=4 conv=notrunc").code, 0);
  std::string ro = t / "ro", small = t / "small";
  mkdir(ro.c_str(), 0755);
  mkdir(small.c_str(), 0755);
  if (mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "size=1m") != 0 ||
      mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
    umount(ro.c_str());
    GTEST_SKIP() << "cannot mount tmpfs here (needs CAP_SYS_ADMIN): read-only/disk-full cases not run";
  }
  EXPECT_FAILS_WITH(Img("convert -O qcow2 " + (t / "src.raw") + " " + ro + "/out.qcow2"), 1, "Read-only file system");
  EXPECT_FAILS_WITH(Img("convert -O raw " + (t / "src.raw") + " " + small + "/out.raw"), 1, "No space left on device");
  EXPECT_FAILS_WITH(Img("convert -O qcow2 " + (t / "src.raw") + " " + small + "/out.qcow2"), 1, "No space left on device");
  umount(ro.c_str());
  umount(small.c_str());
}

TEST(EmuImg, CheckExitCodes) {
  TempDir t;
  std::string img = t / "c.qcow2";
  ASSERT_EQ(Img("create -q -f qcow2 " + img + " 1M").code, 0);
  auto r = Img("check " + img);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("No errors were found on the image."), std::string::npos);
  r = Img("check --output=json " + img);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["check-errors"], 0);
  EXPECT_EQ(j["format"], "qcow2");
  EXPECT_EQ(Img("create -q -f raw " + (t / "r.raw") + " 1M").code, 0);
  EXPECT_FAILS_WITH(Img("check " + (t / "r.raw")), 63, "does not support checks");
  // A leak: raise the refcount of cluster 0 (header) from 1 to 2 by hand.
  {
    auto f = OpenHostFile(img, {});
    ASSERT_TRUE(f.ok());
    uint8_t two[2] = {0, 2};
    ASSERT_TRUE(f.value->PWrite(2 * 65536, two, 2).ok());
  }
  r = Img("check " + img);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("leaked clusters were found"), std::string::npos) << r.out;
  if (test::QemuAvailable()) {
    EXPECT_EQ(test::Run("qemu-img check " + img).code, 3);
  }
  r = Img("check -r leaks " + img);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Img("check " + img).code, 0);
  // A corruption: refcount of the L1 table cluster dropped to 0.
  {
    auto f = OpenHostFile(img, {});
    ASSERT_TRUE(f.ok());
    uint8_t zero[2] = {0, 0};
    ASSERT_TRUE(f.value->PWrite(2 * 65536 + 3 * 2, zero, 2).ok());
  }
  r = Img("check " + img);
  EXPECT_EQ(r.code, 2) << r.out;
  r = Img("check -r all " + img);
  EXPECT_EQ(r.code, 0) << r.out;
  if (test::QemuAvailable()) {
    EXPECT_EQ(test::Run("qemu-img check " + img).code, 0);
  }
  EXPECT_FAILS_WITH(Img("check -r sometimes " + img), 1, "sometimes");
}

TEST(EmuImg, CompareExitCodes) {
  TempDir t;
  ASSERT_EQ(Img("create -q -f raw " + (t / "a.raw") + " 1M").code, 0);
  ASSERT_EQ(Img("create -q -f qcow2 " + (t / "b.qcow2") + " 1M").code, 0);
  ASSERT_EQ(Img("create -q -f qcow2 " + (t / "c.qcow2") + " 2M").code, 0);
  auto r = Img("compare " + (t / "a.raw") + " " + (t / "b.qcow2"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Images are identical."), std::string::npos);
  EXPECT_EQ(Img("compare " + (t / "a.raw") + " " + (t / "c.qcow2")).code, 0);  // zero tail
  EXPECT_FAILS_WITH(Img("compare -s " + (t / "a.raw") + " " + (t / "c.qcow2")), 1, "size mismatch");
  auto d = OpenImage(t / "b.qcow2", {});
  ASSERT_TRUE(d.ok());
  uint8_t b = 1;
  ASSERT_TRUE(d.value->Write(70000, &b, 1).ok());
  d.value.reset();
  EXPECT_FAILS_WITH(Img("compare " + (t / "a.raw") + " " + (t / "b.qcow2")), 1, "Content mismatch at offset 69632!");
  EXPECT_FAILS_WITH(Img("compare " + (t / "a.raw") + " " + (t / "nope")), 2, "nope");
}

TEST(EmuImg, ConvertProgressSparseAndMeasure) {
  TempDir t;
  ASSERT_EQ(Img("create -q -f raw " + (t / "a.raw") + " 8M").code, 0);
  ASSERT_EQ(test::Run("dd if=/dev/urandom of=" + (t / "a.raw") + " bs=64k count=3 seek=10 conv=notrunc").code, 0);
  auto r = Img("convert -p -O qcow2 " + (t / "a.raw") + " " + (t / "b.qcow2"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("    (100.00/100%)"), std::string::npos) << r.out;
  r = Img("map --output=json " + (t / "b.qcow2"));
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << r.out;
  uint64_t data = 0;
  for (auto& e : j)
    if (e["data"].get<bool>()) data += e["length"].get<uint64_t>();
  EXPECT_EQ(data, 3u * 65536);
  r = Img("measure -O qcow2 " + (t / "a.raw"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("required size:"), std::string::npos);
  r = Img("bench -c 100 -w " + (t / "b.qcow2"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Run completed in"), std::string::npos);
  EXPECT_EQ(Img("check " + (t / "b.qcow2")).code, 0);
  // -S 0: fully allocated output.
  r = Img("convert -S 0 -O qcow2 " + (t / "a.raw") + " " + (t / "full.qcow2"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = Img("map --output=json " + (t / "full.qcow2"));
  j = nlohmann::json::parse(r.out, nullptr, false);
  data = 0;
  for (auto& e : j)
    if (e["data"].get<bool>()) data += e["length"].get<uint64_t>();
  EXPECT_EQ(data, 8u << 20);
  // Concatenating two sources.
  r = Img("convert -O raw " + (t / "a.raw") + " " + (t / "a.raw") + " " + (t / "two.raw"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = Img("info --output=json " + (t / "two.raw"));
  EXPECT_NE(r.out.find("16777216"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace emu::block
