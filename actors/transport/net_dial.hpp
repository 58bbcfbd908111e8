#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace raft {

/// Why a dial failed; each calls for different advice.
enum class dial_failure : uint8_t {
  none,
  /// The host name did not resolve.
  unresolved,
  /// Nothing answered within the timeout: the host is down, or a firewall
  /// or partition drops the packets silently.
  timed_out,
  /// The host answered that nothing listens on the port.
  refused,
  /// No route to the host or network.
  unreachable,
  /// Any other socket error.
  other,
};

/// The outcome of one TCP dial.
struct dial_result {
  /// A connected, non-blocking, close-on-exec socket; -1 on failure.
  int fd = -1;
  dial_failure failure = dial_failure::none;
  /// The failure in words ("timed out after 5000 ms", "connection refused").
  std::string detail;
};

/// Connects to `host:port` and gives up after `timeout` in all (name
/// resolution aside: getaddrinfo has its own bounds). Each address the name
/// resolves to is tried in turn with what is left of the budget.
///
/// CAF 0.17's middleman connects with a blocking connect() inside its one
/// middleman actor, so a host that drops SYNs holds every other dial of the
/// process for as long as the kernel retries (about two minutes). This
/// dial blocks only its caller, for at most `timeout`; the caller hands
/// the socket to CAF afterwards (net_scribe.hpp).
dial_result dial_tcp(const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout);

} // namespace raft
