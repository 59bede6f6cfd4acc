// Views: play and completion events with engagement measured by the agent.
//
// Time spent counts playing time only, on the monotonic clock: from
// view.start (playback starts with the view) or a resume, to a pause or the
// end. Completion is the furthest position reached over the duration, capped
// at 1, and absent when the duration is unknown. The view's state is
// persisted (on every state change, and on progress at most every
// kPersistEveryMs) so that a view left open by a crash is ended at the next
// start with the engagement measured up to then.
#include <cmath>
#include <cstring>
#include <tuple>

#include "agent.h"
#include "open_views.h"

namespace co {
namespace {

struct Kind {
  const char *type;
  const char *play;
  const char *completion;
  const char *percent_key;
};
const Kind kKinds[] = {
    {"video", "Videoview", "VideoCompletion", "percentage_watched"},
    {"audio", "AudioPlay", "AudioCompletion", "percentage_listened"},
};
// Any other type: ContentView / ContentCompletion / percentage_completed,
// unless `event` and `completion_event` name them.
const Kind kOther = {nullptr, "ContentView", "ContentCompletion", "percentage_completed"};

}  // namespace

Outcome Agent::m_view_start(const Params &params, cJSON *result) {
  int64_t now = clock_->mono_ms();
  expire_views(now);
  std::string type = params.string("type");
  const Kind *kind = &kOther;
  for (const Kind &k : kKinds) {
    if (type == k.type) kind = &k;
  }
  std::string play = params.has("event") ? params.string("event") : kind->play;
  std::string completion = params.has("completion_event") ? params.string("completion_event") : kind->completion;
  double duration = params.number("duration_s");
  std::string url = params.string("url");

  // The play event is made as track makes one.
  Event ev;
  Outcome st = new_event(play, params.get("properties"), nullptr, ev);
  if (!st.ok()) return st;
  st = settle_duration(ev.properties.get(), duration);
  if (!st.ok()) return st;

  View v;
  v.view_id = platform::uuid4(*entropy_);
  if (v.view_id.empty()) return failure(COHORT_EINTERNAL, "no entropy for the view id");
  v.play_name = play;
  v.completion_name = completion;
  v.percent_key = kind->percent_key;
  v.url = url;
  v.duration_s = duration;
  v.properties.reset(cJSON_Duplicate(ev.properties.get(), 1));
  v.tick_mono = v.active_mono = v.persisted_mono = now;
  ev.view_id = v.view_id;
  int64_t seq = 0;
  // The step runs inside store_event's transaction, under the lock held here.
  st = store_event(ev, seq, [&]() CO_NO_THREAD_SAFETY_ANALYSIS {
    v.session_id = ev.session_id;
    return views_.save(v, now, true, consent_granted());
  });
  if (!st.ok()) return st;
  // The guide: call the CCS API on every content view, and the Contextual
  // API for its content (no user data: the content properties only).
  if (seq != 0) wake_worker(true);
  if (!url.empty() && !caches_.get("ctx:" + url, now)) {
    Json pp(cJSON_CreateObject());
    json_add(pp.get(), type.c_str(), cJSON_Duplicate(v.properties.get(), 1));
    queue_contextual(url, std::move(pp));
  }
  json_add_string(result, "view_id", v.view_id.c_str());
  json_add_string(result, "session_id", v.session_id.c_str());
  json_add_string(result, "event_id", ev.event_id.c_str());
  views_.add(std::move(v));
  return COHORT_OK;
}

// The open view a call names (after ending abandoned ones), the position it
// reports (-1: none), and the time of the call.
Outcome Agent::find_view(const Params &params, View *&view, double &position, int64_t &now) {
  now = clock_->mono_ms();
  expire_views(now);
  std::string id = params.string("view_id");
  position = params.has("position_s") ? params.number("position_s") : -1;
  view = views_.find(id);
  if (!view) return failure(COHORT_ENOTFOUND, "view_id: no open view " + id);
  return COHORT_OK;
}

// Pause and resume: close or open a playing stretch. Pausing a paused view
// or resuming a playing one only moves the position.
Outcome Agent::set_playing(const Params &params, cJSON *result, bool playing) {
  int64_t now = 0;
  View *found = nullptr;
  double pos = 0;
  Outcome st = find_view(params, found, pos, now);
  if (!st.ok()) return st;
  if (!views_.set_playing(*found, playing, pos, now, consent_granted())) {
    return failure(COHORT_ESTORAGE, "view: " + store_.error());
  }
  json_add_string(result, "view_id", found->view_id.c_str());
  return COHORT_OK;
}

Outcome Agent::m_view_pause(const Params &params, cJSON *result) { return set_playing(params, result, false); }
Outcome Agent::m_view_resume(const Params &params, cJSON *result) { return set_playing(params, result, true); }

Outcome Agent::m_view_progress(const Params &params, cJSON *result) {
  int64_t now = 0;
  View *v = nullptr;
  double pos = 0;
  Outcome st = find_view(params, v, pos, now);
  if (!st.ok()) return st;
  if (!views_.progress(*v, pos, now, consent_granted())) return failure(COHORT_ESTORAGE, "view: " + store_.error());
  json_add_string(result, "view_id", v->view_id.c_str());
  return COHORT_OK;
}

// The content's duration, given as duration_s or as the guide's own
// duration_seconds property (both must agree), goes on the play and the
// completion event as duration_seconds in whole seconds, as in every example
// of the guide (a fraction against an integer workspace field gets the event
// ignored).
Outcome Agent::settle_duration(cJSON *properties, double &duration) {
  const cJSON *given = cJSON_GetObjectItemCaseSensitive(properties, "duration_seconds");
  if (given) {
    if (!cJSON_IsNumber(given) || given->valuedouble < 0 || given->valuedouble > kMaxDurationS) {
      return failure(COHORT_EINVAL, "properties.duration_seconds: must be a number of seconds, 0 to 1e9");
    }
    if (duration > 0 && std::llround(duration) != std::llround(given->valuedouble)) {
      return failure(COHORT_EINVAL, "duration_s: differs from properties.duration_seconds");
    }
    if (duration <= 0) duration = given->valuedouble;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(properties, "duration_seconds");
  if (duration > 0) json_add_number(properties, "duration_seconds", static_cast<double>(std::llround(duration)));
  return COHORT_OK;
}

// Emits the completion event with the view's content properties and the
// engagement, removes the view, and describes it in result (may be NULL).
// Time spent is whole seconds of playing time (the guide's examples: an
// integer field), the part of a second not yet played not counted.
Outcome Agent::end_view(View &v, int64_t now, cJSON *result) {
  Engagement engaged = engagement_of(v, now);
  double spent = engaged.spent_s, completion = engaged.completion;
  Event ev;
  ev.name = v.completion_name;
  ev.properties.reset(cJSON_Duplicate(v.properties.get(), 1));
  if (!ev.properties) return failure(COHORT_ENOMEM, "view: out of memory");
  cJSON_DeleteItemFromObjectCaseSensitive(ev.properties.get(), "time_spent_seconds");
  cJSON_DeleteItemFromObjectCaseSensitive(ev.properties.get(), v.percent_key.c_str());
  json_add_number(ev.properties.get(), "time_spent_seconds", spent);
  if (!std::isnan(completion)) json_add_number(ev.properties.get(), v.percent_key.c_str(), completion);
  stamp(ev);
  ev.mono_ms = now;
  ev.session_id = v.session_id;
  ev.view_id = v.view_id;
  ev.event_id = platform::uuid4(*entropy_);
  if (ev.event_id.empty()) return failure(COHORT_EINTERNAL, "no entropy for the event id");
  int64_t seq = 0;
  // The step runs inside store_event's transaction, under the lock held here.
  Outcome st = store_event(ev, seq, [&]() CO_NO_THREAD_SAFETY_ANALYSIS { return views_.delete_row(v.view_id); });
  if (!st.ok()) return st;
  if (result) {
    json_add_string(result, "view_id", v.view_id.c_str());
    json_add_string(result, "event_id", ev.event_id.c_str());
    json_add_number(result, "time_spent_seconds", spent);
    if (!std::isnan(completion)) json_add_number(result, "completion", completion);
  }
  return COHORT_OK;
}

Outcome Agent::m_view_end(const Params &params, cJSON *result) {
  int64_t now = 0;
  View *v = nullptr;
  double pos = 0;
  Outcome st = find_view(params, v, pos, now);
  if (!st.ok()) return st;
  double old_pos = v->position_s, old_far = v->furthest_s;
  v->move_to(pos);
  st = end_view(*v, now, result);
  if (!st.ok()) {
    v->position_s = old_pos;
    v->furthest_s = old_far;
    return st;
  }
  views_.remove(v->view_id);
  return COHORT_OK;
}

// A view with no call for longer than the session timeout was abandoned (the
// app died or forgot): it ends on its own, with the engagement measured up to
// its last sign of life.
void Agent::expire_views(int64_t now) {
  int64_t timeout = cfg_.session_inactivity_timeout_s * 1000;
  for (const std::string &id : views_.abandoned(now, timeout)) {
    View &v = *views_.find(id);
    Outcome ended = end_view(v, v.active_mono, nullptr);
    if (!ended.ok()) {
      CO_LOG(*log_, warn, "cannot end abandoned view %s: %s", v.view_id.c_str(), ended.message.c_str());
      continue;
    }
    CO_LOG(*log_, info, "view %s ended after %lld s without activity", v.view_id.c_str(),
           static_cast<long long>(timeout / 1000));
    views_.remove(id);
  }
}

// Views left open by a crash or power cut: end them now from their last
// persisted state.
Outcome Agent::recover_views() {
  std::vector<View> open = views_.read_left_open();
  int64_t now = clock_->mono_ms();
  for (View &v : open) {
    Outcome st = end_view(v, now, nullptr);
    if (!st.ok()) return st;
    CO_LOG(*log_, info, "view %s left open by the last run ended with %.1f s spent", v.view_id.c_str(),
           static_cast<double>(v.spent_ms) / 1000.0);
  }
  return COHORT_OK;
}

}  // namespace co
