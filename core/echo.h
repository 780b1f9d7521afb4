// echo(): how text from outside (a file's bytes, an argument) is shown in a message. A tensor
// name, an npy descr or a label line can hold escape sequences that clear a terminal or set its
// title, or run to megabytes; every error that quotes such text passes it through echo(), which
// escapes control characters (C0, DEL, C1 and invalid UTF-8 bytes as \n, \t, \xNN) and cuts the
// result to about 100 characters, keeping both ends (a path's file name is at its end).
#pragma once
#include <string>
#include <string_view>

namespace dice {

constexpr size_t kEchoMax = 100;

std::string echo(std::string_view text, size_t max_chars = kEchoMax);

}  // namespace dice
