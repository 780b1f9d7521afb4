// libFuzzer target: zip archives (formats/zip). Parses the central directory, then reads every
// member (inflate, size and CRC checks), as the torch checkpoint and .npz readers do.
#include "formats/zip.h"

#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dice::ZipArchive z = dice::ZipArchive::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.zip");
    for (const std::string& n : z.names()) {
      DICE_FUZZ_CHECK(z.has(n));
      try {
        std::vector<uint8_t> m = z.read(n);
        DICE_FUZZ_CHECK(m.size() == z.entry(n).uncompressed_size);
      } catch (const dice::Error&) {
        // one bad member does not stop the others from being tried
      }
    }
  } catch (const dice::Error&) {
  }
  return 0;
}
