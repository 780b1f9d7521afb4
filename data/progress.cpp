// Progress bar on stderr (see progress.h).
#include "data/progress.h"

#include <unistd.h>

#include <cstdio>

namespace dice {

Progress::Progress(std::string label, int64_t total, int enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled < 0 ? ::isatty(STDERR_FILENO) == 1 : enabled == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (drawn_ && !finished_) finish();
}

std::string Progress::format(const std::string& label, int64_t done, int64_t total, double seconds,
                             int bar_width) {
  char buf[160];
  std::string s = label.empty() ? "" : label + "  ";
  std::snprintf(buf, sizeof buf, "%lld/%lld", static_cast<long long>(done),
                static_cast<long long>(total));
  s += buf;
  const double frac = total > 0 ? static_cast<double>(done) / total : 1.0;
  if (bar_width > 0) {
    int fill = static_cast<int>(frac * bar_width);
    if (fill > bar_width) fill = bar_width;
    std::string bar(bar_width, ' ');
    for (int i = 0; i < fill; ++i) bar[i] = '=';
    if (fill < bar_width && done > 0) bar[fill] = '>';
    s += " [" + bar + "]";
  }
  std::snprintf(buf, sizeof buf, " %5.1f%%", 100.0 * frac);
  s += buf;
  if (seconds > 0 && done > 0) {
    const double rate = done / seconds;
    std::snprintf(buf, sizeof buf, "  %.1f/s", rate);
    s += buf;
    if (done < total) {
      long long eta = static_cast<long long>((total - done) / rate + 0.5);
      if (eta >= 3600)
        std::snprintf(buf, sizeof buf, "  ETA %lld:%02lld:%02lld", eta / 3600, eta / 60 % 60,
                      eta % 60);
      else
        std::snprintf(buf, sizeof buf, "  ETA %lld:%02lld", eta / 60, eta % 60);
      s += buf;
    } else {
      std::snprintf(buf, sizeof buf, "  %.1fs", seconds);
      s += buf;
    }
  }
  return s;
}

void Progress::draw(bool final_line) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = format(label_, done_, total_, secs);
  // \r + clear-to-end-of-line keeps one line however the text length changes.
  std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final_line ? "\n" : "");
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::update(int64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

}  // namespace dice
