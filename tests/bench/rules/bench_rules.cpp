// Rule engine benchmarks. Prints:
//  - per-event cost (observe + poll) with 200 realistic cohorts over 10k events
//    of history: p50 / p99, each call timed on its own; then the same with 50
//    modeled cohorts (logistic models of six features) beside them, and what
//    they add;
//  - the naive way for comparison: the history in SQLite and one SQL query per
//    cohort re-run after each event, and the ratio;
//  - look-back of 100 cohorts over 50k events;
//  - bytes of saved state per cohort.
#include <benchmark/benchmark.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rules/engine.h"

using co::rules::Engine;
using co::rules::Event;
using co::rules::LoadReport;
using co::rules::Now;

namespace {

constexpr int64_t kT0 = 1704067200000;
const char *const kCategories[] = {"football", "tennis", "news",  "drama", "comedy", "kids",  "cooking", "travel",
                                   "f1",       "golf",   "music", "docs",  "crime",  "scifi", "history", "nature"};
const char *const kGenres[] = {"sport", "news", "drama", "comedy", "kids", "lifestyle"};

struct StoredEvent {
  int64_t seq, time_ms;
  std::string name, session, view, props_text;
  cJSON *props;
  Event event() const { return Event{seq, time_ms, name, session, view, props}; }
};

// A TV day: sessions of views (play, completion) with the odd page or ad event.
std::vector<StoredEvent> make_history(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<StoredEvent> out;
  int64_t t = kT0;
  int session = 0, view = 0;
  while (static_cast<int>(out.size()) < n) {
    t += static_cast<int64_t>(rng() % 120) * 1000 + 1000;
    if (rng() % 40 == 0) {
      ++session;
      t += 3 * 3600 * 1000;
    }
    std::string s = "s" + std::to_string(session);
    int kind = static_cast<int>(rng() % 10);
    std::string name, v, props;
    const char *cat = kCategories[rng() % 16];
    const char *genre = kGenres[rng() % 6];
    if (kind < 4) {
      name = "Videoview";
      v = "v" + std::to_string(++view);
      props = std::string("{\"categories\":[\"") + cat + "\",\"" + kCategories[rng() % 16] + "\"],\"genre\":\"" +
              genre + "\",\"duration\":" + std::to_string(rng() % 3600) + "}";
    } else if (kind < 7) {
      name = "VideoCompletion";
      v = "v" + std::to_string(view);
      props = "{\"time_spent_seconds\":" + std::to_string(rng() % 2400) +
              ",\"percentage_watched\":" + std::to_string((rng() % 100) / 100.0) + "}";
    } else {
      name = kind == 7 ? "PageView" : kind == 8 ? "AdImpression" : "Search";
      props = std::string("{\"section\":\"") + genre + "\",\"value\":" + std::to_string(rng() % 50) + "}";
    }
    out.push_back({static_cast<int64_t>(out.size() + 1), t, name, s, v, props, cJSON_Parse(props.c_str())});
  }
  return out;
}

void free_history(std::vector<StoredEvent> *h) {
  for (StoredEvent &e : *h) cJSON_Delete(e.props);
  h->clear();
}

// 200 cohorts in the shapes a CTV publisher writes, with the SQL that a naive
// implementation would run for each.
struct Cohorts {
  std::string json;
  std::vector<std::string> sql;
};

Cohorts make_cohorts(int n) {
  Cohorts c;
  c.json = "{\"cohorts\":[";
  for (int i = 0; i < n; ++i) {
    const char *cat = kCategories[i % 16];
    const char *genre = kGenres[i % 6];
    std::string rule, sql;
    switch (i % 8) {
      case 0:
      case 1:
        rule =
            std::string(
                R"({"logic":"AND","conditions":[{"type":"event","event_type":"Videoview","where":[{"property":"categories","operator":"contains","value":")") +
            cat + R"("}],"operator":"gte","value":)" + std::to_string(2 + i % 5) + R"(,"window_days":30}]})";
        sql = std::string("SELECT count(*) >= ") + std::to_string(2 + i % 5) +
              " FROM events, json_each(events.props, '$.categories') j WHERE name='Videoview' AND time > :now - "
              "30*86400000 AND j.value='" +
              cat + "'";
        break;
      case 2: {
        // Completion thresholds from 30% to 70%: one accumulator, five decisions.
        std::string pct = std::to_string(3 + i / 8 % 5) + "0";
        rule =
            std::string(
                R"({"logic":"AND","conditions":[{"type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"avg","operator":"gte","value":0.)") +
            pct + R"(,"window_days":7}]})";
        sql = "SELECT avg(json_extract(props,'$.percentage_watched')) >= 0." + pct +
              " FROM events WHERE name='VideoCompletion' AND time > :now - 7*86400000";
        break;
      }
      case 3:
        rule =
            std::string(
                R"({"logic":"OR","conditions":[{"type":"recency","event_type":"Videoview","where":[{"property":"genre","operator":"eq","value":")") +
            genre + R"("}],"operator":"gt","window_days":14}]})";
        sql = std::string(
                  "SELECT coalesce(:now - max(time), 1e18) > 14*86400000 FROM events WHERE name='Videoview' AND "
                  "json_extract(props,'$.genre')='") +
              genre + "'";
        break;
      case 4:
        // Engaged time in a genre this week: 15 minutes to an hour.
        rule =
            std::string(
                R"({"logic":"AND","conditions":[{"type":"engagement","event_type":"Videoview","metric":"engaged_time","operator":"gte","value":)") +
            std::to_string(900 * (1 + i / 8 % 4)) + R"(,"where":[{"property":"genre","operator":"eq","value":")" +
            genre + R"("}],"window_days":7}]})";
        sql = "SELECT coalesce(sum(json_extract(c.props,'$.time_spent_seconds')),0) >= " +
              std::to_string(900 * (1 + i / 8 % 4)) +
              " FROM events p JOIN events c ON c.view=p.view AND c.name='VideoCompletion' WHERE p.name='Videoview' "
              "AND json_extract(p.props,'$.genre')='" +
              genre + "' AND c.time > :now - 7*86400000";
        break;
      case 5:
        rule =
            std::string(
                R"({"logic":"AND","conditions":[{"type":"property","event_type":"PageView","property":"section","operator":"eq","value":")") +
            genre + R"("},{"type":"event","event_type":"AdImpression","operator":"lt","value":20,"window_hours":6}]})";
        sql = std::string(
                  "SELECT (SELECT json_extract(props,'$.section') FROM events WHERE name='PageView' ORDER BY seq DESC "
                  "LIMIT 1)='") +
              genre + "' AND (SELECT count(*) FROM events WHERE name='AdImpression' AND time > :now - 6*3600000) < 20";
        break;
      case 6: {
        // Top completion in this session from 75% to 90%.
        std::string pct = std::to_string(75 + 5 * (i / 8 % 4));
        rule =
            std::string(
                R"({"logic":"AND","conditions":[{"type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"max","operator":"gte","value":0.)") +
            pct + R"(,"window":"session"}]})";
        sql = "SELECT max(json_extract(props,'$.percentage_watched')) >= 0." + pct +
              " FROM events WHERE name='VideoCompletion' AND session=:session";
        break;
      }
      default:
        rule = std::string(R"({"logic":"AND","conditions":[{"type":"cohort","cohort_id":"c)") + std::to_string(i - 7) +
               R"("},{"logic":"NOT","conditions":[{"type":"event","event_type":"Search","window_minutes":30}]}]})";
        sql = "SELECT count(*) = 0 FROM events WHERE name='Search' AND time > :now - 1800000";
        break;
    }
    c.json += (i ? "," : "") + std::string("{\"id\":\"c") + std::to_string(i) + "\",\"rule\":" + rule + "}";
    c.sql.push_back(sql);
  }
  c.json += "]}";
  return c;
}

