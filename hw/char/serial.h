// 16550A UART on the ISA bus (8 ports at `iobase`).
//
// Transmission is instantaneous: a byte written to THR goes straight to the
// CharDev (or, in loopback, into the receive FIFO), so THR and the transmitter are
// always empty again when the guest looks. The THRE interrupt follows the chip:
// it is raised when THR empties and when IER's THRE enable goes from 0 to 1, and
// is cleared by reading IIR (while it is the reported source) or writing THR.
// Received bytes come from CharDev input, limited to the free FIFO space; the
// character timeout (4 character times at the programmed baud rate) runs on the
// virtual clock. As on a PC, the IRQ output is gated by MCR OUT2 and is inactive
// in loopback mode (the chip forces its OUT2 pin inactive there).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "hw/core/chardev.h"
#include "hw/core/device.h"

namespace emu::hw {

class Serial : public Device {
 public:
  struct Port {
    uint16_t iobase;
    int irq;
  };
  // The standard PC assignment of COM1-COM4 (index 0-3).
  static Port ComPort(int index);

  // `irq` and `chr` may be null. `io`, `clock` and `chr` must outlive the device.
  Serial(MemoryRegion* io, Clock* clock, uint16_t iobase, IrqLine* irq, CharDev* chr);
  ~Serial() override;

  uint16_t iobase() const { return iobase_; }

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  static constexpr int kFifoSize = 16;

  uint8_t Read(unsigned reg);
  void Write(unsigned reg, uint8_t v);
  uint8_t Iir() const;
  void Transmit(uint8_t b);
  void PushRx(uint8_t b);
  uint8_t PopRx();
  void ClearRx();
  size_t CanReceive() const;
  void UpdateIrq();
  void UpdateModemStatus();
  void ArmTimeout();
  bool fifo_enabled() const { return fcr_ & 1; }
  int Trigger() const;

  MemoryRegion* io_;
  Clock* clock_;
  uint16_t iobase_;
  IrqLine* irq_;
  CharDev* chr_;
  std::array<uint8_t, kFifoSize> rx_{};
  int rx_head_ = 0, rx_count_ = 0;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, lsr_ = 0, msr_ = 0, scr_ = 0, fcr_ = 0;
  uint16_t divisor_ = 12;  // 9600 baud
  bool thre_pending_ = false;
  bool timeout_pending_ = false;
  Timer timeout_;
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
