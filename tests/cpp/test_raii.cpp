// The supported C++17 header (include/cyberfly_store.hpp): values, the typed
// operations of every value type, scans, blobs, TTLs, signed operations and
// the operation log, errors as exceptions with their code, std::optional for
// absent values, move-only handles, 8 std::threads on one handle, and the
// async calls as std::future (plus one raw C callback into a std::promise).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "check.hpp"

namespace {

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
  EXPECT(!st.json_get("db:nojson").has_value());

  int n = 0;
  auto sc = st.scan_prefix("db:");
  while (auto kv = sc.next()) {
    EXPECT(kv->first.rfind("db:", 0) == 0);
    n++;
  }
  EXPECT(n == 2);  // db:b, db:c are the string values under db:
  EXPECT(st.metrics_text().find("cyberfly_ops_total") != std::string::npos);

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
          st.rpush("th:shared", {k});
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
  // The header's futures.
  auto fut = st.get_many_async({"db:b", "db:missing"});
  auto v = fut.get();
  EXPECT(v.size() == 2 && v[0] == std::optional<std::string>("2") && !v[1]);
  st.set_many_async({{"db:async", "yes"}}).get();
  EXPECT(st.get("db:async") == std::optional<std::string>("yes"));
  // An error completes the future with the cfs::error (an empty key is
  // refused by the worker or at the call; either way it is a cfs::error).
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { st.set_many_async({{"", "x"}}).get(); });

  // The raw C callback API through raw(), into a std::promise.
  std::vector<cfs_str> keys{cfs::detail::view("db:b"), cfs::detail::view("db:missing")};
  std::promise<std::vector<std::optional<std::string>>> p;
  auto pf = p.get_future();
  cfs_str_list_callback cb = [](void *ud, cfs_result r, cfs_str_list *values, cfs_error *err) {
    auto *pr = static_cast<std::promise<std::vector<std::optional<std::string>>> *>(ud);
    cfs::detail::str_list_ptr l(values);
    try {
      cfs::detail::check(r, err);
      pr->set_value(cfs::detail::optional_strings(l.get()));
    } catch (...) {
      pr->set_exception(std::current_exception());
    }
  };
  cfs::detail::call([&](cfs_error **e) {
    return cfs_store_get_many_async(st.raw(), keys.data(), keys.size(), cb, &p, e);
  });
  auto pv = pf.get();
  EXPECT(pv.size() == 2 && pv[0] == std::optional<std::string>("2") && !pv[1]);
}

