#pragma once

// How CAF reads and writes the plain types of the protocol and the stores.
// The types themselves know nothing of CAF (actors/protocol builds without
// it); their inspectors live here, beside the type IDs in messages.hpp,
// which includes this header.

#include "caf-raft/actors/protocol/rpc.hpp"
#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_entry.hpp"
#include "caf/meta/type_name.hpp"

namespace raft {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_entry& x) {
  return f(caf::meta::type_name("log_entry"), x.index, x.term, x.type, x.data,
           x.appended_at_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, server& x) {
  return f(caf::meta::type_name("server"), x.suffrage, x.id, x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, configuration& x) {
  return f(caf::meta::type_name("configuration"), x.servers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_request& x) {
  return f(caf::meta::type_name("vote_request"), x.term, x.candidate,
           x.last_log_index, x.last_log_term, x.pre_vote,
           x.leadership_transfer);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_response& x) {
  return f(caf::meta::type_name("vote_response"), x.term, x.from, x.granted,
           x.pre_vote, x.removed, x.commit_index, x.commit_term);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_request& x) {
  return f(caf::meta::type_name("append_request"), x.term, x.leader,
           x.leader_address, x.prev_log_index, x.prev_log_term, x.entries, x.leader_commit,
           x.round);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_response& x) {
  return f(caf::meta::type_name("append_response"), x.term, x.from, x.success,
           x.index, x.hint, x.round);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, timeout_now& x) {
  return f(caf::meta::type_name("timeout_now"), x.term, x.leader);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        install_snapshot_request& x) {
  return f(caf::meta::type_name("install_snapshot_request"), x.term, x.leader,
           x.snapshot_id, x.last_index, x.last_term, x.configuration,
           x.configuration_index, x.size, x.crc, x.offset, x.data, x.done);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        install_snapshot_response& x) {
  return f(caf::meta::type_name("install_snapshot_response"), x.term, x.from,
           x.snapshot_id, x.next_offset, x.success);
}

} // namespace raft
