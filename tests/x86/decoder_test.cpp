// Hand-written decoder cases for the tricky encodings, per mode.
#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "target-x86/cpu_state.h"
#include "target-x86/decode/decoded_inst.h"
#include "target-x86/decode/format.h"
#include "target-x86/decode/tables.h"

namespace emu::x86 {
namespace {

struct Result {
  DecodeStatus status;
  DecodedInst inst;
};

Result Dec(CpuMode mode, std::initializer_list<int> bytes, size_t avail = 0) {
  std::vector<uint8_t> b;
  for (int x : bytes) b.push_back(static_cast<uint8_t>(x));
  Result r;
  r.status = Decode(b.data(), avail ? avail : b.size(), mode, &r.inst);
  return r;
}

constexpr CpuMode k16 = CpuMode::k16, k32 = CpuMode::k32, k64 = CpuMode::k64;

void ExpectReg(const Operand& op, RegClass cls, unsigned reg, unsigned size) {
  EXPECT_EQ(op.kind, OperandKind::kReg);
  EXPECT_EQ(op.reg_class, cls);
  EXPECT_EQ(op.reg, reg);
  EXPECT_EQ(op.size, size);
}

TEST(Decoder, MovRegReg64) {
  auto r = Dec(k64, {0x48, 0x89, 0xe5});
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.mnemonic, Mnemonic::MOV);
  EXPECT_EQ(r.inst.length, 3);
  EXPECT_EQ(r.inst.operand_size, 8);
  ASSERT_EQ(r.inst.num_operands, 2);
  ExpectReg(r.inst.ops[0], RegClass::kGpr64, RBP, 8);
  ExpectReg(r.inst.ops[1], RegClass::kGpr64, RSP, 8);
  EXPECT_EQ(r.inst.bytes[0], 0x48);
  EXPECT_STREQ(MnemonicName(r.inst.mnemonic), "MOV");
}

TEST(Decoder, RexMustImmediatelyPrecedeOpcode) {
  auto r = Dec(k64, {0x48, 0x66, 0x89, 0xc0});  // REX then 66: REX ignored
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.operand_size, 2);
  EXPECT_EQ(r.inst.rex, 0);
  auto w = Dec(k64, {0x66, 0x48, 0x89, 0xc0});  // REX.W beats 66
  ASSERT_EQ(w.status, DecodeStatus::kOk);
  EXPECT_EQ(w.inst.operand_size, 8);
  EXPECT_TRUE(w.inst.rex_w());
  // In 32-bit mode 0x48 is DEC eax, not a prefix.
  auto d = Dec(k32, {0x48});
  ASSERT_EQ(d.status, DecodeStatus::kOk);
  EXPECT_EQ(d.inst.mnemonic, Mnemonic::DEC);
  EXPECT_EQ(d.inst.length, 1);
}

TEST(Decoder, HighByteRegistersVersusRex) {
  auto r = Dec(k64, {0x88, 0xe0});  // mov al, ah
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  ExpectReg(r.inst.ops[0], RegClass::kGpr8, 0, 1);
  ExpectReg(r.inst.ops[1], RegClass::kGpr8High, 0, 1);
  EXPECT_EQ(r.inst.operand_size, 1);
  auto x = Dec(k64, {0x40, 0x88, 0xe0});  // mov al, spl
  ASSERT_EQ(x.status, DecodeStatus::kOk);
  ExpectReg(x.inst.ops[1], RegClass::kGpr8, 4, 1);
  auto y = Dec(k64, {0x45, 0x88, 0xe0});  // mov r8b, r12b
  ExpectReg(y.inst.ops[0], RegClass::kGpr8, 8, 1);
  ExpectReg(y.inst.ops[1], RegClass::kGpr8, 12, 1);
}

