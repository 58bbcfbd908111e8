#include "caf-raft/storage/file_snapshot_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/config/errc.hpp"

namespace raft {

struct file_snapshot_store::state {
  std::string path;
  int retain = 1;
  std::shared_ptr<spdlog::logger> log;
  /// Guards `last_ms`: ids stay unique across threads.
  std::mutex id_mtx;
  int64_t last_ms = 0;
  /// Serializes reaping with listing, so `list` never trips over a folder
  /// that a concurrent `close` is deleting.
  std::mutex reap_mtx;
};

namespace {

using state = file_snapshot_store::state;

constexpr const char* tmp_suffix = ".tmp";
constexpr const char* meta_name = "meta.json";
constexpr const char* state_name = "state.bin";
constexpr const char* perm_test_name = "permTest";
constexpr const char* create_prefix = "failed to create file snapshot store: ";

/// Buffer for writing and verifying state.bin; large enough that a
/// multi-MiB snapshot written in tiny pieces costs few syscalls.
constexpr size_t io_chunk = 64 * 1024;

/// A sink starts the disk writing every this many bytes, instead of leaving
/// all of them to the fsync at its close.
constexpr uint64_t writeback_chunk = 8 * 1024 * 1024;

/// meta.json is small; anything bigger is garbage we refuse to slurp.
constexpr size_t max_meta_size = 16 * 1024 * 1024;

// -- small helpers ------------------------------------------------------------

std::string errno_text(int err) {
  // std::strerror is not thread-safe; the generic category is.
  return std::error_code{err, std::generic_category()}.message();
}

/// Renders an I/O failure like Go's PathError: "<op> <path>: <errno text>".
caf::error io_error(const char* op, const std::string& path, int err,
                    const std::string& prefix = {}) {
  return make_error(errc::storage_failure,
                    prefix + op + " " + path + ": " + errno_text(err));
}

bool ends_with(const std::string& str, const std::string& suffix) {
  return str.size() >= suffix.size()
         && str.compare(str.size() - suffix.size(), suffix.size(), suffix)
              == 0;
}

std::string hex(uint64_t x) {
  char buf[19];
  std::snprintf(buf, sizeof(buf), "0x%016llx",
                static_cast<unsigned long long>(x));
  return buf;
}

std::string snapshot_name(term_t term, index_t index, int64_t ms) {
  return std::to_string(term) + "-" + std::to_string(index) + "-"
         + std::to_string(ms);
}

bool is_dir_no_follow(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Creates `path` and its missing parents with `mode` (Go's MkdirAll).
caf::error mkdir_all(const std::string& path, mode_t mode) {
  if (path.empty())
    return make_error(errc::not_valid, "empty directory path");
  struct stat st;
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    auto prefix = path.substr(0, pos);
    // Existing parents are skipped before mkdir: mkdir on a folder we may
    // not write to could report EACCES instead of EEXIST.
    if (::stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST)
        return io_error("mkdir", prefix, errno);
    if (pos == std::string::npos)
      break;
  }
  if (::stat(path.c_str(), &st) != 0)
    return io_error("stat", path, errno);
  if (!S_ISDIR(st.st_mode))
    return io_error("mkdir", path, ENOTDIR);
  return caf::none;
}

caf::error remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec)
    return make_error(errc::storage_failure,
                      "remove " + path + ": " + ec.message());
  return caf::none;
}

caf::expected<std::vector<std::string>> read_dir(const std::string& path) {
  auto dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return io_error("open", path, errno);
  std::vector<std::string> result;
  errno = 0;
  while (auto ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..")
      result.push_back(std::move(name));
  }
  auto err = errno;
  ::closedir(dir);
  if (err != 0)
    return io_error("readdir", path, err);
  return result;
}

/// Fsyncs a directory so the entries created or renamed in it survive a
/// power loss, not only the files' contents.
caf::error fsync_dir(const std::string& path) {
  auto fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_error("open", path, errno);
  auto rc = ::fsync(fd);
  auto err = errno;
  ::close(fd);
  if (rc != 0)
    return io_error("fsync", path, err);
  return caf::none;
}

caf::error write_all(int fd, const void* data, size_t n,
                     const std::string& path) {
  auto ptr = static_cast<const uint8_t*>(data);
  while (n > 0) {
    auto written = ::write(fd, ptr, n);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return io_error("write", path, errno);
    }
    ptr += written;
    n -= static_cast<size_t>(written);
  }
  return caf::none;
}

