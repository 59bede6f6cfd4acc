// Event properties stored dense (storage/props.h, props_codec.h): the coder
// round-trips anything and refuses a damaged stream; the store writes events
// of one name against a dictionary, reads them back as they were given (also
// rows written as text before, and after reopening), and no event's text
// outlives the history in a dictionary.
#include <sqlite3.h>

#include <random>

#include "storage/events.h"
#include "storage/props_codec.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::storage::EventRow;
using co::storage::Stmt;
using co::storage::Store;
namespace codec = co::storage::codec;

namespace {

// An event the size of a Direct API content event (~500 bytes), varying like one.
std::string content_props(int i) {
  return "{\"video_id\":\"vid_" + std::to_string(100000 + i * 7919 % 900000) +
         "\",\"title\":\"Highlights: Premier League Week " + std::to_string(1 + i % 38) +
         ", Arsenal v Chelsea (extended)\",\"categories\":[\"football\",\"" + (i % 2 ? "news" : "sport") +
         "\",\"highlights\"],\"duration_seconds\":" + std::to_string(600 + i % 3000) +
         ",\"series\":\"Match of the Day\",\"season\":" + std::to_string(1 + i % 9) +
         ",\"episode\":" + std::to_string(1 + i % 24) +
         ",\"channel\":\"Sports One HD\",\"provider\":\"Acme Broadcasting Group\",\"genre\":\"sport\","
         "\"rating\":\"PG\",\"language\":\"en-GB\",\"resolution\":\"1080p\",\"live\":false,"
         "\"device\":{\"type\":\"ctv\",\"manufacturer\":\"Acme\",\"model\":\"X900H-55\",\"os\":\"Linux 5.10\","
         "\"app_version\":\"4.2.1\",\"screen\":\"3840x2160\",\"connection\":\"wifi\"}}";
}

bool add(Store &s, int64_t seq, const std::string &name, const std::string &props, int64_t time_ms = 1000) {
  EventRow r;
  r.seq = seq;
  r.event_id = "00000000-0000-4000-8000-000000000000";
  r.epoch = 1;
  r.name = name;
  r.time_ms = time_ms;
  r.session_id = "00000000-0000-4000-8000-000000000001";
  r.properties = props;
  return co::storage::insert_event(s, r);
}

// seq -> properties, as the history reads them.
std::vector<std::string> history(Store &s) {
  std::vector<std::string> out;
  assert_true(co::storage::read_history(s, 1, "", 0, 100000, [&](const Stmt &q) {
    out.insert(out.begin(), q.text(6));
    return true;
  }));
  return out;
}

int64_t scalar(Store &s, const char *sql) {
  Stmt q(s, sql);
  assert_true(q.step());
  return q.int64(0);
}

std::string random_bytes(std::mt19937 &rng, size_t n, int alphabet) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + rng() % static_cast<unsigned>(alphabet));
  return s;
}

}  // namespace

UNIT_TEST(codec_round_trips_anything) {
  std::mt19937 rng(25);
  for (int round = 0; round < 300; ++round) {
    // Small alphabets make long and overlapping matches; large ones, literal runs.
    int alphabet = 1 + static_cast<int>(rng() % 200);
    std::string dict = random_bytes(rng, rng() % 600, alphabet);
    std::string in = random_bytes(rng, rng() % 3000, alphabet);
    if (round % 3 == 0 && !dict.empty()) in = dict.substr(rng() % dict.size()) + in;
    std::string enc, dec;
    codec::compress(dict, in, enc);
    assert_true(codec::decompress(dict, enc, dec, in.size()));
    assert_true(dec == in);
  }
  std::string enc, dec;
  codec::compress("", "", enc);
  assert_true(enc.empty());
  assert_true(codec::decompress("", enc, dec, 0));
  assert_true(dec.empty());
}

