// cyberfly_store.hpp — the C++17 interface of cyberfly_store, header-only,
// over the C API of cyberfly_store.h (link libcyberfly_store as for C).
//
//   #include <cyberfly_store.hpp>
//   auto store = cfs::store::open("/var/lib/cyberfly");
//   store.set("mydb:greeting", "hello");
//   std::optional<std::string> v = store.get("mydb:greeting");  // nullopt: absent
//
// - Handles (store, config, scan, op_scan, keypair, signed_op, sync_server,
//   sync_handle) are move-only RAII objects: the C handle is freed by the
//   destructor. `raw()` gives the C handle for calls this header does not
//   wrap; the object keeps owning it.
// - A failed call throws cfs::error (a std::runtime_error): `code()` is the
//   C result code (the stable codes of the README's Errors section, 1..99,
//   or 100..103 from the C boundary), `what()` the library's message.
// - An absent value is std::nullopt (get, hget, json_get, zscore, geodist,
//   ts_get, key_type, get_blob, geopos); a missing key is not an error.
// - Text goes in as std::string_view (valid UTF-8, else
//   CFS_RESULT_INVALID_UTF8) and comes out as std::string (copied from the
//   library's buffers, which are freed before the call returns).
// - Threads: one cfs::store may be used from many threads at once (every
//   call blocks the calling thread); a scan or op_scan by one thread at a
//   time. Destroying a store waits for its pending async completions,
//   closes it if open (errors dropped: call close() to see them) and frees
//   it; no other thread may use it then.
#ifndef CYBERFLY_STORE_HPP
#define CYBERFLY_STORE_HPP

#if __cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#error "cyberfly_store.hpp needs C++17 or newer"
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cyberfly_store.h"

namespace cfs {

// ---------------------------------------------------------------- errors

// The message the library gives any result code ("" when none).
inline std::string result_message(cfs_result code) {
  char buf[256];
  size_t n = 0;
  if (cfs_result_message(static_cast<uint32_t>(code), buf, sizeof buf, &n) != CFS_RESULT_OK &&
      n == 0) {
    return std::string();
  }
  return std::string(buf, n < sizeof buf ? n : sizeof buf - 1);
}

// A failed call: the C result code and the library's message.
class error : public std::runtime_error {
 public:
  error(cfs_result code, const std::string &message)
      : std::runtime_error(message.empty() ? result_message(code) : message), code_(code) {}
  cfs_result code() const noexcept { return code_; }

 private:
  cfs_result code_;
};

namespace detail {

// Throw cfs::error for a failed result, taking ownership of `e` (may be null).
inline void check(cfs_result r, cfs_error *e = nullptr) {
  if (r == CFS_RESULT_OK) {
    cfs_error_free(e);
    return;
  }
  std::string msg;
  if (e) {
    const char *m = cfs_error_message(e);
    if (m) msg = m;
    cfs_error_free(e);
  }
  throw error(r, msg);
}

// Call `f(cfs_error **)` and throw on failure.
template <class F>
void call(F &&f) {
  cfs_error *e = nullptr;
  cfs_result r = f(&e);
  check(r, e);
}

template <class T, void (*Free)(T *)>
struct deleter {
  void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)>
using handle = std::unique_ptr<T, deleter<T, Free>>;

// An owned cfs_string, freed on scope exit.
struct owned_string {
  cfs_string s{nullptr, 0};
  owned_string() = default;
  owned_string(const owned_string &) = delete;
  owned_string &operator=(const owned_string &) = delete;
  ~owned_string() { cfs_string_free(&s); }
  std::string str() const { return s.data ? std::string(s.data, s.len) : std::string(); }
};

// An owned cfs_bytes, freed on scope exit.
struct owned_bytes {
  cfs_bytes b{nullptr, 0};
  owned_bytes() = default;
  owned_bytes(const owned_bytes &) = delete;
  owned_bytes &operator=(const owned_bytes &) = delete;
  ~owned_bytes() { cfs_bytes_free(&b); }
  std::vector<uint8_t> vec() const {
    return b.data ? std::vector<uint8_t>(b.data, b.data + b.len) : std::vector<uint8_t>();
  }
};

// Never NULL: an empty std::string_view{} has a NULL data() (the C API
// refuses NULL text).
inline const char *cstr(std::string_view s) { return s.data() ? s.data() : ""; }
inline cfs_str view(std::string_view s) { return cfs_str{cstr(s), s.size()}; }
inline std::string str(cfs_str s) { return s.data ? std::string(s.data, s.len) : std::string(); }

using str_list_ptr = handle<cfs_str_list, cfs_str_list_free>;
using pair_list_ptr = handle<cfs_str_pair_list, cfs_str_pair_list_free>;
using scored_list_ptr = handle<cfs_scored_list, cfs_scored_list_free>;
using ts_point_list_ptr = handle<cfs_ts_point_list, cfs_ts_point_list_free>;
using geo_pos_list_ptr = handle<cfs_geo_pos_list, cfs_geo_pos_list_free>;
using geo_match_list_ptr = handle<cfs_geo_match_list, cfs_geo_match_list_free>;
using stream_list_ptr = handle<cfs_stream_entry_list, cfs_stream_entry_list_free>;
using outcome_list_ptr = handle<cfs_outcome_list, cfs_outcome_list_free>;

// Absent entries (data == NULL) become std::nullopt.
inline std::vector<std::optional<std::string>> optional_strings(const cfs_str_list *l) {
  std::vector<std::optional<std::string>> out;
  size_t n = cfs_str_list_len(l);
  out.reserve(n);
  for (size_t i = 0; i < n; i++) {
    cfs_str s = cfs_str_list_get(l, i);
    out.push_back(s.data ? std::optional<std::string>(str(s)) : std::nullopt);
  }
  return out;
}

inline std::vector<std::string> strings(const cfs_str_list *l) {
  std::vector<std::string> out;
  size_t n = cfs_str_list_len(l);
  out.reserve(n);
  for (size_t i = 0; i < n; i++) out.push_back(str(cfs_str_list_get(l, i)));
  return out;
}

inline std::vector<std::pair<std::string, std::string>> string_pairs(const cfs_str_pair_list *l) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t n = cfs_str_pair_list_len(l);
  out.reserve(n);
  for (size_t i = 0; i < n; i++) {
    cfs_str_pair p = cfs_str_pair_list_get(l, i);
    out.emplace_back(str(p.key), str(p.value));
  }
  return out;
}

inline std::vector<std::pair<std::string, double>> scored(const cfs_scored_list *l) {
  std::vector<std::pair<std::string, double>> out;
  size_t n = cfs_scored_list_len(l);
  out.reserve(n);
  for (size_t i = 0; i < n; i++) {
    cfs_scored s = cfs_scored_list_get(l, i);
    out.emplace_back(str(s.member), s.score);
  }
  return out;
}

}  // namespace detail

