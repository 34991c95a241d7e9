// libFuzzer target: format probing and opening of any format (raw, qcow2,
// vdi, vmdk) from an in-memory file, then a read of the first sectors.
#include <cstdint>
#include <vector>

#include "block/file.h"
#include "block/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emu::block;
  OpenOptions o;
  o.lock = false;
  o.open_backing = false;
  o.read_only = true;
  auto r = OpenImageFile(NewMemFile(std::vector<uint8_t>(data, data + size), "/nonexistent/fuzz.img", true), o);
  if (!r.ok()) return 0;
  std::vector<uint8_t> buf(8192);
  uint64_t n = std::min<uint64_t>(buf.size(), r.value->Size());
  (void)r.value->Read(0, buf.data(), n);
  return 0;
}
