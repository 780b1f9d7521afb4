// Hostile text echoed in errors (issue 17, family 3): escape sequences and megabyte strings in an
// npy descr, a safetensors tensor name and dtype, a labels-file line and an option name must come
// out escaped and short (hostile_harness.h checks: no control characters, at most 3 short lines).
#include "hostile_harness.h"

namespace {

using dice::hostile::expect_refused;
using dice::hostile::folder_with_weights;
using dice::hostile::write_bytes;

const std::string kTitle = "\x1b]0;pwned\x07\x1b[2J";  // set the window title, clear the screen

TEST(HostileEcho, NpyDescr) {
  const std::string dir = folder_with_weights();
  std::string header = "{'descr': '" + kTitle + std::string(50000, 'A') +
                       "', 'fortran_order': False, 'shape': (1, 3, 32, 32), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  const uint32_t len = static_cast<uint32_t>(header.size());
  std::string bytes = std::string("\x93NUMPY\x02\x00", 8) +
                      std::string(reinterpret_cast<const char*>(&len), 4) + header;
  write_bytes(dir + "/x.npy", bytes + std::string(3 * 32 * 32 * 4, '\0'));
  expect_refused({"eval", "--weights", "w.pth", "--id", "tensor:x.npy", "--ood", "uniform:4"}, dir,
                 "x.npy");
}

TEST(HostileEcho, SafetensorsNameAndDtype) {
  const std::string dir = folder_with_weights();
  const std::string esc = "\\u001b]0;pwned\\u0007\\u001b[2J" + std::string(20000, 'B');
  const std::string header =
      "{\"" + esc + "\": {\"dtype\": \"" + esc + "\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
  const uint64_t len = header.size();
  write_bytes(dir + "/w.safetensors",
              std::string(reinterpret_cast<const char*>(&len), 8) + header + std::string(4, '\0'));
  expect_refused({"eval", "--weights", "w.safetensors", "--id", "gaussian:4", "--ood", "uniform:4"},
                 dir, "w.safetensors");
}

TEST(HostileEcho, LabelsFileLine) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkdir((dir + "/flat").c_str(), 0755), 0);
  write_bytes(dir + "/flat/a.png", "not decoded before the labels are read");
  write_bytes(dir + "/labels.txt", kTitle + " " + std::string(1 << 20, 'C') + " 3 4\n");
  expect_refused({"eval", "--weights", "w.pth", "--id", "flat", "--labels", "labels.txt", "--ood",
                  "uniform:4"},
                 dir, "labels.txt");
}

TEST(HostileEcho, OptionNameAndValue) {
  const std::string dir = folder_with_weights();
  expect_refused({"eval", "--" + kTitle}, dir, "unknown option");
  expect_refused({"eval", "--weights", "w.pth", "--batch", kTitle + std::string(100000, 'D')}, dir,
                 "--batch");
  expect_refused({kTitle}, dir, "unknown command");
}

}  // namespace