TEST(Decoder, SegmentOverrides) {
  auto r = Dec(k32, {0x2e, 0x3e, 0x64, 0x8b, 0x00});  // last wins: FS
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.length, 5);
  EXPECT_EQ(r.inst.ops[1].kind, OperandKind::kMem);
  EXPECT_EQ(r.inst.ops[1].mem.seg, FS);
  EXPECT_EQ(r.inst.segment_override, FS);
  auto c = Dec(k32, {0x64, 0x2e, 0x8b, 0x00});
  EXPECT_EQ(c.inst.ops[1].mem.seg, CS);
  // 64-bit mode: CS/DS/ES/SS overrides are null prefixes, FS/GS count.
  auto n = Dec(k64, {0x26, 0x8b, 0x04, 0x24});
  ASSERT_EQ(n.status, DecodeStatus::kOk);
  EXPECT_EQ(n.inst.ops[1].mem.seg, SS);  // [rsp] defaults to SS
  auto g = Dec(k64, {0x65, 0x48, 0x8b, 0x00});
  EXPECT_EQ(g.inst.ops[1].mem.seg, GS);
  // String destination is always ES.
  auto s = Dec(k32, {0x2e, 0xa4});
  ASSERT_EQ(s.status, DecodeStatus::kOk);
  EXPECT_EQ(s.inst.mnemonic, Mnemonic::MOVS);
  EXPECT_EQ(s.inst.ops[0].mem.seg, ES);
  EXPECT_EQ(s.inst.ops[0].mem.base, RDI);
  EXPECT_EQ(s.inst.ops[1].mem.seg, CS);
  EXPECT_EQ(s.inst.ops[1].mem.base, RSI);
}

TEST(Decoder, InvalidIn64BitMode) {
  for (int op : {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61,
                 0xce, 0xd6}) {
    EXPECT_EQ(Dec(k64, {op, 0, 0, 0, 0, 0, 0}).status, DecodeStatus::kUndefined) << op;
    EXPECT_EQ(Dec(k32, {op, 0, 0, 0, 0, 0, 0}).status, DecodeStatus::kOk) << op;
  }
  EXPECT_EQ(Dec(k64, {0xd4, 0x0a}).status, DecodeStatus::kUndefined);  // AAM
  EXPECT_EQ(Dec(k64, {0x82, 0xc0, 1}).status, DecodeStatus::kUndefined);
  EXPECT_EQ(Dec(k32, {0x82, 0xc0, 1}).status, DecodeStatus::kOk);
  EXPECT_EQ(Dec(k64, {0xea, 1, 2, 3, 4, 5, 6}).status, DecodeStatus::kUndefined);
}

TEST(Decoder, LockRules) {
  EXPECT_EQ(Dec(k64, {0xf0, 0x01, 0x00}).status, DecodeStatus::kOk);  // lock add [rax], eax
  auto r = Dec(k64, {0xf0, 0x01, 0x00});
  EXPECT_TRUE(r.inst.lock());
  EXPECT_EQ(Dec(k64, {0xf0, 0x01, 0xc0}).status, DecodeStatus::kUndefined);  // register dest
  EXPECT_EQ(Dec(k64, {0xf0, 0x89, 0x00}).status, DecodeStatus::kUndefined);  // MOV
  EXPECT_EQ(Dec(k64, {0xf0, 0x39, 0x00}).status, DecodeStatus::kUndefined);  // CMP
  EXPECT_EQ(Dec(k64, {0xf0, 0x0f, 0xc7, 0x08}).status, DecodeStatus::kOk);   // cmpxchg8b
  EXPECT_EQ(Dec(k32, {0xf0, 0x87, 0x03}).status, DecodeStatus::kOk);         // xchg
  EXPECT_EQ(Dec(k32, {0xf0, 0x90}).status, DecodeStatus::kUndefined);
}