// ---------------------------------------------------------------- values

using value_kind = cfs_value_kind;  // CFS_VALUE_KIND_STRING, _HASH, …
using durability = cfs_durability;  // CFS_DURABILITY_NONE, _BATCH, _SYNC
using geo_unit = cfs_geo_unit;      // CFS_GEO_UNIT_M, _KM, _MI, _FT
using outcome = cfs_outcome;        // CFS_OUTCOME_APPLIED, _SUPERSEDED, …
using sync_report = cfs_sync_report;
using ts_point = cfs_ts_point;      // {timestamp_ms, value}
using hash = cfs_hash;              // a BLAKE3 hash (32 bytes)

// The library's version ("0.1.0"); CYBERFLY_STORE_VERSION is the header's.
inline std::string version() { return cfs_version(); }

// 64 lowercase hex digits.
inline std::string to_hex(const hash &h) {
  char buf[65];
  detail::call([&](cfs_error **e) { return cfs_hash_to_hex(&h, buf, sizeof buf, e); });
  return std::string(buf, 64);
}

inline hash hash_from_hex(std::string_view hex) {
  hash h{};
  detail::call([&](cfs_error **e) { return cfs_hash_from_hex(detail::cstr(hex), hex.size(), &h, e); });
  return h;
}

// Verify the closed store at `path` without changing it (cfs_check): the
// report as JSON ("clean", counts, "problems"). Throws cfs::error for an
// open store (CFS_RESULT_ALREADY_OPEN) or a directory that cannot be read.
inline std::string check(std::string_view path) {
  detail::owned_string s;
  detail::call([&](cfs_error **e) { return cfs_check(detail::cstr(path), path.size(), &s.s, e); });
  return s.str();
}

// One stream entry: its id ("{ms}-{seq}") and its fields in order.
struct stream_entry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
};

// One match of a radius query; distance and coordinates when asked for.
struct geo_match {
  std::string member;
  std::optional<double> distance;
  std::optional<std::pair<double, double>> coord;  // (longitude, latitude)
};

// Options of a radius query (Redis's WITHDIST, WITHCOORD, COUNT, ASC/DESC).
struct radius_opts {
  bool with_dist = false;
  bool with_coord = false;
  size_t count = 0;   // 0: no limit
  int32_t order = 0;  // 0: none, 1: nearest first, -1: farthest first
};

// The outcome of one operation of apply_many: for CFS_OUTCOME_REJECTED,
// the error code and message.
struct op_result {
  cfs_outcome outcome;
  cfs_result code;
  std::string message;
};

// A list of texts for one call: a braced list ({"a", "b"}) or any container
// of std::string, std::string_view or const char * (vector, set, array, …).
// It views the caller's strings: build it in the call that uses it.
class texts {
 public:
  texts(std::initializer_list<std::string_view> l) { add(l); }
  template <class Range, class = std::enable_if_t<std::is_convertible_v<
                             decltype(*std::begin(std::declval<const Range &>())), std::string_view>>>
  texts(const Range &r) {  // NOLINT: implicit on purpose
    add(r);
  }
  const std::vector<cfs_str> &views() const noexcept { return v_; }

 private:
  template <class R>
  void add(const R &r) {
    for (const auto &x : r) v_.push_back(detail::view(x));
  }
  std::vector<cfs_str> v_;
};

// (text, text) pairs for one call: a braced list ({{"k", "v"}, …}) or any
// container of pairs of strings (vector<pair<string, string>>, map, …).
class text_pairs {
 public:
  text_pairs(std::initializer_list<std::pair<std::string_view, std::string_view>> l) { add(l); }
  template <class Range, class E = decltype(*std::begin(std::declval<const Range &>())),
            class = std::enable_if_t<std::is_convertible_v<decltype(std::declval<E>().first), std::string_view> &&
                                     std::is_convertible_v<decltype(std::declval<E>().second), std::string_view>>>
  text_pairs(const Range &r) {  // NOLINT: implicit on purpose
    add(r);
  }
  const std::vector<cfs_str_pair> &views() const noexcept { return v_; }

 private:
  template <class R>
  void add(const R &r) {
    for (const auto &kv : r) v_.push_back(cfs_str_pair{detail::view(kv.first), detail::view(kv.second)});
  }
  std::vector<cfs_str_pair> v_;
};

// ---------------------------------------------------------------- config

