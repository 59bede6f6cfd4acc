#include "server.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <list>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "cjson_owner.h"
#include "log.h"

namespace co::daemon {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_reload = 0;
int g_wake[2] = {-1, -1};

namespace {

using tools::Json;
using tools::JsonText;

constexpr size_t kMaxLine = 64 * 1024;         // contract: a longer line closes the connection
constexpr size_t kMaxPendingOut = 1 << 20;     // unread answers: no new requests past half of it...
constexpr int64_t kStuckMs = 10000;              // ...and past all of it, dropped when none leaves for this long
constexpr int kLinesPerRound = 16;               // per client, per group commit
constexpr size_t kLargeAnswers = 256 * 1024;     // a round's answers past this: one line next round
constexpr int kShutdownDrainMs = 500;

// Notifications produced on the agent's threads, delivered by the loop.
std::mutex g_notes_mu;
std::vector<std::string> g_notes;

}  // namespace

void on_cohorts_changed(void *, const char *cohorts_json) {
  std::string line = "{\"jsonrpc\":\"2.0\",\"method\":\"cohorts.changed\",\"params\":";
  line += cohorts_json;
  line += "}\n";
  {
    std::lock_guard<std::mutex> lock(g_notes_mu);
    g_notes.push_back(std::move(line));
  }
  ssize_t ignored = write(g_wake[1], "n", 1);
  (void)ignored;
}

namespace {

struct Client {
  int fd = -1;
  uint64_t id = 0;       // never reused: a waiting call's answer finds its client (or none)
  std::string in;
  std::string out;
  unsigned topics = 0;
  bool closing = false;  // close once `out` is flushed
  bool waiting = false;  // one of its calls waits on a thread: its next lines wait their turn
  int64_t stuck_since_ms = 0;  // `out` waits on a full socket since it last took bytes (0: nothing waits)
  int budget = 2;        // lines per round: grows while its answers are small
};

// A request that may wait on the network (sync.now, activations.get: see
// cohort_rpc_waits), run on a thread of its own so the loop goes on serving
// everyone else: one client's ad-break budget or sync.now never holds another.
struct Waiter {
  uint64_t client = 0;
  std::string line;
  std::string answer;  // with its newline; "" for a notification
  unsigned topics = 0;
  bool done = false;   // under Server::waiters_mu_
  std::thread thread;
};
constexpr size_t kMaxWaiters = 32;  // past this, such lines wait in their client's buffer

// The error of a request whose whole batch call failed (the agent is
// closing: "shutting down"; out of memory), with the request's id; nothing
// for a notification, as JSON-RPC wants; a batch line gets an array.
Json failure_for(const cJSON *req, cohort_status st, const char *message) {
  const cJSON *id = cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, "id") : nullptr;
  if (cJSON_IsObject(req) && !id) return nullptr;
  Json r(cJSON_CreateObject());
  cJSON_AddStringToObject(r.get(), "jsonrpc", "2.0");
  cJSON *err = cJSON_AddObjectToObject(r.get(), "error");
  cJSON_AddNumberToObject(err, "code", -32000 - static_cast<int>(st));
  cJSON_AddStringToObject(err, "message", message);
  bool echo = id && (cJSON_IsString(id) || cJSON_IsNumber(id));
  cJSON_AddItemToObject(r.get(), "id", echo ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
  return r;
}

void answer_failure(std::string &out, const char *line, size_t len, cohort_status st) {
  const char *message = st == COHORT_ECLOSED ? "shutting down" : cohort_status_str(st);
  Json req(cJSON_ParseWithLength(line, len));
  Json answer;
  if (cJSON_IsArray(req.get()) && req->child) {
    answer.reset(cJSON_CreateArray());
    for (const cJSON *one = req->child; one; one = one->next) {
      Json a = failure_for(one, st, message);
      if (a && cJSON_AddItemToArray(answer.get(), a.get())) a.release();
    }
  } else {
    answer = failure_for(req.get(), st, message);
  }
  if (!answer || (cJSON_IsArray(answer.get()) && !answer->child)) return;
  JsonText text = tools::json_text(answer.get());
  if (!text) return;
  out += text.get();
  out += '\n';
}

int64_t now_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class Server {
 public:
  Server(cohort_agent *agent, int listen_fd, Reconfigure reconfigure)
      : agent_(agent), listen_fd_(listen_fd), reconfigure_(std::move(reconfigure)) {}

  void run() {
    while (!g_stop) {
      build_pollset();
      // Out of file descriptors: the listening socket stays readable, so it is
      // left out of the poll set and retried every 100 ms instead of spinning.
      // Lines still waiting in a buffer: look at the sockets, do not wait.
      int n = poll(fds_.data(), fds_.size(), lines_waiting_ ? 0 : poll_timeout_ms());
      if (n < 0 && errno != EINTR) {
        log_line("error", "poll: %s", strerror(errno));
        break;
      }
      if (n < 0) continue;
      if (fds_[0].revents & POLLIN) drain_wake();
      if (g_reload) reload();
      if ((fds_[1].revents & POLLIN) || (accept_paused_ && now_ms() - paused_at_ms_ >= 100)) accept_all();
      // Index 2.. maps to clients_ in order (built by build_pollset).
      for (size_t i = 2; i < fds_.size(); ++i) {
        Client &c = clients_[i - 2];
        short ev = fds_[i].revents;
        if (ev & (POLLERR | POLLNVAL)) drop(c);
        if (ev & (POLLIN | POLLHUP)) read_from(c);
      }
      collect_waiters();
      handle_lines();
      // Answers go out at once; poll() waits for room only when the socket is full.
      for (Client &c : clients_) {
        if (!c.out.empty()) write_to(c);
      }
      deliver_notifications();
      reap();
    }
    drain_on_exit();
  }

 private:
  void build_pollset() {
    fds_.clear();
    fds_.push_back({g_wake[0], POLLIN, 0});
    fds_.push_back({listen_fd_, static_cast<short>(clients_.size() < kMaxClients && !accept_paused_ ? POLLIN : 0), 0});
    for (const Client &c : clients_) {
      short events = 0;
      // Back-pressure: no new requests from a client that does not read its
      // answers, nor more than a line's worth ahead of what is handled (the
      // rest waits in the socket, and a fast writer blocks there).
      if (!c.closing && c.out.size() < kMaxPendingOut / 2 && c.in.size() <= kMaxLine) events |= POLLIN;
      if (!c.out.empty()) events |= POLLOUT;
      fds_.push_back({c.fd, events, 0});
    }
  }

  // Out of descriptors: retry accept() every 100 ms. A client past the cap
  // that reads nothing: wake up when its time is up.
  int poll_timeout_ms() const {
    int64_t wait = accept_paused_ ? 100 : -1;
    int64_t now = now_ms();
    for (const Client &c : clients_) {
      if (c.out.size() <= kMaxPendingOut || c.stuck_since_ms == 0) continue;
      int64_t left = std::max<int64_t>(c.stuck_since_ms + kStuckMs - now, 0) + 1;
      wait = wait < 0 ? left : std::min(wait, left);
    }
    return static_cast<int>(wait);
  }

  void drain_wake() {
    char buf[256];
    while (read(g_wake[0], buf, sizeof buf) > 0) {
    }
  }

  // SIGHUP: the configuration file again (a rotated api.key_file, a
  // corrected URL: config.reload), then the definitions file. A bad file
  // changes nothing, and says why.
  void reload() {
    g_reload = 0;
    std::string config, err;
    if (!reconfigure_(config, err)) {
      log_line("warn", "SIGHUP: %s; configuration unchanged", err.c_str());
    } else {
      call_logged("config.reload", ("{\"config\":" + config + "}").c_str());
    }
    call_logged("definitions.reload", nullptr);
  }

  void call_logged(const char *method, const char *params) {
    char *res = nullptr;
    if (cohort_call(agent_, method, params, &res) == COHORT_OK) {
      log_line("info", "SIGHUP: %s: %s", method, res);
    } else {
      log_line("warn", "SIGHUP: %s failed: %s", method, cohort_last_error(agent_));
    }
    cohort_free(res);
  }

  void accept_all() {
    accept_paused_ = false;
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          if (!accept_paused_) log_line("warn", "out of file descriptors: new connections wait");
          accept_paused_ = true;
          paused_at_ms_ = now_ms();
        }
        return;
      }
      if (clients_.size() >= kMaxClients) {
        close(fd);
        continue;
      }
      Client c;
      c.fd = fd;
      c.id = next_client_id_++;
      clients_.push_back(std::move(c));
    }
  }

  void read_from(Client &c) {
    char buf[16384];
    while (c.in.size() <= kMaxLine) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (!has_line(c) && c.in.size() > kMaxLine) {
          refuse_line(c);
          return;
        }
        // A short read drained the socket: the next poll() tells of more
        // (saves a recv that would only say EAGAIN, one per request).
        if (static_cast<size_t>(n) < sizeof buf) return;
        continue;  // past kMaxLine: enough to work on; the rest waits in the socket
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        // Peer gone (or half-closed): answer what is complete, then close.
        c.closing = true;
      }
      return;
    }
  }

  static bool has_line(const Client &c) { return c.in.find('\n') != std::string::npos; }

  // One group commit for the complete lines of every client: a few lines
  // from each (kLinesPerRound), only from clients whose answers are not piling
  // up (a few KiB of requests cannot make the daemon build megabytes of
  // answers). Nothing is answered before the batch is committed.
  void handle_lines() {
    struct Line {
      size_t client;
      const char *text;
      size_t len;
    };
    std::vector<Line> batch;
    std::vector<size_t> consumed(clients_.size(), 0);
    std::vector<bool> refuse(clients_.size(), false);
    std::vector<bool> held(clients_.size(), false);  // a waiting call of its own runs, or waits for a thread
    std::vector<std::pair<size_t, std::string>> waits;  // (client, line) to run on threads after the batch
    lines_waiting_ = false;
    for (size_t i = 0; i < clients_.size(); ++i) {
      Client &c = clients_[i];
      held[i] = c.waiting;
      if (c.waiting || c.out.size() >= kMaxPendingOut / 2) continue;
      size_t start = 0;
      for (int taken = 0; taken < c.budget;) {
        size_t nl = c.in.find('\n', start);
        if (nl == std::string::npos) break;
        if (nl - start > kMaxLine) {
          refuse[i] = true;
          break;
        }
        size_t len = nl - start;
        if (len > 0 && c.in[start + len - 1] == '\r') --len;
        const char *text = c.in.data() + start;
        if (!blank(text, len) && cohort_rpc_waits(text, len)) {
          // In order: what came before it is answered first (the batch), and
          // nothing after it runs before it has been answered.
          held[i] = true;
          if (waiters_.size() + waits.size() >= kMaxWaiters) break;  // it waits for a thread
          waits.emplace_back(i, std::string(text, len));
          start = nl + 1;
          break;
        }
        if (!blank(text, len)) {
          batch.push_back({i, text, len});
          ++taken;
        }
        start = nl + 1;
      }
      consumed[i] = start;
    }
    std::vector<size_t> before(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i) before[i] = clients_[i].out.size();
    if (!batch.empty()) {
      std::vector<const char *> texts(batch.size());
      std::vector<size_t> lens(batch.size());
      for (size_t k = 0; k < batch.size(); ++k) texts[k] = batch[k].text, lens[k] = batch[k].len;
      std::vector<char *> answers(batch.size(), nullptr);
      std::vector<unsigned> topics(batch.size(), 0);
      cohort_status st = cohort_rpc_batch(agent_, batch.size(), texts.data(), lens.data(), answers.data(), topics.data());
      for (size_t k = 0; k < batch.size(); ++k) {
        Client &c = clients_[batch[k].client];
        if (st != COHORT_OK) {
          answer_failure(c.out, batch[k].text, batch[k].len, st);
          continue;
        }
        c.topics |= topics[k];
        if (answers[k]) {
          c.out += answers[k];
          c.out += '\n';
          cohort_free(answers[k]);
        }
      }
    }
    for (auto &w : waits) start_waiter(clients_[w.first], std::move(w.second));
    for (size_t i = 0; i < clients_.size(); ++i) {
      Client &c = clients_[i];
      // Large answers (history.get) slow the client down to one line a round.
      c.budget = c.out.size() - before[i] > kLargeAnswers ? 1 : std::min(kLinesPerRound, c.budget * 2);
      c.in.erase(0, consumed[i]);
      release(c.in);
      // What is left may be the start of an overlong line (read no further).
      if (refuse[i] || (c.in.size() > kMaxLine && !has_line(c))) refuse_line(c);
      // A held client's lines go on when its call is answered (a wake-up).
      lines_waiting_ = lines_waiting_ || (!held[i] && has_line(c) && c.out.size() < kMaxPendingOut / 2);
    }
  }

  // Runs a waiting call on a thread; its answer comes back through the wake
  // pipe to collect_waiters(). Without a thread to be had, it runs here.
  void start_waiter(Client &c, std::string line) {
    c.waiting = true;
    waiters_.emplace_back();
    Waiter &w = waiters_.back();
    w.client = c.id;
    w.line = std::move(line);
    try {
      w.thread = std::thread(&Server::run_waiter, this, &w);
    } catch (const std::system_error &) {
      run_waiter(&w);
    }
  }

  void run_waiter(Waiter *w) {
    char *response = nullptr;
    unsigned topics = 0;
    cohort_status st = cohort_rpc(agent_, w->line.data(), w->line.size(), &response, &topics);
    std::string answer;
    if (st != COHORT_OK) {
      answer_failure(answer, w->line.data(), w->line.size(), st);
    } else if (response) {
      answer = response;
      answer += '\n';
    }
    cohort_free(response);
    {
      std::lock_guard<std::mutex> lock(waiters_mu_);
      w->answer = std::move(answer);
      w->topics = topics;
      w->done = true;
    }
    ssize_t ignored = write(g_wake[1], "w", 1);
    (void)ignored;
  }

  // The answers of the waiting calls that are done, to their clients (a
  // client gone meanwhile: dropped); those clients' next lines go on.
  void collect_waiters() {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      {
        std::lock_guard<std::mutex> lock(waiters_mu_);
        if (!it->done) {
          ++it;
          continue;
        }
      }
      if (it->thread.joinable()) it->thread.join();
      for (Client &c : clients_) {
        if (c.id != it->client) continue;
        c.out += it->answer;
        c.topics |= it->topics;
        c.waiting = false;
      }
      it = waiters_.erase(it);
    }
  }

  static bool blank(const char *line, size_t len) {
    for (size_t i = 0; i < len; ++i) {
      if (line[i] != ' ' && line[i] != '\t') return false;
    }
    return true;
  }

  // A broken connection: nothing more is read or written.
  static void drop(Client &c) {
    c.in.clear();
    c.out.clear();
    c.closing = true;
  }

  bool refuse_line(Client &c) {
    c.out += "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"request line longer than 65536 bytes;"
             " closing the connection\"},\"id\":null}\n";
    c.in.clear();
    c.closing = true;
    return false;
  }

  void write_to(Client &c) {
    bool took = false;
    bool was_full = c.out.size() >= kMaxPendingOut / 2;
    while (!c.out.empty()) {
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        took = true;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (took || c.stuck_since_ms == 0) c.stuck_since_ms = now_ms();  // full since the last byte it took
        resume_if_drained(c, was_full);
        return;
      }
      drop(c);
      return;
    }
    c.stuck_since_ms = 0;
    release(c.out);
    resume_if_drained(c, was_full);
  }

  // Its lines were skipped while answers piled up; once they have left, the
  // next poll() must not wait: with a full input buffer (no POLLIN) and
  // nothing left to write (no POLLOUT), nothing else would wake the loop.
  void resume_if_drained(const Client &c, bool was_full) {
    if (was_full && c.out.size() < kMaxPendingOut / 2 && !c.waiting && has_line(c)) lines_waiting_ = true;
  }

  // A buffer that grew for a burst gives its memory back once empty.
  static void release(std::string &buf) {
    if (buf.empty() && buf.capacity() > kMaxLine) std::string().swap(buf);
  }

  void deliver_notifications() {
    std::vector<std::string> notes;
    {
      std::lock_guard<std::mutex> lock(g_notes_mu);
      notes.swap(g_notes);
    }
    for (const std::string &n : notes) {
      for (Client &c : clients_) {
        if ((c.topics & COHORT_TOPIC_COHORTS) && !c.closing) {
          c.out += n;
          write_to(c);
        }
      }
    }
  }

  void reap() {
    for (size_t i = 0; i < clients_.size();) {
      Client &c = clients_[i];
      // A closing client's last answer is flushed before the check below, so
      // it is closed now rather than at the next unrelated wake-up.
      if (!c.out.empty()) write_to(c);
      // Past the cap (one large answer, or notifications piling up) is fine
      // while the client reads; one that takes nothing for kStuckMs goes.
      bool stuck = c.out.size() > kMaxPendingOut && c.stuck_since_ms != 0 && now_ms() - c.stuck_since_ms >= kStuckMs;
      if ((c.closing && c.out.empty() && !has_line(c) && !c.waiting) || stuck) {
        if (stuck) log_line("warn", "dropping a client that does not read its answers");
        if (c.closing && !c.out.empty()) write_to(c);
        close(c.fd);
        clients_[i] = std::move(clients_.back());
        clients_.pop_back();
        continue;
      }
      ++i;
    }
  }

  // On shutdown: the waiting calls are answered at once ("shutting down"),
  // then pending answers get a short moment to leave.
  void drain_on_exit() {
    cohort_shutdown(agent_);  // done already on SIGTERM; not when the loop failed
    for (Waiter &w : waiters_) {
      if (w.thread.joinable()) w.thread.join();
    }
    collect_waiters();
    for (int waited = 0; waited < kShutdownDrainMs; waited += 10) {
      bool pending = false;
      for (Client &c : clients_) {
        write_to(c);
        pending |= !c.out.empty();
      }
      if (!pending) break;
      usleep(10000);
    }
    for (Client &c : clients_) close(c.fd);
    clients_.clear();
  }

  cohort_agent *agent_;
  int listen_fd_;
  Reconfigure reconfigure_;
  std::vector<Client> clients_;
  std::vector<pollfd> fds_;
  bool accept_paused_ = false;  // out of file descriptors...
  int64_t paused_at_ms_ = 0;    // ...since then (monotonic)
  bool lines_waiting_ = false;  // complete lines left for the next round
  uint64_t next_client_id_ = 1;
  std::list<Waiter> waiters_;   // stable addresses: each thread holds its own
  std::mutex waiters_mu_;       // guards Waiter::done, answer, topics
};

}  // namespace

void serve(cohort_agent *agent, int listen_fd, Reconfigure reconfigure) {
  Server server(agent, listen_fd, std::move(reconfigure));
  server.run();
}

}  // namespace co::daemon
