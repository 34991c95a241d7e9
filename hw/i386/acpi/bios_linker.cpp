#include "hw/i386/acpi/bios_linker.h"

#include <cstring>
#include <stdexcept>

namespace emu::hw {

namespace {

constexpr size_t kNameLen = 56;
constexpr size_t kCmdLen = 128;

void CheckName(const std::string& n) {
  if (n.empty() || n.size() >= kNameLen) throw std::logic_error("bios linker: bad file " + n);
}

void PutLe(uint8_t* p, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) p[i] = uint8_t(v >> (8 * i));
}

}  // namespace

void BiosLinker::Allocate(const std::string& file, uint32_t align, Zone zone) {
  CheckName(file);
  if (align == 0 || (align & (align - 1))) throw std::logic_error("bios linker: bad alignment");
  cmds_.push_back({kAllocate, file, "", align, 0, 0, zone});
}

void BiosLinker::AddPointer(const std::string& dest, uint32_t offset, uint8_t size,
                            const std::string& src) {
  CheckName(dest);
  CheckName(src);
  if (size != 1 && size != 2 && size != 4 && size != 8)
    throw std::logic_error("bios linker: bad pointer size");
  cmds_.push_back({kAddPointer, dest, src, offset, 0, 0, size});
}

void BiosLinker::AddChecksum(const std::string& file, uint32_t offset, uint32_t start,
                             uint32_t length) {
  CheckName(file);
  cmds_.push_back({kAddChecksum, file, "", offset, start, length, 0});
}

std::vector<uint8_t> BiosLinker::Serialize() const {
  std::vector<uint8_t> out(cmds_.size() * kCmdLen, 0);
  uint8_t* p = out.data();
  for (const Cmd& c : cmds_) {
    PutLe(p, c.command, 4);
    std::memcpy(p + 4, c.file.data(), c.file.size());
    switch (c.command) {
      case kAllocate:
        PutLe(p + 60, c.align_or_offset, 4);
        p[64] = c.zone_or_size;
        break;
      case kAddPointer:
        std::memcpy(p + 60, c.src.data(), c.src.size());
        PutLe(p + 116, c.align_or_offset, 4);
        p[120] = c.zone_or_size;
        break;
      case kAddChecksum:
        PutLe(p + 60, c.align_or_offset, 4);
        PutLe(p + 64, c.start, 4);
        PutLe(p + 68, c.length, 4);
        break;
    }
    p += kCmdLen;
  }
  return out;
}

std::map<std::string, uint64_t> BiosLinker::Execute(
    std::map<std::string, std::vector<uint8_t>>& files, const Placer& place) const {
  std::map<std::string, uint64_t> addr;
  auto file = [&](const std::string& name) -> std::vector<uint8_t>& {
    auto it = files.find(name);
    if (it == files.end() || !addr.count(name))
      throw std::runtime_error("bios linker: file " + name + " not allocated");
    return it->second;
  };
  for (const Cmd& c : cmds_) {
    switch (c.command) {
      case kAllocate: {
        auto it = files.find(c.file);
        if (it == files.end()) throw std::runtime_error("bios linker: no file " + c.file);
        addr[c.file] = place(c.file, c.align_or_offset, Zone(c.zone_or_size), it->second.size());
        break;
      }
      case kAddPointer: {
        auto& d = file(c.file);
        file(c.src);  // must be allocated already
        uint64_t src = addr.at(c.src);
        if (uint64_t(c.align_or_offset) + c.zone_or_size > d.size())
          throw std::runtime_error("bios linker: pointer outside " + c.file);
        uint64_t v = 0;
        for (unsigned i = 0; i < c.zone_or_size; i++)
          v |= uint64_t(d[c.align_or_offset + i]) << (8 * i);
        PutLe(d.data() + c.align_or_offset, v + src, c.zone_or_size);
        break;
      }
      case kAddChecksum: {
        auto& d = file(c.file);
        if (c.align_or_offset >= d.size() || uint64_t(c.start) + c.length > d.size())
          throw std::runtime_error("bios linker: checksum outside " + c.file);
        uint8_t sum = 0;
        for (uint32_t i = 0; i < c.length; i++) sum = uint8_t(sum + d[c.start + i]);
        d[c.align_or_offset] = uint8_t(d[c.align_or_offset] - sum);
        break;
      }
    }
  }
  return addr;
}

}  // namespace emu::hw
