#include "target-x86/disas.h"

#include <cstdio>

#ifdef EMU_HAVE_CAPSTONE
#include <capstone/capstone.h>
#endif

namespace emu::x86 {

namespace {

// "0x<16 hex digits>:  <bytes padded to 10 bytes>  <text>\n"
void AppendLine(std::string* out, uint64_t addr, const uint8_t* bytes, size_t n,
                const char* mnemonic, const char* ops) {
  char head[32];
  std::snprintf(head, sizeof(head), "0x%016llx:  ", static_cast<unsigned long long>(addr));
  *out += head;
  std::string hex;
  char b[4];
  for (size_t i = 0; i < n; i++) {
    std::snprintf(b, sizeof(b), i ? " %02x" : "%02x", bytes[i]);
    hex += b;
  }
  if (hex.size() < 30) hex.resize(30, ' ');
  *out += hex;
  *out += "  ";
  *out += mnemonic;
  if (ops && *ops) {
    *out += ' ';
    *out += ops;
  }
  *out += '\n';
}

#ifdef EMU_HAVE_CAPSTONE
// One capstone handle per mode and thread: opening one costs more than a short listing.
class Handle {
 public:
  explicit Handle(CpuMode mode) {
    cs_mode m = mode == CpuMode::k64 ? CS_MODE_64 : mode == CpuMode::k32 ? CS_MODE_32 : CS_MODE_16;
    ok_ = cs_open(CS_ARCH_X86, m, &h_) == CS_ERR_OK;
  }
  ~Handle() {
    if (ok_) cs_close(&h_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  bool ok() const { return ok_; }
  csh get() const { return h_; }

 private:
  csh h_ = 0;
  bool ok_ = false;
};

Handle& HandleFor(CpuMode mode) {
  thread_local Handle h16(CpuMode::k16), h32(CpuMode::k32), h64(CpuMode::k64);
  return mode == CpuMode::k64 ? h64 : mode == CpuMode::k32 ? h32 : h16;
}
#endif

}  // namespace

bool DisassemblerAvailable() {
#ifdef EMU_HAVE_CAPSTONE
  return true;
#else
  return false;
#endif
}

std::string Disassemble(const uint8_t* bytes, size_t size, uint64_t addr, CpuMode mode,
                        size_t max_insns) {
  std::string out;
#ifdef EMU_HAVE_CAPSTONE
  Handle& h = HandleFor(mode);
  if (!h.ok()) return "unimplemented: capstone failed to open an x86 disassembler\n";
  cs_insn* insn = cs_malloc(h.get());
  if (!insn) return "unimplemented: capstone failed to allocate an instruction\n";
  const uint8_t* p = bytes;
  size_t left = size;
  uint64_t pc = addr;
  size_t count = 0;
  while (left > 0 && (max_insns == 0 || count < max_insns)) {
    const uint8_t* start = p;
    uint64_t start_pc = pc;
    if (cs_disasm_iter(h.get(), &p, &left, &pc, insn)) {
      AppendLine(&out, start_pc, start, insn->size, insn->mnemonic, insn->op_str);
    } else {
      AppendLine(&out, start_pc, start, 1, "(bad)", "");
      p = start + 1;
      left--;
      pc = start_pc + 1;
    }
    count++;
  }
  cs_free(insn, 1);
#else
  (void)bytes; (void)size; (void)addr; (void)mode; (void)max_insns;
  out = "unimplemented: disassembly needs capstone (emu was built without it)\n";
#endif
  return out;
}

}  // namespace emu::x86
