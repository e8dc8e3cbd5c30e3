/* The store from C: config, lifecycle, string values, many at once, scans,
 * blobs, expiry, stats and metrics, and the error conventions (codes, error
 * objects, NULL pointers, invalid UTF-8, outputs untouched on failure). */
#include "check.h"

static cfs_store *open_store(const char *dir, const cfs_config *cfg) {
  cfs_store *st = NULL;
  cfs_error *err = NULL;
  cfs_result r = cfs_store_open(dir, strlen(dir), cfg, &st, &err);
  if (r != CFS_RESULT_OK) {
    fprintf(stderr, "open %s: %u %s\n", dir, (unsigned)r, cfs_error_message(err));
    cfs_error_free(err);
    return NULL;
  }
  return st;
}

static void test_config(void) {
  cfs_config *cfg = NULL;
  cfs_error *err = NULL;
  CHECK_OK(cfs_config_new(&cfg));
  CHECK(cfg != NULL);
  CHECK_OK(cfs_config_set_sled_cache_capacity(cfg, 8u << 20));
  CHECK_OK(cfs_config_set_flush_every_ms(cfg, 100));
  CHECK_OK(cfs_config_set_throughput_mode(cfg, CFS_THROUGHPUT_MODE_HIGH_THROUGHPUT));
  CHECK_OK(cfs_config_set_compression(cfg, true));
  CHECK_OK(cfs_config_set_compression_factor(cfg, 3));
  CHECK_OK(cfs_config_set_hot_cache_bytes(cfg, 1u << 20));
  CHECK_OK(cfs_config_set_warm_cache_bytes(cfg, 2u << 20));
  CHECK_OK(cfs_config_set_warm_ttl_ms(cfg, 60000));
  CHECK_OK(cfs_config_set_inline_threshold(cfg, 64));
  CHECK_OK(cfs_config_set_max_key_len(cfg, 200));
  CHECK_OK(cfs_config_set_max_value_len(cfg, 1u << 20));
  CHECK_OK(cfs_config_set_writer_max_batch(cfg, 256));
  CHECK_OK(cfs_config_set_writer_max_delay_us(cfg, 1000));
  CHECK_OK(cfs_config_set_writer_queue_depth(cfg, 512));
  CHECK_OK(cfs_config_set_durability(cfg, CFS_DURABILITY_SYNC));
  CHECK_OK(cfs_config_set_gc_interval_ms(cfg, 0));
  CHECK_OK(cfs_config_set_sweep_interval_ms(cfg, 0));
  CHECK_OK(cfs_config_set_scan_page_size(cfg, 3));
  CHECK_OK(cfs_config_set_runtime_threads(cfg, 2));
  CHECK_OK(cfs_config_set_reader_threads(cfg, 2));
  CHECK_OK(cfs_config_validate(cfg, NULL));

  /* Bad enum values and bad fields are typed errors, never crashes. */
  CHECK_RC(cfs_config_set_durability(cfg, 42), CFS_RESULT_INVALID_CONFIG);
  CHECK_RC(cfs_config_set_throughput_mode(cfg, 42), CFS_RESULT_INVALID_CONFIG);
  CHECK_RC(cfs_config_set_runtime_threads(NULL, 1), CFS_RESULT_NULL_POINTER);
  CHECK_OK(cfs_config_set_writer_max_batch(cfg, 0));
  CHECK_RC(cfs_config_validate(cfg, &err), CFS_RESULT_INVALID_CONFIG);
  CHECK(err != NULL && strstr(cfs_error_message(err), "writer_max_batch") != NULL);
  CHECK(cfs_error_code(err) == CFS_RESULT_INVALID_CONFIG);
  cfs_error_free(err);

  /* A bad config refuses to open, with the field named. */
  {
    char dir[256];
    cfs_store *st = NULL;
    CHECK(make_tmpdir(dir, sizeof dir));
    err = NULL;
    CHECK_RC(cfs_store_open(dir, strlen(dir), cfg, &st, &err), CFS_RESULT_INVALID_CONFIG);
    CHECK(st == NULL);
    CHECK(err != NULL && strstr(cfs_error_message(err), "writer_max_batch") != NULL);
    cfs_error_free(err);
  }
  cfs_config_free(cfg);
  cfs_config_free(NULL);
}

