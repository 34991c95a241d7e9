// emu-img shared helpers: error output, option parsing, size formatting.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "block/image.h"

namespace emu::tools {

using block::BlockDriver;

// Prints "emu-img: <msg>" to stderr.
void Error(const std::string& msg);
// Parses "a=b,c=d" into `out` (later keys win); false with a message on error.
bool ParseOptions(const std::string& s, std::map<std::string, std::string>* out);
// "64 MiB", "196 KiB", "0 B" (three significant digits, as qemu-img).
std::string HumanSize(uint64_t v);
// Parses --cache / -t values.
bool ParseCache(const std::string& s, block::CacheMode* m);

struct OpenSpec {
  std::string path;
  std::string format;
  bool read_only = true;
  bool force_share = false;
  bool open_backing = true;
  block::CacheMode cache = block::CacheMode::kWriteback;
};
// Opens an image, printing the error; nullptr on failure.
std::unique_ptr<BlockDriver> Open(const OpenSpec& s);

int CmdCreate(int argc, char** argv);
int CmdInfo(int argc, char** argv);
int CmdConvert(int argc, char** argv);
int CmdCheck(int argc, char** argv);
int CmdResize(int argc, char** argv);
int CmdSnapshot(int argc, char** argv);
int CmdCompare(int argc, char** argv);
int CmdMap(int argc, char** argv);
int CmdRebase(int argc, char** argv);
int CmdCommit(int argc, char** argv);
int CmdMeasure(int argc, char** argv);
int CmdAmend(int argc, char** argv);
int CmdBench(int argc, char** argv);

// Reads [off, off+len) of `d` treating regions past its end as zeros.
block::Status ReadPadded(BlockDriver* d, uint64_t off, uint8_t* buf, uint64_t len);
bool IsZero(const uint8_t* p, uint64_t len);

}  // namespace emu::tools
