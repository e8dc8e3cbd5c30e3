// Small C++17 RAII wrappers over the cyberfly_store C API, as a C++ host
// would write them: handles in std::unique_ptr with the library's free
// functions, errors as exceptions carrying the code and message.
#ifndef CFS_HPP
#define CFS_HPP

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cyberfly_store.h"

namespace cfs {

class error : public std::runtime_error {
 public:
  error(cfs_result code, const std::string &msg) : std::runtime_error(msg), code_(code) {}
  cfs_result code() const noexcept { return code_; }

 private:
  cfs_result code_;
};

// Throw on failure, freeing the error object.
inline void check(cfs_result r, cfs_error *e) {
  if (r == CFS_RESULT_OK) return;
  std::string msg = e ? cfs_error_message(e) : "";
  cfs_error_free(e);
  throw error(r, msg);
}

// Calls `f(&err)` and throws on failure.
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

using config_ptr = handle<cfs_config, cfs_config_free>;
using str_list_ptr = handle<cfs_str_list, cfs_str_list_free>;
using pair_list_ptr = handle<cfs_str_pair_list, cfs_str_pair_list_free>;
using scored_list_ptr = handle<cfs_scored_list, cfs_scored_list_free>;
using scan_ptr = handle<cfs_scan, cfs_scan_free>;
using keypair_ptr = handle<cfs_keypair, cfs_keypair_free>;
using signed_op_ptr = handle<cfs_signed_op, cfs_signed_op_free>;
using outcome_list_ptr = handle<cfs_outcome_list, cfs_outcome_list_free>;

inline keypair_ptr generate_keypair() {
  cfs_keypair *k = nullptr;
  check(cfs_keypair_generate(&k), nullptr);
  return keypair_ptr(k);
}

inline std::string public_key_hex(const cfs_keypair *k) {
  char buf[65];
  call([&](cfs_error **e) { return cfs_keypair_public_key_hex(k, buf, sizeof buf, e); });
  return std::string(buf, 64);
}

// A new operation, signed by `k`.
inline signed_op_ptr signed_op(const std::string &db, const std::string &key, const std::string &value,
                               cfs_value_kind kind, const cfs_keypair *k) {
  cfs_signed_op *op = nullptr;
  call([&](cfs_error **e) {
    return cfs_signed_op_new(db.data(), db.size(), key.data(), key.size(), value.data(), value.size(), kind,
                             &op, e);
  });
  signed_op_ptr p(op);
  call([&](cfs_error **e) { return cfs_signed_op_sign(p.get(), k, e); });
  return p;
}

// An owned cfs_string, freed on scope exit.
struct owned_string {
  cfs_string s{nullptr, 0};
  owned_string() = default;
  owned_string(const owned_string &) = delete;
  owned_string &operator=(const owned_string &) = delete;
  ~owned_string() { cfs_string_free(&s); }
  std::string str() const { return s.data ? std::string(s.data, s.len) : std::string(); }
};

inline cfs_str view(std::string_view s) { return cfs_str{s.data(), s.size()}; }
inline std::string to_string(cfs_str s) { return s.data ? std::string(s.data, s.len) : std::string(); }

class config {
 public:
  config() {
    cfs_config *c = nullptr;
    check(cfs_config_new(&c), nullptr);
    p_.reset(c);
  }
  config &durability(cfs_durability d) { return set(cfs_config_set_durability(p_.get(), d)); }
  config &scan_page_size(size_t n) { return set(cfs_config_set_scan_page_size(p_.get(), n)); }
  config &runtime_threads(size_t n) { return set(cfs_config_set_runtime_threads(p_.get(), n)); }
  config &inline_threshold(size_t n) { return set(cfs_config_set_inline_threshold(p_.get(), n)); }
  const cfs_config *get() const { return p_.get(); }

 private:
  config &set(cfs_result r) {
    check(r, nullptr);
    return *this;
  }
  config_ptr p_;
};

class scan {
 public:
  explicit scan(cfs_scan *s) : p_(s) {}
  std::optional<std::pair<std::string, std::string>> next() {
    cfs_str k{}, v{};
    bool found = false;
    call([&](cfs_error **e) { return cfs_scan_next(p_.get(), &k, &v, &found, e); });
    if (!found) return std::nullopt;
    return std::make_pair(to_string(k), to_string(v));
  }

 private:
  scan_ptr p_;
};

class store {
 public:
  static store open(const std::string &path, const config *cfg = nullptr) {
    cfs_store *s = nullptr;
    call([&](cfs_error **e) {
      return cfs_store_open(path.data(), path.size(), cfg ? cfg->get() : nullptr, &s, e);
    });
    return store(s);
  }

  void set(std::string_view k, std::string_view v) {
    call([&](cfs_error **e) { return cfs_store_set(p_.get(), k.data(), k.size(), v.data(), v.size(), e); });
  }

  std::optional<std::string> get(std::string_view k) const {
    owned_string v;
    bool found = false;
    call([&](cfs_error **e) { return cfs_store_get(p_.get(), k.data(), k.size(), &v.s, &found, e); });
    if (!found) return std::nullopt;
    return v.str();
  }

  bool del(std::string_view k) {
    bool existed = false;
    call([&](cfs_error **e) { return cfs_store_delete(p_.get(), k.data(), k.size(), &existed, e); });
    return existed;
  }

