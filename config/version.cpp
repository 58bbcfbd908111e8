#include "config/version.hpp"

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "caf/config.hpp"

#include "raft_git_revision.hpp"

#ifndef RAFT_VERSION
#  define RAFT_VERSION "unknown"
#endif

namespace raft {

const char* version() {
  return RAFT_VERSION;
}

const char* git_revision() {
  return RAFT_GIT_REVISION;
}

std::string version_text(const std::string& program) {
  auto caf = std::to_string(CAF_MAJOR_VERSION) + "."
             + std::to_string(CAF_MINOR_VERSION) + "."
             + std::to_string(CAF_PATCH_VERSION);
  return program + " " + version() + " (git " + git_revision() + ")\n"
         + "CAF " + caf + ", SQLite " + sqlite3_libversion() + ", "
         + OpenSSL_version(OPENSSL_VERSION) + "\n";
}

} // namespace raft
