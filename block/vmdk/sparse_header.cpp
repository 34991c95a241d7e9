#include "block/vmdk/sparse_header.h"

#include <cerrno>
#include <cstring>

#include "block/vmdk/le.h"

namespace emu::block::vmdk {
namespace {

Status Bad(const std::string& path, const std::string& what) {
  return Status::Error(EINVAL, path + ": invalid VMDK sparse extent: " + what);
}

}  // namespace

void SparseHeader::Serialize(uint8_t out[kSector]) const {
  std::memset(out, 0, kSector);
  St32(out + 0, kMagic);
  St32(out + 4, version);
  St32(out + 8, flags);
  St64(out + 12, capacity);
  St64(out + 20, grain_size);
  St64(out + 28, desc_offset);
  St64(out + 36, desc_size);
  St32(out + 44, num_gtes);
  St64(out + 48, rgd_offset);
  St64(out + 56, gd_offset);
  St64(out + 64, overhead);
  out[72] = unclean;
  // The newline-detection bytes let a reader notice a text-mode FTP transfer.
  out[73] = '\n';
  out[74] = ' ';
  out[75] = '\r';
  out[76] = '\n';
  St16(out + 77, compress);
}

Result<SparseHeader> SparseHeader::Parse(const uint8_t* buf, const std::string& path) {
  Result<SparseHeader> r;
  SparseHeader& h = r.value;
  if (Ld32(buf) != kMagic) {
    r.status = Bad(path, "bad magic (expected KDMV)");
    return r;
  }
  h.version = Ld32(buf + 4);
  h.flags = Ld32(buf + 8);
  h.capacity = Ld64(buf + 12);
  h.grain_size = Ld64(buf + 20);
  h.desc_offset = Ld64(buf + 28);
  h.desc_size = Ld64(buf + 36);
  h.num_gtes = Ld32(buf + 44);
  h.rgd_offset = Ld64(buf + 48);
  h.gd_offset = Ld64(buf + 56);
  h.overhead = Ld64(buf + 64);
  h.unclean = buf[72];
  h.compress = Ld16(buf + 77);
  if (h.version < 1 || h.version > 3) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VMDK sparse extent version " +
                                          std::to_string(h.version));
  } else if ((h.flags & kFlagNewlineTest) &&
             (buf[73] != '\n' || buf[74] != ' ' || buf[75] != '\r' || buf[76] != '\n')) {
    r.status = Bad(path, "newline check bytes damaged (was the file transferred in text mode?)");
  } else if (h.capacity > kMaxSectors) {
    r.status = Bad(path, "capacity of " + std::to_string(h.capacity) +
                             " sectors is larger than the 64 TiB we accept");
  } else if (h.grain_size == 0 || h.grain_size > kMaxGrainSectors) {
    r.status = Bad(path, "grain size of " + std::to_string(h.grain_size) +
                             " sectors out of range (1.." + std::to_string(kMaxGrainSectors) + ")");
  } else if (h.num_gtes == 0 || h.num_gtes > kMaxGtes) {
    r.status = Bad(path, std::to_string(h.num_gtes) + " entries per grain table out of range (1.." +
                             std::to_string(kMaxGtes) + ")");
  } else if (h.compressed() && h.compress != kCompressDeflate) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: VMDK compression algorithm " +
                                          std::to_string(h.compress));
  } else if (h.gd_entries() * 4 > kMaxGdBytes) {
    r.status = Bad(path, "grain directory of " + std::to_string(h.gd_entries()) +
                             " entries is too large");
  } else if (h.overhead > kMaxSectors) {
    r.status = Bad(path, "overhead of " + std::to_string(h.overhead) + " sectors out of range");
  }
  return r;
}

Result<SparseHeader> SparseHeader::ParseCowd(const uint8_t* buf, const std::string& path) {
  Result<SparseHeader> r;
  SparseHeader& h = r.value;
  h.cowd = true;
  h.version = Ld32(buf + 4);
  h.flags = 0;  // no redundant directory, no compression
  h.capacity = Ld32(buf + 12);
  h.grain_size = Ld32(buf + 16);
  h.gd_offset = Ld32(buf + 20);
  uint32_t gd_entries = Ld32(buf + 24);
  h.num_gtes = kCowdGtes;
  h.overhead = kCowdHeaderBytes / kSector;  // at least the header is never a grain
  auto bad = [&](const std::string& what) {
    r.status = Status::Error(EINVAL, path + ": invalid VMFSSPARSE (COWD) extent: " + what);
    return r;
  };
  if (Ld32(buf) != kCowdMagic) return bad("bad magic (expected COWD)");
  if (h.version != 1) {
    r.status = Status::Error(ENOTSUP, path + ": unimplemented: COWD extent version " +
                                          std::to_string(h.version));
    return r;
  }
  if (h.grain_size == 0 || h.grain_size > kMaxGrainSectors)
    return bad("grain size of " + std::to_string(h.grain_size) + " sectors out of range");
  if (h.gd_entries() > gd_entries)
    return bad("grain directory has " + std::to_string(gd_entries) + " entries, " +
               std::to_string(h.gd_entries()) + " are needed for " +
               std::to_string(h.capacity) + " sectors");
  if (h.gd_offset < h.overhead) return bad("grain directory overlaps the header");
  return r;
}

Status SparseHeader::CheckLayout(uint64_t file_size, const std::string& path) const {
  uint64_t gd_bytes = gd_entries() * 4;
  auto inside = [&](uint64_t sector, uint64_t bytes) {
    return sector <= file_size / kSector && sector * kSector + bytes <= file_size;
  };
  if (!inside(gd_offset, gd_bytes))
    return Bad(path, "grain directory at sector " + std::to_string(gd_offset) + " (" +
                         std::to_string(gd_bytes) + " bytes) lies outside the file (" +
                         std::to_string(file_size) + " bytes)");
  if (redundant() && !inside(rgd_offset, gd_bytes))
    return Bad(path, "redundant grain directory at sector " + std::to_string(rgd_offset) +
                         " lies outside the file (" + std::to_string(file_size) + " bytes)");
  if (desc_size > 0 && !inside(desc_offset, 0))
    return Bad(path, "embedded descriptor at sector " + std::to_string(desc_offset) +
                         " lies outside the file");
  if (desc_size > (uint64_t(1) << 11))
    return Bad(path, "embedded descriptor of " + std::to_string(desc_size) +
                         " sectors is too large (at most 1 MiB)");
  return Status::Ok();
}

}  // namespace emu::block::vmdk
