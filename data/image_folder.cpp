// ImageFolder, listed exactly as torchvision 0.14's datasets.ImageFolder does, so that sample i
// and its label are the reference's sample i:
// - classes = sorted names of the sub-folders of the root (symlinks followed, hidden folders
//   included, like os.scandir + is_dir); label = index in that order;
// - per class, sorted(os.walk(class_dir, followlinks=True)): every folder below the class
//   folder, visited in sorted order of the *full path string* (so "a-b" comes before "a/x"),
//   and in each folder its non-folder entries in sorted name order (byte order = Python's
//   code-point order for UTF-8 names);
// - a file is kept if its lower-cased name ends with one of IMG_EXTENSIONS (.jpg .jpeg .png .ppm
//   .bmp .pgm .tif .tiff .webp); a class with no such file is an error, as in torchvision.
// Files loose in the root are ignored when class folders exist (torchvision ignores them too).
// Our own choice: a root with no sub-folders at all but images inside is one unlabeled set
// (label -1), which is how OOD sets are often shipped.
// TIFF and WebP are listed (keeping indices aligned with torchvision) but not decodable here: the
// folder is refused at open time, naming the first such file, rather than failing mid-run.
// Each real folder is walked once (os.walk would walk a folder linked from two places twice, and
// loop on a link back to an ancestor); see walk(). Entries that are not regular files (a FIFO
// named a.jpg, a device) are never opened for reading: decoding one is an error naming it, which
// --skip-bad turns into a warning.
// ILSVRC-2012: train/<wnid>/ and val/<wnid>/ are ordinary ImageFolders (sorted wnids = the
// ImageNet-1k class index torchvision's weights use). The flat val/ folder of
// ILSVRC2012_val_*.JPEG gets its labels from a ground-truth file (`--labels`): lines
// "<file name> <class index>" looked up by the image's file name; every image of the folder must
// have one (an error names the first that has none), extra lines are allowed (a --limit subset).
// The devkit's ILSVRC2012_validation_ground_truth.txt (one 1-based ILSVRC id per line, *not* the
// sorted-wnid index) is recognised and refused with an explanation.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/dataset.h"
#include "data/decode_budget.h"
#include "data/image.h"

