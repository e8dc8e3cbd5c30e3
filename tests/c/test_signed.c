/* Keys, signatures and signed operations from C: keypair, sign, verify,
 * verify_many (blocking and with a callback), apply and apply_many with
 * per-operation outcomes, JSON round trip, signing elsewhere, the log. */
#include "check.h"

#include <pthread.h>
#include <time.h>

static char db[128];

static void test_keys(void) {
  cfs_keypair *kp = NULL, *kp2 = NULL;
  uint8_t pk[32], secret[32], sig[64], small[8];
  char hex[65];
  bool valid = false;
  static const uint8_t msg[] = "hello";
  CHECK_OK(cfs_keypair_generate(&kp));
  CHECK_OK(cfs_keypair_public_key(kp, pk, sizeof pk, NULL));
  CHECK_OK(cfs_keypair_secret(kp, secret, sizeof secret, NULL));
  CHECK_OK(cfs_keypair_public_key_hex(kp, hex, sizeof hex, NULL));
  CHECK(strlen(hex) == 64);
  CHECK_RC(cfs_keypair_public_key(kp, small, sizeof small, NULL), CFS_RESULT_BUFFER_TOO_SMALL);
  CHECK_RC(cfs_keypair_public_key_hex(kp, hex, 64, NULL), CFS_RESULT_BUFFER_TOO_SMALL);

  /* The same secret gives the same key pair. */
  CHECK_OK(cfs_keypair_from_secret(secret, sizeof secret, &kp2, NULL));
  {
    uint8_t pk2[32];
    CHECK_OK(cfs_keypair_public_key(kp2, pk2, sizeof pk2, NULL));
    CHECK(memcmp(pk, pk2, 32) == 0);
  }
  cfs_keypair_free(kp2);
  CHECK_RC(cfs_keypair_from_secret(secret, 31, &kp2, NULL), CFS_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cfs_keypair_from_secret_hex(S("nothex"), &kp2, NULL), CFS_RESULT_INVALID_ARGUMENT);

  CHECK_OK(cfs_keypair_sign(kp, msg, 5, sig, sizeof sig, NULL));
  CHECK_OK(cfs_verify(pk, 32, msg, 5, sig, 64, &valid, NULL));
  CHECK(valid);
  sig[0] ^= 1;
  CHECK_OK(cfs_verify(pk, 32, msg, 5, sig, 64, &valid, NULL));
  CHECK(!valid);
  sig[0] ^= 1;
  CHECK_OK(cfs_verify(pk, 31, msg, 5, sig, 64, &valid, NULL)); /* wrong length: false */
  CHECK(!valid);
  CHECK_RC(cfs_verify(NULL, 32, msg, 5, sig, 64, &valid, NULL), CFS_RESULT_NULL_POINTER);

  /* Many at once, in order. */
  {
    enum { N = 300 };
    static uint8_t sigs[N][64];
    static uint8_t msgs[N][16];
    cfs_verify_item items[N];
    bool out[N];
    int i, good = 1;
    for (i = 0; i < N; i++) {
      snprintf((char *)msgs[i], sizeof msgs[i], "m%d", i);
      CHECK_OK(cfs_keypair_sign(kp, msgs[i], strlen((char *)msgs[i]), sigs[i], 64, NULL));
      items[i].public_key = pk;
      items[i].public_key_len = 32;
      items[i].message = msgs[i];
      items[i].message_len = strlen((char *)msgs[i]);
      items[i].signature = sigs[i];
      items[i].signature_len = 64;
    }
    sigs[7][3] ^= 0x40;   /* two bad ones */
    items[250].message = msgs[251];
    CHECK_OK(cfs_verify_many(items, N, out, N, NULL));
    for (i = 0; i < N; i++) good &= out[i] == (i != 7 && i != 250);
    CHECK(good);
    /* A malformed item (short signature, long key) is false on its own;
     * every other item keeps its verdict. */
    items[20].signature_len = 63;
    items[21].public_key_len = 31;
    CHECK_OK(cfs_verify_many(items, N, out, N, NULL));
    good = 1;
    for (i = 0; i < N; i++) good &= out[i] == (i != 7 && i != 250 && i != 20 && i != 21);
    CHECK(good);
    items[20].signature_len = 64;
    items[21].public_key_len = 32;
    CHECK_RC(cfs_verify_many(items, N, out, N - 1, NULL), CFS_RESULT_BUFFER_TOO_SMALL);
    CHECK_OK(cfs_verify_many(NULL, 0, NULL, 0, NULL));
  }
  cfs_keypair_free(kp);
  cfs_keypair_free(NULL);
}

