// Refused: a function that needs the lock, called without it.
#include "platform/mutex.h"

struct Counter {
  co::platform::Mutex mu;
  int n CO_GUARDED_BY(mu) = 0;
  void bump() CO_REQUIRES(mu) { ++n; }
  void outside() { bump(); }
};

int main() {
  Counter c;
  c.outside();
  return 0;
}