// Store options, the defaults until changed; every setter returns *this and
// throws cfs::error (CFS_RESULT_INVALID_CONFIG, …) on a bad value.
class config {
 public:
  config() {
    cfs_config *c = nullptr;
    detail::check(cfs_config_new(&c));
    p_.reset(c);
  }
#define CFS_HPP_SETTER(name, type) \
  config &name(type v) {           \
    detail::check(cfs_config_set_##name(p_.get(), v)); \
    return *this;                  \
  }
  CFS_HPP_SETTER(sled_cache_capacity, uint64_t)
  CFS_HPP_SETTER(flush_every_ms, uint64_t)
  CFS_HPP_SETTER(compression, bool)
  CFS_HPP_SETTER(compression_factor, int32_t)
  CFS_HPP_SETTER(hot_cache_bytes, uint64_t)
  CFS_HPP_SETTER(warm_cache_bytes, uint64_t)
  CFS_HPP_SETTER(warm_ttl_ms, uint64_t)
  CFS_HPP_SETTER(inline_threshold, size_t)
  CFS_HPP_SETTER(max_key_len, size_t)
  CFS_HPP_SETTER(max_value_len, size_t)
  CFS_HPP_SETTER(writer_max_batch, size_t)
  CFS_HPP_SETTER(writer_max_delay_us, uint64_t)
  CFS_HPP_SETTER(writer_queue_depth, size_t)
  CFS_HPP_SETTER(gc_interval_ms, uint64_t)
  CFS_HPP_SETTER(sweep_interval_ms, uint64_t)
  CFS_HPP_SETTER(memory_trim_interval_ms, uint64_t)
  CFS_HPP_SETTER(scan_page_size, size_t)
  CFS_HPP_SETTER(reader_threads, size_t)
  CFS_HPP_SETTER(inline_read_limit_us, uint64_t)
  CFS_HPP_SETTER(warm_restart, bool)
  CFS_HPP_SETTER(runtime_threads, size_t)
  CFS_HPP_SETTER(freshness_window_ms, uint64_t)
  CFS_HPP_SETTER(legacy_signatures, bool)
  CFS_HPP_SETTER(verdict_cache_entries, uint64_t)
  CFS_HPP_SETTER(log_check, cfs_log_check)
  CFS_HPP_SETTER(durability, cfs_durability)
  CFS_HPP_SETTER(throughput_mode, cfs_throughput_mode)
#undef CFS_HPP_SETTER

  // Check the fields together (what open would refuse).
  void validate() const {
    detail::call([&](cfs_error **e) { return cfs_config_validate(p_.get(), e); });
  }
  const cfs_config *raw() const noexcept { return p_.get(); }

 private:
  detail::handle<cfs_config, cfs_config_free> p_;
};

// ---------------------------------------------------------------- signing

class keypair {
 public:
  static keypair generate() {
    cfs_keypair *k = nullptr;
    detail::check(cfs_keypair_generate(&k));
    return keypair(k);
  }
  // From the 32-byte secret, raw or as 64 hex digits.
  static keypair from_secret(const std::array<uint8_t, 32> &secret) {
    cfs_keypair *k = nullptr;
    detail::call([&](cfs_error **e) { return cfs_keypair_from_secret(secret.data(), secret.size(), &k, e); });
    return keypair(k);
  }
  static keypair from_secret_hex(std::string_view hex) {
    cfs_keypair *k = nullptr;
    detail::call([&](cfs_error **e) { return cfs_keypair_from_secret_hex(detail::cstr(hex), hex.size(), &k, e); });
    return keypair(k);
  }

  std::array<uint8_t, 32> public_key() const {
    std::array<uint8_t, 32> out{};
    detail::call([&](cfs_error **e) { return cfs_keypair_public_key(p_.get(), out.data(), out.size(), e); });
    return out;
  }
  // 64 lowercase hex digits: databases owned by this key end with "-{this}".
  std::string public_key_hex() const {
    char buf[65];
    detail::call([&](cfs_error **e) { return cfs_keypair_public_key_hex(p_.get(), buf, sizeof buf, e); });
    return std::string(buf, 64);
  }
  std::array<uint8_t, 32> secret() const {
    std::array<uint8_t, 32> out{};
    detail::call([&](cfs_error **e) { return cfs_keypair_secret(p_.get(), out.data(), out.size(), e); });
    return out;
  }
  std::array<uint8_t, 64> sign(std::string_view message) const {
    std::array<uint8_t, 64> sig{};
    detail::call([&](cfs_error **e) {
      return cfs_keypair_sign(p_.get(), reinterpret_cast<const uint8_t *>(detail::cstr(message)), message.size(),
                              sig.data(), sig.size(), e);
    });
    return sig;
  }
  const cfs_keypair *raw() const noexcept { return p_.get(); }

 private:
  explicit keypair(cfs_keypair *k) : p_(k) {}
  detail::handle<cfs_keypair, cfs_keypair_free> p_;
};

// One ed25519 verdict under the store's rule (a key or signature of the
// wrong length is false, not an error).
inline bool verify(const std::array<uint8_t, 32> &public_key, std::string_view message,
                   const std::array<uint8_t, 64> &signature) {
  bool ok = false;
  detail::call([&](cfs_error **e) {
    return cfs_verify(public_key.data(), public_key.size(), reinterpret_cast<const uint8_t *>(detail::cstr(message)),
                      message.size(), signature.data(), signature.size(), &ok, e);
  });
  return ok;
}

// A signed operation (the Cyberfly node's fields).
class signed_op {
 public:
  // A new operation writing `value` at "{db_name}:{key}" as a value of
  // `kind`, with a fresh op_id and the current time; sign it before use.
  signed_op(std::string_view db_name, std::string_view key, std::string_view value, cfs_value_kind kind) {
    cfs_signed_op *op = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_signed_op_new(detail::cstr(db_name), db_name.size(), detail::cstr(key), key.size(), detail::cstr(value),
                               value.size(), kind, &op, e);
    });
    p_.reset(op);
  }
  static signed_op from_json(std::string_view json) {
    cfs_signed_op *op = nullptr;
    detail::call([&](cfs_error **e) { return cfs_signed_op_from_json(detail::cstr(json), json.size(), &op, e); });
    return signed_op(op);
  }
  // Takes ownership of a C handle (e.g. from cfs_op_scan_next).
  explicit signed_op(cfs_signed_op *op) : p_(op) {}

  signed_op &field(std::string_view f) { return set(cfs_signed_op_set_field(p_.get(), detail::cstr(f), f.size())); }
  signed_op &score(double s) { return set(cfs_signed_op_set_score(p_.get(), s)); }
  signed_op &json_path(std::string_view p) {
    return set(cfs_signed_op_set_json_path(p_.get(), detail::cstr(p), p.size()));
  }
  signed_op &stream_field(std::string_view f, std::string_view v) {
    return set(cfs_signed_op_add_stream_field(p_.get(), detail::cstr(f), f.size(), detail::cstr(v), v.size()));
  }
  signed_op &ts_timestamp(int64_t ms) { return set(cfs_signed_op_set_ts_timestamp(p_.get(), ms)); }
  signed_op &position(double longitude, double latitude) {
    return set(cfs_signed_op_set_position(p_.get(), longitude, latitude));
  }
  signed_op &timestamp(uint64_t ms) { return set(cfs_signed_op_set_timestamp(p_.get(), ms)); }
  signed_op &op_id(std::string_view id) { return set(cfs_signed_op_set_op_id(p_.get(), detail::cstr(id), id.size())); }
  // Sign with `kp` (the canonical v1 message: every field is signed).
  signed_op &sign(const keypair &kp) {
    detail::call([&](cfs_error **e) { return cfs_signed_op_sign(p_.get(), kp.raw(), e); });
    return *this;
  }
  // Set a signature made elsewhere (hex public key and signature).
  signed_op &signature(std::string_view public_key_hex, std::string_view signature_hex) {
    detail::call([&](cfs_error **e) {
      return cfs_signed_op_set_signature(p_.get(), detail::cstr(public_key_hex), public_key_hex.size(),
                                         detail::cstr(signature_hex), signature_hex.size(), e);
    });
    return *this;
  }

  std::string op_id() const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return cfs_signed_op_op_id(p_.get(), &s.s, e); });
    return s.str();
  }
  std::string to_json() const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return cfs_signed_op_to_json(p_.get(), &s.s, e); });
    return s.str();
  }
  std::vector<uint8_t> canonical_message() const {
    detail::owned_bytes b;
    detail::call([&](cfs_error **e) { return cfs_signed_op_canonical_message(p_.get(), &b.b, e); });
    return b.vec();
  }
  // Throws what applying would refuse for the signature or the owner.
  void check() const {
    detail::call([&](cfs_error **e) { return cfs_signed_op_check(p_.get(), e); });
  }
  const cfs_signed_op *raw() const noexcept { return p_.get(); }

 private:
  signed_op &set(cfs_result r) {
    detail::check(r);
    return *this;
  }
  detail::handle<cfs_signed_op, cfs_signed_op_free> p_;
};

