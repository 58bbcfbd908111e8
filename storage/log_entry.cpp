#include "caf-raft/storage/log_entry.hpp"

namespace raft {

const char* to_string(entry_type x) {
  switch (x) {
    case entry_type::command:
      return "command";
    case entry_type::noop:
      return "noop";
    case entry_type::barrier:
      return "barrier";
    case entry_type::configuration:
      return "configuration";
    case entry_type::restore:
      return "restore";
  }
  return "unknown";
}

bool from_string(const std::string& str, entry_type& x) {
  for (auto t : {entry_type::command, entry_type::noop, entry_type::barrier,
                 entry_type::configuration, entry_type::restore}) {
    if (str == to_string(t)) {
      x = t;
      return true;
    }
  }
  return false;
}

int64_t unix_millis_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace raft