/// Reads up to `n` bytes, retrying on EINTR; 0 means end of file.
caf::expected<size_t> read_some(int fd, void* buf, size_t n,
                                const std::string& path) {
  for (;;) {
    auto got = ::read(fd, buf, n);
    if (got >= 0)
      return static_cast<size_t>(got);
    if (errno != EINTR)
      return io_error("read", path, errno);
  }
}

caf::error write_file_synced(const std::string& path,
                             const std::string& content) {
  auto fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0600);
  if (fd < 0)
    return io_error("open", path, errno);
  auto err = write_all(fd, content.data(), content.size(), path);
  if (!err && ::fsync(fd) != 0)
    err = io_error("fsync", path, errno);
  if (::close(fd) != 0 && !err)
    err = io_error("close", path, errno);
  return err;
}

/// Reads a small file whole; `enoent` receives whether it was missing.
caf::expected<std::string> read_small_file(const std::string& path,
                                           bool* enoent = nullptr) {
  auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (enoent != nullptr)
      *enoent = errno == ENOENT;
    return io_error("open", path, errno);
  }
  std::string result;
  char buf[4096];
  for (;;) {
    auto got = read_some(fd, buf, sizeof(buf), path);
    if (!got) {
      ::close(fd);
      return std::move(got.error());
    }
    if (*got == 0)
      break;
    result.append(buf, *got);
    if (result.size() > max_meta_size) {
      ::close(fd);
      return make_error(errc::corrupt, path + ": larger than "
                                         + std::to_string(max_meta_size)
                                         + " bytes");
    }
  }
  ::close(fd);
  return result;
}

// -- meta.json ----------------------------------------------------------------

// The CRC is stored as Go's json encodes HashiCorp's `CRC []byte`: base64 of
// the 8-byte big-endian sum. This keeps the files readable by HashiCorp's
// tooling and avoids 64-bit numbers that many JSON readers round.

constexpr const char* b64_chars
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const uint8_t* data, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t chunk = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < n)
      chunk |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < n)
      chunk |= data[i + 2];
    out += b64_chars[(chunk >> 18) & 0x3F];
    out += b64_chars[(chunk >> 12) & 0x3F];
    out += i + 1 < n ? b64_chars[(chunk >> 6) & 0x3F] : '=';
    out += i + 2 < n ? b64_chars[chunk & 0x3F] : '=';
  }
  return out;
}

bool base64_decode(const std::string& in, std::vector<uint8_t>& out) {
  if (in.size() % 4 != 0)
    return false;
  out.clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t chunk = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      auto c = in[i + j];
      uint32_t v = 0;
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        ++pad;
      } else {
        if (pad > 0)
          return false;
        auto pos = std::char_traits<char>::find(b64_chars, 64, c);
        if (pos == nullptr)
          return false;
        v = static_cast<uint32_t>(pos - b64_chars);
      }
      chunk = (chunk << 6) | v;
    }
    out.push_back(static_cast<uint8_t>(chunk >> 16));
    if (pad < 2)
      out.push_back(static_cast<uint8_t>(chunk >> 8));
    if (pad < 1)
      out.push_back(static_cast<uint8_t>(chunk));
  }
  return true;
}

