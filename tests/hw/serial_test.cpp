#include "hw/char/serial.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::IsaBus;

constexpr uint16_t kBase = 0x3f8;
enum { RBR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

class SerialTest : public ::testing::Test {
 protected:
  SerialTest() : uart(bus.root.get(), &bus.clock, kBase, &irq, &chr) {}
  void Out(int reg, uint8_t v) { bus.Out(uint16_t(kBase + reg), v); }
  uint8_t In(int reg) { return bus.In(uint16_t(kBase + reg)); }
  size_t Deliver(const std::string& s) {
    return chr.Deliver(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }

  IsaBus bus;
  IrqLine irq;
  BufferCharDev chr;
  Serial uart;
};

TEST_F(SerialTest, ComPortTable) {
  EXPECT_EQ(Serial::ComPort(0).iobase, 0x3f8);
  EXPECT_EQ(Serial::ComPort(0).irq, 4);
  EXPECT_EQ(Serial::ComPort(1).iobase, 0x2f8);
  EXPECT_EQ(Serial::ComPort(1).irq, 3);
  EXPECT_EQ(Serial::ComPort(2).iobase, 0x3e8);
  EXPECT_EQ(Serial::ComPort(3).iobase, 0x2e8);
  EXPECT_EQ(Serial::ComPort(3).irq, 3);
  EXPECT_THROW(Serial::ComPort(4), ConfigError);
}

TEST_F(SerialTest, ResetStateAndScratch) {
  EXPECT_EQ(In(LSR), 0x60);
  EXPECT_EQ(In(IIR), 0x01);
  EXPECT_EQ(In(IER), 0x00);
  Out(SCR, 0xa5);
  EXPECT_EQ(In(SCR), 0xa5);
}

TEST_F(SerialTest, DivisorLatch) {
  Out(LCR, 0x83);
  Out(RBR, 0x01);  // 115200 baud
  Out(IER, 0x00);
  EXPECT_EQ(In(RBR), 0x01);
  EXPECT_EQ(In(IER), 0x00);
  Out(LCR, 0x03);
  EXPECT_EQ(In(LCR), 0x03);
  Out(IER, 0x05);
  EXPECT_EQ(In(IER), 0x05);
  Out(LCR, 0x83);
  EXPECT_EQ(In(RBR), 0x01);  // IER write did not touch DLL
  Out(LCR, 0x03);
}

TEST_F(SerialTest, OutputReachesTheChardev) {
  for (char c : std::string("hello\n")) Out(RBR, uint8_t(c));
  EXPECT_EQ(chr.out, "hello\n");
  EXPECT_EQ(In(LSR) & 0x60, 0x60);
}

TEST_F(SerialTest, ThreInterruptAsLinuxProbesIt) {
  Out(MCR, 0x08);  // OUT2: IRQ routed on a PC
  EXPECT_FALSE(irq.level());
  Out(IER, 0x02);
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(In(IIR), 0x02);
  // Reading IIR acknowledged THRE.
  EXPECT_EQ(In(IIR), 0x01);
  EXPECT_FALSE(irq.level());
  // Clearing and setting the enable again re-asserts it (Linux's UART_BUG_THRE test).
  Out(IER, 0x00);
  Out(IER, 0x02);
  EXPECT_EQ(In(IIR), 0x02);
  // Writing THR: the byte leaves at once and THRE interrupts again.
  Out(RBR, 'x');
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(In(IIR), 0x02);
  EXPECT_EQ(chr.out, "x");
  // Without OUT2 the line stays low even with an interrupt pending.
  Out(IER, 0x00);
  Out(MCR, 0x00);
  Out(IER, 0x02);
  EXPECT_FALSE(irq.level());
  EXPECT_EQ(In(IIR), 0x02);
}

// The probes of Linux's 8250 driver (autoconfig, autoconfig_16550a, startup).
TEST_F(SerialTest, LinuxAutoconfigSeesA16550A) {
  // IER: the upper nibble is not writable.
  uint8_t saved = In(IER);
  Out(IER, 0);
  EXPECT_EQ(In(IER) & 0x0f, 0);
  Out(IER, 0x0f);
  EXPECT_EQ(In(IER) & 0x0f, 0x0f);
  Out(IER, saved);
  // Loopback with RTS and OUT2 shows CTS and DCD.
  uint8_t mcr = In(MCR);
  Out(MCR, 0x10 | 0x0a);
  EXPECT_EQ(In(MSR) & 0xf0, 0x90);
  Out(MCR, mcr);
  // FIFO present and working: IIR bits 7-6 both set.
  Out(IIR, 0x01);
  EXPECT_EQ(In(IIR) >> 6, 3);
  // No EFR (not a 16650/16750): offset 2 with LCR 0x80/0xbf is still IIR, non-zero.
  Out(LCR, 0x80);
  EXPECT_NE(In(IIR), 0);
  Out(LCR, 0xbf);
  EXPECT_NE(In(IIR), 0);
  Out(LCR, 0x03);
  // Not an XScale UART: IER bit 6 does not stick.
  Out(IER, 0x40);
  EXPECT_EQ(In(IER) & 0x40, 0);
  Out(IER, 0);
  // startup: TX interrupt appears when enabled (no UART_BUG_TXEN).
  Out(IER, 0x02);
  uint8_t lsr = In(LSR), iir = In(IIR);
  Out(IER, 0);
  EXPECT_TRUE(lsr & 0x40);
  EXPECT_FALSE(iir & 0x01);
  // startup: THRE re-asserts after IER is cleared and set (no UART_BUG_THRE).
  Out(IER, 0x02);
  uint8_t iir1 = In(IIR);
  Out(IER, 0);
  Out(IER, 0x02);
  uint8_t iir2 = In(IIR);
  Out(IER, 0);
  EXPECT_FALSE(iir1 & 0x01);
  EXPECT_FALSE(iir2 & 0x01);
}

TEST_F(SerialTest, LoopbackMode) {
  Out(MCR, 0x10 | 0x0f);
  EXPECT_EQ(In(MSR) & 0xf0, 0xf0);  // DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
  Out(RBR, 'L');
  EXPECT_EQ(chr.out, "");
  EXPECT_EQ(In(LSR) & 0x01, 0x01);
  EXPECT_EQ(In(RBR), 'L');
  EXPECT_EQ(In(LSR) & 0x01, 0x00);
  EXPECT_EQ(chr.CanDeliver(), 0u);  // the receiver does not listen to the line
  // Modem status deltas.
  In(MSR);
  Out(MCR, 0x10 | 0x0a);  // drop DTR and OUT1
  uint8_t msr = In(MSR);
  EXPECT_EQ(msr & 0xf0, 0x90);
  EXPECT_EQ(msr & 0x0f, 0x02 | 0x04);  // DDSR, TERI
  EXPECT_EQ(In(MSR) & 0x0f, 0x00);
  // Leaving loopback: a present modem (CTS, DSR, DCD).
  Out(MCR, 0x00);
  EXPECT_EQ(In(MSR) & 0xf0, 0xb0);
}

TEST_F(SerialTest, ModemStatusInterrupt) {
  Out(MCR, 0x08);
  In(MSR);
  Out(IER, 0x08);
  EXPECT_FALSE(irq.level());
  Out(MCR, 0x18);  // entering loopback changes the modem inputs (and gates the IRQ)
  EXPECT_EQ(In(IIR), 0x00);
  In(MSR);
  EXPECT_EQ(In(IIR), 0x01);
}

TEST_F(SerialTest, RxFifoTriggerLevelsAndInterrupt) {
  constexpr int FCR = IIR;
  Out(MCR, 0x08);
  Out(IER, 0x01);
  const int levels[4] = {1, 4, 8, 14};
  for (int t = 0; t < 4; t++) {
    Out(FCR, uint8_t(t << 6 | 0x03));  // enable + clear RX
    EXPECT_EQ(In(LSR) & 0x01, 0);
    EXPECT_EQ(Deliver(std::string(size_t(levels[t] - 1), 'a')), size_t(levels[t] - 1));
    if (levels[t] > 1) {
      EXPECT_EQ(In(IIR), 0xc1) << t;
      EXPECT_FALSE(irq.level());
    }
    EXPECT_EQ(Deliver("b"), 1u);
    EXPECT_EQ(In(IIR), 0xc4) << t;
    EXPECT_TRUE(irq.level());
    In(RBR);  // below the trigger again
    if (levels[t] > 1) {
      EXPECT_EQ(In(IIR), 0xc1) << t;
    }
  }
  // Non-FIFO mode: one byte raises the interrupt.
  Out(FCR, 0x00);
  EXPECT_EQ(Deliver("xy"), 1u);
  EXPECT_EQ(In(IIR), 0x04);
  EXPECT_EQ(In(RBR), 'x');
  EXPECT_EQ(In(IIR), 0x01);
}

TEST_F(SerialTest, CharacterTimeout) {
  Out(LCR, 0x83);
  Out(RBR, 0x01);  // 115200 baud: one character is ~86.8 us
  Out(LCR, 0x03);
  Out(MCR, 0x08);
  Out(IER, 0x01);
  Out(IIR, 0x81);  // FIFO, trigger 8
  Deliver("ab");
  EXPECT_EQ(In(IIR), 0xc1);
  bus.Advance(300000, 10000);
  EXPECT_EQ(In(IIR), 0xc1);  // not yet 4 character times
  bus.Advance(100000, 10000);
  EXPECT_EQ(In(IIR), 0xcc);
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(In(RBR), 'a');  // reading restarts the timeout
  EXPECT_EQ(In(IIR), 0xc1);
  bus.Advance(400000, 10000);
  EXPECT_EQ(In(IIR), 0xcc);
  EXPECT_EQ(In(RBR), 'b');
  EXPECT_EQ(In(IIR), 0xc1);
  bus.Advance(kNsPerSec / 100, 100000);
  EXPECT_EQ(In(IIR), 0xc1);  // empty: no timeout
}

TEST_F(SerialTest, InputFlowControlWhenFifoFull) {
  Out(IIR, 0x01);
  EXPECT_EQ(chr.CanDeliver(), 16u);
  EXPECT_EQ(Deliver(std::string(20, 'z')), 16u);
  EXPECT_EQ(chr.CanDeliver(), 0u);
  EXPECT_EQ(In(LSR) & 0x02, 0);  // nothing lost: the rest stays with the back end
  EXPECT_EQ(In(RBR), 'z');
  EXPECT_EQ(chr.CanDeliver(), 1u);
  std::string got;
  while (In(LSR) & 1) got += char(In(RBR));
  EXPECT_EQ(got, std::string(15, 'z'));
}

TEST_F(SerialTest, OverrunSetsLineStatus) {
  Out(MCR, 0x18);  // loopback
  Out(IIR, 0x01);
  Out(IER, 0x04);
  for (int i = 0; i < 17; i++) Out(RBR, uint8_t('0' + i));
  EXPECT_EQ(In(IIR), 0xc6);
  uint8_t lsr = In(LSR);
  EXPECT_EQ(lsr & 0x03, 0x03);   // DR + OE
  EXPECT_EQ(In(LSR) & 0x02, 0);  // OE clears on read
  EXPECT_EQ(In(IIR), 0xc1);
  EXPECT_EQ(In(RBR), '0');
}

TEST_F(SerialTest, SaveAndLoad) {
  Out(IIR, 0x01);
  Deliver("qr");
  Out(SCR, 0x42);
  StateWriter w;
  uart.SaveState(w);
  uart.Reset();
  EXPECT_EQ(In(LSR) & 1, 0);
  StateReader r(w.data());
  uart.LoadState(r);
  EXPECT_EQ(In(SCR), 0x42);
  EXPECT_EQ(In(RBR), 'q');
  EXPECT_EQ(In(RBR), 'r');
}

}  // namespace
}  // namespace emu::hw
