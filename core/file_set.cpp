// A set of files published together through a manifest (see file_set.h for the protocol).
#include "core/file_set.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"

namespace dice {
namespace {

struct Entry {
  uint64_t size = 0, hash = 0;
  std::string tmp_suffix, name;  // name: the member's file name, without the folder
};

uint64_t fnv1a(const std::vector<uint8_t>& b) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t c : b) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string folder_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string in_folder(const std::string& folder, const std::string& name) {
  return folder == "." ? name : folder + (folder == "/" ? "" : "/") + name;
}

bool matches(const std::vector<uint8_t>& b, const Entry& e) {
  return b.size() == e.size && fnv1a(b) == e.hash;
}

// The manifest's entries; empty if there is none. Throws naming the manifest if it is malformed.
std::vector<Entry> read_manifest(const std::string& manifest) {
  if (!file_exists(manifest)) return {};
  const std::vector<uint8_t> b = read_file(manifest, 1 << 20);
  std::istringstream in(std::string(b.begin(), b.end()));
  std::string line;
  std::vector<Entry> out;
  if (!std::getline(in, line) || line != "dice-set 1")
    throw_error(echo(manifest), ": not a dice-set manifest; delete it and rerun dice features");
  while (std::getline(in, line)) {
    Entry e;
    std::istringstream ls(line);
    ls >> e.size >> std::hex >> e.hash >> e.tmp_suffix;
    if (!ls || ls.get() != ' ' || !std::getline(ls, e.name) || e.name.empty())
      throw_error(echo(manifest), ": malformed line '", echo(line),
                  "'; delete it and rerun dice features");
    out.push_back(e);
  }
  return out;
}

// Step 2: a temporary named by the manifest that still exists and matches was committed but not
// yet renamed; finish the rename.
void roll_forward(const std::string& folder, const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    const std::string tmp = in_folder(folder, e.name + ".tmp." + e.tmp_suffix);
    if (file_exists(tmp) && matches(read_file(tmp), e))
      rename_durable(tmp, in_folder(folder, e.name));
  }
}

// A run killed before its commit point leaves its temporaries ("<member>.tmp.XXXXXXXX"). Under
// the folder lock no other run is writing a member, and roll_forward has used what the manifest
// named, so whatever remains is stale.
void remove_stale(const std::string& folder, const std::vector<std::string>& members) {
  DIR* d = ::opendir(folder.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    for (const std::string& m : members)
      if (name.size() == m.size() + 13 && name.compare(0, m.size() + 5, m + ".tmp.") == 0)
        stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) ::unlink(in_folder(folder, name).c_str());
}

// flock on the folder: released when the process ends, however it ends.
class FolderLock {
 public:
  explicit FolderLock(const std::string& folder) {
    fd_ = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw_error(echo(folder), ": cannot open the folder (", std::strerror(errno), ")");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        throw_error(echo(folder), ": cannot lock the folder (", std::strerror(errno), ")");
      }
    }
  }
  ~FolderLock() { ::close(fd_); }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

std::string set_manifest_path(const std::string& prefix) { return prefix + ".dice-set"; }

void check_set_output(const std::string& path) {
  check_output(path);
  if (file_exists(path) && !is_regular_file(path))
    throw_error(
        echo(path),
        ": a set member must be a regular file (not a device or FIFO); choose another --out");
}

void write_file_set(const std::string& prefix,
                    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members) {
  const std::string manifest = set_manifest_path(prefix), folder = folder_of(manifest);
  if (prefix.find('\n') != std::string::npos)
    throw_error(echo(prefix), ": an output prefix cannot hold a line break");
  for (const auto& m : members) {
    DICE_ASSERT(m.first.compare(0, prefix.size(), prefix) == 0);
    check_set_output(m.first);
  }
  check_set_output(manifest);
  FolderLock lock(folder);
  roll_forward(folder, read_manifest(manifest));
  std::vector<std::string> names{base_of(manifest)};
  for (const auto& m : members) names.push_back(base_of(m.first));
  remove_stale(folder, names);
  std::vector<std::unique_ptr<AtomicFile>> files;
  std::string text = "dice-set 1\n";
  for (const auto& [path, bytes] : members) {
    files.push_back(std::make_unique<AtomicFile>(path));
    AtomicFile& f = *files.back();
    f.write(bytes.data(), bytes.size());
    f.sync();
    DICE_ASSERT(!f.temp_path().empty());  // check_set_output refused devices and FIFOs
    char line[64];
    std::snprintf(line, sizeof line, "%llu %016llx ", static_cast<unsigned long long>(bytes.size()),
                  static_cast<unsigned long long>(fnv1a(bytes)));
    text += line + f.temp_path().substr(path.size() + 5) + " " + base_of(path) + "\n";
  }
  write_file_atomic(manifest, text.data(), text.size());  // the commit point
  for (auto& f : files) f->keep();  // from here on a temporary is the new member
  for (auto& f : files) f->commit();
}

std::vector<uint8_t> read_set_member(const std::string& prefix, const std::string& path) {
  const std::string manifest = set_manifest_path(prefix);
  const std::vector<Entry> entries = read_manifest(manifest);
  const Entry* entry = nullptr;
  for (const Entry& e : entries)
    if (e.name == base_of(path)) entry = &e;
  if (!entry) return read_file(path);
  // Twice: a writer may rename the temporary over the member between our two reads.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<uint8_t> b = read_file(path);
    if (matches(b, *entry)) return b;
    const std::string tmp = in_folder(folder_of(path), entry->name + ".tmp." + entry->tmp_suffix);
    if (file_exists(tmp)) {
      try {
        b = read_file(tmp);
        if (matches(b, *entry)) return b;
      } catch (const Error&) {  // renamed away meanwhile: read the member again
      }
    }
  }
  throw_error(echo(path), ": belongs to another run than the rest of its set (", echo(manifest),
              "); rerun dice features --out ", echo(prefix),
              ", or delete the manifest if you replaced the file on purpose");
}

}  // namespace dice
