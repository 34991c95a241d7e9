#include "hw/core/memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "hw/core/log.h"

namespace emu::hw {

namespace {

// -d guest_errors: a CPU-style access (ReadN/WriteN) that hit no region.
void LogUnassigned(const std::string& space, uint64_t addr, unsigned size, bool write,
                   uint64_t value) {
  if (!LogEnabled(LogMask::kGuestErrors)) return;
  char val[40] = "";
  if (write) std::snprintf(val, sizeof val, " value 0x%llx", static_cast<unsigned long long>(value));
  Log(LogMask::kGuestErrors, "%s: unassigned %s of %u byte%s at 0x%llx%s", space.c_str(),
      write ? "write" : "read", size, size == 1 ? "" : "s", static_cast<unsigned long long>(addr),
      val);
}

uint64_t Mask(unsigned size) { return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1; }

// The largest naturally aligned power-of-two access (8 bytes at most) at `addr`
// that fits in `left` bytes: how a bulk access reaches a device, piece by piece.
unsigned AlignedPiece(uint64_t addr, uint64_t left) {
  unsigned s = 8;
  while (s > 1 && (addr % s != 0 || s > left)) s /= 2;
  return s;
}

uint8_t* MapHost(uint64_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot allocate guest memory");
  return static_cast<uint8_t*>(p);
}

bool Overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  return a < b + blen && b < a + alen;
}

// Paints [start, start+size) of `leaf` (at `leaf_off`) into `out` wherever nothing
// of higher priority has been painted yet. `out` stays sorted.
void Paint(std::vector<FlatRange>& out, uint64_t start, uint64_t size, MemoryRegion* leaf,
           uint64_t leaf_off) {
  uint64_t end = start + size;
  uint64_t cur = start;
  std::vector<FlatRange> added;
  auto it = std::lower_bound(out.begin(), out.end(), start,
                             [](const FlatRange& r, uint64_t a) { return r.start + r.size <= a; });
  while (cur < end) {
    uint64_t gap_end = end;
    if (it != out.end() && it->start < end) gap_end = std::max(cur, it->start);
    if (gap_end > cur) added.push_back({cur, gap_end - cur, leaf, leaf_off + (cur - start)});
    if (it == out.end() || it->start >= end) break;
    cur = std::max(cur, it->start + it->size);
    ++it;
  }
  if (added.empty()) return;
  out.insert(out.end(), added.begin(), added.end());
  std::sort(out.begin(), out.end(),
            [](const FlatRange& a, const FlatRange& b) { return a.start < b.start; });
}

// Renders `mr`, whose byte 0 sits at address `base`, clipped to [lo, hi).
void Render(MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi,
            std::vector<FlatRange>& out);

}  // namespace

// Friend access goes through this small helper so that Render stays a free function.
struct RenderAccess {
  static void Do(MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi,
                 std::vector<FlatRange>& out) {
    if (!mr->enabled_) return;
    uint64_t r_lo = std::max(lo, base);
    uint64_t r_hi = std::min(hi, base + mr->size_);
    if (mr->size_ == 0 || r_lo >= r_hi) return;
    switch (mr->kind_) {
      case MemoryRegion::Kind::kRam:
      case MemoryRegion::Kind::kRom:
      case MemoryRegion::Kind::kMmio:
        Paint(out, r_lo, r_hi - r_lo, mr, r_lo - base);
        return;
      case MemoryRegion::Kind::kAlias:
        // The target's byte alias_offset_ appears at `base`.
        Render(mr->alias_target_, base - mr->alias_offset_, r_lo, r_hi, out);
        return;
      case MemoryRegion::Kind::kContainer: {
        // Highest priority first; among equals the later-added child wins.
        std::vector<size_t> order(mr->children_.size());
        for (size_t i = 0; i < order.size(); i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          const auto& ca = mr->children_[a];
          const auto& cb = mr->children_[b];
          if (ca.priority != cb.priority) return ca.priority > cb.priority;
          return a > b;
        });
        for (size_t i : order) {
          const auto& c = mr->children_[i];
          Render(c.region, base + c.offset, r_lo, r_hi, out);
        }
        return;
      }
    }
  }
};

namespace {
void Render(MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi,
            std::vector<FlatRange>& out) {
  RenderAccess::Do(mr, base, lo, hi, out);
}
}  // namespace

MemoryRegion::MemoryRegion(Kind kind, std::string name, uint64_t size)
    : kind_(kind), name_(std::move(name)), size_(size) {}

MemoryRegion::~MemoryRegion() {
  if (host_) munmap(host_, size_);
}

std::unique_ptr<MemoryRegion> MemoryRegion::Ram(std::string name, uint64_t size) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::kRam, std::move(name), size));
  mr->host_ = MapHost(size);
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::Rom(std::string name, uint64_t size) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::kRom, std::move(name), size));
  mr->host_ = MapHost(size);
  mr->read_only_ = true;
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::Mmio(std::string name, uint64_t size, MmioOps ops) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::kMmio, std::move(name), size));
  mr->ops_ = std::move(ops);
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::Alias(std::string name, MemoryRegion* target,
                                                  uint64_t target_offset, uint64_t size) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::kAlias, std::move(name), size));
  mr->alias_target_ = target;
  mr->alias_offset_ = target_offset;
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::Container(std::string name, uint64_t size) {
  return std::unique_ptr<MemoryRegion>(new MemoryRegion(Kind::kContainer, std::move(name), size));
}

