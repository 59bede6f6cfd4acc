// Views: the content views open now, each with its playing clock, and their
// rows in the store (so a view a crash left open is ended at the next start
// with the engagement measured up to then). Owns the views and the
// engagement arithmetic; the play and completion events are the agent's
// (views.cpp). Times are monotonic ms from the caller. Guarded by the agent's
// lock (Agent::mu_).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "json.h"
#include "storage/store.h"

namespace co {

// An open content view and its clock.
struct View {
  std::string view_id;
  std::string play_name;
  std::string completion_name;
  std::string percent_key;  // percentage_watched / percentage_listened / ...
  std::string session_id;
  std::string url;
  Json properties;        // the play event's content properties
  double duration_s = 0;  // 0: unknown (live)
  bool playing = true;
  int64_t tick_mono = 0;  // when the playing stretch in progress began
  int64_t spent_ms = 0;   // playing time before tick_mono
  double position_s = 0;
  double furthest_s = 0;
  int64_t active_mono = 0;  // last call about this view
  int64_t persisted_mono = 0;

  // Playing time up to now.
  int64_t spent_at(int64_t now) const { return spent_ms + (playing ? now - tick_mono : 0); }
  // A reported position (< 0: none): seeks go both ways, the furthest point stays.
  void move_to(double position);
};

// A view's engagement at a moment: whole seconds of playing time (the part
// of a second not yet played not counted), and the furthest position over
// the duration, capped at 1 (NAN when the duration is unknown).
struct Engagement {
  double spent_s = 0;
  double completion = 0;
};
Engagement engagement_of(const View &v, int64_t now);

class Views {
 public:
  static constexpr int64_t kPersistEveryMs = 5000;  // progress is persisted at most this often

  void start(storage::Store &store) { store_ = &store; }

  View *find(const std::string &id);
  void add(View v);
  void remove(const std::string &id) { open_.erase(id); }
  // The views with no call for longer than timeout_ms (abandoned: the app
  // died or forgot).
  std::vector<std::string> abandoned(int64_t now, int64_t timeout_ms) const;

  // Writes v's row at now (insert: the whole view; else its state). With
  // `keep` false (no consent) nothing is kept and it succeeds.
  bool save(const View &v, int64_t now, bool insert, bool keep);
  // The view's row goes (in the transaction that stores its completion).
  bool delete_row(const std::string &id);
  // Pause or resume at now: a playing stretch closes or opens; false (v as
  // it was) when the store refused.
  bool set_playing(View &v, bool playing, double position, int64_t now, bool keep);
  // A progress report: the position and the activity mark move; persisted at
  // most every kPersistEveryMs. False when the store refused.
  bool progress(View &v, double position, int64_t now, bool keep);
  // The views a crash left open, as last persisted (paused).
  std::vector<View> read_left_open();

 private:
  storage::Store *store_ = nullptr;
  std::map<std::string, View> open_;
};

}  // namespace co
