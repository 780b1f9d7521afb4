// libFuzzer target: the JSON parser (formats/json). A parsed document must dump to text that
// parses to a document that dumps to the same text (compact and pretty).
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(json)
