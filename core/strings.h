// appendf: printf-style formatting appended to a std::string, for the writers that build text
// (the JSON and HTML reports). Any length: a long result is formatted a second time into a buffer
// of its exact size.
#pragma once
#include <string>

namespace dice {

void appendf(std::string& s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace dice
