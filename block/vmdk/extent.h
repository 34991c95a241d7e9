// One extent of a VMDK image: a byte range of the virtual disk backed by a
// sparse (KDMV) file, a flat file at an offset, or nothing (ZERO).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "block/block_driver.h"
#include "block/image.h"
#include "block/vmdk/sparse_header.h"

namespace emu::block::vmdk {

class ExtentIO {
 public:
  virtual ~ExtentIO() = default;
  // Offsets are bytes from the start of the extent; the driver keeps them inside
  // the extent's size.
  virtual Status Read(uint64_t off, void* buf, uint64_t len) = 0;
  virtual Status Write(uint64_t off, const void* buf, uint64_t len) = 0;
  virtual Status Flush() = 0;
  // Default: writes zeros (a sparse extent leaves unallocated grains alone).
  virtual Status WriteZeroes(uint64_t off, uint64_t len);
  // Appends the allocation state of [off, off+len) with virtual offsets shifted by
  // `base` (the extent's start in the disk).
  virtual Status BlockStatus(uint64_t off, uint64_t len, uint64_t base,
                             std::vector<Extent>* out) = 0;
  // Consistency check (qemu-img check's vmdk rules): table entries inside the file.
  virtual void Check(CheckResult* r) {}
  virtual uint64_t grain_bytes() const { return 0; }
  virtual bool compressed() const { return false; }
  virtual const std::string& path() const = 0;
  // The extent's file (for rewriting an embedded descriptor), or nullptr.
  virtual File* file() { return nullptr; }
};

std::unique_ptr<ExtentIO> NewFlatExtent(std::unique_ptr<File> f, uint64_t base_bytes);
std::unique_ptr<ExtentIO> NewZeroExtent(std::string name);

// Opens a hosted sparse extent. `header` receives the (footer-resolved) header,
// whose capacity the caller compares with the descriptor.
Result<std::unique_ptr<ExtentIO>> OpenSparseExtent(std::unique_ptr<File> f, bool read_only,
                                                   SparseHeader* header);

}  // namespace emu::block::vmdk
