// What a CTV app really sends and defines, for the benchmarks that go through
// the public faces: Direct-API-sized content properties (~500 bytes of JSON),
// the old small event, a TV day's event stream, and cohort definitions in the
// shapes a publisher writes.
#pragma once

#include <string>
#include <vector>

namespace bench {

// The old small play event of bench_track (~130 bytes of properties).
std::string small_props();
// A play event as the Direct API guide's examples carry it (video, series,
// channel, provider, genre, rating, language, resolution, live, a device
// object), varying with `i`; ~500 bytes.
std::string direct_api_props(int i);

struct StreamEvent {
  std::string name;
  std::string props;
};
// A TV day for `track`: plays with Direct-API-sized properties, completions,
// page views, ad impressions and searches, deterministic for `seed`.
std::vector<StreamEvent> tv_stream(int n, unsigned seed);

// `{"cohorts":[...]}` with `n` rule cohorts over that stream: event counts,
// aggregates, recency, engagement, properties, cohort references, NOT.
std::string realistic_cohorts(int n);

}  // namespace bench
