#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "emu: not assembled yet\n");
  return 1;
}
