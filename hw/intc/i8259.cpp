#include "hw/intc/i8259.h"

#include <cstdio>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
constexpr int kCascadePin = 2;  // the slave's INT drives master IR2 on every PC
}

I8259::I8259(MemoryRegion* io) : Device("i8259"), io_(io) {
  chips_[0].elcr_mask = 0xf8;  // IRQ0-2 are always edge triggered
  chips_[1].elcr_mask = 0xde;  // IRQ8 and IRQ13 too
  for (int i = 0; i < 16; i++) {
    if (i == kCascadePin) continue;  // IRQ2 is the cascade; ISA IRQ2 is routed to IRQ9
    inputs_[i].Connect([this, i](bool level) { SetPin(i >> 3, i & 7, level); });
  }
  auto chip_ops = [this](int c) {
    MmioOps ops;
    ops.min_size = ops.max_size = 1;
    ops.read = [this, c](uint64_t off, unsigned) -> uint64_t {
      if (off == 0 || chips_[c].poll) return ReadCmd(c);
      return chips_[c].imr;
    };
    ops.write = [this, c](uint64_t off, uint64_t v, unsigned) {
      if (off == 0)
        WriteCmd(c, uint8_t(v));
      else
        WriteData(c, uint8_t(v));
    };
    return ops;
  };
  master_ = MemoryRegion::Mmio("pic-master", 2, chip_ops(0));
  slave_ = MemoryRegion::Mmio("pic-slave", 2, chip_ops(1));
  MmioOps elcr;
  elcr.min_size = elcr.max_size = 1;
  elcr.read = [this](uint64_t off, unsigned) -> uint64_t { return chips_[off & 1].elcr; };
  elcr.write = [this](uint64_t off, uint64_t v, unsigned) {
    Chip& ch = chips_[off & 1];
    ch.elcr = uint8_t(v) & ch.elcr_mask;
    uint8_t level = ch.ltim ? 0xff : ch.elcr;
    ch.irr = uint8_t((ch.irr & ~level) | (ch.levels & level));
    Update();
  };
  elcr_ = MemoryRegion::Mmio("elcr", 2, elcr);
  io_->AddSubregion(0x20, master_.get());
  io_->AddSubregion(0xa0, slave_.get());
  io_->AddSubregion(0x4d0, elcr_.get());
}

I8259::~I8259() {
  io_->RemoveSubregion(master_.get());
  io_->RemoveSubregion(slave_.get());
  io_->RemoveSubregion(elcr_.get());
}

IrqLine* I8259::input(int irq) {
  if (irq < 0 || irq > 15) throw std::out_of_range("i8259: no IRQ " + std::to_string(irq));
  return &inputs_[irq];
}

void I8259::Reset() {
  for (Chip& ch : chips_) {
    uint8_t levels = ch.levels, mask = ch.elcr_mask;
    ch = Chip{};
    ch.levels = levels;
    ch.elcr_mask = mask;
  }
  Update();
}

int I8259::HighestInMask(const Chip& ch, uint8_t mask) {
  for (int p = 0; p < 8; p++)
    if (mask >> ((ch.lowest + 1 + p) & 7) & 1) return p;
  return 8;
}

int I8259::PendingIrq(int c) const {
  const Chip& ch = chips_[c];
  int p = HighestInMask(ch, ch.irr & ~ch.imr);
  if (p == 8) return -1;
  uint8_t in_service = ch.isr;
  // Special mask mode: a masked in-service level no longer holds off lower ones.
  if (ch.special_mask) in_service &= ~ch.imr;
  // Special fully nested mode: the slave's own priorities decide, so the master's
  // ISR bit for the cascade does not block further slave requests.
  if (c == 0 && ch.sfnm) in_service &= uint8_t(~(1 << kCascadePin));
  if (p >= HighestInMask(ch, in_service)) return -1;
  return (ch.lowest + 1 + p) & 7;
}

bool I8259::InterruptPending() const { return PendingIrq(0) >= 0; }

void I8259::Update() {
  Chip& m = chips_[0];
  if (!m.single) {
    bool slave_int = PendingIrq(1) >= 0;
    // The cascade input follows the slave's INT output level.
    m.irr = uint8_t((m.irr & ~(1 << kCascadePin)) | (slave_int ? 1 << kCascadePin : 0));
  }
  bool pending = PendingIrq(0) >= 0;
  if (pending != intr_.level()) intr_.Set(pending);
}

void I8259::SetPin(int c, int pin, bool level) {
  Chip& ch = chips_[c];
  uint8_t m = uint8_t(1 << pin);
  if (IsLevel(ch, pin)) {
    ch.irr = level ? (ch.irr | m) : (ch.irr & ~m);
  } else if (level && !(ch.levels & m)) {
    ch.irr |= m;  // rising edge; the request stays latched until acknowledged
  }
  ch.levels = level ? (ch.levels | m) : (ch.levels & ~m);
  Update();
}

void I8259::AckOn(int c, int pin) {
  Chip& ch = chips_[c];
  uint8_t m = uint8_t(1 << pin);
  ch.irr &= ~m;
  if (IsLevel(ch, pin) && (ch.levels & m)) ch.irr |= m;  // still asserted
  if (!ch.auto_eoi)
    ch.isr |= m;
  else if (ch.rotate_aeoi)
    ch.lowest = uint8_t(pin);
}