namespace dice {
namespace {

struct Entry {
  std::string name;
  bool is_dir;
};

std::vector<Entry> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    throw_error(dir, ": cannot list folder (", std::strerror(errno),
                "); check the path and permissions");
  std::vector<Entry> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    // stat follows symlinks, like DirEntry.is_dir(); a broken link counts as a file.
    bool is_dir = ::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    out.push_back({name, is_dir});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

bool is_unsupported_format(const std::string& name) {
  std::string l = name;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends = [&](const char* s) {
    size_t n = std::strlen(s);
    return l.size() >= n && l.compare(l.size() - n, n, s) == 0;
  };
  return ends(".tif") || ends(".tiff") || ends(".webp");
}

// Every folder under (and including) dir, as sorted(os.walk(dir, followlinks=True)) orders
// them, each with its sorted non-folder entries. Unlike os.walk, each real folder (device +
// inode) is walked once per walk, under the first path that reaches it (sorted depth-first): a
// chain of 26 folders each linking twice to the next has 2^26 paths, and would never finish.
using Walk = std::vector<std::pair<std::string, std::vector<std::string>>>;
using FolderIds = std::set<std::pair<dev_t, ino_t>>;

void walk(const std::string& dir, int depth, FolderIds* seen, Walk* out) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return;
  if (!seen->insert({st.st_dev, st.st_ino}).second) return;
  if (depth > 64) throw_error(echo(dir), ": folders nested more than 64 deep; check for link loops");
  std::vector<std::string> files, subdirs;
  for (const Entry& e : list_dir(dir)) (e.is_dir ? subdirs : files).push_back(e.name);
  out->emplace_back(dir, std::move(files));
  for (const std::string& d : subdirs) walk(dir + "/" + d, depth + 1, seen, out);
}

Walk walk_sorted(const std::string& root) {
  Walk dirs;
  FolderIds seen;
  walk(root, 0, &seen, &dirs);
  std::stable_sort(dirs.begin(), dirs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return dirs;
}

class ImageFolderDataset final : public Dataset {
 public:
  ImageFolderDataset(std::string root, std::vector<std::string> classes,
                     std::vector<std::string> paths, std::vector<int64_t> labels,
                     const Preprocess& pp)
      : Dataset(pp.crop),
        root_(std::move(root)),
        classes_(std::move(classes)),
        paths_(std::move(paths)),
        labels_(std::move(labels)),
        pp_(pp) {}

  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  void load(int64_t i, float* chw) const override {
    const std::string& path = paths_.at(static_cast<size_t>(i));
    const std::vector<uint8_t> bytes = read_file(path);
    int w = 0, h = 0;
    const bool known = image_dimensions(bytes.data(), bytes.size(), &w, &h);
    if (known) check_image_pixels(path, w, h);
    // The decode and the pre-processing hold their estimated memory in the shared budget.
    const DecodeReservation budget(known ? decode_estimate(w, h, bytes.size()) : 2 * bytes.size(), path);
    try {
      Image img = decode_image_memory(bytes.data(), bytes.size(), path);  // its errors name the file
      try {
        preprocess_image(img, pp_, chw);
      } catch (const Error& e) {  // e.g. the resize area cap: say which image
        throw_error(path, ": ", e.what(), "; remove or shrink this image, or pass --skip-bad");
      }
    } catch (const std::bad_alloc&) {
      throw_decode_out_of_memory(path, w, h);
    }
  }
  std::string describe() const override {
    std::string n = std::to_string(paths_.size()) + " images)";
    if (classes_.empty())
      return "image folder " + root_ +
             (!labels_.empty() && labels_[0] >= 0 ? " (labels from a file, " : " (unlabeled, ") + n;
    return "ImageFolder " + root_ + " (" + std::to_string(classes_.size()) + " classes, " + n;
  }
  std::vector<std::string> class_names() const override { return classes_; }

 private:
  std::string root_;
  std::vector<std::string> classes_, paths_;
  std::vector<int64_t> labels_;
  Preprocess pp_;
};

}  // namespace

std::vector<std::pair<std::string, int64_t>> read_labels_file(const std::string& path) {
  if (!file_exists(path) || is_directory(path))
    throw_error(path,
                ": no such labels file; pass lines '<image file name> <class index>', e.g. "
                "'ILSVRC2012_val_00000001.JPEG 65'");
  const std::vector<uint8_t> bytes = read_file(path);
  std::vector<std::pair<std::string, int64_t>> out;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < bytes.size()) {
    size_t end = pos;
    while (end < bytes.size() && bytes[end] != '\n') ++end;
    std::string line(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                     bytes.begin() + static_cast<std::ptrdiff_t>(end));
    pos = end + 1;
    ++line_no;
    std::vector<std::string> f;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) f.push_back(line.substr(i, j - i));
      i = j;
    }
    if (f.empty() || f[0][0] == '#') continue;
    auto is_int = [](const std::string& t) {
      return !t.empty() && t.size() < 10 &&
             std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (f.size() == 1 && is_int(f[0]))
      throw_error(path, ":", line_no,
                  ": a bare number: this looks like the devkit's "
                  "ILSVRC2012_validation_ground_truth.txt, whose 1-based ILSVRC ids are not the "
                  "class indices of torchvision's weights; use a file of '<file name> <index>' "
                  "lines with the sorted-wnid index (e.g. 'ILSVRC2012_val_00000001.JPEG 65')");
    if (f.size() != 2 || !is_int(f[1]))
      throw_error(path, ":", line_no, ": expected '<image file name> <class index>', got '", echo(line),
                  "'");
    out.emplace_back(f[0], std::stoll(f[1]));
  }
  if (out.empty())
    throw_error(path, ": no labels in the file; expected '<file name> <index>' lines");
  return out;
}

