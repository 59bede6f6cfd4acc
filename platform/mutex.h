// A mutex that clang's thread-safety analysis (-Wthread-safety) can follow,
// and the annotations that say which lock guards what. With GCC, or any
// compiler without the analysis, the annotations are empty and Mutex is a
// std::mutex. The check (tests/thread_safety) compiles the sources that use
// them with clang and the analysis as an error, so a member read without its
// lock fails `make test` on a host that builds with GCC.
//
// A condition variable waits on the Mutex itself (std::condition_variable_any
// takes any lockable): the analysis sees the lock held across the wait, which
// is what the code after the wait may rely on.
#pragma once
#include <mutex>

#if defined(__clang__)
#define CO_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CO_THREAD_ANNOTATION(x)
#endif

#define CO_CAPABILITY(x) CO_THREAD_ANNOTATION(capability(x))
#define CO_SCOPED_CAPABILITY CO_THREAD_ANNOTATION(scoped_lockable)
// The member is read and written only with this lock held.
#define CO_GUARDED_BY(x) CO_THREAD_ANNOTATION(guarded_by(x))
// The function is called with this lock held.
#define CO_REQUIRES(...) CO_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The function takes this lock itself: it must not be held when it is called.
#define CO_EXCLUDES(...) CO_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define CO_ACQUIRE(...) CO_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define CO_RELEASE(...) CO_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define CO_TRY_ACQUIRE(...) CO_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// A predicate a condition variable calls with the lock held: the analysis
// cannot see that through the standard library, so it is told here, per use.
#define CO_NO_THREAD_SAFETY_ANALYSIS CO_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace co::platform {

class CO_CAPABILITY("mutex") Mutex {
 public:
  void lock() CO_ACQUIRE() { mu_.lock(); }
  void unlock() CO_RELEASE() { mu_.unlock(); }
  bool try_lock() CO_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for a scope; unlock() and lock() let go of it for a while
// inside the scope (a network call), and the destructor lets go only if held.
class CO_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex &mu) CO_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() CO_RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock &) = delete;
  MutexLock &operator=(const MutexLock &) = delete;

  void unlock() CO_RELEASE() {
    mu_.unlock();
    held_ = false;
  }
  void lock() CO_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

 private:
  Mutex &mu_;
  bool held_ = true;
};

}  // namespace co::platform