static cfs_signed_op *make_op(const char *key, const char *value, cfs_value_kind kind) {
  cfs_signed_op *op = NULL;
  cfs_error *err = NULL;
  if (cfs_signed_op_new(db, strlen(db), key, strlen(key), value, strlen(value), kind, &op, &err) != CFS_RESULT_OK) {
    fprintf(stderr, "new op: %s\n", cfs_error_message(err));
    cfs_error_free(err);
    return NULL;
  }
  return op;
}

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  cfs_result result;
  size_t count;
  int outcomes[8];
  int verdicts_ok;
} waiter;

static void on_outcomes(void *ud, cfs_result r, cfs_outcome_list *l, cfs_error *err) {
  waiter *w = (waiter *)ud;
  size_t i;
  pthread_mutex_lock(&w->mu);
  w->result = r;
  w->count = cfs_outcome_list_len(l);
  for (i = 0; i < w->count && i < 8; i++) w->outcomes[i] = (int)cfs_outcome_list_get(l, i).outcome;
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  cfs_outcome_list_free(l);
  cfs_error_free(err);
}

static void on_verdicts(void *ud, cfs_result r, const bool *valid, size_t count, cfs_error *err) {
  waiter *w = (waiter *)ud;
  pthread_mutex_lock(&w->mu);
  w->result = r;
  w->count = count;
  w->verdicts_ok = count == 2 && valid[0] && !valid[1];
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  cfs_error_free(err);
}

static void wait_done(waiter *w) {
  pthread_mutex_lock(&w->mu);
  while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
  w->done = 0;
  pthread_mutex_unlock(&w->mu);
}

