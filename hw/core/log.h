// The -d/-D log shared by devices and accelerators: a global mask of enabled
// items and one output stream, both set by the machine from the command line.
//
// Checking is an inline load of the mask, so a disabled item costs one branch
// and no formatting. Call sites on warm paths (page walks, port accesses) test
// LogEnabled() themselves before computing their arguments; Log() tests it again,
// so rare paths may call it directly.
//
// Each Log() call writes one whole line (a newline is added when missing) with a
// single write under a lock, so lines from vCPU threads and the main loop never
// interleave. Unimplemented features and guest errors are logged here; a message
// the user must see even without -d (e.g. an unimplemented instruction that
// raises #UD) additionally goes once to stderr (LogUnimplemented, WarnOnce).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace emu::hw {

enum class LogMask : uint32_t {
  kInAsm = 1u << 0,        // guest code as it is translated
  kOp = 1u << 1,           // IR of each block from the front end
  kOpOpt = 1u << 2,        // IR after the optimisation passes
  kExec = 1u << 3,         // each executed block
  kCpu = 1u << 4,          // registers before each block
  kInt = 1u << 5,          // interrupts and exceptions
  kMmu = 1u << 6,          // page walks, TLB flushes, CR3 loads
  kUnimp = 1u << 7,        // features the guest used that emu does not implement
  kGuestErrors = 1u << 8,  // invalid guest actions that hardware tolerates
  kOutAsm = 1u << 9,       // what the backend runs for each block
};

namespace log_detail {
extern std::atomic<uint32_t> mask;
}  // namespace log_detail

inline bool LogEnabled(LogMask m) {
  return (log_detail::mask.load(std::memory_order_relaxed) & static_cast<uint32_t>(m)) != 0;
}

// Sets the enabled items (a bitwise or of LogMask values) and the stream (stderr
// when null). The stream is not owned; it must stay open while logging is on.
void SetLog(uint32_t mask, std::FILE* out);
uint32_t LogMaskBits();
std::FILE* LogStream();

// Writes one formatted line when `m` is enabled.
void Log(LogMask m, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Writes preformatted text (one or more whole lines) when `m` is enabled.
void LogText(LogMask m, const std::string& text);

// Prints "emu: <message>" to stderr the first time `key` is seen (per process):
// for what the user must learn about even without -d, without flooding the
// terminal when a guest loops on it.
void WarnOnce(const std::string& key, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Something the guest used that emu does not implement: logged under -d unimp
// every time, and once per `key` to stderr as by WarnOnce (unless the log is
// stderr already).
void LogUnimplemented(const std::string& key, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

// -dfilter: the per-instruction items (in_asm, op, op_opt, exec, cpu) are limited
// to code whose address lies in one of these inclusive ranges; no ranges means
// everywhere. Set before the vCPUs start (LogInRange takes no lock).
struct AddrRange {
  uint64_t first, last;
};
void SetLogFilter(std::vector<AddrRange> ranges);
bool LogInRange(uint64_t addr);
// Parses the -dfilter argument: comma-separated "start..end" (inclusive),
// "start+size" or "start-size" (the size bytes ending at start), numbers in C
// notation. Returns false with *err naming the bad part.
bool ParseLogFilter(const std::string& text, std::vector<AddrRange>* out, std::string* err);

// The -d items, in the order `-d help` lists them.
struct LogItem {
  const char* name;
  LogMask mask;
  const char* help;
};
std::span<const LogItem> LogItems();
// The bit of a -d item name ("guest_errors"); 0 when there is no such item.
uint32_t LogMaskForName(const std::string& name);

}  // namespace emu::hw
