// Refused: a guarded member read without its lock.
#include "platform/mutex.h"

struct Counter {
  co::platform::Mutex mu;
  int n CO_GUARDED_BY(mu) = 0;
  int get() { return n; }
};

int main() {
  return Counter().get();
}
