// Baseline for the validation benchmark: yaml-cpp's bare YAML::LoadFile of a file, the
// cost any YAML-based tool pays before doing anything with the document.
#include <yaml-cpp/yaml.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: yaml_parse FILE\n");
    return 2;
  }
  try {
    YAML::Node n = YAML::LoadFile(argv[1]);
    std::printf("%zu top-level keys\n", n.size());
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
