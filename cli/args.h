// A small command-line parser for the `dice` subcommands: `--name value` and `--name=value`
// options, flags, and one-line errors that say which option is wrong and end with
// "see `dice <cmd> --help`" (the usage itself is printed only for --help). An option given twice
// is an error (the first value would be dropped silently) unless it is declared repeatable.
#pragma once
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace dice::cli {

class Args {
 public:
  // value_options take a value ("ood..." marks a repeatable one); flag_options do not. Unknown
  // options are an error. `usage` starts "usage: dice <cmd>".
  Args(int argc, char** argv, int first, const std::vector<std::string>& value_options,
       const std::vector<std::string>& flag_options, std::string usage);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::string require(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  long long get_int(const std::string& name, long long fallback, long long min, long long max) const;
  double get_double(const std::string& name, double fallback, double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& usage() const { return usage_; }
  // Throws the one-line usage error: the parts, then "; see `dice <cmd> --help`".
  template <typename... Parts>
  [[noreturn]] void usage_error(const Parts&... parts) const {
    std::ostringstream os;
    (os << ... << parts);
    throw Error(os.str() + "; see `" + command_ + " --help`");
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  std::string usage_, command_;
};

// Splits "NAME=SPEC"; a bare SPEC gets a name derived from its last path component.
std::pair<std::string, std::string> split_named_spec(const std::string& arg);

}  // namespace dice::cli
