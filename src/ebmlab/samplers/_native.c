/* ebmlab native sampler kernels: K steps of ULA / MALA / HMC / kinetic Langevin for analytic targets.
 *
 * Optional backend of ebmlab.samplers (see native.py): compiled on first use with the system C
 * compiler, loaded with ctypes, never required (the PyTorch path is the fallback and the reference).
 * All randomness comes in from PyTorch (noise blocks drawn with the caller's generator), so the
 * result depends only on the seed.
 *
 * Layout: chains are independent, so each call advances chains [c0, c1) through all K steps,
 * LANES chains at a time in structure-of-arrays registers (v[i * LANES + l] = coordinate i of
 * lane l): every inner loop runs over the LANES lanes and vectorises (the C analogue of vmap).
 * The Python side runs disjoint chain ranges in parallel threads.
 *
 * Energies (kind):
 *   0  isotropic Gaussian mixture, E(x) = −log Σ_j exp(a_j − h_j |x − m_j|²)
 *      (a_j = log w_j − d log σ_j − (d/2) log 2π, h_j = 1/(2σ_j²)),
 *      ∇E = Σ_j r_j 2h_j (x − m_j), r = softmax_j(a_j − h_j |x − m_j|²).
 *   1  many-well pairs, E = Σ_i x_{2i}⁴ + b x_{2i}² + c x_{2i} + ½ x_{2i+1}².
 *
 * The file includes itself twice to instantiate every function for float (_f32) and double (_f64).
 */
#ifndef EBM_INSTANTIATE
#define EBM_INSTANTIATE
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 16

/* exp, branch-free so that loops over lanes vectorise: exp(x) = 2ⁿ exp(r), n = round(x / ln 2),
 * Cephes' degree-6 polynomial for exp(r) (relative error ~2e-7); exp(x) = 0 for x < −87.3 (float
 * underflow), NaN stays NaN. */
static inline float ebm_exp_f32(float x) {
    const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = __builtin_rintf(xc * 1.44269504088896341f);
    n = n == n ? n : 0.0f;
    const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { uint32_t i; float f; } scale = {.i = (uint32_t)((int32_t)n + 127) << 23};
    return x < -87.3f ? 0.0f : p * scale.f;
}

/* log for x > 0 (Cephes logf: x = m 2ᵉ, m ∈ [√½, √2), polynomial in m − 1); log 0 = −inf, log inf = inf,
 * NaN or x < 0 give NaN. */
static inline float ebm_log_f32(float x) {
    union { float f; int32_t i; } u = {.f = x};
    float e = (float)(((u.i >> 23) & 0xff) - 126);
    u.i = (u.i & 0x807fffff) | 0x3f000000; /* mantissa in [0.5, 1) */
    float m = u.f;
    const int small = m < 0.707106781186547524f;
    e = small ? e - 1.0f : e;
    m = small ? m + m - 1.0f : m - 1.0f;
    const float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    const float r = (m + y) + 0.693359375f * e;
    const int normal = x >= 1.17549435e-38f && x < INFINITY;
    return normal ? r : (x == 0.0f ? -INFINITY : (x == INFINITY ? INFINITY : NAN));
}

static inline double ebm_exp_f64(double x) { return exp(x); }
static inline double ebm_log_f64(double x) { return log(x); }

#define REAL float
#define SFX(name) name##_f32
#include __FILE__
#undef REAL
#undef SFX

#define REAL double
#define SFX(name) name##_f64
#include __FILE__

int ebm_native_version(void) { return 2; }

#else /* ------------------------------------------------------------------ body, per REAL type */

typedef struct {
    int kind;
    int64_t d;
    int64_t k;
    const REAL *means;    /* (k, d) */
    const REAL *log_coef; /* (k,) a_j */
    const REAL *half_iv;  /* (k,) h_j = 1/(2σ_j²) */
    const REAL *iv;       /* (k,) 2 h_j = 1/σ_j² */
    REAL b, c;
} SFX(spec_t);

static void SFX(make_spec)(SFX(spec_t) *s, int kind, int64_t d, int64_t k, const REAL *params) {
    s->kind = kind;
    s->d = d;
    s->k = k;
    s->means = params;
    s->log_coef = params + k * d;
    s->half_iv = params + k * d + k;
    s->iv = params + k * d + 2 * k;
    s->b = kind == 1 ? params[0] : 0;
    s->c = kind == 1 ? params[1] : 0;
}

