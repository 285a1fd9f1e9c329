// Loopy belief propagation for learning from label proportions (see bp.hpp).
//
// One sweep, every new message computed from the previous sweep's messages,
// in phases (each a parallel loop over items that any thread may take):
//   1. S_i = h_i + the similarity messages into i, and (pairwise) the bag part
//      of i = h^bag_i + the pair messages into i                 (row blocks)
//   2. exact: each bag's tilt, count distribution and weights        (bags)
//      pairwise: both directions of every in-bag pair, in place (row blocks)
//   3. the similarity messages, into a second buffer        (blocks of entries)
//   4. exact: each row's leave-one-out division and message, damped in place
//      (groups of 8 SIMD vectors of rows of one bag)
//   5. the largest change of a message (a max: the same in any order)
// Every item is computed the same way whichever thread takes it, so the result
// is the same for any number of threads. The calling thread checks for an
// interruption between items, and (a bag of 400 000 rows is one item of phase
// 2 that takes seconds) inside the bags' dynamic programmes.
#include "bp.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "simd.hpp"

namespace emfast {
namespace bp {
namespace {

using V = Simd<double>::V;
constexpr int W = Simd<double>::W;
constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Work per sweep: the bag terms are O(B^2) per bag, a message costs ~20 units.
double sweep_work(const Bags& bags, int64_t nnz) {
    double w = 20.0 * double(nnz);
    for (int64_t b = 0; b < bags.n_bags; ++b) {
        const double B = double(bags.offsets[b + 1] - bags.offsets[b]);
        w += B * B + B;
    }
    return w;
}

// body(item) for item in [0, items) on nt threads, each item taken by the next
// free thread. Unlike parallel_for, the calling thread keeps polling for an
// interruption after its last item until the other threads are done: here one
// item (the dynamic programme of a bag of 400 000 rows) may take seconds. Once
// stopped, items not yet started are skipped (and the bodies return early).
template <class Body> void for_each_polled(int64_t items, int nt, Interruption& intr, Body&& body) {
    ErrorSlot errors;
    std::atomic<int64_t> next{0}, left{items};
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
        for (int64_t i = next.fetch_add(1); i < items; i = next.fetch_add(1)) {
            if (!intr.check()) errors.run([&] { body(i); });
            left.fetch_sub(1, std::memory_order_acq_rel);
        }
#ifdef _OPENMP
        if (omp_get_thread_num() == 0)
            while (left.load(std::memory_order_acquire) > 0) {
                intr.check();
                std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
#endif
    }
    (void)nt;
    errors.rethrow();
    intr.raise_if_stopped();
}

// The largest of per-thread values (a max: the same in any order).
double largest(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

inline double clip_logodds(double x) { return std::min(std::max(x, -kInfLogOdds), kInfLogOdds); }

inline double sigmoid(double x) {
    const double e = std::exp(-std::fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

inline V vabs(V x) { return x < 0.0 ? -x : x; }

// q0 = sigmoid(-x), q1 = sigmoid(x) lane by lane, both to full relative precision.
inline void sigmoid_pair(V x, V& q0, V& q1) {
    const V e = vexp(-vabs(x));
    const V r = 1.0 / (1.0 + e);
    const V er = e * r;
    q1 = x >= 0.0 ? r : er;
    q0 = x >= 0.0 ? er : r;
}

// x[j] + shift for j in [j0, j0 + W), lanes past n padded with -1e300
// (sigmoid 0: they add nothing to the sums below).
inline V load_shifted(const double* x, int64_t j0, int64_t n, double shift) {
    if (j0 + W <= n) return vload<V>(x + j0) + shift;
    alignas(64) double t[W];
    for (int l = 0; l < W; ++l) t[l] = j0 + l < n ? x[j0 + l] + shift : -1e300;
    return vload<V>(t);
}

// The message of a pairwise factor exp(J y_i y_j) given the cavity log-odds H
// of the sender: log[(1 + e^{J+H}) / (1 + e^H)] = softplus(J+H) - softplus(H),
// written so that no large terms cancel (H may be ~kInfLogOdds: the result is
// then exactly J).
inline V pair_message(V J, V H) {
    const V a = J + H;
    const auto pa = a > 0.0;
    const auto ph = H > 0.0;
    V base = (pa ? a : V{}) - (ph ? H : V{});
    base = (pa & ph) ? J : base;
    // + log(1 + e^-|a|) - log(1 + e^-|H|), one log of a ratio in [1/2, 2]
    return base + vlog((1.0 + vexp(-vabs(a))) / (1.0 + vexp(-vabs(H))));
}

// -------------------------------------------------------------- exact factor

// Rows of one bag divided together, in kNV independent vectors (enough
// independent dependency chains to hide the latency of the recursion).
constexpr int kNV = 8;
constexpr int kLanes = kNV * W;

// Entries of the count distribution below this are dropped (set to 0): an
// entry dropped during the dynamic programme changes any final entry by at
// most 1e-280. The tilt puts the distribution's mode where the psi weights
// are largest, but a leave-one-out distribution may still need, at the count
// next to its mode, a value e^-(log-odds of a confident row) below the mode
// (a message of that many log-odds): entries down to ~e^-640 of the mode are
// kept accurate, and a message beyond that is taken as certain (+-kInfLogOdds).
// Dropping the tails keeps the O(B^2) loops to the counts within ~36 sd of the
// mode, and subnormal numbers out of them.
constexpr double kTinyProb = 1e-280;
// Weights psi(c) / max psi below exp(-700) are dropped the same way.
constexpr double kLogWeightFloor = -700.0;
// Rows of the dynamic programme between two checks for an interruption.
constexpr int64_t kRowsPerCheck = 256;

// The exponential tilt theta of a bag. Tilting every cavity log-odds by theta
// multiplies P(c) by e^{theta c} (up to a constant) and is undone exactly in
// the message; it is chosen so that the tilted count distribution is centred
// where psi(c) P(c) has its mass:
//   finite lambda:   theta + 2 lambda (m(theta) - k) = 0
//   lambda = inf:    m(theta) = clamp(k, 1/2, B - 1/2)
// with m(theta) = sum_j sigmoid(L_j + theta). Then psi(c) e^{-theta c} is
// (up to a constant) exp(-lambda (c - mu)^2) with mu = k - theta / (2 lambda)
// = m(theta): both the weights and the distribution peak at the same count,
// and bags of thousands of rows neither underflow nor overflow. theta only
// needs to be roughly right (it cancels exactly); safeguarded Newton from the
// previous sweep's value.
double solve_tilt(const double* L, int64_t B, double k, double lambda, double theta0, Interruption& intr) {
    if (lambda == 0.0) return 0.0;
    const bool hard = std::isinf(lambda);
    double lo, hi, target = 0.0;
    if (hard) {
        double lmin = L[0], lmax = L[0];
        for (int64_t j = 1; j < B; ++j) lmin = std::min(lmin, L[j]), lmax = std::max(lmax, L[j]);
        const double lg = std::log(2.0 * double(B));
        lo = -lmax - lg - 1.0;
        hi = -lmin + lg + 1.0;
        target = std::min(std::max(k, 0.5), double(B) - 0.5);
    } else {
        lo = -2.0 * lambda * (double(B) - k) - 1.0;
        hi = 2.0 * lambda * k + 1.0;
    }
    double th = std::min(std::max(theta0, lo), hi);
    for (int it = 0; it < 200 && !intr.check(); ++it) {
        V vm{}, vv{};
        for (int64_t j = 0; j < B; j += W) {
            V q0, q1;
            sigmoid_pair(load_shifted(L, j, B, th), q0, q1);
            vm += q1;
            vv += q0 * q1;
        }
        const double m = hsum<double>(vm), v = hsum<double>(vv);
        const double g = hard ? m - target : th + 2.0 * lambda * (m - k);
        const double gp = hard ? v : 1.0 + 2.0 * lambda * v;
        if (g == 0.0) return th;
        if (g < 0.0)
            lo = th;
        else
            hi = th;
        double tn = th - g / gp;
        if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
        const bool done = std::fabs(tn - th) < 1e-3 || hi - lo < 1e-3;
        th = tn;
        if (done) break;
    }
    return th;
}

// The exact cardinality factors of all bags. One sweep: prepare(b) for every
// bag (any order, any thread), then plan() once, then divide(t) for every task
// (any order, any thread).
class ExactFactor {
   public:
    ExactFactor(const Bags& bags, int64_t n, double lambda)
        : bags_(bags),
          lambda_(lambda),
          P_(static_cast<size_t>(n + bags.n_bags)),
          w0_(static_cast<size_t>(n)),
          w1_(static_cast<size_t>(n)),
          q0_(static_cast<size_t>(n)),
          q1_(static_cast<size_t>(n)),
          L_(static_cast<size_t>(n)),
          perm_(static_cast<size_t>(n)),
          prep_(static_cast<size_t>(bags.n_bags)),
          theta_(static_cast<size_t>(bags.n_bags), 0.0) {
        // at most ceil(n_low / lanes) + ceil((B - n_low) / lanes) tasks per bag
        tasks_.reserve(static_cast<size_t>(n / kLanes + 2 * bags.n_bags + 1));
    }

    int64_t n_bags() const { return bags_.n_bags; }
    int64_t n_tasks() const { return int64_t(tasks_.size()); }

    // Groups the rows of every bag into tasks of up to kLanes rows that divide
    // in the same direction. Serial, after prepare() of every bag.
    void plan() {
        tasks_.clear();
        for (int64_t b = 0; b < bags_.n_bags; ++b) {
            const int64_t B = size(b), nl = prep_[size_t(b)].n_low;
            for (int64_t s = 0; s < nl; s += kLanes) tasks_.push_back({b, s, std::min<int64_t>(kLanes, nl - s), true});
            for (int64_t s = nl; s < B; s += kLanes) tasks_.push_back({b, s, std::min<int64_t>(kLanes, B - s), false});
        }
    }

   private:
    struct Prep {
        double theta = 0.0, M0 = 0.0, M1 = 0.0;
        int64_t plo = 0, phi = 0;  // support of the tilted count distribution P (0..B)
        int64_t wlo = 0, whi = -1;  // counts c (0..B-1) where w0 or w1 is non-zero
        int64_t n_low = 0;          // members perm[0..n_low) divide bottom-up
    };
    struct Task {
        int64_t bag, start, count;
        bool low;
    };

    int64_t size(int64_t b) const { return bags_.offsets[b + 1] - bags_.offsets[b]; }

    // log of psi(c) e^{-theta c}, up to a constant common to all c (see log_psi_shift).
    double log_weight(double c, double k, double theta) const {
        if (std::isinf(lambda_)) {
            // the counts nearest to k (one, or two when k is a half-integer)
            const double fl = std::floor(k), dlo = k - fl, dhi = fl + 1.0 - k;
            const bool allowed = (c == fl && dlo <= dhi) || (c == fl + 1.0 && dhi <= dlo);
            return allowed ? -theta * c : -kInf;
        }
        if (lambda_ == 0.0) return 0.0;
        const double mu = k - theta / (2.0 * lambda_);
        return -lambda_ * (c - mu) * (c - mu);
    }

    // The constant C of log_weight(c) = log psi(c) - theta c + C: for finite
    // lambda, -lambda (c - mu)^2 = -lambda (c - k)^2 - theta c + theta k - theta^2 / (4 lambda).
    double log_psi_shift(double k, double theta) const {
        if (std::isinf(lambda_) || lambda_ == 0.0) return 0.0;
        return theta * k - theta * theta / (4.0 * lambda_);
    }

    // q0, q1 of the bag's members: sigmoid(-(L + theta)), sigmoid(L + theta).
    void tilted_probabilities(int64_t o, int64_t B, double th) {
        const double* L = L_.data() + o;
        double* q0 = q0_.data() + o;
        double* q1 = q1_.data() + o;
        for (int64_t j = 0; j < B; j += W) {
            V a, c;
            sigmoid_pair(load_shifted(L, j, B, th), a, c);
            alignas(64) double ta[W], tc[W];
            vstore(ta, a);
            vstore(tc, c);
            for (int l = 0; l < W && j + l < B; ++l) q0[j + l] = ta[l], q1[j + l] = tc[l];
        }
    }

    // The count distribution prod_j (q0_j + q1_j z) by dynamic programming
    // (O(B^2)), support [plo, phi]. False if interrupted.
    bool count_distribution(int64_t b, Interruption& intr) {
        const int64_t o = bags_.offsets[b], B = size(b);
        const double* q0 = q0_.data() + o;
        const double* q1 = q1_.data() + o;
        double* P = P_.data() + o + b;
        P[0] = 1.0;
        int64_t lo = 0, hi = 0;
        for (int64_t j = 0; j < B; ++j) {
            if (j % kRowsPerCheck == kRowsPerCheck - 1 && intr.check()) return false;
            const double a = q0[j], c1 = q1[j];
            P[hi + 1] = 0.0;
            int64_t c = hi + 1;
            const V va = vsplat<V>(a), vc = vsplat<V>(c1);
            for (; c - W >= lo; c -= W) {  // block [c-W+1, c] from [c-W, c-1]: top-down, in place
                const V cur = vload<V>(P + c - W + 1), prv = vload<V>(P + c - W);
                vstore(P + c - W + 1, va * cur + vc * prv);
            }
            for (; c > lo; --c) P[c] = a * P[c] + c1 * P[c - 1];
            P[lo] = a * P[lo];
            ++hi;
            while (hi > lo && P[hi] < kTinyProb) P[hi--] = 0.0;
            while (lo < hi && P[lo] < kTinyProb) P[lo++] = 0.0;
        }
        prep_[size_t(b)].plo = lo;
        prep_[size_t(b)].phi = hi;
        return true;
    }

    // The weights on the counts c = 0..B-1 of the other rows:
    //   w0(c) = psi~(c) / max,  w1(c) = psi~(c + 1) / max
    // computed (and read) only on the counts where one is above e^-700.
    void weights(int64_t b) {
        const int64_t o = bags_.offsets[b], B = size(b);
        const double k = bags_.counts[b];
        Prep& pr = prep_[size_t(b)];
        const double th = pr.theta;
        int64_t clo = 0, chi = B - 1;  // candidate counts
        if (std::isinf(lambda_)) {
            const int64_t fl = int64_t(std::floor(k));
            clo = std::max<int64_t>(0, fl - 1);
            chi = std::min<int64_t>(B - 1, fl + 1);
        } else if (lambda_ > 0.0) {
            // w0(c) >= e^-700 iff |c - mu| <= sqrt(700 / lambda + (c0 - mu)^2), c0 the best
            // count in [0, B-1]; likewise w1 with c + 1 and the best count c1 in [1, B]
            const double mu = k - th / (2.0 * lambda_);
            const double c0 = std::min(std::max(std::nearbyint(mu), 0.0), double(B - 1));
            const double c1 = std::min(std::max(std::nearbyint(mu), 1.0), double(B));
            const double reach =
                std::sqrt(-kLogWeightFloor / lambda_) + std::max(std::fabs(c0 - mu), std::fabs(c1 - mu)) + 1.0;
            clo = int64_t(std::max(0.0, std::floor(mu - 1.0 - reach)));
            chi = int64_t(std::min(double(B - 1), std::ceil(mu + reach)));
        }
        double M0 = -kInf, M1 = -kInf;
        for (int64_t c = clo; c <= chi; ++c) {
            M0 = std::max(M0, log_weight(double(c), k, th));
            M1 = std::max(M1, log_weight(double(c + 1), k, th));
        }
        pr.M0 = M0;
        pr.M1 = M1;
        double* w0 = w0_.data() + o;
        double* w1 = w1_.data() + o;
        pr.wlo = B;
        pr.whi = -1;
        for (int64_t c = clo; c <= chi; ++c) {
            const double l0 = M0 > -kInf ? log_weight(double(c), k, th) - M0 : -kInf;
            const double l1 = M1 > -kInf ? log_weight(double(c + 1), k, th) - M1 : -kInf;
            w0[c] = l0 >= kLogWeightFloor ? std::exp(l0) : 0.0;
            w1[c] = l1 >= kLogWeightFloor ? std::exp(l1) : 0.0;
            if (w0[c] > 0.0 || w1[c] > 0.0) {
                pr.wlo = std::min(pr.wlo, c);
                pr.whi = c;
            }
        }
    }

    // Rows with q1 <= q0 divide bottom-up, the others top-down (each the
    // stable direction: errors are multiplied by min(q0, q1) / max(q0, q1)).
    void split(int64_t b) {
        const int64_t o = bags_.offsets[b], B = size(b);
        const double* L = L_.data() + o;
        const double th = prep_[size_t(b)].theta;
        int64_t* perm = perm_.data() + o;
        int64_t nl = 0;
        for (int64_t j = 0; j < B; ++j)
            if (L[j] + th <= 0.0) perm[nl++] = j;
        prep_[size_t(b)].n_low = nl;
        int64_t p = nl;
        for (int64_t j = 0; j < B; ++j)
            if (!(L[j] + th <= 0.0)) perm[p++] = j;
    }

   public:
    // Phase 1, per bag: tilt, tilted probabilities, the count distribution,
    // the psi weights, and the split of the members by division direction.
    // cavity[row] is the log-odds of everything row receives except this
    // factor's message. Returns early (leaving the bag unusable) once intr is
    // stopped.
    void prepare(int64_t b, const double* cavity, Interruption& intr) {
        const int64_t o = bags_.offsets[b], B = size(b);
        double* L = L_.data() + o;
        for (int64_t j = 0; j < B; ++j) L[j] = cavity[bags_.members[o + j]];
        const double th = solve_tilt(L, B, bags_.counts[b], lambda_, theta_[size_t(b)], intr);
        theta_[size_t(b)] = th;
        prep_[size_t(b)].theta = th;
        tilted_probabilities(o, B, th);
        if (!count_distribution(b, intr)) return;
        weights(b);
        split(b);
    }

    // After prepare(b): log sum_c psi(c) P(c), P the untilted count
    // distribution of the whole bag. With the tilted distribution P~,
    //   P(c) = P~(c) e^{-theta c} prod_j (q0_j + q1_j e^theta)   (untilted q)
    // and log prod_j (...) = sum_j log[(1 + e^{L_j + theta}) / (1 + e^{L_j})],
    // the pair message with J = theta and H = L_j.
    double log_partition(int64_t b) const {
        const int64_t o = bags_.offsets[b], B = size(b);
        const Prep& pr = prep_[size_t(b)];
        const double k = bags_.counts[b], th = pr.theta;
        const double* P = P_.data() + o + b;
        double top = -kInf;
        for (int64_t c = pr.plo; c <= pr.phi; ++c) top = std::max(top, log_weight(double(c), k, th));
        if (top == -kInf) return -kInf;
        double z = 0.0;
        for (int64_t c = pr.plo; c <= pr.phi; ++c) z += P[c] * std::exp(log_weight(double(c), k, th) - top);
        if (!(z > 0.0)) return -kInf;
        const double* L = L_.data() + o;
        V acc{};
        for (int64_t j = 0; j < B; j += W) acc += pair_message(vsplat<V>(th), load_shifted(L, j, B, 0.0));
        // padded lanes hold -1e300: their pair message is 0
        return std::log(z) + top - log_psi_shift(k, th) + hsum<double>(acc);
    }

    // Phase 2, per task (up to kLanes rows of one bag): the leave-one-out count
    // distributions P_{-i} = P / (q0_i + q1_i z) by synthetic division (O(B)
    // per row, the rows in SIMD lanes), weighted by w0 and w1, and the messages,
    // damped into f: f[row] <- damping f[row] + (1 - damping) message (a
    // certain message, +-kInfLogOdds, replaces f[row]).
    // Returns the largest change of f.
    double divide(int64_t task, double damping, double* f) const {
        const Task& t = tasks_[size_t(task)];
        const int64_t b = t.bag, o = bags_.offsets[b];
        const Prep& pr = prep_[size_t(b)];
        const double* P = P_.data() + o + b;
        const double* w0 = w0_.data() + o;
        const double* w1 = w1_.data() + o;
        const int64_t* perm = perm_.data() + o + t.start;
        alignas(64) double qa[kLanes], inv[kLanes], s0[kLanes], s1[kLanes];
        for (int l = 0; l < kLanes; ++l) {
            if (l < t.count) {
                const int64_t j = perm[l];
                // bottom-up: R(c) = (P(c) - q1 R(c-1)) / q0 ; top-down: R(c-1) = (P(c) - q0 R(c)) / q1
                qa[l] = t.low ? q1_[size_t(o + j)] : q0_[size_t(o + j)];
                inv[l] = 1.0 / (t.low ? q0_[size_t(o + j)] : q1_[size_t(o + j)]);
            } else {
                qa[l] = 0.0;  // padding lanes: R = P, ignored
                inv[l] = 1.0;
            }
        }
        V q[kNV], iv[kNV], r[kNV], a0[kNV], a1[kNV];
        for (int v = 0; v < kNV; ++v) {
            q[v] = vload<V>(qa + v * W);
            iv[v] = vload<V>(inv + v * W);
            r[v] = V{};
            a0[v] = V{};
            a1[v] = V{};
        }
        const int64_t wlo = pr.wlo, whi = pr.whi;
        if (wlo <= whi) {
            if (t.low) {
                int64_t c = pr.plo;
                for (; c < wlo; ++c) {
                    const V p = vsplat<V>(P[c]);
                    for (int v = 0; v < kNV; ++v) r[v] = (p - q[v] * r[v]) * iv[v];
                }
                for (; c <= whi; ++c) {
                    const V p = vsplat<V>(P[c]), x0 = vsplat<V>(w0[c]), x1 = vsplat<V>(w1[c]);
                    for (int v = 0; v < kNV; ++v) {
                        r[v] = (p - q[v] * r[v]) * iv[v];
                        a0[v] += x0 * r[v];
                        a1[v] += x1 * r[v];
                    }
                }
            } else {
                // c runs down from the top of the support; r becomes R(c - 1)
                int64_t c = pr.phi;
                for (; c > std::max(whi + 1, wlo); --c) {
                    const V p = vsplat<V>(P[c]);
                    for (int v = 0; v < kNV; ++v) r[v] = (p - q[v] * r[v]) * iv[v];
                }
                for (; c > wlo; --c) {
                    const V p = vsplat<V>(P[c]), x0 = vsplat<V>(w0[c - 1]), x1 = vsplat<V>(w1[c - 1]);
                    for (int v = 0; v < kNV; ++v) {
                        r[v] = (p - q[v] * r[v]) * iv[v];
                        a0[v] += x0 * r[v];
                        a1[v] += x1 * r[v];
                    }
                }
            }
        }
        for (int v = 0; v < kNV; ++v) {
            vstore(s0 + v * W, a0[v]);
            vstore(s1 + v * W, a1[v]);
        }
        const double shift = pr.theta + (pr.M1 - pr.M0);
        double change = 0.0;
        for (int l = 0; l < t.count; ++l) {
            const bool ok0 = pr.M0 > -kInf && s0[l] > 0.0;
            const bool ok1 = pr.M1 > -kInf && s1[l] > 0.0;
            double msg;
            if (ok0 && ok1)
                msg = shift + (std::log(s1[l]) - std::log(s0[l]));
            else if (ok0)
                msg = -kInfLogOdds;  // no count consistent with y_i = 1
            else if (ok1)
                msg = kInfLogOdds;  // no count consistent with y_i = 0
            else
                msg = 0.0;  // no information left (underflow on both sides)
            double& fi = f[bags_.members[o + perm[l]]];
            // a certain message (+-kInfLogOdds, e.g. a hard constraint with k_b = 0)
            // is taken as is: damping an infinite log-odds leaves it infinite
            msg = clip_logodds(msg);
            const double upd = std::fabs(msg) >= kInfLogOdds ? msg : damping * fi + (1.0 - damping) * msg;
            change = std::max(change, std::fabs(upd - fi));
            fi = upd;
        }
        return change;
    }

   private:
    const Bags& bags_;
    const double lambda_;
    std::vector<double> P_, w0_, w1_, q0_, q1_, L_;
    std::vector<int64_t> perm_;
    std::vector<Prep> prep_;
    std::vector<double> theta_;
    std::vector<Task> tasks_;
};

// For each CSR entry e = (i, j), the entry of (j, i); fails on an asymmetric graph.
std::vector<int64_t> reverse_edges(const Graph& g, int nt) {
    const int64_t n = g.n, nnz = g.indptr[n];
    std::vector<int64_t> rev(static_cast<size_t>(nnz));
    int64_t bad = nnz;  // first entry without a symmetric partner
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(min : bad)
#endif
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
            const int64_t j = g.indices[e];
            const int64_t* first = g.indices + g.indptr[j];
            const int64_t* last = g.indices + g.indptr[j + 1];
            const int64_t* it = std::lower_bound(first, last, i);
            if (it == last || *it != i || g.sim[it - g.indices] != g.sim[e]) {
                bad = std::min(bad, e);
                continue;
            }
            rev[size_t(e)] = it - g.indices;
        }
    }
    (void)nt;
    if (bad < nnz) {
        const int64_t row = std::upper_bound(g.indptr, g.indptr + n + 1, bad) - g.indptr - 1;
        fail("the similarity graph must be symmetric: entry (" + std::to_string(row) + ", " +
             std::to_string(g.indices[bad]) + ") has no equal entry (" + std::to_string(g.indices[bad]) + ", " +
             std::to_string(row) + ")");
    }
    return rev;
}

// ------------------------------------------------------------------ solver

// Items of the parallel loops: rows per block (totals), rows per block
// (pairwise pairs), CSR entries per block (similarity messages).
constexpr int64_t kRowBlock = 512;
constexpr int64_t kPairBlock = 32;
constexpr int64_t kEdgeBlock = 2048;

// Loopy BP on one graph and set of bags: the couplings and buffers (set up
// once), sweeps, and the marginals.
class Solver {
   public:
    Solver(const Graph& g, const Bags& bags, const Options& opt, int nt)
        : g_(g),
          bags_(bags),
          opt_(opt),
          nt_(nt),
          n_(g.n),
          nnz_(g.indptr[g.n]),
          exact_(opt.bag_factor == BagFactor::Exact),
          rev_(reverse_edges(g, nt)),
          J_(static_cast<size_t>(nnz_)),
          h_(static_cast<size_t>(n_)),
          m_(static_cast<size_t>(nnz_), 0.0),
          mnew_(static_cast<size_t>(nnz_), 0.0),
          S_(static_cast<size_t>(n_)),
          bag_of_(static_cast<size_t>(n_)) {
        // similarity term: h_i = field_i - lambda_s sum_j s_ij, J_ij = 2 lambda_s s_ij
        for (int64_t i = 0; i < n_; ++i) {
            double s = 0.0;
            for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                J_[size_t(e)] = 2.0 * opt.similarity_weight * g.sim[e];
                s += g.sim[e];
            }
            h_[size_t(i)] = (g.field ? g.field[i] : 0.0) - opt.similarity_weight * s;
        }
        // position t (0..n-1) of the bag order is row members[t] of bag bag_of[t]
        for (int64_t b = 0; b < bags.n_bags; ++b)
            for (int64_t t = bags.offsets[b]; t < bags.offsets[b + 1]; ++t) bag_of_[size_t(t)] = b;
        if (exact_) {
            f_.assign(static_cast<size_t>(n_), 0.0);
            factor_.reset(new ExactFactor(bags, n_, opt.bag_weight));
        } else {
            setup_pairwise();
        }
        part_ = exact_ ? f_.data() : bagpart_.data();
    }

    // One sweep (see the top of this file); returns the largest change of a message.
    double sweep(double damping, Interruption& intr) {
        std::vector<double> local(static_cast<size_t>(nt_), 0.0);
        auto keep = [&](int thread, double change) { local[size_t(thread)] = std::max(local[size_t(thread)], change); };
        update_totals(intr);
        if (exact_) {
            // the factor's input from row j is everything else j receives: S_j
            for_each_polled(bags_.n_bags, nt_, intr, [&](int64_t b) { factor_->prepare(b, S_.data(), intr); });
        } else {
            parallel_for((n_ + kPairBlock - 1) / kPairBlock, nt_, intr, [&](int64_t blk, int thread) {
                for (int64_t t = blk * kPairBlock; t < std::min(n_, (blk + 1) * kPairBlock); ++t)
                    keep(thread, pair_row(t, damping));
            });
        }
        parallel_for((nnz_ + kEdgeBlock - 1) / kEdgeBlock, nt_, intr, [&](int64_t blk, int thread) {
            keep(thread, similarity_block(blk * kEdgeBlock, std::min(nnz_, (blk + 1) * kEdgeBlock), damping));
        });
        if (exact_) {
            factor_->plan();
            parallel_for(factor_->n_tasks(), nt_, intr,
                         [&](int64_t t, int thread) { keep(thread, factor_->divide(t, damping, f_.data())); });
        }
        m_.swap(mnew_);
        return largest(local);
    }

    // P(y_i = 1) from the current messages.
    std::vector<double> marginals(Interruption& intr) {
        update_totals(intr);
        std::vector<double> out(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) out[size_t(i)] = sigmoid(S_[size_t(i)] + part_[i]);
        return out;
    }

   private:
    // Pairwise bag factors: hb[i] = -lambda_b (1 - 2 k_b), and per bag a B x B
    // block of messages M[a][c] (into member a from member c), both directions
    // of a pair updated together in place; coupling -2 lambda_b, plus
    // 2 lambda_s s_ac where a similarity edge joins them.
    void setup_pairwise() {
        const int64_t nb = bags_.n_bags;
        hb_.assign(static_cast<size_t>(n_), 0.0);
        bagpart_.assign(static_cast<size_t>(n_), 0.0);
        moff_.assign(static_cast<size_t>(nb + 1), 0);
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t B = bags_.offsets[b + 1] - bags_.offsets[b];
            moff_[size_t(b + 1)] = moff_[size_t(b)] + B * B;
            for (int64_t t = bags_.offsets[b]; t < bags_.offsets[b + 1]; ++t)
                hb_[size_t(bags_.members[t])] = -opt_.bag_weight * (1.0 - 2.0 * bags_.counts[b]);
        }
        M_.assign(static_cast<size_t>(moff_[size_t(nb)]), 0.0);
        // A similarity edge inside a bag joins the pair's bag factor: one factor
        // exp((2 lambda_s s_ij - 2 lambda_b) y_i y_j) per pair (two parallel
        // factors would make a loop of two), so its own message stays 0 (J = 0).
        // extra[ptr[t] .. ptr[t+1]): (position in the bag, coupling) of the merged
        // edges of the member at position t with members after it, in order.
        std::vector<int64_t> bag_row(static_cast<size_t>(n_)), pos(static_cast<size_t>(n_));
        for (int64_t t = 0; t < n_; ++t) {
            bag_row[size_t(bags_.members[t])] = bag_of_[size_t(t)];
            pos[size_t(bags_.members[t])] = t - bags_.offsets[bag_of_[size_t(t)]];
        }
        extra_ptr_.assign(static_cast<size_t>(n_ + 1), 0);
        std::vector<std::pair<int64_t, double>> row;
        for (int64_t t = 0; t < n_; ++t) {
            const int64_t i = bags_.members[t];
            row.clear();
            for (int64_t e = g_.indptr[i]; e < g_.indptr[i + 1]; ++e) {
                const int64_t j = g_.indices[e];
                if (bag_row[size_t(j)] != bag_row[size_t(i)]) continue;
                if (pos[size_t(j)] > pos[size_t(i)]) row.emplace_back(pos[size_t(j)], J_[size_t(e)]);
                J_[size_t(e)] = 0.0;
            }
            std::sort(row.begin(), row.end());
            for (const auto& pr : row) {
                extra_pos_.push_back(pr.first);
                extra_J_.push_back(pr.second);
            }
            extra_ptr_[size_t(t + 1)] = int64_t(extra_pos_.size());
        }
    }

