// SSE2 integer lane operations on the env's xmm registers (see HelperSse).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

namespace {

struct V128 {
  uint8_t b[16];
  template <typename T> T Get(int i) const {
    T v;
    std::memcpy(&v, b + i * sizeof(T), sizeof(T));
    return v;
  }
  template <typename T> void Set(int i, T v) { std::memcpy(b + i * sizeof(T), &v, sizeof(T)); }
};

template <typename T, typename F>
V128 Lanes(const V128& a, const V128& c, F f) {
  V128 r;
  for (int i = 0; i < 16 / static_cast<int>(sizeof(T)); i++) r.Set<T>(i, f(a.Get<T>(i), c.Get<T>(i)));
  return r;
}

template <typename T>
T Sat(int64_t v) {
  int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  return static_cast<T>(std::clamp(v, lo, hi));
}

template <typename T>
V128 Unpack(const V128& a, const V128& c, bool high) {
  V128 r;
  int n = 8 / sizeof(T);
  int base = high ? n : 0;
  for (int i = 0; i < n; i++) {
    r.Set<T>(2 * i, a.Get<T>(base + i));
    r.Set<T>(2 * i + 1, c.Get<T>(base + i));
  }
  return r;
}

template <typename T, typename F>
V128 ShiftLanes(const V128& a, uint64_t count, F f) {
  V128 r;
  for (int i = 0; i < 16 / static_cast<int>(sizeof(T)); i++) r.Set<T>(i, f(a.Get<T>(i), count));
  return r;
}

}  // namespace