void MemoryRegion::AddSubregion(uint64_t offset, MemoryRegion* child, int priority) {
  if (child->parent_) throw std::logic_error("region " + child->name_ + " already placed");
  for (const auto& c : children_) {
    if (c.priority == priority && Overlaps(c.offset, c.region->size_, offset, child->size_))
      throw std::logic_error("regions " + c.region->name_ + " and " + child->name_ +
                             " overlap at equal priority in " + name_);
  }
  children_.push_back({offset, child, priority});
  child->parent_ = this;
  child->offset_in_parent_ = offset;
  MarkDirty();
}

void MemoryRegion::RemoveSubregion(MemoryRegion* child) {
  auto it = std::find_if(children_.begin(), children_.end(),
                         [&](const Child& c) { return c.region == child; });
  if (it == children_.end()) return;
  children_.erase(it);
  child->parent_ = nullptr;
  MarkDirty();
}

void MemoryRegion::SetEnabled(bool enabled) {
  if (enabled_ == enabled) return;
  enabled_ = enabled;
  MarkDirty();
}

void MemoryRegion::SetOffset(uint64_t offset) {
  offset_in_parent_ = offset;
  if (!parent_) return;
  for (auto& c : parent_->children_)
    if (c.region == this) c.offset = offset;
  MarkDirty();
}

void MemoryRegion::SetReadOnly(bool ro) {
  if (read_only_ == ro) return;
  read_only_ = ro;
  MarkDirty();
}

void MemoryRegion::MarkDirty() {
  // Walk up to the roots; an alias target change is caught because aliases are
  // normally created alongside their targets under the same root.
  for (MemoryRegion* r = this; r; r = r->parent_)
    for (AddressSpace* as : r->spaces_) as->Invalidate();
}

const FlatRange* FlatView::Find(uint64_t addr) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                             [](uint64_t a, const FlatRange& r) { return a < r.start; });
  if (it == ranges.begin()) return nullptr;
  --it;
  if (addr - it->start < it->size) return &*it;
  return nullptr;
}

AddressSpace::AddressSpace(std::string name, MemoryRegion* root)
    : name_(std::move(name)), root_(root) {
  root_->spaces_.push_back(this);
}

AddressSpace::~AddressSpace() {
  auto& v = root_->spaces_;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void AddressSpace::Invalidate() { dirty_ = true; }

const FlatView& AddressSpace::view() {
  if (dirty_) Rebuild();
  return view_;
}

void AddressSpace::Rebuild() {
  dirty_ = false;
  FlatView v;
  Render(root_, 0, 0, root_->size(), v.ranges);
  // Merge neighbours that continue the same leaf (keeps the view and KVM slots small).
  std::vector<FlatRange> merged;
  for (const auto& r : v.ranges) {
    if (!merged.empty()) {
      auto& m = merged.back();
      if (m.region == r.region && m.start + m.size == r.start && m.offset + m.size == r.offset) {
        m.size += r.size;
        continue;
      }
    }
    merged.push_back(r);
  }
  view_.ranges = std::move(merged);
  for (auto& [id, l] : listeners_) l(view_);
}

int AddressSpace::AddListener(Listener l) {
  int id = next_listener_++;
  listeners_.emplace_back(id, std::move(l));
  return id;
}

void AddressSpace::RemoveListener(int id) {
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                  [&](const auto& p) { return p.first == id; }),
                   listeners_.end());
}

uint64_t MmioRead(MemoryRegion* mr, uint64_t offset, unsigned size) {
  const MmioOps& ops = mr->ops();
  if (!ops.read) return Mask(size);
  bool fits = size >= ops.min_size && size <= ops.max_size;
  if (fits && (!ops.aligned || offset % size == 0)) return ops.read(offset, size) & Mask(size);
  if (size < ops.min_size) {
    uint64_t base = offset & ~uint64_t(ops.min_size - 1);
    uint64_t v = MmioRead(mr, base, ops.min_size);
    return (v >> ((offset - base) * 8)) & Mask(size);
  }
  if (size == 1) return ops.read(offset, 1) & 0xff;
  unsigned half = size / 2;
  uint64_t lo = MmioRead(mr, offset, half);
  uint64_t hi = MmioRead(mr, offset + half, half);
  return lo | (hi << (half * 8));
}

