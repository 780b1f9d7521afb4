// Image decoding: JPEG, PNG, BMP (and binary PPM/PGM) files -> 8-bit RGB, as PIL's
// Image.open(path).convert("RGB") sees them, which is what torchvision's ImageFolder feeds its
// transforms. Parsing is stb_image's, with its JPEG arithmetic (IDCT, chroma upsampling, colour
// conversion) replaced by libjpeg's (stb_image_impl.cpp), and the conversions to RGB follow PIL's
// rules where stb's differ (image.cpp). PNG, BMP and baseline/progressive JPEG decode bit for bit
// like PIL 9.4 with libjpeg-turbo, CMYK/YCCK JPEGs included (PIL's Adobe-inverted reading).
// Optionally (built with libjpeg-turbo's TurboJPEG API, DICE_HAVE_TURBOJPEG) JPEGs can be decoded
// by libjpeg-turbo itself (jpeg_turbo.cpp); stb stays the default and the fallback.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dice {

// Interleaved 8-bit RGB, row-major: pixel (x, y) channel c is rgb[(y * width + x) * 3 + c].
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;

  Image() = default;
  Image(int w, int h) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3) {}
  uint8_t* row(int y) { return rgb.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return rgb.data() + static_cast<size_t>(y) * width * 3; }
};

// Who decodes JPEG files. kTurbo exists only in builds with libjpeg-turbo (have_turbojpeg()).
enum class JpegDecoder { kStb, kTurbo };
bool have_turbojpeg();
// "stb" or "turbo"; throws a one-line dice::Error for anything else or for "turbo" in a build
// without libjpeg-turbo.
JpegDecoder parse_jpeg_decoder(const std::string& name);
// The process-wide choice used by decode_image (default kStb); set it before decoding starts.
void set_jpeg_decoder(JpegDecoder d);
JpegDecoder jpeg_decoder();

// The largest image (width x height) decoding accepts, process-wide; larger ones are refused
// with a one-line error before anything is allocated. The default is PIL's: twice
// Image.MAX_IMAGE_PIXELS, beyond which PIL raises DecompressionBombError. Lowering it bounds the
// memory and time a hostile header can cost (the image fuzz target uses 2^16).
constexpr int64_t kDefaultMaxImagePixels = 2 * int64_t(89478485);
void set_max_image_pixels(int64_t pixels);
int64_t max_image_pixels();
// Throws "NAME: image of WxH is too large (N megapixels; --max-image-pixels is M)" over the limit.
void check_image_pixels(const std::string& name, int64_t w, int64_t h);
// "NAME: out of memory decoding this WxH image; lower --threads or DICE_DECODE_MB, ...": what a
// failed allocation while decoding says (not "corrupt": the file may be fine).
[[noreturn]] void throw_decode_out_of_memory(const std::string& name, int64_t w, int64_t h);
// An image's width and height from its header (any format decode_image reads), without decoding;
// false if the header is not understood (the decode will then say why).
bool image_dimensions(const uint8_t* data, size_t size, int* w, int* h);

// Reads and decodes an image file, converting any layout (gray, gray+alpha, palette, RGBA,
// 16-bit) to RGB. Throws dice::Error naming the file if it is missing, not an image, or corrupt.
Image decode_image(const std::string& path);

// The same from bytes already in memory; `name` is used in error messages.
Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name);
// The same with an explicit JPEG decoder (non-JPEG input always goes through stb).
Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                          JpegDecoder jpeg);

// libjpeg-turbo's decoding of a JPEG (jpeg_turbo.cpp), converted to RGB as PIL converts.
// Returns false, leaving *out alone, for a layout TurboJPEG 2.x refuses although libjpeg reads it
// (unusual sampling factors, e.g. a CMYK file with only one subsampled channel): the caller then
// decodes with stb. Throws naming `name` when the build has no libjpeg-turbo or the file is
// corrupt.
bool decode_jpeg_turbo(const uint8_t* data, size_t size, const std::string& name, Image* out);

}  // namespace dice