std::unique_ptr<Dataset> open_image_folder(const std::string& dir_in, const Preprocess& pp,
                                           const std::string& labels_file,
                                           int64_t num_classes) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::vector<Entry> top = list_dir(dir);
  std::vector<std::string> classes, paths;
  std::vector<int64_t> labels;
  for (const Entry& e : top)
    if (e.is_dir) classes.push_back(e.name);

  if (!labels_file.empty() && !classes.empty())
    throw_error(dir, ": has class sub-folders (", classes[0],
                ", ...), whose sorted order gives the "
                "labels; --labels ",
                labels_file, " is only for a flat folder of images: drop it");
  if (classes.empty()) {
    std::map<std::string, int64_t> truth;
    if (!labels_file.empty())
      for (auto& [name, label] : read_labels_file(labels_file)) {
        auto [it, fresh] = truth.emplace(name, label);
        if (!fresh && it->second != label)
          throw_error(labels_file, ": ", echo(name), " is listed twice with different labels (",
                      it->second, " and ", label, ")");
      }
    for (const Entry& e : top)
      if (has_image_extension(e.name)) {
        paths.push_back(dir + "/" + e.name);
        int64_t label = -1;
        if (!labels_file.empty()) {
          auto it = truth.find(e.name);
          if (it == truth.end())
            throw_error(labels_file, ": no label for ", dir, "/", echo(e.name),
                        "; every image of the folder needs a line '", echo(e.name),
                        " <class index>' (or move the image out)");
          label = it->second;
          if (num_classes > 0 && label >= num_classes)
            throw_error(echo(labels_file), ": label ", label, " of ", echo(e.name), " is outside [0, ",
                        num_classes, ") for this model's classes; fix the labels or use the matching model");
        }
        labels.push_back(label);
      }
    if (paths.empty()) {
      bool cifar = false;
      for (const Entry& e : top)
        cifar |= e.name == "test_batch.bin" || e.name == "test_batch" || e.name == "test.bin";
      if (cifar)
        throw_error(dir, ": holds CIFAR batch files, not images; pass the batch file itself, e.g. ",
                    dir, "/test_batch.bin");
      throw_error(dir,
                  ": no class sub-folders and no images (.jpg .jpeg .png .bmp .ppm .pgm); "
                  "an image folder needs one sub-folder of images per class");
    }
  } else {
    std::vector<std::string> empty;
    for (size_t c = 0; c < classes.size(); ++c) {
      size_t before = paths.size();
      for (const auto& [folder, files] : walk_sorted(dir + "/" + classes[c]))
        for (const std::string& f : files)
          if (has_image_extension(f)) {
            paths.push_back(folder + "/" + f);
            labels.push_back(static_cast<int64_t>(c));
          }
      if (paths.size() == before) empty.push_back(classes[c]);
    }
    if (!empty.empty()) {
      std::string list;
      for (size_t k = 0; k < empty.size() && k < 5; ++k) list += (k ? ", " : "") + empty[k];
      if (empty.size() > 5) list += ", ...";
      throw_error(dir, ": no images in the class folder(s) ", list,
                  "; every class sub-folder needs at least one .jpg/.jpeg/.png/.bmp file "
                  "(remove stray folders such as .ipynb_checkpoints)");
    }
  }
  for (const std::string& p : paths)
    if (is_unsupported_format(p))
      throw_error(p,
                  ": TIFF and WebP images are not supported; convert them to PNG "
                  "(e.g. mogrify -format png) and remove the originals");
  return std::make_unique<ImageFolderDataset>(dir, std::move(classes), std::move(paths),
                                              std::move(labels), pp);
}

}  // namespace dice
