#include "caf-raft/apps/raftd/http_endpoint.hpp"

#include <CivetServer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "caf-raft/config/errc.hpp"

namespace raft {

namespace {

void reply(mg_connection* conn, int status, const char* type,
           const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            status, status == 200 ? "OK" : "Service Unavailable", type,
            body.size());
  mg_write(conn, body.data(), body.size());
}

class metrics_handler : public CivetHandler {
public:
  explicit metrics_handler(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
    // nop
  }

  bool handleGet(CivetServer*, mg_connection* conn) override {
    prometheus::TextSerializer text;
    reply(conn, 200, "text/plain; version=0.0.4",
          text.Serialize(registry_->Collect()));
    return true;
  }

private:
  std::shared_ptr<prometheus::Registry> registry_;
};

class health_handler : public CivetHandler {
public:
  explicit health_handler(http_endpoint::health_fn f) : f_(std::move(f)) {
    // nop
  }

  bool handleGet(CivetServer*, mg_connection* conn) override {
    auto [healthy, body] = f_();
    reply(conn, healthy ? 200 : 503, "application/json", body + "\n");
    return true;
  }

private:
  http_endpoint::health_fn f_;
};

} // namespace

struct http_endpoint::handlers {
  metrics_handler metrics;
  health_handler health;
};

caf::expected<std::unique_ptr<http_endpoint>>
http_endpoint::start(const std::string& host_port,
                     std::shared_ptr<prometheus::Registry> registry,
                     health_fn health) {
  std::unique_ptr<http_endpoint> result{new http_endpoint};
  result->handlers_ = std::make_unique<handlers>(
    handlers{metrics_handler{std::move(registry)},
             health_handler{std::move(health)}});
  try {
    result->server_ = std::make_unique<CivetServer>(std::vector<std::string>{
      "listening_ports", host_port, "num_threads", "2"});
  } catch (std::exception& e) {
    return make_error(errc::not_valid,
                      "setting 'metrics': cannot listen on " + host_port
                        + " (" + e.what()
                        + "); pick a free port or leave it empty");
  }
  result->server_->addHandler("/metrics", result->handlers_->metrics);
  result->server_->addHandler("/health", result->handlers_->health);
  return result;
}

http_endpoint::~http_endpoint() {
  // Stops the server (and its threads) before the handlers go.
  server_.reset();
}

} // namespace raft
