// The native backend's code buffer (executable memory starting with the code
// blocks share, emit_stubs.cpp), CompileNative and NativeSetLink.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "accel/tcg/backend/x86_64/emitter.h"

namespace emu::accel::tcg {

bool NativeSupported() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

CodeBuffer::CodeBuffer(size_t bytes) {
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (m == MAP_FAILED) return;
  base_ = static_cast<uint8_t*>(m);
  size_ = bytes;
  reserve_ = std::min(kReserve, bytes / 4);
  EmitStubs();
}

CodeBuffer::~CodeBuffer() {
  if (base_) munmap(base_, size_);
}

void CodeBuffer::EmitStubs() {
  stub_bytes_ = 4096;
  native::EmitStubs(base_, stub_bytes_, &stubs_);
  used_ = stub_bytes_;
}

void CodeBuffer::Reset() { used_ = stub_bytes_; }

void NativeSetLink(const InterpProgram& from, int slot, const void* target) {
  uint8_t* const site = from.patch_site[slot];
  if (!site) return;
  const auto* dest = static_cast<const uint8_t*>(target ? target : from.patch_home[slot]);
  const int32_t rel = static_cast<int32_t>(dest - (site + 4));  // one buffer: within +-2 GiB
  std::memcpy(site, &rel, 4);
}

bool CompileNative(InterpProgram* p, CodeBuffer* buf, uint32_t frame_offset) {
  p->native = nullptr;
  p->patch_site[0] = p->patch_site[1] = nullptr;
  if (!buf->ok() || buf->room() < 4096) return false;
  try {
    native::Emitter e(buf, p, frame_offset);
    e.Run();
    e.ready(Xbyak::CodeArray::PROTECT_RWE);
    p->native = buf->cur();
    p->native_bytes = static_cast<uint32_t>(e.getSize());
    buf->Advance(e.getSize());
  } catch (const Xbyak::Error&) {
    return false;  // out of room (or a kind it cannot emit): the interpreter runs it
  }
  return true;
}

}  // namespace emu::accel::tcg
