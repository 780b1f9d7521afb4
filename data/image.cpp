// Image decoding with stb_image, converted to RGB the way PIL's convert("RGB") does.
// (stb is compiled once, in stb_image_impl.cpp, with its JPEG arithmetic replaced by libjpeg's.)
//
// Where PIL and stb disagree, PIL wins, since torchvision's tensors are the reference:
// - 16-bit grayscale PNG: PIL opens it as mode "I" (values 0..65535) and convert("RGB") *clips*
//   to 255, while stb would keep the high byte. We load 16 bits and clip.
// - 16-bit RGB/RGBA/gray+alpha PNG: PIL keeps the high byte of each sample, as stb does.
// - Alpha (RGBA, gray+alpha, palette or colour-key transparency) is dropped, not composited:
//   PIL's convert("RGB") discards it, and so does stb's reduction to 3 channels.
// - Gray and palette images: replicated gray / palette lookup in both. 1, 2 and 4-bit gray PNGs
//   are scaled by 255, 85 and 17 in both.
// - Binary PPM/PGM are accepted only with maxval 255 (stb does not rescale other maxvals, PIL
//   does). 16-bit (5-5-5 / 5-6-5) BMPs may differ from PIL by one level: stb widens 5-bit
//   channels by bit replication, PIL by v*255/31. Such BMPs are practically never met.
// - JPEG: stb's IDCT, chroma upsampling and colour conversion are replaced by libjpeg's exact
//   integer arithmetic (stb_image_impl.cpp), so baseline and progressive YCbCr/gray JPEGs decode
//   as PIL decodes them (tests/data/image_test.cpp checks it and states the measured bound).
// - CMYK/YCCK JPEG: PIL reads every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I") and
//   converts with Convert.c's cmyk2rgb, r = nk - nk*c/255 (nk = 255 - k, MULDIV255 rounding) on the
//   inverted values; in terms of the stored samples that is exactly round(C*K/255), stb's
//   "blinn" product (no exact .5 ties exist). stb applies it only when an Adobe APP14 marker says
//   transform 0 (CMYK) or 2 (YCCK); libjpeg also treats a 4-component file without the marker as
//   CMYK and any other transform as YCCK, so jpeg_scan() hands stb a copy with the marker
//   inserted or the transform rewritten. (Pillow's cmyk2rgb is not 255 - min(255, c + k).)
// - JPEG flavours stb cannot decode (arithmetic coding, 12-bit, lossless, hierarchical) are
//   recognised from their SOF marker and refused with a message naming the file and the fix,
//   before stb sees them; libjpeg-turbo (--decoder turbo) decodes arithmetic-coded files.
// Nothing here applies EXIF orientation or colour profiles, and neither does Image.open.
#include "data/image.h"

#include <stb_image.h>  // declarations only; the implementation is in stb_image_impl.cpp

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/stb_limits.h"

