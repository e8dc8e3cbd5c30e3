/* The typed operations of the container types from C: hash, list, set,
 * sorted set, JSON (as text), stream, time series, geo. */
#include "check.h"

#include <math.h>

static void test_hash(cfs_store *st) {
  int64_t n = -1;
  uint64_t len = 0;
  bool found = false;
  cfs_string v = {NULL, 0};
  cfs_str_pair_list *all = NULL;
  cfs_str_pair fields[2];
  cfs_str del[2];
  CHECK_OK(cfs_store_hset(st, S("h:user"), S("name"), S("ada"), &n, NULL));
  CHECK(n == 1);
  CHECK_OK(cfs_store_hset(st, S("h:user"), S("name"), S("ada l."), &n, NULL));
  CHECK(n == 0);
  fields[0].key = view("lang");
  fields[0].value = view("en");
  fields[1].key = view("city");
  fields[1].value = view("london");
  CHECK_OK(cfs_store_hset_many(st, S("h:user"), fields, 2, &n, NULL));
  CHECK(n == 2);
  CHECK_OK(cfs_store_hget(st, S("h:user"), S("name"), &v, &found, NULL));
  CHECK(found && string_eq(v, "ada l."));
  cfs_string_free(&v);
  CHECK_OK(cfs_store_hget(st, S("h:user"), S("nope"), &v, &found, NULL));
  CHECK(!found);
  CHECK_OK(cfs_store_hlen(st, S("h:user"), &len, NULL));
  CHECK(len == 3);
  CHECK_OK(cfs_store_hgetall(st, S("h:user"), &all, NULL));
  CHECK(cfs_str_pair_list_len(all) == 3);
  /* field order: city, lang, name */
  CHECK(str_eq(cfs_str_pair_list_get(all, 0).key, "city"));
  CHECK(str_eq(cfs_str_pair_list_get(all, 0).value, "london"));
  CHECK(str_eq(cfs_str_pair_list_get(all, 2).key, "name"));
  CHECK(cfs_str_pair_list_get(all, 3).key.data == NULL);
  cfs_str_pair_list_free(all);
  del[0] = view("lang");
  del[1] = view("nope");
  CHECK_OK(cfs_store_hdel(st, S("h:user"), del, 2, &n, NULL));
  CHECK(n == 1);
  CHECK_OK(cfs_store_hlen(st, S("h:user"), &len, NULL));
  CHECK(len == 2);
  /* wrong type */
  CHECK_OK(cfs_store_set(st, S("h:str"), S("x"), NULL));
  CHECK_RC(cfs_store_hset(st, S("h:str"), S("f"), S("v"), NULL, NULL), CFS_RESULT_WRONG_TYPE);
}

static void test_list(cfs_store *st) {
  cfs_str vals[3];
  int64_t n = 0;
  uint64_t len = 0;
  cfs_str_list *items = NULL;
  vals[0] = view("a");
  vals[1] = view("b");
  vals[2] = view("c");
  CHECK_OK(cfs_store_rpush(st, S("l:q"), vals, 3, &n, NULL));
  CHECK(n == 3);
  vals[0] = view("z");
  CHECK_OK(cfs_store_lpush(st, S("l:q"), vals, 1, &n, NULL));
  CHECK(n == 4);
  CHECK_OK(cfs_store_lrange(st, S("l:q"), 0, -1, &items, NULL));
  CHECK(cfs_str_list_len(items) == 4);
  CHECK(str_eq(cfs_str_list_get(items, 0), "z"));
  CHECK(str_eq(cfs_str_list_get(items, 3), "c"));
  cfs_str_list_free(items);
  CHECK_OK(cfs_store_lrange(st, S("l:q"), -2, -1, &items, NULL));
  CHECK(cfs_str_list_len(items) == 2 && str_eq(cfs_str_list_get(items, 0), "b"));
  cfs_str_list_free(items);
  CHECK_OK(cfs_store_llen(st, S("l:q"), &len, NULL));
  CHECK(len == 4);
  CHECK_OK(cfs_store_llen(st, S("l:none"), &len, NULL));
  CHECK(len == 0);
}