static void test_errors_and_messages(void) {
  char buf[64];
  size_t n = 0;
  CHECK_OK(cfs_result_message(CFS_RESULT_CLOSED, buf, sizeof buf, &n));
  CHECK(strcmp(buf, "store closed") == 0 && n == strlen("store closed"));
  CHECK_OK(cfs_result_message(CFS_RESULT_NULL_POINTER, buf, sizeof buf, NULL));
  CHECK(strcmp(buf, "null pointer argument") == 0);
  CHECK_OK(cfs_result_message(12345, buf, sizeof buf, &n));
  CHECK(strcmp(buf, "unknown result code") == 0);
  CHECK_RC(cfs_result_message(CFS_RESULT_WRONG_TYPE, buf, 4, &n), CFS_RESULT_BUFFER_TOO_SMALL);
  CHECK(strcmp(buf, "wro") == 0 && n == 3);
  CHECK_RC(cfs_result_message(0, NULL, 10, &n), CFS_RESULT_NULL_POINTER);
  CHECK(cfs_error_code(NULL) == CFS_RESULT_NULL_POINTER);
  CHECK(strcmp(cfs_error_message(NULL), "") == 0);
  cfs_error_free(NULL);
  CHECK(strcmp(cfs_version(), CYBERFLY_STORE_VERSION) == 0);
}