namespace dice {
namespace {

// PIL refuses images above twice Image.MAX_IMAGE_PIXELS (DecompressionBombError); so do we,
// which also bounds what a corrupt header can make us allocate (see set_max_image_pixels).
std::atomic<int64_t> g_max_pixels{kDefaultMaxImagePixels};

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

[[noreturn]] void fail(const std::string& name, const char* what) {
  throw_error(name, ": cannot decode image (", what,
              "); the file is corrupt or not a JPEG/PNG/BMP/PPM image: re-encode it or remove it");
}

bool has_prefix(const uint8_t* d, size_t n, const char* magic) {
  size_t m = std::strlen(magic);
  return n >= m && std::memcmp(d, magic, m) == 0;
}

// Binary PNM header "P5|P6 <w> <h> <maxval>" (comments allowed), read as stb reads it: the
// pixels start one (whitespace) byte after the maxval digits. Values saturate at 10^9, where stb
// 2.27's own reader overflows int (undefined behaviour), so stb is never handed such a header.
struct PnmHeader {
  int64_t field[3] = {-1, -1, -1};  // width, height, maxval
  size_t data_at = 0;
  bool ok = false;
};

PnmHeader pnm_header(const uint8_t* d, size_t n) {
  PnmHeader h;
  size_t i = 2;
  int f = 0;
  while (i < n && f < 3) {
    uint8_t c = d[i];
    if (c == '#') {
      while (i < n && d[i] != '\n' && d[i] != '\r') ++i;
    } else if (c >= '0' && c <= '9') {
      int64_t v = 0;
      while (i < n && d[i] >= '0' && d[i] <= '9') {
        v = std::min<int64_t>(v * 10 + (d[i++] - '0'), 1000000000);
      }
      h.field[f++] = v;
      continue;
    } else if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')) {
      return h;
    }
    ++i;
  }
  h.ok = f == 3;
  h.data_at = i + 1;
  return h;
}

// PNM: refuse what stb would mishandle: maxvals other than 255 (stb does not rescale, PIL
// does), and a pixel array shorter than the header says (stb ignores the short read and returns
// uninitialised memory; PIL raises "image file is truncated"). Also bounds the allocation.
void check_pnm(const uint8_t* d, size_t n, const std::string& name) {
  const PnmHeader h = pnm_header(d, n);
  if (!h.ok) fail(name, "corrupt PPM/PGM header");
  if (h.field[2] != 255)
    throw_error(name, ": PPM/PGM with maxval ", h.field[2],
                " is not supported (only 255); convert it to PNG");
  const int64_t w = h.field[0], ht = h.field[1], comp = d[1] == '6' ? 3 : 1;
  if (w <= 0 || ht <= 0) fail(name, "zero-sized image");
  check_image_pixels(name, w, ht);
  const int64_t need = static_cast<int64_t>(h.data_at) + w * ht * comp;
  if (need > static_cast<int64_t>(n))
    throw_error(name, ": truncated PPM/PGM (", n, " bytes, the pixel data needs ", need,
                "); re-download or remove it");
}

// PNG: every chunk up to IEND must fit in the file. stb grows its IDAT buffer to a chunk's
// declared length before reading it, so a few hundred bytes declaring a 2 GiB chunk would make
// it allocate 2 GiB (found by fuzz_image) before failing; such a file fails in stb anyway.
void check_png_chunks(const uint8_t* d, size_t n, const std::string& name) {
  size_t pos = 8;
  while (pos + 8 <= n) {
    const uint64_t len = uint64_t(d[pos]) << 24 | d[pos + 1] << 16 | d[pos + 2] << 8 | d[pos + 3];
    const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
    if (len > n - pos - 8)  // data (CRC aside: stb does not check it)
      throw_error(name, ": truncated or corrupt PNG (chunk of ", len, " bytes at offset ", pos,
                  ", only ", n - pos - 8, " left); re-download or remove it");
    if (type == "IEND") return;
    pos += 12 + len;
  }
}

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// stb fills the missing rows of a truncated uncompressed BMP with zeros, where PIL raises
// "image file is truncated": require the full pixel array (padded rows) to be present.
void check_bmp_complete(const uint8_t* d, size_t n, const std::string& name) {
  if (n < 30) fail(name, "truncated BMP header");
  const uint32_t offset = le32(d + 10), hsz = le32(d + 14);
  int64_t w, h, bpp, compression = 0;
  if (hsz == 12) {
    w = le16(d + 18);
    h = le16(d + 20);
    bpp = le16(d + 24);
  } else {
    if (n < 34) fail(name, "truncated BMP header");
    w = static_cast<int32_t>(le32(d + 18));
    h = static_cast<int32_t>(le32(d + 22));
    bpp = le16(d + 28);
    compression = le32(d + 30);
  }
  if (compression != 0 && compression != 3 && compression != 6) return;  // stb judges the rest
  if (w <= 0 || h == 0 || w > (1 << 24) || h > (1 << 24) || h < -(1 << 24) || bpp <= 0 || bpp > 32)
    return;  // let stb report the bad header
  const int64_t stride = (w * bpp + 31) / 32 * 4;
  if (static_cast<int64_t>(offset) + stride * (h < 0 ? -h : h) > static_cast<int64_t>(n))
    throw_error(name, ": truncated BMP (", n, " bytes, the pixel data needs ",
                static_cast<int64_t>(offset) + stride * (h < 0 ? -h : h),
                "); re-download or remove it");
}

// stb_image 2.27 writes past its Huffman-table arrays when a DHT segment declares more than 256
// codes (fixed upstream in 2.28): a crafted JPEG could overwrite the decoder's state. We walk the
// file the way stb's parser does and refuse such a table before stb reads it. The walk follows
// stb's control flow: segments by their length fields; junk between segments skipped (stb skips
// it before the frame header and fails on it after, so walking on is harmless); each scan's
// entropy-coded data ended by the first 0xFF (after fill bytes) not followed by 0x00 or an RSTn
// marker, which is where stb's bit reader stops or, if it stops earlier, where it looks next
// (anything else makes stb fail). A DHT table is read as stb reads it, even past its segment.
// The same walk refuses a scan that uses a Huffman table no DHT before it defined: stb would
// decode with whatever its (uninitialised) table memory holds, reading out of bounds (found by
// fuzz_image); libjpeg, hence PIL, stops with "Huffman table 0x.. was not defined".
void check_jpeg_tables(const uint8_t* d, size_t n, const std::string& name) {
  auto at = [&](size_t k) -> unsigned { return k < n ? d[k] : 0; };  // stb reads 0 past the end
  size_t i = 2;                                                      // after SOI
  bool entropy = false;
  unsigned sof = 0;                  // the frame marker: 0xC2 is progressive
  bool defined[2][4] = {};           // [DC, AC][table id]
  while (i < n) {
    if (d[i] != 0xFF) {
      ++i;
      continue;
    }
    while (i < n && d[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) return;
    const unsigned m = d[i];
    if (entropy && (m == 0x00 || (m >= 0xD0 && m <= 0xD7))) {  // stuffed 0xFF or restart marker
      ++i;
      continue;
    }
    entropy = false;
    ++i;
    if (m == 0xD9) return;                                // EOI
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7)) continue;  // stb fails on these
    const size_t len = at(i) << 8 | at(i + 1);
    if (m == 0xC4) {
      // stb: L = len - 2; while (L > 0) { 1 byte class/id, 16 counts, then the codes }.
      long left = static_cast<long>(len) - 2;
      size_t p = i + 2;
      while (left > 0) {
        const unsigned q = at(p);
        if ((q >> 4) > 1 || (q & 15) > 3) return;  // stb: "bad DHT header"
        size_t codes = 0;
        for (int k = 1; k <= 16; ++k) codes += at(p + k);
        if (codes > 256) fail(name, "corrupt JPEG Huffman table with more than 256 codes");
        defined[q >> 4][q & 15] = true;
        p += 17 + codes;
        left -= static_cast<long>(17 + codes);
      }
      if (left != 0) return;  // stb: error
    }
    if (m >= 0xC0 && m <= 0xC2 && !sof) sof = m;
    if (m == 0xDA) {
      // stb: Ns, then per component its id and (DC table << 4 | AC table), then Ss, Se, Ah|Al.
      const unsigned ns = at(i + 2);
      if (!sof || ns < 1 || ns > 4) return;  // stb fails on these
      const unsigned ss = at(i + 3 + 2 * ns), ah = at(i + 5 + 2 * ns) >> 4;
      for (unsigned c = 0; c < ns; ++c) {
        const unsigned q = at(i + 4 + 2 * c), dc = q >> 4, ac = q & 15;
        if (dc > 3 || ac > 3) return;  // stb: "bad DC/AC huff"
        // Baseline scans decode both; a progressive DC first pass its DC table, a DC
        // refinement none, an AC pass (first or refinement) its AC table.
        const bool progressive = sof == 0xC2;
        const bool need_dc = !progressive || (ss == 0 && ah == 0);
        const bool need_ac = !progressive || ss > 0;
        if ((need_dc && !defined[0][dc]) || (need_ac && !defined[1][ac]))
          fail(name, "corrupt JPEG: a scan uses a Huffman table that the file never defines");
      }
    }
    if (len < 2) return;
    i += len;
    if (m == 0xDA) entropy = true;
  }
}