std::string encode_meta(const snapshot_meta& meta) {
  // Field names and order as HashiCorp's fileSnapshotMeta.
  nlohmann::ordered_json servers = nlohmann::ordered_json::array();
  for (auto& s : meta.configuration.servers)
    servers.push_back({{"Suffrage", static_cast<int>(s.suffrage)},
                       {"ID", s.id},
                       {"Address", s.address}});
  uint8_t crc[8];
  for (int i = 0; i < 8; ++i)
    crc[i] = static_cast<uint8_t>(meta.crc >> (8 * (7 - i)));
  nlohmann::ordered_json j;
  j["Version"] = meta.version;
  j["ID"] = meta.id;
  j["Index"] = meta.index;
  j["Term"] = meta.term;
  j["Configuration"] = {{"Servers", std::move(servers)}};
  j["ConfigurationIndex"] = meta.configuration_index;
  j["Size"] = meta.size;
  j["CRC"] = base64_encode(crc, sizeof(crc));
  return j.dump(2) + "\n";
}

caf::expected<snapshot_meta> decode_meta(const std::string& text,
                                         const std::string& path) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::corrupt, path + ": " + what);
  };
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    return bad("not valid JSON");
  if (!j.is_object())
    return bad("not a JSON object");
  auto get_u64 = [&](const nlohmann::json& obj, const char* key,
                     uint64_t& out) {
    auto i = obj.find(key);
    if (i == obj.end() || !i->is_number_unsigned())
      return false;
    out = i->get<uint64_t>();
    return true;
  };
  auto get_str = [&](const nlohmann::json& obj, const char* key,
                     std::string& out) {
    auto i = obj.find(key);
    if (i == obj.end() || !i->is_string())
      return false;
    out = i->get<std::string>();
    return true;
  };
  snapshot_meta meta;
  uint64_t version = 0;
  if (!get_u64(j, "Version", version) || version > 1000)
    return bad("missing or invalid Version");
  meta.version = static_cast<int>(version);
  if (!get_str(j, "ID", meta.id))
    return bad("missing or invalid ID");
  if (!get_u64(j, "Index", meta.index))
    return bad("missing or invalid Index");
  if (!get_u64(j, "Term", meta.term))
    return bad("missing or invalid Term");
  if (!get_u64(j, "ConfigurationIndex", meta.configuration_index))
    return bad("missing or invalid ConfigurationIndex");
  if (!get_u64(j, "Size", meta.size))
    return bad("missing or invalid Size");
  auto cfg = j.find("Configuration");
  if (cfg == j.end() || !cfg->is_object())
    return bad("missing or invalid Configuration");
  auto servers = cfg->find("Servers");
  // Go marshals an empty configuration's nil slice as null.
  if (servers != cfg->end() && !servers->is_null()) {
    if (!servers->is_array())
      return bad("invalid Configuration.Servers");
    for (auto& s : *servers) {
      server srv;
      uint64_t suff = 0;
      if (!s.is_object() || !get_u64(s, "Suffrage", suff) || suff > 1
          || !get_str(s, "ID", srv.id) || !get_str(s, "Address", srv.address))
        return bad("invalid server in Configuration.Servers");
      srv.suffrage = static_cast<suffrage>(suff);
      meta.configuration.servers.push_back(std::move(srv));
    }
  }
  std::string crc_text;
  std::vector<uint8_t> crc;
  if (!get_str(j, "CRC", crc_text) || !base64_decode(crc_text, crc)
      || crc.size() != 8)
    return bad("missing or invalid CRC");
  for (auto byte : crc)
    meta.crc = (meta.crc << 8) | byte;
  return meta;
}

bool supported_version(int version) {
  return version >= 1 && version <= snapshot_version;
}

/// Reads and checks `<path>/<name>/meta.json`.
caf::expected<snapshot_meta> read_meta(const std::string& dir,
                                       const std::string& name,
                                       bool* enoent = nullptr) {
  auto path = dir + "/" + name + "/" + meta_name;
  auto text = read_small_file(path, enoent);
  if (!text)
    return std::move(text.error());
  auto meta = decode_meta(*text, path);
  if (!meta)
    return meta;
  if (meta->id != name)
    return make_error(errc::corrupt, path + ": ID " + meta->id
                                       + " does not match the folder name");
  if (!supported_version(meta->version))
    return make_error(errc::unsupported,
                      path + ": unsupported snapshot version "
                        + std::to_string(meta->version));
  return meta;
}

