#pragma once

#include <map>
#include <string>

namespace raft {

/// The project's version (CMakeLists.txt's project VERSION).
const char* version();

/// The git revision the build was made from ("-dirty" with uncommitted
/// changes, "unknown" outside git).
const char* git_revision();

/// The versions of the build, by name: `version`, `revision`, `caf`,
/// `sqlite`, `openssl` (the labels of the `caf_raft_build_info` metric).
std::map<std::string, std::string> build_info();

/// What `--version` prints: `program` with the project's version and git
/// revision, then the versions of CAF, SQLite and OpenSSL it runs with.
std::string version_text(const std::string& program);

} // namespace raft
