// The option table behind the command line parser (internal to system/cli*.cpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace emu::system {

struct ParseState;

struct OptionDesc {
  const char* name;  // without dashes
  bool has_arg;
  void (*handler)(ParseState& st, const std::string& arg);
  const char* group;     // help section
  const char* arg_help;  // e.g. "[size=]megs[M|G]", or "" for flags
  const char* help;      // one line; "" hides the option from -h
};

// Every option emu knows, in help order (grouped).
const std::vector<OptionDesc>& CliOptions();

// The -d items emu's tracing knows (name, one-line help); the contract for -d help.
const std::vector<std::pair<std::string, std::string>>& CliLogItems();

// Help section titles, in display order.
const std::vector<std::string>& CliGroups();

}  // namespace emu::system