UNIT_TEST(codec_refuses_a_damaged_stream) {
  std::string dict = content_props(0), in = content_props(1), enc, dec;
  codec::compress(dict, in, enc);
  assert_true(codec::decompress(dict, enc, dec, in.size()));
  assert_false(codec::decompress(dict, enc, dec, in.size() - 1));  // more than allowed
  std::string literal_past_end(
      "\x05"
      "ab",
      3);
  assert_false(codec::decompress("", literal_past_end, dec, 100));
  // The first match's previous distance is the dictionary's size: the
  // dictionary's start, or nothing for an empty one.
  assert_true(codec::decompress("abcd", std::string("\x80", 1), dec, 100));
  assert_string_equal(dec.c_str(), "abcd");
  assert_false(codec::decompress("", std::string("\x80", 1), dec, 100));
  std::string distance_zero("\xc0\x07", 2);  // 4 - 4
  assert_false(codec::decompress("abcd", distance_zero, dec, 100));
  std::string distance_too_far("\xc0\x02", 2);  // 4 + 1
  assert_false(codec::decompress("abcd", distance_too_far, dec, 100));
  std::string truncated_distance("\xc0\x85", 2);
  assert_false(codec::decompress("abcd", truncated_distance, dec, 100));
  assert_true(codec::decompress("abcd", std::string("\xc0\x01", 2) + "\x80", dec, 100));  // 4 - 1, then again
  assert_string_equal(dec.c_str(), "bcdbcdbc");  // overlapping: each copies what it writes
  // The first format: every match with its distance.
  assert_false(codec::decompress_v1("abcd", std::string("\x80\x00", 2), dec, 100));
  assert_false(codec::decompress_v1("abcd", std::string("\x80\x05", 2), dec, 100));
  assert_false(codec::decompress_v1("abcd", std::string("\x80\x85", 2), dec, 100));
  assert_true(codec::decompress_v1("abcd", std::string("\x80\x04", 2), dec, 100));
  assert_string_equal(dec.c_str(), "abcd");
}

// Against an earlier event of the same shape, a content event takes a small
// fraction of its text.
UNIT_TEST(similar_events_encode_small) {
  std::string dict = content_props(0);
  for (int i = 1; i < 50; ++i) {
    std::string in = content_props(i), enc;
    codec::compress(dict, in, enc);
    assert_true(enc.size() * 4 < in.size());
  }
}

// Stored, reopened, read back: each event's properties as given, the small
// ones and the ones of other names included; the content events as blobs.
UNIT_TEST(events_read_back_as_given) {
  test::StoreFixture f;
  std::vector<std::string> given;
  for (int i = 0; i < 40; ++i) {
    std::string props = i % 5 == 4 ? "{\"q\":" + std::to_string(i) + "}" : content_props(i);
    given.push_back(props);
    assert_true(add(f.store, i + 1, i % 3 ? "Videoview" : "PageView", props));
  }
  assert_true(history(f.store) == given);
  assert_true(scalar(f.store, "SELECT count(*) FROM events WHERE typeof(properties)='blob'") >= 30);
  assert_int_equal(scalar(f.store, "SELECT count(DISTINCT name) FROM props_dicts"), 2);
  f.store.close();
  std::string err;
  assert_true(f.store.open(f.dir.path + "/db", 256, f.log, err));
  assert_true(history(f.store) == given);
  // After reopening, new events go on using the stored dictionaries.
  assert_true(add(f.store, 41, "Videoview", content_props(41)));
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 2);
  given.push_back(content_props(41));
  assert_true(history(f.store) == given);
}

// Flash: ~500-byte events' rows fit about four to a 512-byte page (three
// with every match's distance written out), instead of one page and an
// overflow page each.
UNIT_TEST(content_events_take_about_a_quarter_of_a_page) {
  test::StoreFixture f;
  assert_true(add(f.store, 1, "Videoview", content_props(0)));
  int64_t before = scalar(f.store, "PRAGMA page_count");
  for (int i = 1; i <= 120; ++i) assert_true(add(f.store, i + 1, "Videoview", content_props(i)));
  int64_t pages = scalar(f.store, "PRAGMA page_count") - before;
  assert_true(pages * 35 <= 120 * 10);  // 3.5 rows a page or more
}

// Rows written with the first stream format (no leading 0: the dictionary's
// id, then every match with its distance) read as they were.
UNIT_TEST(blobs_of_the_first_format_read_as_they_were) {
  test::StoreFixture f;
  std::string text = content_props(0);
  assert_true(add(f.store, 1, "Videoview", text));  // its dictionary is its own text: id 1
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM events WHERE hex(substr(properties,1,1))='00'"), 1);
  std::string v1 = "\x01";  // the id, then the whole text as matches at the dictionary's size
  for (size_t done = 0; done < text.size();) {
    size_t len = std::min<size_t>(text.size() - done, 131);
    if (len < 4) {
      v1 += static_cast<char>(len - 1);
      v1.append(text, done, len);
    } else {
      v1 += static_cast<char>(0x80 | (len - 4));
      co::storage::codec::put_varint(v1, text.size());
    }
    done += len;
  }
  Stmt ins(f.store,
           "INSERT INTO events(seq,event_id,epoch,name,time_ms,mono_ms,boot,session_id,properties)"
           " VALUES(2,x'00',1,'Videoview',1,1,1,x'01',?)");
  ins.bind_blob(1, v1);
  assert_true(co::storage::run(ins));
  std::vector<std::string> want{text, text};
  assert_true(history(f.store) == want);
}