static void test_set(cfs_store *st) {
  cfs_str m[3];
  int64_t n = 0;
  uint64_t len = 0;
  bool is = false;
  cfs_str_list *all = NULL;
  m[0] = view("red");
  m[1] = view("green");
  m[2] = view("red");
  CHECK_OK(cfs_store_sadd(st, S("s:colors"), m, 3, &n, NULL));
  CHECK(n == 2);
  CHECK_OK(cfs_store_scard(st, S("s:colors"), &len, NULL));
  CHECK(len == 2);
  CHECK_OK(cfs_store_sismember(st, S("s:colors"), S("green"), &is, NULL));
  CHECK(is);
  CHECK_OK(cfs_store_sismember(st, S("s:colors"), S("blue"), &is, NULL));
  CHECK(!is);
  CHECK_OK(cfs_store_smembers(st, S("s:colors"), &all, NULL));
  CHECK(cfs_str_list_len(all) == 2 && str_eq(cfs_str_list_get(all, 0), "green"));
  cfs_str_list_free(all);
  CHECK_OK(cfs_store_srem(st, S("s:colors"), m, 1, &n, NULL));
  CHECK(n == 1);
  CHECK_OK(cfs_store_scard(st, S("s:colors"), &len, NULL));
  CHECK(len == 1);
}

static void test_zset(cfs_store *st) {
  cfs_scored items[3];
  cfs_str rem[1];
  int64_t n = 0;
  uint64_t len = 0;
  double score = 0;
  bool found = false;
  cfs_scored_list *l = NULL;
  items[0].member = view("alice");
  items[0].score = 30;
  items[1].member = view("bob");
  items[1].score = 10;
  items[2].member = view("carol");
  items[2].score = 20;
  CHECK_OK(cfs_store_zadd(st, S("z:board"), items, 3, &n, NULL));
  CHECK(n == 3);
  CHECK_OK(cfs_store_zrange(st, S("z:board"), 0, -1, &l, NULL));
  CHECK(cfs_scored_list_len(l) == 3);
  CHECK(str_eq(cfs_scored_list_get(l, 0).member, "bob") && cfs_scored_list_get(l, 0).score == 10);
  CHECK(str_eq(cfs_scored_list_get(l, 2).member, "alice"));
  cfs_scored_list_free(l);
  CHECK_OK(cfs_store_zrangebyscore(st, S("z:board"), 15, 30, &l, NULL));
  CHECK(cfs_scored_list_len(l) == 2 && str_eq(cfs_scored_list_get(l, 0).member, "carol"));
  cfs_scored_list_free(l);
  CHECK_OK(cfs_store_zscore(st, S("z:board"), S("carol"), &score, &found, NULL));
  CHECK(found && score == 20);
  CHECK_OK(cfs_store_zscore(st, S("z:board"), S("dave"), &score, &found, NULL));
  CHECK(!found);
  rem[0] = view("bob");
  CHECK_OK(cfs_store_zrem(st, S("z:board"), rem, 1, &n, NULL));
  CHECK(n == 1);
  CHECK_OK(cfs_store_zcard(st, S("z:board"), &len, NULL));
  CHECK(len == 2);
  /* NaN scores are rejected */
  items[0].score = NAN;
  CHECK_RC(cfs_store_zadd(st, S("z:board"), items, 1, &n, NULL), CFS_RESULT_INVALID_ARGUMENT);
}

static void test_json(cfs_store *st) {
  cfs_string j = {NULL, 0};
  bool found = false;
  cfs_str_list *l = NULL;
  cfs_error *err = NULL;
  CHECK_OK(cfs_store_json_set(st, S("j:doc"), S("$"),
                              S("{\"name\":\"ada\",\"tags\":[\"x\",\"y\"],\"n\":1}"), NULL));
  CHECK_OK(cfs_store_json_set(st, S("j:doc"), S("$.n"), S("2"), NULL));
  CHECK_OK(cfs_store_json_get(st, S("j:doc"), NULL, 0, &j, &found, NULL));
  CHECK(found && strstr(j.data, "\"n\":2") != NULL && strstr(j.data, "\"name\":\"ada\"") != NULL);
  cfs_string_free(&j);
  CHECK_OK(cfs_store_json_get(st, S("j:doc"), S("$.name"), &j, &found, NULL));
  CHECK(found && string_eq(j, "[\"ada\"]"));
  cfs_string_free(&j);
  CHECK_OK(cfs_store_json_get(st, S("j:none"), NULL, 0, &j, &found, NULL));
  CHECK(!found);
  CHECK_OK(cfs_store_json_filter(st, S("j:doc"), S("$.tags[*]"), &l, NULL));
  CHECK(cfs_str_list_len(l) == 2 && str_eq(cfs_str_list_get(l, 1), "\"y\""));
  cfs_str_list_free(l);
  CHECK_RC(cfs_store_json_set(st, S("j:doc"), S("$"), S("{not json"), &err),
           CFS_RESULT_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(cfs_error_message(err), "JSON") != NULL);
  cfs_error_free(err);
}