X86_HELPER(HelperSse) {
  X86Cpu* cpu = CpuOf(ctx);
  FpuState& f = cpu->env.s.fpu;
  unsigned op = static_cast<unsigned>(a);
  unsigned dst = static_cast<unsigned>(b) & 15;
  unsigned srci = c & 0xff;
  unsigned imm = (c >> 8) & 0xff;
  V128 d, s;
  std::memcpy(d.b, f.xmm[dst], 16);
  std::memcpy(s.b, srci == 16 ? cpu->env.xmm_tmp : f.xmm[srci & 15], 16);
  uint64_t count = s.Get<uint64_t>(0);
  V128 r = d;
  switch (op) {
    case kSseAnd: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return x & y; }); break;
    case kSseAndn: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return ~x & y; }); break;
    case kSseOr: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return x | y; }); break;
    case kSseXor: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return x ^ y; }); break;
    case kSseAddB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t(x + y); }); break;
    case kSseAddW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(x + y); }); break;
    case kSseAddD: r = Lanes<uint32_t>(d, s, [](uint32_t x, uint32_t y) { return x + y; }); break;
    case kSseAddQ: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return x + y; }); break;
    case kSseSubB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t(x - y); }); break;
    case kSseSubW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(x - y); }); break;
    case kSseSubD: r = Lanes<uint32_t>(d, s, [](uint32_t x, uint32_t y) { return x - y; }); break;
    case kSseSubQ: r = Lanes<uint64_t>(d, s, [](uint64_t x, uint64_t y) { return x - y; }); break;
    case kSseAddUsB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t(std::min(x + y, 255)); }); break;
    case kSseAddUsW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(std::min(x + y, 65535)); }); break;
    case kSseSubUsB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t(x > y ? x - y : 0); }); break;
    case kSseSubUsW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(x > y ? x - y : 0); }); break;
    case kSseAddSB: r = Lanes<int8_t>(d, s, [](int8_t x, int8_t y) { return Sat<int8_t>(int64_t{x} + y); }); break;
    case kSseAddSW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return Sat<int16_t>(int64_t{x} + y); }); break;
    case kSseSubSB: r = Lanes<int8_t>(d, s, [](int8_t x, int8_t y) { return Sat<int8_t>(int64_t{x} - y); }); break;
    case kSseSubSW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return Sat<int16_t>(int64_t{x} - y); }); break;
    case kSseCmpEqB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t(x == y ? 0xff : 0); }); break;
    case kSseCmpEqW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(x == y ? 0xffff : 0); }); break;
    case kSseCmpEqD: r = Lanes<uint32_t>(d, s, [](uint32_t x, uint32_t y) { return x == y ? ~0u : 0u; }); break;
    case kSseCmpGtB: r = Lanes<int8_t>(d, s, [](int8_t x, int8_t y) { return int8_t(x > y ? -1 : 0); }); break;
    case kSseCmpGtW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return int16_t(x > y ? -1 : 0); }); break;
    case kSseCmpGtD: r = Lanes<int32_t>(d, s, [](int32_t x, int32_t y) { return x > y ? -1 : 0; }); break;
    case kSseMinUB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return std::min(x, y); }); break;
    case kSseMaxUB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return std::max(x, y); }); break;
    case kSseMinSW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return std::min(x, y); }); break;
    case kSseMaxSW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return std::max(x, y); }); break;
    case kSseAvgB: r = Lanes<uint8_t>(d, s, [](uint8_t x, uint8_t y) { return uint8_t((x + y + 1) >> 1); }); break;
    case kSseAvgW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t((x + y + 1) >> 1); }); break;
    case kSseMulLW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t(x * y); }); break;
    case kSseMulHW: r = Lanes<int16_t>(d, s, [](int16_t x, int16_t y) { return int16_t((int32_t{x} * y) >> 16); }); break;
    case kSseMulHUW: r = Lanes<uint16_t>(d, s, [](uint16_t x, uint16_t y) { return uint16_t((uint32_t{x} * y) >> 16); }); break;
    case kSseMulUDQ:
      r.Set<uint64_t>(0, uint64_t{d.Get<uint32_t>(0)} * s.Get<uint32_t>(0));
      r.Set<uint64_t>(1, uint64_t{d.Get<uint32_t>(2)} * s.Get<uint32_t>(2));
      break;
    case kSseMAddWD:
      for (int i = 0; i < 4; i++)
        r.Set<int32_t>(i, int32_t{d.Get<int16_t>(2 * i)} * s.Get<int16_t>(2 * i) +
                              int32_t{d.Get<int16_t>(2 * i + 1)} * s.Get<int16_t>(2 * i + 1));
      break;
    case kSseSadBW:
      for (int h = 0; h < 2; h++) {
        uint64_t sum = 0;
        for (int i = 0; i < 8; i++) sum += std::abs(int{d.b[8 * h + i]} - int{s.b[8 * h + i]});
        r.Set<uint64_t>(h, sum);
      }
      break;
    case kSseUnpckLBW: r = Unpack<uint8_t>(d, s, false); break;
    case kSseUnpckLWD: r = Unpack<uint16_t>(d, s, false); break;
    case kSseUnpckLDQ: case kSseUnpckLPS: r = Unpack<uint32_t>(d, s, false); break;
    case kSseUnpckLQDQ: r = Unpack<uint64_t>(d, s, false); break;
    case kSseUnpckHBW: r = Unpack<uint8_t>(d, s, true); break;
    case kSseUnpckHWD: r = Unpack<uint16_t>(d, s, true); break;
    case kSseUnpckHDQ: case kSseUnpckHPS: r = Unpack<uint32_t>(d, s, true); break;
    case kSseUnpckHQDQ: r = Unpack<uint64_t>(d, s, true); break;
    case kSsePackSSWB:
      for (int i = 0; i < 8; i++) r.Set<int8_t>(i, Sat<int8_t>(d.Get<int16_t>(i)));
      for (int i = 0; i < 8; i++) r.Set<int8_t>(8 + i, Sat<int8_t>(s.Get<int16_t>(i)));
      break;
    case kSsePackUSWB:
      for (int i = 0; i < 8; i++) r.Set<uint8_t>(i, static_cast<uint8_t>(std::clamp<int>(d.Get<int16_t>(i), 0, 255)));
      for (int i = 0; i < 8; i++) r.Set<uint8_t>(8 + i, static_cast<uint8_t>(std::clamp<int>(s.Get<int16_t>(i), 0, 255)));
      break;
    case kSsePackSSDW:
      for (int i = 0; i < 4; i++) r.Set<int16_t>(i, Sat<int16_t>(d.Get<int32_t>(i)));
      for (int i = 0; i < 4; i++) r.Set<int16_t>(4 + i, Sat<int16_t>(s.Get<int32_t>(i)));
      break;
    case kSseShufD:
      for (int i = 0; i < 4; i++) r.Set<uint32_t>(i, s.Get<uint32_t>((imm >> (2 * i)) & 3));
      break;
    case kSseShufLW:
      r = s;
      for (int i = 0; i < 4; i++) r.Set<uint16_t>(i, s.Get<uint16_t>((imm >> (2 * i)) & 3));
      break;
    case kSseShufHW:
      r = s;
      for (int i = 0; i < 4; i++) r.Set<uint16_t>(4 + i, s.Get<uint16_t>(4 + ((imm >> (2 * i)) & 3)));
      break;
    case kSseShufPS:
      r.Set<uint32_t>(0, d.Get<uint32_t>(imm & 3));
      r.Set<uint32_t>(1, d.Get<uint32_t>((imm >> 2) & 3));
      r.Set<uint32_t>(2, s.Get<uint32_t>((imm >> 4) & 3));
      r.Set<uint32_t>(3, s.Get<uint32_t>((imm >> 6) & 3));
      break;
    case kSseSllW: r = ShiftLanes<uint16_t>(d, count, [](uint16_t x, uint64_t n) { return uint16_t(n > 15 ? 0 : x << n); }); break;
    case kSseSllD: r = ShiftLanes<uint32_t>(d, count, [](uint32_t x, uint64_t n) { return n > 31 ? 0u : x << n; }); break;
    case kSseSllQ: r = ShiftLanes<uint64_t>(d, count, [](uint64_t x, uint64_t n) { return n > 63 ? 0ull : x << n; }); break;
    case kSseSrlW: r = ShiftLanes<uint16_t>(d, count, [](uint16_t x, uint64_t n) { return uint16_t(n > 15 ? 0 : x >> n); }); break;
    case kSseSrlD: r = ShiftLanes<uint32_t>(d, count, [](uint32_t x, uint64_t n) { return n > 31 ? 0u : x >> n; }); break;
    case kSseSrlQ: r = ShiftLanes<uint64_t>(d, count, [](uint64_t x, uint64_t n) { return n > 63 ? 0ull : x >> n; }); break;
    case kSseSraW: r = ShiftLanes<int16_t>(d, count, [](int16_t x, uint64_t n) { return int16_t(x >> (n > 15 ? 15 : n)); }); break;
    case kSseSraD: r = ShiftLanes<int32_t>(d, count, [](int32_t x, uint64_t n) { return x >> (n > 31 ? 31 : n); }); break;
    case kSseSllDQ: {
      unsigned n = count > 16 ? 16 : static_cast<unsigned>(count);
      std::memset(r.b, 0, 16);
      for (unsigned i = n; i < 16; i++) r.b[i] = d.b[i - n];
      break;
    }
    case kSseSrlDQ: {
      unsigned n = count > 16 ? 16 : static_cast<unsigned>(count);
      std::memset(r.b, 0, 16);
      for (unsigned i = 0; i + n < 16; i++) r.b[i] = d.b[i + n];
      break;
    }
    case kSsePMovMskB: {
      uint64_t m = 0;
      for (int i = 0; i < 16; i++) m |= uint64_t{static_cast<uint8_t>(s.b[i] >> 7)} << i;
      return m;
    }
    case kSseMovMskPS: {
      uint64_t m = 0;
      for (int i = 0; i < 4; i++) m |= uint64_t{s.Get<uint32_t>(i) >> 31} << i;
      return m;
    }
    case kSseMovMskPD:
      return (s.Get<uint64_t>(0) >> 63) | ((s.Get<uint64_t>(1) >> 63) << 1);
    case kSsePExtrW:
      return s.Get<uint16_t>(imm & 7);
    case kSsePInsrW:
      r.Set<uint16_t>(imm & 7, s.Get<uint16_t>(0));
      break;
    default:
      break;
  }
  std::memcpy(f.xmm[dst], r.b, 16);
  return 0;
}

X86_HELPER(HelperCheckAlign16) {
  if (a & 15) CpuOf(ctx)->Raise(kGP, 0, true);
  return 0;
}

}  // namespace emu::x86
