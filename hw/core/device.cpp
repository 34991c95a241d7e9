#include "hw/core/device.h"

#include <cstring>

namespace emu::hw {

void StateReader::Bytes(void* p, size_t n) {
  if (n > data_.size() - pos_) throw std::runtime_error("device state truncated");
  std::memcpy(p, data_.data() + pos_, n);
  pos_ += n;
}

std::string Properties::GetString(const std::string& key, const std::string& def) {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  used_[key] = true;
  return it->second;
}

uint64_t Properties::GetUint(const std::string& key, uint64_t def) {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  used_[key] = true;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = s.empty() || s[0] == '-' ? 0 : strtoull(s.c_str(), &end, 0);
  if (s.empty() || s[0] == '-' || errno != 0 || *end != '\0')
    throw ConfigError(owner_ + ": property '" + key + "' expects a number, not '" + s + "'");
  return v;
}

bool Properties::GetBool(const std::string& key, bool def) {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  used_[key] = true;
  const std::string& s = it->second;
  if (s == "on" || s == "yes" || s == "true" || s == "1") return true;
  if (s == "off" || s == "no" || s == "false" || s == "0") return false;
  throw ConfigError(owner_ + ": property '" + key + "' expects on/off, not '" + s + "'");
}

void Properties::CheckAllUsed() const {
  for (const auto& [k, v] : values_)
    if (!used_.count(k)) throw ConfigError(owner_ + ": unknown property '" + k + "'");
}

void DeviceRegistry::Register(std::string name, std::string help, Factory f) {
  std::string key = name;
  entries_[key] = Entry{std::move(name), std::move(help), std::move(f)};
}

const DeviceRegistry::Entry* DeviceRegistry::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const DeviceRegistry::Entry*> DeviceRegistry::List() const {
  std::vector<const Entry*> out;
  for (const auto& [k, e] : entries_) out.push_back(&e);
  return out;
}

}  // namespace emu::hw
