#pragma once

#include <functional>
#include <memory>
#include <string>

#include "caf/expected.hpp"

namespace prometheus {
class Registry;
} // namespace prometheus

class CivetServer;

namespace raft {

/// raftd's HTTP listener (the `metrics` setting): `/metrics` serves the
/// registry in Prometheus' text format, `/health` a JSON body with status
/// 200 while the server is healthy and 503 otherwise. Replaces
/// prometheus-cpp's Exposer, which serves collectables only.
class http_endpoint {
public:
  /// Answers `/health`: whether the server is healthy, and the JSON body.
  using health_fn = std::function<std::pair<bool, std::string>()>;

  /// Listens on `host_port` ("127.0.0.1:9100"); fails naming it if the
  /// port cannot be bound.
  static caf::expected<std::unique_ptr<http_endpoint>>
  start(const std::string& host_port,
        std::shared_ptr<prometheus::Registry> registry, health_fn health);

  ~http_endpoint();

private:
  http_endpoint() = default;

  struct handlers;
  std::unique_ptr<handlers> handlers_;
  std::unique_ptr<CivetServer> server_;
};

} // namespace raft
