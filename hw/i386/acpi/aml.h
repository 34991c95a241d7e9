// A small builder for ACPI Machine Language (ACPI spec, chapter "ACPI Machine
// Language Specification"): each function returns the encoded bytes of one term,
// and containers take their already-encoded contents. Only what our DSDT needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emu::hw::aml {

using Bytes = std::vector<uint8_t>;

// PkgLength for a body of `body_len` bytes (the encoding counts its own bytes).
Bytes PkgLength(size_t body_len);
// "\\_SB.PCI0", "_S5_", "^FOO": segments padded to 4 characters with '_'.
Bytes NameString(const std::string& path);

Bytes Int(uint64_t v);  // ZeroOp, OneOp or the smallest Byte/Word/DWord/QWordConst
Bytes String(const std::string& s);
Bytes EisaId(const std::string& id);  // "PNP0A03" -> its compressed 32-bit form
Bytes Buffer(const Bytes& data);
Bytes Package(const std::vector<Bytes>& elements);

Bytes Name(const std::string& name, const Bytes& object);
Bytes Scope(const std::string& name, const std::vector<Bytes>& body);
Bytes Device(const std::string& name, const std::vector<Bytes>& body);
Bytes Method(const std::string& name, unsigned num_args, bool serialized,
             const std::vector<Bytes>& body);
Bytes Return(const Bytes& object);

// Resource templates (small resource descriptors) and the buffer that holds them.
Bytes IoPort(uint16_t min, uint16_t max, uint8_t align, uint8_t len);
Bytes Irq(unsigned irq);  // IRQNoFlags: edge, active high
Bytes Memory32Fixed(uint32_t base, uint32_t len, bool writable);
Bytes ResourceTemplate(const std::vector<Bytes>& descriptors);

}  // namespace emu::hw::aml
