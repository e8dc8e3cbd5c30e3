// The C API from C++17 through small RAII wrappers (cfs.hpp): values, typed
// operations, scans, errors as exceptions, 8 std::threads on one handle, and
// completion callbacks delivered to std::promise.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "cfs.hpp"

namespace {

std::atomic<int> passed{0};
std::atomic<int> failed{0};

#define EXPECT(cond)                                                              \
  do {                                                                            \
    if (cond) {                                                                   \
      passed++;                                                                   \
    } else {                                                                      \
      failed++;                                                                   \
      std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                             \
  } while (0)

template <class F>
void expect_error(cfs_result want, F &&f) {
  try {
    f();
    failed++;
    std::fprintf(stderr, "expected error %u, got none\n", static_cast<unsigned>(want));
  } catch (const cfs::error &e) {
    EXPECT(e.code() == want);
    EXPECT(std::string(e.what()).size() > 0);
  }
}

std::string tmpdir() {
  const char *base = std::getenv("TMPDIR");
  std::string t = std::string(base && *base ? base : "/tmp") + "/cfs-cpp-XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp");
  return std::string(buf.data());
}

void basics(cfs::store &st) {
  st.set("db:a", "1");
  EXPECT(st.get("db:a") == std::optional<std::string>("1"));
  EXPECT(!st.get("db:none").has_value());
  st.set_many({{"db:b", "2"}, {"db:c", "3"}});
  auto v = st.get_many({"db:c", "db:x", "db:b"});
  EXPECT(v.size() == 3 && v[0] == std::optional<std::string>("3") && !v[1] && v[2] == std::optional<std::string>("2"));
  EXPECT(st.del("db:a"));
  EXPECT(!st.del("db:a"));

  EXPECT(st.hset("db:h", "f", "v") == 1);
  auto all = st.hgetall("db:h");
  EXPECT(all.size() == 1 && all[0].first == "f" && all[0].second == "v");
  EXPECT(st.zadd("db:z", "m1", 2.5) == 1);
  EXPECT(st.zadd("db:z", "m0", 1.0) == 1);
  auto z = st.zrange("db:z", 0, -1);
  EXPECT(z.size() == 2 && z[0].first == "m0" && z[1].second == 2.5);
  st.json_set("db:j", "$", R"({"a":[1,2]})");
  EXPECT(st.json_get("db:j") == R"({"a":[1,2]})");

  int n = 0;
  auto sc = st.scan_prefix("db:");
  while (auto kv = sc.next()) {
    EXPECT(kv->first.rfind("db:", 0) == 0);
    n++;
  }
  EXPECT(n == 2);  // db:b, db:c are the string values under db:
  EXPECT(st.metrics().find("cyberfly_ops_total") != std::string::npos);

  expect_error(CFS_RESULT_WRONG_TYPE, [&] { st.get("db:h"); });
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { st.set("", "x"); });
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { st.json_set("db:j", "$", "{oops"); });
  expect_error(CFS_RESULT_INVALID_UTF8, [&] { st.set("db:bad", std::string("\xc3\x28", 2)); });
}

void threads(cfs::store &st) {
  constexpr int kThreads = 8, kRounds = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&st, t] {
      for (int i = 0; i < kRounds; i++) {
        std::string k = "th" + std::to_string(t) + ":" + std::to_string(i);
        std::string v = "v" + std::to_string(i);
        try {
          st.set(k, v);
          EXPECT(st.get(k) == std::optional<std::string>(v));
          st.rpush("th:shared", k);
          auto m = st.get_many({k, "th:none"});
          EXPECT(m.size() == 2 && m[0] == std::optional<std::string>(v) && !m[1]);
        } catch (const cfs::error &e) {
          failed++;
          std::fprintf(stderr, "thread %d: %s\n", t, e.what());
        }
      }
    });
  }
  for (auto &t : ts) t.join();
  EXPECT(st.llen("th:shared") == static_cast<uint64_t>(kThreads * kRounds));
}

