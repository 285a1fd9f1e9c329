// One parallel policy for every kernel: how many threads a loop gets, how
// exceptions leave an OpenMP region, and how a long call is interrupted.
//
// - Threads: as many as asked (Exec::n_threads > 0) or OpenMP's default
//   (threadpoolctl, OMP_NUM_THREADS), never more than there are work items,
//   and one per kWorkPerThread operations at most: waking a thread costs more
//   than it saves on a small loop. In a process forked from a parent that has
//   used OpenMP, one thread: GNU libgomp's thread pool does not survive fork
//   (a parallel region in the child would wait forever for the parent's threads).
// - Exceptions: caught inside the region (ErrorSlot), the first one rethrown
//   after it.
// - Interruption: the calling thread polls Exec::poll (in the bindings: a
//   pending KeyboardInterrupt) at most every kPollSeconds; once it says stop,
//   every thread skips the work items left and the kernel throws Interrupted.
// - Progress: the calling thread reports a long loop's share of items done
//   through Exec::progress at most every kProgressSeconds, and kernels with
//   stages (k-means) report each step; a progress hook that returns true
//   stops the call like an interruption.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace emfast {

// Operations (about a multiply-add each) below which a loop gets one thread
// fewer: 4e5 of them take ~0.1 ms, about what waking a thread costs.
constexpr double kWorkPerThread = 4e5;

// How often the calling thread checks for an interruption, and reports progress.
constexpr double kPollSeconds = 0.05;
constexpr double kProgressSeconds = 0.5;

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline bool have_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// Set in a child process after fork (the bindings register the handler).
inline std::atomic<bool>& forked_child() {
    static std::atomic<bool> flag{false};
    return flag;
}
inline void mark_forked_child() { forked_child().store(true); }

// Thrown by a kernel that stopped because Exec::poll asked it to.
struct Interrupted : std::exception {
    const char* what() const noexcept override { return "interrupted"; }
};

// When the calling thread last polled and reported progress. One clock per
// call, shared by its kernels: a call made of many kernels shorter than
// kPollSeconds each (an EM loop of short passes) still polls every kPollSeconds.
struct PollClock {
    using Clock = std::chrono::steady_clock;
    Clock::time_point polled = Clock::now(), reported = polled;
};

// How a kernel runs: its thread count, the interruption check and the progress
// hook (both called on the calling thread only; true: stop).
struct Exec {
    int n_threads = 0;  // 0: OpenMP's default
    std::function<bool()> poll;
    std::function<bool(const char* stage, int64_t done, int64_t total)> progress;
    std::shared_ptr<PollClock> clock = std::make_shared<PollClock>();
};

// Reports a step of a staged kernel (on the calling thread, between parallel
// regions); throws Interrupted if the hook says stop.
inline void report(const Exec& ex, const char* stage, int64_t done, int64_t total) {
    if (ex.progress && ex.progress(stage, done, total)) throw Interrupted();
}

// Threads for a loop of `items` work items and `work` operations in all.
inline int thread_count(const Exec& ex, int64_t items, double work) {
    if (forked_child().load()) return 1;
    int n = ex.n_threads > 0 ? ex.n_threads : max_threads();
    n = int(std::min<int64_t>(n, std::max<int64_t>(items, 1)));
    if (ex.n_threads <= 0) n = int(std::min<double>(n, std::max(1.0, work / kWorkPerThread)));
    return std::max(n, 1);
}

// The first exception thrown inside a parallel region, rethrown after it: no
// exception ever leaves an OpenMP region.
class ErrorSlot {
   public:
    template <class F> void run(F&& f) noexcept {
        try {
            f();
        } catch (...) {
#ifdef _OPENMP
#pragma omp critical(emfast_error_slot)
#endif
            if (!error_) error_ = std::current_exception();
        }
    }
    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

   private:
    std::exception_ptr error_;
};

// The interruption state of one kernel call. stopped() is cheap and may be
// called by any thread; check() polls when due, on the calling thread only
// (OpenMP's thread 0 of the team it starts, or the caller outside a region).
class Interruption {
   public:
    explicit Interruption(const Exec& ex, int64_t items = 0)
        : poll_(ex.poll), progress_(ex.progress), items_(items),
          clock_(ex.clock ? ex.clock : std::make_shared<PollClock>()) {}
    bool stopped() const { return stop_.load(std::memory_order_relaxed); }
    void item_done() { done_.fetch_add(1, std::memory_order_relaxed); }
    bool check() {
        if (stopped()) return true;
        if (!on_calling_thread() || !(poll_ || progress_)) return false;
        const auto now = Clock::now();
        if (std::chrono::duration<double>(now - clock_->polled).count() < kPollSeconds) return false;
        clock_->polled = now;
        bool stop = poll_ && poll_();
        if (!stop && progress_ && items_ > 0 &&
            std::chrono::duration<double>(now - clock_->reported).count() >= kProgressSeconds) {
            clock_->reported = now;
            stop = progress_("pass", done_.load(std::memory_order_relaxed), items_);
        }
        if (stop) stop_.store(true, std::memory_order_relaxed);
        return stopped();
    }
    // Throws Interrupted if the call was stopped (after the parallel region).
    void raise_if_stopped() const {
        if (stopped()) throw Interrupted();
    }

   private:
    using Clock = std::chrono::steady_clock;
    static bool on_calling_thread() {
#ifdef _OPENMP
        return omp_get_thread_num() == 0;
#else
        return true;
#endif
    }
    std::function<bool()> poll_;
    std::function<bool(const char*, int64_t, int64_t)> progress_;
    int64_t items_;
    std::shared_ptr<PollClock> clock_;
    std::atomic<int64_t> done_{0};
    std::atomic<bool> stop_{false};
};

// body(item, thread) for item in [0, items) on nt threads, dynamically
// scheduled one item at a time; exceptions and interruptions as above.
// Items left when an interruption is noticed are skipped. One thread runs the
// items in order on the calling thread, without a parallel region (starting
// one costs more than a small item: a 64 x 64 Cholesky factor's block of columns).
template <class Body> void parallel_for(int64_t items, int nt, Interruption& intr, Body&& body) {
    ErrorSlot errors;
    auto item = [&](int64_t i, int thread) {
        if (intr.check()) return;
        errors.run([&] { body(i, thread); });
        intr.item_done();
    };
    if (nt <= 1) {
        for (int64_t i = 0; i < items; ++i) item(i, 0);
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t i = 0; i < items; ++i) item(i, omp_get_thread_num());
#else
        for (int64_t i = 0; i < items; ++i) item(i, 0);
#endif
    }
    errors.rethrow();
    intr.raise_if_stopped();
}

}  // namespace emfast