// ---------------------------------------------------------------- scans

// A prefix scan over string values in key order, a page at a time.
class scan {
 public:
  explicit scan(cfs_scan *s) : p_(s) {}
  // The next (key, value), or nullopt at the end.
  std::optional<std::pair<std::string, std::string>> next() {
    cfs_str k{}, v{};
    bool found = false;
    detail::call([&](cfs_error **e) { return cfs_scan_next(p_.get(), &k, &v, &found, e); });
    if (!found) return std::nullopt;
    return std::make_pair(detail::str(k), detail::str(v));
  }
  // The next page, or nullopt at the end.
  std::optional<std::vector<std::pair<std::string, std::string>>> next_page() {
    cfs_str_pair_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_scan_next_page(p_.get(), &raw, e); });
    if (!raw) return std::nullopt;
    detail::pair_list_ptr l(raw);
    return detail::string_pairs(l.get());
  }
  cfs_scan *raw() const noexcept { return p_.get(); }

 private:
  detail::handle<cfs_scan, cfs_scan_free> p_;
};

// The applied operations from a time on, in (timestamp, op_id) order.
class op_scan {
 public:
  explicit op_scan(cfs_op_scan *s) : p_(s) {}
  std::optional<signed_op> next() {
    cfs_signed_op *op = nullptr;
    detail::call([&](cfs_error **e) { return cfs_op_scan_next(p_.get(), &op, e); });
    if (!op) return std::nullopt;
    return signed_op(op);
  }
  cfs_op_scan *raw() const noexcept { return p_.get(); }

 private:
  detail::handle<cfs_op_scan, cfs_op_scan_free> p_;
};

// ---------------------------------------------------------------- replication

class sync_server {
 public:
  explicit sync_server(cfs_sync_server *s) : p_(s) {}
  // What peers pass to store::sync_from.
  std::string ticket() const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return cfs_sync_server_ticket(p_.get(), &s.s, e); });
    return s.str();
  }
  // "{node id}@ip:port".
  std::string address() const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return cfs_sync_server_address(p_.get(), &s.s, e); });
    return s.str();
  }
  cfs_sync_server *raw() const noexcept { return p_.get(); }

 private:
  detail::handle<cfs_sync_server, cfs_sync_server_free> p_;
};

// A continuous pull; destroying it stops it.
class sync_handle {
 public:
  explicit sync_handle(cfs_sync_handle *h) : p_(h) {}
  sync_report report() const {
    sync_report r{};
    detail::call([&](cfs_error **e) { return cfs_sync_handle_report(p_.get(), &r, e); });
    return r;
  }
  sync_report stop() {
    sync_report r{};
    detail::call([&](cfs_error **e) { return cfs_sync_handle_stop(p_.get(), &r, e); });
    return r;
  }
  cfs_sync_handle *raw() const noexcept { return p_.get(); }

 private:
  detail::handle<cfs_sync_handle, cfs_sync_handle_free> p_;
};

// ---------------------------------------------------------------- the store

class store {
 public:
  using items = text_pairs;
  using keys = texts;

