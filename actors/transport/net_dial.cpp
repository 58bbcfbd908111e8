#include "caf-raft/actors/transport/net_dial.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace raft {

namespace {

using steady = std::chrono::steady_clock;

dial_failure classify(int err) {
  switch (err) {
    case ECONNREFUSED:
      return dial_failure::refused;
    case ETIMEDOUT:
      return dial_failure::timed_out;
    case EHOSTUNREACH:
    case ENETUNREACH:
      return dial_failure::unreachable;
    default:
      return dial_failure::other;
  }
}

/// One address: a non-blocking connect, then poll until `deadline`.
dial_result dial_one(const addrinfo& ai, steady::time_point deadline) {
  dial_result r;
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai.ai_protocol);
  if (fd < 0) {
    r.failure = dial_failure::other;
    r.detail = std::string{"socket: "} + std::strerror(errno);
    return r;
  }
  auto give_up = [&](int err) {
    ::close(fd);
    r.failure = classify(err);
    r.detail = std::strerror(err);
    return r;
  };
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS)
    return give_up(errno);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady::now());
    if (left.count() <= 0)
      return give_up(ETIMEDOUT);
    pollfd p{fd, POLLOUT, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return give_up(errno);
    if (n == 0)
      return give_up(ETIMEDOUT);
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return give_up(errno);
    if (err != 0)
      return give_up(err);
    r.fd = fd;
    return r;
  }
}

} // namespace

dial_result dial_tcp(const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (auto rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    dial_result r;
    r.failure = dial_failure::unresolved;
    r.detail = std::string{"cannot resolve '"} + host + "': " + gai_strerror(rc);
    return r;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{found,
                                                            freeaddrinfo};
  dial_result last;
  last.failure = dial_failure::unresolved;
  last.detail = "'" + host + "' resolved to no address";
  for (auto ai = found; ai != nullptr; ai = ai->ai_next) {
    last = dial_one(*ai, deadline);
    if (last.fd >= 0 || steady::now() >= deadline)
      break;
  }
  if (last.failure == dial_failure::timed_out)
    last.detail = "timed out after " + std::to_string(timeout.count())
                  + " ms (no answer: the host is down, or packets to it are "
                    "dropped)";
  return last;
}

} // namespace raft
