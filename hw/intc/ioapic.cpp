#include "hw/intc/ioapic.h"

#include <stdexcept>
#include <string>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
constexpr uint64_t kMasked = 1ull << 16;
constexpr uint64_t kLevel = 1ull << 15;
constexpr uint64_t kRemoteIrr = 1ull << 14;
// Writable bits of the low half: vector, delivery mode, destination mode,
// polarity, trigger mode, mask (delivery status and remote IRR are read-only).
constexpr uint64_t kLowWritable = 0x1afff;
constexpr uint32_t kRegSel = 0x00, kRegWin = 0x10, kRegEoi = 0x40;
}  // namespace

Ioapic::Ioapic(ApicBus* bus, MemoryRegion* memory_root, uint64_t base)
    : Device("ioapic"), bus_(bus), root_(memory_root) {
  for (int i = 0; i < kPins; i++)
    inputs_[size_t(i)].Connect([this, i](bool level) { SetPin(i, level); });
  MmioOps ops;
  ops.min_size = ops.max_size = 4;
  ops.aligned = true;
  ops.read = [this](uint64_t off, unsigned) -> uint64_t {
    if (off == kRegSel) return regsel_;
    if (off == kRegWin) return ReadData();
    Log(LogMask::kGuestErrors, "ioapic: read of offset 0x%02x, which has no register",
        unsigned(off));
    return 0;
  };
  ops.write = [this](uint64_t off, uint64_t v, unsigned) {
    if (off == kRegSel)
      regsel_ = uint8_t(v);
    else if (off == kRegWin)
      WriteData(uint32_t(v));
    else if (off == kRegEoi)
      Eoi(uint8_t(v));
    else
      Log(LogMask::kGuestErrors, "ioapic: write 0x%x to offset 0x%02x, which has no register",
          unsigned(v), unsigned(off));
  };
  mmio_ = MemoryRegion::Mmio("ioapic", 0x1000, ops);
  if (root_) root_->AddSubregion(base, mmio_.get(), 1);
  Reset();
}

Ioapic::~Ioapic() {
  if (root_) root_->RemoveSubregion(mmio_.get());
}

IrqLine* Ioapic::input(int pin) {
  if (pin < 0 || pin >= kPins) throw std::out_of_range("ioapic: no pin " + std::to_string(pin));
  return &inputs_[size_t(pin)];
}

void Ioapic::Reset() {
  redir_.fill(kMasked);
  id_ = 0;
  regsel_ = 0;
}

void Ioapic::SaveState(StateWriter& w) const {
  w.U8(id_), w.U8(regsel_), w.U32(levels_);
  for (uint64_t e : redir_) w.U64(e);
}

void Ioapic::LoadState(StateReader& r) {
  id_ = r.U8() & 0xf, regsel_ = r.U8();
  levels_ = r.U32() & ((1u << kPins) - 1);
  for (uint64_t& e : redir_) e = r.U64() & (0xff00000000000000ull | 0x1ffffull);
  for (uint64_t& e : redir_) e &= ~(1ull << 12);  // delivery status: always idle here
}

uint32_t Ioapic::ReadData() {
  switch (regsel_) {
    case 0x00:
      return uint32_t(id_) << 24;
    case 0x01:
      return kVersion;
    case 0x02:
      return uint32_t(id_) << 24;  // arbitration ID follows the APIC ID
    default:
      if (regsel_ >= 0x10 && regsel_ < 0x10 + 2 * kPins) {
        uint64_t e = redir_[size_t((regsel_ - 0x10) / 2)];
        return (regsel_ & 1) ? uint32_t(e >> 32) : uint32_t(e);
      }
      Log(LogMask::kGuestErrors, "ioapic: read of register 0x%02x, which does not exist", regsel_);
      return 0;
  }
}

void Ioapic::WriteData(uint32_t v) {
  if (regsel_ == 0x00) {
    id_ = uint8_t((v >> 24) & 0xf);
    return;
  }
  if (regsel_ < 0x10 || regsel_ >= 0x10 + 2 * kPins) {
    Log(LogMask::kGuestErrors, "ioapic: write 0x%x to register 0x%02x, which is %s", v, regsel_,
        regsel_ <= 0x02 ? "read-only" : "absent");
    return;
  }
  int pin = (regsel_ - 0x10) / 2;
  uint64_t& e = redir_[size_t(pin)];
  if (regsel_ & 1) {
    e = (e & 0x00ffffffffffffffull) | (uint64_t(v & 0xff000000) << 32);
  } else {
    e = (e & ~kLowWritable) | (v & kLowWritable);
    if (!(e & kLevel)) e &= ~kRemoteIrr;
    Service(pin);  // an unmasked level line that is still asserted
  }
}

void Ioapic::SetPin(int pin, bool level) {
  uint32_t bit = 1u << pin;
  bool rising = level && !(levels_ & bit);
  levels_ = level ? (levels_ | bit) : (levels_ & ~bit);
  uint64_t e = redir_[size_t(pin)];
  if (e & kMasked) return;
  if (e & kLevel)
    Service(pin);
  else if (rising)
    Send(pin);
}

void Ioapic::Service(int pin) {
  uint64_t& e = redir_[size_t(pin)];
  if (!(e & kLevel) || (e & kMasked) || (e & kRemoteIrr) || !(levels_ >> pin & 1)) return;
  int mode = (e >> 8) & 7;
  bool accepted = Send(pin);
  if (accepted && (mode == ApicMessage::kFixed || mode == ApicMessage::kLowestPriority))
    e |= kRemoteIrr;
}

bool Ioapic::Send(int pin) {
  uint64_t e = redir_[size_t(pin)];
  ApicMessage m;
  m.vector = uint8_t(e);
  m.mode = uint8_t((e >> 8) & 7);
  m.logical = (e >> 11) & 1;
  m.dest = uint8_t(e >> 56);
  m.level =
      (e & kLevel) && (m.mode == ApicMessage::kFixed || m.mode == ApicMessage::kLowestPriority);
  return bus_->Deliver(m) > 0;
}

void Ioapic::Eoi(uint8_t vector) {
  for (int pin = 0; pin < kPins; pin++) {
    uint64_t& e = redir_[size_t(pin)];
    if ((e & kRemoteIrr) && uint8_t(e) == vector) {
      e &= ~kRemoteIrr;
      Service(pin);
    }
  }
}

}  // namespace emu::hw
