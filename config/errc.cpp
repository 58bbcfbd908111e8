#include "caf-raft/config/errc.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/message.hpp"

namespace raft {

std::string to_string(errc x) {
  switch (x) {
    case errc::none:
      return "no error";
    case errc::worker_stopped:
      return "raft worker stopped";
    case errc::start_timeout:
      return "timed out waiting for worker loop";
    case errc::no_leader_timeout:
      return "timed out waiting for leader contact";
    case errc::not_valid:
      return "not valid";
    case errc::not_found:
      return "not found";
    case errc::log_not_found:
      return "log not found";
    case errc::storage_failure:
      return "storage failure";
    case errc::corrupt:
      return "corrupt data";
    case errc::locked:
      return "store is locked by another process";
    case errc::cant_bootstrap:
      return "bootstrap only works on new clusters";
    case errc::not_leader:
      return "node is not the leader";
    case errc::leadership_lost:
      return "leadership lost while committing log";
    case errc::raft_shutdown:
      return "raft is already shutdown";
    case errc::timeout:
      return "timed out";
    case errc::nothing_new_to_snapshot:
      return "nothing new to snapshot";
    case errc::leadership_transfer_in_progress:
      return "leadership transfer in progress";
    case errc::aborted_by_restore:
      return "abort election because a restore is in progress";
    case errc::too_large:
      return "too large";
    case errc::configuration_rejected:
      return "configuration change rejected";
    case errc::unsupported:
      return "operation not supported";
    case errc::bad_message:
      return "malformed message";
    case errc::unknown_peer:
      return "unknown peer";
  }
  return "unknown raft error";
}

caf::atom_value error_category() {
  return caf::atom("raft");
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), error_category()};
}

caf::error make_error(errc x, std::string what) {
  return caf::error{static_cast<uint8_t>(x), error_category(),
                    caf::make_message(std::move(what))};
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category()) {
    auto& ctx = err.context();
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  return caf::to_string(err);
}

bool is(const caf::error& err, errc x) {
  return err && err.category() == error_category()
         && err.code() == static_cast<uint8_t>(x);
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category(), [](uint8_t code, caf::atom_value,
                                              const caf::message& ctx) {
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<errc>(code));
  });
}

caf::error annotate(const caf::error& err, const std::string& prefix) {
  auto code = err.category() == error_category()
                ? static_cast<errc>(err.code())
                : errc::storage_failure;
  return make_error(code, prefix + describe(err));
}

} // namespace raft
