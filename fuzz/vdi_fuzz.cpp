// libFuzzer target: VDI header, block map and data access on an in-memory image.
#include "fuzz/vv_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  emu::block::fuzz::OpenAndExercise(emu::block::VdiFormat(), data, size);
  return 0;
}
