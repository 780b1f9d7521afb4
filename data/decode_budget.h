// One memory budget for all images being decoded at once. Each loader thread decodes an image at
// a time, and a decode's peak grows with the pixels, not with the file (four 134-byte progressive
// JPEGs of 13000x13000 take 1.5 GB each): without a shared bound, N threads need N times the
// largest image. A DecodeReservation takes the image's estimated need from the budget
// (DICE_DECODE_MB, core/limits.h) for the decode and pre-processing, waiting while other threads
// hold it; an image that alone needs more than the whole budget is an error naming it.
#pragma once
#include <cstdint>
#include <string>

namespace dice {

// The estimated peak of decoding a w x h image from a file of `file_bytes` (stb's worst case:
// 16 bytes per MCU-padded pixel, the bound image.cpp also gives stb's allocations).
uint64_t decode_estimate(int64_t w, int64_t h, uint64_t file_bytes);

class DecodeReservation {
 public:
  DecodeReservation(uint64_t bytes, const std::string& name);
  ~DecodeReservation();
  DecodeReservation(const DecodeReservation&) = delete;
  DecodeReservation& operator=(const DecodeReservation&) = delete;

 private:
  uint64_t bytes_;
};

}  // namespace dice