/* E and ∇E of LANES chains (SoA). scratch: k·LANES. Non-finite x gives non-finite E or ∇E. */
static void SFX(gmm_eg)(const SFX(spec_t) *s, const REAL *x, REAL *g, REAL *e, REAL *scratch) {
    const int64_t d = s->d, k = s->k;
    REAL m[LANES], tot[LANES];
    for (int l = 0; l < LANES; ++l) m[l] = -INFINITY;
    for (int64_t j = 0; j < k; ++j) {
        REAL sq[LANES] = {0};
        for (int64_t i = 0; i < d; ++i) {
            const REAL mu = s->means[j * d + i];
            for (int l = 0; l < LANES; ++l) {
                const REAL t = x[i * LANES + l] - mu;
                sq[l] += t * t;
            }
        }
        const REAL a = s->log_coef[j], h = s->half_iv[j];
        REAL *lj = scratch + j * LANES;
        for (int l = 0; l < LANES; ++l) {
            lj[l] = a - h * sq[l];
            m[l] = lj[l] > m[l] ? lj[l] : m[l];
        }
    }
    for (int l = 0; l < LANES; ++l) tot[l] = 0;
    for (int64_t i = 0; i < d * LANES; ++i) g[i] = 0;
    for (int64_t j = 0; j < k; ++j) {
        REAL *wj = scratch + j * LANES;
        const REAL iv = s->iv[j];
        for (int l = 0; l < LANES; ++l) {
            const REAL w = SFX(ebm_exp)(wj[l] - m[l]);
            tot[l] += w;
            wj[l] = w * iv;
        }
        for (int64_t i = 0; i < d; ++i) {
            const REAL mu = s->means[j * d + i];
            for (int l = 0; l < LANES; ++l) g[i * LANES + l] += wj[l] * (x[i * LANES + l] - mu);
        }
    }
    REAL inv[LANES];
    for (int l = 0; l < LANES; ++l) {
        inv[l] = 1 / tot[l];
        e[l] = -(m[l] + SFX(ebm_log)(tot[l]));
    }
    for (int64_t i = 0; i < d; ++i)
        for (int l = 0; l < LANES; ++l) g[i * LANES + l] *= inv[l];
}

static void SFX(many_well_eg)(const SFX(spec_t) *s, const REAL *x, REAL *g, REAL *e) {
    const REAL b = s->b, c = s->c;
    for (int l = 0; l < LANES; ++l) e[l] = 0;
    for (int64_t i = 0; i < s->d; i += 2) {
        const REAL *x1 = x + i * LANES, *x2 = x + (i + 1) * LANES;
        REAL *g1 = g + i * LANES, *g2 = g + (i + 1) * LANES;
        for (int l = 0; l < LANES; ++l) {
            const REAL sq = x1[l] * x1[l];
            e[l] += (sq + b) * sq + c * x1[l] + (REAL)0.5 * x2[l] * x2[l];
            g1[l] = (4 * sq + 2 * b) * x1[l] + c;
            g2[l] = x2[l];
        }
    }
}

static inline void SFX(eg)(const SFX(spec_t) *s, const REAL *x, REAL *g, REAL *e, REAL *scratch) {
    if (s->kind == 0)
        SFX(gmm_eg)(s, x, g, e, scratch);
    else
        SFX(many_well_eg)(s, x, g, e);
}

/* ok[l] = E and every ∇E coordinate of lane l are finite; returns the number of non-finite lanes. */
static inline int SFX(finite)(const REAL *e, const REAL *g, int64_t d, int *ok) {
    for (int l = 0; l < LANES; ++l) ok[l] = isfinite(e[l]);
    for (int64_t i = 0; i < d; ++i)
        for (int l = 0; l < LANES; ++l) ok[l] &= isfinite(g[i * LANES + l]);
    int bad = 0;
    for (int l = 0; l < LANES; ++l) bad += !ok[l];
    return bad;
}

static inline void SFX(sq_norm)(const REAL *v, int64_t d, REAL *out) {
    for (int l = 0; l < LANES; ++l) out[l] = 0;
    for (int64_t i = 0; i < d; ++i)
        for (int l = 0; l < LANES; ++l) out[l] += v[i * LANES + l] * v[i * LANES + l];
}

/* AoS rows c..c+nl of src (n, d) → SoA lanes; missing lanes repeat chain c (finite, never written back). */
static inline void SFX(load)(REAL *dst, const REAL *src, int64_t c, int nl, int64_t d) {
    for (int l = 0; l < LANES; ++l) {
        const REAL *row = src + (c + (l < nl ? l : 0)) * d;
        for (int64_t i = 0; i < d; ++i) dst[i * LANES + l] = row[i];
    }
}

static inline void SFX(store)(REAL *dst, const REAL *src, int64_t c, int nl, int64_t d) {
    for (int l = 0; l < nl; ++l)
        for (int64_t i = 0; i < d; ++i) dst[(c + l) * d + i] = src[i * LANES + l];
}

