// JPEG decoding with libjpeg-turbo's TurboJPEG API, the library PIL itself links, so its pixels
// are PIL's by construction (bench/bench_decode.cpp measures speed and parity). Compiled in only
// when CMake found turbojpeg (DICE_HAVE_TURBOJPEG); otherwise decode_jpeg_turbo refuses with the
// fix.
// - Flags 0: accurate integer IDCT (JDCT_ISLOW) and fancy upsampling, libjpeg's defaults, which
//   are also what PIL's decoder leaves set.
// - Gray files come out replicated to RGB (libjpeg's gray -> RGB); YCbCr and RGB files as RGB.
// - CMYK and YCCK files are decoded to the stored CMYK samples (libjpeg converts YCCK to CMYK, and
//   treats a 4-component file without an Adobe marker as CMYK, as PIL does) and converted with
//   PIL's rule for its always-inverted CMYK: channel = round(C * K / 255) (see image.cpp).
// - libjpeg warnings (corrupt but decodable data) are not errors, as in PIL; fatal errors are.
// - TurboJPEG 2.x refuses files whose sampling factors match none of its TJSAMP_* types (libjpeg
//   itself reads them); for those we return false and image.cpp falls back to stb, which decodes
//   them exactly as well (its arithmetic is libjpeg's, see stb_image_impl.cpp).
// One TurboJPEG handle per thread: handles are not thread-safe, and creating one per image costs;
// it is replaced after any failure (see TjHandle).
#include "core/error.h"
#include "data/image.h"

#ifdef DICE_HAVE_TURBOJPEG
#include <turbojpeg.h>

#include <string>
#include <utility>
#endif

namespace dice {

#ifdef DICE_HAVE_TURBOJPEG
namespace {

// After a failed call a TurboJPEG 2.1 handle can stay in a broken state (a valid file then fails
// with "SOS before SOF"), so any failure replaces it.
struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  void reset() {
    if (h) tjDestroy(h);
    h = tjInitDecompress();
  }
};

// PIL refuses images above twice Image.MAX_IMAGE_PIXELS; so do both decoders (max_image_pixels).

// Whether the last call on `h` failed fatally (a warning leaves a complete image behind).
bool fatal(tjhandle h) { return tjGetErrorCode(h) == TJERR_FATAL; }

}  // namespace

bool decode_jpeg_turbo(const uint8_t* data, size_t size, const std::string& name, Image* out) {
  thread_local TjHandle tj;
  if (!tj.h) throw_error(name, ": cannot initialise libjpeg-turbo (", tjGetErrorStr2(nullptr), ")");
  if (size > static_cast<size_t>(0x7fffffff))
    throw_error(name, ": cannot decode image (file larger than 2 GiB)");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  auto* src = const_cast<unsigned char*>(data);  // TurboJPEG 2.1 takes a non-const pointer
  // Runs one TurboJPEG call: "" if it succeeded (possibly with a warning), else the error text.
  auto call = [&](int rc) -> std::string {
    if (rc == 0) return "";
    const bool is_fatal = fatal(tj.h);
    std::string msg = tjGetErrorStr2(tj.h);
    tj.reset();
    return is_fatal ? msg : "";
  };
  std::string err = call(tjDecompressHeader3(tj.h, src, static_cast<unsigned long>(size), &w, &h,
                                             &subsamp, &colorspace));
  if (!err.empty()) {
    if (err.find("subsampling type") != std::string::npos) return false;
    throw_error(name, ": cannot decode JPEG (", err,
                "); the file is corrupt: re-encode it or remove it (or pass --skip-bad)");
  }
  if (w <= 0 || h <= 0) throw_error(name, ": cannot decode JPEG (zero-sized image)");
  check_image_pixels(name, w, h);
  Image img(w, h);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  std::vector<uint8_t> four;
  unsigned char* dst = img.rgb.data();
  if (cmyk) {
    four.resize(static_cast<size_t>(w) * h * 4);
    dst = four.data();
  }
  err = call(tjDecompress2(tj.h, src, static_cast<unsigned long>(size), dst, w, 0, h,
                           cmyk ? TJPF_CMYK : TJPF_RGB, 0));
  if (!err.empty())
    throw_error(name, ": cannot decode JPEG (", err,
                "); the file is corrupt: re-encode it or remove it (or pass --skip-bad)");
  if (cmyk) {
    const size_t npix = static_cast<size_t>(w) * h;
    for (size_t i = 0; i < npix; ++i) {
      const unsigned k = four[i * 4 + 3];
      for (int c = 0; c < 3; ++c) {
        const unsigned t = four[i * 4 + c] * k + 128;  // round(C * K / 255), exactly
        img.rgb[i * 3 + c] = static_cast<uint8_t>((t + (t >> 8)) >> 8);
      }
    }
  }
  *out = std::move(img);
  return true;
}

#else

bool decode_jpeg_turbo(const uint8_t*, size_t, const std::string& name, Image*) {
  throw_error(name,
              ": this dice was built without libjpeg-turbo; install libturbojpeg0-dev and "
              "rebuild, or use the default decoder (stb)");
}

#endif

}  // namespace dice
