// Files published together: `dice features` writes PREFIX.features.npy, PREFIX.logits.npy and
// PREFIX.labels.npy, and a reader must never pair the features of one run with the labels of
// another. Renaming three files cannot be atomic, so the set has a manifest, PREFIX.dice-set,
// whose atomic rename is the commit point:
//   1. lock the folder (flock on the folder itself, so nothing is left behind; held only while
//      publishing, so concurrent runs on one prefix serialise and the last one wins whole);
//   2. roll forward a previous run that was killed after its commit point (below);
//   3. write every member to an exclusive temporary and fsync it;
//   4. write the manifest (per member: name, size, FNV-1a hash, temporary name) and rename it
//      into place -- the commit point;
//   5. rename each temporary over its member, fsync the folder.
// A reader (read_set_member) checks the member against the manifest: a match is read; else the
// temporary the manifest names, if it matches, is read instead (the run was killed in step 5);
// else the member belongs to another run and is refused. So a kill at any point leaves readers
// the complete old set (before step 4) or the complete new one (after). Members without a
// manifest (older outputs, files from other tools) are read as they are.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dice {

// The manifest of a set: prefix + ".dice-set".
std::string set_manifest_path(const std::string& prefix);
// Throws (before any work is done) unless `path` can be a member of a set: check_output's rules,
// and a regular file or nothing (a device or FIFO cannot take part in an atomic rename).
void check_set_output(const std::string& path);
// Publishes {member path, bytes} as one set under `prefix` (every path starts with prefix).
void write_file_set(const std::string& prefix,
                    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members);
// Reads a member of the set `prefix` (see above); throws naming the member and the manifest if it
// belongs to another run.
std::vector<uint8_t> read_set_member(const std::string& prefix, const std::string& path);

}  // namespace dice
