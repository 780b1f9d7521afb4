// libFuzzer target: the JSON parser (formats/json). A parsed document must dump to text that
// parses to a document that dumps to the same text (compact and pretty).
#include <string>

#include "formats/json.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    dice::Json j = dice::Json::parse(text, "fuzz.json");
    std::string once = j.dump();
    std::string pretty = j.dump(2);
    dice::Json k = dice::Json::parse(once, "dumped");
    DICE_FUZZ_CHECK(k.dump() == once);
    DICE_FUZZ_CHECK(dice::Json::parse(pretty, "pretty").dump() == once);
  } catch (const dice::Error&) {
  }
  return 0;
}
