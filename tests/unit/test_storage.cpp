#include <sqlite3.h>

#include <cstdio>
#include <fstream>

#include "platform/files.h"
#include "storage/store.h"
#include "test_util.h"
#include "unit_test.h"

using co::storage::Stmt;
using co::storage::Store;

static int user_version(const std::string &path) {
  sqlite3 *db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt *st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  sqlite3_step(st);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

UNIT_TEST(new_store_has_current_schema) {
  test::TempDir dir;
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_true(s.open(dir.path + "/db", 256, log, err));
  {
    Stmt q(s, "PRAGMA journal_mode");
    assert_true(q.step());
    assert_string_equal(q.text(0).c_str(), "wal");
  }
  {
    Stmt q(s, "PRAGMA synchronous");
    assert_true(q.step());
    assert_int_equal(q.int64(0), 1);  // NORMAL
  }
  {
    // Small pages: a commit writes whole pages to the WAL (flash wear).
    Stmt q(s, "PRAGMA page_size");
    assert_true(q.step());
    assert_int_equal(q.int64(0), 512);
  }
  {
    Stmt q(s, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name='events_time'");
    assert_true(q.step());
    assert_int_equal(q.int64(0), 0);
  }
  s.close();
  assert_int_equal(user_version(dir.path + "/db"), co::storage::schema_version());
}

// Builds a database at every earlier version (0 = an empty file) and checks
// that opening migrates it forward and keeps the rows it had.
UNIT_TEST(migrates_from_every_earlier_version) {
  co::platform::Logger log;
  for (int from = 0; from < co::storage::schema_version(); ++from) {
    test::TempDir dir;
    std::string path = dir.path + "/db";
    sqlite3 *db = nullptr;
    assert_int_equal(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    for (int v = 1; v <= from; ++v) {
      assert_int_equal(sqlite3_exec(db, co::storage::migration_sql(v), nullptr, nullptr, nullptr), SQLITE_OK);
    }
    std::string set = "PRAGMA user_version=" + std::to_string(from);
    sqlite3_exec(db, set.c_str(), nullptr, nullptr, nullptr);
    if (from >= 1) sqlite3_exec(db, "INSERT INTO meta VALUES('user_id','kept')", nullptr, nullptr, nullptr);
    sqlite3_close(db);

    Store s;
    std::string err;
    assert_true(s.open(path, 256, log, err));
    assert_true(s.moved_aside().empty());
    if (from >= 1) {
      std::string v;
      assert_true(s.get_meta("user_id", v));
      assert_string_equal(v.c_str(), "kept");
    }
    {
      Stmt q(s, "SELECT count(*) FROM views");  // the newest table exists
      assert_true(q.step());
    }
    s.close();
    assert_int_equal(user_version(path), co::storage::schema_version());
  }
}

// Version 4 turns the outbox table into a cursor and drops AUTOINCREMENT: the
// queued events stay queued, and sequence numbers keep rising past any that
// AUTOINCREMENT had handed out and that were since deleted.
UNIT_TEST(outbox_becomes_a_cursor) {
  co::platform::Logger log;
  test::TempDir dir;
  std::string path = dir.path + "/db";
  sqlite3 *db = nullptr;
  assert_int_equal(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  for (int v = 1; v <= 3; ++v) {
    assert_int_equal(sqlite3_exec(db, co::storage::migration_sql(v), nullptr, nullptr, nullptr), SQLITE_OK);
  }
  const char *rows =
      "PRAGMA user_version=3;"
      "INSERT INTO events(event_id,epoch,name,time_ms,mono_ms,boot_id,session_id,properties)"
      "  VALUES('a',1,'A',1,1,'b','s','{}'),('b',1,'B',2,2,'b','s','{}'),('c',1,'C',3,3,'b','s','{}'),"
      "  ('d',1,'D',4,4,'b','s','{}'),('e',1,'E',5,5,'b','s','{}'),('f',1,'F',6,6,'b','s','{}');"
      "DELETE FROM events WHERE seq=6;"
      "INSERT INTO outbox VALUES(4),(5);";
  assert_int_equal(sqlite3_exec(db, rows, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  Store s;
  std::string err;
  assert_true(s.open(path, 256, log, err));
  std::string v;
  assert_true(s.get_meta("sent_seq", v));
  assert_string_equal(v.c_str(), "3");
  assert_true(s.get_meta("seq_floor", v));
  assert_string_equal(v.c_str(), "6");
  {
    Stmt q(s, "SELECT count(*), max(seq) FROM events");
    assert_true(q.step());
    assert_int_equal(q.int64(0), 5);
    assert_int_equal(q.int64(1), 5);
  }
  {
    // No outbox table, and no AUTOINCREMENT row written with every insert.
    Stmt q(s, "SELECT (SELECT count(*) FROM sqlite_master WHERE name='outbox'), (SELECT count(*) FROM sqlite_sequence)");
    assert_true(q.step());
    assert_int_equal(q.int64(0), 0);
    assert_int_equal(q.int64(1), 0);
  }
}

// Transactions nest: an inner step that fails undoes only itself; the outer
// commit makes the rest one unit, and an outer rollback undoes the inner
// steps that succeeded.
UNIT_TEST(transactions_nest) {
  test::TempDir dir;
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_true(s.open(dir.path + "/db", 256, log, err));
  auto value = [&](const char *key) {
    std::string v;
    return s.get_meta(key, v) ? v : std::string("-");
  };
  assert_true(s.begin());
  assert_true(s.set_meta("a", "1"));
  assert_true(s.begin());
  assert_true(s.set_meta("b", "2"));
  s.rollback();  // the inner step only
  assert_true(s.begin());
  assert_true(s.set_meta("c", "3"));
  assert_true(s.commit());
  assert_true(s.in_transaction());
  assert_true(s.commit());
  assert_false(s.in_transaction());
  assert_string_equal(value("a").c_str(), "1");
  assert_string_equal(value("b").c_str(), "-");
  assert_string_equal(value("c").c_str(), "3");

  assert_true(s.begin());
  assert_true(s.begin());
  assert_true(s.set_meta("d", "4"));
  assert_true(s.commit());
  s.rollback();  // the outer one takes the committed inner step with it
  assert_false(s.in_transaction());
  assert_string_equal(value("d").c_str(), "-");
  assert_false(s.commit());  // nothing open
}

UNIT_TEST(corrupt_file_is_moved_aside) {
  test::TempDir dir;
  std::string path = dir.path + "/db";
  {
    std::ofstream f(path);
    f << "this is not a database, it is a text file that someone put here";
  }
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_true(s.open(path, 256, log, err));
  assert_false(s.moved_aside().empty());
  assert_true(co::platform::file_exists(s.moved_aside()));
  assert_true(s.set_meta("k", "v"));
}

UNIT_TEST(corrupt_pages_are_detected) {
  test::TempDir dir;
  std::string path = dir.path + "/db";
  co::platform::Logger log;
  {
    Store s;
    std::string err;
    assert_true(s.open(path, 256, log, err));
    s.exec("BEGIN");
    for (int i = 0; i < 2000; ++i) {
      std::string sql = "INSERT INTO meta VALUES('k" + std::to_string(i) + "','" + std::string(100, 'x') + "')";
      s.exec(sql.c_str());
    }
    s.exec("COMMIT");
    s.checkpoint();
  }
  // Overwrite page 3 onwards with garbage.
  FILE *f = fopen(path.c_str(), "r+b");
  assert_non_null(f);
  fseek(f, 4096 * 2, SEEK_SET);
  for (int i = 0; i < 4096 * 3; ++i) fputc(0xA5, f);
  fclose(f);
  Store s;
  std::string err;
  assert_true(s.open(path, 256, log, err));
  assert_false(s.moved_aside().empty());
  std::string v;
  assert_false(s.get_meta("k1", v));  // never serves data from the broken file
}

UNIT_TEST(newer_schema_is_refused) {
  test::TempDir dir;
  std::string path = dir.path + "/db";
  sqlite3 *db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_false(s.open(path, 256, log, err));
  assert_non_null(strstr(err.c_str(), "newer"));
}

UNIT_TEST(meta_round_trip) {
  test::TempDir dir;
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_true(s.open(dir.path + "/db", 256, log, err));
  std::string v;
  assert_false(s.get_meta("a", v));
  assert_true(s.set_meta("a", "1"));
  assert_true(s.set_meta("a", "2"));
  assert_true(s.get_meta("a", v));
  assert_string_equal(v.c_str(), "2");
}