void callbacks(cfs::store &st) {
  std::vector<cfs_str> keys{cfs::view("db:b"), cfs::view("db:missing")};
  std::promise<std::vector<std::optional<std::string>>> p;
  auto fut = p.get_future();
  cfs_str_list_callback cb = [](void *ud, cfs_result r, cfs_str_list *values, cfs_error *err) {
    auto *pr = static_cast<std::promise<std::vector<std::optional<std::string>>> *>(ud);
    cfs::str_list_ptr l(values);
    if (r != CFS_RESULT_OK) {
      pr->set_exception(std::make_exception_ptr(cfs::error(r, cfs_error_message(err))));
      cfs_error_free(err);
      return;
    }
    std::vector<std::optional<std::string>> out;
    for (size_t i = 0; i < cfs_str_list_len(l.get()); i++) {
      cfs_str s = cfs_str_list_get(l.get(), i);
      out.push_back(s.data ? std::optional<std::string>(cfs::to_string(s)) : std::nullopt);
    }
    pr->set_value(std::move(out));
  };
  cfs::call([&](cfs_error **e) {
    return cfs_store_get_many_async(st.raw(), keys.data(), keys.size(), cb, &p, e);
  });
  auto v = fut.get();
  EXPECT(v.size() == 2 && v[0] == std::optional<std::string>("2") && !v[1]);

  std::promise<cfs_result> done;
  auto dfut = done.get_future();
  std::vector<cfs_str_pair> items{{cfs::view("db:async"), cfs::view("yes")}};
  cfs_done_callback dcb = [](void *ud, cfs_result r, cfs_error *err) {
    cfs_error_free(err);
    static_cast<std::promise<cfs_result> *>(ud)->set_value(r);
  };
  cfs::call([&](cfs_error **e) {
    return cfs_store_set_many_async(st.raw(), items.data(), items.size(), dcb, &done, e);
  });
  EXPECT(dfut.get() == CFS_RESULT_OK);
  EXPECT(st.get("db:async") == std::optional<std::string>("yes"));
}

void signed_ops(cfs::store &st) {
  auto kp = cfs::generate_keypair();
  auto other = cfs::generate_keypair();
  std::string db = "cppdb-" + cfs::public_key_hex(kp.get());
  auto a = cfs::signed_op(db, "k", "v1", CFS_VALUE_KIND_STRING, kp.get());
  auto b = cfs::signed_op(db, "s", "member", CFS_VALUE_KIND_SET, kp.get());
  auto forged = cfs::signed_op(db, "k", "evil", CFS_VALUE_KIND_STRING, other.get());
  cfs::outcome_list_ptr keep;
  auto out = st.apply_many({a.get(), b.get(), forged.get(), a.get()}, keep);
  EXPECT(out.size() == 4);
  EXPECT(out[0].outcome == CFS_OUTCOME_APPLIED && out[1].outcome == CFS_OUTCOME_APPLIED);
  EXPECT(out[2].outcome == CFS_OUTCOME_REJECTED && out[2].code == CFS_RESULT_NOT_OWNER);
  EXPECT(out[2].message.data != nullptr);
  EXPECT(out[3].outcome == CFS_OUTCOME_DUPLICATE);
  EXPECT(st.get(db + ":k") == std::optional<std::string>("v1"));
  expect_error(CFS_RESULT_NOT_OWNER, [&] {
    cfs::call([&](cfs_error **e) { return cfs_store_apply(st.raw(), forged.get(), nullptr, e); });
  });
}

}  // namespace

int main() {
  try {
    std::string dir = tmpdir();
    cfs::config cfg;
    cfg.durability(CFS_DURABILITY_BATCH).scan_page_size(2).runtime_threads(2).inline_threshold(128);
    {
      auto st = cfs::store::open(dir, &cfg);
      expect_error(CFS_RESULT_ALREADY_OPEN, [&] { cfs::store::open(dir, &cfg); });
      basics(st);
      threads(st);
      callbacks(st);
      signed_ops(st);
      st.close();
      expect_error(CFS_RESULT_CLOSED, [&] { st.set("db:a", "1"); });
    }  // freed here
    {
      auto st = cfs::store::open(dir);  // reopen: the data is there
      EXPECT(st.get("db:async") == std::optional<std::string>("yes"));
    }
  } catch (const std::exception &e) {
    failed++;
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
  }
  std::printf("%d passed, %d failed\n", passed.load(), failed.load());
  return failed.load() == 0 ? 0 : 1;
}