TEST(Decoder, FifteenByteLimitAndNeedMoreBytes) {
  std::vector<uint8_t> b;
  for (int i = 0; i < 14; i++) b.push_back(0x66);
  b.push_back(0x90);
  DecodedInst d;
  EXPECT_EQ(Decode(b.data(), b.size(), k32, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.length, 15);
  b.push_back(0x90);  // 66 x14, 90, 90: still 15 bytes for the first instruction
  EXPECT_EQ(Decode(b.data(), b.size(), k32, &d), DecodeStatus::kOk);
  b[14] = 0x66;  // 15 prefixes, then the opcode: 16 bytes
  EXPECT_EQ(Decode(b.data(), b.size(), k32, &d), DecodeStatus::kGeneralProtection);
  // 14 prefixes + mov eax, imm32 = 19 bytes: #GP even though all bytes are there.
  uint8_t m[18];
  for (int i = 0; i < 13; i++) m[i] = 0x3e;
  const uint8_t tail[] = {0xb8, 1, 2, 3, 4};
  for (int i = 0; i < 5; i++) m[13 + i] = tail[i];
  EXPECT_EQ(Decode(m, sizeof(m), k32, &d), DecodeStatus::kGeneralProtection);
  // Short window: needs more bytes (e.g. the instruction crosses a page).
  EXPECT_EQ(Dec(k32, {0xb8, 1, 2}).status, DecodeStatus::kNeedMoreBytes);
  EXPECT_EQ(Dec(k32, {0x0f}).status, DecodeStatus::kNeedMoreBytes);
  EXPECT_EQ(Dec(k64, {0x48}).status, DecodeStatus::kNeedMoreBytes);
  EXPECT_EQ(Dec(k32, {0x8b, 0x04}).status, DecodeStatus::kNeedMoreBytes);  // SIB missing
  auto full = Dec(k32, {0xb8, 1, 2, 3, 4});
  ASSERT_EQ(full.status, DecodeStatus::kOk);
  EXPECT_EQ(full.inst.ops[1].imm, 0x04030201);
}

TEST(Decoder, MoffsUsesAddressSize) {
  auto r = Dec(k64, {0xa1, 1, 2, 3, 4, 5, 6, 7, 8});
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.length, 9);
  EXPECT_EQ(r.inst.ops[1].mem.disp, 0x0807060504030201);
  EXPECT_EQ(r.inst.ops[1].mem.base, -1);
  auto a = Dec(k64, {0x67, 0xa1, 1, 2, 3, 4});
  EXPECT_EQ(a.inst.length, 6);
  EXPECT_EQ(Dec(k32, {0xa3, 1, 2, 3, 4}).inst.length, 5);
  auto s = Dec(k16, {0xa2, 0x34, 0x12});
  ASSERT_EQ(s.status, DecodeStatus::kOk);
  EXPECT_EQ(s.inst.length, 3);
  EXPECT_EQ(s.inst.ops[0].mem.disp, 0x1234);
  EXPECT_EQ(s.inst.ops[0].size, 1);
}

TEST(Decoder, MovImm64AndImmediateExtension) {
  auto r = Dec(k64, {0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.length, 10);
  EXPECT_EQ(r.inst.ops[1].imm, 0x1122334455667788);
  auto r8 = Dec(k64, {0x41, 0xb8, 1, 0, 0, 0});
  EXPECT_EQ(r8.inst.length, 6);
  ExpectReg(r8.inst.ops[0], RegClass::kGpr32, R8, 4);
  auto add = Dec(k64, {0x48, 0x05, 0xff, 0xff, 0xff, 0xff});  // add rax, -1 (Iz sign-extended)
  EXPECT_EQ(add.inst.ops[1].imm, -1);
  EXPECT_EQ(add.inst.ops[1].size, 8);
  auto ib = Dec(k32, {0x83, 0xc0, 0xff});  // add eax, -1 (Ib sign-extended)
  EXPECT_EQ(ib.inst.ops[1].imm, -1);
  auto zx = Dec(k32, {0x80, 0xc0, 0xff});  // add al, 0xff
  EXPECT_EQ(zx.inst.ops[1].imm, 0xff);
  auto w = Dec(k16, {0xb8, 0x34, 0x12});
  EXPECT_EQ(w.inst.length, 3);
  EXPECT_EQ(w.inst.operand_size, 2);
}

TEST(Decoder, EnterAndFarPointers) {
  auto e = Dec(k32, {0xc8, 0x10, 0x00, 0x01});
  ASSERT_EQ(e.status, DecodeStatus::kOk);
  ASSERT_EQ(e.inst.num_operands, 2);
  EXPECT_EQ(e.inst.ops[0].imm, 0x10);
  EXPECT_EQ(e.inst.ops[1].imm, 1);
  auto j = Dec(k32, {0xea, 0x78, 0x56, 0x34, 0x12, 0x34, 0x12});
  ASSERT_EQ(j.status, DecodeStatus::kOk);
  EXPECT_EQ(j.inst.mnemonic, Mnemonic::JMPF);
  EXPECT_EQ(j.inst.ops[0].kind, OperandKind::kFarPtr);
  EXPECT_EQ(j.inst.ops[0].imm, 0x12345678);
  EXPECT_EQ(j.inst.ops[0].selector, 0x1234);
  auto r = Dec(k16, {0xea, 0x5b, 0xe0, 0x00, 0xf0});  // the BIOS reset jump
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.inst.length, 5);
  EXPECT_EQ(r.inst.ops[0].imm, 0xe05b);
  EXPECT_EQ(r.inst.ops[0].selector, 0xf000);
  auto c = Dec(k16, {0x66, 0x9a, 1, 2, 3, 4, 5, 6});
  EXPECT_EQ(c.inst.length, 8);
}

