// Value syntax of the command line: QemuOpts lists, sizes, and the legacy
// character device specs of -serial/-monitor/-debugcon plus -chardev.
#include <climits>
#include <set>

#include "system/cli.h"

namespace emu::system {
namespace {

// Splits on single commas; ",," is a literal comma.
std::vector<std::string> SplitOpts(const std::string& text) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == ',') {
      if (i + 1 < text.size() && text[i + 1] == ',') {
        out.back() += ',';
        i++;
      } else {
        out.emplace_back();
      }
    } else {
      out.back() += text[i];
    }
  }
  return out;
}

// on/off and its synonyms, normalized to "on"/"off"; false if it is neither.
bool NormalizeBool(const std::string& v, std::string* out) {
  if (v == "on" || v == "yes" || v == "true" || v == "y") {
    *out = "on";
    return true;
  }
  if (v == "off" || v == "no" || v == "false" || v == "n") {
    *out = "off";
    return true;
  }
  return false;
}

void CheckKeys(const std::string& what, const OptValue& v, const std::set<std::string>& allowed) {
  for (const auto& [k, val] : v.props)
    if (!allowed.count(k)) throw CliError(what + ": unknown property '" + k + "'");
}

void CheckBools(const std::string& what, OptValue& v, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    auto it = v.props.find(k);
    if (it == v.props.end()) continue;
    std::string norm;
    if (!NormalizeBool(it->second, &norm))
      throw CliError(what + ": property '" + k + "' expects on/off, not '" + it->second + "'");
    it->second = norm;
  }
}

void CheckPort(const std::string& what, const std::string& port) {
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    throw CliError(what + ": invalid port '" + port + "'");
}

// Options of a socket backend that emu does not implement yet.
void RejectUnsupportedSocketKeys(const std::string& what, const OptValue& v) {
  for (const char* k : {"telnet", "websocket", "reconnect", "tls-creds", "tls-authz", "tn3270",
                        "abstract", "tight", "fd"})
    if (v.props.count(k)) throw CliError(what + ": socket option '" + k + "' is not supported yet");
}

// Fills defaults and checks a "socket" ChardevConfig (tcp or unix).
void FinishSocket(const std::string& what, ChardevConfig* c) {
  auto& p = c->props;
  bool has_path = p.count("path") != 0;
  bool has_port = p.count("port") != 0;
  if (has_path && (has_port || p.count("host")))
    throw CliError(what + ": give either path= (unix) or host=/port= (tcp), not both");
  if (!has_path && !has_port) throw CliError(what + ": socket needs port= or path=");
  if (has_path && p["path"].empty()) throw CliError(what + ": empty socket path");
  if (has_port) CheckPort(what, p["port"]);
  if (!p.count("server")) p["server"] = "off";
  // A server waits for its first client before the machine starts unless wait=off.
  if (!p.count("wait")) p["wait"] = p["server"] == "on" ? "on" : "off";
  if (p["server"] == "off") p.erase("wait");
}

}  // namespace

OptValue ParseOptValue(const std::string& option, const std::string& text,
                       const std::string& implied_key, const std::vector<std::string>& no_flags) {
  OptValue v;
  v.raw = text;
  std::vector<std::string> parts = SplitOpts(text);
  for (size_t i = 0; i < parts.size(); i++) {
    const std::string& part = parts[i];
    if (part.empty()) {
      // "a," (a trailing comma) is harmless; an empty element in the middle is a typo.
      if (i + 1 == parts.size() && i > 0) continue;
      throw CliError(option + " " + text + ": empty parameter");
    }
    size_t eq = part.find('=');
    if (eq == std::string::npos) {
      if (i == 0 && !implied_key.empty()) {
        v.implied = part;
        v.props[implied_key] = part;
        continue;
      }
      // A bare key is a flag; "noKEY" switches KEY off (legacy "nowait").
      bool negated = false;
      for (const auto& k : no_flags)
        if (part == "no" + k) {
          v.props[k] = "off";
          negated = true;
        }
      if (!negated) v.props[part] = "on";
      continue;
    }
    if (eq == 0) throw CliError(option + " " + text + ": parameter without a name");
    v.props[part.substr(0, eq)] = part.substr(eq + 1);
  }
  return v;
}

