#include "block/vdi/vdi_header.h"

#include <cerrno>
#include <cstring>
#include <random>

namespace emu::block::vdi {
namespace {

uint32_t Ld32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t Ld64(const uint8_t* p) { return Ld32(p) | uint64_t(Ld32(p + 4)) << 32; }
void St32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i));
}
void St64(uint8_t* p, uint64_t v) {
  St32(p, uint32_t(v));
  St32(p + 4, uint32_t(v >> 32));
}

// Field offsets of header version 1.1.
enum : size_t {
  kOffText = 0x00,
  kOffSignature = 0x40,
  kOffVersion = 0x44,
  kOffHeaderSize = 0x48,
  kOffImageType = 0x4c,
  kOffImageFlags = 0x50,
  kOffDescription = 0x54,
  kOffBmap = 0x154,
  kOffData = 0x158,
  kOffCylinders = 0x15c,
  kOffHeads = 0x160,
  kOffSectors = 0x164,
  kOffSectorSize = 0x168,
  kOffDiskSize = 0x170,
  kOffBlockSize = 0x178,
  kOffBlockExtra = 0x17c,
  kOffBlocksInImage = 0x180,

  kOffUuidCreate = 0x188,

  kOffUuidLink = 0x1a8,
  kOffUuidParent = 0x1b8,
  kEndOfFields = 0x1c8,
};

Status Bad(const std::string& path, const std::string& what) {
  return Status::Error(EINVAL, path + ": invalid VDI image: " + what);
}

bool IsNil(const Uuid& u) {
  for (uint8_t b : u)
    if (b) return false;
  return true;
}

}  // namespace

void Header::Serialize(uint8_t out[kHeaderBytes]) const {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out + kOffText, text.data(), std::min<size_t>(text.size(), 0x40));
  St32(out + kOffSignature, signature);
  St32(out + kOffVersion, version);
  St32(out + kOffHeaderSize, header_size);
  St32(out + kOffImageType, image_type);
  St32(out + kOffImageFlags, image_flags);
  St32(out + kOffBmap, offset_bmap);
  St32(out + kOffData, offset_data);
  St32(out + kOffCylinders, cylinders);
  St32(out + kOffHeads, heads);
  St32(out + kOffSectors, sectors);
  St32(out + kOffSectorSize, sector_size);
  St64(out + kOffDiskSize, disk_size);
  St32(out + kOffBlockSize, block_size);
  St32(out + kOffBlockExtra, block_extra);
  St32(out + kOffBlocksInImage, blocks_in_image);
  St32(out + kOffBlocksAllocated, blocks_allocated);
  std::memcpy(out + kOffUuidCreate, uuid_create.data(), 16);
  std::memcpy(out + kOffUuidModify, uuid_modify.data(), 16);
  std::memcpy(out + kOffUuidLink, uuid_link.data(), 16);
  std::memcpy(out + kOffUuidParent, uuid_parent.data(), 16);
}

