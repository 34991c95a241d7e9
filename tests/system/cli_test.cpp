// Command line parser, in process: good lines -> MachineConfig fields, and the
// value syntax helpers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>

#include "hw/core/device.h"
#include "system/cli.h"

namespace emu::system {
namespace {

// Temp files for -kernel/-initrd, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/emu-cli-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
  std::string File(const std::string& name, const std::string& content = "x") {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

hw::DeviceRegistry TestRegistry() {
  hw::DeviceRegistry r;
  auto none = [](hw::DeviceContext&, hw::Properties&) -> std::unique_ptr<hw::Device> {
    return nullptr;
  };
  r.Register("isa-debug-exit", "test", none);
  r.Register("isa-serial", "test", none);
  return r;
}

const ChardevConfig* FindChardev(const MachineConfig& c, const std::string& id) {
  for (const auto& cd : c.chardevs)
    if (cd.id == id) return &cd;
  return nullptr;
}

std::string Prop(const ChardevConfig* c, const std::string& k) {
  if (!c) return "<no chardev>";
  auto it = c->props.find(k);
  return it == c->props.end() ? "" : it->second;
}

TEST(Cli, GoodCommandLines) {
  TempDir tmp;
  std::string kernel = tmp.File("bzImage"), initrd = tmp.File("initrd.img");
  hw::DeviceRegistry reg = TestRegistry();
  struct Case {
    std::vector<std::string> args;
    std::function<void(const MachineConfig&)> check;
  };
  std::vector<Case> cases = {
      {{"-m", "512", "-smp", "2", "-kernel", kernel, "-initrd", initrd, "-append",
        "console=ttyS0", "-nographic"},
       [&](const MachineConfig& c) {
         EXPECT_EQ(c.ram_size, 512ull << 20);
         EXPECT_EQ(c.smp, 2);
         EXPECT_EQ(c.kernel, kernel);
         EXPECT_EQ(c.initrd, initrd);
         EXPECT_EQ(c.append, "console=ttyS0");
         EXPECT_TRUE(c.nographic);
         EXPECT_EQ(c.display, "none");
         // -nographic: serial0 and the monitor share stdio through the mux.
         ASSERT_EQ(c.serial.size(), 1u);
         EXPECT_EQ(c.serial[0], "serial0");
         EXPECT_EQ(c.monitor, "serial0");
         const ChardevConfig* cd = FindChardev(c, "serial0");
         ASSERT_NE(cd, nullptr);
         EXPECT_EQ(cd->backend, "stdio");
         EXPECT_EQ(Prop(cd, "mux"), "on");
       }},
      {{"-display", "none", "-serial", "stdio", "-no-reboot", "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x4"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.display, "none");
         EXPECT_FALSE(c.nographic);
         EXPECT_TRUE(c.no_reboot);
         ASSERT_EQ(c.serial.size(), 1u);
         EXPECT_EQ(FindChardev(c, c.serial[0])->backend, "stdio");
         EXPECT_EQ(Prop(FindChardev(c, c.serial[0]), "mux"), "");
         EXPECT_EQ(c.monitor, "");
         ASSERT_EQ(c.devices.size(), 1u);
         EXPECT_EQ(c.devices[0].driver, "isa-debug-exit");
         EXPECT_EQ(c.devices[0].props.at("iobase"), "0xf4");
         EXPECT_EQ(c.devices[0].props.at("iosize"), "0x4");
         EXPECT_EQ(c.devices[0].props.count("driver"), 0u);
       }},
      {{"--m", "1G"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 1ull << 30); }},
      {{"-m", "size=2G"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 2ull << 30); }},
      {{"-m", "192"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 192ull << 20); }},
      {{"-m", "1.5G"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 3ull << 29); }},
      {{"-m", "65536K"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 64ull << 20); }},
      {{"-m", "1T"}, [](const MachineConfig& c) { EXPECT_EQ(c.ram_size, 1ull << 40); }},
      {{}, [](const MachineConfig& c) {
         EXPECT_EQ(c.ram_size, 128ull << 20);
         EXPECT_EQ(c.accel_list, std::vector<std::string>{"tcg"});
         EXPECT_EQ(c.tcg_backend, "native");
         EXPECT_EQ(c.machine, "pc");
         // COM1 exists by default with its output going nowhere.
         ASSERT_EQ(c.serial.size(), 1u);
         EXPECT_EQ(FindChardev(c, c.serial[0])->backend, "null");
       }},
      {{"-accel", "kvm:tcg"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.accel_list, (std::vector<std::string>{"kvm", "tcg"}));
         EXPECT_EQ(c.accel, "kvm:tcg");
       }},
      {{"-accel", "kvm", "-accel", "tcg"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.accel_list, (std::vector<std::string>{"kvm", "tcg"}));
       }},
      {{"-accel", "accel=tcg"},
       [](const MachineConfig& c) { EXPECT_EQ(c.accel_list, std::vector<std::string>{"tcg"}); }},
      {{"-accel", "tcg,backend=interp"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.accel_list, std::vector<std::string>{"tcg"});
         EXPECT_EQ(c.tcg_backend, "interp");
       }},
      {{"-accel", "accel=tcg,backend=native"},
       [](const MachineConfig& c) { EXPECT_EQ(c.tcg_backend, "native"); }},
      // kvm:tcg: the backend is the fallback's.
      {{"-accel", "kvm:tcg,backend=interp"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.accel_list, (std::vector<std::string>{"kvm", "tcg"}));
         EXPECT_EQ(c.tcg_backend, "interp");
       }},
      {{"-accel", "kvm", "-accel", "tcg,backend=interp"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.accel_list, (std::vector<std::string>{"kvm", "tcg"}));
         EXPECT_EQ(c.tcg_backend, "interp");
       }},
      {{"-enable-kvm"},
       [](const MachineConfig& c) { EXPECT_EQ(c.accel_list, std::vector<std::string>{"kvm"}); }},
      {{"-machine", "pc,accel=kvm"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.machine, "pc");
         EXPECT_EQ(c.accel_list, std::vector<std::string>{"kvm"});
       }},
      {{"-M", "pc-i440fx-7.2,accel=kvm:tcg,usb=off"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.machine, "pc");
         EXPECT_EQ(c.accel_list, (std::vector<std::string>{"kvm", "tcg"}));
       }},
      {{"-serial", "tcp:127.0.0.1:4444,server=on,wait=off"},
       [](const MachineConfig& c) {
         const ChardevConfig* cd = FindChardev(c, "serial0");
         ASSERT_NE(cd, nullptr);
         EXPECT_EQ(cd->backend, "socket");
         EXPECT_EQ(Prop(cd, "host"), "127.0.0.1");
         EXPECT_EQ(Prop(cd, "port"), "4444");
         EXPECT_EQ(Prop(cd, "server"), "on");
         EXPECT_EQ(Prop(cd, "wait"), "off");
       }},
      {{"-serial", "tcp::5555,server,nowait"},  // the old flag syntax
       [](const MachineConfig& c) {
         const ChardevConfig* cd = FindChardev(c, "serial0");
         EXPECT_EQ(Prop(cd, "host"), "");
         EXPECT_EQ(Prop(cd, "port"), "5555");
         EXPECT_EQ(Prop(cd, "server"), "on");
         EXPECT_EQ(Prop(cd, "wait"), "off");
       }},
      {{"-serial", "tcp:localhost:4000"},
       [](const MachineConfig& c) {
         const ChardevConfig* cd = FindChardev(c, "serial0");
         EXPECT_EQ(Prop(cd, "server"), "off");
         EXPECT_EQ(Prop(cd, "host"), "localhost");
       }},
      {{"-serial", "unix:/tmp/a,,b.sock,server=on,wait=off"},  // ",," escapes a comma
       [](const MachineConfig& c) {
         const ChardevConfig* cd = FindChardev(c, "serial0");
         EXPECT_EQ(cd->backend, "socket");
         EXPECT_EQ(Prop(cd, "path"), "/tmp/a,b.sock");
         EXPECT_EQ(Prop(cd, "server"), "on");
       }},
      {{"-chardev", "file,id=log,path=/tmp/x,,y", "-serial", "chardev:log"},
       [](const MachineConfig& c) {
         EXPECT_EQ(Prop(FindChardev(c, "log"), "path"), "/tmp/x,y");
         EXPECT_EQ(c.serial, std::vector<std::string>{"log"});
       }},
      {{"-name", "my,,guest"}, [](const MachineConfig& c) { EXPECT_EQ(c.name, "my,guest"); }},
      {{"-name", "guest=vm1"}, [](const MachineConfig& c) { EXPECT_EQ(c.name, "vm1"); }},
      {{"-serial", "file:/tmp/out,put.txt"},  // the legacy file: takes the rest verbatim
       [](const MachineConfig& c) {
         EXPECT_EQ(Prop(FindChardev(c, "serial0"), "path"), "/tmp/out,put.txt");
       }},
      {{"-serial", "mon:stdio"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.monitor, "serial0");
         EXPECT_EQ(Prop(FindChardev(c, "serial0"), "mux"), "on");
       }},
      {{"-serial", "null", "-serial", "pty", "-serial", "none", "-serial", "stdio"},
       [](const MachineConfig& c) {
         ASSERT_EQ(c.serial.size(), 4u);
         EXPECT_EQ(FindChardev(c, c.serial[0])->backend, "null");
         EXPECT_EQ(FindChardev(c, c.serial[1])->backend, "pty");
         EXPECT_EQ(c.serial[2], "");
         EXPECT_EQ(FindChardev(c, c.serial[3])->backend, "stdio");
       }},
      {{"-chardev", "socket,id=mon0,host=127.0.0.1,port=4445,server=on,wait=off", "-monitor",
        "chardev:mon0", "-debugcon", "file:/tmp/dbg.log"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.monitor, "mon0");
         EXPECT_EQ(FindChardev(c, c.debugcon)->backend, "file");
       }},
      {{"-chardev", "stdio,id=con,mux=on", "-serial", "chardev:con", "-monitor", "chardev:con"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.serial, std::vector<std::string>{"con"});
         EXPECT_EQ(c.monitor, "con");
       }},
      {{"-nographic", "-serial", "file:/tmp/s.log"},  // the monitor alone takes stdio
       [](const MachineConfig& c) {
         EXPECT_EQ(FindChardev(c, c.monitor)->backend, "stdio");
         EXPECT_EQ(FindChardev(c, c.serial[0])->backend, "file");
       }},
      {{"-nographic", "-monitor", "none"},  // the serial port alone takes stdio
       [](const MachineConfig& c) {
         EXPECT_EQ(c.monitor, "");
         EXPECT_EQ(FindChardev(c, c.serial[0])->backend, "stdio");
         EXPECT_EQ(Prop(FindChardev(c, c.serial[0]), "mux"), "");
       }},
      {{"-smp", "cpus=4,sockets=2,cores=2"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.smp, 4);
         EXPECT_EQ(c.smp_sockets, 2);
         EXPECT_EQ(c.smp_cores, 2);
         EXPECT_EQ(c.smp_threads, 1);
       }},
      {{"-smp", "sockets=2,cores=2,threads=2"}, [](const MachineConfig& c) { EXPECT_EQ(c.smp, 8); }},
      {{"-smp", "255"}, [](const MachineConfig& c) { EXPECT_EQ(c.smp, 255); }},
      {{"-cpu", "host", "-no-shutdown", "-singlestep", "-perfmap", "-d", "in_asm,int", "-D",
        "/tmp/emu.log"},
       [](const MachineConfig& c) {
         EXPECT_EQ(c.cpu_model, "host");
         EXPECT_TRUE(c.no_shutdown);
         EXPECT_TRUE(c.singlestep);
         EXPECT_TRUE(c.perf_map);
         EXPECT_EQ(c.log_items, (std::vector<std::string>{"in_asm", "int"}));
         EXPECT_EQ(c.log_file, "/tmp/emu.log");
       }},
      {{"-bios", tmp.path() + "/bzImage"},
       [&](const MachineConfig& c) { EXPECT_EQ(c.bios, tmp.path() + "/bzImage"); }},
      {{"-L", tmp.path(), "-bios", "initrd.img"},  // searched in -L directories
       [&](const MachineConfig& c) { EXPECT_EQ(c.bios, tmp.path() + "/initrd.img"); }},
      {{"-parallel", "none", "-machine", "accel=tcg"},
       [](const MachineConfig& c) { EXPECT_EQ(c.accel_list, std::vector<std::string>{"tcg"}); }},
  };
  for (const auto& tc : cases) {
    std::string line;
    for (const auto& a : tc.args) line += a + " ";
    SCOPED_TRACE("emu " + line);
    try {
      CliResult r = ParseCommandLine(tc.args, &reg);
      EXPECT_EQ(r.action, CliAction::kRun);
      tc.check(r.config);
    } catch (const CliError& e) {
      ADD_FAILURE() << "unexpected error: " << e.what();
    }
  }
}

