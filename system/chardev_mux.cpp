// The mux: one back end shared by several front ends, with Ctrl-a escape keys.
#include <stdexcept>

#include "hw/core/device.h"
#include "system/chardev.h"
#include "system/main_loop.h"

namespace emu::system {

namespace {
constexpr uint8_t kEscape = 0x01;  // Ctrl-a
// Input kept per front end while it does not read; beyond that keys are dropped
// (an overrun) so that the escape keys keep working even if the guest never reads.
constexpr size_t kMuxQueue = 4096;

const char kHelp[] =
    "\r\n"
    "C-a h    print this help\r\n"
    "C-a x    exit emu\r\n"
    "C-a c    switch between console and monitor\r\n"
    "C-a C-a  send C-a\r\n";
}  // namespace

void MuxFrontend::Write(const uint8_t* data, size_t len) { mux_.backend_->Write(data, len); }

bool MuxFrontend::focused() const {
  const auto& fe = mux_.frontends_;
  return mux_.focus_ < int(fe.size()) && fe[size_t(mux_.focus_)].get() == this;
}

MuxChardev::MuxChardev(std::unique_ptr<hw::CharDev> backend, MainLoop& loop)
    : backend_(std::move(backend)), loop_(loop) {
  backend_->SetFrontend({[this]() -> size_t {
                           // Always accept: escape keys must get through; see kMuxQueue.
                           return kMuxQueue;
                         },
                         [this](const uint8_t* d, size_t n) { Receive(d, n); }});
}

MuxChardev::~MuxChardev() { backend_->SetFrontend({}); }

MuxFrontend* MuxChardev::AddFrontend() {
  if (frontends_.size() >= size_t(kMaxFrontends))
    throw hw::ConfigError("a mux chardev takes at most 4 front ends");
  frontends_.push_back(std::unique_ptr<MuxFrontend>(new MuxFrontend(*this, loop_)));
  return frontends_.back().get();
}

void MuxChardev::SetFocus(int index) {
  if (index < 0 || index >= int(frontends_.size()) || index == focus_) return;
  MuxFrontend* old = frontends_[size_t(focus_)].get();
  focus_ = index;
  if (old->on_focus_) old->on_focus_(false);
  MuxFrontend* now = frontends_[size_t(focus_)].get();
  if (now->on_focus_) now->on_focus_(true);
}

void MuxChardev::ToFocused(const uint8_t* data, size_t len) {
  if (frontends_.empty() || len == 0) return;
  MuxFrontend& fe = *frontends_[size_t(focus_)];
  // Bytes beyond kMuxQueue are dropped by the queue (see kMuxQueue).
  fe.queue_.Push(data, len);
}

void MuxChardev::Escape(uint8_t key) {
  switch (key) {
    case 'h':
    case 'H':
    case '?':
      backend_->WriteString(kHelp);
      break;
    case 'x':
    case 'X':
      backend_->WriteString("\r\nemu: terminated\r\n");
      loop_.RequestExit(0);
      break;
    case 'c':
    case 'C':
      if (!frontends_.empty()) SetFocus((focus_ + 1) % int(frontends_.size()));
      break;
    case kEscape:
      ToFocused(&key, 1);
      break;
    default:
      break;  // unknown escapes are swallowed
  }
}

void MuxChardev::Receive(const uint8_t* data, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (escape_) {
      escape_ = false;
      start = i + 1;
      Escape(data[i]);
    } else if (data[i] == kEscape) {
      ToFocused(data + start, i - start);
      escape_ = true;
      start = i + 1;
    }
  }
  if (!escape_ && start < len) ToFocused(data + start, len - start);
}

}  // namespace emu::system
