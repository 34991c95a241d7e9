// SSE/SSE2 floating-point lane operations on the env's xmm registers (see
// HelperSseFp). The arithmetic runs on the host's IEEE float/double through
// portable <cfenv>: the guest's MXCSR rounding mode is installed around the
// host operation and the host's exception flags become MXCSR's sticky flags.
// What IEEE leaves open and x86 defines is done by hand so any host gives x86
// results: NaN propagation (first source operand's NaN, quieted), the default
// "QNaN indefinite", the denormal-operand flag, DAZ and FTZ, and the integer
// indefinite of out-of-range conversions (Intel SDM Vol. 1, 4.8.3 and 11.5).
#include <cfenv>
#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define EMU_HOST_MXCSR 1
#endif
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/sse_fp.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

namespace {

enum : uint32_t { kIE = 1, kDE = 2, kZE = 4, kOE = 8, kUE = 16, kPE = 32 };
constexpr uint32_t kDaz = 1u << 6, kFtz = 1u << 15;

struct V128 {
  uint8_t b[16];
  template <typename T> T Get(int i) const {
    T v;
    std::memcpy(&v, b + i * sizeof(T), sizeof(T));
    return v;
  }
  template <typename T> void Set(int i, T v) { std::memcpy(b + i * sizeof(T), &v, sizeof(T)); }
};

template <typename T> using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
template <typename T> constexpr Bits<T> kQuiet = Bits<T>{1} << (std::numeric_limits<T>::digits - 2);
template <typename T> constexpr Bits<T> kSign = Bits<T>{1} << (sizeof(T) * 8 - 1);

template <typename T> Bits<T> ToBits(T v) {
  Bits<T> u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
template <typename T> T FromBits(Bits<T> u) {
  T v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
template <typename T> bool IsNan(T v) { return std::isnan(v); }
template <typename T> bool IsSnan(T v) { return IsNan(v) && !(ToBits(v) & kQuiet<T>); }
template <typename T> T Quiet(T v) { return FromBits<T>(ToBits(v) | kQuiet<T>); }
// The x86 default NaN: sign set, quiet bit set, rest zero.
template <typename T> T Indefinite() { return FromBits<T>(kSign<T> | kQuiet<T> | (ToBits(std::numeric_limits<T>::infinity()) & ~kSign<T>)); }
template <typename T> bool IsDenormal(T v) { return std::fpclassify(v) == FP_SUBNORMAL; }

// The per-instruction floating-point context: MXCSR in, accumulated flags out.
// On an SSE host the host's own MXCSR is read and written directly (its flag
// bits are the guest's; glibc's fenv calls also save and restore the x87
// environment, several times slower); elsewhere <cfenv>.
class Fp {
 public:
  explicit Fp(uint32_t mxcsr) : csr_(mxcsr) {
#ifdef EMU_HOST_MXCSR
    old_csr_ = _mm_getcsr();
    const unsigned want = (old_csr_ & ~kRoundBits) | (csr_ & kRoundBits);
    if (want != old_csr_) _mm_setcsr(want);
#else
    old_round_ = std::fegetround();
    static const int kModes[4] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    std::fesetround(kModes[(csr_ >> 13) & 3]);
#endif
  }
  ~Fp() {
#ifdef EMU_HOST_MXCSR
    if ((old_csr_ & kRoundBits) != (csr_ & kRoundBits)) _mm_setcsr(old_csr_);
#else
    std::fesetround(old_round_);
#endif
  }
  Fp(const Fp&) = delete;
  Fp& operator=(const Fp&) = delete;

  uint32_t flags = 0;
  bool daz() const { return csr_ & kDaz; }
  bool ftz() const { return csr_ & kFtz; }
  bool um_masked() const { return csr_ & (kUE << 7); }

  // A source operand after DAZ; `denormal` notes a denormal operand.
  template <typename T> T In(T v, bool* denormal) {
    if (!IsDenormal(v)) return v;
    if (daz()) return FromBits<T>(ToBits(v) & kSign<T>);
    *denormal = true;
    return v;
  }

  // Runs the host operation `f` with cleared host flags and collects them.
  template <typename F> auto Host(F f) {
#ifdef EMU_HOST_MXCSR
    const unsigned c = _mm_getcsr();
    _mm_setcsr(c & ~0x3fu);
    auto r = f();
    // The same bit positions; the host's DE is not the guest's (In() decides).
    last_ = _mm_getcsr() & (kIE | kZE | kOE | kUE | kPE);
    return r;
#else
    std::feclearexcept(FE_ALL_EXCEPT);
    auto r = f();
    int ex = std::fetestexcept(FE_ALL_EXCEPT);
    last_ = 0;
    if (ex & FE_INVALID) last_ |= kIE;
    if (ex & FE_DIVBYZERO) last_ |= kZE;
    if (ex & FE_OVERFLOW) last_ |= kOE;
    if (ex & FE_UNDERFLOW) last_ |= kUE;
    if (ex & FE_INEXACT) last_ |= kPE;
    return r;
#endif
  }
  uint32_t last() const { return last_; }

  // Post-computation fix-ups of a floating-point result: x86 NaN, unmasked
  // underflow (reported for tiny exact results too), FTZ.
  template <typename T> T Out(T r, uint32_t host) {
    if (IsNan(r)) r = Indefinite<T>();
    if (IsDenormal(r)) {
      if (!um_masked()) host |= kUE;
      else if (ftz()) {
        r = FromBits<T>(ToBits(r) & kSign<T>);
        host |= kUE | kPE;
      }
    }
    flags |= host;
    return r;
  }

 private:
  static constexpr unsigned kRoundBits = 3u << 13;
  uint32_t csr_;
#ifdef EMU_HOST_MXCSR
  unsigned old_csr_ = 0;
#else
  int old_round_ = 0;
#endif
  uint32_t last_ = 0;
};

// Forces the host operation to happen between the fenv calls: the inputs
// are read through volatiles and the result stored through one.
template <typename T, typename F> T Volatile(T x, T y, F f) {
  volatile T vx = x, vy = y;
  volatile T r = f(T(vx), T(vy));
  return r;
}

// ADD/SUB/MUL/DIV/SQRT of one lane (a = destination, b = source).
template <typename T> T Arith(Fp& fp, unsigned op, T a, T b) {
  bool den = false;
  if (op == kFpSqrt) {
    if (IsNan(b)) {
      if (IsSnan(b)) fp.flags |= kIE;
      return Quiet(b);
    }
    b = fp.In(b, &den);
    T r = fp.Host([&] { return Volatile<T>(b, b, [](T x, T) { return std::sqrt(x); }); });
    uint32_t f = fp.last();
    if (den && !(f & kIE)) f |= kDE;
    return fp.Out(r, f);
  }
  if (IsNan(a) || IsNan(b)) {
    if (IsSnan(a) || IsSnan(b)) fp.flags |= kIE;
    return Quiet(IsNan(a) ? a : b);
  }
  a = fp.In(a, &den);
  b = fp.In(b, &den);
  T r = fp.Host([&] {
    switch (op) {
      case kFpAdd: return Volatile<T>(a, b, [](T x, T y) { return x + y; });
      case kFpSub: return Volatile<T>(a, b, [](T x, T y) { return x - y; });
      case kFpMul: return Volatile<T>(a, b, [](T x, T y) { return x * y; });
      default: return Volatile<T>(a, b, [](T x, T y) { return x / y; });
    }
  });
  uint32_t f = fp.last();
  if (den && !(f & (kIE | kZE))) f |= kDE;
  return fp.Out(r, f);
}

// MIN/MAX: the second operand when either is NaN or both are zero.
template <typename T> T MinMax(Fp& fp, bool max, T a, T b) {
  if (IsNan(a) || IsNan(b)) {
    fp.flags |= kIE;
    return b;
  }
  bool den = false;
  T x = fp.In(a, &den), y = fp.In(b, &den);
  if (den) fp.flags |= kDE;
  bool pick_a = max ? x > y : x < y;
  return pick_a ? x : y;
}

// CMPcc predicates 0-7 -> lane mask.
template <typename T> Bits<T> Compare(Fp& fp, unsigned pred, T a, T b) {
  bool signaling = pred == 1 || pred == 2 || pred == 5 || pred == 6;
  bool unordered = IsNan(a) || IsNan(b);
  if (unordered) {
    if (signaling || IsSnan(a) || IsSnan(b)) fp.flags |= kIE;
  } else {
    bool den = false;
    a = fp.In(a, &den);
    b = fp.In(b, &den);
    if (den) fp.flags |= kDE;
  }
  bool r = false;
  switch (pred & 7) {
    case 0: r = !unordered && a == b; break;
    case 1: r = !unordered && a < b; break;
    case 2: r = !unordered && a <= b; break;
    case 3: r = unordered; break;
    case 4: r = unordered || a != b; break;
    case 5: r = unordered || !(a < b); break;
    case 6: r = unordered || !(a <= b); break;
    case 7: r = !unordered; break;
  }
  return r ? ~Bits<T>{0} : 0;
}

// COMIS/UCOMIS -> ZF PF CF (unordered 111, less 001, equal 100, greater 000).
template <typename T> uint64_t Comi(Fp& fp, bool signaling, T a, T b) {
  if (IsNan(a) || IsNan(b)) {
    if (signaling || IsSnan(a) || IsSnan(b)) fp.flags |= kIE;
    return kFlagZF | kFlagPF | kFlagCF;
  }
  bool den = false;
  a = fp.In(a, &den);
  b = fp.In(b, &den);
  if (den) fp.flags |= kDE;
  if (a < b) return kFlagCF;
  if (a == b) return kFlagZF;
  return 0;
}

// RCP/RSQRT: exact reciprocals rounded to single (the SDM only bounds the
// error of the hardware's approximation); no flags. Like the hardware,
// denormal inputs count as zero and tiny results flush to zero.
float Approx(bool rsqrt, float v) {
  if (IsNan(v)) return Quiet(v);
  if (IsDenormal(v)) v = FromBits<float>(ToBits(v) & kSign<float>);
  float r;
  if (rsqrt) {
    if (v == 0) return std::copysign(std::numeric_limits<float>::infinity(), v);
    if (v < 0) return Indefinite<float>();
    r = static_cast<float>(1.0 / std::sqrt(static_cast<double>(v)));
  } else {
    r = static_cast<float>(1.0 / static_cast<double>(v));
  }
  // The hardware's approximation of results at the bottom of the normal range
  // can fall below it (observed: RCPPS of 2^126 gives 0).
  if (std::fabs(r) < std::numeric_limits<float>::min() * (1 + 1.0f / 1024))
    r = FromBits<float>(ToBits(r) & kSign<float>);
  return r;
}

// Float -> signed integer of `bits`, rounding per MXCSR or truncating.
template <typename T> uint64_t ToInt(Fp& fp, T v, bool truncate, bool wide) {
  uint64_t indefinite = wide ? 0x8000000000000000ull : 0x80000000ull;
  if (IsNan(v)) {
    fp.flags |= kIE;
    return indefinite;
  }
  if (fp.daz() && IsDenormal(v)) v = 0;
  double d = static_cast<double>(v);  // exact
  double r = truncate ? std::trunc(d) : std::nearbyint(d);
  double lim = wide ? 9223372036854775808.0 : 2147483648.0;
  if (!(r >= -lim && r < lim)) {
    fp.flags |= kIE;
    return indefinite;
  }
  if (r != d) fp.flags |= kPE;
  int64_t i = static_cast<int64_t>(r);
  return wide ? static_cast<uint64_t>(i) : static_cast<uint32_t>(static_cast<int32_t>(i));
}

// Signed integer -> float, rounding per MXCSR.
template <typename T> T FromInt(Fp& fp, int64_t i) {
  T r = fp.Host([&] {
    volatile int64_t vi = i;
    volatile T out = static_cast<T>(vi);
    return T(out);
  });
  fp.flags |= fp.last() & kPE;
  return r;
}

// Float <-> double.
double Widen(Fp& fp, float v) {
  if (IsNan(v)) {
    if (IsSnan(v)) fp.flags |= kIE;
    uint64_t u = ToBits(v);
    return FromBits<double>(((u >> 31) << 63) | 0x7ff8000000000000ull | ((u & 0x3fffff) << 29));
  }
  bool den = false;
  v = fp.In(v, &den);
  if (den) fp.flags |= kDE;
  return static_cast<double>(v);
}

float Narrow(Fp& fp, double v) {
  if (IsNan(v)) {
    if (IsSnan(v)) fp.flags |= kIE;
    uint64_t u = ToBits(v);
    return FromBits<float>(static_cast<uint32_t>(((u >> 63) << 31) | 0x7fc00000u | ((u >> 29) & 0x3fffff)));
  }
  bool den = false;
  v = fp.In(v, &den);
  float r = fp.Host([&] {
    volatile double vv = v;
    volatile float out = static_cast<float>(double(vv));
    return float(out);
  });
  uint32_t f = fp.last();
  if (den) f |= kDE;
  return fp.Out(r, f);
}

// The lane-wise arithmetic families for element type T.
template <typename T> void Lanes(Fp& fp, unsigned op, bool scalar, unsigned imm, const V128& d, const V128& s,
                                 V128& r) {
  int n = scalar ? 1 : 16 / static_cast<int>(sizeof(T));
  for (int i = 0; i < n; i++) {
    T a = d.Get<T>(i), b = s.Get<T>(i);
    switch (op) {
      case kFpMin: r.Set<T>(i, MinMax(fp, false, a, b)); break;
      case kFpMax: r.Set<T>(i, MinMax(fp, true, a, b)); break;
      case kFpCmp: r.Set<Bits<T>>(i, Compare(fp, imm & 7, a, b)); break;
      case kFpRcp: case kFpRsqrt:
        if constexpr (std::is_same_v<T, float>) r.Set<T>(i, Approx(op == kFpRsqrt, b));
        break;
      default: r.Set<T>(i, Arith(fp, op, a, b)); break;
    }
  }
}

}  // namespace

X86_HELPER(HelperSseFp) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& env = cpu->env;
  FpuState& f = env.s.fpu;
  unsigned op = a & 0xff;
  unsigned kind = (a >> 8) & 3;
  bool wide = (a >> 10) & 1;
  unsigned dst = static_cast<unsigned>(b) & 15;
  unsigned srci = c & 0xff;
  unsigned imm = (c >> 8) & 0xff;
  V128 d, s;
  std::memcpy(d.b, f.xmm[dst], 16);
  std::memcpy(s.b, srci == 16 ? env.xmm_tmp : f.xmm[srci & 15], 16);
  V128 r = d;
  uint64_t ret = 0;
  bool write = true;
  uint32_t flags;
  {
    Fp fp(f.mxcsr);
    bool dbl = kind == kFpPd || kind == kFpSd;
    bool scalar = kind == kFpSs || kind == kFpSd;
    switch (op) {
      case kFpAdd: case kFpSub: case kFpMul: case kFpDiv: case kFpSqrt:
      case kFpMin: case kFpMax: case kFpCmp: case kFpRcp: case kFpRsqrt:
        if (dbl) Lanes<double>(fp, op, scalar, imm, d, s, r);
        else Lanes<float>(fp, op, scalar, imm, d, s, r);
        break;
      case kFpComi: case kFpUcomi:
        ret = dbl ? Comi(fp, op == kFpComi, d.Get<double>(0), s.Get<double>(0))
                  : Comi(fp, op == kFpComi, d.Get<float>(0), s.Get<float>(0));
        write = false;
        break;
      case kFpCvtI2F: {
        int64_t i = wide ? s.Get<int64_t>(0) : s.Get<int32_t>(0);
        if (dbl) r.Set<double>(0, FromInt<double>(fp, i));
        else r.Set<float>(0, FromInt<float>(fp, i));
        break;
      }
      case kFpCvtF2I: case kFpCvttF2I:
        ret = dbl ? ToInt(fp, s.Get<double>(0), op == kFpCvttF2I, wide)
                  : ToInt(fp, s.Get<float>(0), op == kFpCvttF2I, wide);
        write = false;
        break;
      case kFpCvtSs2Sd: r.Set<double>(0, Widen(fp, s.Get<float>(0))); break;
      case kFpCvtSd2Ss: r.Set<float>(0, Narrow(fp, s.Get<double>(0))); break;
      case kFpCvtPs2Pd: {
        float x = s.Get<float>(0), y = s.Get<float>(1);
        r.Set<double>(0, Widen(fp, x));
        r.Set<double>(1, Widen(fp, y));
        break;
      }
      case kFpCvtPd2Ps:
        r.Set<float>(0, Narrow(fp, s.Get<double>(0)));
        r.Set<float>(1, Narrow(fp, s.Get<double>(1)));
        r.Set<uint64_t>(1, 0);
        break;
      case kFpCvtDq2Pd: {
        int32_t x = s.Get<int32_t>(0), y = s.Get<int32_t>(1);
        r.Set<double>(0, x);
        r.Set<double>(1, y);
        break;
      }
      case kFpCvtDq2Ps:
        for (int i = 0; i < 4; i++) r.Set<float>(i, FromInt<float>(fp, s.Get<int32_t>(i)));
        break;
      case kFpCvtPd2Dq: case kFpCvttPd2Dq:
        for (int i = 0; i < 2; i++)
          r.Set<uint32_t>(i, static_cast<uint32_t>(ToInt(fp, s.Get<double>(i), op == kFpCvttPd2Dq, false)));
        r.Set<uint64_t>(1, 0);
        break;
      case kFpCvtPs2Dq: case kFpCvttPs2Dq:
        for (int i = 0; i < 4; i++)
          r.Set<uint32_t>(i, static_cast<uint32_t>(ToInt(fp, s.Get<float>(i), op == kFpCvttPs2Dq, false)));
        break;
      case kFpShufPd:
        r.Set<uint64_t>(0, d.Get<uint64_t>(imm & 1));
        r.Set<uint64_t>(1, s.Get<uint64_t>((imm >> 1) & 1));
        break;
      default:
        cpu->Raise(kUD);
        return 0;
    }
    flags = fp.flags;
  }
  // Unmasked exceptions leave the destination alone and trap: #XM with
  // CR4.OSXMMEXCPT, else #UD (SDM Vol. 1, 11.5.1).
  uint32_t unmasked = flags & ~(f.mxcsr >> 7) & 0x3f;
  f.mxcsr |= flags;
  if (unmasked) {
    cpu->Raise((env.s.cr4 & (1u << 10)) ? kXM : kUD);
    return 0;
  }
  if (write) std::memcpy(f.xmm[dst], r.b, 16);
  return ret;
}

}  // namespace emu::x86