    // S_i = h_i + the similarity messages into i for every row i; pairwise:
    // the bag part of the row at position t of the bag order.
    void update_totals(Interruption& intr) {
        parallel_for((n_ + kRowBlock - 1) / kRowBlock, nt_, intr, [&](int64_t blk, int) {
            for (int64_t t = blk * kRowBlock; t < std::min(n_, (blk + 1) * kRowBlock); ++t) {
                double s = h_[size_t(t)];
                for (int64_t e = g_.indptr[t]; e < g_.indptr[t + 1]; ++e) s += m_[size_t(e)];
                S_[size_t(t)] = s;
                if (!exact_) {
                    const int64_t b = bag_of_[size_t(t)], o = bags_.offsets[b], B = bags_.offsets[b + 1] - o;
                    const double* row = M_.data() + moff_[size_t(b)] + (t - o) * B;
                    double p = 0.0;
                    for (int64_t c = 0; c < B; ++c) p += row[c];
                    const int64_t i = bags_.members[t];
                    bagpart_[size_t(i)] = hb_[size_t(i)] + p;
                }
            }
        });
    }

    // New similarity messages into entries [e0, e1): entry e = (i, j) holds the
    // message from j to i, computed from the cavity of j without i.
    double similarity_block(int64_t e0, int64_t e1, double d) {
        const double d1 = 1.0 - d;
        double change = 0.0;
        alignas(64) double Jv[W], Hv[W], out[W];
        for (int64_t e = e0; e < e1; e += W) {
            const int cnt = int(std::min<int64_t>(W, e1 - e));
            for (int l = 0; l < W; ++l) {
                if (l < cnt) {
                    const int64_t x = e + l, j = g_.indices[x];
                    Jv[l] = J_[size_t(x)];
                    Hv[l] = (S_[size_t(j)] - m_[size_t(rev_[size_t(x)])]) + part_[j];
                } else {
                    Jv[l] = Hv[l] = 0.0;
                }
            }
            vstore(out, pair_message(vload<V>(Jv), vload<V>(Hv)));
            for (int l = 0; l < cnt; ++l) {
                const double old = m_[size_t(e + l)], upd = d * old + d1 * out[l];
                mnew_[size_t(e + l)] = upd;
                change = std::max(change, std::fabs(upd - old));
            }
        }
        return change;
    }

