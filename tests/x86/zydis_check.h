// Cross-checks emu's x86 decoder against Zydis over a byte stream: same length for every
// instruction Zydis decodes, and #UD exactly where Zydis reports an invalid encoding.
// Used by decoder_zydis_test.cpp (bounded corpus) and bench/x86-decode (all of /usr/bin).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "target-x86/decode/decoded_inst.h"

namespace emu::x86::test {

struct CrossCheckStats {
  uint64_t positions = 0;       // decode attempts (instruction starts)
  uint64_t compared = 0;        // Zydis-valid legacy-encoded instructions compared
  uint64_t invalid_agreed = 0;  // Zydis invalid and we report #UD/#GP
  uint64_t excluded = 0;        // Zydis-valid VEX/EVEX/XOP/3DNow!/MVEX (we must report #UD)
  uint64_t operand_checked = 0; // instructions whose memory/immediate operands were compared
  uint64_t mismatches = 0;
  std::vector<std::string> examples;  // first few mismatches, for the failure message

  void Add(const CrossCheckStats& o);
};

// Decodes `data` instruction by instruction with both decoders in `mode`, resyncing on
// Zydis's length (or by one byte where Zydis finds no valid instruction).
void CrossCheck(const uint8_t* data, size_t size, CpuMode mode, CrossCheckStats* stats,
                size_t max_examples = 20);

// The executable-code bytes (.text) of an ELF64 file; empty if it is not one.
std::vector<uint8_t> ReadElfText(const std::string& path);

}  // namespace emu::x86::test
