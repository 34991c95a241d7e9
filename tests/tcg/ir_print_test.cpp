// The IR listing of -d op / -d op_opt: every kind of op and terminal prints
// readably, constants inline, env fields named through the front end's hook,
// helpers named from the symbol table.
#include "accel/tcg/ir/print.h"

#include <gtest/gtest.h>

#include "accel/tcg/ir/builder.h"
#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {
namespace {

uint64_t PrintTestHelper(ExecContext*, uint64_t a, uint64_t, uint64_t) { return a + 1; }

std::string EnvNames(uint32_t off, Type) {
  if (off == 0) return "rax";
  if (off == 8) return "rcx";
  return "";
}

TEST(IrPrint, EachOpKindAndTerminal) {
  Block b;
  Builder bb(&b);
  b.guest_pc = 0xfff0;
  b.guest_insns = 1;
  b.guest_size = 3;
  bb.InsnStart(0xfff0);
  Val x = bb.LdEnv(Type::kI64, 0);
  Val y = bb.AddI(Type::kI32, x, 0x10);
  bb.StEnv(Type::kI32, 8, y);
  Val m = bb.LdMem(Type::kI16, y, 1);
  bb.StMem(Type::kI8, x, m, 0);
  Val z = bb.Zext(Type::kI64, Type::kI8, m);
  Val c = bb.SetCond(Cond::kLtu, Type::kI32, x, z);
  Val h = bb.Call(PrintTestHelper, kHelperMayExit, c);
  bb.StEnv(Type::kI64, 0x40, h);
  bb.Branch(c, 0x1000, 0x1005);
  IrNames names{&EnvNames};
  std::string s = PrintBlock(b, "OP:", names);
  SCOPED_TRACE(s);
  for (const char* line : {
           "OP: pc=0xfff0 insns=1 bytes=3",
           " ---- 0xfff0\n",
           "  t0 = ld_env.i64 rax\n",
           "  t2 = add.i32 t0, $0x10\n",
           "  st_env.i32 rcx, t2\n",
           "  t3 = ld_mem.i16 [t2] mmu1\n",
           "  st_mem.i8 [t0], t3 mmu0\n",
           "  t4 = zext.i64 t3 (from i8)\n",
           "  t5 = setcond.i32 ltu t0, t4\n",
           "  t6 = call PrintTestHelper t5 may_exit\n",
           "  st_env.i64 env+0x40, t6\n",
           "  branch t5 ? 0x1000 : 0x1005\n",
       })
    EXPECT_NE(s.find(line), std::string::npos) << line;
  // Without names: offsets; without a title: no header.
  std::string plain = PrintBlock(b);
  EXPECT_EQ(plain.find("OP:"), std::string::npos);
  EXPECT_NE(plain.find("ld_env.i64 env+0x0\n"), std::string::npos) << plain;
  EXPECT_EQ(b.Dump(), plain);
}

TEST(IrPrint, Terminals) {
  struct Case {
    void (*make)(Builder&);
    const char* want;
  };
  const Case cases[] = {
      {[](Builder& bb) { bb.Goto(0x401000); }, "  goto 0x401000\n"},
      {[](Builder& bb) { bb.Indirect(); }, "  indirect (next pc in env)\n"},
      {[](Builder& bb) { bb.Exit(3); }, "  exit code=3\n"},
      {[](Builder& bb) { bb.Raise(); }, "  raise code=0\n"},
  };
  for (const Case& c : cases) {
    Block b;
    Builder bb(&b);
    c.make(bb);
    EXPECT_EQ(PrintBlock(b), c.want);
  }
  Block empty;
  EXPECT_EQ(PrintBlock(empty), "  (no terminal)\n");
}

TEST(IrPrint, AfterPassesShowsTheFoldedBlock) {
  Block b;
  Builder bb(&b);
  Val v = bb.Add(Type::kI64, bb.Const(2), bb.Const(3));
  bb.StEnv(Type::kI64, 0, v);
  bb.Exit();
  std::string before = PrintBlock(b);
  RunPasses(b);
  std::string after = PrintBlock(b);
  EXPECT_NE(before.find("add.i64 $0x2, $0x3"), std::string::npos) << before;
  EXPECT_EQ(after.find("add.i64"), std::string::npos) << after;
  EXPECT_NE(after.find("st_env.i64 env+0x0, $0x5"), std::string::npos) << after;
}

TEST(IrPrint, UnknownHostAddressIsHex) {
  EXPECT_EQ(HostFunctionName(0), "");
  EXPECT_EQ(HostFunctionName(reinterpret_cast<uint64_t>(&PrintTestHelper)), "PrintTestHelper");
}

}  // namespace
}  // namespace emu::accel::tcg
