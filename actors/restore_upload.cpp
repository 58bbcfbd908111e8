#include "caf-raft/actors/restore_upload.hpp"

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/crc.hpp"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct upload_state {
  static inline const char* name = "raft.restore_upload";
  bytes state;
  crc32c crc;
  /// Bumped by every message; only the newest idle timer counts.
  uint64_t generation = 0;
};

using upload_ptr = restore_upload_actor::stateful_pointer<upload_state>;

void arm_idle_timer(upload_ptr self) {
  self->delayed_send(self, upload_idle_timeout, timer_atom_v,
                     ++self->state.generation);
}

restore_upload_actor::behavior_type
restore_upload(upload_ptr self, node_actor node, uint64_t max_bytes) {
  // An upload outlives neither its node nor its caller's patience.
  self->monitor(node);
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  arm_idle_timer(self);
  return {
    [=](upload_atom, uint64_t offset,
        const bytes& chunk) -> caf::result<uint64_t> {
      auto& st = self->state;
      arm_idle_timer(self);
      if (offset != st.state.size())
        return make_error(errc::bad_message,
                          "restore chunk at offset " + std::to_string(offset)
                            + " refused: the upload expects offset "
                            + std::to_string(st.state.size()));
      if (st.state.size() + chunk.size() > max_bytes) {
        auto err = restore_too_large("the upload",
                                     st.state.size() + chunk.size(), max_bytes);
        self->quit(err);
        return err;
      }
      st.state.insert(st.state.end(), chunk.begin(), chunk.end());
      st.crc.process_bytes(chunk.data(), chunk.size());
      return st.state.size();
    },
    [=](upload_atom, commit_atom, uint64_t size,
        uint32_t checksum) -> caf::result<index_t> {
      auto& st = self->state;
      if (size != st.state.size() || checksum != st.crc.checksum()) {
        auto err = make_error(
          errc::corrupt,
          "restore refused: the upload holds " + std::to_string(st.state.size())
            + " bytes with CRC-32C " + std::to_string(st.crc.checksum())
            + ", the sender sent " + std::to_string(size) + " bytes with "
            + std::to_string(checksum) + "; send the snapshot again");
        self->quit(err);
        return err;
      }
      // One owner for the rest: the node proposes the restore entry and
      // answers the caller; this actor's part is done.
      auto rp = self->make_response_promise<index_t>();
      self->request(node, caf::infinite, restore_atom_v, std::move(st.state))
        .then(
          [=](index_t idx) mutable {
            rp.deliver(idx);
            self->quit();
          },
          [=](caf::error& err) mutable {
            rp.deliver(err);
            self->quit(std::move(err));
          });
      st.state = bytes{};
      ++st.generation; // the answer ends the upload, not the idle timer
      return rp;
    },
    [=](timer_atom, uint64_t generation) {
      if (generation == self->state.generation)
        self->quit(make_error(errc::timeout,
                              "restore upload abandoned: no chunk for "
                                + std::to_string(upload_idle_timeout.count())
                                + " s"));
    },
  };
}

} // namespace

caf::error restore_too_large(const std::string& what, uint64_t size,
                             uint64_t max_bytes) {
  return make_error(errc::too_large,
                    "restore refused: " + what + " holds "
                      + std::to_string(size)
                      + " bytes, more than max_entry_size ("
                      + std::to_string(max_bytes)
                      + "); a restore travels as one log entry: raise "
                        "max_entry_size or restore offline");
}

restore_upload_actor spawn_restore_upload(caf::actor_system& sys,
                                          node_actor node, uint64_t max_bytes) {
  return sys.spawn(restore_upload, std::move(node), max_bytes);
}

caf::expected<index_t> restore_from_stream(caf::scoped_actor& self,
                                           const node_actor& node,
                                           std::istream& in,
                                           caf::timespan timeout,
                                           size_t chunk_size) {
  caf::expected<index_t> result{
    make_error(errc::bad_message, "restore stopped: unexpected answer")};
  auto fail = [&](caf::error& err) { result = std::move(err); };
  caf::actor opened;
  self->request(node, timeout, restore_atom_v, open_atom_v)
    .receive([&](caf::actor& x) { opened = std::move(x); }, fail);
  if (!opened)
    return result;
  auto upload = caf::actor_cast<restore_upload_actor>(opened);
  crc32c crc;
  uint64_t offset = 0;
  bytes chunk(chunk_size);
  while (in) {
    in.read(reinterpret_cast<char*>(chunk.data()),
            static_cast<std::streamsize>(chunk.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n == 0)
      break;
    crc.process_bytes(chunk.data(), n);
    bool ok = false;
    self
      ->request(upload, timeout, upload_atom_v, offset,
                bytes(chunk.begin(), chunk.begin() + n))
      .receive(
        [&](uint64_t next) {
          ok = next == offset + n;
          if (!ok)
            result = make_error(errc::bad_message,
                                "restore stopped: the node expects offset "
                                  + std::to_string(next) + ", not "
                                  + std::to_string(offset + n));
        },
        fail);
    if (!ok)
      return result;
    offset += n;
  }
  if (in.bad())
    return make_error(errc::storage_failure,
                      "restore stopped: reading the snapshot failed after "
                        + std::to_string(offset) + " bytes");
  self->request(upload, timeout, upload_atom_v, commit_atom_v, offset,
                crc.checksum())
    .receive([&](index_t idx) { result = idx; }, fail);
  return result;
}

} // namespace raft
