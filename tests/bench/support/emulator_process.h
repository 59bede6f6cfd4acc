// The API emulator (tests/emulator/emulator.py) as a child process of a
// benchmark, on a free port, and its control API. Shared by the benchmarks
// that need a live API (bench_sync, bench_device).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bench {

[[noreturn]] void die(const std::string &what);

struct Emulator {
  pid_t pid = -1;
  std::string url;
};

// With `stock` false the emulator answers with TCP_NODELAY: its answers leave
// in two writes, and with Nagle on a kept-alive connection would wait ~40 ms
// for the client's delayed ACK each request (all a benchmark would measure).
Emulator start_emulator(const std::string &dir, const char *api_key, bool stock = false);
void stop_emulator(Emulator &e);
// One call of the emulator's control API (GET, or POST with a body); its answer.
std::string control(const Emulator &e, const std::string &path, const char *post_body = nullptr);

// A fresh directory under `parent`; a whole tree removed.
std::string make_dir(const std::string &parent, const char *name);
void remove_tree(const std::string &root);
// The p-th fraction (0..1] of `v` by the nearest-rank method.
double percentile(std::vector<double> v, double p);

}  // namespace bench