// Modeled cohorts as a lookalike export gives them: six features over the
// same building blocks the rule cohorts use (so most share their
// accumulators), one of their own (searches today), weights varying per model.
std::string make_models(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const char *cat = kCategories[(i * 5) % 16];
    const char *genre = kGenres[i % 6];
    auto w = [i](double base) { return std::to_string(base * (1 + (i % 7) / 10.0)); };
    out +=
        std::string(R"(,{"id":"m)") + std::to_string(i) + R"(","rule":{"model":"logistic","bias":)" + w(-2.5) +
        R"(,"threshold":0.)" + std::to_string(5 + i % 4) + R"(,"features":[)" +
        R"({"name":"views","type":"event","event_type":"Videoview","where":[{"property":"categories","operator":"contains","value":")" +
        cat + R"("}],"window_days":30,"transform":"log1p","weight":)" + w(0.9) + "}," +
        R"({"name":"engaged","type":"engagement","event_type":"Videoview","metric":"engaged_time","where":[{"property":"genre","operator":"eq","value":")" +
        genre + R"("}],"window_days":7,"transform":"cap","cap":3600,"weight":)" + w(0.0004) + "}," +
        R"({"name":"completion","type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"avg","window_days":7,"weight":)" +
        w(1.2) + "}," +
        R"({"name":"since","type":"recency","event_type":"Videoview","where":[{"property":"genre","operator":"eq","value":")" +
        genre + R"("}],"transform":"cap","cap":30,"default":30,"weight":)" + w(-0.04) + "}," +
        R"({"name":"section","type":"property","event_type":"PageView","property":"section","operator":"eq","value":")" +
        genre + R"(","weight":)" + w(0.5) + "}," +
        R"({"name":"searches","type":"event","event_type":"Search","window_hours":24,"transform":"log1p","weight":)" +
        w(0.3) + "}]}}";
  }
  return out;
}

