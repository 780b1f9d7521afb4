// A one-line progress bar on stderr: label, items done/total, percent, rate and ETA.
// It draws only when stderr is a terminal, so logs and pipes stay clean, and redraws at most
// ten times a second so that a fast loop does not spend its time printing.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace dice {

class Progress {
 public:
  // enabled < 0: draw iff isatty(stderr); 0: never; 1: always (tests).
  Progress(std::string label, int64_t total, int enabled = -1);
  ~Progress();  // finishes the line if anything was drawn
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(int64_t done);  // items done so far (monotonic)
  void finish();              // draws the final state and ends the line; idempotent
  bool enabled() const { return enabled_; }

  // The text of one line, e.g. "cifar10  2560/10000 [=====>        ]  25.6%  812.3/s  ETA 0:09".
  static std::string format(const std::string& label, int64_t done, int64_t total, double seconds,
                            int bar_width = 24);

 private:
  void draw(bool final_line);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, drawn_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dice
