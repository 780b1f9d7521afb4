// formats/pickle: values of every opcode family, the allow-list (malicious pickles calling
// os.system, eval, subprocess.Popen through GLOBAL, STACK_GLOBAL and INST are refused), cycles,
// deep nesting, and every truncation of a real pickle.
#include <string>

#include "core/error.h"
#include "formats/pickle.h"
#include "test_util.h"

using dice::PyRef;
using Kind = dice::PyValue::Kind;

static PyRef load(const std::string& p, const std::set<std::string>& allowed = {},
                  const std::string& name = "test.pkl") {
  return dice::unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), allowed, name);
}

static std::string error_of(const std::string& p, const std::set<std::string>& allowed = {}) {
  try {
    load(p, allowed, "evil.pkl");
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Pickle, Scalars) {
  using namespace std::string_literals;
  EXPECT_EQ(load("\x80\x02K\x07."s)->i, 7);
  EXPECT_EQ(load("\x80\x02M\x01\x02."s)->i, 0x0201);
  EXPECT_EQ(load("\x80\x02J\xfe\xff\xff\xff."s)->i, -2);
  EXPECT_EQ(load("I-42\n."s)->i, -42);
  EXPECT_EQ(load("I01\n."s)->kind, Kind::Bool);
  EXPECT_EQ(load("L123456789012L\n."s)->i, 123456789012);
  EXPECT_EQ(load("\x80\x02\x8a\x01\xff."s)->i, -1);               // LONG1 -1
  EXPECT_EQ(load("\x80\x02\x8a\x02\xff\x00."s)->i, 255);          // LONG1 255
  EXPECT_EQ(load("\x80\x02\x8a\x00."s)->i, 0);
  PyRef big = load("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s);  // torch's magic
  EXPECT_TRUE(big->big);
  EXPECT_EQ(big->str.size(), 10u);
  EXPECT_DOUBLE_EQ(load("\x80\x02G\x3f\xf8\x00\x00\x00\x00\x00\x00."s)->f, 1.5);
  EXPECT_DOUBLE_EQ(load("F-0.25\n."s)->f, -0.25);
  EXPECT_EQ(load("\x80\x02N."s)->kind, Kind::None);
  EXPECT_TRUE(load("\x80\x02\x88."s)->b);
  EXPECT_FALSE(load("\x80\x02\x89."s)->b);
}

TEST(Pickle, Strings) {
  using namespace std::string_literals;
  EXPECT_EQ(load("\x80\x02X\x03\x00\x00\x00" "abc."s)->str, "abc");
  EXPECT_EQ(load("\x80\x04\x8c\x02hi."s)->str, "hi");
  EXPECT_EQ(load("\x80\x03" "C\x02\x00\x01."s)->kind, Kind::Bytes);
  EXPECT_EQ(load("\x80\x03" "C\x02\x00\x01."s)->str, "\x00\x01"s);
  EXPECT_EQ(load("S'a\\nb\\x41\\''\n."s)->str, "a\nbA'");
  EXPECT_EQ(load("U\x03xyz."s)->str, "xyz");
  EXPECT_EQ(load("Vcaf\\u00e9\n."s)->str, "caf\xc3\xa9");
}

TEST(Pickle, Containers) {
  using namespace std::string_literals;
  // {'a': [1, 2], 'b': (3,), 'c': {4}} with memo PUT/GET: protocol 2 then 4.
  PyRef d = load("\x80\x02}q\x00(X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01K\x02" "eX\x01\x00\x00\x00" "bK\x03\x85u."s);
  ASSERT_EQ(d->kind, Kind::Dict);
  ASSERT_EQ(d->entries.size(), 2u);
  EXPECT_EQ(d->get("a")->items.size(), 2u);
  EXPECT_EQ(d->get("a")->items[1]->i, 2);
  EXPECT_EQ(d->get("b")->kind, Kind::Tuple);
  PyRef t = load("\x80\x02(K\x01K\x02t."s);  // (1, 2)
  EXPECT_EQ(t->items.size(), 2u);
  PyRef m = load("\x80\x02]q\x05K\x09" "ah\x05\x86."s);  // [9] memoized, then (list, list) via BINGET
  ASSERT_EQ(m->kind, Kind::Tuple);
  EXPECT_EQ(m->items[0].get(), m->items[1].get());
  PyRef s = load("\x80\x04\x8f\x94(K\x01K\x02\x90."s);  // EMPTY_SET MEMOIZE MARK 1 2 ADDITEMS
  EXPECT_EQ(s->kind, Kind::Set);
  EXPECT_EQ(s->items.size(), 2u);
  PyRef l = load("(lp0\nI1\naI2\na."s);  // protocol 0 list
  EXPECT_EQ(l->items.size(), 2u);
}

TEST(Pickle, AllowedGlobalBecomesCallWithoutRunningIt) {
  using namespace std::string_literals;
  std::set<std::string> allowed{"torch._utils._rebuild_tensor_v2", "collections.OrderedDict"};
  PyRef c = load("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nK\x01\x85R}b."s, allowed);
  ASSERT_TRUE(c->is_call_of("torch._utils._rebuild_tensor_v2"));
  EXPECT_EQ(c->args->items[0]->i, 1);
  ASSERT_TRUE(c->state);
  EXPECT_EQ(c->state->kind, Kind::Dict);
  // OrderedDict() is a plain ordered dict.
  PyRef od = load("\x80\x02\x63\x63ollections\nOrderedDict\n)R(K\x02K\x01K\x01K\x02u."s, allowed);
  ASSERT_EQ(od->kind, Kind::Dict);
  EXPECT_EQ(od->entries[0].first->i, 2);
  // Persistent ids are data.
  PyRef p = load("\x80\x02X\x01\x00\x00\x00k\x85Q."s);
  ASSERT_EQ(p->kind, Kind::PersistentId);
  EXPECT_EQ(p->pid->items[0]->str, "k");
}

TEST(Pickle, MaliciousGlobalsAreRefused) {
  using namespace std::string_literals;
  std::set<std::string> allowed{"torch._utils._rebuild_tensor_v2", "collections.OrderedDict"};
  struct Case {
    const char* what;
    std::string bytes;
    const char* global;
  } cases[] = {
      {"os.system via GLOBAL+REDUCE", "\x80\x02\x63os\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R."s, "os.system"},
      {"posix.system", "cposix\nsystem\n(S'id'\ntR."s, "posix.system"},
      {"builtins.eval", "cbuiltins\neval\n(S'1+1'\ntR."s, "builtins.eval"},
      {"__builtin__.exec (py2)", "c__builtin__\nexec\n(S'x'\ntR."s, "__builtin__.exec"},
      {"subprocess.Popen via NEWOBJ", "\x80\x02\x63subprocess\nPopen\nX\x02\x00\x00\x00ls\x85\x81."s, "subprocess.Popen"},
      {"STACK_GLOBAL os.system",
       "\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94."s,
       "os.system"},
      {"INST os.system", "(S'ls'\nios\nsystem\n."s, "os.system"},
      {"nested inside a state dict",
       "\x80\x02}(X\x01\x00\x00\x00w\x63os\nsystem\nX\x02\x00\x00\x00ls\x85Ru."s, "os.system"},
  };
  for (const Case& c : cases) {
    std::string e = error_of(c.bytes, allowed);
    EXPECT_NE(e.find("evil.pkl"), std::string::npos) << c.what << ": " << e;
    EXPECT_NE(e.find(std::string("'") + c.global + "'"), std::string::npos) << c.what << ": " << e;
    EXPECT_NE(e.find("may be malicious"), std::string::npos) << c.what << ": " << e;
  }
}

TEST(Pickle, StructuralErrorsNameTheFile) {
  using namespace std::string_literals;
  const std::string bad[] = {
      ""s, "\x80\x02"s, "\x80\x09K\x01."s, "."s, "K"s, "X\xff\xff\xff\x7f"s, "h\x05."s, "t."s, "a."s,
      "\x80\x02K\x01K\x02s."s, "\x82\x01."s, "\xff."s, "]\x94\x32\x61."s /* [] DUP APPEND: cycle */,
      "\x80\x02]q\x00h\x00" "a."s /* list appended to itself via memo */, "I12x\n."s, "S'abc\n."s,
      "\x8b\xff\xff\xff\xff."s, "(\x93."s,
  };
  for (const auto& b : bad) {
    std::string e = error_of(b);
    EXPECT_NE(e.find("evil.pkl"), std::string::npos) << "input of " << b.size() << " bytes: " << e;
  }
}

TEST(Pickle, DeepNestingIsSafeToBuildAndDestroy) {
  // 200000 nested lists: [[[...]]] built by EMPTY_LIST repeated then APPEND repeated.
  const int n = 200000;
  std::string p = "\x80\x02";
  p.append(n, ']');
  p.append(n - 1, 'a');
  p += '.';
  PyRef v = load(p);
  EXPECT_EQ(v->kind, Kind::List);
  EXPECT_FALSE(v->repr().empty());  // depth-limited
  v.reset();                        // iterative teardown, no stack overflow
}

TEST(Pickle, LimitsAreEnforced) {
  std::string p = "\x80\x02";
  p.append(100, 'N');
  p += "l.";
  dice::PickleLimits lim;
  lim.max_stack = 50;
  EXPECT_THROW(dice::unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), {}, "x", nullptr, lim),
               dice::Error);
  lim = dice::PickleLimits();
  lim.max_nodes = 10;
  EXPECT_THROW(dice::unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), {}, "x", nullptr, lim),
               dice::Error);
}

