// formats/npy: arrays written by numpy (format versions 1-3, several dtypes) read exactly;
// Fortran order and big-endian refused clearly; write/read round trips; truncations throw.
#include <sys/stat.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/npy.h"
#include "test_util.h"

using dice::test::fixture;

static std::string error_of_file(const std::string& path) {
  try {
    dice::read_npy(path);
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Npy, ReadsNumpyFiles) {
  dice::NpyArray a = dice::read_npy(fixture("formats/f4_v1.npy"));
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 4}));
  std::vector<float> f = dice::npy_to_float(a, "f4");
  ASSERT_EQ(f.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(f[i], i / 4.0f);

  for (const char* v : {"formats/f8_v2.npy", "formats/f8_v3.npy"}) {
    dice::NpyArray b = dice::read_npy(fixture(v));
    EXPECT_EQ(b.shape, (std::vector<int64_t>{5}));
    std::vector<double> d = dice::npy_to_double(b, v);
    EXPECT_EQ(d, (std::vector<double>{-1, -0.5, 0, 0.5, 1})) << v;
  }
  EXPECT_EQ(dice::npy_to_double(dice::read_npy(fixture("formats/u1.npy")), "u1"), (std::vector<double>{0, 7, 255}));
  dice::NpyArray i8 = dice::read_npy(fixture("formats/i8.npy"));
  EXPECT_EQ(i8.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(dice::npy_to_double(i8, "i8"), (std::vector<double>{-3, 1099511627776.0}));
  EXPECT_EQ(dice::npy_to_double(dice::read_npy(fixture("formats/i4.npy")), "i4"), (std::vector<double>{-1, 5}));
  dice::NpyArray s = dice::read_npy(fixture("formats/scalar.npy"));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(dice::npy_to_double(s, "s"), (std::vector<double>{3.5}));
}

TEST(Npy, RefusesFortranOrderAndBigEndianClearly) {
  std::string e = error_of_file(fixture("formats/fortran.npy"));
  EXPECT_NE(e.find("fortran.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("Fortran"), std::string::npos) << e;
  e = error_of_file(fixture("formats/big_endian.npy"));
  EXPECT_NE(e.find("big_endian.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("big-endian"), std::string::npos) << e;
}

TEST(Npy, RoundTrips) {
  std::string dir = dice::test::temp_dir();
  std::vector<float> f = {1.5f, -2.25f, 3e-38f, INFINITY, 0.0f, 7.0f};
  dice::write_npy_f32(dir + "/f.npy", {2, 3}, f.data());
  dice::NpyArray a = dice::read_npy(dir + "/f.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(dice::npy_to_float(a, "f"), f);

  std::vector<int64_t> i = {-5, 1LL << 50, 0};
  dice::write_npy_i64(dir + "/i.npy", {3}, i.data());
  dice::NpyArray b = dice::read_npy(dir + "/i.npy");
  EXPECT_EQ(b.descr, "<i8");
  ASSERT_EQ(b.data.size(), 24u);
  EXPECT_EQ(std::memcmp(b.data.data(), i.data(), 24), 0);

  double d = 0.1;
  dice::write_npy_f64(dir + "/s.npy", {}, &d);
  EXPECT_EQ(dice::npy_to_double(dice::read_npy(dir + "/s.npy"), "s"), (std::vector<double>{0.1}));

  // The data of every written file starts at a multiple of 64 bytes, as numpy requires.
  for (const char* n : {"/f.npy", "/i.npy", "/s.npy"}) {
    int64_t size = dice::file_size(dir + n);
    dice::NpyArray x = dice::read_npy(dir + n);
    EXPECT_EQ((size - static_cast<int64_t>(x.data.size())) % 64, 0) << n;
  }
  std::vector<float> empty;
  dice::write_npy_f32(dir + "/e.npy", {0, 4}, empty.data());
  EXPECT_EQ(dice::read_npy(dir + "/e.npy").shape, (std::vector<int64_t>{0, 4}));
}

TEST(Npy, SetIsAllOrNothing) {
  const std::string dir = dice::test::temp_dir(), p = dir + "/s";
  const float f[2] = {1.5f, -2.f};
  const int64_t l[2] = {3, 4};
  // The last file cannot be written (a folder has its name): neither of the others may appear.
  ASSERT_EQ(::mkdir((p + ".c.npy").c_str(), 0755), 0);
  EXPECT_THROW(dice::write_npy_set(p, {{p + ".a.npy", dice::npy_f32({2}, f)},
                                       {p + ".b.npy", dice::npy_i64({2}, l)},
                                       {p + ".c.npy", dice::npy_f32({1, 2}, f)}}),
               dice::Error);
  EXPECT_FALSE(dice::file_exists(p + ".a.npy"));
  EXPECT_FALSE(dice::file_exists(p + ".b.npy"));
  dice::write_npy_set(p, {{p + ".a.npy", dice::npy_f32({2}, f)}, {p + ".b.npy", dice::npy_i64({2}, l)}});
  dice::NpyArray a = dice::read_npy(p + ".a.npy"), b = dice::read_npy(p + ".b.npy");
  EXPECT_EQ(dice::npy_to_float(a, "a"), std::vector<float>({1.5f, -2.f}));
  EXPECT_EQ(dice::npy_to_double(b, "b"), std::vector<double>({3, 4}));
}

TEST(Npy, WriteRejectsInconsistentArrays) {
  dice::NpyArray a;
  a.descr = "<f4";
  a.shape = {3};
  a.data.resize(8);
  EXPECT_THROW(dice::write_npy(dice::test::temp_dir() + "/bad.npy", a), dice::Error);
}

TEST(Npy, EveryTruncationAndBadHeaderThrows) {
  std::vector<uint8_t> full = dice::read_file(fixture("formats/f4_v1.npy"));
  for (size_t n = 0; n < full.size(); ++n) {
    try {
      dice::parse_npy(full.data(), n, "cut.npy");
      ADD_FAILURE() << "accepted a truncation to " << n << " bytes";
    } catch (const dice::Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.npy"), std::string::npos) << e.what();
    }
  }
  auto with_header = [](const std::string& h) {
    std::string s = std::string("\x93NUMPY\x01\x00", 8);
    s.push_back(static_cast<char>(h.size()));
    s.push_back(0);
    return s + h;
  };
  for (const std::string h :
       {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f4', 'shape': (1,), }", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "not a dict"}) {
    std::string s = with_header(h);
    EXPECT_THROW(dice::parse_npy(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "h.npy"), dice::Error) << h;
  }
}
