#include "caf-raft/actors/transport/address_book.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft {

void address_book::set(const std::string& id, const std::string& address) {
  std::lock_guard<std::mutex> guard{mtx_};
  map_[id] = address;
}

caf::expected<std::string> address_book::get(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = map_.find(id);
  if (i == map_.end())
    return make_error(errc::unknown_peer,
                      "no raft address known for server " + id);
  return i->second;
}

address_provider address_book::provider(std::shared_ptr<address_book> book) {
  return [book{std::move(book)}](const std::string& id) {
    return book->get(id);
  };
}

} // namespace raft
