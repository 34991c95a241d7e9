// A readable listing of IR for -d op / -d op_opt, tests and debugging: one op per
// line with its temps, constants inline, and the block's terminal last.
//
//   ---- 0xfff0
//   t3 = ld_env.i64 rax
//   t4 = add.i32 t3, $0x1
//   st_mem.i32 [t4], t3 mmu0
//   t6 = call HelperIn t1, $0x2 may_exit
//   branch t7 ? 0x1000 : 0x1005
//
// The IR is guest-neutral, so env offsets are numbers unless the front end
// gives names for them; helpers are named from the executable's symbol table
// when it has one.
#pragma once

#include <cstdint>
#include <string>

#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

struct IrNames {
  // Names the env field at `offset` read or written at width `t` ("rax",
  // "seg[1].base"); return "" to print "env+0x<offset>".
  std::string (*env)(uint32_t offset, Type t) = nullptr;
};

std::string PrintOp(const Block& b, const Op& op, const IrNames& names = {});
std::string PrintTerminal(const Block& b, const IrNames& names = {});
// The whole block: a title line (when `title` is not empty) with the guest pc,
// instruction count and size, then its ops and terminal.
std::string PrintBlock(const Block& b, const std::string& title = "", const IrNames& names = {});

// The name of the host function at `addr` ("HelperIn"), from the executable's
// symbol table, without namespaces or parameters; "" when unknown (stripped).
std::string HostFunctionName(uint64_t addr);

}  // namespace emu::accel::tcg