Result<Header> Header::Parse(const uint8_t* buf, size_t len, uint64_t file_size,
                             const std::string& path) {
  Result<Header> r;
  if (len < kEndOfFields || file_size < kEndOfFields) {
    r.status = Bad(path, "file too short for a header (" + std::to_string(file_size) + " bytes)");
    return r;
  }
  Header& h = r.value;
  h.text.assign(reinterpret_cast<const char*>(buf), strnlen(reinterpret_cast<const char*>(buf), 0x40));
  h.signature = Ld32(buf + kOffSignature);
  h.version = Ld32(buf + kOffVersion);
  h.header_size = Ld32(buf + kOffHeaderSize);
  h.image_type = Ld32(buf + kOffImageType);
  h.image_flags = Ld32(buf + kOffImageFlags);
  h.offset_bmap = Ld32(buf + kOffBmap);
  h.offset_data = Ld32(buf + kOffData);
  h.cylinders = Ld32(buf + kOffCylinders);
  h.heads = Ld32(buf + kOffHeads);
  h.sectors = Ld32(buf + kOffSectors);
  h.sector_size = Ld32(buf + kOffSectorSize);
  h.disk_size = Ld64(buf + kOffDiskSize);
  h.block_size = Ld32(buf + kOffBlockSize);
  h.block_extra = Ld32(buf + kOffBlockExtra);
  h.blocks_in_image = Ld32(buf + kOffBlocksInImage);
  h.blocks_allocated = Ld32(buf + kOffBlocksAllocated);
  std::memcpy(h.uuid_create.data(), buf + kOffUuidCreate, 16);
  std::memcpy(h.uuid_modify.data(), buf + kOffUuidModify, 16);
  std::memcpy(h.uuid_link.data(), buf + kOffUuidLink, 16);
  std::memcpy(h.uuid_parent.data(), buf + kOffUuidParent, 16);

  auto hex = [](uint64_t v) {
    char s[24];
    snprintf(s, sizeof s, "0x%llx", static_cast<unsigned long long>(v));
    return std::string(s);
  };
  if (h.signature != kSignature) {
    r.status = Bad(path, "bad signature " + hex(h.signature) + " (expected 0xbeda107f)");
  } else if (h.version != kVersion11) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VDI header version " +
                                          hex(h.version) + " (only 1.1 is supported)");
  } else if (h.header_size < kEndOfFields - 0x48 || h.header_size > 0x10000) {
    r.status = Bad(path, "header size " + std::to_string(h.header_size) + " out of range");
  } else if (h.image_type == 3 || h.image_type == 4) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VDI " +
                                          (h.image_type == 3 ? "undo" : "differencing") +
                                          " images");
  } else if (h.image_type != kTypeDynamic && h.image_type != kTypeStatic) {
    r.status = Bad(path, "unknown image type " + std::to_string(h.image_type));
  } else if (!IsNil(h.uuid_link) || !IsNil(h.uuid_parent)) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VDI image linked to a parent");
  } else if (h.sector_size != 512) {
    r.status = Bad(path, "sector size " + std::to_string(h.sector_size) + " (expected 512)");
  } else if (h.block_size != kBlockSize) {
    r.status = Bad(path, "block size " + std::to_string(h.block_size) + " (expected 1 MiB)");
  } else if (h.block_extra != 0) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VDI blocks with " +
                                          std::to_string(h.block_extra) + " extra bytes");
  } else if (h.blocks_in_image > kMaxBlocks) {
    r.status = Bad(path, "block count " + std::to_string(h.blocks_in_image) + " exceeds " +
                             std::to_string(kMaxBlocks));
  } else if (h.disk_size > uint64_t(h.blocks_in_image) * h.block_size) {
    r.status = Bad(path, "disk size " + std::to_string(h.disk_size) + " does not fit in " +
                             std::to_string(h.blocks_in_image) + " blocks");
  } else if (h.blocks_allocated > h.blocks_in_image) {
    r.status = Bad(path, std::to_string(h.blocks_allocated) + " blocks allocated of " +
                             std::to_string(h.blocks_in_image));
  } else if (h.offset_bmap % 512 || h.offset_data % 512) {
    r.status = Bad(path, "block map / data offsets " + hex(h.offset_bmap) + " / " +
                             hex(h.offset_data) + " not sector aligned");
  } else if (h.offset_bmap < 0x40 + h.header_size) {
    r.status = Bad(path, "block map offset " + hex(h.offset_bmap) + " overlaps the header");
  } else if (uint64_t(h.offset_bmap) + uint64_t(h.blocks_in_image) * 4 > h.offset_data) {
    r.status = Bad(path, "block map at " + hex(h.offset_bmap) + " (" +
                             std::to_string(h.blocks_in_image) +
                             " entries) overlaps the data area at " + hex(h.offset_data));
  } else if (uint64_t(h.offset_bmap) + uint64_t(h.blocks_in_image) * 4 > file_size) {
    r.status = Bad(path, "block map (" + std::to_string(h.blocks_in_image) +
                             " entries) extends past the end of the file (" +
                             std::to_string(file_size) + " bytes)");
  }
  return r;
}

Uuid RandomUuid() {
  std::random_device rd;
  Uuid u;
  for (size_t i = 0; i < u.size(); i += 4) {
    uint32_t v = rd();
    std::memcpy(u.data() + i, &v, 4);
  }
  u[6] = (u[6] & 0x0f) | 0x40;  // version 4
  u[8] = (u[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return u;
}

}  // namespace emu::block::vdi