TEST(Decoder, BranchesAndConditions) {
  auto c = Dec(k64, {0x66, 0xe8, 0, 0, 0, 0});  // 66 ignored: rel32, 64-bit operand size
  ASSERT_EQ(c.status, DecodeStatus::kOk);
  EXPECT_EQ(c.inst.length, 6);
  EXPECT_EQ(c.inst.operand_size, 8);
  auto j = Dec(k64, {0xe9, 0xfb, 0xff, 0xff, 0xff});
  EXPECT_EQ(j.inst.ops[0].kind, OperandKind::kRel);
  EXPECT_EQ(j.inst.ops[0].imm, -5);
  auto jcc = Dec(k32, {0x0f, 0x84, 0x10, 0, 0, 0});
  EXPECT_EQ(jcc.inst.mnemonic, Mnemonic::JCC);
  EXPECT_EQ(jcc.inst.cond, 4);
  auto jne = Dec(k16, {0x75, 0xfe});
  EXPECT_EQ(jne.inst.cond, 5);
  EXPECT_EQ(jne.inst.ops[0].imm, -2);
  auto j16 = Dec(k16, {0xe9, 0x00, 0x80});
  EXPECT_EQ(j16.inst.length, 3);
  EXPECT_EQ(j16.inst.ops[0].imm, -0x8000);
  auto set = Dec(k32, {0x0f, 0x9f, 0xc0});
  EXPECT_EQ(set.inst.mnemonic, Mnemonic::SETCC);
  EXPECT_EQ(set.inst.cond, 15);
  auto cmov = Dec(k64, {0x48, 0x0f, 0x42, 0xc1});
  EXPECT_EQ(cmov.inst.mnemonic, Mnemonic::CMOVCC);
  EXPECT_EQ(cmov.inst.cond, 2);
  auto push = Dec(k64, {0x50});
  EXPECT_EQ(push.inst.operand_size, 8);
  ExpectReg(push.inst.ops[0], RegClass::kGpr64, RAX, 8);
  EXPECT_EQ(Dec(k64, {0x66, 0x50}).inst.operand_size, 2);
  ExpectReg(Dec(k64, {0x41, 0x5f}).inst.ops[0], RegClass::kGpr64, R15, 8);
  EXPECT_EQ(Dec(k64, {0xff, 0xd0}).inst.operand_size, 8);  // call rax
  EXPECT_EQ(Dec(k64, {0xff, 0xf8}).status, DecodeStatus::kUndefined);  // FF /7
}