static void test_stream(cfs_store *st) {
  cfs_str_pair f[2];
  cfs_string id = {NULL, 0};
  cfs_stream_entry_list *l = NULL;
  uint64_t len = 0;
  f[0].key = view("temp");
  f[0].value = view("21.5");
  f[1].key = view("unit");
  f[1].value = view("C");
  CHECK_OK(cfs_store_xadd(st, S("x:events"), S("1000-1"), f, 2, &id, NULL));
  CHECK(string_eq(id, "1000-1"));
  cfs_string_free(&id);
  CHECK_OK(cfs_store_xadd(st, S("x:events"), S("*"), f, 1, &id, NULL));
  CHECK(id.len > 0);
  cfs_string_free(&id);
  CHECK_RC(cfs_store_xadd(st, S("x:events"), S("5-0"), f, 1, &id, NULL), CFS_RESULT_INVALID_ARGUMENT);
  CHECK_OK(cfs_store_xlen(st, S("x:events"), &len, NULL));
  CHECK(len == 2);
  CHECK_OK(cfs_store_xrange(st, S("x:events"), S("-"), S("+"), 0, &l, NULL));
  CHECK(cfs_stream_entry_list_len(l) == 2);
  CHECK(str_eq(cfs_stream_entry_list_id(l, 0), "1000-1"));
  CHECK(cfs_stream_entry_list_field_count(l, 0) == 2);
  CHECK(str_eq(cfs_stream_entry_list_field(l, 0, 1).key, "unit"));
  CHECK(str_eq(cfs_stream_entry_list_field(l, 0, 1).value, "C"));
  CHECK(cfs_stream_entry_list_field(l, 0, 2).key.data == NULL);
  CHECK(cfs_stream_entry_list_field_count(l, 1) == 1);
  cfs_stream_entry_list_free(l);
  CHECK_OK(cfs_store_xrevrange(st, S("x:events"), S("+"), S("-"), 1, &l, NULL));
  CHECK(cfs_stream_entry_list_len(l) == 1 && !str_eq(cfs_stream_entry_list_id(l, 0), "1000-1"));
  cfs_stream_entry_list_free(l);
}

static void test_timeseries(cfs_store *st) {
  cfs_ts_point pts[3];
  cfs_ts_point p;
  cfs_ts_point_list *l = NULL;
  int64_t n = 0;
  uint64_t len = 0;
  bool found = false;
  CHECK_OK(cfs_store_ts_add(st, S("ts:cpu"), 1000, 0.5, NULL));
  pts[0].timestamp_ms = 2000;
  pts[0].value = 0.75;
  pts[1].timestamp_ms = 3000;
  pts[1].value = 0.25;
  pts[2].timestamp_ms = 1000;
  pts[2].value = 0.5;
  CHECK_OK(cfs_store_ts_add_many(st, S("ts:cpu"), pts, 3, &n, NULL));
  CHECK(n == 2);
  CHECK_OK(cfs_store_ts_len(st, S("ts:cpu"), &len, NULL));
  CHECK(len == 3);
  CHECK_OK(cfs_store_ts_range(st, S("ts:cpu"), 1500, 3000, &l, NULL));
  CHECK(cfs_ts_point_list_len(l) == 2);
  CHECK(cfs_ts_point_list_get(l, 0).timestamp_ms == 2000 && cfs_ts_point_list_get(l, 0).value == 0.75);
  cfs_ts_point_list_free(l);
  CHECK_OK(cfs_store_ts_get(st, S("ts:cpu"), &p, &found, NULL));
  CHECK(found && p.timestamp_ms == 3000 && p.value == 0.25);
  CHECK_OK(cfs_store_ts_get(st, S("ts:none"), &p, &found, NULL));
  CHECK(!found);
  CHECK_RC(cfs_store_ts_add(st, S("ts:cpu"), 4000, INFINITY, NULL), CFS_RESULT_INVALID_ARGUMENT);
}