  void set_many(const std::vector<std::pair<std::string, std::string>> &items) {
    std::vector<cfs_str_pair> v;
    for (auto &kv : items) v.push_back(cfs_str_pair{view(kv.first), view(kv.second)});
    call([&](cfs_error **e) { return cfs_store_set_many(p_.get(), v.data(), v.size(), e); });
  }

  std::vector<std::optional<std::string>> get_many(const std::vector<std::string> &keys) const {
    std::vector<cfs_str> v;
    for (auto &k : keys) v.push_back(view(k));
    cfs_str_list *raw = nullptr;
    call([&](cfs_error **e) { return cfs_store_get_many(p_.get(), v.data(), v.size(), &raw, e); });
    str_list_ptr l(raw);
    std::vector<std::optional<std::string>> out;
    for (size_t i = 0; i < cfs_str_list_len(l.get()); i++) {
      cfs_str s = cfs_str_list_get(l.get(), i);
      out.push_back(s.data ? std::optional<std::string>(to_string(s)) : std::nullopt);
    }
    return out;
  }

  int64_t hset(std::string_view k, std::string_view f, std::string_view v) {
    int64_t n = 0;
    call([&](cfs_error **e) {
      return cfs_store_hset(p_.get(), k.data(), k.size(), f.data(), f.size(), v.data(), v.size(), &n, e);
    });
    return n;
  }

  std::vector<std::pair<std::string, std::string>> hgetall(std::string_view k) const {
    cfs_str_pair_list *raw = nullptr;
    call([&](cfs_error **e) { return cfs_store_hgetall(p_.get(), k.data(), k.size(), &raw, e); });
    pair_list_ptr l(raw);
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i < cfs_str_pair_list_len(l.get()); i++) {
      cfs_str_pair p = cfs_str_pair_list_get(l.get(), i);
      out.emplace_back(to_string(p.key), to_string(p.value));
    }
    return out;
  }

  int64_t zadd(std::string_view k, std::string_view member, double score) {
    int64_t n = 0;
    cfs_scored it{view(member), score};
    call([&](cfs_error **e) { return cfs_store_zadd(p_.get(), k.data(), k.size(), &it, 1, &n, e); });
    return n;
  }

  std::vector<std::pair<std::string, double>> zrange(std::string_view k, int64_t a, int64_t b) const {
    cfs_scored_list *raw = nullptr;
    call([&](cfs_error **e) { return cfs_store_zrange(p_.get(), k.data(), k.size(), a, b, &raw, e); });
    scored_list_ptr l(raw);
    std::vector<std::pair<std::string, double>> out;
    for (size_t i = 0; i < cfs_scored_list_len(l.get()); i++) {
      cfs_scored s = cfs_scored_list_get(l.get(), i);
      out.emplace_back(to_string(s.member), s.score);
    }
    return out;
  }

  int64_t rpush(std::string_view k, std::string_view v) {
    int64_t n = 0;
    cfs_str it = view(v);
    call([&](cfs_error **e) { return cfs_store_rpush(p_.get(), k.data(), k.size(), &it, 1, &n, e); });
    return n;
  }

  uint64_t llen(std::string_view k) const {
    uint64_t n = 0;
    call([&](cfs_error **e) { return cfs_store_llen(p_.get(), k.data(), k.size(), &n, e); });
    return n;
  }

  std::string json_get(std::string_view k) const {
    owned_string v;
    bool found = false;
    call([&](cfs_error **e) {
      return cfs_store_json_get(p_.get(), k.data(), k.size(), nullptr, 0, &v.s, &found, e);
    });
    return v.str();
  }

  void json_set(std::string_view k, std::string_view path, std::string_view json) {
    call([&](cfs_error **e) {
      return cfs_store_json_set(p_.get(), k.data(), k.size(), path.data(), path.size(), json.data(),
                                json.size(), e);
    });
  }

  scan scan_prefix(std::string_view prefix) const {
    cfs_scan *s = nullptr;
    call([&](cfs_error **e) { return cfs_scan_new(p_.get(), prefix.data(), prefix.size(), &s, e); });
    return scan(s);
  }

  std::string metrics() const {
    owned_string v;
    call([&](cfs_error **e) { return cfs_store_metrics_text(p_.get(), &v.s, e); });
    return v.str();
  }

  void close() {
    call([&](cfs_error **e) { return cfs_store_close(p_.get(), e); });
  }

  std::vector<cfs_op_outcome> apply_many(const std::vector<const cfs_signed_op *> &ops,
                                         outcome_list_ptr &keep) {
    cfs_outcome_list *raw = nullptr;
    call([&](cfs_error **e) { return cfs_store_apply_many(p_.get(), ops.data(), ops.size(), &raw, e); });
    keep.reset(raw);
    std::vector<cfs_op_outcome> out;
    for (size_t i = 0; i < cfs_outcome_list_len(raw); i++) out.push_back(cfs_outcome_list_get(raw, i));
    return out;
  }

  cfs_store *raw() const { return p_.get(); }

 private:
  explicit store(cfs_store *s) : p_(s) {}
  handle<cfs_store, cfs_store_free> p_;
};

}  // namespace cfs

#endif