/// All usable snapshots, newest first; skips (and logs) what is not usable.
/// The complete snapshots in `path`, newest first; `log` (if any) hears
/// of the ones skipped.
caf::expected<std::vector<snapshot_meta>>
scan_folder(const std::string& path, spdlog::logger* log) {
  auto names = read_dir(path);
  if (!names)
    return std::move(names.error());
  std::vector<snapshot_meta> result;
  for (auto& name : *names) {
    if (!is_dir_no_follow(path + "/" + name))
      continue;
    // Temporary folders at this point belong to sinks still being written:
    // leftovers from crashes were removed when the store opened.
    if (ends_with(name, tmp_suffix))
      continue;
    auto meta = read_meta(path, name);
    if (!meta) {
      if (log != nullptr)
        log->warn("[snapshot] skipping snapshot {}: {}", name,
                  describe(meta.error()));
      continue;
    }
    result.push_back(std::move(*meta));
  }
  std::sort(result.begin(), result.end(),
            [](const snapshot_meta& x, const snapshot_meta& y) {
              return std::tie(x.term, x.index, x.id)
                     > std::tie(y.term, y.index, y.id);
            });
  return result;
}

caf::expected<std::vector<snapshot_meta>> scan(state& st) {
  return scan_folder(st.path, st.log.get());
}

/// Deletes the snapshots beyond the newest `retain`, oldest first.
caf::error reap(state& st) {
  std::lock_guard<std::mutex> guard{st.reap_mtx};
  auto all = scan(st);
  if (!all)
    return std::move(all.error());
  for (auto i = all->size(); i > static_cast<size_t>(st.retain); --i) {
    auto path = st.path + "/" + (*all)[i - 1].id;
    st.log->info("[snapshot] reaping snapshot {}", path);
    if (auto err = remove_all(path))
      return err;
  }
  return caf::none;
}

// -- sink ---------------------------------------------------------------------

class file_sink final : public snapshot_sink {
public:
  file_sink(std::shared_ptr<state> st, snapshot_meta meta, int fd)
    : st_(std::move(st)), meta_(std::move(meta)), fd_(fd) {
    final_dir_ = st_->path + "/" + meta_.id;
    tmp_dir_ = final_dir_ + tmp_suffix;
    state_path_ = tmp_dir_ + "/" + state_name;
    buf_.reserve(io_chunk);
  }

  ~file_sink() override {
    if (!done_) {
      st_->log->warn("[snapshot] sink {} dropped without close or cancel; "
                     "discarding it",
                     meta_.id);
      cancel();
    }
  }

  const std::string& id() const override {
    return meta_.id;
  }

  std::optional<uint64_t> running_crc() const override {
    return crc_.checksum();
  }

  caf::error write(const void* data, size_t n) override {
    if (done_)
      return make_error(errc::not_valid,
                        "snapshot " + meta_.id + ": write after close/cancel");
    if (failed_)
      return failed_;
    crc_.process_bytes(data, n);
    if (buf_.size() + n > io_chunk) {
      if (auto err = flush())
        return failed_ = err;
    }
    if (n >= io_chunk) {
      if (auto err = write_all(fd_, data, n, state_path_))
        return failed_ = err;
      size_ += n;
      start_writeback();
    } else {
      auto ptr = static_cast<const uint8_t*>(data);
      buf_.insert(buf_.end(), ptr, ptr + n);
      size_ += n;
    }
    return caf::none;
  }

