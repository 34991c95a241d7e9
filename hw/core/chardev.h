// Character device: the back end of a serial port, debugcon or monitor.
// Implementations (stdio, file, pty, tcp, unix, null, mux) live in system/.
//
// Output (Write) may be called from any thread holding the machine lock. Input is
// delivered on the main loop thread, under the machine lock, only while the
// front end's can_receive() returns non-zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace emu::hw {

class CharDev {
 public:
  virtual ~CharDev() = default;
  virtual void Write(const uint8_t* data, size_t len) = 0;
  void WriteString(const std::string& s) {
    Write(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }

  struct Frontend {
    std::function<size_t()> can_receive;  // how many bytes the device can take now
    std::function<void(const uint8_t*, size_t)> receive;
  };
  void SetFrontend(Frontend f) { frontend_ = std::move(f); }

  // Called by implementations with input. Returns how many bytes were taken.
  size_t Deliver(const uint8_t* data, size_t len) {
    if (!frontend_.receive) return len;  // nobody listens: drop
    size_t room = frontend_.can_receive ? frontend_.can_receive() : len;
    if (room > len) room = len;
    if (room) frontend_.receive(data, room);
    return room;
  }
  size_t CanDeliver() const {
    if (!frontend_.receive) return SIZE_MAX;
    return frontend_.can_receive ? frontend_.can_receive() : SIZE_MAX;
  }

 private:
  Frontend frontend_;
};

// A CharDev that records output in memory and can be fed input: for tests.
class BufferCharDev : public CharDev {
 public:
  void Write(const uint8_t* data, size_t len) override { out.append((const char*)data, len); }
  std::string out;
};

}  // namespace emu::hw