TEST(Decoder, AddressingForms) {
  auto rip = Dec(k64, {0x48, 0x8b, 0x05, 0x10, 0, 0, 0});
  ASSERT_EQ(rip.status, DecodeStatus::kOk);
  EXPECT_TRUE(rip.inst.ops[1].mem.rip_relative);
  EXPECT_EQ(rip.inst.ops[1].mem.disp, 0x10);
  EXPECT_EQ(rip.inst.ops[1].mem.base, -1);
  auto abs32 = Dec(k32, {0x8b, 0x05, 0x10, 0, 0, 0});
  EXPECT_FALSE(abs32.inst.ops[1].mem.rip_relative);
  auto sib = Dec(k32, {0x8b, 0x04, 0x8d, 0x00, 0x10, 0, 0});
  ASSERT_EQ(sib.status, DecodeStatus::kOk);
  EXPECT_EQ(sib.inst.length, 7);
  EXPECT_EQ(sib.inst.ops[1].mem.base, -1);
  EXPECT_EQ(sib.inst.ops[1].mem.index, RCX);
  EXPECT_EQ(sib.inst.ops[1].mem.scale, 4);
  EXPECT_EQ(sib.inst.ops[1].mem.disp, 0x1000);
  auto r12 = Dec(k64, {0x42, 0x8b, 0x04, 0x20});  // [rax + r12]
  EXPECT_EQ(r12.inst.ops[1].mem.index, R12);
  EXPECT_EQ(r12.inst.ops[1].mem.base, RAX);
  auto rsp = Dec(k64, {0x8b, 0x44, 0x24, 0xf8});  // [rsp - 8]
  EXPECT_EQ(rsp.inst.ops[1].mem.base, RSP);
  EXPECT_EQ(rsp.inst.ops[1].mem.index, -1);
  EXPECT_EQ(rsp.inst.ops[1].mem.disp, -8);
  EXPECT_EQ(rsp.inst.ops[1].mem.seg, SS);
  auto r13 = Dec(k64, {0x41, 0x8b, 0x45, 0x00});  // [r13 + 0]: disp8 needed, DS
  EXPECT_EQ(r13.inst.length, 4);
  EXPECT_EQ(r13.inst.ops[1].mem.base, R13);
  EXPECT_EQ(r13.inst.ops[1].mem.seg, DS);
  auto bp = Dec(k16, {0x8b, 0x42, 0x10});  // mov ax, [bp+si+0x10]
  EXPECT_EQ(bp.inst.ops[1].mem.base, RBP);
  EXPECT_EQ(bp.inst.ops[1].mem.index, RSI);
  EXPECT_EQ(bp.inst.ops[1].mem.seg, SS);
  EXPECT_EQ(bp.inst.ops[1].mem.address_size, 2);
  auto d16 = Dec(k16, {0x8b, 0x06, 0x34, 0x12});
  EXPECT_EQ(d16.inst.length, 4);
  EXPECT_EQ(d16.inst.ops[1].mem.base, -1);
  EXPECT_EQ(d16.inst.ops[1].mem.disp, 0x1234);
  auto a32in16 = Dec(k16, {0x67, 0x66, 0x8b, 0x04, 0x24});  // mov eax, [esp]
  ASSERT_EQ(a32in16.status, DecodeStatus::kOk);
  EXPECT_EQ(a32in16.inst.length, 5);
  EXPECT_EQ(a32in16.inst.address_size, 4);
  EXPECT_EQ(a32in16.inst.operand_size, 4);
  EXPECT_EQ(Dec(k64, {0x67, 0x8b, 0x00}).inst.address_size, 4);
  // SIB base 101 with mod 00 means "no base, disp32" whatever REX.B says, also with 67
  // (Zydis disagrees here; the CPU agrees with us, see Oracle.SibNoBaseWithRexB).
  auto nob = Dec(k64, {0x67, 0x41, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x30});
  ASSERT_EQ(nob.status, DecodeStatus::kOk);
  EXPECT_EQ(nob.inst.length, 9);
  EXPECT_EQ(nob.inst.ops[1].mem.base, -1);
  EXPECT_EQ(nob.inst.ops[1].mem.index, -1);
  EXPECT_EQ(nob.inst.ops[1].mem.disp, 0x30000000);
  EXPECT_EQ(Dec(k32, {0x67, 0x8b, 0x00}).inst.address_size, 2);
}

