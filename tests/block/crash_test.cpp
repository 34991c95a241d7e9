// Crash consistency: a child process writes randomly through our qcow2 driver
// and reports each completed flush through a pipe; we SIGKILL it at a random
// moment. Afterwards `qemu-img check` must report a clean or leaks-only image
// and every byte written before the last completed flush must be intact.
// EMU_CRASH_TRIALS sets the number of trials (bench/block/crash runs 100).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "tests/block/block_test_util.h"

namespace emu::block {
namespace {

using test::TempDir;

constexpr uint64_t kSize = 16 << 20;
constexpr int kWritesPerFlush = 6;

struct W {
  uint64_t off, len;
  uint8_t val;
  bool discard;
};

// The writer's deterministic sequence, reproduced by the checker.
W NextWrite(std::mt19937_64& rng, uint64_t i) {
  W w;
  w.len = 1 + rng() % 150000;
  w.off = rng() % (kSize - w.len);
  w.val = uint8_t(i % 251 + 1);
  w.discard = rng() % 16 == 0;
  return w;
}

[[noreturn]] void Writer(const std::string& path, uint64_t seed, int fd) {
  OpenOptions o;
  auto d = OpenImage(path, o);
  if (!d.ok()) _exit(10);
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> buf;
  for (uint64_t i = 0;; i++) {
    W w = NextWrite(rng, i);
    Status s;
    if (w.discard) {
      s = d.value->Discard(w.off, w.len);
    } else {
      buf.assign(w.len, w.val);
      s = d.value->Write(w.off, buf.data(), w.len);
    }
    if (!s.ok()) _exit(11);
    if ((i + 1) % kWritesPerFlush == 0) {
      if (!d.value->Flush().ok()) _exit(12);
      uint64_t done = i + 1;  // writes [0, done) are durable
      if (write(fd, &done, sizeof done) != sizeof done) _exit(13);
    }
  }
}

void OneTrial(const std::string& dir, uint64_t seed, const std::string& opts) {
  std::string path = dir + "/crash-" + std::to_string(seed) + ".qcow2";
  CreateOptions c;
  c.size = kSize;
  size_t pos = 0;
  while (pos < opts.size()) {
    size_t comma = opts.find(',', pos), eq = opts.find('=', pos);
    c.opts[opts.substr(pos, eq - pos)] = opts.substr(eq + 1, comma == std::string::npos ? std::string::npos : comma - eq - 1);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // "snapshot": fill the disk and take an internal snapshot first, so that the
  // writer copies shared clusters (and L2 tables) and drops references.
  bool with_snapshot = c.opts.erase("snapshot") > 0;
  ASSERT_TRUE(CreateImage("qcow2", path, c).ok());
  test::Model m(kSize);
  if (with_snapshot) {
    auto d = test::OpenOrDie(path, true);
    ASSERT_TRUE(d);
    std::vector<uint8_t> fill(kSize, 0x5a);
    ASSERT_TRUE(d->Write(0, fill.data(), fill.size()).ok());
    ASSERT_TRUE(dynamic_cast<ImageOps*>(d.get())->CreateSnapshot("before").ok());
    m.Fill(0, kSize, 0x5a);
  }
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(p[0]);
    Writer(path, seed, p[1]);
  }
  close(p[1]);
  std::mt19937_64 delay(seed * 7 + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30 + delay() % 250));
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st)) << "writer exited early with status " << WEXITSTATUS(st);
  uint64_t durable = 0, v;
  while (read(p[0], &v, sizeof v) == sizeof v) durable = v;
  close(p[0]);
  // Replay: the model after `durable` writes, and which bytes later writes may
  // have touched (those may hold old or new data).
  std::vector<bool> maybe(kSize, false);
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < durable + 4 * kWritesPerFlush + 64; i++) {
    W w = NextWrite(rng, i);
    if (i < durable && !w.discard) {
      m.Fill(w.off, w.len, w.val);
      std::fill(maybe.begin() + w.off, maybe.begin() + w.off + w.len, false);
    } else {
      // Discard may zero whole clusters or keep the data; later writes may
      // or may not have reached the file.
      std::fill(maybe.begin() + w.off, maybe.begin() + w.off + w.len, true);
    }
  }
  // The writer may have got further than we replayed: bound it by a flush
  // interval we could not observe, so replay generously above (64 writes).
  auto r = test::Run("qemu-img check " + path);
  EXPECT_TRUE(r.code == 0 || r.code == 3) << "seed " << seed << ", " << durable << " durable writes:\n" << r.out;
  auto d = test::OpenOrDie(path);
  ASSERT_TRUE(d);
  std::vector<uint8_t> buf(kSize);
  ASSERT_TRUE(d->Read(0, buf.data(), kSize).ok());
  uint64_t bad = 0, first = 0;
  for (uint64_t i = 0; i < kSize; i++)
    if (!maybe[i] && buf[i] != m.data[i] && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << "seed " << seed << ": " << bad << " flushed bytes lost, first at " << first
                     << " (" << durable << " durable writes)";
  d.reset();
  if (with_snapshot) {
    // The snapshot taken before the writer started is intact.
    auto w = test::OpenOrDie(path, true);
    ASSERT_TRUE(w);
    ASSERT_TRUE(dynamic_cast<ImageOps*>(w.get())->ApplySnapshot("before").ok());
    ASSERT_TRUE(w->Read(0, buf.data(), kSize).ok());
    EXPECT_EQ(std::count(buf.begin(), buf.end(), 0x5a), int64_t(kSize)) << "seed " << seed;
    w.reset();
    r = test::Run("qemu-img check " + path);
    EXPECT_TRUE(r.code == 0 || r.code == 3) << r.out;
  }
  unlink(path.c_str());
}

TEST(Crash, KilledWriterLeavesConsistentImage) {
  REQUIRE_QEMU();
  TempDir t;
  const char* env = getenv("EMU_CRASH_TRIALS");
  const char* variants[] = {"cluster_size=65536", "cluster_size=4096", "cluster_size=512",
                            "lazy_refcounts=on,cluster_size=4096", "extended_l2=on,cluster_size=32768",
                            "snapshot=1,cluster_size=4096"};
  const int nv = sizeof variants / sizeof variants[0];
  int trials = env ? atoi(env) : nv;
  for (int i = 0; i < trials; i++) {
    SCOPED_TRACE(variants[i % nv]);
    OneTrial(t.path, 1000 + i, variants[i % nv]);
  }
}

}  // namespace
}  // namespace emu::block