// The rule cohorts' document with `models` modeled cohorts added.
std::string with_models(const Cohorts &cohorts, int models) {
  std::string json = cohorts.json;
  json.insert(json.size() - 2, make_models(models));  // before the closing "]}"
  return json;
}

struct Percentiles {
  double p50_us, p99_us;
};

Percentiles percentiles(std::vector<double> ns) {
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000, ns[ns.size() * 99 / 100] / 1000};
}

double now_ns() {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

struct Figures {
  Percentiles engine{}, naive{};
  Percentiles engine_p99_range{};  // lowest and highest p99 of the runs
  Percentiles models{};            // with the 50 modeled cohorts beside the 200
  Percentiles models_p99_range{};
  double models_added_p99_us = 0;  // median over runs of (p99 with) - (p99 without)
  double lookback_ms = 0;
  double bytes_avg = 0;
  size_t bytes_max = 0;
};
Figures g_figures;

Engine *loaded(Engine *e, const std::string &json, int64_t now) {
  LoadReport report;
  if (!e->load(json, {}, now, &report).ok()) std::abort();
  e->end_lookback();
  return e;
}

// One run: 10k events of history, then 10k more, each observed and polled and
// timed on its own.
Percentiles per_event_run(const std::string &json, const std::vector<StoredEvent> &history, Engine *engine) {
  loaded(engine, json, history.front().time_ms);
  for (int i = 0; i < 10000; ++i) {
    engine->observe(history[i].event());
    engine->poll(Now{history[i].time_ms, history[i].session, history[i].view});
  }
  std::vector<double> ns;
  for (size_t i = 10000; i < history.size(); ++i) {
    const StoredEvent &e = history[i];
    double start = now_ns();
    engine->observe(e.event());
    engine->poll(Now{e.time_ms, e.session, e.view});
    ns.push_back(now_ns() - start);
  }
  return percentiles(ns);
}

// The median run by p99, and the range of the p99s.
Percentiles median_run(std::vector<Percentiles> runs, Percentiles *p99_range) {
  std::sort(runs.begin(), runs.end(), [](const Percentiles &a, const Percentiles &b) { return a.p99_us < b.p99_us; });
  *p99_range = {runs.front().p99_us, runs.back().p99_us};
  return runs[runs.size() / 2];
}

// Five runs on fresh engines of the 200 rule cohorts, each followed by a run
// with the 50 models beside them (alternating, so a busy moment of the
// machine falls on both); the median run's p50 and p99 of each are reported,
// and the median of the five differences at p99 (one run's tail is at the
// mercy of whatever else the machine does).
void BM_engine_per_event(benchmark::State &state) {
  Cohorts cohorts = make_cohorts(200);
  std::string modeled = with_models(cohorts, 50);
  std::vector<StoredEvent> history = make_history(20000, 1);
  for (auto _ : state) {
    std::vector<Percentiles> rules_only, models;
    std::vector<double> added;
    for (int run = 0; run < 5; ++run) {
      Engine engine;
      rules_only.push_back(per_event_run(cohorts.json, history, &engine));
      Engine with;
      models.push_back(per_event_run(modeled, history, &with));
      added.push_back(models.back().p99_us - rules_only.back().p99_us);
      if (run > 0) continue;
      size_t total = 0;
      std::vector<co::rules::SavedState> saved = engine.save();
      for (const auto &s : saved) {
        total += s.blob.size();
        g_figures.bytes_max = std::max(g_figures.bytes_max, s.blob.size());
      }
      g_figures.bytes_avg = static_cast<double>(total) / static_cast<double>(saved.size());
    }
    g_figures.engine = median_run(rules_only, &g_figures.engine_p99_range);
    g_figures.models = median_run(models, &g_figures.models_p99_range);
    std::sort(added.begin(), added.end());
    g_figures.models_added_p99_us = added[added.size() / 2];
  }
  state.counters["p50_us"] = g_figures.engine.p50_us;
  state.counters["p99_us"] = g_figures.engine.p99_us;
  state.counters["models_p50_us"] = g_figures.models.p50_us;
  state.counters["models_p99_us"] = g_figures.models.p99_us;
  state.counters["state_bytes_per_cohort"] = g_figures.bytes_avg;
  free_history(&history);
}

void exec(sqlite3 *db, const char *sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) std::abort();
}