TEST(Decoder, VexAndLdsLesAmbiguity) {
  EXPECT_EQ(Dec(k64, {0xc5, 0xf8, 0x77}).status, DecodeStatus::kUndefined);  // vzeroupper
  auto les = Dec(k32, {0xc4, 0x00});
  ASSERT_EQ(les.status, DecodeStatus::kOk);
  EXPECT_EQ(les.inst.mnemonic, Mnemonic::LES);
  EXPECT_EQ(les.inst.ops[1].size, 6);
  EXPECT_EQ(Dec(k32, {0xc4, 0xe1, 0x79, 0x6e, 0xc0}).status, DecodeStatus::kUndefined);
  EXPECT_EQ(Dec(k32, {0x62, 0x00}).inst.mnemonic, Mnemonic::BOUND);
  EXPECT_EQ(Dec(k64, {0x62, 0xf1, 0x7c, 0x48, 0x28, 0xc1}).status, DecodeStatus::kUndefined);
  EXPECT_EQ(Dec(k32, {0x0f, 0x0f, 0xc1, 0x9e}).status, DecodeStatus::kUndefined);  // 3DNow!
}

TEST(Decoder, MandatoryPrefixes) {
  EXPECT_EQ(Dec(k64, {0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVUPS);
  EXPECT_EQ(Dec(k64, {0x66, 0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVUPD);
  EXPECT_EQ(Dec(k64, {0xf3, 0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVSS);
  EXPECT_EQ(Dec(k64, {0xf2, 0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVSD);
  EXPECT_EQ(Dec(k64, {0x66, 0xf3, 0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVSS);
  EXPECT_EQ(Dec(k64, {0xf3, 0xf2, 0x0f, 0x10, 0xc1}).inst.mnemonic, Mnemonic::MOVSD);
  auto x = Dec(k64, {0x66, 0x44, 0x0f, 0xef, 0xc1});  // pxor xmm8, xmm1
  ASSERT_EQ(x.status, DecodeStatus::kOk);
  ExpectReg(x.inst.ops[0], RegClass::kXmm, 8, 16);
  auto m = Dec(k64, {0x0f, 0xef, 0xc1});  // pxor mm0, mm1
  ExpectReg(m.inst.ops[0], RegClass::kMmx, 0, 8);
  EXPECT_EQ(Dec(k64, {0xf3, 0x0f, 0xb8, 0xc1}).inst.mnemonic, Mnemonic::POPCNT);
  EXPECT_EQ(Dec(k64, {0x0f, 0xb8, 0xc1}).status, DecodeStatus::kUndefined);  // JMPE
  auto p16 = Dec(k64, {0x66, 0xf3, 0x0f, 0xb8, 0xc1});  // popcnt ax, cx
  EXPECT_EQ(p16.inst.operand_size, 2);
  auto crc = Dec(k64, {0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1});
  EXPECT_EQ(crc.inst.mnemonic, Mnemonic::CRC32);
  ExpectReg(crc.inst.ops[0], RegClass::kGpr64, RAX, 8);
  auto pal = Dec(k64, {0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x04});
  EXPECT_EQ(pal.inst.mnemonic, Mnemonic::PALIGNR);
  EXPECT_EQ(pal.inst.length, 6);
  EXPECT_EQ(Dec(k64, {0xf3, 0x90}).inst.mnemonic, Mnemonic::PAUSE);
  EXPECT_EQ(Dec(k64, {0x90}).inst.mnemonic, Mnemonic::NOP);
  auto xr8 = Dec(k64, {0x41, 0x90});
  EXPECT_EQ(xr8.inst.mnemonic, Mnemonic::XCHG);
  ExpectReg(xr8.inst.ops[0], RegClass::kGpr32, R8, 4);
  auto rep = Dec(k64, {0xf3, 0x48, 0xab});  // rep stosq
  EXPECT_EQ(rep.inst.mnemonic, Mnemonic::STOS);
  EXPECT_TRUE(rep.inst.rep());
  EXPECT_EQ(rep.inst.operand_size, 8);
}

TEST(Decoder, RareForms) {
  auto xb = Dec(k64, {0x66, 0xc7, 0xf8, 0x10, 0x00});  // xbegin rel16: 66 is honoured
  ASSERT_EQ(xb.status, DecodeStatus::kOk);
  EXPECT_EQ(xb.inst.length, 5);
  auto iq = Dec(k64, {0xf2, 0x0f, 0x78, 0xca, 0x04, 0x08});  // insertq xmm1, xmm2, 4, 8
  ASSERT_EQ(iq.status, DecodeStatus::kOk);
  ASSERT_EQ(iq.inst.num_operands, 4);
  EXPECT_EQ(iq.inst.ops[2].imm, 4);
  EXPECT_EQ(iq.inst.ops[3].imm, 8);
  ExpectReg(Dec(k64, {0x48, 0x0f, 0x50, 0xc1}).inst.ops[0], RegClass::kGpr64, RAX, 8);
}

TEST(Decoder, X87) {
  EXPECT_EQ(Dec(k32, {0xd9, 0xe8}).inst.mnemonic, Mnemonic::FLD1);
  auto ld = Dec(k64, {0xdd, 0x04, 0x24});
  ASSERT_EQ(ld.status, DecodeStatus::kOk);
  EXPECT_EQ(ld.inst.mnemonic, Mnemonic::FLD);
  EXPECT_EQ(ld.inst.ops[0].size, 8);
  auto add = Dec(k32, {0xdc, 0xc1});  // fadd st(1), st(0)
  ExpectReg(add.inst.ops[0], RegClass::kSt, 1, 10);
  ExpectReg(add.inst.ops[1], RegClass::kSt, 0, 10);
  EXPECT_EQ(Dec(k32, {0xd9, 0xd1}).status, DecodeStatus::kUndefined);
  EXPECT_EQ(Dec(k32, {0xdf, 0xe0}).inst.mnemonic, Mnemonic::FNSTSW);
  EXPECT_EQ(Dec(k16, {0xd9, 0x36, 0x00, 0x10}).inst.ops[0].size, 14);  // fnstenv 16-bit
  EXPECT_EQ(Dec(k32, {0xd9, 0x30}).inst.ops[0].size, 28);
}

TEST(Decoder, SystemInstructions) {
  auto cr = Dec(k32, {0x0f, 0x20, 0xc0});  // mov eax, cr0
  ASSERT_EQ(cr.status, DecodeStatus::kOk);
  ExpectReg(cr.inst.ops[0], RegClass::kGpr32, RAX, 4);
  ExpectReg(cr.inst.ops[1], RegClass::kCr, 0, 4);
  auto cr3 = Dec(k64, {0x0f, 0x22, 0xd8});  // mov cr3, rax
  ExpectReg(cr3.inst.ops[0], RegClass::kCr, 3, 8);
  ExpectReg(cr3.inst.ops[1], RegClass::kGpr64, RAX, 8);
  auto mod0 = Dec(k32, {0x0f, 0x20, 0x00});  // mod bits ignored: still mov eax, cr0
  ASSERT_EQ(mod0.status, DecodeStatus::kOk);
  EXPECT_EQ(mod0.inst.length, 3);
  EXPECT_EQ(Dec(k32, {0x0f, 0x20, 0xc8}).status, DecodeStatus::kUndefined);  // CR1
  auto seg = Dec(k16, {0x8e, 0xd8});  // mov ds, ax
  ExpectReg(seg.inst.ops[0], RegClass::kSeg, DS, 2);
  EXPECT_EQ(Dec(k16, {0x8e, 0xc8}).status, DecodeStatus::kUndefined);  // mov cs, ax
  EXPECT_EQ(Dec(k16, {0x8e, 0xf0}).status, DecodeStatus::kUndefined);  // Sreg 6
  EXPECT_EQ(Dec(k32, {0x0f, 0x01, 0x10}).inst.mnemonic, Mnemonic::LGDT);
  EXPECT_EQ(Dec(k64, {0x0f, 0x01, 0x10}).inst.ops[0].size, 10);
  EXPECT_EQ(Dec(k64, {0x0f, 0x01, 0xf8}).inst.mnemonic, Mnemonic::SWAPGS);
  EXPECT_EQ(Dec(k32, {0x0f, 0x01, 0xf8}).status, DecodeStatus::kUndefined);
  EXPECT_EQ(Dec(k32, {0x0f, 0x0b}).inst.mnemonic, Mnemonic::UD2);
  EXPECT_EQ(Dec(k64, {0x48, 0x63, 0xc1}).inst.mnemonic, Mnemonic::MOVSXD);
  EXPECT_EQ(Dec(k32, {0x63, 0xc1}).inst.mnemonic, Mnemonic::ARPL);
  auto c16b = Dec(k64, {0x48, 0x0f, 0xc7, 0x0f});
  EXPECT_EQ(c16b.inst.mnemonic, Mnemonic::CMPXCHG16B);
  EXPECT_EQ(c16b.inst.ops[0].size, 16);
  EXPECT_EQ(Dec(k64, {0xf3, 0x0f, 0x1e, 0xfa}).inst.mnemonic, Mnemonic::ENDBR64);
  auto in64 = Dec(k64, {0x48, 0xed});  // REX.W does not widen IN beyond 32 bits
  ASSERT_EQ(in64.status, DecodeStatus::kOk);
  EXPECT_EQ(in64.inst.operand_size, 4);
  ExpectReg(in64.inst.ops[0], RegClass::kGpr32, RAX, 4);
  EXPECT_EQ(Dec(k64, {0x48, 0x6d}).inst.operand_size, 4);  // insd
  auto in = Dec(k32, {0x66, 0xed});  // in ax, dx
  ExpectReg(in.inst.ops[0], RegClass::kGpr16, RAX, 2);
  ExpectReg(in.inst.ops[1], RegClass::kGpr16, RDX, 2);
  EXPECT_EQ(Dec(k32, {0xd7}).inst.ops[0].mem.base, RBX);  // xlat
}

// Whether a ModRM byte follows is decided per opcode before a form is chosen, so all
// forms of one opcode must agree on it; PLUSR forms must start at a multiple of 8.
TEST(Decoder, TablesAreConsistent) {
  for (OpcodeMap map : {OpcodeMap::kPrimary, OpcodeMap::k0F, OpcodeMap::k0F38, OpcodeMap::k0F3A}) {
    const decode::MapTable& t = decode::GetMap(map);
    for (unsigned op = 0; op < 256; op++) {
      const decode::OpcodeEntry& e = t.entries[op];
      for (unsigned i = 0; i < e.count; i++) {
        const decode::Form& f = t.forms[e.forms[i]];
        EXPECT_EQ(decode::FormNeedsModrm(f), e.has_modrm)
            << "map " << int(map) << " opcode " << op << " " << MnemonicName(f.mnemonic);
        if (f.attrs & decode::PLUSR) {
          EXPECT_EQ(f.opcode & 7, 0) << MnemonicName(f.mnemonic);
        }
      }
    }
  }
}

TEST(Decoder, FormatInst) {
  EXPECT_EQ(FormatInst(Dec(k64, {0xf0, 0x01, 0x44, 0x8b, 0x10}).inst),
            "LOCK ADD dword ds:[rbx+rcx*4+0x10], eax ; f0 01 44 8b 10");
  EXPECT_EQ(FormatInst(Dec(k16, {0x75, 0xfe}).inst), "JCC(5) rel -0x2 ; 75 fe");
  EXPECT_EQ(FormatInst(Dec(k16, {0xea, 0x5b, 0xe0, 0x00, 0xf0}).inst),
            "JMPF 0xf000:0xe05b ; ea 5b e0 00 f0");
  EXPECT_EQ(FormatInst(Dec(k64, {0x88, 0xe0}).inst), "MOV al, ah ; 88 e0");
  EXPECT_EQ(FormatInst(Dec(k64, {0x48, 0x8b, 0x05, 0x10, 0, 0, 0}).inst),
            "MOV rax, qword ds:[rip+0x10] ; 48 8b 05 10 00 00 00");
  EXPECT_EQ(FormatInst(Dec(k32, {0xdc, 0xc1}).inst), "FADD st(1), st(0) ; dc c1");
}

TEST(Decoder, EveryMnemonicHasAName) {
  for (unsigned i = 0; i < static_cast<unsigned>(Mnemonic::kCount); i++) {
    const char* n = MnemonicName(static_cast<Mnemonic>(i));
    ASSERT_NE(n, nullptr);
    EXPECT_STRNE(n, "?") << i;
  }
  EXPECT_STREQ(MnemonicName(Mnemonic::kCount), "?");
}

}  // namespace
}  // namespace emu::x86
