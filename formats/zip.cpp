// Zip reader (see zip.h).
//
// Layout used (all little-endian; APPNOTE 6.3):
//   end of central directory (EOCD), at the end, followed by a comment of <= 65535 bytes:
//     u32 sig 0x06054b50, u16 disk, u16 cd disk, u16 entries on disk, u16 entries,
//     u32 cd size, u32 cd offset, u16 comment length
//   zip64 EOCD locator just before it (sig 0x07064b50, u32 disk, u64 zip64-EOCD offset, u32 disks)
//   zip64 EOCD (sig 0x06064b50, u64 size, u16 ver, u16 ver, u32, u32, u64 entries on disk,
//     u64 entries, u64 cd size, u64 cd offset)
//   central directory header per entry (sig 0x02014b50): u16 version made, u16 version needed,
//     u16 flags, u16 method, u16 time, u16 date, u32 crc, u32 csize, u32 usize, u16 name len,
//     u16 extra len, u16 comment len, u16 disk, u16 int attr, u32 ext attr, u32 local offset,
//     name, extra, comment. Extra field 0x0001 (zip64) holds, in this order and only for the
//     fields that are 0xffffffff above: u64 usize, u64 csize, u64 offset.
//   local header (sig 0x04034b50): 26 bytes of fields, u16 name len, u16 extra len at +26/+28,
//     then name, extra, data. Sizes are taken from the central directory (the local copy may be
//     zero when a data descriptor follows, as torch's writer does).
// Inflation is bounded by the declared uncompressed size, itself bounded by deflate's maximum
// ratio (1032:1) to the member's compressed size, and members may not overlap, so the members of
// an archive inflate to at most ~1032 times its size in total, however they are crafted.
#include "formats/zip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/limits.h"
#include "formats/byte_reader.h"

namespace dice {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kZip64LocSig = 0x07064b50, kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr uint64_t kMaxEntries = 1u << 20;

uint32_t rd32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

}  // namespace

bool is_zip(const uint8_t* d, size_t n) {
  if (n < 4) return false;
  uint32_t s = rd32(d);
  return s == kLocalSig || s == kEocdSig;
}

ZipArchive ZipArchive::from_file(const std::string& path) { return from_bytes(read_file(path), path); }

ZipArchive ZipArchive::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  ZipArchive z;
  z.bytes_ = std::move(bytes);
  z.name_ = std::move(name);
  const std::vector<uint8_t>& b = z.bytes_;
  const std::string& nm = z.name_;
  auto corrupt = [&](const std::string& what) {
    throw_error(nm, ": corrupt zip archive (", what, "); the file is damaged or truncated, re-download or re-save it");
  };

  // The EOCD is the last 22+ bytes; search backwards over a possible comment.
  if (b.size() < 22) corrupt("too short for an end-of-central-directory record");
  size_t eocd = SIZE_MAX;
  size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (size_t i = b.size() - 22 + 1; i-- > lowest;) {
    if (rd32(&b[i]) == kEocdSig && i + 22 + (b[i + 20] | b[i + 21] << 8) == b.size()) {
      eocd = i;
      break;
    }
  }
  if (eocd == SIZE_MAX) corrupt("no end-of-central-directory record");
  ByteReader r(b.data(), b.size(), nm, "zip archive");
  r.seek(eocd + 4);
  uint16_t disk = r.u16(), cd_disk = r.u16();
  uint64_t n_disk = r.u16(), n_entries = r.u16();
  uint64_t cd_size = r.u32(), cd_offset = r.u32();
  if (disk != 0 || cd_disk != 0 || n_disk != n_entries)
    throw_error(nm, ": multi-disk zip archives are not supported; rejoin the parts into one file");

  // Zip64: the locator sits right before the EOCD.
  if (eocd >= 20 && rd32(&b[eocd - 20]) == kZip64LocSig) {
    r.seek(eocd - 20 + 8);
    uint64_t z64 = r.u64();
    if (z64 > eocd - 20) corrupt("zip64 record offset out of range");
    r.seek(static_cast<size_t>(z64));
    if (r.u32() != kZip64EocdSig) corrupt("bad zip64 end-of-central-directory signature");
    r.skip(8 + 2 + 2 + 4 + 4);
    n_disk = r.u64();
    n_entries = r.u64();
    cd_size = r.u64();
    cd_offset = r.u64();
    if (n_disk != n_entries) throw_error(nm, ": multi-disk zip archives are not supported");
  }
  if (n_entries > kMaxEntries) corrupt("too many entries");
  if (cd_offset > b.size() || cd_size > b.size() - cd_offset) corrupt("central directory out of range");
  // Each central header is at least 46 bytes.
  if (n_entries > cd_size / 46) corrupt("entry count does not fit the central directory");

  r.seek(static_cast<size_t>(cd_offset));
  for (uint64_t k = 0; k < n_entries; ++k) {
    if (r.u32() != kCentralSig) corrupt("bad central-directory signature");
    Entry e;
    r.skip(4);  // versions
    uint16_t flags = r.u16();
    e.method = r.u16();
    r.skip(4);  // time, date
    e.crc32 = r.u32();
    e.compressed_size = r.u32();
    e.uncompressed_size = r.u32();
    size_t name_len = r.u16(), extra_len = r.u16(), comment_len = r.u16();
    r.skip(2 + 2 + 4);  // disk, internal and external attributes
    e.local_header_offset = r.u32();
    e.name = r.str(name_len);
    ByteReader x(r.take(extra_len), extra_len, nm, "zip extra field");
    r.skip(comment_len);
    if (flags & 1) throw_error(nm, ": entry '", echo(e.name), "' is encrypted; encrypted archives are not supported");
    while (x.remaining() >= 4) {
      uint16_t id = x.u16();
      size_t len = x.u16();
      ByteReader f(x.take(len), len, nm, "zip64 extra field");
      if (id != 0x0001) continue;
      if (e.uncompressed_size == 0xffffffffu) e.uncompressed_size = f.u64();
      if (e.compressed_size == 0xffffffffu) e.compressed_size = f.u64();
      if (e.local_header_offset == 0xffffffffu) e.local_header_offset = f.u64();
    }
    if (e.method != 0 && e.method != 8)
      throw_error(nm, ": entry '", echo(e.name), "' uses compression method ", e.method,
                  "; only stored and deflated entries are supported (re-save with zip -Z deflate)");
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) corrupt("stored entry with differing sizes");
    if (e.local_header_offset >= b.size() || e.compressed_size > b.size())
      corrupt("entry '" + e.name + "' lies outside the file");
    if (z.index_.count(e.name)) corrupt("duplicate entry '" + e.name + "'");
    z.index_[e.name] = z.entries_.size();
    z.entries_.push_back(std::move(e));
  }

  // Members may not share bytes: many central entries pointing at one deflate stream would let a
  // small file inflate to (entries x 1032) times its size (the "overlapping zip bomb"). A member
  // spans its local header, name, extra field and data; one whose local header is unreadable is
  // left for read() to report.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  spans.reserve(z.entries_.size());
  for (const Entry& e : z.entries_) {
    uint64_t at = e.local_header_offset;
    if (at > b.size() || b.size() - at < 30 || rd32(&b[at]) != kLocalSig) continue;
    uint64_t head = 30 + (b[at + 26] | b[at + 27] << 8) + (b[at + 28] | b[at + 29] << 8);
    spans.emplace_back(at, at + head + e.compressed_size);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k)
    if (spans[k].first < spans[k - 1].second) corrupt("members overlap");
  return z;
}