TEST(Pickle, ConsumedReportsTheEndOfEachPickle) {
  std::string two = std::string("\x80\x02K\x01.\x80\x02K\x02.", 10);
  size_t used = 0;
  auto a = dice::unpickle(reinterpret_cast<const uint8_t*>(two.data()), two.size(), {}, "x", &used);
  EXPECT_EQ(used, 5u);
  auto b = dice::unpickle(reinterpret_cast<const uint8_t*>(two.data()) + used, two.size() - used, {}, "x");
  EXPECT_EQ(a->i + b->i, 3);
}

TEST(Pickle, EveryTruncationThrows) {
  using namespace std::string_literals;
  std::set<std::string> allowed{"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"};
  // A torch-style entry: OrderedDict with one _rebuild_tensor_v2 call on a persistent storage.
  std::string p =
      "\x80\x02\x63\x63ollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02\x63torch._utils\n"
      "_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04\x63torch\nFloatStorage\nq\x05X\x01\x00"
      "\x00\x00\x30X\x03\x00\x00\x00" "cpuK\x06tq\x06QK\x00K\x02K\x03\x86K\x03K\x01\x86\x89h\x00)Rtq\x07Rs."s;
  PyRef full = load(p, allowed);
  ASSERT_EQ(full->kind, Kind::Dict);
  EXPECT_TRUE(full->get("w")->is_call_of("torch._utils._rebuild_tensor_v2"));
  for (size_t n = 0; n < p.size(); ++n)
    EXPECT_NE(error_of(p.substr(0, n), allowed).find("evil.pkl"), std::string::npos) << "cut at " << n;
}