void types(cfs::store &st) {
  // Lists.
  EXPECT(st.rpush("t:l", {"b", "c"}) == 2);
  EXPECT(st.lpush("t:l", {"a"}) == 3);
  EXPECT((st.lrange("t:l", 0, -1) == std::vector<std::string>{"a", "b", "c"}));
  EXPECT(st.llen("t:l") == 3);
  // Sets.
  EXPECT(st.sadd("t:s", {"x", "y", "x"}) == 2);
  EXPECT(st.sismember("t:s", "x") && !st.sismember("t:s", "z"));
  EXPECT(st.srem("t:s", {"y"}) == 1);
  EXPECT((st.smembers("t:s") == std::vector<std::string>{"x"}) && st.scard("t:s") == 1);
  // Hashes.
  EXPECT(st.hset_many("t:h", {{"a", "1"}, {"b", "2"}}) == 2);
  EXPECT(st.hget("t:h", "a") == std::optional<std::string>("1"));
  EXPECT(!st.hget("t:h", "zz") && !st.hget("t:nohash", "a"));
  EXPECT(st.hdel("t:h", {"a", "zz"}) == 1 && st.hlen("t:h") == 1);
  // Sorted sets.
  EXPECT(st.zadd("t:z", {{"a", 1.0}, {"b", 2.0}, {"c", 3.0}}) == 3);
  EXPECT(st.zscore("t:z", "b") == std::optional<double>(2.0));
  EXPECT(!st.zscore("t:z", "nobody").has_value());
  auto byscore = st.zrangebyscore("t:z", 1.5, 3.0);
  EXPECT(byscore.size() == 2 && byscore[0].first == "b");
  EXPECT(st.zrem("t:z", {"a"}) == 1 && st.zcard("t:z") == 2);
  // JSON paths.
  st.json_set("t:j", "$", R"({"a":{"b":1}})");
  st.json_set("t:j", "$.a.c", "2");
  EXPECT(st.json_get("t:j", "$.a.c") == std::optional<std::string>("[2]"));
  EXPECT(st.json_filter("t:j", "$.a.b").size() == 1);
  // Streams.
  std::string id = st.xadd("t:x", "*", {{"temp", "21.5"}, {"unit", "C"}});
  EXPECT(id.find('-') != std::string::npos);
  st.xadd("t:x", "*", {{"temp", "22"}});
  auto xs = st.xrange("t:x");
  EXPECT(xs.size() == 2 && xs[0].id == id && xs[0].fields.size() == 2 && xs[0].fields[0].second == "21.5");
  auto rev = st.xrevrange("t:x", "+", "-", 1);
  EXPECT(rev.size() == 1 && rev[0].fields[0].second == "22");
  EXPECT(st.xlen("t:x") == 2);
  // Time series.
  st.ts_add("t:ts", 1000, 1.5);
  EXPECT(st.ts_add_many("t:ts", {{2000, 2.5}, {3000, 3.5}}) == 2);
  auto pts = st.ts_range("t:ts", 1500, 3000);
  EXPECT(pts.size() == 2 && pts[0].timestamp_ms == 2000 && pts[1].value == 3.5);
  auto last = st.ts_get("t:ts");
  EXPECT(last && last->timestamp_ms == 3000);
  EXPECT(!st.ts_get("t:nots") && st.ts_len("t:ts") == 3);
  // Geo.
  EXPECT(st.geoadd("t:g", {{13.40, 52.52, "berlin"}, {2.35, 48.86, "paris"}}) == 2);
  auto pos = st.geopos("t:g", {"berlin", "atlantis"});
  EXPECT(pos.size() == 2 && pos[0] && pos[0]->first > 13.39 && pos[0]->first < 13.41 && !pos[1]);
  auto d = st.geodist("t:g", "berlin", "paris", CFS_GEO_UNIT_KM);
  EXPECT(d && *d > 800 && *d < 900);
  EXPECT(!st.geodist("t:g", "berlin", "atlantis"));
  cfs::radius_opts o;
  o.with_dist = true;
  o.order = 1;
  auto near = st.georadius("t:g", 13.4, 52.5, 10, CFS_GEO_UNIT_KM, o);
  EXPECT(near.size() == 1 && near[0].member == "berlin" && near[0].distance && !near[0].coord);
  auto far = st.georadiusbymember("t:g", "berlin", 1000, CFS_GEO_UNIT_KM);
  EXPECT(far.size() == 2);
  // Keys and TTLs.
  EXPECT(st.key_type("t:g") == std::optional<cfs_value_kind>(CFS_VALUE_KIND_GEO));
  EXPECT(!st.key_type("t:none").has_value());
  EXPECT(st.exists("t:l") && !st.exists("t:none"));
  EXPECT(st.ttl("t:l") == -1 && st.ttl("t:none") == -2);
  EXPECT(st.expire("t:l", 100));
  EXPECT(st.ttl("t:l") > 90 && st.pttl("t:l") > 90000);
  EXPECT(st.persist("t:l") && st.ttl("t:l") == -1);
  st.set_ex("t:tmp", "v", 100);
  EXPECT(st.ttl("t:tmp") > 90);
  expect_error(CFS_RESULT_WRONG_TYPE, [&] { st.lrange("t:s", 0, -1); });
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { st.set_ex("t:tmp", "v", 0); });
  // Containers of the caller's own types, not only braced lists.
  std::vector<std::string> ks{"db:b", "db:c", "db:nothing"};
  auto got = st.get_many(ks);
  EXPECT(got.size() == 3 && got[0] == std::optional<std::string>("2") && !got[2]);
  std::map<std::string, std::string> kv{{"c:1", "one"}, {"c:2", "two"}};
  st.set_many(kv);
  EXPECT(st.get("c:2") == std::optional<std::string>("two"));
  EXPECT(st.hset_many("c:h", kv) == 2);
  std::set<std::string> members{"m1", "m2"};
  EXPECT(st.sadd("c:s", members) == 2);
  std::map<std::string, double> scores{{"x", 1}, {"y", 2}};
  EXPECT(st.zadd("c:z", scores) == 2);
  std::vector<std::tuple<double, double, std::string>> places{{13.4, 52.5, "here"}};
  EXPECT(st.geoadd("c:g", places) == 1);
  std::vector<std::string_view> views{"here", "nowhere"};
  EXPECT(st.geopos("c:g", views).size() == 2);
  // Blobs.
  std::string raw(100000, 'z');
  cfs::hash h = st.add_blob(raw);
  EXPECT(cfs::to_hex(h).size() == 64);
  EXPECT(cfs::to_hex(cfs::hash_from_hex(cfs::to_hex(h))) == cfs::to_hex(h));
  auto blob = st.get_blob(h);
  EXPECT(blob && blob->size() == raw.size() && (*blob)[0] == 'z');
  EXPECT(st.remove_blob(h));
  cfs::hash none{};
  none.bytes[0] = 1;
  EXPECT(!st.get_blob(none));
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { cfs::hash_from_hex("nothex"); });
  // Scans by page.
  size_t pages = 0, rows = 0;
  auto sc = st.scan_prefix("db:");
  while (auto page = sc.next_page()) {
    pages++;
    rows += page->size();
  }
  EXPECT(rows >= 2 && pages >= 1);
  EXPECT(st.stats_json().find('{') == 0);
  st.flush();
}

