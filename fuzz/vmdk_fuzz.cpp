// libFuzzer target: VMDK sparse header, embedded descriptor, grain directory and
// tables, compressed grains and markers on an in-memory image.
#include "fuzz/vv_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  emu::block::fuzz::OpenAndExercise(emu::block::VmdkFormat(), data, size);
  return 0;
}
