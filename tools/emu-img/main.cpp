// emu-img: create, inspect, convert and repair disk images; command line and
// output modelled on qemu-img so that scripts keep working.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/emu-img/util.h"

namespace {

void Usage() {
  printf(
      "usage: emu-img COMMAND [args...]\n"
      "Commands:\n"
      "  amend [-f fmt] -o options filename\n"
      "  bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s size] [-S step] [-t cache] [-w] filename\n"
      "  check [-f fmt] [--output=human|json] [-r leaks|all] [-U] filename\n"
      "  commit [-f fmt] [-d] [-p] [-q] filename\n"
      "  compare [-f fmt] [-F fmt] [-s] [-q] [-U] filename1 filename2\n"
      "  convert [-c] [-f fmt] [-O fmt] [-B backing] [-o options] [-n] [-p] [-q] [-S size] [-U] filename [filename2 ...] output\n"
      "  create [-f fmt] [-o options] [-b backing [-F backing_fmt]] [-u] [-q] filename [size]\n"
      "  info [-f fmt] [--output=human|json] [--backing-chain] [-U] filename\n"
      "  map [-f fmt] [--output=human|json] [-U] filename\n"
      "  measure [--output=human|json] [-O fmt] [-o options] [--size N | [-f fmt] filename]\n"
      "  rebase [-f fmt] [-u] [-p] [-q] -b backing [-F backing_fmt] filename\n"
      "  resize [-f fmt] [--shrink] [-q] filename [+|-]size\n"
      "  snapshot [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename\n"
      "Formats: raw qcow2 vdi vmdk. Sizes take k, M, G, T suffixes.\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace emu::tools;
  if (argc < 2) {
    Error("Not enough arguments\nTry 'emu-img --help' for more information");
    return 1;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    Usage();
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") {
    printf("emu-img version 0.1.0\n");
    return 0;
  }
  struct {
    const char* name;
    int (*fn)(int, char**);
  } cmds[] = {{"create", CmdCreate},   {"info", CmdInfo},       {"convert", CmdConvert},
              {"check", CmdCheck},     {"resize", CmdResize},   {"snapshot", CmdSnapshot},
              {"compare", CmdCompare}, {"map", CmdMap},         {"rebase", CmdRebase},
              {"commit", CmdCommit},   {"measure", CmdMeasure}, {"amend", CmdAmend},
              {"bench", CmdBench}};
  for (const auto& c : cmds)
    if (cmd == c.name) return c.fn(argc - 1, argv + 1);
  Error("Command not found: " + cmd);
  return 1;
}
