#include "hw/char/serial.h"

#include <stdexcept>
#include <string>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
enum Reg { kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kLsrErrors = 0x1e;  // OE, PE, FE, BI: the line-status interrupt sources
constexpr uint8_t kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRx = 1, kIerThre = 2, kIerLsr = 4, kIerMsr = 8;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
constexpr int64_t kUartClockHz = 115200;  // 1.8432 MHz / 16
}  // namespace

Serial::Port Serial::ComPort(int index) {
  static const Port kPorts[4] = {{0x3f8, 4}, {0x2f8, 3}, {0x3e8, 4}, {0x2e8, 3}};
  if (index < 0 || index > 3) throw ConfigError("serial: no COM" + std::to_string(index + 1));
  return kPorts[index];
}

Serial::Serial(MemoryRegion* io, Clock* clock, uint16_t iobase, IrqLine* irq, CharDev* chr)
    : Device("serial"),
      io_(io),
      clock_(clock),
      iobase_(iobase),
      irq_(irq),
      chr_(chr),
      timeout_(clock, [this] {
        if (rx_count_ > 0 && fifo_enabled()) timeout_pending_ = true;
        UpdateIrq();
      }) {
  MmioOps ops;
  ops.min_size = ops.max_size = 1;
  ops.read = [this](uint64_t off, unsigned) -> uint64_t { return Read(unsigned(off)); };
  ops.write = [this](uint64_t off, uint64_t v, unsigned) { Write(unsigned(off), uint8_t(v)); };
  mr_ = MemoryRegion::Mmio("serial", 8, ops);
  io_->AddSubregion(iobase, mr_.get());
  if (chr_) {
    CharDev::Frontend fe;
    fe.can_receive = [this] { return CanReceive(); };
    fe.receive = [this](const uint8_t* data, size_t len) {
      for (size_t i = 0; i < len; i++) PushRx(data[i]);
      ArmTimeout();
      UpdateIrq();
    };
    chr_->SetFrontend(std::move(fe));
  }
  Reset();
}

Serial::~Serial() {
  if (chr_) chr_->SetFrontend({});
  io_->RemoveSubregion(mr_.get());
}

void Serial::Reset() {
  ier_ = lcr_ = mcr_ = fcr_ = scr_ = 0;
  lsr_ = kLsrThre | kLsrTemt;
  msr_ = 0;
  ClearRx();
  thre_pending_ = false;
  UpdateModemStatus();
  msr_ &= 0xf0;  // no deltas after reset
  UpdateIrq();
}

int Serial::Trigger() const {
  if (!fifo_enabled()) return 1;
  static const int kLevels[4] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

size_t Serial::CanReceive() const {
  if (mcr_ & kMcrLoop) return 0;  // the receiver listens to the transmitter only
  int cap = fifo_enabled() ? kFifoSize : 1;
  return size_t(cap - rx_count_);
}

void Serial::PushRx(uint8_t b) {
  int cap = fifo_enabled() ? kFifoSize : 1;
  if (rx_count_ >= cap) {
    lsr_ |= kLsrOe;  // the character in the shift register is lost
    return;
  }
  rx_[(rx_head_ + rx_count_) % kFifoSize] = b;
  rx_count_++;
  lsr_ |= kLsrDr;
}

uint8_t Serial::PopRx() {
  if (rx_count_ == 0) return 0;
  uint8_t b = rx_[rx_head_];
  rx_head_ = (rx_head_ + 1) % kFifoSize;
  if (--rx_count_ == 0) lsr_ &= uint8_t(~kLsrDr);
  return b;
}

void Serial::ClearRx() {
  rx_head_ = rx_count_ = 0;
  lsr_ &= uint8_t(~kLsrDr);
  timeout_pending_ = false;
  timeout_.Del();
}

void Serial::ArmTimeout() {
  if (!fifo_enabled() || rx_count_ == 0) {
    timeout_.Del();
    return;
  }
  // 4 character times of 10 bits at the programmed rate.
  int64_t div = divisor_ ? divisor_ : 1;
  timeout_.Mod(clock_->Now() + 4 * 10 * div * kNsPerSec / kUartClockHz);
}

uint8_t Serial::Iir() const {
  uint8_t fifo = fifo_enabled() ? 0xc0 : 0;
  if ((ier_ & kIerLsr) && (lsr_ & kLsrErrors)) return fifo | 0x06;
  if ((ier_ & kIerRx) && rx_count_ >= Trigger()) return fifo | 0x04;
  if ((ier_ & kIerRx) && timeout_pending_) return fifo | 0x0c;
  if ((ier_ & kIerThre) && thre_pending_) return fifo | 0x02;
  if ((ier_ & kIerMsr) && (msr_ & 0x0f)) return fifo;
  return fifo | 0x01;
}

void Serial::UpdateIrq() {
  bool level = !(Iir() & 1) && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
  if (irq_ && irq_->level() != level) irq_->Set(level);
}

void Serial::UpdateModemStatus() {
  uint8_t in;
  if (mcr_ & kMcrLoop) {
    in = uint8_t((mcr_ & 2 ? kMsrCts : 0) | (mcr_ & 1 ? kMsrDsr : 0) | (mcr_ & 4 ? kMsrRi : 0) |
                 (mcr_ & 8 ? kMsrDcd : 0));
  } else {
    in = kMsrCts | kMsrDsr | kMsrDcd;  // a modem that is always there and ready
  }
  uint8_t old = msr_ & 0xf0, changed = in ^ old;
  if (changed & kMsrCts) msr_ |= 0x01;
  if (changed & kMsrDsr) msr_ |= 0x02;
  if ((old & kMsrRi) && !(in & kMsrRi)) msr_ |= 0x04;  // trailing edge of RI
  if (changed & kMsrDcd) msr_ |= 0x08;
  msr_ = uint8_t((msr_ & 0x0f) | in);
}

void Serial::Transmit(uint8_t b) {
  if (mcr_ & kMcrLoop) {
    PushRx(b);
    ArmTimeout();
  } else if (chr_) {
    chr_->Write(&b, 1);
  }
  thre_pending_ = true;  // THR is empty again at once
}

uint8_t Serial::Read(unsigned reg) {
  uint8_t v = 0;
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) return uint8_t(divisor_);
      v = PopRx();
      timeout_pending_ = false;
      ArmTimeout();
      break;
    case kIer:
      if (lcr_ & kLcrDlab) return uint8_t(divisor_ >> 8);
      return ier_;
    case kIir:
      v = Iir();
      if ((v & 0x0f) == 0x02) thre_pending_ = false;  // reading IIR acknowledges THRE
      break;
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      v = lsr_;
      lsr_ &= uint8_t(~kLsrErrors);
      break;
    case kMsr:
      v = msr_;
      msr_ &= 0xf0;
      break;
    default:
      return scr_;
  }
  UpdateIrq();
  return v;
}

