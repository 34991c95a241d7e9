// emu-img shared helpers: error output, option parsing, size formatting.
#pragma once

#include <getopt.h>

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
// Prints `what` and the status's message as one error; returns the exit status 1.
int Fail(const block::Status& s, const std::string& what = "");

// A subcommand's options, read with getopt_long as qemu-img reads them: getopt
// prints nothing itself (a leading ':' in `shorts` reports a missing argument
// as ':'), Bad() prints qemu-img's message. optind/optarg work as usual.
class OptionReader {
 public:
  OptionReader(int argc, char** argv, const char* shorts, const option* longs = nullptr);
  // The next option, or -1 after the last one.
  int Next();
  // Prints why option `c` was refused; returns the exit status 1.
  int Bad(int c) const;

 private:
  int argc_;
  char** argv_;
  const char* shorts_;
  const option* longs_;
};

// "--output" takes human or json; false with the message otherwise.
bool CheckOutputFormat(const std::string& output);
// The image driver `fmt` exists; false with the message otherwise.
bool CheckFormat(const std::string& fmt);
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
// The options of the commands that report on an image (info, map, check):
// -f fmt, -U/--force-share and --output=human|json (whose long option gives 'O').
struct ReportOptions {
  OpenSpec spec;
  std::string output = "human";
  // Takes option `c` (its argument in optarg) if it is one of those.
  bool Take(int c);
};

// Opens an image, printing the error; nullptr on failure.
std::unique_ptr<BlockDriver> Open(const OpenSpec& s);
// Takes the one file name left after the options as s->path and opens it;
// nullptr with the message when there is not exactly one, or on failure.
std::unique_ptr<BlockDriver> OpenOneImage(int argc, char** argv, OpenSpec* s);
// The optional abilities of an opened image (nullptr for formats without).
block::ImageOps* OpsOf(BlockDriver* d);

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