static void test_ops(cfs_store *st) {
  cfs_keypair *kp = NULL, *other = NULL;
  cfs_signed_op *op = NULL, *older = NULL, *copy = NULL, *bad = NULL;
  cfs_outcome outcome = CFS_OUTCOME_REJECTED;
  cfs_error *err = NULL;
  cfs_string s = {NULL, 0}, json = {NULL, 0};
  bool found = false;
  char pkhex[65], key[160];
  uint64_t n = 0;
  CHECK_OK(cfs_keypair_generate(&kp));
  CHECK_OK(cfs_keypair_generate(&other));
  CHECK_OK(cfs_keypair_public_key_hex(kp, pkhex, sizeof pkhex, NULL));
  snprintf(db, sizeof db, "mydb-%s", pkhex);
  snprintf(key, sizeof key, "%s:greeting", db);

  /* A String write. */
  op = make_op("greeting", "hello", CFS_VALUE_KIND_STRING);
  CHECK(op != NULL);
  {
    cfs_string id = {NULL, 0};
    CHECK_OK(cfs_signed_op_op_id(op, &id, NULL));
    CHECK(id.len > 0 && id.data[id.len] == '\0');
    cfs_string_free(&id);
  }
  CHECK_OK(cfs_signed_op_sign(op, kp, NULL));
  CHECK_OK(cfs_signed_op_check(op, NULL));
  CHECK_OK(cfs_store_apply(st, op, &outcome, NULL));
  CHECK(outcome == CFS_OUTCOME_APPLIED);
  CHECK_OK(cfs_store_get(st, key, strlen(key), &s, &found, NULL));
  CHECK(found && string_eq(s, "hello"));
  cfs_string_free(&s);
  /* The same op again is a duplicate. */
  CHECK_OK(cfs_store_apply(st, op, &outcome, NULL));
  CHECK(outcome == CFS_OUTCOME_DUPLICATE);

  /* An older write to the same key loses (last-write-wins). */
  older = make_op("greeting", "stale hello", CFS_VALUE_KIND_STRING);
  CHECK_OK(cfs_signed_op_set_timestamp(older, (uint64_t)time(NULL) * 1000 - 60000));
  CHECK_OK(cfs_signed_op_sign(older, kp, NULL));
  CHECK_OK(cfs_store_apply(st, older, &outcome, NULL));
  CHECK(outcome == CFS_OUTCOME_SUPERSEDED);
  CHECK_OK(cfs_store_get(st, key, strlen(key), &s, &found, NULL));
  CHECK(found && string_eq(s, "hello"));
  cfs_string_free(&s);

  /* JSON round trip keeps the signature valid. */
  CHECK_OK(cfs_signed_op_to_json(op, &json, NULL));
  CHECK(strstr(json.data, "\"signature\"") != NULL);
  CHECK_OK(cfs_signed_op_from_json(json.data, json.len, &copy, NULL));
  cfs_string_free(&json);
  CHECK_OK(cfs_store_apply(st, copy, &outcome, NULL));
  CHECK(outcome == CFS_OUTCOME_DUPLICATE);
  cfs_signed_op_free(copy);
  CHECK_RC(cfs_signed_op_from_json(S("{\"nope\":1}"), &copy, NULL), CFS_RESULT_INVALID_ARGUMENT);

  /* Refusals are typed errors and change nothing. */
  bad = make_op("greeting", "forged", CFS_VALUE_KIND_STRING);
  CHECK_OK(cfs_signed_op_sign(bad, other, NULL)); /* signed by a non-owner */
  CHECK_RC(cfs_store_apply(st, bad, &outcome, &err), CFS_RESULT_NOT_OWNER);
  CHECK(cfs_error_code(err) == CFS_RESULT_NOT_OWNER);
  cfs_error_free(err);
  err = NULL;
  CHECK_OK(cfs_signed_op_sign(bad, kp, NULL));
  CHECK_OK(cfs_signed_op_set_op_id(bad, S("changed-after-signing")));
  CHECK_RC(cfs_store_apply(st, bad, &outcome, NULL), CFS_RESULT_INVALID_SIGNATURE);
  CHECK_OK(cfs_signed_op_set_timestamp(bad, 1000));
  CHECK_OK(cfs_signed_op_sign(bad, kp, NULL));
  CHECK_RC(cfs_store_apply(st, bad, &outcome, NULL), CFS_RESULT_STALE);
  cfs_signed_op_free(bad);

  /* Signing elsewhere: the canonical message, then the signature. */
  {
    cfs_bytes msg = {NULL, 0};
    uint8_t sig[64];
    char sighex[129];
    int i;
    bad = make_op("external", "signed elsewhere", CFS_VALUE_KIND_STRING);
    CHECK_OK(cfs_signed_op_canonical_message(bad, &msg, NULL));
    CHECK_OK(cfs_keypair_sign(kp, msg.data, msg.len, sig, sizeof sig, NULL));
    cfs_bytes_free(&msg);
    for (i = 0; i < 64; i++) snprintf(sighex + 2 * i, 3, "%02x", sig[i]);
    CHECK_OK(cfs_signed_op_set_signature(bad, pkhex, 64, sighex, 128, NULL));
    CHECK_OK(cfs_store_apply(st, bad, &outcome, NULL));
    CHECK(outcome == CFS_OUTCOME_APPLIED);
    CHECK_RC(cfs_signed_op_set_signature(bad, pkhex, 64, S("abc"), NULL), CFS_RESULT_INVALID_ARGUMENT);
    cfs_signed_op_free(bad);
  }

  /* Many at once, each type, with per-op outcomes. */
  {
    cfs_signed_op *ops[7];
    cfs_outcome_list *l = NULL;
    size_t i;
    int all_applied = 1;
    ops[0] = make_op("profile", "ada", CFS_VALUE_KIND_HASH);
    CHECK_OK(cfs_signed_op_set_field(ops[0], S("name")));
    ops[1] = make_op("queue", "job1", CFS_VALUE_KIND_LIST);
    ops[2] = make_op("board", "ada", CFS_VALUE_KIND_SORTED_SET);
    CHECK_OK(cfs_signed_op_set_score(ops[2], 99));
    ops[3] = make_op("places", "home", CFS_VALUE_KIND_GEO);
    CHECK_OK(cfs_signed_op_set_position(ops[3], 13.4, 52.5));
    ops[4] = make_op("cpu", "0.5", CFS_VALUE_KIND_TIME_SERIES);
    CHECK_OK(cfs_signed_op_set_ts_timestamp(ops[4], 1000));
    ops[5] = make_op("events", "x", CFS_VALUE_KIND_STREAM);
    CHECK_OK(cfs_signed_op_add_stream_field(ops[5], S("temp"), S("21")));
    ops[6] = make_op("doc", "{\"a\":1}", CFS_VALUE_KIND_JSON);
    for (i = 0; i < 7; i++) CHECK_OK(cfs_signed_op_sign(ops[i], kp, NULL));
    CHECK_OK(cfs_store_apply_many(st, (const cfs_signed_op *const *)ops, 7, &l, NULL));
    CHECK(cfs_outcome_list_len(l) == 7);
    for (i = 0; i < 7; i++) {
      cfs_op_outcome o = cfs_outcome_list_get(l, i);
      if (o.outcome != CFS_OUTCOME_APPLIED) {
        all_applied = 0;
        fprintf(stderr, "op %zu: outcome %u code %u %.*s\n", i, (unsigned)o.outcome, (unsigned)o.code,
                (int)o.message.len, o.message.data ? o.message.data : "");
      }
    }
    CHECK(all_applied);
    cfs_outcome_list_free(l);
    {
      char k[160];
      double score = 0;
      snprintf(k, sizeof k, "%s:board", db);
      CHECK_OK(cfs_store_zscore(st, k, strlen(k), S("ada"), &score, &found, NULL));
      CHECK(found && score == 99);
    }
    /* Replay: all duplicates; a forged one rejected in its slot. */
    CHECK_OK(cfs_signed_op_set_op_id(ops[1], S("forged-op")));
    CHECK_OK(cfs_store_apply_many(st, (const cfs_signed_op *const *)ops, 7, &l, NULL));
    CHECK(cfs_outcome_list_get(l, 0).outcome == CFS_OUTCOME_DUPLICATE);
    CHECK(cfs_outcome_list_get(l, 1).outcome == CFS_OUTCOME_REJECTED);
    CHECK(cfs_outcome_list_get(l, 1).code == CFS_RESULT_INVALID_SIGNATURE);
    CHECK(cfs_outcome_list_get(l, 1).message.data != NULL);
    CHECK(cfs_outcome_list_get(l, 6).outcome == CFS_OUTCOME_DUPLICATE);
    CHECK(cfs_outcome_list_get(l, 6).code == CFS_RESULT_OK);
    cfs_outcome_list_free(l);

    /* With a completion callback. */
    {
      waiter w;
      cfs_signed_op *fresh[2];
      pthread_mutex_init(&w.mu, NULL);
      pthread_cond_init(&w.cv, NULL);
      w.done = 0;
      fresh[0] = make_op("async1", "a", CFS_VALUE_KIND_STRING);
      fresh[1] = make_op("async2", "b", CFS_VALUE_KIND_SET);
      CHECK_OK(cfs_signed_op_sign(fresh[0], kp, NULL));
      CHECK_OK(cfs_signed_op_sign(fresh[1], kp, NULL));
      CHECK_OK(cfs_store_apply_many_async(st, (const cfs_signed_op *const *)fresh, 2, on_outcomes, &w, NULL));
      cfs_signed_op_free(fresh[0]); /* copied before the call returned */
      cfs_signed_op_free(fresh[1]);
      wait_done(&w);
      CHECK(w.result == CFS_RESULT_OK && w.count == 2);
      CHECK(w.outcomes[0] == CFS_OUTCOME_APPLIED && w.outcomes[1] == CFS_OUTCOME_APPLIED);

      /* verify_many with a callback, on the store's verifier. */
      {
        uint8_t pk[32], sig[64];
        static const uint8_t m[] = "abc";
        cfs_verify_item items[2];
        CHECK_OK(cfs_keypair_public_key(kp, pk, 32, NULL));
        CHECK_OK(cfs_keypair_sign(kp, m, 3, sig, 64, NULL));
        items[0].public_key = pk;
        items[0].public_key_len = 32;
        items[0].message = m;
        items[0].message_len = 3;
        items[0].signature = sig;
        items[0].signature_len = 64;
        items[1] = items[0];
        items[1].message_len = 2;
        CHECK_OK(cfs_store_verify_many_async(st, items, 2, on_verdicts, &w, NULL));
        wait_done(&w);
        CHECK(w.result == CFS_RESULT_OK && w.verdicts_ok);
        {
          bool out[2] = {false, true};
          CHECK_OK(cfs_store_verify_many(st, items, 2, out, 2, NULL));
          CHECK(out[0] && !out[1]);
        }
      }
      pthread_mutex_destroy(&w.mu);
      pthread_cond_destroy(&w.cv);
    }
    for (i = 0; i < 7; i++) cfs_signed_op_free(ops[i]);
  }

  /* The log: every applied, superseded op is recorded once. */
  CHECK_OK(cfs_store_log_len(st, &n, NULL));
  CHECK(n == 12);
  {
    cfs_op_scan *sc = NULL;
    cfs_signed_op *o = NULL;
    uint64_t seen = 0;
    CHECK_OK(cfs_store_ops_since(st, 0, &sc, NULL));
    for (;;) {
      CHECK_OK(cfs_op_scan_next(sc, &o, NULL));
      if (!o) break;
      seen++;
      cfs_signed_op_free(o);
    }
    CHECK(seen == n);
    cfs_op_scan_free(sc);
  }
  {
    cfs_string stats = {NULL, 0};
    CHECK_OK(cfs_store_stats_json(st, &stats, NULL));
    CHECK(strstr(stats.data, "\"verify\"") != NULL && strstr(stats.data, "\"log_load\"") != NULL);
    cfs_string_free(&stats);
  }
  cfs_signed_op_free(op);
  cfs_signed_op_free(older);
  cfs_signed_op_free(NULL);
  cfs_keypair_free(kp);
  cfs_keypair_free(other);
}

int main(void) {
  char dir[256];
  cfs_store *st = NULL;
  test_keys();
  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_store_open(dir, strlen(dir), NULL, &st, NULL));
  if (st) {
    test_ops(st);
    cfs_store_free(st);
  }
  return check_finish();
}