  caf::error close() override {
    if (done_)
      return make_error(errc::not_valid,
                        "snapshot " + meta_.id + ": already closed");
    done_ = true;
    auto err = failed_ ? make_error(errc::storage_failure,
                                    "snapshot " + meta_.id
                                      + " is incomplete after a failed "
                                        "write: "
                                      + describe(failed_))
                       : finalize();
    if (err) {
      st_->log->error("[snapshot] failed to finalize snapshot {}: {}",
                      meta_.id, describe(err));
      release_fd();
      if (auto rm_err = remove_all(tmp_dir_))
        st_->log->error("[snapshot] failed to clean up {}: {}", tmp_dir_,
                        describe(rm_err));
      return err;
    }
    // The snapshot is durable and visible; failing to delete old ones does
    // not undo that, so it is logged rather than reported as a failed close.
    if (auto reap_err = reap(*st_))
      st_->log->error("[snapshot] failed to reap snapshots: {}",
                      describe(reap_err));
    return caf::none;
  }

  caf::error cancel() override {
    if (done_)
      return caf::none;
    done_ = true;
    release_fd();
    return remove_all(tmp_dir_);
  }

private:
  caf::error flush() {
    if (buf_.empty())
      return caf::none;
    auto err = write_all(fd_, buf_.data(), buf_.size(), state_path_);
    buf_.clear();
    if (!err)
      start_writeback();
    return err;
  }

  /// Has the kernel start writing what the sink wrote since the last call,
  /// once that is `writeback_chunk` bytes, without waiting for it. Left to
  /// the fsync at the close, a 256 MiB snapshot was written to disk only
  /// then, after the whole transfer; now the disk writes while the data
  /// still arrives, and the close waits for the last chunk only. It is a
  /// hint: durability still comes from that fsync, so a failure is ignored.
  void start_writeback() {
    // What the sink took and no longer holds in its buffer is the kernel's.
    auto written = size_ - buf_.size();
    if (written - writeback_from_ < writeback_chunk)
      return;
#ifdef __linux__
    ::sync_file_range(fd_, writeback_from_, written - writeback_from_,
                      SYNC_FILE_RANGE_WRITE);
#endif
    writeback_from_ = written;
  }

  void release_fd() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  caf::error finalize() {
    if (auto err = flush())
      return err;
    if (::fsync(fd_) != 0)
      return io_error("fsync", state_path_, errno);
    auto rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0)
      return io_error("close", state_path_, errno);
    meta_.size = size_;
    meta_.crc = crc_.checksum();
    if (auto err = write_file_synced(tmp_dir_ + "/" + meta_name,
                                     encode_meta(meta_)))
      return err;
    if (auto err = fsync_dir(tmp_dir_))
      return err;
    if (::rename(tmp_dir_.c_str(), final_dir_.c_str()) != 0)
      return make_error(errc::storage_failure,
                        "rename " + tmp_dir_ + " " + final_dir_ + ": "
                          + errno_text(errno));
    return fsync_dir(st_->path);
  }

  std::shared_ptr<state> st_;
  snapshot_meta meta_;
  int fd_;
  std::string final_dir_;
  std::string tmp_dir_;
  std::string state_path_;
  std::vector<uint8_t> buf_;
  crc64_ecma crc_;
  uint64_t size_ = 0;
  /// Where the next writeback starts.
  uint64_t writeback_from_ = 0;
  /// The first write error; every later write and the close report it.
  caf::error failed_;
  bool done_ = false;
};

// -- reader -------------------------------------------------------------------

/// Streams a verified state.bin. It checks the CRC once more while streaming
/// and fails at the end instead of reporting success if the file changed
/// after `open` verified it.
class file_reader final : public snapshot_reader {
public:
  file_reader(int fd, std::string path, uint64_t size, uint64_t crc)
    : fd_(fd), path_(std::move(path)), size_(size), crc_(crc) {
    // nop
  }

  ~file_reader() override {
    close();
  }

  caf::expected<size_t> read(void* buf, size_t n) override {
    if (fd_ < 0)
      return make_error(errc::not_valid, path_ + ": read after close");
    auto got = read_some(fd_, buf, n, path_);
    if (!got)
      return got;
    if (*got == 0) {
      if (read_ != size_ || running_.checksum() != crc_)
        return make_error(errc::corrupt,
                          path_ + ": changed after it was verified");
      return size_t{0};
    }
    read_ += *got;
    if (read_ > size_)
      return make_error(errc::corrupt,
                        path_ + ": grew after it was verified");
    running_.process_bytes(buf, *got);
    return got;
  }

