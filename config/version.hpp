#pragma once

#include <string>

namespace raft {

/// The project's version (CMakeLists.txt's project VERSION).
const char* version();

/// The git revision the build was made from ("-dirty" with uncommitted
/// changes, "unknown" outside git).
const char* git_revision();

/// What `--version` prints: `program` with the project's version and git
/// revision, then the versions of CAF, SQLite and OpenSSL it runs with.
std::string version_text(const std::string& program);

} // namespace raft
