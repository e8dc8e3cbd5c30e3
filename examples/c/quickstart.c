/* cyberfly_store from C: open a store, write and read values of a few types,
 * and close it.
 *
 * Build against an installed library (scripts/install-c):
 *   cc -std=c99 quickstart.c $(pkg-config --cflags --libs cyberfly_store) -o quickstart
 * Run:
 *   ./quickstart /tmp/quickstart-store
 */
#include <stdio.h>
#include <string.h>

#include <cyberfly_store.h>

/* A string literal as the (pointer, length) pair the API takes. */
#define S(lit) (lit), (sizeof(lit) - 1)

/* Print a failed call's error and free it. */
static int fail(const char *what, cfs_result r, cfs_error *err) {
  fprintf(stderr, "%s failed: code %u: %s\n", what, (unsigned)r, cfs_error_message(err));
  cfs_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "quickstart-store";
  cfs_config *config = NULL;
  cfs_store *store = NULL;
  cfs_error *err = NULL;
  cfs_result r;
  cfs_string value = {NULL, 0};
  bool found = false;
  cfs_str keys[2];
  cfs_str_list *values = NULL;
  cfs_scored players[2];
  cfs_scored_list *board = NULL;
  size_t i;

  printf("cyberfly_store %s (header %s)\n", cfs_version(), CYBERFLY_STORE_VERSION);

  /* Options: every field of the Rust Config has a setter. */
  cfs_config_new(&config);
  cfs_config_set_durability(config, CFS_DURABILITY_SYNC);
  cfs_config_set_hot_cache_bytes(config, 16u << 20);
  r = cfs_store_open(path, strlen(path), config, &store, &err);
  cfs_config_free(config); /* the store keeps its own copy */
  if (r != CFS_RESULT_OK) return fail("open", r, err);

  /* Strings. */
  r = cfs_store_set(store, S("mydb:greeting"), S("hello"), &err);
  if (r != CFS_RESULT_OK) return fail("set", r, err);
  r = cfs_store_get(store, S("mydb:greeting"), &value, &found, &err);
  if (r != CFS_RESULT_OK) return fail("get", r, err);
  if (found) printf("mydb:greeting = %s\n", value.data);
  cfs_string_free(&value);

  /* Many at once: absent keys come back with data == NULL. */
  keys[0].data = "mydb:greeting";
  keys[0].len = strlen(keys[0].data);
  keys[1].data = "mydb:nothing";
  keys[1].len = strlen(keys[1].data);
  r = cfs_store_get_many(store, keys, 2, &values, &err);
  if (r != CFS_RESULT_OK) return fail("get_many", r, err);
  for (i = 0; i < cfs_str_list_len(values); i++) {
    cfs_str v = cfs_str_list_get(values, i);
    printf("  %.*s -> %s\n", (int)keys[i].len, keys[i].data, v.data ? v.data : "(absent)");
  }
  cfs_str_list_free(values);

  /* A sorted set. */
  players[0].member.data = "ada";
  players[0].member.len = 3;
  players[0].score = 42;
  players[1].member.data = "bob";
  players[1].member.len = 3;
  players[1].score = 7;
  r = cfs_store_zadd(store, S("mydb:board"), players, 2, NULL, &err);
  if (r != CFS_RESULT_OK) return fail("zadd", r, err);
  r = cfs_store_zrange(store, S("mydb:board"), 0, -1, &board, &err);
  if (r != CFS_RESULT_OK) return fail("zrange", r, err);
  for (i = 0; i < cfs_scored_list_len(board); i++) {
    cfs_scored s = cfs_scored_list_get(board, i);
    printf("  %s: %g\n", s.member.data, s.score);
  }
  cfs_scored_list_free(board);

  /* Errors are codes plus a message. */
  r = cfs_store_get(store, S("mydb:board"), &value, &found, &err);
  if (r == CFS_RESULT_WRONG_TYPE) {
    printf("expected error: %s\n", cfs_error_message(err));
    cfs_error_free(err);
    err = NULL;
  }

  r = cfs_store_close(store, &err);
  cfs_store_free(store);
  if (r != CFS_RESULT_OK) return fail("close", r, err);
  return 0;
}