TEST(Cli, InformationalActions) {
  hw::DeviceRegistry reg = TestRegistry();
  EXPECT_EQ(ParseCommandLine({"-version"}, &reg).action, CliAction::kVersion);
  EXPECT_EQ(ParseCommandLine({"--version"}, &reg).action, CliAction::kVersion);
  EXPECT_EQ(ParseCommandLine({"-h"}, &reg).action, CliAction::kHelp);
  EXPECT_EQ(ParseCommandLine({"-help"}, &reg).action, CliAction::kHelp);
  EXPECT_EQ(ParseCommandLine({"-device", "help"}, &reg).action, CliAction::kDeviceHelp);
  EXPECT_EQ(ParseCommandLine({"-machine", "help"}, &reg).action, CliAction::kMachineHelp);
  EXPECT_EQ(ParseCommandLine({"-accel", "help"}, &reg).action, CliAction::kAccelHelp);
  EXPECT_EQ(ParseCommandLine({"-d", "help"}, &reg).action, CliAction::kLogHelp);
  EXPECT_EQ(ParseCommandLine({"-d", "mmu,unimp,guest_errors,op,op_opt,mmu"}, &reg).config.log_items,
            (std::vector<std::string>{"mmu", "unimp", "guest_errors", "op", "op_opt"}));
  EXPECT_EQ(ParseCommandLine({"-dfilter", "0x1000..0x1fff,0x8000+0x10"}, &reg).config.log_filter,
            (std::vector<std::pair<uint64_t, uint64_t>>{{0x1000, 0x1fff}, {0x8000, 0x800f}}));
  EXPECT_NE(DeviceHelpText(reg).find("isa-debug-exit"), std::string::npos);
  std::string usage = UsageText();
  for (const char* s : {"Standard options:", "Character device options:", "-serial dev",
                        "-m [size=]megs", "Debug/Expert options:", "-nographic",
                        "-accel [accel=]kvm|tcg|kvm:tcg[,backend=native|interp]"})
    EXPECT_NE(usage.find(s), std::string::npos) << s;
}

