#pragma once

#include <string>

namespace raft {

/// `s` without the blanks (spaces, tabs, carriage returns) at either end.
std::string trim(const std::string& s);

} // namespace raft