// A database of the previous version keeps its text rows, read as they
// were, beside the dense ones written after the upgrade.
UNIT_TEST(text_rows_from_before_read_as_they_were) {
  test::TempDir dir;
  std::string path = dir.path + "/db";
  sqlite3 *db = nullptr;
  assert_int_equal(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  for (int v = 1; v < co::storage::schema_version(); ++v) {
    assert_int_equal(sqlite3_exec(db, co::storage::migration_sql(v), nullptr, nullptr, nullptr), SQLITE_OK);
  }
  std::string old = content_props(3);
  std::string rows = "PRAGMA user_version=" + std::to_string(co::storage::schema_version() - 1) +
                     ";INSERT INTO events(seq,event_id,epoch,name,time_ms,mono_ms,boot,session_id,properties)"
                     " VALUES(1,x'00',1,'Videoview',1,1,1,x'01','" +
                     old + "');";
  assert_int_equal(sqlite3_exec(db, rows.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  co::platform::Logger log;
  Store s;
  std::string err;
  assert_true(s.open(path, 256, log, err));
  assert_true(add(s, 2, "Videoview", content_props(4)));
  std::vector<std::string> want{old, content_props(4)};
  assert_true(history(s) == want);
  assert_int_equal(scalar(s, "SELECT count(*) FROM events WHERE typeof(properties)='text'"), 1);
}

// A dictionary holds an event's text: it goes once no event in the history
// refers to it, and a consent withdrawal takes every one; the next event of
// that name starts a new dictionary from its own text.
UNIT_TEST(dictionaries_do_not_outlive_the_history) {
  test::StoreFixture f;
  for (int i = 0; i < 5; ++i) assert_true(add(f.store, i + 1, "Videoview", content_props(i), 1000 + i));
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 1);
  int64_t deleted = 0;
  assert_true(co::storage::evict_older_than(f.store, 1002, 1, 5, deleted) && co::storage::sweep_dicts(f.store));
  assert_int_equal(deleted, 2);
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 1);  // still referred to
  assert_true(co::storage::evict_older_than(f.store, 9999, 1, 5, deleted) && co::storage::sweep_dicts(f.store));
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 0);
  assert_true(add(f.store, 6, "Videoview", content_props(6)));
  {
    Stmt q(f.store, "SELECT dict FROM props_dicts");
    assert_true(q.step());
    assert_string_equal(q.text(0).c_str(), content_props(6).c_str());
  }
  assert_true(co::storage::purge_behavioral(f.store, 6));
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 0);
  assert_true(add(f.store, 7, "Videoview", content_props(7)));
  std::vector<std::string> want{content_props(7)};
  assert_true(history(f.store) == want);
}

// An eviction by age reads one range of seqs (a chunk of the agent's
// retention pass): old events outside it stay, and the dictionaries stay
// until the caller sweeps them.
UNIT_TEST(eviction_by_age_takes_one_range_of_seqs) {
  test::StoreFixture f;
  for (int i = 0; i < 5; ++i) assert_true(add(f.store, i + 1, "Videoview", content_props(i), 1000 + i));
  int64_t deleted = 0;
  assert_true(co::storage::evict_older_than(f.store, 9999, 2, 3, deleted));
  assert_int_equal(deleted, 2);
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM events WHERE seq IN (1,4,5)"), 3);
  int64_t next = 0;
  assert_true(co::storage::first_seq_from(f.store, 2, next));
  assert_int_equal(next, 4);
  assert_true(co::storage::first_seq_from(f.store, 6, next));
  assert_int_equal(next, 0);
  assert_true(co::storage::evict_older_than(f.store, 9999, 1, 5, deleted));
  assert_int_equal(deleted, 3);
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 1);
  assert_true(co::storage::sweep_dicts(f.store));
  assert_int_equal(scalar(f.store, "SELECT count(*) FROM props_dicts"), 0);
}
