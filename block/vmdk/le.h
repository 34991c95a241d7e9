// Little-endian loads and stores for on-disk structures.
#pragma once

#include <cstdint>

namespace emu::block::vmdk {

inline uint16_t Ld16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
inline uint32_t Ld32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t Ld64(const uint8_t* p) { return Ld32(p) | uint64_t(Ld32(p + 4)) << 32; }
inline void St16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
inline void St32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i));
}
inline void St64(uint8_t* p, uint64_t v) {
  St32(p, uint32_t(v));
  St32(p + 4, uint32_t(v >> 32));
}

}  // namespace emu::block::vmdk