// What libjpeg's jpeg_read_header learns before the first scan: the frame type and the colour
// transform of 4-component files (jdapimin.c default_decompress_parms).
struct JpegScan {
  unsigned sof = 0;  // 0xC0..0xCF frame marker, 0 if none was found
  unsigned precision = 8, components = 0;
  int64_t width = 0, height = 0;
  int64_t min_coded_blocks = 0;  // 8x8 blocks of all components, without MCU padding
  long adobe_transform_at = -1;  // offset of the APP14 transform byte, -1 without the marker
};

JpegScan jpeg_scan(const uint8_t* d, size_t n) {
  JpegScan s;
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) {  // junk between segments: libjpeg skips it too
      ++i;
      continue;
    }
    const unsigned m = d[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      i += 2;
      continue;
    }
    if (m == 0xDA || m == 0xD9) break;  // first scan or end: the header is complete
    const size_t len = static_cast<size_t>(d[i + 2]) << 8 | d[i + 3];
    if (len < 2 || i + 2 + len > n) break;
    const uint8_t* seg = d + i + 4;
    const size_t sl = len - 2;
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && sl >= 6 && !s.sof) {
      s.sof = m;
      s.precision = seg[0];
      s.height = seg[1] << 8 | seg[2];
      s.width = seg[3] << 8 | seg[4];
      s.components = seg[5];
      // Component c samples ceil(width * h_c / h_max) x ceil(height * v_c / v_max) pixels.
      if (sl >= 6 + 3 * size_t(s.components)) {
        int hmax = 1, vmax = 1;
        for (unsigned c = 0; c < s.components; ++c) {
          hmax = std::max(hmax, seg[7 + 3 * c] >> 4);
          vmax = std::max(vmax, seg[7 + 3 * c] & 15);
        }
        for (unsigned c = 0; c < s.components; ++c) {
          const int64_t hc = seg[7 + 3 * c] >> 4, vc = seg[7 + 3 * c] & 15;
          const int64_t cw = (s.width * hc + hmax - 1) / hmax, ch = (s.height * vc + vmax - 1) / vmax;
          s.min_coded_blocks += ((cw + 7) / 8) * ((ch + 7) / 8);
        }
      }
    } else if (m == 0xEE && sl >= 12 && std::memcmp(seg, "Adobe", 5) == 0) {
      s.adobe_transform_at = static_cast<long>(i + 4 + 11);
    }
    i += 2 + len;
  }
  return s;
}

