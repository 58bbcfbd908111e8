#include "caf-raft/config/version.hpp"

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

std::map<std::string, std::string> build_info() {
  return {{"version", version()},
          {"revision", git_revision()},
          {"caf", std::to_string(CAF_MAJOR_VERSION) + "."
                    + std::to_string(CAF_MINOR_VERSION) + "."
                    + std::to_string(CAF_PATCH_VERSION)},
          {"sqlite", sqlite3_libversion()},
          {"openssl", OpenSSL_version(OPENSSL_VERSION)}};
}

std::string version_text(const std::string& program) {
  auto info = build_info();
  return program + " " + info["version"] + " (git " + info["revision"]
         + ")\nCAF " + info["caf"] + ", SQLite " + info["sqlite"] + ", "
         + info["openssl"] + "\n";
}

} // namespace raft
