#pragma once

#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Checks a program's settings before CAF reads them. CAF 0.17 keeps an
/// unknown key of a config file, and a value of the wrong type, without a
/// word (metrics quietly off, a cluster that never forms), and answers a bad
/// flag with its raw `parser_error(...)`. These checks refuse both with a
/// sentence that names the file and line (or the flag), the setting, what is
/// wrong and the nearest valid name.
///
/// `check_arguments` checks every `--name[=value]` of `args` (the program's
/// arguments without argv[0]); `check_settings_file` every `key = value` of
/// an INI file, by section (`[global]` for the program's own settings).
/// Both return the first problem found.
caf::error check_arguments(const caf::config_option_set& options,
                           const std::vector<std::string>& args);

caf::error check_settings_file(const caf::config_option_set& options,
                               const std::string& path);

/// The name among `candidates` nearest to `name` by edit distance, if it is
/// near enough to be a likely misspelling; "" otherwise.
std::string nearest_name(const std::string& name,
                         const std::vector<std::string>& candidates);

} // namespace raft