  void close() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  uint64_t remaining() const override {
    return read_ < size_ ? size_ - read_ : 0;
  }

private:
  int fd_;
  std::string path_;
  uint64_t size_;
  uint64_t crc_;
  uint64_t read_ = 0;
  crc64_ecma running_;
};

bool valid_id(const std::string& id) {
  return !id.empty() && id.find('/') == std::string::npos
         && id.find("..") == std::string::npos
         && id.find('\0') == std::string::npos && !ends_with(id, tmp_suffix);
}

} // namespace

// -- file_snapshot_store ------------------------------------------------------

file_snapshot_store::file_snapshot_store(std::shared_ptr<state> st)
  : state_(std::move(st)) {
  // nop
}

file_snapshot_store::~file_snapshot_store() = default;

caf::expected<std::shared_ptr<file_snapshot_store>>
file_snapshot_store::make(const std::string& dir, int retain,
                          std::shared_ptr<spdlog::logger> logger) {
  if (retain < 1)
    return make_error(errc::not_valid,
                      std::string{create_prefix}
                        + "must retain at least one snapshot");
  auto st = std::make_shared<state>();
  st->path = dir + "/" + snapshots_folder;
  st->retain = retain;
  st->log = logger ? std::move(logger)
                   : std::make_shared<spdlog::logger>(
                     "snapshot", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto prefixed = [](caf::error err) {
    return make_error(static_cast<errc>(err.code()),
                      create_prefix + describe(err));
  };
  if (auto err = mkdir_all(dir, 0700))
    return prefixed(std::move(err));
  if (auto err = mkdir_all(st->path, 0700))
    return prefixed(std::move(err));
  // HashiCorp's permissions test: fail now rather than at the first snapshot.
  auto probe = st->path + "/" + perm_test_name;
  auto fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0600);
  if (fd < 0)
    return io_error("open", probe, errno,
                    std::string{create_prefix} + "permissions test failed: ");
  ::close(fd);
  if (::unlink(probe.c_str()) != 0)
    return io_error("remove", probe, errno,
                    std::string{create_prefix} + "permissions test failed: ");
  // A `.tmp` folder is a write interrupted by a crash; nothing can complete
  // it, and keeping it only wastes disk.
  auto names = read_dir(st->path);
  if (!names)
    return prefixed(std::move(names.error()));
  for (auto& name : *names) {
    auto path = st->path + "/" + name;
    if (!ends_with(name, tmp_suffix) || !is_dir_no_follow(path))
      continue;
    if (auto err = remove_all(path))
      st->log->error("[snapshot] failed to remove interrupted snapshot: {}",
                     describe(err));
    else
      st->log->warn("[snapshot] removed interrupted snapshot {}", path);
  }
  return std::shared_ptr<file_snapshot_store>{
    new file_snapshot_store(std::move(st))};
}