  // Open (or create) the store in directory `path`; `cfg` null: defaults.
  static store open(std::string_view path, const config *cfg = nullptr) {
    cfs_store *s = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_open(detail::cstr(path), path.size(), cfg ? cfg->raw() : nullptr, &s, e);
    });
    return store(s);
  }
  static store open(std::string_view path, const config &cfg) { return open(path, &cfg); }

  // Flush and close, releasing the directory; later calls throw
  // CFS_RESULT_CLOSED. Closing twice is fine.
  void close() {
    detail::call([&](cfs_error **e) { return cfs_store_close(p_.get(), e); });
  }
  // Everything acknowledged before is durable.
  void flush() {
    detail::call([&](cfs_error **e) { return cfs_store_flush(p_.get(), e); });
  }

  // ---- strings and keys
  void set(std::string_view k, std::string_view v) {
    detail::call([&](cfs_error **e) { return cfs_store_set(p_.get(), detail::cstr(k), k.size(), detail::cstr(v), v.size(), e); });
  }
  void set_ex(std::string_view k, std::string_view v, uint64_t seconds) {
    detail::call([&](cfs_error **e) {
      return cfs_store_set_ex(p_.get(), detail::cstr(k), k.size(), detail::cstr(v), v.size(), seconds, e);
    });
  }
  std::optional<std::string> get(std::string_view k) const {
    detail::owned_string v;
    bool found = false;
    detail::call([&](cfs_error **e) { return cfs_store_get(p_.get(), detail::cstr(k), k.size(), &v.s, &found, e); });
    if (!found) return std::nullopt;
    return v.str();
  }
  // True when the key existed.
  bool del(std::string_view k) {
    bool existed = false;
    detail::call([&](cfs_error **e) { return cfs_store_delete(p_.get(), detail::cstr(k), k.size(), &existed, e); });
    return existed;
  }
  bool exists(std::string_view k) const {
    bool b = false;
    detail::call([&](cfs_error **e) { return cfs_store_exists(p_.get(), detail::cstr(k), k.size(), &b, e); });
    return b;
  }
  // One atomic group.
  void set_many(const items &kvs) {
    const auto &v = kvs.views();
    detail::call([&](cfs_error **e) { return cfs_store_set_many(p_.get(), v.data(), v.size(), e); });
  }
  // In order; nullopt for an absent key.
  std::vector<std::optional<std::string>> get_many(const keys &ks) const {
    const auto &v = ks.views();
    cfs_str_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_get_many(p_.get(), v.data(), v.size(), &raw, e); });
    detail::str_list_ptr l(raw);
    return detail::optional_strings(l.get());
  }
  // The type of the value at `k`, nullopt when absent.
  std::optional<cfs_value_kind> key_type(std::string_view k) const {
    cfs_value_kind kind{};
    bool found = false;
    detail::call([&](cfs_error **e) { return cfs_store_key_type(p_.get(), detail::cstr(k), k.size(), &kind, &found, e); });
    if (!found) return std::nullopt;
    return kind;
  }
  scan scan_prefix(std::string_view prefix) const {
    cfs_scan *s = nullptr;
    detail::call([&](cfs_error **e) { return cfs_scan_new(p_.get(), detail::cstr(prefix), prefix.size(), &s, e); });
    return scan(s);
  }

  // ---- TTLs
  bool expire(std::string_view k, uint64_t seconds) {
    bool existed = false;
    detail::call([&](cfs_error **e) { return cfs_store_expire(p_.get(), detail::cstr(k), k.size(), seconds, &existed, e); });
    return existed;
  }
  // Seconds left: -2 when absent, -1 without expiry (as Redis).
  int64_t ttl(std::string_view k) const {
    int64_t s = 0;
    detail::call([&](cfs_error **e) { return cfs_store_ttl(p_.get(), detail::cstr(k), k.size(), &s, e); });
    return s;
  }
  int64_t pttl(std::string_view k) const {
    int64_t ms = 0;
    detail::call([&](cfs_error **e) { return cfs_store_pttl(p_.get(), detail::cstr(k), k.size(), &ms, e); });
    return ms;
  }
  bool persist(std::string_view k) {
    bool changed = false;
    detail::call([&](cfs_error **e) { return cfs_store_persist(p_.get(), detail::cstr(k), k.size(), &changed, e); });
    return changed;
  }

  // ---- hashes
  int64_t hset(std::string_view k, std::string_view field, std::string_view v) {
    int64_t n = 0;
    detail::call([&](cfs_error **e) {
      return cfs_store_hset(p_.get(), detail::cstr(k), k.size(), detail::cstr(field), field.size(), detail::cstr(v), v.size(), &n, e);
    });
    return n;
  }
  int64_t hset_many(std::string_view k, const items &fields) {
    const auto &v = fields.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_hset_many(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  std::optional<std::string> hget(std::string_view k, std::string_view field) const {
    detail::owned_string v;
    bool found = false;
    detail::call([&](cfs_error **e) {
      return cfs_store_hget(p_.get(), detail::cstr(k), k.size(), detail::cstr(field), field.size(), &v.s, &found, e);
    });
    if (!found) return std::nullopt;
    return v.str();
  }
  std::vector<std::pair<std::string, std::string>> hgetall(std::string_view k) const {
    cfs_str_pair_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_hgetall(p_.get(), detail::cstr(k), k.size(), &raw, e); });
    detail::pair_list_ptr l(raw);
    return detail::string_pairs(l.get());
  }
  int64_t hdel(std::string_view k, const keys &fields) {
    const auto &v = fields.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_hdel(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  uint64_t hlen(std::string_view k) const { return len(cfs_store_hlen, k); }

  // ---- lists
  int64_t rpush(std::string_view k, const keys &values) {
    const auto &v = values.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_rpush(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  int64_t lpush(std::string_view k, const keys &values) {
    const auto &v = values.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_lpush(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  std::vector<std::string> lrange(std::string_view k, int64_t start, int64_t stop) const {
    cfs_str_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_lrange(p_.get(), detail::cstr(k), k.size(), start, stop, &raw, e); });
    detail::str_list_ptr l(raw);
    return detail::strings(l.get());
  }
  uint64_t llen(std::string_view k) const { return len(cfs_store_llen, k); }

  // ---- sets
  int64_t sadd(std::string_view k, const keys &members) {
    const auto &v = members.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_sadd(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  int64_t srem(std::string_view k, const keys &members) {
    const auto &v = members.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_srem(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  std::vector<std::string> smembers(std::string_view k) const {
    cfs_str_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_smembers(p_.get(), detail::cstr(k), k.size(), &raw, e); });
    detail::str_list_ptr l(raw);
    return detail::strings(l.get());
  }
  bool sismember(std::string_view k, std::string_view member) const {
    bool b = false;
    detail::call([&](cfs_error **e) {
      return cfs_store_sismember(p_.get(), detail::cstr(k), k.size(), detail::cstr(member), member.size(), &b, e);
    });
    return b;
  }
  uint64_t scard(std::string_view k) const { return len(cfs_store_scard, k); }

  // ---- sorted sets
  // (member, score) pairs: a braced list or any container of them (map too).
  int64_t zadd(std::string_view k, std::initializer_list<std::pair<std::string_view, double>> members) {
    return zadd_range(k, members);
  }
  template <class Range, class = decltype(std::begin(std::declval<const Range &>())->second)>
  int64_t zadd(std::string_view k, const Range &members) {
    return zadd_range(k, members);
  }
  int64_t zadd(std::string_view k, std::string_view member, double score) { return zadd(k, {{member, score}}); }
  int64_t zrem(std::string_view k, const keys &members) {
    const auto &v = members.views();
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_zrem(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }
  std::vector<std::pair<std::string, double>> zrange(std::string_view k, int64_t start, int64_t stop) const {
    cfs_scored_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_zrange(p_.get(), detail::cstr(k), k.size(), start, stop, &raw, e); });
    detail::scored_list_ptr l(raw);
    return detail::scored(l.get());
  }
  std::vector<std::pair<std::string, double>> zrangebyscore(std::string_view k, double min, double max) const {
    cfs_scored_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_zrangebyscore(p_.get(), detail::cstr(k), k.size(), min, max, &raw, e); });
    detail::scored_list_ptr l(raw);
    return detail::scored(l.get());
  }
  std::optional<double> zscore(std::string_view k, std::string_view member) const {
    double s = 0;
    bool found = false;
    detail::call([&](cfs_error **e) {
      return cfs_store_zscore(p_.get(), detail::cstr(k), k.size(), detail::cstr(member), member.size(), &s, &found, e);
    });
    if (!found) return std::nullopt;
    return s;
  }
  uint64_t zcard(std::string_view k) const { return len(cfs_store_zcard, k); }

  // ---- JSON (paths are JSONPath, "$" the whole document)
  void json_set(std::string_view k, std::string_view path, std::string_view json) {
    detail::call([&](cfs_error **e) {
      return cfs_store_json_set(p_.get(), detail::cstr(k), k.size(), detail::cstr(path), path.size(), detail::cstr(json), json.size(), e);
    });
  }
  // The document (no path) or the array of what `path` selects; nullopt
  // when the key is absent.
  std::optional<std::string> json_get(std::string_view k, std::optional<std::string_view> path = std::nullopt) const {
    detail::owned_string v;
    bool found = false;
    detail::call([&](cfs_error **e) {
      return cfs_store_json_get(p_.get(), detail::cstr(k), k.size(), path ? detail::cstr(*path) : nullptr, path ? path->size() : 0,
                                &v.s, &found, e);
    });
    if (!found) return std::nullopt;
    return v.str();
  }
  std::vector<std::string> json_filter(std::string_view k, std::string_view path) const {
    cfs_str_list *raw = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_json_filter(p_.get(), detail::cstr(k), k.size(), detail::cstr(path), path.size(), &raw, e);
    });
    detail::str_list_ptr l(raw);
    return detail::strings(l.get());
  }

  // ---- streams
  // id "*": a new id; returns the entry's id.
  std::string xadd(std::string_view k, std::string_view id, const items &fields) {
    const auto &v = fields.views();
    detail::owned_string out;
    detail::call([&](cfs_error **e) {
      return cfs_store_xadd(p_.get(), detail::cstr(k), k.size(), detail::cstr(id), id.size(), v.data(), v.size(), &out.s, e);
    });
    return out.str();
  }
  // Ids in [start, end] ("-" and "+" for the extremes), at most `count` (0: all).
  std::vector<stream_entry> xrange(std::string_view k, std::string_view start = "-", std::string_view end = "+",
                                   size_t count = 0) const {
    cfs_stream_entry_list *raw = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_xrange(p_.get(), detail::cstr(k), k.size(), detail::cstr(start), start.size(), detail::cstr(end), end.size(),
                              count, &raw, e);
    });
    return entries(raw);
  }
  std::vector<stream_entry> xrevrange(std::string_view k, std::string_view end = "+", std::string_view start = "-",
                                      size_t count = 0) const {
    cfs_stream_entry_list *raw = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_xrevrange(p_.get(), detail::cstr(k), k.size(), detail::cstr(end), end.size(), detail::cstr(start), start.size(),
                                 count, &raw, e);
    });
    return entries(raw);
  }
  uint64_t xlen(std::string_view k) const { return len(cfs_store_xlen, k); }

  // ---- time series
  void ts_add(std::string_view k, int64_t timestamp_ms, double value) {
    detail::call([&](cfs_error **e) { return cfs_store_ts_add(p_.get(), detail::cstr(k), k.size(), timestamp_ms, value, e); });
  }
  int64_t ts_add_many(std::string_view k, const std::vector<ts_point> &points) {
    int64_t n = 0;
    detail::call([&](cfs_error **e) {
      return cfs_store_ts_add_many(p_.get(), detail::cstr(k), k.size(), points.data(), points.size(), &n, e);
    });
    return n;
  }
  std::vector<ts_point> ts_range(std::string_view k, int64_t from_ms, int64_t to_ms) const {
    cfs_ts_point_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_ts_range(p_.get(), detail::cstr(k), k.size(), from_ms, to_ms, &raw, e); });
    detail::ts_point_list_ptr l(raw);
    std::vector<ts_point> out;
    for (size_t i = 0; i < cfs_ts_point_list_len(l.get()); i++) out.push_back(cfs_ts_point_list_get(l.get(), i));
    return out;
  }
  // The latest point, nullopt when the series is absent.
  std::optional<ts_point> ts_get(std::string_view k) const {
    ts_point p{};
    bool found = false;
    detail::call([&](cfs_error **e) { return cfs_store_ts_get(p_.get(), detail::cstr(k), k.size(), &p, &found, e); });
    if (!found) return std::nullopt;
    return p;
  }
  uint64_t ts_len(std::string_view k) const { return len(cfs_store_ts_len, k); }

  // ---- geo: (longitude, latitude, member)
  // (longitude, latitude, member) tuples: a braced list or any container.
  int64_t geoadd(std::string_view k, std::initializer_list<std::tuple<double, double, std::string_view>> places) {
    return geoadd_range(k, places);
  }
  template <class Range, class = decltype(std::get<2>(*std::begin(std::declval<const Range &>())))>
  int64_t geoadd(std::string_view k, const Range &places) {
    return geoadd_range(k, places);
  }
  // (longitude, latitude) per member, nullopt for one not in the set.
  std::vector<std::optional<std::pair<double, double>>> geopos(std::string_view k, const keys &members) const {
    const auto &v = members.views();
    cfs_geo_pos_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_geopos(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &raw, e); });
    detail::geo_pos_list_ptr l(raw);
    std::vector<std::optional<std::pair<double, double>>> out;
    for (size_t i = 0; i < cfs_geo_pos_list_len(l.get()); i++) {
      cfs_geo_pos p = cfs_geo_pos_list_get(l.get(), i);
      out.push_back(p.found ? std::optional<std::pair<double, double>>(std::make_pair(p.longitude, p.latitude))
                            : std::nullopt);
    }
    return out;
  }
  std::optional<double> geodist(std::string_view k, std::string_view m1, std::string_view m2,
                                cfs_geo_unit unit = CFS_GEO_UNIT_M) const {
    double d = 0;
    bool found = false;
    detail::call([&](cfs_error **e) {
      return cfs_store_geodist(p_.get(), detail::cstr(k), k.size(), detail::cstr(m1), m1.size(), detail::cstr(m2), m2.size(), unit, &d,
                               &found, e);
    });
    if (!found) return std::nullopt;
    return d;
  }
  std::vector<geo_match> georadius(std::string_view k, double longitude, double latitude, double radius,
                                   cfs_geo_unit unit, const radius_opts &opts = {}) const {
    cfs_radius_opts o = c_opts(opts);
    cfs_geo_match_list *raw = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_georadius(p_.get(), detail::cstr(k), k.size(), longitude, latitude, radius, unit, &o, &raw, e);
    });
    return matches(raw);
  }
  std::vector<geo_match> georadiusbymember(std::string_view k, std::string_view member, double radius,
                                           cfs_geo_unit unit, const radius_opts &opts = {}) const {
    cfs_radius_opts o = c_opts(opts);
    cfs_geo_match_list *raw = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_georadiusbymember(p_.get(), detail::cstr(k), k.size(), detail::cstr(member), member.size(), radius, unit,
                                         &o, &raw, e);
    });
    return matches(raw);
  }

  // ---- blobs (content-addressed by BLAKE3)
  hash add_blob(const void *data, size_t len) {
    hash h{};
    detail::call([&](cfs_error **e) {
      return cfs_store_add_blob(p_.get(), static_cast<const uint8_t *>(data), len, &h, e);
    });
    return h;
  }
  hash add_blob(std::string_view bytes) { return add_blob(bytes.data(), bytes.size()); }
  hash add_blob(const std::vector<uint8_t> &bytes) { return add_blob(bytes.data(), bytes.size()); }
  std::optional<std::vector<uint8_t>> get_blob(const hash &h) const {
    detail::owned_bytes b;
    bool found = false;
    detail::call([&](cfs_error **e) { return cfs_store_get_blob(p_.get(), &h, &b.b, &found, e); });
    if (!found) return std::nullopt;
    return b.vec();
  }
  bool remove_blob(const hash &h) {
    bool existed = false;
    detail::call([&](cfs_error **e) { return cfs_store_remove_blob(p_.get(), &h, &existed, e); });
    return existed;
  }
  void collect_garbage() {
    detail::call([&](cfs_error **e) { return cfs_store_collect_garbage(p_.get(), e); });
  }

  // ---- signed operations
  // A refused operation throws (CFS_RESULT_INVALID_SIGNATURE, _NOT_OWNER,
  // _STALE, …) and changes nothing.
  cfs_outcome apply(const signed_op &op) {
    cfs_outcome o{};
    detail::call([&](cfs_error **e) { return cfs_store_apply(p_.get(), op.raw(), &o, e); });
    return o;
  }
  // Per-operation outcomes, in order (a refused one is CFS_OUTCOME_REJECTED
  // with its code and message, not an exception).
  std::vector<op_result> apply_many(const std::vector<const signed_op *> &ops) {
    return outcomes(ops, cfs_store_apply_many);
  }
  // Operations from a peer's log (no clock-window check for their age).
  std::vector<op_result> apply_replicated(const std::vector<const signed_op *> &ops) {
    return outcomes(ops, cfs_store_apply_replicated);
  }
  uint64_t log_len() const {
    uint64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_log_len(p_.get(), &n, e); });
    return n;
  }
  op_scan ops_since(uint64_t since_ms) const {
    cfs_op_scan *s = nullptr;
    detail::call([&](cfs_error **e) { return cfs_store_ops_since(p_.get(), since_ms, &s, e); });
    return op_scan(s);
  }

  // ---- replication
  // Serve to the peers in `allow` (node ids separated by commas or spaces,
  // "*" for anyone, "" for nobody) on `bind_addr` ("ip:port"; "" for
  // "0.0.0.0:0").
  sync_server serve(std::string_view allow, std::string_view bind_addr = {}) const {
    cfs_sync_server *s = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_serve(p_.get(), bind_addr.empty() ? nullptr : bind_addr.data(), bind_addr.size(),
                             detail::cstr(allow), allow.size(), &s, e);
    });
    return sync_server(s);
  }
  std::string sync_node_id() const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return cfs_store_sync_node_id(p_.get(), &s.s, e); });
    return s.str();
  }
  // Pull what the peer (a ticket or "{node id}@ip:port") has and this store
  // lacks; blocks until done.
  sync_report sync_from(std::string_view peer, std::string_view bind_addr = {},
                        uint64_t connect_timeout_ms = 0) const {
    sync_report r{};
    detail::call([&](cfs_error **e) {
      return cfs_store_sync_from(p_.get(), detail::cstr(peer), peer.size(), bind_addr.empty() ? nullptr : bind_addr.data(),
                                 bind_addr.size(), connect_timeout_ms, nullptr, nullptr, &r, e);
    });
    return r;
  }
  sync_handle sync_start(std::string_view peer, std::string_view bind_addr = {},
                         uint64_t connect_timeout_ms = 0) const {
    cfs_sync_handle *h = nullptr;
    detail::call([&](cfs_error **e) {
      return cfs_store_sync_start(p_.get(), detail::cstr(peer), peer.size(), bind_addr.empty() ? nullptr : bind_addr.data(),
                                  bind_addr.size(), connect_timeout_ms, &h, e);
    });
    return sync_handle(h);
  }
  std::string state_digest() const { return text(cfs_store_state_digest); }

  // ---- observability
  std::string stats_json() const { return text(cfs_store_stats_json); }
  std::string metrics_text() const { return text(cfs_store_metrics_text); }

  // ---- without blocking: the work runs on the store's runtime; the future
  // holds the result or the cfs::error. The inputs are copied before the
  // call returns.
  std::future<std::vector<std::optional<std::string>>> get_many_async(const keys &ks) const {
    using result = std::vector<std::optional<std::string>>;
    const auto &v = ks.views();
    auto *pr = new std::promise<result>();
    auto fut = pr->get_future();
    cfs_str_list_callback cb = [](void *ud, cfs_result r, cfs_str_list *values, cfs_error *err) {
      std::unique_ptr<std::promise<result>> p(static_cast<std::promise<result> *>(ud));
      detail::str_list_ptr l(values);
      try {
        detail::check(r, err);
        p->set_value(detail::optional_strings(l.get()));
      } catch (...) {
        p->set_exception(std::current_exception());
      }
    };
    cfs_error *e = nullptr;
    cfs_result r = cfs_store_get_many_async(p_.get(), v.data(), v.size(), cb, pr, &e);
    if (r != CFS_RESULT_OK) delete pr;  // the callback is never called then
    detail::check(r, e);
    return fut;
  }
  std::future<void> set_many_async(const items &kvs) {
    const auto &v = kvs.views();
    auto *pr = new std::promise<void>();
    auto fut = pr->get_future();
    cfs_done_callback cb = [](void *ud, cfs_result r, cfs_error *err) {
      std::unique_ptr<std::promise<void>> p(static_cast<std::promise<void> *>(ud));
      try {
        detail::check(r, err);
        p->set_value();
      } catch (...) {
        p->set_exception(std::current_exception());
      }
    };
    cfs_error *e = nullptr;
    cfs_result r = cfs_store_set_many_async(p_.get(), v.data(), v.size(), cb, pr, &e);
    if (r != CFS_RESULT_OK) delete pr;
    detail::check(r, e);
    return fut;
  }

  // The C handle, still owned by this object.
  cfs_store *raw() const noexcept { return p_.get(); }

 private:
  explicit store(cfs_store *s) : p_(s) {}

  template <class Range>
  int64_t zadd_range(std::string_view k, const Range &members) {
    std::vector<cfs_scored> v;
    for (const auto &m : members) v.push_back(cfs_scored{detail::view(m.first), static_cast<double>(m.second)});
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_zadd(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }

  template <class Range>
  int64_t geoadd_range(std::string_view k, const Range &places) {
    std::vector<cfs_geo_member> v;
    for (const auto &p : places) {
      v.push_back(cfs_geo_member{detail::view(std::get<2>(p)), static_cast<double>(std::get<0>(p)),
                                 static_cast<double>(std::get<1>(p))});
    }
    int64_t n = 0;
    detail::call([&](cfs_error **e) { return cfs_store_geoadd(p_.get(), detail::cstr(k), k.size(), v.data(), v.size(), &n, e); });
    return n;
  }

  using len_fn = cfs_result (*)(const cfs_store *, const char *, size_t, uint64_t *, cfs_error **);
  uint64_t len(len_fn f, std::string_view k) const {
    uint64_t n = 0;
    detail::call([&](cfs_error **e) { return f(p_.get(), detail::cstr(k), k.size(), &n, e); });
    return n;
  }
  using text_fn = cfs_result (*)(const cfs_store *, cfs_string *, cfs_error **);
  std::string text(text_fn f) const {
    detail::owned_string s;
    detail::call([&](cfs_error **e) { return f(p_.get(), &s.s, e); });
    return s.str();
  }
  using apply_fn = cfs_result (*)(cfs_store *, const cfs_signed_op *const *, size_t, cfs_outcome_list **,
                                  cfs_error **);
  std::vector<op_result> outcomes(const std::vector<const signed_op *> &ops, apply_fn f) {
    std::vector<const cfs_signed_op *> raw_ops;
    raw_ops.reserve(ops.size());
    for (auto *op : ops) raw_ops.push_back(op ? op->raw() : nullptr);
    cfs_outcome_list *raw = nullptr;
    detail::call([&](cfs_error **e) { return f(p_.get(), raw_ops.data(), raw_ops.size(), &raw, e); });
    detail::outcome_list_ptr l(raw);
    std::vector<op_result> out;
    for (size_t i = 0; i < cfs_outcome_list_len(l.get()); i++) {
      cfs_op_outcome o = cfs_outcome_list_get(l.get(), i);
      out.push_back(op_result{o.outcome, o.code, detail::str(o.message)});
    }
    return out;
  }
  static std::vector<stream_entry> entries(cfs_stream_entry_list *raw) {
    detail::stream_list_ptr l(raw);
    std::vector<stream_entry> out;
    for (size_t i = 0; i < cfs_stream_entry_list_len(l.get()); i++) {
      stream_entry en;
      en.id = detail::str(cfs_stream_entry_list_id(l.get(), i));
      for (size_t j = 0; j < cfs_stream_entry_list_field_count(l.get(), i); j++) {
        cfs_str_pair p = cfs_stream_entry_list_field(l.get(), i, j);
        en.fields.emplace_back(detail::str(p.key), detail::str(p.value));
      }
      out.push_back(std::move(en));
    }
    return out;
  }
  static cfs_radius_opts c_opts(const radius_opts &o) {
    cfs_radius_opts c{};
    c.with_dist = o.with_dist;
    c.with_coord = o.with_coord;
    c.count = o.count;
    c.order = o.order;
    return c;
  }
  static std::vector<geo_match> matches(cfs_geo_match_list *raw) {
    detail::geo_match_list_ptr l(raw);
    std::vector<geo_match> out;
    for (size_t i = 0; i < cfs_geo_match_list_len(l.get()); i++) {
      cfs_geo_match m = cfs_geo_match_list_get(l.get(), i);
      geo_match g;
      g.member = detail::str(m.member);
      if (m.has_distance) g.distance = m.distance;
      if (m.has_coord) g.coord = std::make_pair(m.longitude, m.latitude);
      out.push_back(std::move(g));
    }
    return out;
  }

  detail::handle<cfs_store, cfs_store_free> p_;
};

}  // namespace cfs

#endif  // CYBERFLY_STORE_HPP
