// formats/json: round trips (numbers at full double precision, escapes, unicode, insertion order)
// and rejection of malformed text, with the depth bound holding against deep nesting.
#include <cmath>

#include "core/error.h"
#include "formats/json.h"
#include "test_util.h"

using dice::Json;

TEST(Json, RoundTripKeepsOrderAndValues) {
  Json o = Json::object();
  o.set("zeta", Json(1));
  o.set("alpha", Json("a \"quoted\"\\ line\nwith\ttab \x01 and caf\xc3\xa9"));
  Json arr = Json::array();
  for (double d : {0.1, 1.0 / 3.0, -1e-300, 1.7976931348623157e308, 123456789012345.0, -0.0, 5e-324})
    arr.push_back(Json(d));
  o.set("nums", arr);
  o.set("t", Json(true));
  o.set("n", Json());
  o.set("empty", Json::object());
  for (int indent : {-1, 2}) {
    Json back = Json::parse(o.dump(indent));
    ASSERT_EQ(back.members().size(), 6u);
    EXPECT_EQ(back.members()[0].first, "zeta");
    EXPECT_EQ(back.at("alpha").as_string(), o.at("alpha").as_string());
    for (size_t i = 0; i < arr.size(); ++i)
      EXPECT_EQ(back.at("nums")[i].as_number(), arr[i].as_number()) << i;
    EXPECT_TRUE(back.at("t").as_bool());
    EXPECT_TRUE(back.at("n").is_null());
    EXPECT_EQ(back.dump(indent), o.dump(indent));
  }
  EXPECT_EQ(Json::parse("[1,2]").dump(), "[1,2]");
  EXPECT_EQ(Json(0.5).dump(), "0.5");
  EXPECT_EQ(Json(int64_t(42)).dump(), "42");
  EXPECT_EQ(Json(NAN).dump(), "null");
}

TEST(Json, ParsesEscapesAndUnicode) {
  Json j = Json::parse(R"({"s": "\u00e9\ud83d\ude00\/\b\f\r", "e": 1.5E+2, "neg": -0.25})");
  EXPECT_EQ(j.at("s").as_string(), "\xc3\xa9\xf0\x9f\x98\x80/\b\f\r");
  EXPECT_EQ(j.at("e").as_number(), 150.0);
  EXPECT_EQ(j.at("neg").as_number(), -0.25);
  EXPECT_EQ(Json::parse("  [ ]  ").size(), 0u);
  EXPECT_EQ(Json::parse("123").as_int(), 123);
}

TEST(Json, RejectsMalformedText) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "+1", "\"abc", "\"\\x\"",
                          "\"\\ud800\"", "tru", "nul", "[1] 2", "{\"a\":1,}", "\"tab\there\"", "1e", "--1"}) {
    try {
      Json::parse(bad, "bad.json");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const dice::Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
    }
  }
}

TEST(Json, DepthIsBounded) {
  std::string deep(100000, '[');
  EXPECT_THROW(Json::parse(deep, "deep.json"), dice::Error);
  std::string ok = std::string(60, '[') + std::string(60, ']');
  EXPECT_NO_THROW(Json::parse(ok));
}

TEST(Json, TypedAccessErrors) {
  Json j = Json::parse("{\"a\": 1.5}");
  EXPECT_THROW(j.at("b"), dice::Error);
  EXPECT_THROW(j.at("a").as_string(), dice::Error);
  EXPECT_THROW(j.at("a").as_int(), dice::Error);
  EXPECT_THROW(j[0], dice::Error);
}