/* noise rows of step t for lanes (zeros for missing lanes) */
static inline void SFX(load_noise)(REAL *dst, const REAL *noise, int64_t t, int64_t n, int64_t c, int nl, int64_t d) {
    const REAL *base = noise + (t * n + c) * d;
    for (int l = 0; l < LANES; ++l)
        for (int64_t i = 0; i < d; ++i) dst[i * LANES + l] = l < nl ? base[l * d + i] : 0;
}

/* Copy the lanes into the kept-sample buffers when post-warm-up step `step` (1-based) is kept. */
static inline void SFX(record)(int64_t step, int64_t thin, int64_t n_kept, int64_t n, int64_t d, int64_t c, int nl,
                               const REAL *x, const REAL *e, REAL *samples, REAL *sample_e) {
    if (samples == NULL || step % thin != 0) return;
    const int64_t idx = step / thin - 1;
    if (idx < 0 || idx >= n_kept) return;
    SFX(store)(samples + idx * n * d, x, c, nl, d);
    for (int l = 0; l < nl; ++l) sample_e[idx * n + c + l] = e[l];
}

/* MH on lanes: log α clamped to ≤ 0, non-finite proposals rejected; accept iff log u < log α. */
static inline void SFX(mh)(const REAL *log_alpha, const int *ok, const REAL *u, REAL *prob, int *acc) {
    for (int l = 0; l < LANES; ++l) {
        REAL la = ok[l] && log_alpha[l] == log_alpha[l] ? log_alpha[l] : -INFINITY;
        la = la > 0 ? 0 : la;
        prob[l] = SFX(ebm_exp)(la);
        acc[l] = ok[l] && SFX(ebm_log)(u[l]) < la;
    }
}

/* Common argument list of the runners. Arrays: x, g (n, d), e (n,), noise (K, n, d), uniform (K, n),
 * accept_sum (K,) float64 (Σ over the call's chains of the acceptance probability, added to);
 * bad_step (n,) int32 (−1 = fine); counts (n,) int64, added to; samples (n_kept, n, d). */
#define EBM_ARGS                                                                                            \
    int kind, int64_t d, int64_t k, const REAL *params, int64_t n, int64_t n_steps, int64_t c0, int64_t c1, \
        REAL *x, REAL *e, REAL *g, const REAL *noise, int64_t step0, int64_t thin, int64_t n_kept,           \
        REAL *samples, REAL *sample_e

#define EBM_SETUP                                  \
    SFX(spec_t) s;                                 \
    SFX(make_spec)(&s, kind, d, k, params);        \
    REAL scratch[(k > 0 ? k : 1) * LANES];         \
    REAL xs[d * LANES], gs[d * LANES], xi[d * LANES]; \
    REAL es[LANES];                                \
    int ok[LANES]

/* ULA: x ← x − λ∇E(x) + σξ. A group of lanes stops at its first step with a non-finite E/∇E;
 * bad_step[c] = that step for the lanes that went non-finite there (−1 otherwise). The caller raises
 * at the smallest bad step, so the state after it does not matter. */
void SFX(ebm_ula)(EBM_ARGS, REAL lam, REAL sigma, int32_t *bad_step) {
    EBM_SETUP;
    for (int64_t c = c0; c < c1; c += LANES) {
        const int nl = (int)(c1 - c < LANES ? c1 - c : LANES);
        SFX(load)(xs, x, c, nl, d);
        SFX(load)(gs, g, c, nl, d);
        for (int l = 0; l < nl; ++l) bad_step[c + l] = -1;
        for (int64_t t = 0; t < n_steps; ++t) {
            SFX(load_noise)(xi, noise, t, n, c, nl, d);
            for (int64_t i = 0; i < d * LANES; ++i) xs[i] = (xs[i] - lam * gs[i]) + sigma * xi[i];
            SFX(eg)(&s, xs, gs, es, scratch);
            if (SFX(finite)(es, gs, d, ok)) {
                int any = 0;
                for (int l = 0; l < nl; ++l)
                    if (!ok[l]) bad_step[c + l] = (int32_t)t, any = 1;
                if (any) break;
            }
            SFX(record)(step0 + t + 1, thin, n_kept, n, d, c, nl, xs, es, samples, sample_e);
        }
        SFX(store)(x, xs, c, nl, d);
        SFX(store)(g, gs, c, nl, d);
        for (int l = 0; l < nl; ++l) e[c + l] = es[l];
    }
}