    // Pairwise: the pairs (a, c > a) of the member at position t, both directions.
    double pair_row(int64_t t, double d) {
        const double d1 = 1.0 - d, Jb = -2.0 * opt_.bag_weight;
        const int64_t b = bag_of_[size_t(t)], o = bags_.offsets[b], B = bags_.offsets[b + 1] - o;
        const int64_t a = t - o;
        double* Mb = M_.data() + moff_[size_t(b)];
        const int64_t* mem = bags_.members + o;
        const double Ta = S_[size_t(mem[a])] + bagpart_[size_t(mem[a])];
        int64_t x = extra_ptr_[size_t(t)];
        const int64_t x_end = extra_ptr_[size_t(t + 1)];
        double change = 0.0;
        alignas(64) double Jv[W], H1[W], H2[W], o1[W], o2[W];
        for (int64_t c0 = a + 1; c0 < B; c0 += W) {
            const int cnt = int(std::min<int64_t>(W, B - c0));
            for (int l = 0; l < W; ++l) {
                Jv[l] = Jb;
                if (l < cnt) {
                    const int64_t c = c0 + l, rc = mem[c];
                    if (x < x_end && extra_pos_[size_t(x)] == c) Jv[l] += extra_J_[size_t(x++)];
                    H1[l] = (S_[size_t(rc)] + bagpart_[size_t(rc)]) - Mb[c * B + a];  // cavity of c without a
                    H2[l] = Ta - Mb[a * B + c];                                          // cavity of a without c
                } else {
                    H1[l] = H2[l] = 0.0;
                }
            }
            const V vJ = vload<V>(Jv);
            vstore(o1, pair_message(vJ, vload<V>(H1)));
            vstore(o2, pair_message(vJ, vload<V>(H2)));
            for (int l = 0; l < cnt; ++l) {
                const int64_t c = c0 + l;
                double& into_a = Mb[a * B + c];
                double& into_c = Mb[c * B + a];
                const double ua = d * into_a + d1 * o1[l], uc = d * into_c + d1 * o2[l];
                change = std::max(change, std::max(std::fabs(ua - into_a), std::fabs(uc - into_c)));
                into_a = ua;
                into_c = uc;
            }
        }
        return change;
    }