// Refuses the JPEG flavours a decoder cannot read, with the fix; see the file comment.
void check_jpeg_flavour(const JpegScan& s, JpegDecoder dec, const std::string& name) {
  const unsigned m = s.sof;
  if (m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF)
    throw_error(name, ": lossless JPEG (SOF", m - 0xC0,
                ") is not supported; convert it to PNG or to a baseline JPEG");
  if (m == 0xC5 || m == 0xC6 || m == 0xCD || m == 0xCE)
    throw_error(name, ": hierarchical JPEG (SOF", m - 0xC0,
                ") is not supported; re-encode it as a baseline JPEG");
  if (m && s.precision != 8)
    throw_error(name, ": ", s.precision,
                "-bit JPEG is not supported (8-bit samples only, as in PIL); "
                "convert it to an 8-bit JPEG or PNG");
  if ((m == 0xC9 || m == 0xCA) && dec == JpegDecoder::kStb)
    throw_error(name,
                ": arithmetic-coded JPEG, which stb_image cannot decode; re-encode it "
                "(jpegtran -optimize IN > OUT) or decode with libjpeg-turbo (--decoder turbo)");
}

std::atomic<JpegDecoder> g_jpeg_decoder{JpegDecoder::kStb};

Image decode_stb(const uint8_t* data, size_t size, const std::string& name);

}  // namespace

bool have_turbojpeg() {
#ifdef DICE_HAVE_TURBOJPEG
  return true;
#else
  return false;
#endif
}