bool ParseSize(const std::string& text, uint64_t default_unit, uint64_t* out) {
  size_t i = 0;
  uint64_t whole = 0;
  size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (whole > (UINT64_MAX - 9) / 10) return false;
    whole = whole * 10 + uint64_t(text[i] - '0');
    i++;
    digits++;
  }
  // Up to 9 fractional digits ("1.5G"), kept as frac / 10^frac_digits.
  uint64_t frac = 0, frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    i++;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (frac_scale >= 1000000000ull) return false;
      frac = frac * 10 + uint64_t(text[i] - '0');
      frac_scale *= 10;
      i++;
      digits++;
    }
  }
  if (digits == 0) return false;
  uint64_t unit = default_unit;
  if (i < text.size()) {
    switch (text[i]) {
      case 'b': case 'B': unit = 1; break;
      case 'k': case 'K': unit = 1ull << 10; break;
      case 'm': case 'M': unit = 1ull << 20; break;
      case 'g': case 'G': unit = 1ull << 30; break;
      case 't': case 'T': unit = 1ull << 40; break;
      case 'p': case 'P': unit = 1ull << 50; break;
      case 'e': case 'E': unit = 1ull << 60; break;
      default: return false;
    }
    i++;
  }
  if (i != text.size()) return false;
  if (frac != 0 && unit == 1) return false;  // "1.5B" is not a whole number of bytes
  if (whole != 0 && unit > UINT64_MAX / whole) return false;
  uint64_t result = whole * unit;
  // 128-bit so that a fraction of an exabyte cannot overflow; truncates below one byte.
  unsigned __int128 f = (unsigned __int128)frac * unit / frac_scale;
  if (f > UINT64_MAX - result) return false;
  *out = result + uint64_t(f);
  return true;
}

bool ParseChardevSpec(const std::string& option, const std::string& spec, const std::string& id,
                      ChardevConfig* out, bool* mux_monitor) {
  const std::string what = option + " " + spec;
  *mux_monitor = false;
  *out = ChardevConfig{};
  out->id = id;
  std::string s = spec;
  if (s.rfind("mon:", 0) == 0) {
    *mux_monitor = true;
    s = s.substr(4);
    if (s == "none" || s.rfind("chardev:", 0) == 0 || s.rfind("mon:", 0) == 0)
      throw CliError(what + ": mon: needs a backend such as mon:stdio");
  }
  auto finish = [&]() {
    if (*mux_monitor) out->props["mux"] = "on";
    return true;
  };
  if (s == "none") return false;
  if (s == "null" || s == "stdio" || s == "pty") {
    out->backend = s;
    return finish();
  }
  if (s.rfind("file:", 0) == 0) {
    // The legacy syntax takes the rest verbatim as the path.
    out->backend = "file";
    out->props["path"] = s.substr(5);
    if (out->props["path"].empty()) throw CliError(what + ": file: needs a path");
    return finish();
  }
  if (s.rfind("chardev:", 0) == 0) {
    out->backend = "chardev";
    out->props["ref"] = s.substr(8);
    if (out->props["ref"].empty()) throw CliError(what + ": chardev: needs an id");
    return true;
  }
  if (s.rfind("tcp:", 0) == 0 || s.rfind("unix:", 0) == 0) {
    bool tcp = s[0] == 't';
    OptValue v = ParseOptValue(option, s.substr(tcp ? 4 : 5), "address", {"wait", "server", "delay"});
    RejectUnsupportedSocketKeys(what, v);
    CheckKeys(what, v, {"address", "server", "wait", "nodelay", "delay", "ipv4", "ipv6"});
    if (v.props.count("ipv4") || v.props.count("ipv6"))
      throw CliError(what + ": ipv4/ipv6 options are not supported yet");
    if (v.props.count("delay")) {  // legacy "nodelay" flag parses as delay=off
      v.props["nodelay"] = v.props["delay"] == "off" ? "on" : "off";
      v.props.erase("delay");
    }
    CheckBools(what, v, {"server", "wait", "nodelay"});
    out->backend = "socket";
    std::string addr = v.implied;
    if (tcp) {
      // host:port, [v6addr]:port or :port (all interfaces).
      size_t colon = addr.rfind(':');
      if (colon == std::string::npos) throw CliError(what + ": expected tcp:HOST:PORT");
      std::string host = addr.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      out->props["host"] = host;
      out->props["port"] = addr.substr(colon + 1);
    } else {
      out->props["path"] = addr;
    }
    for (const char* k : {"server", "wait", "nodelay"})
      if (v.props.count(k)) out->props[k] = v.props[k];
    FinishSocket(what, out);
    return finish();
  }
  for (const char* unsupported : {"vc", "telnet:", "udp:", "pipe:", "msmouse", "braille",
                                  "tty:", "serial:", "parallel:", "/dev/", "ringbuf", "spice",
                                  "websocket:", "memory"})
    if (s.rfind(unsupported, 0) == 0) throw CliError(what + ": not supported yet");
  throw CliError(what + ": unknown character device backend '" + s + "'");
}