// Errors that do not need the binary: injected registry, semantic checks.
TEST(Cli, ErrorsInProcess) {
  hw::DeviceRegistry reg = TestRegistry();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"-device", "no-such-dev"}, "-device no-such-dev: unknown device 'no-such-dev'"},
      {{"-device", "isa-debug-exit,iobase=1,,2,=x"}, "parameter without a name"},
      {{"-smp", "0"}, "the number of CPUs must be between 1 and 255"},
      {{"-smp", "256"}, "the number of CPUs must be between 1 and 255"},
      {{"-smp", "3,cores=2"}, "must equal the number of CPUs"},
      {{"-smp", "two"}, "'two' is not a number"},
      {{"-m", "1000B"}, "at least 1 MiB"},
      {{"-m", "1025G"}, "limit of 1 TiB"},
      {{"-m", "99999999999999999999999"}, "invalid RAM size"},
      {{"-m", "1G,slots=2"}, "not supported yet"},
      {{"-accel", "xen"}, "accelerator not supported"},
      {{"-accel", "foo"}, "invalid accelerator 'foo'"},
      {{"-accel", "tcg,backend=foo"},
       "-accel tcg,backend=foo: invalid backend 'foo' (available: native, interp)"},
      {{"-accel", "tcg,backend="}, "invalid backend '' (available: native, interp)"},
      {{"-accel", "kvm,backend=interp"},
       "-accel kvm,backend=interp: backend= is a property of tcg (use -accel tcg,backend=interp)"},
      {{"-enable-kvm", "-accel", "kvm,backend=native"}, "backend= is a property of tcg"},
      {{"-accel", "tcg,thread=multi"}, "-accel: unknown property 'thread'"},
      {{"-accel", "kvm", "-machine", "accel=tcg"}, "cannot be used together"},
      {{"-machine", "q35"}, "machine type not supported yet"},
      {{"-machine", "pc,foo=bar"}, "-machine: unknown property 'foo'"},
      {{"-serial", "stdio", "-monitor", "stdio"}, "stdio is used by more than one"},
      {{"-nographic", "-serial", "stdio"}, "stdio is used by more than one"},  // as QEMU
      {{"-serial", "chardev:nope"}, "no chardev with id 'nope'"},
      {{"-chardev", "null,id=a", "-serial", "chardev:a", "-monitor", "chardev:a"}, "mux=on"},
      {{"-chardev", "null,id=a", "-chardev", "null,id=a"}, "duplicate chardev id 'a'"},
      {{"-chardev", "socket,id=s"}, "socket needs port= or path="},
      {{"-chardev", "file,id=f"}, "path= is required"},
      {{"-chardev", "null"}, "id= is required"},
      {{"-chardev", "vc,id=v"}, "not supported yet"},
      {{"-chardev", "bogus,id=v"}, "unknown backend 'bogus'"},
      {{"-chardev", "socket,id=s,port=1,server=maybe"}, "expects on/off"},
      {{"-serial", "tcp:host:99999"}, "invalid port"},
      {{"-serial", "telnet::4444,server"}, "not supported yet"},
      {{"-serial", "bogus"}, "unknown character device backend 'bogus'"},
      {{"-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null", "-serial",
        "null"},
       "too many serial ports"},
      {{"-display", "sdl"}, "-display sdl: not supported yet"},
      {{"-display", "fancy"}, "unknown display type"},
      {{"-d", "in_asm,bogus"}, "-d bogus: unknown log item"},
      {{"-d", "op_ind"}, "-d op_ind: not supported yet"},
      {{"-dfilter", "0x20..0x10"}, "-dfilter 0x20..0x10: '0x20..0x10': the end comes before"},
      {{"-dfilter", "main"}, "-dfilter main: 'main' is not start..end, start+size or start-size"},
      {{"-append", "x"}, "-append requires -kernel"},
      {{"-initrd", "/etc/passwd"}, "-initrd requires -kernel"},
      {{"-bios", "/nonexistent/bios.bin"}, "-bios: cannot open '/nonexistent/bios.bin'"},
      {{"-kernel", "/dev/null"}, "-kernel: '/dev/null' is not a regular file"},
      {{"-vga", "std"}, "-vga: not supported yet"},
      {{"-S"}, "-S: not supported yet"},
      {{"disk.img"}, "not supported yet"},
  };
  for (const auto& tc : cases) {
    std::string line;
    for (const auto& a : tc.args) line += a + " ";
    SCOPED_TRACE("emu " + line);
    try {
      ParseCommandLine(tc.args, &reg);
      ADD_FAILURE() << "accepted, expected: " << tc.message;
    } catch (const CliError& e) {
      EXPECT_NE(std::string(e.what()).find(tc.message), std::string::npos)
          << "got: " << e.what();
    }
  }
}