std::vector<std::string> ZipArchive::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

bool ZipArchive::has(const std::string& n) const { return index_.count(n) != 0; }

const ZipArchive::Entry& ZipArchive::entry(const std::string& n) const {
  auto it = index_.find(n);
  if (it == index_.end())
    throw_error(name_, ": zip archive has no member '", echo(n), "'; the file is incomplete or not the expected kind");
  return entries_[it->second];
}

std::vector<uint8_t> ZipArchive::read(const std::string& n) const {
  const Entry& e = entry(n);
  auto corrupt = [&](const std::string& what) {
    throw_error(name_, ": corrupt zip member '", echo(n), "' (", what, "); the file is damaged, re-download or re-save it");
  };
  ByteReader r(bytes_.data(), bytes_.size(), name_, "zip archive");
  r.seek(static_cast<size_t>(e.local_header_offset));
  if (r.u32() != kLocalSig) corrupt("bad local header signature");
  r.skip(22);
  size_t name_len = r.u16(), extra_len = r.u16();
  r.skip(name_len);
  r.skip(extra_len);
  if (e.compressed_size > r.remaining()) corrupt("data runs past the end of the file");
  const uint8_t* src = r.take(static_cast<size_t>(e.compressed_size));

  // Bound the output by the declared size; it must also be plausible for memory.
  if (e.uncompressed_size > (uint64_t(1) << 40)) corrupt("declared size is implausible");
  if (e.uncompressed_size > max_input_bytes()) throw_input_limit(name_, "member '" + echo(n) + "'", e.uncompressed_size);
  std::vector<uint8_t> out;
  if (e.method == 0) {
    out.assign(src, src + e.compressed_size);
  } else {
    // Deflate cannot expand by more than ~1032x; a larger claim is a lie or a bomb.
    if (e.uncompressed_size > e.compressed_size * 1032 + 1024) corrupt("declared size is implausible");
    out.resize(static_cast<size_t>(e.uncompressed_size));
    z_stream s;
    std::memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK) throw_error(name_, ": zlib initialisation failed");
    // zlib's counters are 32-bit: feed and drain in chunks. Once the declared size is filled,
    // the stream must end: a 1-byte sink catches data beyond the declared size.
    size_t in_pos = 0, out_pos = 0;
    int rc = Z_OK;
    for (;;) {
      const bool full = out_pos == out.size();
      uint8_t sink = 0;
      size_t in_chunk = std::min<size_t>(e.compressed_size - in_pos, 1u << 30);
      size_t out_chunk = full ? 1 : std::min<size_t>(out.size() - out_pos, 1u << 30);
      s.next_in = const_cast<Bytef*>(src + in_pos);
      s.avail_in = static_cast<uInt>(in_chunk);
      s.next_out = full ? &sink : out.data() + out_pos;
      s.avail_out = static_cast<uInt>(out_chunk);
      rc = inflate(&s, Z_NO_FLUSH);
      size_t consumed = in_chunk - s.avail_in, produced = out_chunk - s.avail_out;
      in_pos += consumed;
      if (full && produced) rc = Z_DATA_ERROR;  // more data than declared
      if (!full) out_pos += produced;
      if (rc != Z_OK) break;
      if (!consumed && !produced) {  // no progress: input exhausted before the end of the stream
        rc = Z_BUF_ERROR;
        break;
      }
    }
    inflateEnd(&s);
    if (rc != Z_STREAM_END) corrupt("deflate stream is invalid or does not match the declared size");
    if (out_pos != out.size()) corrupt("deflate stream is shorter than the declared size");
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < out.size(); off += 1u << 30)
    crc = crc32(crc, out.data() + off, static_cast<uInt>(std::min<size_t>(out.size() - off, 1u << 30)));
  if (static_cast<uint32_t>(crc) != e.crc32) corrupt("CRC-32 mismatch");
  return out;
}

}  // namespace dice