ChardevConfig ParseChardevOption(const std::string& text) {
  OptValue v = ParseOptValue("-chardev", text, "backend", {"wait", "server", "delay"});
  const std::string backend = v.implied;
  const std::string what = "-chardev " + (backend.empty() ? text : backend);
  if (backend.empty()) throw CliError("-chardev " + text + ": the backend type comes first");
  if (!v.props.count("id") || v.props["id"].empty())
    throw CliError(what + ": id= is required");
  ChardevConfig c;
  c.id = v.props["id"];
  c.backend = backend;
  if (v.props.count("logfile") || v.props.count("logappend"))
    throw CliError(what + ": logfile= is not supported yet");
  std::set<std::string> allowed = {"backend", "id", "mux"};
  if (backend == "null" || backend == "pty") {
  } else if (backend == "stdio") {
    allowed.insert("signal");
  } else if (backend == "file") {
    allowed.insert({"path", "append"});
    if (!v.props.count("path") || v.props["path"].empty())
      throw CliError(what + ": path= is required");
  } else if (backend == "socket") {
    RejectUnsupportedSocketKeys(what, v);
    allowed.insert({"host", "port", "path", "server", "wait", "nodelay", "delay"});
    if (v.props.count("delay")) {
      v.props["nodelay"] = v.props["delay"] == "off" ? "on" : "off";
      v.props.erase("delay");
    }
  } else if (backend == "serial" || backend == "tty" || backend == "parallel" ||
             backend == "parport" || backend == "pipe" || backend == "udp" || backend == "vc" ||
             backend == "ringbuf" || backend == "memory" || backend == "spicevmc" ||
             backend == "spiceport" || backend == "braille" || backend == "msmouse" ||
             backend == "testdev" || backend == "wctablet" || backend == "qemu-vdagent" ||
             backend == "dbus") {
    throw CliError(what + ": backend '" + backend + "' is not supported yet");
  } else {
    throw CliError(what + ": unknown backend '" + backend + "'");
  }
  CheckKeys(what, v, allowed);
  CheckBools(what, v, {"mux", "signal", "append", "server", "wait", "nodelay"});
  for (const auto& [k, val] : v.props)
    if (k != "backend" && k != "id") c.props[k] = val;
  if (backend == "socket") FinishSocket(what, &c);
  if (c.props.count("mux") && c.props["mux"] == "off") c.props.erase("mux");
  return c;
}

}  // namespace emu::system
