// Hosts other than x86-64: no native code; every block runs in the interpreter.
#include "accel/tcg/backend/x86_64/native.h"

namespace emu::accel::tcg {

bool NativeSupported() { return false; }
CodeBuffer::CodeBuffer(size_t) {}
CodeBuffer::~CodeBuffer() = default;
void CodeBuffer::Reset() {}
void CodeBuffer::EmitStubs() {}
void NativeSetLink(const InterpProgram&, int, const void*) {}
bool CompileNative(InterpProgram* p, CodeBuffer*, uint32_t) {
  p->native = nullptr;
  return false;
}
int RunNative(ExecContext* ctx, const InterpProgram& p, const CodeBuffer&) { return RunInterp(ctx, p); }

}  // namespace emu::accel::tcg
