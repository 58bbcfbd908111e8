#include "caf-raft/actors/transport/net_connector.hpp"

#include <spdlog/spdlog.h>

#include "caf-raft/actors/log_limiter.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_client.hpp"
#include "caf-raft/actors/transport/net_protocol.hpp"
#include "caf-raft/actors/transport/net_sessions.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/node_id.hpp"
#include "caf/send.hpp"

namespace raft {

namespace {

void fail(caf::event_based_actor* self, const net_connect_job& job,
          std::string why) {
  caf::anon_send(job.transport, net_fail_atom_v, job.peer_id, job.generation,
                 std::move(why));
  self->quit();
}

void authenticate(caf::event_based_actor* self,
                  std::shared_ptr<net_connect_job> job, caf::actor gw,
                  std::string client_nonce, std::string cert_pem,
                  std::string server_nonce, std::string server_sig,
                  std::string server_cluster) {
  std::string proof;
  if (job->identity) {
    auto statement = net_server_proof(client_nonce, server_nonce,
                                      job->peer_id, job->local_id);
    if (auto err = job->identity->verify(cert_pem, job->peer_id, statement,
                                         server_sig))
      return fail(self, *job,
                  "peer at " + job->host + ":" + std::to_string(job->port)
                    + " failed to prove it is server " + job->peer_id + ": "
                    + describe(err));
    auto sig = job->identity->sign(net_client_proof(
      client_nonce, server_nonce, job->peer_id, job->local_id));
    if (!sig)
      return fail(self, *job, describe(sig.error()));
    proof = std::move(*sig);
  }
  if (auto why = cluster_identity::mismatch(job->local_id,
                                           job->cluster->id(), job->peer_id,
                                           server_cluster);
      !why.empty())
    return fail(self, *job, "refused: " + why);
  auto adopted = job->cluster->adopt(server_cluster);
  if (!adopted)
    return fail(self, *job, describe(adopted.error()));
  if (*adopted && job->log)
    job->log->info("raft transport: joined cluster {} (server {} is a member)",
                   server_cluster, job->peer_id);
  std::string my_cert = job->identity ? job->identity->certificate_pem()
                                      : std::string{};
  // The server proved its id: it may now send us RPCs as that id.
  auto token_for_server = job->sessions->issue(job->peer_id);
  self
    ->request(gw, job->timeout, net_auth_atom_v, server_nonce,
              std::move(my_cert), std::move(proof),
              std::move(token_for_server))
    .then(
      [self, job, gw](std::string& token) {
        caf::anon_send(job->transport, net_ready_atom_v, job->peer_id,
                       job->generation, gw, std::move(token));
        self->quit();
      },
      [self, job](caf::error& err) {
        fail(self, *job, "server " + job->peer_id + " refused us: "
                           + describe(err));
      });
}

/// Why our hello failed, in words: a server of an older release drops a
/// hello it does not know (CAF answers unexpected_message).
std::string hello_failure(const net_connect_job& job, const caf::error& err) {
  if (err == caf::sec::unexpected_message)
    return "server " + job.peer_id
           + " does not understand transport protocol "
           + std::to_string(net_protocol_version)
           + ": it runs an older caf-raft; run the same release on both "
             "(docs/operations.md, upgrades)";
  return "hello to server " + job.peer_id + " refused: " + describe(err);
}

caf::behavior connector(caf::event_based_actor* self, net_connect_job init) {
  auto job = std::make_shared<net_connect_job>(std::move(init));
  self->set_default_handler(caf::drop);
  // Blocks this detached actor's own thread, for at most the timeout.
  auto gw = connect_raft_port(self->system(), job->host, job->port,
                              job->tls.get(), job->max_frame, job->timeout);
  if (!gw) {
    fail(self, *job, "server " + job->peer_id + ": " + describe(gw.error()));
    return {[](net_fail_atom) {}};
  }
  auto nonce = tls_identity::random_bytes(net_nonce_size);
  self
    ->request(*gw, job->timeout, net_hello_atom_v, job->local_id, job->peer_id,
              nonce, job->gateway, net_protocol_version, job->cluster->id())
    .then(
      [self, job, gw = *gw, nonce](std::string& cert, std::string& snonce,
                                   std::string& sig, std::string& cluster) {
        authenticate(self, job, gw, nonce, std::move(cert), std::move(snonce),
                     std::move(sig), std::move(cluster));
      },
      [self, job](caf::error& err) {
        fail(self, *job, hello_failure(*job, err));
      });
  // Stays alive for its pending requests; nothing else is accepted.
  return {[](net_fail_atom) {}};
}

} // namespace

void spawn_net_connector(caf::actor_system& sys, net_connect_job job) {
  // Detached: the dial blocks this actor's own thread, for at most the
  // job's timeout, and no one else's.
  sys.spawn<caf::detached>(connector, std::move(job));
}

} // namespace raft