// The same 200 cohorts as SQL over an indexed SQLite history of 10k events:
// insert the event, then re-run every cohort's query. 50 events are enough to
// see the figure: each costs the whole set of queries.
void BM_naive_sqlite_per_event(benchmark::State &state) {
  Cohorts cohorts = make_cohorts(200);
  std::vector<StoredEvent> history = make_history(10050, 1);
  for (auto _ : state) {
    sqlite3 *db = nullptr;
    sqlite3_open(":memory:", &db);
    exec(db,
         "CREATE TABLE events(seq INTEGER PRIMARY KEY, time INTEGER, name TEXT, session TEXT, view TEXT, props TEXT)");
    exec(db, "CREATE INDEX events_name_time ON events(name, time)");
    exec(db, "CREATE INDEX events_view ON events(view)");
    sqlite3_stmt *insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO events VALUES(?,?,?,?,?,?)", -1, &insert, nullptr);
    auto add = [&](const StoredEvent &e) {
      sqlite3_bind_int64(insert, 1, e.seq);
      sqlite3_bind_int64(insert, 2, e.time_ms);
      sqlite3_bind_text(insert, 3, e.name.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, e.session.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, e.view.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 6, e.props_text.c_str(), -1, SQLITE_STATIC);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    };
    exec(db, "BEGIN");
    for (int i = 0; i < 10000; ++i) add(history[i]);
    exec(db, "COMMIT");
    std::vector<sqlite3_stmt *> queries;
    for (const std::string &sql : cohorts.sql) {
      sqlite3_stmt *q = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) != SQLITE_OK) std::abort();
      queries.push_back(q);
    }
    std::vector<double> ns;
    for (size_t i = 10000; i < history.size(); ++i) {
      const StoredEvent &e = history[i];
      double start = now_ns();
      add(e);
      for (sqlite3_stmt *q : queries) {
        int now_idx = sqlite3_bind_parameter_index(q, ":now");
        int session_idx = sqlite3_bind_parameter_index(q, ":session");
        if (now_idx) sqlite3_bind_int64(q, now_idx, e.time_ms);
        if (session_idx) sqlite3_bind_text(q, session_idx, e.session.c_str(), -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW) {
        }
        sqlite3_reset(q);
      }
      ns.push_back(now_ns() - start);
    }
    g_figures.naive = percentiles(ns);
    for (sqlite3_stmt *q : queries) sqlite3_finalize(q);
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
  state.counters["p50_us"] = g_figures.naive.p50_us;
  state.counters["p99_us"] = g_figures.naive.p99_us;
  free_history(&history);
}

// A fresh engine with 100 cohorts rebuilt from 50k stored events.
void BM_lookback_100_cohorts_50k_events(benchmark::State &state) {
  Cohorts cohorts = make_cohorts(100);
  std::vector<StoredEvent> history = make_history(50000, 2);
  for (auto _ : state) {
    Engine engine;
    LoadReport report;
    double start = now_ns();
    if (!engine.load(cohorts.json, {}, history.back().time_ms, &report).ok()) std::abort();
    for (const StoredEvent &e : history) engine.lookback(e.event());
    engine.end_lookback();
    engine.poll(Now{history.back().time_ms, history.back().session, history.back().view});
    g_figures.lookback_ms = (now_ns() - start) / 1e6;
  }
  state.counters["ms"] = g_figures.lookback_ms;
  free_history(&history);
}

BENCHMARK(BM_engine_per_event)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_naive_sqlite_per_event)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lookback_100_cohorts_50k_events)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const Figures &f = g_figures;
  std::printf(
      "\nrules: per event (observe + poll), 200 cohorts, 10k events of history: p50 %.2f us, p99 %.2f us (median of 5 "
      "runs; p99 %.2f-%.2f)\n",
      f.engine.p50_us, f.engine.p99_us, f.engine_p99_range.p50_us, f.engine_p99_range.p99_us);
  std::printf(
      "rules: the same with 50 modeled cohorts beside them (6 features each): p50 %.2f us, p99 %.2f us (median of 5 "
      "runs; p99 %.2f-%.2f); the models add %.2f us at p99 (median of the 5 differences)\n",
      f.models.p50_us, f.models.p99_us, f.models_p99_range.p50_us, f.models_p99_range.p99_us, f.models_added_p99_us);
  if (f.naive.p50_us > 0) {
    std::printf(
        "rules: naive SQLite (one query per cohort after each event): p50 %.0f us, p99 %.0f us -> %.0fx slower at "
        "p50\n",
        f.naive.p50_us, f.naive.p99_us, f.naive.p50_us / f.engine.p50_us);
  }
  if (f.lookback_ms > 0) std::printf("rules: look-back of 100 cohorts over 50k events: %.1f ms\n", f.lookback_ms);
  std::printf("rules: saved state per cohort: %.0f bytes on average, %zu at most\n", f.bytes_avg, f.bytes_max);
  return 0;
}
