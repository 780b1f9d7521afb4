// Command-line parsing for `dice` (see args.h).
#include "cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "core/echo.h"
#include "core/error.h"

namespace dice::cli {

Args::Args(int argc, char** argv, int first, const std::vector<std::string>& value_options,
           const std::vector<std::string>& flag_options, std::string usage)
    : usage_(std::move(usage)) {
  // "usage: dice eval --model ..." -> "dice eval"
  std::istringstream words(usage_);
  std::string w1, w2, w3;
  words >> w1 >> w2 >> w3;
  command_ = w2 + " " + w3;
  auto is = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (is(flag_options, name)) {
        if (inline_value) usage_error("option --", echo(name), " takes no value");
        values_[name].push_back("1");
      } else if (is(value_options, name) || is(value_options, name + "...")) {
        if (!inline_value) {
          if (i + 1 >= argc) usage_error("option --", echo(name), " needs a value");
          value = argv[++i];
        }
        if (values_.count(name) && !is(value_options, name + "..."))
          usage_error("option --", echo(name), " given twice ('", echo(values_[name].back(), 40), "' and '",
                      echo(value, 40), "'); give it once");
        values_[name].push_back(value);
      } else {
        usage_error("unknown option --", echo(name));
      }
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::string Args::require(const std::string& name) const {
  if (!has(name)) usage_error("missing required option --", name);
  return get(name);
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& name, long long fallback, long long min,
                        long long max) const {
  if (!has(name)) return fallback;
  std::string s = get(name);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || errno || v < min || v > max)
    usage_error("option --", name, " must be an integer in [", min, ", ", max, "], got '", echo(s), "'");
  return v;
}

double Args::get_double(const std::string& name, double fallback, double min, double max) const {
  if (!has(name)) return fallback;
  std::string s = get(name);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= min && v <= max))
    usage_error("option --", name, " must be a number in [", min, ", ", max, "], got '", echo(s), "'");
  return v;
}

std::pair<std::string, std::string> split_named_spec(const std::string& arg) {
  size_t eq = arg.find('=');
  if (eq != std::string::npos && eq > 0) return {arg.substr(0, eq), arg.substr(eq + 1)};
  std::string s = arg;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  size_t slash = s.find_last_of('/');
  return {slash == std::string::npos ? s : s.substr(slash + 1), arg};
}

}  // namespace dice::cli
