#include "tests/block/block_test_util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace emu::block::test {

TempDir::TempDir() {
  char t[] = "/tmp/emu-block-XXXXXX";
  path = mkdtemp(t);
}
TempDir::~TempDir() { (void)!system(("rm -rf '" + path + "'").c_str()); }

Cmd Run(const std::string& cmd) {
  Cmd r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool QemuAvailable() {
  static int have = -1;
  if (have < 0) have = Run("qemu-img --version && qemu-io --version").code == 0;
  return have == 1;
}

std::string EmuImg() {
  const char* root = getenv("EMU_BUILD_ROOT");
  if (root && *root) return std::string(root) + "/tools/emu-img/emu-img";
  // Next to this test binary: <build>/tests/block/block_tests.
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string p(exe, n > 0 ? size_t(n) : 0);
  for (int i = 0; i < 3 && p.rfind('/') != std::string::npos; i++) p.erase(p.rfind('/'));
  return p + "/tools/emu-img/emu-img";
}

::testing::AssertionResult CreateEmpty(const std::string& fmt, const std::string& path, uint64_t size) {
  CreateOptions c;
  c.size = size;
  Status s = CreateImage(fmt, path, c);
  if (!s.ok()) return ::testing::AssertionFailure() << "creating " << fmt << " " << path << ": " << s.message();
  return ::testing::AssertionSuccess();
}

std::unique_ptr<BlockDriver> OpenOrDie(const std::string& path, bool rw, const std::string& fmt) {
  OpenOptions o;
  o.read_only = !rw;
  o.format = fmt;
  auto r = OpenImage(path, o);
  EXPECT_TRUE(r.ok()) << r.status.message();
  return r.ok() ? std::move(r.value) : nullptr;
}

void Model::WriteRaw(const std::string& path) const {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

::testing::AssertionResult MatchesModel(BlockDriver* d, const Model& m) {
  if (!d) return ::testing::AssertionFailure() << "no driver";
  if (d->Size() < m.data.size())
    return ::testing::AssertionFailure() << "size " << d->Size() << " < " << m.data.size();
  const uint64_t chunk = 1 << 20;
  std::vector<uint8_t> buf(chunk);
  for (uint64_t off = 0; off < m.data.size(); off += chunk) {
    uint64_t n = std::min<uint64_t>(chunk, m.data.size() - off);
    Status s = d->Read(off, buf.data(), n);
    if (!s.ok()) return ::testing::AssertionFailure() << "read at " << off << ": " << s.message();
    for (uint64_t i = 0; i < n; i++)
      if (buf[i] != m.data[off + i])
        return ::testing::AssertionFailure() << "byte " << off + i << " is " << int(buf[i])
                                             << ", expected " << int(m.data[off + i]);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult QemuAgrees(const std::string& img, const std::string& fmt, const Model& m,
                                      const std::string& raw) {
  m.WriteRaw(raw);
  const std::string f = fmt.empty() ? "" : "-f " + fmt + " ";
  Cmd check = Run("qemu-img check " + f + img);
  if (check.code != 0) return ::testing::AssertionFailure() << "qemu-img check: " << check.out;
  Cmd cmp = Run("qemu-img compare " + f + "-F raw " + img + " " + raw);
  if (cmp.code != 0) return ::testing::AssertionFailure() << "qemu-img compare: " << cmp.out;
  return ::testing::AssertionSuccess();
}

std::string ReadFileText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace emu::block::test
