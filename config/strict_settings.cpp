#include "caf-raft/config/strict_settings.hpp"

#include <algorithm>
#include <fstream>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/text.hpp"
#include "caf/config_option.hpp"
#include "caf/config_option_set.hpp"
#include "caf/config_value.hpp"

namespace raft {

namespace {

caf::error bad(const std::string& text) {
  return make_error(errc::not_valid, text);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      auto above = row[j];
      auto cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// The names a user may write for the options of `category` ("" for all,
/// as "category.name" outside `global`).
std::vector<std::string> names_of(const caf::config_option_set& options,
                                  const std::string& category) {
  std::vector<std::string> result;
  for (auto& opt : options) {
    auto cat = std::string{opt.category().begin(), opt.category().end()};
    auto name = std::string{opt.long_name().begin(), opt.long_name().end()};
    if (!category.empty() && cat != category)
      continue;
    result.push_back(category.empty() && cat != "global" ? cat + "." + name
                                                         : name);
  }
  return result;
}

std::string did_you_mean(const std::string& name,
                         const std::vector<std::string>& candidates,
                         const std::string& prefix) {
  auto near = nearest_name(name, candidates);
  return near.empty() ? std::string{}
                      : " (did you mean '" + prefix + near + "'?)";
}

/// The option a flag names: "name" is a global option, "category.name"
/// any other (CAF's own options may carry a "caf#" prefix).
const caf::config_option* find_flag(const caf::config_option_set& options,
                                    std::string name) {
  if (name.rfind("caf#", 0) == 0)
    name.erase(0, 4);
  if (name.find('.') != std::string::npos)
    return options.qualified_name_lookup(name);
  return options.qualified_name_lookup("global", name);
}

bool is_string(const caf::config_option& opt) {
  return opt.type_name() == "string";
}

/// Checks one `value` given for `opt` (as CAF would parse it on a command
/// line); `where` names the place for the error.
caf::error check_value(const caf::config_option& opt, const std::string& value,
                       const std::string& where) {
  if (opt.parse(value))
    return {};
  auto type = std::string{opt.type_name().begin(), opt.type_name().end()};
  std::string expected = "a " + type;
  if (type == "boolean")
    expected = "true or false";
  else if (type.rfind("uint", 0) == 0)
    expected = "a whole number, 0 or more";
  else if (type.rfind("int", 0) == 0)
    expected = "a whole number";
  return bad(where + ": '" + value + "' is not " + expected);
}

} // namespace

std::string nearest_name(const std::string& name,
                         const std::vector<std::string>& candidates) {
  std::string best;
  auto best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (auto& c : candidates) {
    auto d = edit_distance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

caf::error check_arguments(const caf::config_option_set& options,
                           const std::vector<std::string>& args) {
  for (auto& arg : args) {
    if (arg == "--" || arg.rfind("--", 0) != 0)
      return {}; // CAF stops reading options here
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == std::string::npos ? std::string::npos
                                                      : eq - 2);
    auto opt = find_flag(options, name);
    if (opt == nullptr)
      return bad("unknown flag --" + name
                 + did_you_mean(name, names_of(options, ""), "--")
                 + "; run with --help for the settings");
    if (eq == std::string::npos) {
      if (!opt->is_flag())
        return bad("flag --" + name + " needs a value: --" + name + "=VALUE");
      continue;
    }
    // CAF 0.17 reads a switch only bare, and answers a raw parser_error.
    if (opt->is_flag())
      return bad("flag --" + name + " is a switch and takes no value: give --"
                 + name + " alone to turn it on; to turn off what a config "
                          "file sets, write " + name + " = false there");
    if (auto err = check_value(*opt, arg.substr(eq + 1), "flag --" + name))
      return err;
  }
  return {};
}

caf::error check_settings_file(const caf::config_option_set& options,
                               const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return {}; // the caller reports an unreadable file
  std::string line;
  std::string category = "global";
  for (size_t number = 1; std::getline(in, line); ++number) {
    auto text = trim(line);
    if (text.empty() || text[0] == ';' || text[0] == '#')
      continue;
    auto where = path + ":" + std::to_string(number);
    if (text[0] == '[') {
      if (text.back() != ']')
        return bad(where + ": a section is written [name]");
      category = trim(text.substr(1, text.size() - 2));
      continue;
    }
    auto eq = text.find('=');
    if (eq == std::string::npos)
      return bad(where + ": expected key = value, found '" + text + "'");
    auto key = trim(text.substr(0, eq));
    auto value = trim(text.substr(eq + 1));
    auto opt = options.qualified_name_lookup(category, key);
    if (opt == nullptr)
      return bad(where + ": '" + key + "' is not a setting of [" + category
                 + "]" + did_you_mean(key, names_of(options, category), "")
                 + "; run with --help for the settings");
    // CAF's own sections have value syntaxes of their own (atoms, lists,
    // durations): only the program's settings are checked by value.
    if (category != "global")
      continue;
    if (is_string(*opt) && (value.size() < 2 || value.front() != '"'
                            || value.back() != '"'))
      return bad(where + ": setting '" + key
                 + "' is a string: write it in double quotes, " + key
                 + " = \"" + value + "\"");
    if (auto err = check_value(*opt, value, where + ": setting '" + key + "'"))
      return err;
  }
  return {};
}

} // namespace raft
