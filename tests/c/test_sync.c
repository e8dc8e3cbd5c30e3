/* Replication from C: serve a store to one allowed peer, pull from it once
 * (with progress) and continuously, a peer not allowed is refused, bad
 * peers and NULL handles. Three stores in one process on loopback.
 * Connecting waits up to CONNECT_MS: under valgrind (and a loaded machine)
 * a QUIC handshake can take longer than the default 10 s. */
#include "check.h"

#include <time.h>

#define CONNECT_MS 120000

static uint64_t progress_seen = 0;

static void on_progress(void *userdata, const cfs_sync_report *r) {
  *(uint64_t *)userdata = r->received;
}

static void write_ops(cfs_store *st, const char *db, int n) {
  cfs_keypair *kp = NULL;
  int i;
  CHECK_OK(cfs_keypair_from_secret_hex(S("0707070707070707070707070707070707070707070707070707070707070707"), &kp, NULL));
  for (i = 0; i < n; i++) {
    char key[32];
    cfs_signed_op *op = NULL;
    snprintf(key, sizeof key, "item%d", i);
    CHECK_OK(cfs_signed_op_new(db, strlen(db), key, strlen(key), S("value"), CFS_VALUE_KIND_STRING, &op, NULL));
    CHECK_OK(cfs_signed_op_sign(op, kp, NULL));
    CHECK_OK(cfs_store_apply(st, op, NULL, NULL));
    cfs_signed_op_free(op);
  }
  cfs_keypair_free(kp);
}

int main(void) {
  char da[256], dbdir[256], dc[256], db[128];
  cfs_store *a = NULL, *b = NULL, *c = NULL;
  cfs_sync_server *server = NULL;
  cfs_sync_handle *h = NULL;
  cfs_string ticket = {0}, address = {0}, d1 = {0}, d2 = {0}, b_id = {0};
  cfs_sync_report r;
  cfs_error *err = NULL;
  cfs_keypair *kp = NULL;
  char pk[65];

  CHECK(make_tmpdir(da, sizeof da));
  CHECK(make_tmpdir(dbdir, sizeof dbdir));
  CHECK(make_tmpdir(dc, sizeof dc));
  CHECK_OK(cfs_store_open(da, strlen(da), NULL, &a, NULL));
  CHECK_OK(cfs_store_open(dbdir, strlen(dbdir), NULL, &b, NULL));
  CHECK_OK(cfs_store_open(dc, strlen(dc), NULL, &c, NULL));
  if (!a || !b || !c) return check_finish();
  CHECK_OK(cfs_keypair_from_secret_hex(S("0707070707070707070707070707070707070707070707070707070707070707"), &kp, NULL));
  CHECK_OK(cfs_keypair_public_key_hex(kp, pk, sizeof pk, NULL));
  cfs_keypair_free(kp);
  snprintf(db, sizeof db, "ctest-%s", pk);
  write_ops(a, db, 20);

  /* Served to b alone. */
  CHECK_OK(cfs_store_sync_node_id(b, &b_id, NULL));
  CHECK(b_id.len == 64);
  CHECK_OK(cfs_store_serve(a, S("127.0.0.1:0"), b_id.data, b_id.len, &server, NULL));
  CHECK_OK(cfs_sync_server_ticket(server, &ticket, NULL));
  CHECK_OK(cfs_sync_server_address(server, &address, NULL));
  CHECK(ticket.len > 0 && address.len > 0 && strchr(address.data, '@') != NULL);

  memset(&r, 0, sizeof r);
  CHECK_OK(cfs_store_sync_from(b, ticket.data, ticket.len, S("127.0.0.1:0"), CONNECT_MS,
                               on_progress, &progress_seen, &r, &err));
  if (err) {
    fprintf(stderr, "sync_from: %s\n", cfs_error_message(err));
    cfs_error_free(err);
    err = NULL;
  }
  CHECK(r.received == 20 && r.applied == 20 && r.forged == 0 && r.watermark == 20);
  CHECK(progress_seen == 20);
  CHECK_OK(cfs_store_state_digest(a, &d1, NULL));
  CHECK_OK(cfs_store_state_digest(b, &d2, NULL));
  CHECK(d1.len == d2.len && memcmp(d1.data, d2.data, d1.len) == 0);
  cfs_string_free(&d1);
  cfs_string_free(&d2);

  /* The {node id}@ip:port form works too; nothing new arrives. */
  CHECK_OK(cfs_store_sync_from(b, address.data, address.len, S("127.0.0.1:0"), CONNECT_MS, NULL,
                               NULL, &r, NULL));
  CHECK(r.received == 0);

  /* c is not allowed: refused, nothing applied. */
  CHECK_OK(cfs_store_state_digest(c, &d1, NULL));
  CHECK_RC(cfs_store_sync_from(c, ticket.data, ticket.len, S("127.0.0.1:0"), CONNECT_MS, NULL,
                               NULL, NULL, &err),
           CFS_RESULT_IO);
  CHECK(err != NULL && strstr(cfs_error_message(err), "not allowed") != NULL);
  cfs_error_free(err);
  err = NULL;
  CHECK_OK(cfs_store_state_digest(c, &d2, NULL));
  CHECK(d1.len == d2.len && memcmp(d1.data, d2.data, d1.len) == 0);
  cfs_string_free(&d1);
  cfs_string_free(&d2);

  /* Continuous: new writes on a reach b. */
  CHECK_OK(cfs_store_sync_start(b, ticket.data, ticket.len, S("127.0.0.1:0"), CONNECT_MS, &h, NULL));
  write_ops(a, db, 25); /* item0..19 again (new ops) and 5 more */
  {
    int tries;
    for (tries = 0; tries < 12000; tries++) { /* up to 120 s */
      struct timespec ts = {0, 10 * 1000 * 1000};
      CHECK_OK(cfs_sync_handle_report(h, &r, NULL));
      if (r.watermark >= 45) break;
      nanosleep(&ts, NULL);
    }
  }
  CHECK_OK(cfs_sync_handle_stop(h, &r, NULL));
  CHECK(r.watermark == 45 && r.applied == 25);
  CHECK_OK(cfs_sync_handle_stop(h, NULL, NULL)); /* twice is fine */
  cfs_sync_handle_free(h);

  /* Bad input. */
  CHECK_RC(cfs_store_sync_from(b, S("not a peer"), NULL, 0, 0, NULL, NULL, NULL, &err), CFS_RESULT_INVALID_ARGUMENT);
  CHECK(err != NULL && cfs_error_code(err) == CFS_RESULT_INVALID_ARGUMENT);
  cfs_error_free(err);
  CHECK_RC(cfs_store_serve(a, S("not an address"), NULL, 0, &server, NULL), CFS_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cfs_store_serve(a, S("127.0.0.1:0"), S("not-a-node-id"), &server, NULL), CFS_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cfs_store_sync_node_id(NULL, &b_id, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_sync_server_ticket(NULL, &ticket, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_sync_start(b, S("x"), NULL, 0, 0, NULL, NULL), CFS_RESULT_NULL_POINTER);
  cfs_sync_server_free(NULL);
  cfs_sync_handle_free(NULL);

  cfs_string_free(&ticket);
  cfs_string_free(&address);
  cfs_string_free(&b_id);
  cfs_sync_server_free(server);
  cfs_store_free(a);
  cfs_store_free(b);
  cfs_store_free(c);
  return check_finish();
}
