// Test helper: builds small zip archives in memory (stored or deflated members), so tests can make
// well-formed archives with hostile contents (malicious pickles) and then damage them byte by byte.
// Header-only; used by tests/formats and tests/weights.
#pragma once
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dice::test {

inline void le(std::vector<uint8_t>& o, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) o.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

inline std::vector<uint8_t> make_zip(const std::vector<std::pair<std::string, std::string>>& members,
                                     bool compress = false) {
  std::vector<uint8_t> out, cd;
  for (const auto& m : members) {
    const std::string& data = m.second;
    uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()),
                                               static_cast<uInt>(data.size())));
    std::string body = data;
    if (compress) {
      z_stream s;
      std::memset(&s, 0, sizeof s);
      deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
      std::vector<uint8_t> buf(deflateBound(&s, static_cast<uLong>(data.size())) + 16);
      s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      s.avail_in = static_cast<uInt>(data.size());
      s.next_out = buf.data();
      s.avail_out = static_cast<uInt>(buf.size());
      deflate(&s, Z_FINISH);
      body.assign(reinterpret_cast<char*>(buf.data()), s.total_out);
      deflateEnd(&s);
    }
    uint16_t method = compress ? 8 : 0;
    uint32_t offset = static_cast<uint32_t>(out.size());
    le(out, 0x04034b50, 4); le(out, 20, 2); le(out, 0, 2); le(out, method, 2); le(out, 0, 4);
    le(out, crc, 4); le(out, body.size(), 4); le(out, data.size(), 4);
    le(out, m.first.size(), 2); le(out, 0, 2);
    out.insert(out.end(), m.first.begin(), m.first.end());
    out.insert(out.end(), body.begin(), body.end());
    le(cd, 0x02014b50, 4); le(cd, 20, 2); le(cd, 20, 2); le(cd, 0, 2); le(cd, method, 2); le(cd, 0, 4);
    le(cd, crc, 4); le(cd, body.size(), 4); le(cd, data.size(), 4);
    le(cd, m.first.size(), 2); le(cd, 0, 2); le(cd, 0, 2); le(cd, 0, 2); le(cd, 0, 2); le(cd, 0, 4);
    le(cd, offset, 4);
    cd.insert(cd.end(), m.first.begin(), m.first.end());
  }
  uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  le(out, 0x06054b50, 4); le(out, 0, 2); le(out, 0, 2); le(out, members.size(), 2);
  le(out, members.size(), 2); le(out, cd.size(), 4); le(out, cd_offset, 4); le(out, 0, 2);
  return out;
}

inline std::string str_of(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// The data.pkl of a torch checkpoint {"w": tensor} whose one tensor has the pickled (size,
// stride) tuples given, over float storage "0".
inline std::string torch_view_pickle(const std::string& size_tuple, const std::string& stride_tuple) {
  using namespace std::string_literals;
  return "\x80\x02}X\x01\x00\x00\x00w"s + "ctorch._utils\n_rebuild_tensor_v2\n(" +
         "(X\x07\x00\x00\x00storage"s + "ctorch\nFloatStorage\n" + "X\x01\x00\x00\x00"s + "0" +
         "X\x03\x00\x00\x00"s + "cpu" + "K\x01tQ" + "K\x00"s + size_tuple + stride_tuple + "\x89"s +
         "ccollections\nOrderedDict\n)RtRs.";
}

// That checkpoint as a zip, its storage one float 1.0.
inline std::string torch_checkpoint_with_view(const std::string& size_tuple, const std::string& stride_tuple) {
  return str_of(make_zip({{"archive/data.pkl", torch_view_pickle(size_tuple, stride_tuple)},
                          {"archive/data/0", std::string("\x00\x00\x80\x3f", 4)}}));
}

}  // namespace dice::test