void MmioWrite(MemoryRegion* mr, uint64_t offset, uint64_t value, unsigned size) {
  const MmioOps& ops = mr->ops();
  if (!ops.write) return;
  value &= Mask(size);
  bool fits = size >= ops.min_size && size <= ops.max_size;
  if (fits && (!ops.aligned || offset % size == 0)) {
    ops.write(offset, value, size);
    return;
  }
  if (size < ops.min_size) {
    uint64_t base = offset & ~uint64_t(ops.min_size - 1);
    uint64_t old = MmioRead(mr, base, ops.min_size);
    unsigned shift = (offset - base) * 8;
    uint64_t v = (old & ~(Mask(size) << shift)) | (value << shift);
    ops.write(base, v & Mask(ops.min_size), ops.min_size);
    return;
  }
  if (size == 1) {
    ops.write(offset, value, 1);
    return;
  }
  unsigned half = size / 2;
  MmioWrite(mr, offset, value & Mask(half), half);
  MmioWrite(mr, offset + half, value >> (half * 8), half);
}

namespace {

// Walks [addr, addr + len) over `v`: mapped(range, offset in the range, bytes
// before, length) for each piece inside one range, hole(bytes before) for each
// byte that hits nothing (then the result is kUnassigned).
template <typename Mapped, typename Hole>
MemResult WalkRanges(const FlatView& v, uint64_t addr, uint64_t len, Mapped&& mapped, Hole&& hole) {
  MemResult res = MemResult::kOk;
  for (uint64_t pos = 0; pos < len;) {
    const FlatRange* r = v.Find(addr + pos);
    if (!r) {
      hole(pos);
      pos++;
      res = MemResult::kUnassigned;
      continue;
    }
    uint64_t off = addr + pos - r->start;
    uint64_t n = std::min(len - pos, r->size - off);
    mapped(*r, off, pos, n);
    pos += n;
  }
  return res;
}

}  // namespace

MemResult AddressSpace::Read(uint64_t addr, void* buf, uint64_t len) {
  auto* out = static_cast<uint8_t*>(buf);
  auto mapped = [&](const FlatRange& r, uint64_t off, uint64_t pos, uint64_t n) {
    if (r.is_ram()) {
      std::memcpy(out + pos, r.region->host() + r.offset + off, n);
      return;
    }
    for (uint64_t done = 0; done < n;) {
      uint64_t a = r.offset + off + done;
      unsigned s = AlignedPiece(a, n - done);
      uint64_t val = MmioRead(r.region, a, s);
      for (unsigned i = 0; i < s; i++) out[pos + done + i] = uint8_t(val >> (8 * i));
      done += s;
    }
  };
  return WalkRanges(view(), addr, len, mapped, [&](uint64_t pos) { out[pos] = 0xff; });
}

MemResult AddressSpace::Write(uint64_t addr, const void* buf, uint64_t len) {
  auto* in = static_cast<const uint8_t*>(buf);
  auto mapped = [&](const FlatRange& r, uint64_t off, uint64_t pos, uint64_t n) {
    if (r.is_ram()) {
      if (!r.region->read_only()) std::memcpy(r.region->host() + r.offset + off, in + pos, n);
      return;
    }
    for (uint64_t done = 0; done < n;) {
      uint64_t a = r.offset + off + done;
      unsigned s = AlignedPiece(a, n - done);
      uint64_t val = 0;
      for (unsigned i = 0; i < s; i++) val |= uint64_t(in[pos + done + i]) << (8 * i);
      MmioWrite(r.region, a, val, s);
      done += s;
    }
  };
  return WalkRanges(view(), addr, len, mapped, [](uint64_t) {});
}

uint64_t AddressSpace::ReadN(uint64_t addr, unsigned size, MemResult* res) {
  const FlatRange* r = view().Find(addr);
  if (r && !r->is_ram() && addr - r->start + size <= r->size) {
    if (res) *res = MemResult::kOk;
    return MmioRead(r->region, r->offset + (addr - r->start), size);
  }
  uint8_t b[8] = {};
  MemResult rr = Read(addr, b, size);
  if (res) *res = rr;
  if (rr == MemResult::kUnassigned) LogUnassigned(name_, addr, size, false, 0);
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++) v |= uint64_t(b[i]) << (8 * i);
  return v;
}

MemResult AddressSpace::WriteN(uint64_t addr, uint64_t value, unsigned size) {
  const FlatRange* r = view().Find(addr);
  if (r && !r->is_ram() && addr - r->start + size <= r->size) {
    MmioWrite(r->region, r->offset + (addr - r->start), value, size);
    return MemResult::kOk;
  }
  uint8_t b[8];
  for (unsigned i = 0; i < size; i++) b[i] = uint8_t(value >> (8 * i));
  MemResult rr = Write(addr, b, size);
  if (rr == MemResult::kUnassigned) LogUnassigned(name_, addr, size, true, value);
  return rr;
}

uint8_t* AddressSpace::HostPtr(uint64_t addr, uint64_t len, bool for_write) {
  const FlatRange* r = view().Find(addr);
  if (!r || !r->is_ram()) return nullptr;
  if (for_write && r->region->read_only()) return nullptr;
  if (addr - r->start + len > r->size) return nullptr;
  return r->region->host() + r->offset + (addr - r->start);
}

}  // namespace emu::hw