TEST(Cli, OptValueSyntax) {
  OptValue v = ParseOptValue("-x", "drv,a=1,b=x,,y,flag,nowait", "driver", {"wait"});
  EXPECT_EQ(v.implied, "drv");
  EXPECT_EQ(v.props["driver"], "drv");
  EXPECT_EQ(v.props["a"], "1");
  EXPECT_EQ(v.props["b"], "x,y");
  EXPECT_EQ(v.props["flag"], "on");
  EXPECT_EQ(v.props["wait"], "off");
  v = ParseOptValue("-x", "a=1,a=2", "driver");
  EXPECT_EQ(v.implied, "");
  EXPECT_EQ(v.props["a"], "2");  // the last one wins
  v = ParseOptValue("-x", "k=v=w", "");
  EXPECT_EQ(v.props["k"], "v=w");
  EXPECT_THROW(ParseOptValue("-x", ",a", "driver"), CliError);  // empty first element
  v = ParseOptValue("-x", "a,,,", "driver");                    // "a," plus a trailing comma
  EXPECT_EQ(v.implied, "a,");
}

TEST(Cli, Sizes) {
  uint64_t v = 0;
  struct {
    const char* text;
    uint64_t expect;
  } good[] = {{"192", 192ull << 20}, {"1G", 1ull << 30}, {"1g", 1ull << 30},
              {"512M", 512ull << 20}, {"64k", 64ull << 10}, {"2T", 2ull << 40},
              {"4096B", 4096}, {"0.5G", 512ull << 20}, {"0", 0}};
  for (const auto& g : good) {
    ASSERT_TRUE(ParseSize(g.text, 1ull << 20, &v)) << g.text;
    EXPECT_EQ(v, g.expect) << g.text;
  }
  for (const char* bad : {"", "abc", "1X", "1GB", "-1", "1.5B", ".", "18446744073709551616",
                          "17179869184G"})
    EXPECT_FALSE(ParseSize(bad, 1ull << 20, &v)) << bad;
}

}  // namespace
}  // namespace emu::system

