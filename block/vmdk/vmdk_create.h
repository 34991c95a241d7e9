// Creating VMDK images laid out as qemu-img lays them out.
#pragma once

#include <string>

#include "block/format.h"

namespace emu::block::vmdk {

// Options: size, subformat (monolithicSparse, monolithicFlat, twoGbMaxExtentSparse,
// twoGbMaxExtentFlat, streamOptimized), adapter_type (ide, lsilogic, buslogic,
// legacyESX), hwversion, toolsversion, zeroed_grain. Unknown keys are refused.
Status CreateVmdk(const std::string& path, const CreateOptions& opts);

}  // namespace emu::block::vmdk
