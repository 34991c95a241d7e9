#include "hw/nvram/fw_cfg.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "hw/core/log.h"

namespace emu::hw {

namespace {

uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint64_t Be64(const uint8_t* p) { return uint64_t(Be32(p)) << 32 | Be32(p + 4); }
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

std::vector<uint8_t> Le(uint64_t v, unsigned n) {
  std::vector<uint8_t> out(n);
  for (unsigned i = 0; i < n; i++) out[i] = uint8_t(v >> (8 * i));
  return out;
}

// What the DMA address register reads as: "QEMU CFG" in byte order.
constexpr char kDmaSignature[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};

}  // namespace

FwCfg::FwCfg(AddressSpace* memory, bool dma)
    : Device("fw_cfg"), memory_(memory), dma_enabled_(dma && memory != nullptr) {
  SetBytes(kFwCfgSignature, {'Q', 'E', 'M', 'U'});
  SetU32(kFwCfgId, kFwCfgFeatureTraditional | (dma_enabled_ ? kFwCfgFeatureDma : 0));
  RebuildDirectory();
}

FwCfg::~FwCfg() {
  if (!io_root_) return;
  if (ports_) io_root_->RemoveSubregion(ports_.get());
  if (dma_ports_) io_root_->RemoveSubregion(dma_ports_.get());
}

void FwCfg::MapPorts(MemoryRegion* io_root, uint16_t base, uint16_t dma_base) {
  MmioOps ops;
  ops.min_size = 1;
  ops.max_size = 2;
  ops.read = [this](uint64_t off, unsigned size) -> uint64_t {
    if (off == 1 && size == 1) return ReadData();
    return 0;  // the selector is write-only
  };
  ops.write = [this](uint64_t off, uint64_t v, unsigned size) {
    if (off == 0)
      WriteSelector(uint16_t(v));
    else  // ignored, as in current versions of the spec
      Log(LogMask::kGuestErrors, "fw_cfg: write 0x%x to the data port (use DMA)", unsigned(v));
  };
  io_root_ = io_root;
  ports_ = MemoryRegion::Mmio("fw_cfg", 2, ops);
  io_root->AddSubregion(base, ports_.get());
  if (!dma_enabled_) return;
  MmioOps dops;
  dops.min_size = 1;
  dops.max_size = 4;
  dops.read = [](uint64_t off, unsigned size) -> uint64_t {
    uint64_t v = 0;
    for (unsigned i = 0; i < size && off + i < 8; i++)
      v |= uint64_t(uint8_t(kDmaSignature[off + i])) << (8 * i);
    return v;
  };
  dops.write = [this](uint64_t off, uint64_t v, unsigned size) {
    for (unsigned i = 0; i < size && off + i < 8; i++) dma_addr_[off + i] = uint8_t(v >> (8 * i));
    // Writing the low half (the register's last byte) starts the transfer.
    if (off + size == 8) {
      uint64_t desc = Be64(dma_addr_);
      std::memset(dma_addr_, 0, sizeof dma_addr_);
      DoDma(desc);
    }
  };
  dma_ports_ = MemoryRegion::Mmio("fw_cfg-dma", 8, dops);
  io_root->AddSubregion(dma_base, dma_ports_.get());
}

void FwCfg::SetBytes(uint16_t key, std::vector<uint8_t> data) {
  items_[key].data = std::move(data);
  if (key == selector_ && offset_ > items_[key].data.size()) offset_ = items_[key].data.size();
}
void FwCfg::SetU16(uint16_t key, uint16_t v) { SetBytes(key, Le(v, 2)); }
void FwCfg::SetU32(uint16_t key, uint32_t v) { SetBytes(key, Le(v, 4)); }
void FwCfg::SetU64(uint16_t key, uint64_t v) { SetBytes(key, Le(v, 8)); }
void FwCfg::SetString(uint16_t key, const std::string& s) {
  std::vector<uint8_t> d(s.begin(), s.end());
  d.push_back(0);
  SetBytes(key, std::move(d));
}

uint16_t FwCfg::AddFile(const std::string& name, std::vector<uint8_t> data) {
  if (name.empty() || name.size() >= kFwCfgMaxFileName)
    throw std::logic_error("fw_cfg: bad file name '" + name + "'");
  if (files_.count(name)) throw std::logic_error("fw_cfg: duplicate file '" + name + "'");
  if (next_file_key_ >= kFwCfgWriteChannel) throw std::logic_error("fw_cfg: too many files");
  uint16_t key = next_file_key_++;
  files_[name] = key;
  SetBytes(key, std::move(data));
  RebuildDirectory();
  return key;
}

uint16_t FwCfg::SetFile(const std::string& name, std::vector<uint8_t> data) {
  auto it = files_.find(name);
  if (it == files_.end()) return AddFile(name, std::move(data));
  SetBytes(it->second, std::move(data));
  RebuildDirectory();  // the size changed
  return it->second;
}

void FwCfg::SetFileWritable(const std::string& name, bool writable) {
  auto it = files_.find(name);
  if (it == files_.end()) throw std::logic_error("fw_cfg: no file '" + name + "'");
  items_[it->second].writable = writable;
}

const std::vector<uint8_t>* FwCfg::Item(uint16_t key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : &it->second.data;
}

const std::vector<uint8_t>* FwCfg::File(const std::string& name) const {
  auto it = files_.find(name);
  return it == files_.end() ? nullptr : Item(it->second);
}

// Directory: be32 count, then per file {be32 size, be16 select, be16 reserved,
// char name[56]}, sorted by name (std::map order is byte order, as strcmp).
void FwCfg::RebuildDirectory() {
  std::vector<uint8_t> dir(4 + 64 * files_.size(), 0);
  PutBe32(dir.data(), uint32_t(files_.size()));
  size_t i = 0;
  for (const auto& [name, key] : files_) {
    uint8_t* e = dir.data() + 4 + 64 * i++;
    PutBe32(e, uint32_t(items_[key].data.size()));
    PutBe16(e + 4, key);
    std::memcpy(e + 8, name.data(), name.size());
  }
  items_[kFwCfgFileDir].data = std::move(dir);
}

FwCfg::Entry* FwCfg::Current() {
  // The write-channel bit of the selector is not part of the key.
  auto it = items_.find(uint16_t(selector_ & ~kFwCfgWriteChannel));
  return selector_ == kFwCfgInvalid || it == items_.end() ? nullptr : &it->second;
}

void FwCfg::WriteSelector(uint16_t key) {
  selector_ = key;
  offset_ = 0;
  if (!Current() && key != kFwCfgInvalid)
    Log(LogMask::kGuestErrors, "fw_cfg: selected key 0x%04x, which has no item", key);
}

uint8_t FwCfg::ReadData() {
  Entry* e = Current();
  if (!e || offset_ >= e->data.size()) return 0;
  return e->data[offset_++];
}

// True when [addr, addr+len) is wholly guest RAM (writable RAM if `for_write`).
bool FwCfg::GuestRamRange(uint64_t addr, uint64_t len, bool for_write) {
  if (len == 0) return true;
  if (addr + len < addr) return false;  // wraps around
  const FlatView& v = memory_->view();
  uint64_t cur = addr, end = addr + len;
  while (cur < end) {
    const FlatRange* r = v.Find(cur);
    if (!r || !r->is_ram() || (for_write && r->region->read_only())) return false;
    cur = r->start + r->size;
    if (cur == 0) break;  // range ends at the top of the address space
  }
  return true;
}

void FwCfg::DoDma(uint64_t desc_addr) {
  if (!dma_enabled_) return;
  // A descriptor outside RAM cannot even carry an error back: drop the request.
  if (!GuestRamRange(desc_addr, 16, true)) {
    Log(LogMask::kGuestErrors, "fw_cfg: DMA descriptor at 0x%llx is not in RAM (dropped)",
        static_cast<unsigned long long>(desc_addr));
    return;
  }
  uint8_t d[16];
  memory_->Read(desc_addr, d, sizeof d);
  uint32_t status = DmaTransfer(Be32(d), Be32(d + 4), Be64(d + 8));
  uint8_t c[4];
  PutBe32(c, status);
  memory_->Write(desc_addr, c, 4);
}

// Returns the control word to write back: 0 on success, the error bit otherwise.
uint32_t FwCfg::DmaTransfer(uint32_t control, uint32_t length, uint64_t address) {
  auto fail = [&](const char* why) {
    Log(LogMask::kGuestErrors, "fw_cfg: DMA control 0x%x, %u bytes at 0x%llx: %s", control, length,
        static_cast<unsigned long long>(address), why);
    return kFwCfgDmaError;
  };
  if (control & kFwCfgDmaSelect) WriteSelector(uint16_t(control >> 16));
  Entry* e = Current();
  uint64_t size = e ? e->data.size() : 0;
  uint64_t avail = offset_ < size ? size - offset_ : 0;
  if (control & kFwCfgDmaRead) {
    if (!GuestRamRange(address, length, true)) return fail("buffer not in RAM");
    uint64_t n = std::min<uint64_t>(avail, length);
    if (n) memory_->Write(address, e->data.data() + offset_, n);
    // Past the end of the item the guest buffer is filled with zeroes.
    static const uint8_t kZero[4096] = {};
    for (uint64_t done = n; done < length;) {
      uint64_t chunk = std::min<uint64_t>(sizeof kZero, length - done);
      memory_->Write(address + done, kZero, chunk);
      done += chunk;
    }
    offset_ += n;
    return 0;
  }
  if (control & kFwCfgDmaWrite) {
    if (!e || !e->writable) return fail("write to a read-only or missing item");
    if (length > avail) return fail("write past the end of the item");
    if (!GuestRamRange(address, length, false)) return fail("buffer not in RAM");
    memory_->Read(address, e->data.data() + offset_, length);
    offset_ += length;
    return 0;
  }
  if (control & kFwCfgDmaSkip) {
    offset_ += std::min<uint64_t>(avail, length);
    return 0;
  }
  return 0;
}

void FwCfg::Reset() {
  selector_ = kFwCfgInvalid;
  offset_ = 0;
  std::memset(dma_addr_, 0, sizeof dma_addr_);
}

void FwCfg::SaveState(StateWriter& w) const {
  w.U16(selector_);
  w.U64(offset_);
  w.Bytes(dma_addr_, sizeof dma_addr_);
}

void FwCfg::LoadState(StateReader& r) {
  selector_ = r.U16();
  offset_ = r.U64();
  r.Bytes(dma_addr_, sizeof dma_addr_);
}

}  // namespace emu::hw
