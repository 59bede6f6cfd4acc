#include "shapes.h"

#include <random>

namespace bench {
namespace {

const char *const kCategories[] = {"football", "tennis", "news",  "drama", "comedy", "kids",  "cooking", "travel",
                                   "f1",       "golf",   "music", "docs",  "crime",  "scifi", "history", "nature"};
const char *const kGenres[] = {"sport", "news", "drama", "comedy", "kids", "lifestyle"};

std::string quoted(const std::string &s) { return "\"" + s + "\""; }

}  // namespace

std::string small_props() {
  return "{\"video_id\":\"vid_456\",\"title\":\"Highlights: Premier League Week 20\","
         "\"categories\":[\"sports\",\"football\"],\"duration_seconds\":600}";
}

std::string direct_api_props(int i) {
  const char *cat = kCategories[i % 16];
  const char *genre = kGenres[i % 6];
  std::string n = std::to_string(100000 + i % 900000);
  return "{\"video_id\":\"vid_" + n + "\",\"title\":\"Highlights: Premier League Week " + std::to_string(1 + i % 38) +
         ", Arsenal v Chelsea (extended)\",\"categories\":[" + quoted(cat) + "," + quoted(kCategories[(i + 5) % 16]) +
         ",\"highlights\"],\"duration_seconds\":" + std::to_string(600 + i % 3000) +
         ",\"series\":\"Match of the Day\",\"season\":" + std::to_string(1 + i % 9) +
         ",\"episode\":" + std::to_string(1 + i % 24) +
         ",\"channel\":\"Sports One HD\",\"provider\":\"Acme Broadcasting Group\",\"genre\":" + quoted(genre) +
         ",\"rating\":\"PG\",\"language\":\"en-GB\",\"resolution\":\"1080p\",\"live\":" +
         (i % 7 == 0 ? "true" : "false") +
         ",\"device\":{\"type\":\"ctv\",\"manufacturer\":\"Acme\",\"model\":\"X900H-55\",\"os\":\"Linux 5.10\","
         "\"app_version\":\"4.2.1\",\"screen\":\"3840x2160\",\"connection\":\"wifi\"}}";
}

std::vector<StreamEvent> tv_stream(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<StreamEvent> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    unsigned kind = rng() % 10;
    const char *genre = kGenres[rng() % 6];
    if (kind < 4) {
      out.push_back({"Videoview", direct_api_props(static_cast<int>(rng() % 100000))});
    } else if (kind < 7) {
      out.push_back({"VideoCompletion", "{\"time_spent_seconds\":" + std::to_string(rng() % 2400) +
                                            ",\"percentage_watched\":0." + std::to_string(rng() % 100) + "}"});
    } else {
      const char *name = kind == 7 ? "PageView" : kind == 8 ? "AdImpression" : "Search";
      out.push_back({name, std::string("{\"section\":\"") + genre + "\",\"value\":" + std::to_string(rng() % 50) + "}"});
    }
  }
  return out;
}

std::string realistic_cohorts(int n) {
  std::string json = "{\"cohorts\":[";
  for (int i = 0; i < n; ++i) {
    std::string cat = kCategories[i % 16];
    std::string genre = kGenres[i % 6];
    std::string rule;
    switch (i % 8) {
      case 0:
      case 1:
        rule = R"({"logic":"AND","conditions":[{"type":"event","event_type":"Videoview","where":[{"property":"categories","operator":"contains","value":")" +
               cat + R"("}],"operator":"gte","value":)" + std::to_string(2 + i % 5) + R"(,"window_days":30}]})";
        break;
      case 2:
        rule = R"({"logic":"AND","conditions":[{"type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"avg","operator":"gte","value":0.)" +
               std::to_string(3 + i / 8 % 5) + R"(0,"window_days":7}]})";
        break;
      case 3:
        rule = R"({"logic":"OR","conditions":[{"type":"recency","event_type":"Videoview","where":[{"property":"genre","operator":"eq","value":")" +
               genre + R"("}],"operator":"gt","window_days":14}]})";
        break;
      case 4:
        rule = R"({"logic":"AND","conditions":[{"type":"engagement","event_type":"Videoview","metric":"engaged_time","operator":"gte","value":)" +
               std::to_string(900 * (1 + i / 8 % 4)) + R"(,"where":[{"property":"genre","operator":"eq","value":")" +
               genre + R"("}],"window_days":7}]})";
        break;
      case 5:
        rule = R"({"logic":"AND","conditions":[{"type":"property","event_type":"PageView","property":"section","operator":"eq","value":")" +
               genre + R"("},{"type":"event","event_type":"AdImpression","operator":"lt","value":20,"window_hours":6}]})";
        break;
      case 6:
        rule = R"({"logic":"AND","conditions":[{"type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"max","operator":"gte","value":0.)" +
               std::to_string(75 + 5 * (i / 8 % 4)) + R"(,"window":"session"}]})";
        break;
      default:
        rule = R"({"logic":"AND","conditions":[{"type":"cohort","cohort_id":"c)" + std::to_string(i - 7) +
               R"("},{"logic":"NOT","conditions":[{"type":"event","event_type":"Search","window_minutes":30}]}]})";
        break;
    }
    json += (i ? "," : "") + std::string("{\"id\":\"c") + std::to_string(i) + "\",\"rule\":" + rule + "}";
  }
  return json + "]}";
}

}  // namespace bench
