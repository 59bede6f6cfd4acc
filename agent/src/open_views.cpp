#include "open_views.h"

#include <cmath>
#include <tuple>

#include "storage/views.h"

namespace co {
namespace {

double round_to(double v, double unit) {
  return std::round(v / unit) * unit;
}

std::string state_json(const View &v, int64_t now) {
  Json s(cJSON_CreateObject());
  json_add_bool(s.get(), "playing", v.playing);
  json_add_number(s.get(), "spent_ms", static_cast<double>(v.spent_at(now)));
  json_add_number(s.get(), "position_s", v.position_s);
  json_add_number(s.get(), "furthest_s", v.furthest_s);
  return json_print_checked(s.get());
}

}  // namespace

void View::move_to(double position) {
  if (position < 0) return;
  position_s = position;
  if (position > furthest_s) furthest_s = position;
}

Engagement engagement_of(const View &v, int64_t now) {
  Engagement e;
  e.spent_s = std::floor(static_cast<double>(v.spent_at(now)) / 1000.0);
  if (v.duration_s <= 0) {
    e.completion = NAN;
  } else {
    double c = v.furthest_s / v.duration_s;
    e.completion = round_to(c > 1 ? 1 : c, 0.0001);
  }
  return e;
}

View *Views::find(const std::string &id) {
  auto it = open_.find(id);
  return it == open_.end() ? nullptr : &it->second;
}

void Views::add(View v) {
  std::string id = v.view_id;
  open_.emplace(std::move(id), std::move(v));
}

std::vector<std::string> Views::abandoned(int64_t now, int64_t timeout_ms) const {
  std::vector<std::string> ids;
  for (const auto &entry : open_) {
    if (now - entry.second.active_mono > timeout_ms) ids.push_back(entry.first);
  }
  return ids;
}

bool Views::save(const View &v, int64_t now, bool insert, bool keep) {
  if (!keep) return true;
  std::string state = state_json(v, now);
  if (!insert) return storage::set_view_state(*store_, v.view_id, state);
  std::string properties = json_print_checked(v.properties.get());
  storage::ViewRow row{v.view_id,
                       v.play_name,
                       v.completion_name,
                       v.percent_key,
                       v.session_id,
                       properties,
                       v.url,
                       static_cast<int64_t>(std::llround(v.duration_s * 1000)),
                       now,
                       state};
  return storage::insert_view(*store_, row);
}

bool Views::delete_row(const std::string &id) {
  return storage::delete_view(*store_, id);
}

bool Views::set_playing(View &v, bool playing, double position, int64_t now, bool keep) {
  auto before =
      std::make_tuple(v.playing, v.tick_mono, v.spent_ms, v.position_s, v.furthest_s, v.active_mono, v.persisted_mono);
  v.spent_ms = v.spent_at(now);
  v.tick_mono = v.active_mono = v.persisted_mono = now;
  v.playing = playing;
  v.move_to(position);
  if (save(v, now, false, keep)) return true;
  std::tie(v.playing, v.tick_mono, v.spent_ms, v.position_s, v.furthest_s, v.active_mono, v.persisted_mono) = before;
  return false;
}

bool Views::progress(View &v, double position, int64_t now, bool keep) {
  v.move_to(position);
  v.active_mono = now;
  // Cheap: the position is persisted at most every few seconds.
  if (now - v.persisted_mono < kPersistEveryMs) return true;
  if (!save(v, now, false, keep)) return false;
  v.persisted_mono = now;
  return true;
}

std::vector<View> Views::read_left_open() {
  std::vector<View> left;
  storage::read_views(*store_, [&](const storage::Stmt &q) {
    View v;
    v.view_id = q.text(0);
    v.play_name = q.text(1);
    v.completion_name = q.text(2);
    v.percent_key = q.text(3);
    v.session_id = q.text(4);
    v.properties = json_parse(q.text(5));
    v.url = q.text(6);
    v.duration_s = static_cast<double>(q.int64(7)) / 1000.0;
    Json state = json_parse(q.text(8));
    bool ok = true;
    double spent = 0;
    json_get_number(state.get(), "spent_ms", spent, ok);
    json_get_number(state.get(), "position_s", v.position_s, ok);
    json_get_number(state.get(), "furthest_s", v.furthest_s, ok);
    if (!v.properties) v.properties.reset(cJSON_CreateObject());
    v.playing = false;
    v.spent_ms = static_cast<int64_t>(spent);
    left.push_back(std::move(v));
    return true;
  });
  return left;
}

}  // namespace co