namespace emu::system {
namespace {

// Random command lines from a pool of tricky tokens: the parser either accepts
// them or throws CliError -- never another exception, never a crash.
TEST(Cli, RandomCommandLinesOnlyThrowCliError) {
  hw::DeviceRegistry reg = TestRegistry();
  const std::vector<std::string> pool = {
      "-m", "--m", "-smp", "-serial", "-monitor", "-chardev", "-device", "-accel", "-machine",
      "-display", "-d", "-name", "-nographic", "-debugcon", "-cpu", "-append", "-kernel",
      "1G", "0", "99999999999999999999", "size=", "cpus=0,sockets=0", "cores=999999",
      "tcp:", "tcp::", "tcp:[::1]:", "tcp:a:b", "unix:", "unix:,server", "mon:", "mon:mon:stdio",
      "chardev:", "chardev:x", "stdio", "none", "pty", "null", "file:", ",,", ",", "=", "a=b",
      ",a=,", "socket,id=x", "socket,id=x,port=", "socket,id=x,path=/tmp/x,port=1",
      "file,id=y", "stdio,id=z,mux=on", "isa-debug-exit", "isa-debug-exit,,", "help", "?",
      "pc,accel=", "accel=:", "kvm::tcg", "", "-", "--", "1.", ".5G", "1e9", "0x10M"};
  uint64_t seed = 12345;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(seed >> 33);
  };
  for (int iter = 0; iter < 3000; iter++) {
    std::vector<std::string> args;
    for (uint32_t n = next() % 7; n > 0; n--) args.push_back(pool[next() % pool.size()]);
    try {
      ParseCommandLine(args, &reg);
    } catch (const CliError&) {
    } catch (const std::exception& e) {
      std::string line;
      for (const auto& a : args) line += "'" + a + "' ";
      ADD_FAILURE() << "emu " << line << "threw a non-CliError: " << e.what();
    }
  }
}

}  // namespace
}  // namespace emu::system