    const Graph& g_;
    const Bags& bags_;
    const Options& opt_;
    const int nt_;
    const int64_t n_, nnz_;
    const bool exact_;
    const std::vector<int64_t> rev_;
    std::vector<double> J_, h_, m_, mnew_, S_;
    std::vector<int64_t> bag_of_;
    // exact: f[i], the factor's message to row i
    std::vector<double> f_;
    std::unique_ptr<ExactFactor> factor_;
    // pairwise (see setup_pairwise)
    std::vector<double> hb_, bagpart_, M_, extra_J_;
    std::vector<int64_t> moff_, extra_ptr_, extra_pos_;
    const double* part_ = nullptr;  // everything row i receives from its bag term
};

}  // namespace

// ------------------------------------------------------------------ checks

void check_graph(const Graph& g) {
    if (g.n < 0) fail("negative number of rows");
    if (g.indptr[0] != 0) fail("indptr[0] must be 0");
    for (int64_t i = 0; i < g.n; ++i) {
        const int64_t a = g.indptr[i], b = g.indptr[i + 1];
        if (b < a) fail("indptr must be non-decreasing");
        for (int64_t e = a; e < b; ++e) {
            const int64_t j = g.indices[e];
            if (j < 0 || j >= g.n) fail("similarity graph: column index out of range");
            if (j == i) fail("similarity graph: self-loops are not allowed");
            if (e > a && !(g.indices[e - 1] < j)) fail("similarity graph: indices must be sorted and unique in each row");
            const double s = g.sim[e];
            if (!std::isfinite(s) || s < 0.0) fail("similarities must be finite and non-negative");
        }
        if (g.field && !(std::fabs(g.field[i]) <= kMaxCoupling))
            fail("field: every row's log-odds must be finite and at most 1e200 in magnitude");
    }
}

void check_bags(const Bags& bags, int64_t n) {
    if (bags.n_bags < 1 && n > 0) fail("there must be at least one bag");
    if (bags.offsets[0] != 0) fail("bag offsets must start at 0");
    if (bags.offsets[bags.n_bags] != n)
        fail("the bags must cover all " + std::to_string(n) + " rows, got " + std::to_string(bags.offsets[bags.n_bags]));
    std::vector<char> seen(static_cast<size_t>(n), 0);
    for (int64_t b = 0; b < bags.n_bags; ++b) {
        const int64_t B = bags.offsets[b + 1] - bags.offsets[b];
        if (B < 1) fail("bag " + std::to_string(b) + " is empty");
        const double k = bags.counts[b];
        if (!(k >= 0.0 && k <= double(B)))
            fail("bag " + std::to_string(b) + ": count " + std::to_string(k) + " is not in [0, " + std::to_string(B) +
                 "]");
        for (int64_t t = bags.offsets[b]; t < bags.offsets[b + 1]; ++t) {
            const int64_t i = bags.members[t];
            if (i < 0 || i >= n) fail("bag member out of range");
            if (seen[size_t(i)]) fail("row " + std::to_string(i) + " is in more than one bag");
            seen[size_t(i)] = 1;
        }
    }
}

void check_options(const Options& opt, const Bags& bags) {
    if (!(opt.similarity_weight >= 0.0 && opt.similarity_weight <= kMaxWeight))
        fail("similarity_weight must be in [0, 1e100]");
    if (!(opt.bag_weight >= 0.0 && (opt.bag_weight <= kMaxWeight || std::isinf(opt.bag_weight))))
        fail("bag_weight must be in [0, 1e100] or inf");
    if (!(opt.damping >= 0.0 && opt.damping < 1.0)) fail("damping must be in [0, 1)");
    if (!(opt.tol >= 0.0)) fail("tol must be non-negative");
    if (opt.max_iter < 0 || opt.max_iter > kMaxIter) fail("max_iter must be in [0, " + std::to_string(kMaxIter) + "]");
    if (opt.bag_factor == BagFactor::Pairwise) {
        if (std::isinf(opt.bag_weight)) fail("bag_weight=inf needs bag_factor='exact'");
        for (int64_t b = 0; b < bags.n_bags; ++b) {
            const int64_t B = bags.offsets[b + 1] - bags.offsets[b];
            if (B > kMaxPairwiseBag)
                fail("bag_factor='pairwise' expands a bag into all its pairs; bag " + std::to_string(b) + " has " +
                     std::to_string(B) + " rows (more than " + std::to_string(kMaxPairwiseBag) +
                     "): use bag_factor='exact'");
        }
    }
}

namespace {

// similarity_weight * s_ij stays below kMaxCoupling (all sums of messages finite).
void check_couplings(const Graph& g, const Options& opt) {
    const int64_t nnz = g.indptr[g.n];
    double top = 0.0;
    for (int64_t e = 0; e < nnz; ++e) top = std::max(top, g.sim[e]);
    if (!(opt.similarity_weight * top <= kMaxCoupling))
        fail("similarity_weight times the largest similarity must be at most 1e200: rescale the similarities");
}

}  // namespace

// --------------------------------------------------------------------- run

void exact_bag_messages(const Bags& bags, int64_t n, double bag_weight, const double* cavity, double* out,
                        double* log_partition, const Exec& ex) {
    check_bags(bags, n);
    if (!(bag_weight >= 0.0 && (bag_weight <= kMaxWeight || std::isinf(bag_weight))))
        fail("bag_weight must be in [0, 1e100] or inf");
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(cavity[i])) fail("cavity log-odds must be finite");
    ExactFactor factor(bags, n, bag_weight);
    std::fill(out, out + n, 0.0);
    Interruption intr(ex);
    const int nt = thread_count(ex, std::max<int64_t>(n, 1), sweep_work(bags, 0));
    for_each_polled(factor.n_bags(), nt, intr, [&](int64_t b) {
        factor.prepare(b, cavity, intr);
        if (log_partition && !intr.stopped()) log_partition[b] = factor.log_partition(b);
    });
    factor.plan();
    parallel_for(factor.n_tasks(), nt, intr, [&](int64_t t, int) { factor.divide(t, 0.0, out); });
}

Result run(const Graph& g, const Bags& bags, const Options& opt, const Exec& ex) {
    check_graph(g);
    check_bags(bags, g.n);
    check_options(opt, bags);
    check_couplings(g, opt);
    Interruption intr(ex);
    const int nt = thread_count(ex, std::max<int64_t>(g.n, 1), sweep_work(bags, g.indptr[g.n]));
    Solver solver(g, bags, opt, nt);
    Result res;
    for (int64_t it = 0; it < opt.max_iter && !intr.check(); ++it) {
        // the largest change a sweep makes to a message, before damping
        res.delta = solver.sweep(opt.damping, intr) / (1.0 - opt.damping);
        res.n_iter = it + 1;
        if (res.delta < opt.tol) {
            res.converged = true;
            break;
        }
    }
    intr.raise_if_stopped();
    res.marginals = solver.marginals(intr);
    return res;
}

}  // namespace bp
}  // namespace emfast
