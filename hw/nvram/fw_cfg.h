// The fw_cfg firmware configuration device, I/O-port flavour, as SeaBIOS expects
// it on a PC (written from the published fw_cfg interface specification):
//
//   0x510  16-bit selector (write): picks an item, rewinds its read offset
//   0x511  8-bit data: the next byte of the selected item (0 past its end)
//   0x514  DMA address, 64-bit big-endian; the high half at 0x514, the low half at
//          0x518. Writing the low half starts the transfer. Reading the register
//          returns "QEMU CFG" so firmware can detect DMA support.
//
// Items are numbered by 16-bit keys; key 0x19 is a directory of named files
// (sorted by name) whose keys start at 0x20. Everything the guest sends through
// DMA (descriptor address, buffer address, lengths) is bounded before use: a bad
// transfer sets the error bit in the descriptor, it never touches host memory
// outside guest RAM.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw/core/device.h"

namespace emu::hw {

// Keys of the fw_cfg specification.
enum FwCfgKey : uint16_t {
  kFwCfgSignature = 0x00,
  kFwCfgId = 0x01,
  kFwCfgUuid = 0x02,
  kFwCfgRamSize = 0x03,
  kFwCfgNoGraphic = 0x04,
  kFwCfgNbCpus = 0x05,
  kFwCfgMachineId = 0x06,
  kFwCfgKernelAddr = 0x07,
  kFwCfgKernelSize = 0x08,
  kFwCfgKernelCmdline = 0x09,
  kFwCfgInitrdAddr = 0x0a,
  kFwCfgInitrdSize = 0x0b,
  kFwCfgBootDevice = 0x0c,
  kFwCfgNuma = 0x0d,
  kFwCfgBootMenu = 0x0e,
  kFwCfgMaxCpus = 0x0f,
  kFwCfgKernelEntry = 0x10,
  kFwCfgKernelData = 0x11,
  kFwCfgInitrdData = 0x12,
  kFwCfgCmdlineAddr = 0x13,
  kFwCfgCmdlineSize = 0x14,
  kFwCfgCmdlineData = 0x15,
  kFwCfgSetupAddr = 0x16,
  kFwCfgSetupSize = 0x17,
  kFwCfgSetupData = 0x18,
  kFwCfgFileDir = 0x19,
  kFwCfgFileFirst = 0x20,
  kFwCfgWriteChannel = 0x4000,
  kFwCfgArchLocal = 0x8000,
  // x86 architecture-local keys.
  kFwCfgAcpiTables = 0x8000,
  kFwCfgSmbiosEntries = 0x8001,
  kFwCfgIrq0Override = 0x8002,
  kFwCfgE820Table = 0x8003,
  kFwCfgHpet = 0x8004,
  kFwCfgInvalid = 0xffff,
};

// Bits of the DMA descriptor's control word.
constexpr uint32_t kFwCfgDmaError = 0x01;
constexpr uint32_t kFwCfgDmaRead = 0x02;
constexpr uint32_t kFwCfgDmaSkip = 0x04;
constexpr uint32_t kFwCfgDmaSelect = 0x08;
constexpr uint32_t kFwCfgDmaWrite = 0x10;

// Bits of the FW_CFG_ID item.
constexpr uint32_t kFwCfgFeatureTraditional = 1;
constexpr uint32_t kFwCfgFeatureDma = 2;

constexpr uint16_t kFwCfgPortBase = 0x510;     // selector; data at +1
constexpr uint16_t kFwCfgDmaPortBase = 0x514;  // 8 bytes
constexpr size_t kFwCfgMaxFileName = 56;        // including the terminating NUL

class FwCfg : public Device {
 public:
  // `memory` is where DMA descriptors and buffers live (guest physical memory).
  FwCfg(AddressSpace* memory, bool dma = true);
  ~FwCfg() override;

  // Places the selector/data ports and the DMA ports into the port space. The port
  // space must outlive the device (the destructor unplugs the ports).
  void MapPorts(MemoryRegion* io_root, uint16_t base = kFwCfgPortBase,
                uint16_t dma_base = kFwCfgDmaPortBase);

  // Numbered items. Integers are stored little-endian, as the spec says.
  void SetBytes(uint16_t key, std::vector<uint8_t> data);
  void SetU16(uint16_t key, uint16_t v);
  void SetU32(uint16_t key, uint32_t v);
  void SetU64(uint16_t key, uint64_t v);
  void SetString(uint16_t key, const std::string& s);  // with its NUL

  // Named files. AddFile throws std::logic_error for a duplicate or too long name
  // (a wiring bug); SetFile adds or replaces. Returns the file's key.
  uint16_t AddFile(const std::string& name, std::vector<uint8_t> data);
  uint16_t SetFile(const std::string& name, std::vector<uint8_t> data);
  // Makes a file writable by DMA (e.g. "etc/..." items firmware writes back).
  void SetFileWritable(const std::string& name, bool writable);
  bool HasFile(const std::string& name) const { return files_.count(name) != 0; }
  // Current contents of a file or item (tests, and items the guest may write).
  const std::vector<uint8_t>* Item(uint16_t key) const;
  const std::vector<uint8_t>* File(const std::string& name) const;

  // Register-level access, as the port handlers call them.
  void WriteSelector(uint16_t key);
  uint8_t ReadData();
  // One DMA transfer whose descriptor is at guest physical `desc_addr`.
  void DoDma(uint64_t desc_addr);

  void Reset() override;
  // Only the access state; the items are rebuilt by the machine on restore.
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  struct Entry {
    std::vector<uint8_t> data;
    bool writable = false;
  };
  Entry* Current();
  void RebuildDirectory();
  bool GuestRamRange(uint64_t addr, uint64_t len, bool for_write);
  uint32_t DmaTransfer(uint32_t control, uint32_t length, uint64_t address);

  AddressSpace* memory_;
  bool dma_enabled_;
  std::map<uint16_t, Entry> items_;
  std::map<std::string, uint16_t> files_;  // name -> key
  uint16_t next_file_key_ = kFwCfgFileFirst;
  uint16_t selector_ = kFwCfgInvalid;
  uint64_t offset_ = 0;
  MemoryRegion* io_root_ = nullptr;
  uint8_t dma_addr_[8] = {};
  std::unique_ptr<MemoryRegion> ports_, dma_ports_;
};

}  // namespace emu::hw