/* MALA targeting exp(−E/T): y = x − λ∇E(x) + √(2λT) ξ, log α = (E(x) − E(y))/T − |x − y + λ∇E(y)|²/(4λT) + |ξ|²/2. */
void SFX(ebm_mala)(EBM_ARGS, REAL lam, REAL temp, const REAL *uniform, double *accept_sum, int64_t *nonfinite) {
    EBM_SETUP;
    REAL ys[d * LANES], gy[d * LANES], ey[LANES], la[LANES], back[LANES], nx[LANES], u[LANES];
    int acc[LANES];
    const REAL sigma = (REAL)sqrt(2 * lam * temp), inv_t = 1 / temp, inv_4lt = 1 / (4 * lam * temp);
    for (int64_t c = c0; c < c1; c += LANES) {
        const int nl = (int)(c1 - c < LANES ? c1 - c : LANES);
        SFX(load)(xs, x, c, nl, d);
        SFX(load)(gs, g, c, nl, d);
        for (int l = 0; l < LANES; ++l) es[l] = e[c + (l < nl ? l : 0)];
        for (int64_t t = 0; t < n_steps; ++t) {
            SFX(load_noise)(xi, noise, t, n, c, nl, d);
            for (int64_t i = 0; i < d * LANES; ++i) ys[i] = (xs[i] - lam * gs[i]) + sigma * xi[i];
            SFX(eg)(&s, ys, gy, ey, scratch);
            SFX(finite)(ey, gy, d, ok);
            for (int l = 0; l < LANES; ++l) back[l] = 0;
            for (int64_t i = 0; i < d; ++i)
                for (int l = 0; l < LANES; ++l) {
                    const REAL b = xs[i * LANES + l] - ys[i * LANES + l] + lam * gy[i * LANES + l];
                    back[l] += b * b;
                }
            SFX(sq_norm)(xi, d, nx);
            for (int l = 0; l < LANES; ++l) {
                la[l] = (es[l] - ey[l]) * inv_t - back[l] * inv_4lt + (REAL)0.5 * nx[l];
                u[l] = l < nl ? uniform[t * n + c + l] : 1;
            }
            REAL prob[LANES];
            SFX(mh)(la, ok, u, prob, acc);
            for (int l = 0; l < nl; ++l) {
                accept_sum[t] += prob[l];
                nonfinite[c + l] += !ok[l];
            }
            for (int64_t i = 0; i < d; ++i)
                for (int l = 0; l < LANES; ++l) {
                    const int64_t q = i * LANES + l;
                    xs[q] = acc[l] ? ys[q] : xs[q];
                    gs[q] = acc[l] ? gy[q] : gs[q];
                }
            for (int l = 0; l < LANES; ++l) es[l] = acc[l] ? ey[l] : es[l];
            SFX(record)(step0 + t + 1, thin, n_kept, n, d, c, nl, xs, es, samples, sample_e);
        }
        SFX(store)(x, xs, c, nl, d);
        SFX(store)(g, gs, c, nl, d);
        for (int l = 0; l < nl; ++l) e[c + l] = es[l];
    }
}