caf::expected<std::unique_ptr<snapshot_sink>>
file_snapshot_store::create(index_t index, term_t term,
                            const configuration& cfg,
                            index_t configuration_index) {
  auto& st = *state_;
  snapshot_meta meta;
  meta.index = index;
  meta.term = term;
  meta.configuration = cfg;
  meta.configuration_index = configuration_index;
  std::string tmp_dir;
  {
    // Two snapshots in the same millisecond at the same term and index would
    // collide: bump the millisecond until the name is free. mkdir is the
    // atomic claim; the final name is checked so a finished one is not
    // shadowed either.
    std::lock_guard<std::mutex> guard{st.id_mtx};
    auto ms = std::max(unix_millis_now(), st.last_ms + 1);
    for (;; ++ms) {
      meta.id = snapshot_name(term, index, ms);
      auto final_dir = st.path + "/" + meta.id;
      struct stat info;
      if (::lstat(final_dir.c_str(), &info) == 0)
        continue;
      tmp_dir = final_dir + tmp_suffix;
      if (::mkdir(tmp_dir.c_str(), 0700) == 0)
        break;
      if (errno != EEXIST)
        return io_error("mkdir", tmp_dir, errno,
                        "failed to create snapshot: ");
    }
    st.last_ms = ms;
  }
  st.log->info("[snapshot] creating new snapshot {}", tmp_dir);
  auto state_path = tmp_dir + "/" + state_name;
  auto fd = ::open(state_path.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    auto err = io_error("open", state_path, errno,
                        "failed to create snapshot: ");
    remove_all(tmp_dir);
    return err;
  }
  return std::unique_ptr<snapshot_sink>{
    new file_sink(state_, std::move(meta), fd)};
}

caf::expected<std::vector<snapshot_meta>>
list_snapshots(const std::string& dir) {
  return scan_folder(dir + "/" + snapshots_folder, nullptr);
}

caf::expected<std::vector<snapshot_meta>> file_snapshot_store::list() {
  std::lock_guard<std::mutex> guard{state_->reap_mtx};
  auto all = scan(*state_);
  if (all && all->size() > static_cast<size_t>(state_->retain))
    all->resize(static_cast<size_t>(state_->retain));
  return all;
}

caf::expected<std::pair<snapshot_meta, std::unique_ptr<snapshot_reader>>>
file_snapshot_store::open(const std::string& id) {
  if (!valid_id(id))
    return make_error(errc::not_valid, "invalid snapshot id: \"" + id + "\"");
  auto& st = *state_;
  bool enoent = false;
  auto meta = read_meta(st.path, id, &enoent);
  if (!meta) {
    if (enoent)
      return make_error(errc::not_found, "snapshot " + id + " not found: "
                                           + describe(meta.error()));
    return std::move(meta.error());
  }
  auto path = st.path + "/" + id + "/" + state_name;
  auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return make_error(errc::corrupt, "snapshot " + id + ": " + path
                                         + " is missing");
    return io_error("open", path, errno);
  }
  // Verify the whole file before handing out a single byte.
  std::vector<uint8_t> buf(io_chunk);
  crc64_ecma crc;
  uint64_t size = 0;
  for (;;) {
    auto got = read_some(fd, buf.data(), buf.size(), path);
    if (!got) {
      ::close(fd);
      return std::move(got.error());
    }
    if (*got == 0)
      break;
    crc.process_bytes(buf.data(), *got);
    size += *got;
  }
  if (size != meta->size) {
    ::close(fd);
    return make_error(errc::corrupt,
                      "snapshot " + id + ": size mismatch: " + path + " has "
                        + std::to_string(size) + " bytes, meta.json records "
                        + std::to_string(meta->size));
  }
  if (crc.checksum() != meta->crc) {
    ::close(fd);
    return make_error(errc::corrupt,
                      "snapshot " + id + ": CRC mismatch: " + path + " hashes to "
                        + hex(crc.checksum()) + ", meta.json records "
                        + hex(meta->crc));
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    auto err = io_error("seek", path, errno);
    ::close(fd);
    return err;
  }
  auto reader = std::unique_ptr<snapshot_reader>{
    new file_reader(fd, path, meta->size, meta->crc)};
  return std::make_pair(std::move(*meta), std::move(reader));
}

const std::string& file_snapshot_store::path() const {
  return state_->path;
}

int file_snapshot_store::retain() const {
  return state_->retain;
}

caf::expected<std::shared_ptr<snapshot_store>>
new_snapshot_store(const std::string& dir, int retain,
                   std::shared_ptr<spdlog::logger> logger) {
  auto store = file_snapshot_store::make(dir, retain, std::move(logger));
  if (!store)
    return std::move(store.error());
  return std::shared_ptr<snapshot_store>{std::move(*store)};
}

} // namespace raft