void Serial::Write(unsigned reg, uint8_t v) {
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) {
        divisor_ = uint16_t((divisor_ & 0xff00) | v);
        return;
      }
      thre_pending_ = false;
      Transmit(v);
      break;
    case kIer: {
      if (lcr_ & kLcrDlab) {
        divisor_ = uint16_t((divisor_ & 0x00ff) | v << 8);
        return;
      }
      uint8_t old = ier_;
      ier_ = v & 0x0f;
      // Enabling the THRE interrupt while THR is empty raises it (Linux probes this).
      if ((ier_ & kIerThre) && !(old & kIerThre)) thre_pending_ = true;
      break;
    }
    case kIir: {  // FCR
      bool was = fifo_enabled();
      fcr_ = v & 0xc9;  // enable, DMA mode, trigger level
      if (was != fifo_enabled() || (v & 2)) ClearRx();
      ArmTimeout();
      break;
    }
    case kLcr:
      lcr_ = v;
      break;
    case kMcr:
      mcr_ = v & 0x1f;
      UpdateModemStatus();
      break;
    case kLsr:
    case kMsr:  // read-only (writable for factory tests only)
      Log(LogMask::kGuestErrors, "serial: write 0x%02x to read-only register %s", v,
          reg == kLsr ? "LSR" : "MSR");
      return;
    default:
      scr_ = v;
      return;
  }
  UpdateIrq();
}

void Serial::SaveState(StateWriter& w) const {
  w.Bytes(rx_.data(), rx_.size());
  w.U8(uint8_t(rx_head_)), w.U8(uint8_t(rx_count_));
  w.U8(ier_), w.U8(lcr_), w.U8(mcr_), w.U8(lsr_), w.U8(msr_), w.U8(scr_), w.U8(fcr_);
  w.U16(divisor_), w.U8(thre_pending_), w.U8(timeout_pending_);
}

void Serial::LoadState(StateReader& r) {
  r.Bytes(rx_.data(), rx_.size());
  rx_head_ = r.U8() % kFifoSize;
  rx_count_ = r.U8();
  if (rx_count_ > kFifoSize) rx_count_ = kFifoSize;
  ier_ = r.U8() & 0x0f, lcr_ = r.U8(), mcr_ = r.U8() & 0x1f, lsr_ = r.U8(), msr_ = r.U8();
  scr_ = r.U8(), fcr_ = r.U8() & 0xc9;
  divisor_ = r.U16(), thre_pending_ = r.U8() & 1, timeout_pending_ = r.U8() & 1;
  ArmTimeout();
  UpdateIrq();
}

}  // namespace emu::hw