void handles() {
  // Move-only handles: moving transfers ownership, the moved-from object
  // holds nothing (its destructor frees nothing).
  auto kp = cfs::keypair::generate();
  auto kp2 = std::move(kp);
  EXPECT(kp.raw() == nullptr && kp2.raw() != nullptr);
  static_assert(!std::is_copy_constructible_v<cfs::store>, "store is move-only");
  static_assert(!std::is_copy_constructible_v<cfs::keypair>, "keypair is move-only");
  static_assert(std::is_nothrow_move_constructible_v<cfs::store>, "store moves without throwing");
  // Keys and signatures.
  auto sig = kp2.sign("message");
  EXPECT(cfs::verify(kp2.public_key(), "message", sig));
  EXPECT(!cfs::verify(kp2.public_key(), "other", sig));
  auto again = cfs::keypair::from_secret(kp2.secret());
  EXPECT(again.public_key_hex() == kp2.public_key_hex());
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { cfs::keypair::from_secret_hex("zz"); });
  // Config errors carry the code and the library's message.
  try {
    cfs::config c;
    c.inline_threshold(0).validate();
    c.max_key_len(0).validate();
    failed++;
    std::fprintf(stderr, "a zero max_key_len was accepted\n");
  } catch (const cfs::error &e) {
    EXPECT(e.code() == CFS_RESULT_INVALID_CONFIG || e.code() == CFS_RESULT_INVALID_ARGUMENT);
    EXPECT(std::string(e.what()).size() > 0);
  }
  EXPECT(cfs::version() == CYBERFLY_STORE_VERSION);
  EXPECT(cfs::result_message(CFS_RESULT_WRONG_TYPE).size() > 0);
}

void signed_ops(cfs::store &st) {
  auto kp = cfs::keypair::generate();
  auto other = cfs::keypair::generate();
  std::string db = "cppdb-" + kp.public_key_hex();
  cfs::signed_op a(db, "k", "v1", CFS_VALUE_KIND_STRING);
  a.sign(kp);
  cfs::signed_op b(db, "s", "member", CFS_VALUE_KIND_SET);
  b.sign(kp);
  cfs::signed_op forged(db, "k", "evil", CFS_VALUE_KIND_STRING);
  forged.sign(other);
  cfs::signed_op z(db, "z", "ada", CFS_VALUE_KIND_SORTED_SET);
  z.score(4.5).sign(kp);
  a.check();
  EXPECT(!a.op_id().empty() && a.to_json().find(a.op_id()) != std::string::npos);
  EXPECT(!a.canonical_message().empty());
  auto copy = cfs::signed_op::from_json(a.to_json());
  EXPECT(copy.op_id() == a.op_id());
  expect_error(CFS_RESULT_NOT_OWNER, [&] { forged.check(); });
  auto out = st.apply_many({&a, &b, &forged, &a});
  EXPECT(out.size() == 4);
  EXPECT(out[0].outcome == CFS_OUTCOME_APPLIED && out[1].outcome == CFS_OUTCOME_APPLIED);
  EXPECT(out[2].outcome == CFS_OUTCOME_REJECTED && out[2].code == CFS_RESULT_NOT_OWNER);
  EXPECT(!out[2].message.empty());
  EXPECT(out[3].outcome == CFS_OUTCOME_DUPLICATE);
  EXPECT(st.apply(z) == CFS_OUTCOME_APPLIED);
  EXPECT(st.apply(z) == CFS_OUTCOME_DUPLICATE);
  EXPECT(st.zscore(db + ":z", "ada") == std::optional<double>(4.5));
  EXPECT(st.get(db + ":k") == std::optional<std::string>("v1"));
  expect_error(CFS_RESULT_NOT_OWNER, [&] { st.apply(forged); });
  EXPECT(st.log_len() == 3);
  auto log = st.ops_since(0);
  int n = 0;
  while (auto op = log.next()) {
    op->check();
    n++;
  }
  EXPECT(n == 3);
  EXPECT(st.state_digest().size() > 0);
}

}  // namespace

int main() {
  try {
    handles();
    std::string dir = tmpdir();
    cfs::config cfg;
    cfg.durability(CFS_DURABILITY_BATCH).scan_page_size(2).runtime_threads(2).inline_threshold(128);
    {
      auto st = cfs::store::open(dir, &cfg);
      expect_error(CFS_RESULT_ALREADY_OPEN, [&] { cfs::store::open(dir, &cfg); });
      basics(st);
      threads(st);
      callbacks(st);
      types(st);
      signed_ops(st);
      st.close();
      expect_error(CFS_RESULT_CLOSED, [&] { st.set("db:a", "1"); });
    }  // freed here
    {
      auto st = cfs::store::open(dir);  // reopen: the data is there
      EXPECT(st.get("db:async") == std::optional<std::string>("yes"));
      auto moved = std::move(st);  // the handle moves; one close, one free
      EXPECT(st.raw() == nullptr);
      EXPECT(moved.hget("t:h", "b") == std::optional<std::string>("2"));
      expect_error(CFS_RESULT_ALREADY_OPEN, [&] { cfs::check(dir); });
    }
    // Closed: check verifies it without changing it, and finds it clean.
    EXPECT(cfs::check(dir).find("\"clean\":true") != std::string::npos);
  } catch (const std::exception &e) {
    failed++;
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
  }
  return finish();
}
