// Registration of the user-creatable devices (-device NAME,...).
#pragma once

#include "hw/core/device.h"

namespace emu::hw {

// Adds every built-in device that -device can create to `r`.
void RegisterBuiltinDevices(DeviceRegistry& r);

}  // namespace emu::hw