int I8259::Acknowledge() {
  int irq = PendingIrq(0);
  if (irq < 0) return chips_[0].vector_base | 7;  // spurious IRQ7, ISR untouched
  AckOn(0, irq);
  if (irq == kCascadePin && !chips_[0].single) {
    int sirq = PendingIrq(1);
    int vec;
    if (sirq < 0) {
      vec = chips_[1].vector_base | 7;  // spurious IRQ15; master ISR2 stays set
    } else {
      AckOn(1, sirq);
      vec = chips_[1].vector_base + sirq;
    }
    Update();
    return vec;
  }
  Update();
  return chips_[0].vector_base + irq;
}

void I8259::Eoi(int c, int pin, bool rotate) {
  Chip& ch = chips_[c];
  ch.isr &= uint8_t(~(1 << pin));
  if (rotate) ch.lowest = uint8_t(pin);
}

void I8259::WriteCmd(int c, uint8_t v) {
  Chip& ch = chips_[c];
  if (v & 0x10) {  // ICW1 starts initialization
    ch.icw4_needed = v & 1;
    ch.single = v & 2;
    ch.ltim = v & 8;
    ch.init_step = 2;
    ch.imr = ch.isr = 0;
    ch.lowest = 7;
    ch.special_mask = ch.read_isr = ch.poll = false;
    ch.rotate_aeoi = false;
    if (!ch.icw4_needed) ch.auto_eoi = ch.sfnm = false;
    // Edge detection restarts: only lines asserted in level mode request now.
    uint8_t level = ch.ltim ? 0xff : ch.elcr;
    ch.irr = ch.levels & level;
  } else if (v & 0x08) {  // OCW3
    if (v & 0x40) ch.special_mask = v & 0x20;
    if (v & 0x04) ch.poll = true;
    if (v & 0x02) ch.read_isr = v & 1;
  } else {  // OCW2
    int level = v & 7;
    switch (v >> 5) {
      case 0:
        ch.rotate_aeoi = false;
        break;
      case 4:
        ch.rotate_aeoi = true;
        break;
      case 1:
      case 5: {  // non-specific EOI (5: and rotate)
        int p = HighestInMask(ch, ch.isr);
        if (p < 8)
          Eoi(c, (ch.lowest + 1 + p) & 7, (v >> 5) == 5);
        else
          Log(LogMask::kGuestErrors, "i8259 %s: EOI with no interrupt in service",
              c ? "slave" : "master");
        break;
      }
      case 3:
      case 7:
        if (!(ch.isr & (1 << level)))
          Log(LogMask::kGuestErrors, "i8259 %s: specific EOI for IRQ %d, which is not in service",
              c ? "slave" : "master", level);
        Eoi(c, level, (v >> 5) == 7);
        break;
      case 6:
        ch.lowest = uint8_t(level);
        break;
      case 2:
        break;  // no operation
    }
  }
  Update();
}

void I8259::WriteData(int c, uint8_t v) {
  Chip& ch = chips_[c];
  switch (ch.init_step) {
    case 2:
      ch.vector_base = v & 0xf8;
      ch.init_step = ch.single ? (ch.icw4_needed ? 4 : 0) : 3;
      break;
    case 3:
      ch.icw3 = v;
      ch.init_step = ch.icw4_needed ? 4 : 0;
      break;
    case 4:
      ch.auto_eoi = v & 2;
      ch.sfnm = v & 0x10;
      if (!(v & 1))
        LogUnimplemented("i8259:8080", "i8259: unimplemented: 8080/8085 mode (ICW4=0x%02x)", v);
      ch.init_step = 0;
      break;
    default:
      ch.imr = v;
      break;
  }
  Update();
}

uint8_t I8259::ReadCmd(int c) {
  Chip& ch = chips_[c];
  if (ch.poll) {  // a poll read acts as an interrupt acknowledge on this chip
    ch.poll = false;
    int irq = PendingIrq(c);
    if (irq < 0) return 0;
    AckOn(c, irq);
    Update();
    return uint8_t(0x80 | irq);
  }
  return ch.read_isr ? ch.isr : ch.irr;
}

void I8259::SaveState(StateWriter& w) const {
  for (const Chip& ch : chips_) {
    w.U8(ch.irr), w.U8(ch.isr), w.U8(ch.imr), w.U8(ch.levels), w.U8(ch.elcr);
    w.U8(ch.lowest), w.U8(ch.vector_base), w.U8(ch.icw3), w.U8(ch.init_step);
    w.U8(uint8_t(ch.icw4_needed | ch.single << 1 | ch.ltim << 2 | ch.auto_eoi << 3 |
                 ch.rotate_aeoi << 4 | ch.sfnm << 5 | ch.special_mask << 6 | ch.read_isr << 7));
    w.U8(ch.poll);
  }
}

void I8259::LoadState(StateReader& r) {
  for (Chip& ch : chips_) {
    ch.irr = r.U8(), ch.isr = r.U8(), ch.imr = r.U8(), ch.levels = r.U8();
    ch.elcr = r.U8() & ch.elcr_mask;
    ch.lowest = r.U8() & 7, ch.vector_base = r.U8() & 0xf8, ch.icw3 = r.U8();
    ch.init_step = r.U8();
    if (ch.init_step > 4 || ch.init_step == 1) ch.init_step = 0;
    uint8_t f = r.U8();
    ch.icw4_needed = f & 1, ch.single = f & 2, ch.ltim = f & 4, ch.auto_eoi = f & 8;
    ch.rotate_aeoi = f & 16, ch.sfnm = f & 32, ch.special_mask = f & 64, ch.read_isr = f & 128;
    ch.poll = r.U8() & 1;
  }
  Update();
}

}  // namespace emu::hw
