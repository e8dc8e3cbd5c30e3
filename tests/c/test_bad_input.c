/* The bad-input matrix, C column (docs/RELIABILITY.md): every row returns
 * its typed result code, and the store's state digest is the same before
 * and after. Adds what only C can get wrong: NULL pointers and invalid
 * UTF-8. */
#include "check.h"

static cfs_string digest(const cfs_store *st) {
  cfs_string d;
  memset(&d, 0, sizeof d);
  CHECK_OK(cfs_store_state_digest(st, &d, NULL));
  return d;
}

static cfs_signed_op *make_op(const char *db, const char *key, const char *value,
                              const cfs_keypair *signer) {
  cfs_signed_op *op = NULL;
  CHECK_OK(cfs_signed_op_new(db, strlen(db), key, strlen(key), value, strlen(value),
                             CFS_VALUE_KIND_STRING, &op, NULL));
  if (signer) CHECK_OK(cfs_signed_op_sign(op, signer, NULL));
  return op;
}

int main(void) {
  char dir[256];
  cfs_config *cfg = NULL;
  cfs_store *st = NULL;
  cfs_keypair *kp = NULL, *other = NULL;
  char pk[65], db[128];
  cfs_error *err = NULL;
  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_config_new(&cfg));
  CHECK_OK(cfs_config_set_max_key_len(cfg, 128));
  CHECK_OK(cfs_config_set_max_value_len(cfg, 10000));
  CHECK_OK(cfs_config_set_sweep_interval_ms(cfg, 0));
  CHECK_OK(cfs_store_open(dir, strlen(dir), cfg, &st, NULL));
  CHECK_OK(cfs_keypair_generate(&kp));
  CHECK_OK(cfs_keypair_generate(&other));
  CHECK_OK(cfs_keypair_public_key_hex(kp, pk, sizeof pk, NULL));
  snprintf(db, sizeof db, "db-%s", pk);

  /* some state of several kinds */
  CHECK_OK(cfs_store_set(st, S("str"), S("v"), NULL));
  {
    cfs_str item = view("a");
    CHECK_OK(cfs_store_rpush(st, S("list"), &item, 1, NULL, NULL));
  }
  CHECK_OK(cfs_store_json_set(st, S("j"), S("$"), S("{\"a\":1}"), NULL));
  cfs_signed_op *good = make_op(db, "k", "v", kp);
  cfs_outcome oc;
  CHECK_OK(cfs_store_apply(st, good, &oc, NULL));
  CHECK(oc == CFS_OUTCOME_APPLIED);
  cfs_string before = digest(st);

  /* keys and values */
  CHECK_RC(cfs_store_set(st, "", 0, S("v"), NULL), CFS_RESULT_INVALID_ARGUMENT);
  {
    char longkey[200];
    memset(longkey, 'k', sizeof longkey);
    CHECK_RC(cfs_store_set(st, longkey, 129, S("v"), NULL), CFS_RESULT_KEY_TOO_LONG);
    char *big = (char *)calloc(10001, 1);
    memset(big, 'v', 10001);
    CHECK_RC(cfs_store_set(st, S("k"), big, 10001, NULL), CFS_RESULT_VALUE_TOO_LARGE);
    cfs_hash h;
    CHECK_RC(cfs_store_add_blob(st, (const uint8_t *)big, 10001, &h, NULL), CFS_RESULT_VALUE_TOO_LARGE);
    free(big);
  }
  CHECK_RC(cfs_store_set(st, "\xff\xfe", 2, S("v"), NULL), CFS_RESULT_INVALID_UTF8);
  CHECK_RC(cfs_store_set(st, S("k"), "\xc3\x28", 2, NULL), CFS_RESULT_INVALID_UTF8);
  /* numbers and coordinates */
  {
    int64_t added = 0;
    cfs_scored nan_item;
    nan_item.member = view("m");
    nan_item.score = 0.0 / 0.0;
    CHECK_RC(cfs_store_zadd(st, S("z"), &nan_item, 1, &added, NULL), CFS_RESULT_INVALID_ARGUMENT);
    nan_item.score = 1.0 / 0.0;
    CHECK_RC(cfs_store_zadd(st, S("z"), &nan_item, 1, &added, NULL), CFS_RESULT_INVALID_ARGUMENT);
    CHECK_RC(cfs_store_ts_add(st, S("t"), 1, 0.0 / 0.0, NULL), CFS_RESULT_INVALID_ARGUMENT);
    cfs_geo_member g;
    g.member = view("m");
    g.longitude = 181.0;
    g.latitude = 0.0;
    CHECK_RC(cfs_store_geoadd(st, S("g"), &g, 1, &added, NULL), CFS_RESULT_INVALID_ARGUMENT);
    g.longitude = 0.0;
    g.latitude = 86.0;
    CHECK_RC(cfs_store_geoadd(st, S("g"), &g, 1, &added, NULL), CFS_RESULT_INVALID_ARGUMENT);
  }
  /* JSONPath, stream ids, wrong type */
  {
    cfs_string out;
    bool found = false;
    CHECK_RC(cfs_store_json_get(st, S("j"), S("$[?"), &out, &found, NULL), CFS_RESULT_INVALID_ARGUMENT);
    cfs_str_pair f;
    f.key = view("f");
    f.value = view("v");
    cfs_string id;
    int64_t added = 0;
    CHECK_RC(cfs_store_xadd(st, S("x"), S("1-x"), &f, 1, &id, NULL), CFS_RESULT_INVALID_ARGUMENT);
    CHECK_RC(cfs_store_hset(st, S("list"), S("f"), S("v"), &added, NULL), CFS_RESULT_WRONG_TYPE);
  }
  /* signed operations */
  {
    cfs_signed_op *op;
    /* malformed hex and wrong lengths */
    op = make_op(db, "k", "x", NULL);
    CHECK_RC(cfs_signed_op_set_signature(op, S("zz"), S("00"), &err), CFS_RESULT_INVALID_ARGUMENT);
    cfs_error_free(err);
    err = NULL;
    cfs_signed_op_free(op);
    /* forged: signed, then the op_id changed */
    op = make_op(db, "k", "x", kp);
    CHECK_OK(cfs_signed_op_set_op_id(op, S("forged")));
    CHECK_RC(cfs_store_apply(st, op, &oc, &err), CFS_RESULT_INVALID_SIGNATURE);
    CHECK(err != NULL && cfs_error_code(err) == CFS_RESULT_INVALID_SIGNATURE);
    cfs_error_free(err);
    err = NULL;
    cfs_signed_op_free(op);
    /* wrong owner */
    op = make_op(db, "k", "x", other);
    CHECK_RC(cfs_store_apply(st, op, &oc, NULL), CFS_RESULT_NOT_OWNER);
    cfs_signed_op_free(op);
    /* stale */
    op = make_op(db, "k", "x", NULL);
    CHECK_OK(cfs_signed_op_set_timestamp(op, 1000));
    CHECK_OK(cfs_signed_op_sign(op, kp, NULL));
    CHECK_RC(cfs_store_apply(st, op, &oc, NULL), CFS_RESULT_STALE);
    cfs_signed_op_free(op);
    /* replayed op_id: an outcome, no change */
    CHECK_OK(cfs_store_apply(st, good, &oc, NULL));
    CHECK(oc == CFS_OUTCOME_DUPLICATE);
    /* invalid JSON */
    CHECK_RC(cfs_signed_op_from_json(S("{\"op_id\":"), &op, NULL), CFS_RESULT_INVALID_ARGUMENT);
  }
  /* NULL pointers: an error code, never a crash, nothing written */
  CHECK_RC(cfs_store_set(NULL, S("k"), S("v"), NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_set(st, NULL, 1, S("v"), NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_set(st, S("k"), NULL, 1, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_apply(st, NULL, &oc, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_rpush(st, S("list"), NULL, 1, NULL, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_state_digest(st, NULL, NULL), CFS_RESULT_NULL_POINTER);

  {
    cfs_string after = digest(st);
    CHECK(before.len == after.len && before.len == 64 &&
          memcmp(before.data, after.data, before.len) == 0);
    cfs_string_free(&after);
  }
  /* use after close */
  CHECK_OK(cfs_store_close(st, NULL));
  CHECK_RC(cfs_store_set(st, S("str"), S("x"), NULL), CFS_RESULT_CLOSED);
  {
    cfs_string out;
    bool found;
    CHECK_RC(cfs_store_get(st, S("str"), &out, &found, NULL), CFS_RESULT_CLOSED);
  }
  cfs_store_free(st);
  /* reopened: the same state */
  st = NULL;
  CHECK_OK(cfs_store_open(dir, strlen(dir), cfg, &st, NULL));
  {
    cfs_string again = digest(st);
    CHECK(before.len == again.len && memcmp(before.data, again.data, before.len) == 0);
    cfs_string_free(&again);
  }
  cfs_store_free(st);
  cfs_string_free(&before);
  cfs_signed_op_free(good);
  cfs_keypair_free(kp);
  cfs_keypair_free(other);
  cfs_config_free(cfg);
  return check_finish();
}