JpegDecoder parse_jpeg_decoder(const std::string& v) {
  if (v == "stb") return JpegDecoder::kStb;
  if (v != "turbo") throw_error("JPEG decoder must be 'stb' or 'turbo', got '", v, "'");
  if (!have_turbojpeg())
    throw_error(
        "JPEG decoder 'turbo': this dice was built without libjpeg-turbo; install "
        "libturbojpeg0-dev and rebuild, or use the default decoder (stb)");
  return JpegDecoder::kTurbo;
}

void set_jpeg_decoder(JpegDecoder d) {
  if (d == JpegDecoder::kTurbo && !have_turbojpeg()) parse_jpeg_decoder("turbo");  // throws
  g_jpeg_decoder.store(d);
}

JpegDecoder jpeg_decoder() { return g_jpeg_decoder.load(); }

void set_max_image_pixels(int64_t pixels) {
  if (pixels <= 0) throw_error("the image pixel limit must be positive, got ", pixels);
  g_max_pixels.store(pixels);
}
int64_t max_image_pixels() { return g_max_pixels.load(); }

void check_image_pixels(const std::string& name, int64_t w, int64_t h) {
  if (w * h <= max_image_pixels()) return;
  char mp[64];
  std::snprintf(mp, sizeof mp, "%.4g megapixels; --max-image-pixels is %.4g", double(w) * double(h) / 1e6,
                double(max_image_pixels()) / 1e6);
  throw_error(echo(name), ": image of ", w, "x", h, " is too large (", mp, "); shrink it or raise the limit");
}

void throw_decode_out_of_memory(const std::string& name, int64_t w, int64_t h) {
  throw_error(echo(name), ": out of memory decoding this ", w, "x", h,
              " image; lower --threads or DICE_DECODE_MB, or raise the memory limit");
}

bool image_dimensions(const uint8_t* data, size_t size, int* w, int* h) {
  int comp = 0;
  return size <= static_cast<size_t>(INT32_MAX) &&
         stbi_info_from_memory(data, static_cast<int>(size), w, h, &comp) && *w > 0 && *h > 0;
}

Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name) {
  return decode_image_memory(data, size, name, jpeg_decoder());
}

Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                          JpegDecoder jpeg) {
  if (size == 0) fail(name, "empty file");
  // stb's marker reader skips 0xFF fill bytes before SOI too (FF FF .. FF D8 is a JPEG to it):
  // drop them, so the checks below, which start at FF D8, see what stb decodes.
  size_t fill = 0;
  while (fill + 1 < size && data[fill] == 0xFF && data[fill + 1] == 0xFF) ++fill;
  if (fill && has_prefix(data + fill, size - fill, "\xFF\xD8")) {
    data += fill;
    size -= fill;
  }
  if (!has_prefix(data, size, "\xFF\xD8")) return decode_stb(data, size, name);
  const JpegScan scan = jpeg_scan(data, size);
  check_jpeg_flavour(scan, jpeg, name);
  // A sequential Huffman JPEG codes every block of every component with at least two bits (a
  // DC code and an end-of-block code, one bit each at the least). A frame needing more than
  // the whole file holds is truncated: PIL raises "image file is truncated", while stb would
  // decode megapixels of padding from a few hundred bytes. (Progressive files can code runs of
  // empty blocks in a few bits, so only the pixel limit bounds them.)
  if ((scan.sof == 0xC0 || scan.sof == 0xC1) && scan.min_coded_blocks * 2 > int64_t(size) * 8)
    throw_error(name, ": truncated JPEG (its ", scan.width, "x", scan.height,
                " frame needs at least ", scan.min_coded_blocks / 4, " bytes of coded data, the file "
                "has ", size, "); re-download or remove it");
  if (jpeg == JpegDecoder::kTurbo) {
    Image img;
    if (decode_jpeg_turbo(data, size, name, &img)) return img;  // else: stb, the fallback
  }
  if (scan.components != 4) return decode_stb(data, size, name);
  // 4 components: make stb see the colour transform libjpeg would assume (see the file comment).
  std::vector<uint8_t> patched;
  if (scan.adobe_transform_at < 0) {
    static const uint8_t kAdobe[16] = {0xFF, 0xEE, 0,   14, 'A', 'd', 'o', 'b',
                                       'e',  0,    100, 0,  0,   0,   0,   0};  // transform 0: CMYK
    patched.assign(data, data + 2);
    patched.insert(patched.end(), kAdobe, kAdobe + 16);
    patched.insert(patched.end(), data + 2, data + size);
  } else {
    const uint8_t t = data[scan.adobe_transform_at];
    if (t == 0 || t == 2) return decode_stb(data, size, name);
    patched.assign(data, data + size);
    patched[static_cast<size_t>(scan.adobe_transform_at)] = 2;  // libjpeg: anything else is YCCK
  }
  return decode_stb(patched.data(), patched.size(), name);
}