static void test_strings(cfs_store *st) {
  cfs_string v = {NULL, 0};
  bool found = false, existed = false, exists = true;
  cfs_error *err = NULL;

  CHECK_OK(cfs_store_set(st, S("db:greeting"), S("hello"), NULL));
  CHECK_OK(cfs_store_get(st, S("db:greeting"), &v, &found, NULL));
  CHECK(found && string_eq(v, "hello"));
  CHECK(v.data != NULL && v.data[v.len] == '\0'); /* NUL-terminated */
  cfs_string_free(&v);
  CHECK(v.data == NULL && v.len == 0);
  cfs_string_free(&v); /* twice through the same pointer is harmless */

  /* Empty values are values; absent keys are not found. */
  CHECK_OK(cfs_store_set(st, S("db:empty"), S(""), NULL));
  CHECK_OK(cfs_store_get(st, S("db:empty"), &v, &found, NULL));
  CHECK(found && v.len == 0 && v.data != NULL);
  cfs_string_free(&v);
  CHECK_OK(cfs_store_get(st, S("db:nothing"), &v, &found, NULL));
  CHECK(!found && v.data == NULL);

  /* Values with an embedded NUL keep their length. */
  CHECK_OK(cfs_store_set(st, S("db:nul"), "a\0b", 3, NULL));
  CHECK_OK(cfs_store_get(st, S("db:nul"), &v, &found, NULL));
  CHECK(found && v.len == 3 && memcmp(v.data, "a\0b", 3) == 0);
  cfs_string_free(&v);

  /* A value larger than the inline threshold goes through the blob store. */
  {
    size_t big = 10000, i;
    char *b = (char *)malloc(big);
    for (i = 0; i < big; i++) b[i] = (char)('a' + i % 26);
    CHECK_OK(cfs_store_set(st, S("db:big"), b, big, NULL));
    CHECK_OK(cfs_store_get(st, S("db:big"), &v, &found, NULL));
    CHECK(found && v.len == big && memcmp(v.data, b, big) == 0);
    cfs_string_free(&v);
    free(b);
  }

  CHECK_OK(cfs_store_exists(st, S("db:greeting"), &exists, NULL));
  CHECK(exists);
  CHECK_OK(cfs_store_delete(st, S("db:greeting"), &existed, NULL));
  CHECK(existed);
  CHECK_OK(cfs_store_delete(st, S("db:greeting"), &existed, NULL));
  CHECK(!existed);
  CHECK_OK(cfs_store_delete(st, S("db:greeting"), NULL, NULL)); /* optional out */
  CHECK_OK(cfs_store_exists(st, S("db:greeting"), &exists, NULL));
  CHECK(!exists);

  /* Errors: typed codes, detailed messages, outputs untouched. */
  CHECK_RC(cfs_store_set(st, S(""), S("x"), &err), CFS_RESULT_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(cfs_error_message(err), "empty") != NULL);
  cfs_error_free(err);
  err = NULL;
  {
    char longkey[300];
    memset(longkey, 'k', sizeof longkey);
    CHECK_RC(cfs_store_set(st, longkey, sizeof longkey, S("x"), &err), CFS_RESULT_KEY_TOO_LONG);
    CHECK(cfs_error_code(err) == CFS_RESULT_KEY_TOO_LONG);
    cfs_error_free(err);
    err = NULL;
  }
  CHECK_RC(cfs_store_set(st, S("db:bad"), "\xff\xfe", 2, &err), CFS_RESULT_INVALID_UTF8);
  CHECK(err != NULL && strstr(cfs_error_message(err), "value") != NULL);
  cfs_error_free(err);
  err = NULL;
  CHECK_RC(cfs_store_set(st, NULL, 3, S("x"), NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_set(NULL, S("db:k"), S("x"), NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_get(st, S("db:k"), NULL, &found, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_get(st, S("db:k"), &v, NULL, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_exists(st, S("db:k"), NULL, NULL), CFS_RESULT_NULL_POINTER);

  /* Wrong type: a string op on a hash. */
  CHECK_OK(cfs_store_hset(st, S("db:h"), S("f"), S("v"), NULL, NULL));
  v.data = (char *)"untouched";
  v.len = 9;
  found = true;
  CHECK_RC(cfs_store_get(st, S("db:h"), &v, &found, &err), CFS_RESULT_WRONG_TYPE);
  CHECK(strcmp(v.data, "untouched") == 0 && v.len == 9 && found); /* not written */
  CHECK(cfs_error_code(err) == CFS_RESULT_WRONG_TYPE);
  cfs_error_free(err);
  err = NULL;
  {
    cfs_value_kind kind = CFS_VALUE_KIND_STRING;
    CHECK_OK(cfs_store_key_type(st, S("db:h"), &kind, &found, NULL));
    CHECK(found && kind == CFS_VALUE_KIND_HASH);
    CHECK_OK(cfs_store_key_type(st, S("db:nul"), &kind, &found, NULL));
    CHECK(found && kind == CFS_VALUE_KIND_STRING);
    CHECK_OK(cfs_store_key_type(st, S("db:none"), &kind, &found, NULL));
    CHECK(!found);
  }
}

static void test_many(cfs_store *st) {
  cfs_str_pair items[3];
  cfs_str keys[4];
  cfs_str_list *vals = NULL;
  cfs_error *err = NULL;
  items[0].key = view("m:a");
  items[0].value = view("1");
  items[1].key = view("m:b");
  items[1].value = view("2");
  items[2].key = view("m:c");
  items[2].value = view("3");
  CHECK_OK(cfs_store_set_many(st, items, 3, NULL));
  CHECK_OK(cfs_store_set_many(st, NULL, 0, NULL)); /* empty is fine */

  keys[0] = view("m:c");
  keys[1] = view("m:zzz");
  keys[2] = view("m:a");
  keys[3] = view("m:b");
  CHECK_OK(cfs_store_get_many(st, keys, 4, &vals, NULL));
  CHECK(cfs_str_list_len(vals) == 4);
  CHECK(str_eq(cfs_str_list_get(vals, 0), "3"));
  CHECK(cfs_str_list_get(vals, 1).data == NULL); /* absent */
  CHECK(str_eq(cfs_str_list_get(vals, 2), "1"));
  CHECK(str_eq(cfs_str_list_get(vals, 3), "2"));
  CHECK(cfs_str_list_get(vals, 99).data == NULL); /* out of range */
  cfs_str_list_free(vals);
  CHECK(cfs_str_list_len(NULL) == 0);

  /* One bad item fails the whole group; nothing is written. */
  items[0].key = view("m:new");
  items[1].key = view("");
  CHECK_RC(cfs_store_set_many(st, items, 3, &err), CFS_RESULT_INVALID_ARGUMENT);
  cfs_error_free(err);
  {
    bool exists = true;
    CHECK_OK(cfs_store_exists(st, S("m:new"), &exists, NULL));
    CHECK(!exists);
  }
  /* An item with a NULL data pointer is named in the message. */
  err = NULL;
  items[1].key.data = NULL;
  items[1].key.len = 1;
  CHECK_RC(cfs_store_set_many(st, items, 3, &err), CFS_RESULT_NULL_POINTER);
  CHECK(err != NULL && strstr(cfs_error_message(err), "items[1].key") != NULL);
  cfs_error_free(err);
  CHECK_RC(cfs_store_get_many(st, NULL, 2, &vals, NULL), CFS_RESULT_NULL_POINTER);
}

static void test_scan(cfs_store *st) {
  cfs_scan *sc = NULL;
  cfs_str k, v;
  bool found = false;
  int n = 0, ok_order = 1;
  char prev[64] = "";
  cfs_str_pair_list *page = NULL;
  size_t total = 0;
  int i;
  for (i = 0; i < 10; i++) {
    char key[32], val[32];
    snprintf(key, sizeof key, "scan:%02d", i);
    snprintf(val, sizeof val, "v%d", i);
    CHECK_OK(cfs_store_set(st, key, strlen(key), val, strlen(val), NULL));
  }
  CHECK_OK(cfs_store_set(st, S("scanx:other"), S("no"), NULL));

  CHECK_OK(cfs_scan_new(st, S("scan:"), &sc, NULL));
  for (;;) {
    CHECK_OK(cfs_scan_next(sc, &k, &v, &found, NULL));
    if (!found) break;
    if (strncmp(k.data, prev, k.len) <= 0 && n > 0) ok_order = 0;
    memcpy(prev, k.data, k.len);
    prev[k.len] = '\0';
    n++;
  }
  CHECK(n == 10 && ok_order);
  cfs_scan_free(sc);

  /* Page by page (the config has scan_page_size 3). */
  sc = NULL;
  CHECK_OK(cfs_scan_new(st, S("scan:"), &sc, NULL));
  for (;;) {
    CHECK_OK(cfs_scan_next_page(sc, &page, NULL));
    if (page == NULL) break;
    total += cfs_str_pair_list_len(page);
    CHECK(cfs_str_pair_list_len(page) <= 3);
    CHECK(strncmp(cfs_str_pair_list_get(page, 0).key.data, "scan:", 5) == 0);
    cfs_str_pair_list_free(page);
  }
  CHECK(total == 10);
  cfs_scan_free(sc);
  cfs_scan_free(NULL);
  CHECK_RC(cfs_scan_next(NULL, &k, &v, &found, NULL), CFS_RESULT_NULL_POINTER);
}

static void test_blobs(cfs_store *st) {
  static const uint8_t data[] = {0, 1, 2, 3, 255, 254};
  cfs_hash h, h2;
  cfs_bytes b = {NULL, 0};
  bool found = false, existed = false;
  char hex[65];
  CHECK_OK(cfs_store_add_blob(st, data, sizeof data, &h, NULL));
  CHECK_OK(cfs_store_get_blob(st, &h, &b, &found, NULL));
  CHECK(found && b.len == sizeof data && memcmp(b.data, data, sizeof data) == 0);
  cfs_bytes_free(&b);
  CHECK(b.data == NULL);
  CHECK_OK(cfs_hash_to_hex(&h, hex, sizeof hex, NULL));
  CHECK(strlen(hex) == 64);
  CHECK_OK(cfs_hash_from_hex(hex, 64, &h2, NULL));
  CHECK(memcmp(h.bytes, h2.bytes, 32) == 0);
  CHECK_RC(cfs_hash_to_hex(&h, hex, 10, NULL), CFS_RESULT_BUFFER_TOO_SMALL);
  CHECK_RC(cfs_hash_from_hex(S("zz"), &h2, NULL), CFS_RESULT_INVALID_ARGUMENT);
  memset(h2.bytes, 7, 32);
  CHECK_OK(cfs_store_get_blob(st, &h2, &b, &found, NULL));
  CHECK(!found && b.data == NULL);
  CHECK_OK(cfs_store_remove_blob(st, &h, &existed, NULL));
  CHECK(existed);
  CHECK_OK(cfs_store_collect_garbage(st, NULL));
  CHECK_OK(cfs_store_get_blob(st, &h, &b, &found, NULL));
  CHECK(!found);
  CHECK_RC(cfs_store_add_blob(st, NULL, 3, &h, NULL), CFS_RESULT_NULL_POINTER);
}

static void test_expiry(cfs_store *st) {
  int64_t ttl = 0;
  bool existed = false, changed = false, found = false;
  cfs_string v = {NULL, 0};
  CHECK_OK(cfs_store_set(st, S("t:k"), S("v"), NULL));
  CHECK_OK(cfs_store_ttl(st, S("t:k"), &ttl, NULL));
  CHECK(ttl == -1);
  CHECK_OK(cfs_store_ttl(st, S("t:absent"), &ttl, NULL));
  CHECK(ttl == -2);
  CHECK_OK(cfs_store_expire(st, S("t:k"), 100, &existed, NULL));
  CHECK(existed);
  CHECK_OK(cfs_store_ttl(st, S("t:k"), &ttl, NULL));
  CHECK(ttl > 90 && ttl <= 100);
  CHECK_OK(cfs_store_pttl(st, S("t:k"), &ttl, NULL));
  CHECK(ttl > 90000 && ttl <= 100000);
  CHECK_OK(cfs_store_persist(st, S("t:k"), &changed, NULL));
  CHECK(changed);
  CHECK_OK(cfs_store_ttl(st, S("t:k"), &ttl, NULL));
  CHECK(ttl == -1);
  /* as Redis: an expiry of 0 seconds is refused and nothing is written */
  CHECK(cfs_store_set_ex(st, S("t:ex"), S("soon"), 0, NULL) == CFS_RESULT_INVALID_ARGUMENT);
  CHECK_OK(cfs_store_get(st, S("t:ex"), &v, &found, NULL));
  CHECK(!found);
  CHECK_OK(cfs_store_expire(st, S("t:absent"), 5, &existed, NULL));
  CHECK(!existed);
}

static void test_stats(cfs_store *st) {
  cfs_string s = {NULL, 0};
  CHECK_OK(cfs_store_flush(st, NULL));
  CHECK_OK(cfs_store_stats_json(st, &s, NULL));
  CHECK(s.data != NULL && s.data[0] == '{' && strstr(s.data, "\"hit_rate\"") != NULL);
  CHECK(strstr(s.data, "\"ops\"") != NULL);
  cfs_string_free(&s);
  CHECK_OK(cfs_store_metrics_text(st, &s, NULL));
  CHECK(s.data != NULL && strstr(s.data, "cyberfly_ops_total") != NULL);
  cfs_string_free(&s);
  CHECK_RC(cfs_store_stats_json(st, NULL, NULL), CFS_RESULT_NULL_POINTER);
}

static void test_lifecycle(const char *dir, const cfs_config *cfg) {
  cfs_store *st = open_store(dir, cfg), *again = NULL;
  cfs_error *err = NULL;
  cfs_string v = {NULL, 0};
  bool found = false;
  CHECK(st != NULL);
  if (!st) return;
  /* What was written before is there after reopening. */
  CHECK_OK(cfs_store_get(st, S("m:a"), &v, &found, NULL));
  CHECK(found && string_eq(v, "1"));
  cfs_string_free(&v);
  /* The same directory cannot be opened twice. */
  CHECK_RC(cfs_store_open(dir, strlen(dir), cfg, &again, &err), CFS_RESULT_ALREADY_OPEN);
  CHECK(again == NULL && err != NULL);
  cfs_error_free(err);
  err = NULL;
  /* After close: CLOSED, idempotent close, then free. */
  CHECK_OK(cfs_store_close(st, NULL));
  CHECK_OK(cfs_store_close(st, NULL));
  CHECK_RC(cfs_store_set(st, S("m:a"), S("x"), &err), CFS_RESULT_CLOSED);
  CHECK(cfs_error_code(err) == CFS_RESULT_CLOSED);
  cfs_error_free(err);
  CHECK_RC(cfs_store_get(st, S("m:a"), &v, &found, NULL), CFS_RESULT_CLOSED);
  cfs_store_free(st);
  cfs_store_free(NULL);
  CHECK_RC(cfs_store_open(NULL, 3, cfg, &st, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_open(dir, strlen(dir), cfg, NULL, NULL), CFS_RESULT_NULL_POINTER);
  /* Free without close closes (and the directory can be opened again). */
  st = open_store(dir, NULL);
  CHECK(st != NULL);
  cfs_store_free(st);
  st = open_store(dir, NULL);
  CHECK(st != NULL);
  cfs_store_free(st);
}

/* A deleted (or rolled-back) index is refused with CORRUPT and a message
 * that says what to do; a recovery open answers from what is left, says
 * what was lost, and keeps blob GC off. */
static void test_damaged_index(void) {
  char dir[256], cmd[300];
  cfs_config *cfg = NULL;
  cfs_store *st = NULL;
  cfs_error *err = NULL;
  cfs_string json = {0};
  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_config_new(&cfg));
  CHECK_OK(cfs_config_set_gc_interval_ms(cfg, 0));
  st = open_store(dir, cfg);
  CHECK(st != NULL);
  if (!st) {
    cfs_config_free(cfg);
    return;
  }
  CHECK_OK(cfs_store_set(st, S("k"), S("v"), NULL));
  CHECK_OK(cfs_store_close(st, NULL));
  cfs_store_free(st);
  snprintf(cmd, sizeof cmd, "rm -rf '%s/index'", dir);
  CHECK(system(cmd) == 0);

  st = NULL;
  CHECK_RC(cfs_store_open(dir, strlen(dir), cfg, &st, &err), CFS_RESULT_CORRUPT);
  CHECK(st == NULL);
  CHECK(err != NULL && strstr(cfs_error_message(err), "recovery") != NULL);
  cfs_error_free(err);

  CHECK_OK(cfs_config_set_recovery(cfg, true));
  CHECK_OK(cfs_config_set_oplog_journal(cfg, true));
  st = open_store(dir, cfg);
  CHECK(st != NULL);
  if (st) {
    CHECK_OK(cfs_store_recovery_json(st, &json, NULL));
    CHECK(json.data != NULL && strstr(json.data, "\"index_mark\":null") != NULL);
    /* Deleted, not unreadable: nothing was set aside. */
    CHECK(json.data != NULL && strstr(json.data, "\"damaged_index\":null") != NULL);
    /* No signed operation was written: the journal had nothing to restore. */
    CHECK(json.data != NULL && strstr(json.data, "\"journal\":{\"damaged\":0,") != NULL);
    CHECK(json.data != NULL && strstr(json.data, "\"restored\":0") != NULL);
    cfs_string_free(&json);
    CHECK_RC(cfs_store_collect_garbage(st, NULL), CFS_RESULT_CORRUPT);
    CHECK_OK(cfs_store_close(st, NULL));
    cfs_store_free(st);
  }
  /* The recovery open's close records a new mark: a normal open accepts it. */
  CHECK_OK(cfs_config_set_recovery(cfg, false));
  st = open_store(dir, cfg);
  CHECK(st != NULL);
  if (st) {
    CHECK_OK(cfs_store_recovery_json(st, &json, NULL));
    CHECK(json.data != NULL && strcmp(json.data, "null") == 0);
    cfs_string_free(&json);
    CHECK_OK(cfs_store_close(st, NULL));
    cfs_store_free(st);
  }
  cfs_config_free(cfg);
}

/* cfs_check verifies a closed store without changing it: clean JSON for an
 * intact store, ALREADY_OPEN while it is open, the damaged blob named after
 * a byte of its data file is flipped. */
static void test_check(void) {
  char dir[256], cmd[600];
  cfs_config *cfg = NULL;
  cfs_store *st = NULL;
  cfs_error *err = NULL;
  cfs_string json = {0};
  char big[40000];
  size_t i;
  for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_config_new(&cfg));
  CHECK_OK(cfs_config_set_gc_interval_ms(cfg, 0));
  CHECK_OK(cfs_config_set_inline_threshold(cfg, 64));
  st = open_store(dir, cfg);
  CHECK(st != NULL);
  if (!st) {
    cfs_config_free(cfg);
    return;
  }
  CHECK_OK(cfs_store_set(st, S("small"), S("v"), NULL));
  CHECK_OK(cfs_store_set(st, S("big"), big, sizeof big, NULL));
  CHECK_RC(cfs_check(dir, strlen(dir), &json, &err), CFS_RESULT_ALREADY_OPEN);
  CHECK(json.data == NULL);
  CHECK(err != NULL && strstr(cfs_error_message(err), "closed store") != NULL);
  cfs_error_free(err);
  CHECK_OK(cfs_store_close(st, NULL));
  cfs_store_free(st);

  CHECK_OK(cfs_check(dir, strlen(dir), &json, NULL));
  CHECK(json.data != NULL && strstr(json.data, "\"clean\":true") != NULL);
  CHECK(json.data != NULL && strstr(json.data, "\"problems\":[]") != NULL);
  cfs_string_free(&json);

  /* Flip one byte in the middle of the big value's data file. */
  snprintf(cmd, sizeof cmd,
           "f=$(ls '%s'/blobs/data/*.data) && printf 'Z' | dd of=\"$f\" bs=1 seek=20000 "
           "conv=notrunc status=none",
           dir);
  CHECK(system(cmd) == 0);
  CHECK_OK(cfs_check(dir, strlen(dir), &json, NULL));
  CHECK(json.data != NULL && strstr(json.data, "\"clean\":false") != NULL);
  CHECK(json.data != NULL && strstr(json.data, "\"kind\":\"blob_damaged\"") != NULL);
  CHECK(json.data != NULL && strstr(json.data, "\"keys\":[\"big\"]") != NULL);
  cfs_string_free(&json);

  snprintf(cmd, sizeof cmd, "%s/nothing-here", dir);
  CHECK_RC(cfs_check(cmd, strlen(cmd), &json, &err), CFS_RESULT_IO);
  CHECK(err != NULL && strstr(cfs_error_message(err), "nothing-here") != NULL);
  cfs_error_free(err);
  cfs_config_free(cfg);
}

int main(void) {
  char dir[256];
  cfs_config *cfg = NULL;
  cfs_store *st;
  test_config();
  test_errors_and_messages();

  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_config_new(&cfg));
  CHECK_OK(cfs_config_set_inline_threshold(cfg, 64));
  CHECK_OK(cfs_config_set_max_key_len(cfg, 200));
  CHECK_OK(cfs_config_set_scan_page_size(cfg, 3));
  CHECK_OK(cfs_config_set_gc_interval_ms(cfg, 0));
  st = open_store(dir, cfg);
  CHECK(st != NULL);
  if (st) {
    test_strings(st);
    test_many(st);
    test_scan(st);
    test_blobs(st);
    test_expiry(st);
    test_stats(st);
    CHECK_OK(cfs_store_close(st, NULL));
    cfs_store_free(st);
  }
  test_lifecycle(dir, cfg);
  test_damaged_index();
  test_check();
  cfs_config_free(cfg);
  return check_finish();
}
