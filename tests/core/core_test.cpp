// core/: parallel_for covers every index exactly once; AtomicFile leaves nothing on failure;
// file sets read whole whatever was interrupted; echo() makes outside text safe to print.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/file_set.h"
#include "core/parallel.h"
#include "test_util.h"

TEST(Parallel, CoversEveryIndexOnce) {
  for (int64_t n : {1, 2, 3, 17, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    dice::parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(Parallel, PropagatesExceptions) {
  EXPECT_THROW(dice::parallel_for(8, [](int64_t b, int64_t) {
                 if (b == 0) throw dice::Error("boom");
               }),
               dice::Error);
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  std::string dir = dice::test::temp_dir();
  std::string path = dir + "/out.bin";
  {
    dice::AtomicFile f(path);
    f.write("half", 4);
  }
  EXPECT_FALSE(dice::file_exists(path));
  dice::write_file_atomic(path, "whole", 5);
  EXPECT_EQ(dice::read_file(path).size(), 5u);
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    dice::read_file("/nonexistent/x.bin");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.bin"), std::string::npos);
  }
}

TEST(Echo, EscapesControlsAndCutsLongText) {
  EXPECT_EQ(dice::echo("plain name.npy"), "plain name.npy");
  EXPECT_EQ(dice::echo("a\x1b]0;pwned\x07z\n"), "a\\x1b]0;pwned\\x07z\\n");
  EXPECT_EQ(dice::echo("caf\xc3\xa9"), "caf\xc3\xa9");               // UTF-8 passes
  EXPECT_EQ(dice::echo("\xc2\x9b" "2J\xff"), "\\xc2\\x9b2J\\xff");  // C1 CSI and a stray byte do not
  const std::string big(1 << 20, 'x');
  const std::string e = dice::echo(big + "/tail.jpg");
  EXPECT_LE(e.size(), 120u);
  EXPECT_NE(e.find("tail.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("bytes"), std::string::npos) << e;
  // Short text that escaping makes too long: the cut must stay inside the text (fuzz_npy found
  // this reading past a 40-byte descr of control characters).
  for (size_t n : {1, 20, 40, 41, 83, 100, 399, 400}) {
    const std::string ctl(n, '\x01');
    const std::string c = dice::echo(ctl);
    EXPECT_LE(c.size(), 4 * n + 40) << n;
    EXPECT_EQ(c.find('\x01'), std::string::npos) << n;
  }
  EXPECT_EQ(dice::echo(std::string(5, '\x01'), 10).find('\x01'), std::string::npos);
}

namespace {

std::string text_of(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

std::vector<std::pair<std::string, std::vector<uint8_t>>> set_of(const std::string& prefix, const std::string& tag) {
  return {{prefix + ".a.npy", std::vector<uint8_t>(tag.begin(), tag.end())},
          {prefix + ".b.npy", std::vector<uint8_t>(tag.rbegin(), tag.rend())}};
}

}  // namespace

// The state a run killed between its commit point and its renames leaves: the new manifest, the
// old members, the new members under the temporary names the manifest lists. Readers see the new
// set; the next writer rolls it forward first. A member replaced by anything else is refused.
TEST(FileSet, KilledAfterCommitReadsAsTheNewSet) {
  const std::string old_dir = dice::test::temp_dir(), new_dir = dice::test::temp_dir();
  const std::string p = old_dir + "/p", q = new_dir + "/p";
  dice::write_file_set(p, set_of(p, "old-set"));
  dice::write_file_set(q, set_of(q, "the-new-set"));
  // Move the new set into old_dir as a killed run would have left it.
  const std::string manifest = text_of(dice::read_file(dice::set_manifest_path(q)));
  std::istringstream lines(manifest);
  std::string line;
  std::getline(lines, line);  // "dice-set 1"
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string size, hash, suffix, name;
    f >> size >> hash >> suffix >> name;
    const std::vector<uint8_t> b = dice::read_file(new_dir + "/" + name);
    dice::write_file_atomic(old_dir + "/" + name + ".tmp." + suffix, b.data(), b.size());
  }
  dice::write_file_atomic(dice::set_manifest_path(p), manifest.data(), manifest.size());
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".a.npy")), "the-new-set");
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".b.npy")), "tes-wen-eht");
  EXPECT_EQ(text_of(dice::read_file(p + ".a.npy")), "old-set");  // not renamed yet
  // A member from elsewhere does not belong to the set.
  dice::write_file_atomic(p + ".b.npy", "other", 5);
  dice::write_file_set(q, set_of(q, "x"));  // (q's own set moves on; p's is untouched)
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".a.npy")), "the-new-set");
  // The next write under p first completes the interrupted one, then publishes its own.
  dice::write_file_set(p, set_of(p, "third"));
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".a.npy")), "third");
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".b.npy")), "driht");
}

TEST(FileSet, MemberFromAnotherRunIsRefused) {
  const std::string dir = dice::test::temp_dir(), p = dir + "/p";
  dice::write_file_set(p, set_of(p, "one"));
  dice::write_file_atomic(p + ".b.npy", "two", 3);
  EXPECT_THROW(dice::read_set_member(p, p + ".b.npy"), dice::Error);
  EXPECT_EQ(text_of(dice::read_set_member(p, p + ".a.npy")), "one");
}

// A FIFO as the target is written in place (its reader gets the bytes) and stays a FIFO.
TEST(AtomicFile, FifoIsWrittenInPlace) {
  const std::string dir = dice::test::temp_dir(), fifo = dir + "/out.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::string got;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    got.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  });
  for (int i = 0; i < 500; ++i) {  // until the reader has opened its end
    try {
      dice::write_file_atomic(fifo, "{}\n", 3);
      break;
    } catch (const dice::Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  reader.join();
  EXPECT_EQ(got, "{}\n");
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(AtomicFile, FoldersAndInputsAreRefused) {
  const std::string dir = dice::test::temp_dir(), in = dir + "/in.bin", link = dir + "/link.bin";
  EXPECT_THROW(dice::AtomicFile f(dir), dice::Error);
  EXPECT_THROW(dice::AtomicFile f(dir + "/missing/x"), dice::Error);
  dice::write_file_atomic(in, "input", 5);
  ASSERT_EQ(::symlink("in.bin", link.c_str()), 0);
  dice::note_input(in);
  EXPECT_THROW(dice::AtomicFile f(in), dice::Error);
  EXPECT_THROW(dice::AtomicFile f(link), dice::Error);  // the same file under another name
  EXPECT_EQ(dice::read_file(in).size(), 5u);
}
