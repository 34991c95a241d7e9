// Guest physical memory and port I/O: MemoryRegion trees flattened to a FlatView.
//
// A MemoryRegion is RAM (host memory), ROM (host memory, writes ignored), MMIO
// (callbacks), an alias (a window onto part of another region) or a container
// (only children). Children are placed at an offset with a priority; where two
// children overlap, the higher priority wins; equal priorities that overlap are
// rejected when the view is built (ambiguous layout is a wiring bug).
//
// AddressSpace owns the root and rebuilds a FlatView -- a sorted list of
// non-overlapping ranges -- whenever the layout changes. Accelerators map the RAM
// ranges (KVM slots, soft-TLB host addends) and listen for changes.
//
// Threading: layout changes and MMIO callbacks happen under the machine lock.
// RAM contents may be touched by vCPU threads without it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace emu::hw {

// Callbacks of an MMIO or port-I/O region. Offsets are relative to the region.
// The core splits or widens accesses so that the callbacks only ever see sizes in
// [min_size, max_size] (powers of two), naturally aligned if `aligned`.
struct MmioOps {
  std::function<uint64_t(uint64_t offset, unsigned size)> read;
  std::function<void(uint64_t offset, uint64_t value, unsigned size)> write;
  unsigned min_size = 1;
  unsigned max_size = 4;
  bool aligned = false;
};

class MemoryRegion {
 public:
  enum class Kind { kRam, kRom, kMmio, kAlias, kContainer };

  // RAM/ROM are backed by anonymous host memory (mmap, zero-filled, page-aligned).
  static std::unique_ptr<MemoryRegion> Ram(std::string name, uint64_t size);
  static std::unique_ptr<MemoryRegion> Rom(std::string name, uint64_t size);
  static std::unique_ptr<MemoryRegion> Mmio(std::string name, uint64_t size, MmioOps ops);
  static std::unique_ptr<MemoryRegion> Alias(std::string name, MemoryRegion* target,
                                             uint64_t target_offset, uint64_t size);
  static std::unique_ptr<MemoryRegion> Container(std::string name, uint64_t size);
  ~MemoryRegion();
  MemoryRegion(const MemoryRegion&) = delete;
  MemoryRegion& operator=(const MemoryRegion&) = delete;

  // Children are not owned. Adding or removing one invalidates the FlatView of every
  // AddressSpace that contains this region.
  void AddSubregion(uint64_t offset, MemoryRegion* child, int priority = 0);
  void RemoveSubregion(MemoryRegion* child);
  // A disabled region is not part of the view (PAM shadowing, BAR unmapping).
  void SetEnabled(bool enabled);
  // Moves a child to a new offset (PCI BAR reprogramming).
  void SetOffset(uint64_t offset);
  // ROM regions may be made writable (or RAM read-only) for shadowing.
  void SetReadOnly(bool ro);

  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  uint8_t* host() const { return host_; }  // RAM/ROM only
  bool read_only() const { return read_only_; }
  bool enabled() const { return enabled_; }
  const MmioOps& ops() const { return ops_; }

 private:
  friend class AddressSpace;
  friend struct RenderAccess;
  struct Child {
    uint64_t offset;
    MemoryRegion* region;
    int priority;
  };
  MemoryRegion(Kind kind, std::string name, uint64_t size);
  void MarkDirty();

  Kind kind_;
  std::string name_;
  uint64_t size_;
  uint8_t* host_ = nullptr;
  bool read_only_ = false;
  bool enabled_ = true;
  MmioOps ops_;
  MemoryRegion* alias_target_ = nullptr;
  uint64_t alias_offset_ = 0;
  std::vector<Child> children_;
  MemoryRegion* parent_ = nullptr;
  uint64_t offset_in_parent_ = 0;
  std::vector<class AddressSpace*> spaces_;  // spaces whose root is this region
};

// One contiguous piece of the flattened view.
struct FlatRange {
  uint64_t start;        // address in the space
  uint64_t size;
  MemoryRegion* region;  // a RAM, ROM or MMIO leaf (aliases are resolved)
  uint64_t offset;       // offset into `region`
  bool is_ram() const {
    return region->kind() == MemoryRegion::Kind::kRam ||
           region->kind() == MemoryRegion::Kind::kRom;
  }
};

struct FlatView {
  std::vector<FlatRange> ranges;  // sorted, non-overlapping
  const FlatRange* Find(uint64_t addr) const;
};

enum class MemResult { kOk, kUnassigned };

class AddressSpace {
 public:
  AddressSpace(std::string name, MemoryRegion* root);
  ~AddressSpace();

  // Current view; rebuilt lazily after a layout change.
  const FlatView& view();
  // Called (under the machine lock) after every rebuild of the view.
  using Listener = std::function<void(const FlatView&)>;
  int AddListener(Listener l);
  void RemoveListener(int id);

  // Byte-level access, split across ranges. Unassigned reads return 0xff bytes,
  // unassigned writes are dropped; both report kUnassigned.
  MemResult Read(uint64_t addr, void* buf, uint64_t len);
  MemResult Write(uint64_t addr, const void* buf, uint64_t len);
  // Sized little-endian access (1, 2, 4 or 8 bytes) as a CPU would issue it.
  uint64_t ReadN(uint64_t addr, unsigned size, MemResult* res = nullptr);
  MemResult WriteN(uint64_t addr, uint64_t value, unsigned size);

  // Host pointer for [addr, addr+len) when it lies wholly in one RAM/ROM range.
  uint8_t* HostPtr(uint64_t addr, uint64_t len, bool for_write);

  const std::string& name() const { return name_; }
  MemoryRegion* root() const { return root_; }
  void Invalidate();

 private:
  void Rebuild();
  std::string name_;
  MemoryRegion* root_;
  FlatView view_;
  bool dirty_ = true;
  int next_listener_ = 1;
  std::vector<std::pair<int, Listener>> listeners_;
};

// Dispatches one sized access to an MMIO region, splitting or widening it to the
// sizes the region accepts.
uint64_t MmioRead(MemoryRegion* mr, uint64_t offset, unsigned size);
void MmioWrite(MemoryRegion* mr, uint64_t offset, uint64_t value, unsigned size);

}  // namespace emu::hw
