// File backends: memory file, host file sparseness, OFD locks, cache modes, aio.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "block/aio.h"
#include "block/file.h"
#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::TempDir;

TEST(MemFile, ReadPastEndIsZeroAndWritesGrow) {
  auto f = NewMemFile({1, 2, 3}, "mem");
  uint8_t b[6];
  ASSERT_TRUE(f->PRead(1, b, 6).ok());
  EXPECT_EQ(b[0], 2);
  EXPECT_EQ(b[1], 3);
  EXPECT_EQ(b[2], 0);
  uint8_t w[2] = {9, 9};
  ASSERT_TRUE(f->PWrite(10, w, 2).ok());
  EXPECT_EQ(f->Size(), 12u);
  auto ro = NewMemFile({}, "ro", true);
  EXPECT_FALSE(ro->PWrite(0, w, 1).ok());
}

TEST(HostFile, MissingFileNamesIt) {
  auto r = OpenHostFile("/nonexistent/disk.img", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("/nonexistent/disk.img"), std::string::npos);
  EXPECT_NE(r.status.message().find("No such file"), std::string::npos);
}

TEST(HostFile, SparseAllocationMap) {
  TempDir t;
  std::string p = t / "sparse.raw";
  int fd = open(p.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 8 << 20), 0);
  std::vector<uint8_t> d(1 << 20, 0xab);
  ASSERT_EQ(pwrite(fd, d.data(), d.size(), 4 << 20), ssize_t(d.size()));
  close(fd);
  auto f = OpenHostFile(p, {});
  ASSERT_TRUE(f.ok());
  bool data;
  uint64_t n;
  ASSERT_TRUE(f.value->Allocation(0, 8 << 20, &data, &n).ok());
  EXPECT_FALSE(data);
  EXPECT_EQ(n, uint64_t(4) << 20);
  ASSERT_TRUE(f.value->Allocation(4 << 20, 4 << 20, &data, &n).ok());
  EXPECT_TRUE(data);
  EXPECT_EQ(n, uint64_t(1) << 20);
}

TEST(HostFile, SecondWriterIsRefusedByOfdLock) {
  TempDir t;
  std::string p = t / "locked.raw";
  ASSERT_EQ(truncate((p).c_str(), 0), -1);  // does not exist yet
  close(open(p.c_str(), O_CREAT | O_RDWR, 0644));
  auto a = OpenHostFile(p, {});
  ASSERT_TRUE(a.ok());
  auto b = OpenHostFile(p, {});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status.message().find("Failed to get \"write\" lock"), std::string::npos);
  EXPECT_NE(b.status.message().find(p), std::string::npos);
  FileOpenOptions ro;
  ro.read_only = true;
  auto c = OpenHostFile(p, ro);
  EXPECT_FALSE(c.ok());  // a reader doesn't share with a writer (as qemu-img)
  ro.force_share = true;
  EXPECT_TRUE(OpenHostFile(p, ro).ok());
  a.value.reset();
  EXPECT_TRUE(OpenHostFile(p, {}).ok());
}

TEST(HostFile, LockConflictsWithQemu) {
  REQUIRE_QEMU();
  TempDir t;
  std::string p = t / "q.raw";
  ASSERT_EQ(test::Run("qemu-img create -q -f raw " + p + " 1M").code, 0);
  auto a = OpenHostFile(p, {});
  ASSERT_TRUE(a.ok());
  auto r = test::Run("qemu-io -f raw -c 'write 0 512' " + p);
  EXPECT_NE(r.out.find("lock"), std::string::npos) << r.out;
}

TEST(HostFile, CacheModesRoundTrip) {
  TempDir t;
  for (CacheMode m : {CacheMode::kWriteback, CacheMode::kWritethrough, CacheMode::kNone,
                      CacheMode::kUnsafe}) {
    std::string p = t / "c.raw";
    FileOpenOptions o;
    o.create = true;
    o.cache = m;
    o.lock = false;
    auto f = OpenHostFile(p, o);
    if (!f.ok() && m == CacheMode::kNone) {
      GTEST_LOG_(INFO) << "O_DIRECT unsupported here: " << f.status.message();
      continue;
    }
    ASSERT_TRUE(f.ok()) << f.status.message();
    std::vector<uint8_t> w(5000);
    for (size_t i = 0; i < w.size(); i++) w[i] = uint8_t(i * 7);
    ASSERT_TRUE(f.value->PWrite(1000, w.data(), w.size()).ok());  // unaligned: bounce path
    ASSERT_TRUE(f.value->Flush().ok());
    EXPECT_EQ(f.value->Size(), 6000u);
    std::vector<uint8_t> r(w.size());
    ASSERT_TRUE(f.value->PRead(1000, r.data(), r.size()).ok());
    EXPECT_EQ(r, w);
  }
}

TEST(WorkerPool, CompletesRequestsWithCallbacks) {
  auto img = OpenImageFile(NewMemFile(std::vector<uint8_t>(1 << 20), "mem"), {});
  ASSERT_TRUE(img.ok());
  WorkerPool pool(2);
  AioBlock aio(img.value.get(), &pool);
  std::atomic<int> done{0}, failed{0};
  std::vector<std::vector<uint8_t>> bufs(16, std::vector<uint8_t>(4096));
  for (int i = 0; i < 16; i++) {
    std::fill(bufs[i].begin(), bufs[i].end(), uint8_t(i + 1));
    aio.Write(uint64_t(i) * 4096, bufs[i].data(), 4096, [&](Status s) { s.ok() ? done++ : failed++; });
  }
  aio.WriteZeroes(4096, 4096, [&](Status s) { s.ok() ? done++ : failed++; });
  aio.Flush([&](Status s) { s.ok() ? done++ : failed++; });
  aio.Read(1 << 20, bufs[0].data(), 4096, [&](Status s) { s.ok() ? done++ : failed++; });  // past end
  pool.Drain();
  EXPECT_EQ(done, 18);
  EXPECT_EQ(failed, 1);
  uint8_t b;
  ASSERT_TRUE(img.value->Read(5 * 4096 + 7, &b, 1).ok());
  EXPECT_EQ(b, 6);
}

}  // namespace
}  // namespace emu::block
