// cohortd's server: one poll() loop over the listening socket and every client,
// so a slow or stuck client never stalls the others. Complete lines of all
// clients go to the agent as one group commit (cohort_rpc_batch); a call that
// may wait on the network runs on a thread of its own; notifications go to the
// clients subscribed to them; on shutdown the waiting calls are answered at
// once and pending answers get a moment to leave. Uses only the public header.
#pragma once
#include <cohort/cohort.h>

#include <csignal>
#include <cstddef>
#include <functional>
#include <string>

namespace co::daemon {

// Connections served at most (cohortd.cpp raises the descriptor limit for them).
constexpr size_t kMaxClients = 4096;

// What the signal handler (cohortd.cpp) tells the loop: SIGTERM/SIGINT set
// g_stop, SIGHUP g_reload, and each writes a byte to g_wake[1], the self-pipe
// through which signals, notifications and finished waiting calls wake the
// loop (both ends non-blocking; cohortd.cpp opens it).
extern volatile sig_atomic_t g_stop;
extern volatile sig_atomic_t g_reload;
extern int g_wake[2];

// The agent's subscriber (cohort_subscribe): queues a cohorts.changed
// notification for the loop to deliver. Any thread.
void on_cohorts_changed(void *, const char *cohorts_json);

// The configuration document again, for SIGHUP; false with err saying why.
using Reconfigure = std::function<bool(std::string &config, std::string &err)>;

// Serves listen_fd until g_stop is set (or poll() fails), then drains: the
// waiting calls are answered ("shutting down"), pending answers get a short
// moment to leave, and every client is closed.
void serve(cohort_agent *agent, int listen_fd, Reconfigure reconfigure);

}  // namespace co::daemon