namespace {

Image decode_stb(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) fail(name, "empty file");
  if (size > static_cast<size_t>(INT32_MAX)) fail(name, "file larger than 2 GiB");
  const int len = static_cast<int>(size);
  if (has_prefix(data, size, "P5") || has_prefix(data, size, "P6")) check_pnm(data, size, name);
  if (has_prefix(data, size, "\x89PNG\r\n\x1a\n")) check_png_chunks(data, size, name);
  if (has_prefix(data, size, "BM")) check_bmp_complete(data, size, name);
  if (has_prefix(data, size, "\xFF\xD8")) check_jpeg_tables(data, size, name);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) fail(name, stbi_failure_reason());
  if (w <= 0 || h <= 0) fail(name, "zero-sized image");
  check_image_pixels(name, w, h);

  // No legitimate decode needs a block beyond a few bytes per (MCU-padded) pixel plus a copy of
  // the file: bound stb's allocations to that (see stb_limits.h).
  struct CapGuard {  // restores the bound it found, so that a decode inside a decode stays bounded
    size_t previous = stb_allocation_cap();
    explicit CapGuard(size_t bytes) { set_stb_allocation_cap(bytes); }
    ~CapGuard() { set_stb_allocation_cap(previous); }
  } cap(16 * (static_cast<size_t>(w) + 32) * (static_cast<size_t>(h) + 32) + 2 * size + (1 << 20));
  auto stb_fail = [&] {
    if (stb_allocation_refused())
      throw_error(name, ": decoding this ", w, "x", h, " image needs more memory than its size "
                  "can justify (compressed data that inflates far beyond the pixels); re-encode it");
    if (std::strcmp(stbi_failure_reason(), "outofmem") == 0)  // the process's memory, not the file
      throw_decode_out_of_memory(name, w, h);
    fail(name, stbi_failure_reason());
  };

  Image img(w, h);
  const size_t npix = static_cast<size_t>(w) * h;
  if (comp == 1 && stbi_is_16_bit_from_memory(data, len)) {
    // 16-bit gray: PIL mode "I", and its I -> RGB conversion clips to 0..255.
    int w2, h2, c2;
    std::unique_ptr<uint16_t, StbFree> px(stbi_load_16_from_memory(data, len, &w2, &h2, &c2, 1));
    if (!px) stb_fail();
    if (w2 != w || h2 != h) fail(name, "inconsistent header");
    for (size_t i = 0; i < npix; ++i) {
      uint16_t v = px.get()[i];
      uint8_t g = v > 255 ? 255 : static_cast<uint8_t>(v);
      img.rgb[i * 3 + 0] = img.rgb[i * 3 + 1] = img.rgb[i * 3 + 2] = g;
    }
    return img;
  }
  int w2, h2, c2;
  std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(data, len, &w2, &h2, &c2, 3));
  if (!px) stb_fail();
  if (w2 != w || h2 != h) fail(name, "inconsistent header");
  std::memcpy(img.rgb.data(), px.get(), npix * 3);
  return img;
}

}  // namespace

Image decode_image(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image_memory(bytes.data(), bytes.size(), path);
}

}  // namespace dice
