#include "hw/i386/acpi/aml.h"

#include <stdexcept>

namespace emu::hw::aml {

namespace {

enum : uint8_t {
  kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0a, kWordPrefix = 0x0b,
  kDWordPrefix = 0x0c, kStringPrefix = 0x0d, kQWordPrefix = 0x0e, kScopeOp = 0x10,
  kBufferOp = 0x11, kPackageOp = 0x12, kMethodOp = 0x14, kDualNamePrefix = 0x2e,
  kMultiNamePrefix = 0x2f, kExtOpPrefix = 0x5b, kDeviceOp = 0x82, kReturnOp = 0xa4,
};

void Append(Bytes& out, const Bytes& in) { out.insert(out.end(), in.begin(), in.end()); }

Bytes Concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const auto& p : parts) Append(out, p);
  return out;
}

// op [ext] PkgLength body, where body already holds the name and contents.
Bytes WithPkg(Bytes prefix, const Bytes& body) {
  Append(prefix, PkgLength(body.size()));
  Append(prefix, body);
  return prefix;
}

void LeN(Bytes& out, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) out.push_back(uint8_t(v >> (8 * i)));
}

}  // namespace

Bytes PkgLength(size_t body_len) {
  // One byte holds lengths up to 63; otherwise the low nibble goes in the lead
  // byte and the rest in 1-3 following bytes, the lead's bits 7-6 counting them.
  for (unsigned n = 1; n <= 4; n++) {
    size_t total = body_len + n;
    if (n == 1 && total <= 0x3f) return {uint8_t(total)};
    if (n > 1 && total < (size_t(1) << (4 + 8 * (n - 1)))) {
      Bytes out{uint8_t(((n - 1) << 6) | (total & 0xf))};
      for (unsigned i = 1; i < n; i++) out.push_back(uint8_t(total >> (4 + 8 * (i - 1))));
      return out;
    }
  }
  throw std::length_error("aml: package too long");
}

Bytes NameString(const std::string& path) {
  Bytes out;
  size_t i = 0;
  while (i < path.size() && (path[i] == '\\' || path[i] == '^')) out.push_back(uint8_t(path[i++]));
  std::vector<std::string> segs;
  std::string rest = path.substr(i);
  size_t start = 0;
  while (start <= rest.size() && !rest.empty()) {
    size_t dot = rest.find('.', start);
    std::string seg = rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (seg.empty() || seg.size() > 4) throw std::invalid_argument("aml: bad name " + path);
    seg.resize(4, '_');
    segs.push_back(seg);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (segs.empty()) {
    out.push_back(0);  // NullName
  } else if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(uint8_t(segs.size()));
  }
  for (const auto& s : segs) out.insert(out.end(), s.begin(), s.end());
  return out;
}

Bytes Int(uint64_t v) {
  if (v == 0) return {kZeroOp};
  if (v == 1) return {kOneOp};
  Bytes out;
  if (v <= 0xff) {
    out.push_back(kBytePrefix);
    LeN(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(kWordPrefix);
    LeN(out, v, 2);
  } else if (v <= 0xffffffff) {
    out.push_back(kDWordPrefix);
    LeN(out, v, 4);
  } else {
    out.push_back(kQWordPrefix);
    LeN(out, v, 8);
  }
  return out;
}

Bytes String(const std::string& s) {
  Bytes out{kStringPrefix};
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
  return out;
}

Bytes EisaId(const std::string& id) {
  // Three letters (5 bits each, 'A' = 1) and four hex digits, stored big-endian.
  if (id.size() != 7) throw std::invalid_argument("aml: bad EISA id " + id);
  uint32_t v = 0;
  for (int i = 0; i < 3; i++) v = (v << 5) | uint32_t((id[i] - 'A' + 1) & 0x1f);
  for (int i = 3; i < 7; i++) v = (v << 4) | uint32_t(std::stoul(id.substr(i, 1), nullptr, 16));
  uint32_t be = __builtin_bswap32(v & 0x7fffffff);  // bit 31 is reserved (zero)
  Bytes out{kDWordPrefix};
  LeN(out, be, 4);
  return out;
}

Bytes Buffer(const Bytes& data) {
  Bytes body = Int(data.size());
  Append(body, data);
  return WithPkg({kBufferOp}, body);
}

Bytes Package(const std::vector<Bytes>& elements) {
  if (elements.size() > 255) throw std::length_error("aml: package too long");
  Bytes body{uint8_t(elements.size())};
  Append(body, Concat(elements));
  return WithPkg({kPackageOp}, body);
}

Bytes Name(const std::string& name, const Bytes& object) {
  Bytes out{kNameOp};
  Append(out, NameString(name));
  Append(out, object);
  return out;
}

Bytes Scope(const std::string& name, const std::vector<Bytes>& body) {
  Bytes b = NameString(name);
  Append(b, Concat(body));
  return WithPkg({kScopeOp}, b);
}

Bytes Device(const std::string& name, const std::vector<Bytes>& body) {
  Bytes b = NameString(name);
  Append(b, Concat(body));
  return WithPkg({kExtOpPrefix, kDeviceOp}, b);
}

Bytes Method(const std::string& name, unsigned num_args, bool serialized,
             const std::vector<Bytes>& body) {
  if (num_args > 7) throw std::invalid_argument("aml: too many method arguments");
  Bytes b = NameString(name);
  b.push_back(uint8_t(num_args | (serialized ? 0x08 : 0)));
  Append(b, Concat(body));
  return WithPkg({kMethodOp}, b);
}

Bytes Return(const Bytes& object) {
  Bytes out{kReturnOp};
  Append(out, object);
  return out;
}

Bytes IoPort(uint16_t min, uint16_t max, uint8_t align, uint8_t len) {
  Bytes out{0x47, 0x01};  // I/O port descriptor, 16-bit decode
  LeN(out, min, 2);
  LeN(out, max, 2);
  out.push_back(align);
  out.push_back(len);
  return out;
}

Bytes Irq(unsigned irq) {
  if (irq > 15) throw std::invalid_argument("aml: IRQ out of range");
  Bytes out{0x22};
  LeN(out, 1u << irq, 2);
  return out;
}

Bytes Memory32Fixed(uint32_t base, uint32_t len, bool writable) {
  Bytes out{0x86, 0x09, 0x00, uint8_t(writable ? 1 : 0)};
  LeN(out, base, 4);
  LeN(out, len, 4);
  return out;
}

Bytes ResourceTemplate(const std::vector<Bytes>& descriptors) {
  Bytes data = Concat(descriptors);
  data.push_back(0x79);  // end tag; a zero checksum means "treat as valid"
  data.push_back(0x00);
  return Buffer(data);
}

}  // namespace emu::hw::aml