static void test_geo(cfs_store *st) {
  cfs_geo_member m[2];
  cfs_str q[3];
  cfs_geo_pos_list *pos = NULL;
  cfs_geo_match_list *matches = NULL;
  cfs_radius_opts opts;
  int64_t n = 0;
  double d = 0;
  bool found = false;
  m[0].member = view("Palermo");
  m[0].longitude = 13.361389;
  m[0].latitude = 38.115556;
  m[1].member = view("Catania");
  m[1].longitude = 15.087269;
  m[1].latitude = 37.502669;
  CHECK_OK(cfs_store_geoadd(st, S("g:sicily"), m, 2, &n, NULL));
  CHECK(n == 2);
  CHECK_OK(cfs_store_geodist(st, S("g:sicily"), S("Palermo"), S("Catania"), CFS_GEO_UNIT_KM, &d, &found, NULL));
  CHECK(found && fabs(d - 166.27) < 1.0);
  CHECK_OK(cfs_store_geodist(st, S("g:sicily"), S("Palermo"), S("Rome"), CFS_GEO_UNIT_KM, &d, &found, NULL));
  CHECK(!found);
  CHECK_RC(cfs_store_geodist(st, S("g:sicily"), S("Palermo"), S("Catania"), 77, &d, &found, NULL),
           CFS_RESULT_INVALID_ARGUMENT);
  q[0] = view("Catania");
  q[1] = view("Nowhere");
  q[2] = view("Palermo");
  CHECK_OK(cfs_store_geopos(st, S("g:sicily"), q, 3, &pos, NULL));
  CHECK(cfs_geo_pos_list_len(pos) == 3);
  CHECK(cfs_geo_pos_list_get(pos, 0).found && fabs(cfs_geo_pos_list_get(pos, 0).longitude - 15.087269) < 1e-6);
  CHECK(!cfs_geo_pos_list_get(pos, 1).found);
  CHECK(cfs_geo_pos_list_get(pos, 2).found);
  cfs_geo_pos_list_free(pos);
  opts.with_dist = true;
  opts.with_coord = true;
  opts.count = 0;
  opts.order = 1;
  CHECK_OK(cfs_store_georadius(st, S("g:sicily"), 15, 37, 200, CFS_GEO_UNIT_KM, &opts, &matches, NULL));
  CHECK(cfs_geo_match_list_len(matches) == 2);
  CHECK(str_eq(cfs_geo_match_list_get(matches, 0).member, "Catania"));
  CHECK(cfs_geo_match_list_get(matches, 0).has_distance && cfs_geo_match_list_get(matches, 0).has_coord);
  CHECK(cfs_geo_match_list_get(matches, 0).distance < cfs_geo_match_list_get(matches, 1).distance);
  cfs_geo_match_list_free(matches);
  CHECK_OK(cfs_store_georadius(st, S("g:sicily"), 15, 37, 100, CFS_GEO_UNIT_KM, NULL, &matches, NULL));
  CHECK(cfs_geo_match_list_len(matches) == 1 && !cfs_geo_match_list_get(matches, 0).has_distance);
  cfs_geo_match_list_free(matches);
  CHECK_OK(cfs_store_georadiusbymember(st, S("g:sicily"), S("Palermo"), 200, CFS_GEO_UNIT_KM, NULL, &matches, NULL));
  CHECK(cfs_geo_match_list_len(matches) == 2);
  cfs_geo_match_list_free(matches);
  m[0].latitude = 89;
  CHECK_RC(cfs_store_geoadd(st, S("g:sicily"), m, 1, &n, NULL), CFS_RESULT_INVALID_ARGUMENT);
}

int main(void) {
  char dir[256];
  cfs_store *st = NULL;
  cfs_error *err = NULL;
  CHECK(make_tmpdir(dir, sizeof dir));
  if (cfs_store_open(dir, strlen(dir), NULL, &st, &err) != CFS_RESULT_OK) {
    fprintf(stderr, "open: %s\n", cfs_error_message(err));
    cfs_error_free(err);
    CHECK(0);
    return check_finish();
  }
  test_hash(st);
  test_list(st);
  test_set(st);
  test_zset(st);
  test_json(st);
  test_stream(st);
  test_timeseries(st);
  test_geo(st);
  CHECK_OK(cfs_store_close(st, NULL));
  cfs_store_free(st);
  return check_finish();
}
