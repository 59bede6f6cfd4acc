// Refused: a member written while a MutexLock has let go of its lock (the
// window a network call runs in).
#include "platform/mutex.h"

struct Counter {
  co::platform::Mutex mu;
  int n CO_GUARDED_BY(mu) = 0;
  void during_the_call() {
    co::platform::MutexLock lock(mu);
    lock.unlock();
    ++n;
    lock.lock();
  }
};

int main() {
  Counter c;
  c.during_the_call();
  return 0;
}