/* HMC: momentum p0 = noise, L leapfrog steps of size ε, one MH accept on H = E/T + ½|p|². */
void SFX(ebm_hmc)(EBM_ARGS, REAL eps, REAL temp, int64_t n_leapfrog, REAL threshold, const REAL *uniform,
                  double *accept_sum, int64_t *nonfinite, int64_t *divergent) {
    EBM_SETUP;
    REAL xn[d * LANES], gn[d * LANES], p[d * LANES], en[LANES], k0[LANES], k1[LANES], dh[LANES], u[LANES];
    int acc[LANES];
    const REAL inv_t = 1 / temp;
    for (int64_t c = c0; c < c1; c += LANES) {
        const int nl = (int)(c1 - c < LANES ? c1 - c : LANES);
        SFX(load)(xs, x, c, nl, d);
        SFX(load)(gs, g, c, nl, d);
        for (int l = 0; l < LANES; ++l) es[l] = e[c + (l < nl ? l : 0)];
        for (int64_t t = 0; t < n_steps; ++t) {
            SFX(load_noise)(xi, noise, t, n, c, nl, d); /* p0 */
            for (int64_t i = 0; i < d * LANES; ++i) {
                p[i] = xi[i] - (REAL)0.5 * eps * inv_t * gs[i];
                xn[i] = xs[i];
            }
            for (int64_t lf = 0; lf < n_leapfrog; ++lf) {
                for (int64_t i = 0; i < d * LANES; ++i) xn[i] += eps * p[i];
                SFX(eg)(&s, xn, gn, en, scratch);
                const REAL kick = (lf == n_leapfrog - 1 ? (REAL)0.5 : (REAL)1) * eps * inv_t;
                for (int64_t i = 0; i < d * LANES; ++i) p[i] -= kick * gn[i];
            }
            SFX(finite)(en, gn, d, ok);
            SFX(sq_norm)(xi, d, k0);
            SFX(sq_norm)(p, d, k1);
            for (int l = 0; l < LANES; ++l) {
                dh[l] = (en[l] - es[l]) * inv_t + (REAL)0.5 * k1[l] - (REAL)0.5 * k0[l];
                k0[l] = -dh[l];
                u[l] = l < nl ? uniform[t * n + c + l] : 1;
            }
            REAL prob[LANES];
            SFX(mh)(k0, ok, u, prob, acc);
            for (int l = 0; l < nl; ++l) {
                accept_sum[t] += prob[l];
                nonfinite[c + l] += !ok[l];
                divergent[c + l] += !ok[l] || dh[l] > threshold;
            }
            for (int64_t i = 0; i < d; ++i)
                for (int l = 0; l < LANES; ++l) {
                    const int64_t q = i * LANES + l;
                    xs[q] = acc[l] ? xn[q] : xs[q];
                    gs[q] = acc[l] ? gn[q] : gs[q];
                }
            for (int l = 0; l < LANES; ++l) es[l] = acc[l] ? en[l] : es[l];
            SFX(record)(step0 + t + 1, thin, n_kept, n, d, c, nl, xs, es, samples, sample_e);
        }
        SFX(store)(x, xs, c, nl, d);
        SFX(store)(g, gs, c, nl, d);
        for (int l = 0; l < nl; ++l) e[c + l] = es[l];
    }
}

/* Kinetic Langevin, BAOAB with c = exp(−γh); stops like ULA at the first non-finite E/∇E. */
void SFX(ebm_kinetic)(EBM_ARGS, REAL h, REAL friction_c, REAL noise_scale, REAL *v, int32_t *bad_step) {
    EBM_SETUP;
    REAL vs[d * LANES];
    const REAL hh = (REAL)0.5 * h;
    for (int64_t c = c0; c < c1; c += LANES) {
        const int nl = (int)(c1 - c < LANES ? c1 - c : LANES);
        SFX(load)(xs, x, c, nl, d);
        SFX(load)(gs, g, c, nl, d);
        SFX(load)(vs, v, c, nl, d);
        for (int l = 0; l < nl; ++l) bad_step[c + l] = -1;
        for (int64_t t = 0; t < n_steps; ++t) {
            SFX(load_noise)(xi, noise, t, n, c, nl, d);
            for (int64_t i = 0; i < d * LANES; ++i) {
                REAL vi = vs[i] - hh * gs[i];
                xs[i] += hh * vi;
                vi = vi * friction_c + noise_scale * xi[i];
                xs[i] += hh * vi;
                vs[i] = vi;
            }
            SFX(eg)(&s, xs, gs, es, scratch);
            if (SFX(finite)(es, gs, d, ok)) {
                int any = 0;
                for (int l = 0; l < nl; ++l)
                    if (!ok[l]) bad_step[c + l] = (int32_t)t, any = 1;
                if (any) break;
            }
            for (int64_t i = 0; i < d * LANES; ++i) vs[i] -= hh * gs[i];
            SFX(record)(step0 + t + 1, thin, n_kept, n, d, c, nl, xs, es, samples, sample_e);
        }
        SFX(store)(x, xs, c, nl, d);
        SFX(store)(g, gs, c, nl, d);
        SFX(store)(v, vs, c, nl, d);
        for (int l = 0; l < nl; ++l) e[c + l] = es[l];
    }
}

/* E and ∇E of chains [c0, c1). */
void SFX(ebm_eval)(int kind, int64_t d, int64_t k, const REAL *params, int64_t n, int64_t c0, int64_t c1,
                   const REAL *x, REAL *e, REAL *g) {
    (void)n;
    SFX(spec_t) s;
    SFX(make_spec)(&s, kind, d, k, params);
    REAL scratch[(k > 0 ? k : 1) * LANES], xs[d * LANES], gs[d * LANES], es[LANES];
    for (int64_t c = c0; c < c1; c += LANES) {
        const int nl = (int)(c1 - c < LANES ? c1 - c : LANES);
        SFX(load)(xs, x, c, nl, d);
        SFX(eg)(&s, xs, gs, es, scratch);
        SFX(store)(g, gs, c, nl, d);
        for (int l = 0; l < nl; ++l) e[c + l] = es[l];
    }
}

#undef EBM_ARGS
#undef EBM_SETUP
#endif
