// The capstone wrapper: line format, modes, undecodable bytes, instruction limit.
#include <gtest/gtest.h>

#include <string>

#include "target-x86/disas.h"

namespace emu::x86 {
namespace {

size_t Lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Disas, SixtyFourBit) {
  if (!DisassemblerAvailable()) GTEST_SKIP() << "built without capstone";
  const uint8_t code[] = {0x48, 0x89, 0xe5, 0xc3};
  std::string s = Disassemble(code, sizeof(code), 0x1000, CpuMode::k64);
  EXPECT_EQ(Lines(s), 2u) << s;
  EXPECT_EQ(s.rfind("0x0000000000001000:  48 89 e5", 0), 0u) << s;
  EXPECT_NE(s.find("mov rbp, rsp\n"), std::string::npos) << s;
  EXPECT_NE(s.find("0x0000000000001003:  c3"), std::string::npos) << s;
  EXPECT_NE(s.find("ret\n"), std::string::npos) << s;
}

TEST(Disas, ModesDiffer) {
  if (!DisassemblerAvailable()) GTEST_SKIP() << "built without capstone";
  const uint8_t reset[] = {0xea, 0x5b, 0xe0, 0x00, 0xf0};
  std::string s = Disassemble(reset, sizeof(reset), 0xffff0, CpuMode::k16);
  EXPECT_EQ(Lines(s), 1u) << s;
  EXPECT_NE(s.find("0xf000"), std::string::npos) << s;
  EXPECT_NE(s.find("0xe05b"), std::string::npos) << s;
  const uint8_t b8[] = {0xb8, 0x01, 0x00, 0x00, 0x00};
  EXPECT_NE(Disassemble(b8, 5, 0, CpuMode::k32).find("mov eax, 1"), std::string::npos);
  // The same bytes are mov ax, 1 and add [bx+si], al in 16-bit mode.
  EXPECT_EQ(Lines(Disassemble(b8, 5, 0, CpuMode::k16)), 2u);
}

TEST(Disas, BadBytesAndLimit) {
  if (!DisassemblerAvailable()) GTEST_SKIP() << "built without capstone";
  const uint8_t code[] = {0x06, 0x90, 0x90, 0x90};  // push es is invalid in 64-bit mode
  std::string s = Disassemble(code, sizeof(code), 0, CpuMode::k64);
  EXPECT_EQ(Lines(s), 4u) << s;
  EXPECT_NE(s.find("(bad)"), std::string::npos) << s;
  EXPECT_EQ(Lines(Disassemble(code, sizeof(code), 0, CpuMode::k64, 2)), 2u);
  const uint8_t partial[] = {0xb8, 0x01};  // truncated: every byte still shown
  EXPECT_EQ(Lines(Disassemble(partial, 2, 0, CpuMode::k32)), 2u);
}

}  // namespace
}  // namespace emu::x86
