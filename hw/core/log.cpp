#include "hw/core/log.h"

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <mutex>
#include <set>

namespace emu::hw {

namespace log_detail {
std::atomic<uint32_t> mask{0};
}  // namespace log_detail

namespace {

std::mutex g_mu;  // guards g_out and whole-line writes
std::FILE* g_out = nullptr;

constexpr LogItem kItems[] = {
    {"in_asm", LogMask::kInAsm, "guest code (disassembled) as it is translated"},
    {"op", LogMask::kOp, "the IR of each translated block, as the front end built it"},
    {"op_opt", LogMask::kOpOpt, "the IR of each translated block after the passes"},
    {"out_asm", LogMask::kOutAsm,
     "what runs for each translated block: the interpreter's ops, operands in env and frame"},
    {"exec", LogMask::kExec, "each translation block as it runs (turns off chaining)"},
    {"cpu", LogMask::kCpu, "the CPU registers before each block runs"},
    {"int", LogMask::kInt, "interrupts and exceptions"},
    {"mmu", LogMask::kMmu, "page walks, soft TLB flushes and their cause, CR3 loads"},
    {"unimp", LogMask::kUnimp, "guest use of what emu does not implement"},
    {"guest_errors", LogMask::kGuestErrors,
     "invalid guest actions: unassigned I/O, bad device registers or commands, unknown MSRs"},
};

// printf into a string, ending in a newline.
std::string Format(const char* fmt, va_list ap) {
  char small[256];
  va_list copy;
  va_copy(copy, ap);
  int n = std::vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < 0) return "(bad log format)\n";
  std::string s;
  if (static_cast<size_t>(n) < sizeof small) {
    s.assign(small, static_cast<size_t>(n));
  } else {
    s.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(s.data(), s.size(), fmt, ap);
    s.resize(static_cast<size_t>(n));
  }
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

void Write(const std::string& text) {
  std::lock_guard<std::mutex> l(g_mu);
  std::FILE* f = g_out ? g_out : stderr;
  std::fwrite(text.data(), 1, text.size(), f);
}

}  // namespace

void SetLog(uint32_t mask, std::FILE* out) {
  {
    std::lock_guard<std::mutex> l(g_mu);
    g_out = out;
  }
  log_detail::mask.store(mask, std::memory_order_relaxed);
}

uint32_t LogMaskBits() { return log_detail::mask.load(std::memory_order_relaxed); }

std::FILE* LogStream() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_out ? g_out : stderr;
}

void Log(LogMask m, const char* fmt, ...) {
  if (!LogEnabled(m)) return;
  va_list ap;
  va_start(ap, fmt);
  std::string s = Format(fmt, ap);
  va_end(ap);
  Write(s);
}

void LogText(LogMask m, const std::string& text) {
  if (!LogEnabled(m) || text.empty()) return;
  Write(text.back() == '\n' ? text : text + '\n');
}

namespace {
bool FirstTime(const std::string& key) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> l(mu);
  return seen.insert(key).second;
}
}  // namespace

void WarnOnce(const std::string& key, const char* fmt, ...) {
  if (!FirstTime(key)) return;
  va_list ap;
  va_start(ap, fmt);
  std::string s = "emu: " + Format(fmt, ap);
  va_end(ap);
  std::fwrite(s.data(), 1, s.size(), stderr);
}

void LogUnimplemented(const std::string& key, const char* fmt, ...) {
  bool log = LogEnabled(LogMask::kUnimp);
  bool warn = FirstTime(key);
  if (!log && !warn) return;
  va_list ap;
  va_start(ap, fmt);
  std::string s = Format(fmt, ap);
  va_end(ap);
  if (log) Write(s);
  // Once on the terminal too, unless the log already is the terminal.
  if (warn && !(log && LogStream() == stderr)) {
    s = "emu: " + s;
    std::fwrite(s.data(), 1, s.size(), stderr);
  }
}

namespace {
std::vector<AddrRange> g_filter;
}  // namespace

void SetLogFilter(std::vector<AddrRange> ranges) { g_filter = std::move(ranges); }

bool LogInRange(uint64_t addr) {
  if (g_filter.empty()) return true;
  for (const AddrRange& r : g_filter)
    if (addr >= r.first && addr <= r.last) return true;
  return false;
}

bool ParseLogFilter(const std::string& text, std::vector<AddrRange>* out, std::string* err) {
  auto number = [](const std::string& t, uint64_t* v) {
    if (t.empty() || t[0] == '-' || t[0] == '+') return false;
    errno = 0;
    char* end = nullptr;
    unsigned long long x = std::strtoull(t.c_str(), &end, 0);
    if (errno || *end) return false;
    *v = x;
    return true;
  };
  out->clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    size_t op = part.find("..");
    size_t oplen = 2;
    if (op == std::string::npos) {
      op = part.find_first_of("+-", 1);
      oplen = 1;
    }
    uint64_t a = 0, b = 0;
    if (op == std::string::npos || !number(part.substr(0, op), &a) ||
        !number(part.substr(op + oplen), &b)) {
      *err = "'" + part + "' is not start..end, start+size or start-size";
      return false;
    }
    AddrRange r{a, b};
    if (oplen == 1) {
      if (b == 0) {
        *err = "'" + part + "': the size must not be 0";
        return false;
      }
      bool plus = part[op] == '+';
      if (plus ? a + (b - 1) < a : a < b - 1) {
        *err = "'" + part + "' goes " + (plus ? "past the end of the address space" : "below 0");
        return false;
      }
      r = plus ? AddrRange{a, a + (b - 1)} : AddrRange{a - (b - 1), a};
    } else if (b < a) {
      *err = "'" + part + "': the end comes before the start";
      return false;
    }
    out->push_back(r);
  }
  return true;
}

std::span<const LogItem> LogItems() { return kItems; }

uint32_t LogMaskForName(const std::string& name) {
  for (const LogItem& it : kItems)
    if (name == it.name) return static_cast<uint32_t>(it.mask);
  return 0;
}

}  // namespace emu::hw
