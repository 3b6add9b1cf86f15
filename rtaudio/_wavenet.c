/* Fast WaveNet recurrence (Paine et al. 2016): one sample per step, O(layers) work.
 *
 * Each layer keeps a FIFO of its last `dilation` inputs, so the dilated tap x[t-d] is a
 * queue read instead of a recomputation. Per layer l (residual R, skip S channels):
 *     z = Wd [x[t-d]; x[t]] + b + cond + e_t[l]   (2R outputs: filter half, gate half)
 *     h = tanh(z_f) * sigmoid(z_g)
 *     [r; s] = Wo h + bo;   x <- x + r;   skip += s
 * Output: logits = W2 relu(W1 relu(skip) + b1) + b2 over 256 mu-law classes; sampling draws
 * from softmax(logits / T) with a uniform keyed to (seed, absolute sample position), so a
 * seed reproduces a take wherever it is cut into calls. ``cond`` is constant between set_cond
 * calls; ``e_t`` is an optional per-sample term (the chord excitation's projection, computed by
 * the caller for each block), so a block costs no Python call per sample.
 *
 * Precision: "int8" (the generator's default) or "float32", chosen per kernel object. int8
 * quantizes every weight matrix at load and every product's input vector as it is used, and
 * sums exactly in integers (QUANTIZED PRODUCTS below): a quarter of the weight bytes and an
 * eighth of the vector instructions of the float32 products, at +0.003 held-out bits/sample.
 *
 * Speed: the float arithmetic is written once on 16-float vectors (GCC vector extensions) and
 * every channel count is zero-padded to a multiple of 16, so each product is whole vectors:
 * several output vectors and input runs accumulate in registers at once (independent add
 * chains), in the dispatch target's own vector width, and the activations and the sampler are
 * vector code too. The one serial part left is the inverse-CDF walk, done lane-major (see
 * sample_impl). What bounds an int8 step now is the chain from layer to layer
 * (kernels/README.md).
 *
 * Build: portable flags only. On x86-64 the hot loop is compiled three times (baseline SSE2,
 * AVX2, AVX-512; int8 needs AVX-512 VNNI for the last) and chosen at run time; other machines
 * get portable C (-DRTAUDIO_WAVENET_PORTABLE builds only that on x86-64, to check it). Every
 * float operation is elementwise on the same 16-lane vectors in the same order on every path,
 * -ffp-contract=off forbids FMA contraction, and integer sums are exact: the paths are bitwise
 * identical, so a seed gives the same take on any machine.
 * The GIL is released while the recurrence runs; one kernel object serves one thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCLASS 256
#define VL 16 /* floats per vector */

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef double vd8 __attribute__((vector_size(64)));

typedef struct {
    PyObject_HEAD
    int L, R, S, H;     /* the model's channel counts */
    int Rp, Sp, Hp;     /* the same, padded to whole vectors */
    int *dil;
    int *pos;           /* per layer: t mod dilation, the queue slot of x[t-d] */
    size_t *qoff;       /* float offset of each layer's queue */
    float *mem;         /* one 64-byte aligned block for weights, queues and scratch */
    float *embed, *wd, *bd, *cond, *bias, *wo, *bo, *w1, *b1, *w2, *b2;
    float *queue;
    float *x, *in2, *zb, *z, *h, *y, *skip, *h1, *logits, *e;
    int q;              /* 1: the int8 products (see QUANTIZED PRODUCTS), 0: float32 */
    void *qmem;         /* one 64-byte aligned block for the int8 weights and their scratch */
    int8_t *qwd, *qwo, *qw1, *qw2;   /* packed [in / 4][out][4] (the VNNI dot-product layout) */
    float *swd, *swo, *sw1, *sw2;    /* per output column: the weight scale */
    int32_t *cwd, *cwo, *cw1, *cw2;  /* per output column: QOFF x the sum of its int8 weights */
    int32_t *iacc;      /* integer accumulators of one product */
    uint8_t *u8;        /* one quantized input vector (offset by 64: 1..127) */
    uint64_t t;         /* steps taken since reset */
    int last;           /* class fed into the next generated step */
    int busy;
} Kernel;

/* ---- the arithmetic, inlined into each dispatch target ---- */

#define INLINE static inline __attribute__((always_inline))

INLINE vf vload(const float *p) { return *(const vf *)p; }      /* p is 64-byte aligned */
INLINE void vstore(float *p, vf v) { *(vf *)p = v; }
/* (the arithmetic mixes vectors with scalars freely: GCC broadcasts a scalar operand) */
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
INLINE vf vmax(vf a, vf b) { return vselect(a > b, a, b); }

/* exp on float32 without libm calls: round-to-nearest range reduction by the 1.5 * 2^23
 * trick, degree-6 Taylor on |r| <= ln2/2 (rel. error ~1.2e-7 against numpy's). */
INLINE vf vexp(vf x) {
    const vf zero = {0};
    x = vselect(x < -87.0f, zero - 87.0f, x);
    x = vselect(x > 88.0f, zero + 88.0f, x);
    vf n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    vf r = x - n * 0.693145752f;
    r = r - n * 1.42860677e-6f;
    vf p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666667f + r * (0.0416666667f + r * (0.00833333333f + r * 0.00138888889f)))));
    vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)bits;
}

/* y[0:NV*LANES] = b + sum_i W[i][0:NV*LANES] x[i] over nin inputs (a multiple of 16; W rows
 * ldw floats apart), in vectors VT of the dispatch target's own width (LANES floats) so that
 * accumulators stay in registers. The inputs are cut into SPL equal runs with their own
 * accumulators, so NV * SPL independent add chains are in flight; the runs are summed in a
 * fixed order. ATTR: the dispatch target the chunk is compiled for. */
#define MATVEC_CHUNK(ATTR, NAME, VT, NV, SPL)                                                                 \
    ATTR INLINE void NAME(float *restrict y, const float *restrict b, const float *restrict W, int ldw,       \
                          const float *restrict x, int nin) {                                                 \
        enum { LANES = sizeof(VT) / sizeof(float) };                                                          \
        VT acc[SPL][NV];                                                                                      \
        _Pragma("GCC unroll 16") for (int p = 0; p < SPL; p++)                                                \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[p][v] = (VT){0};                       \
        const int run = nin / SPL;                                                                            \
        for (int i = 0; i < run; i++) {                                                                       \
            _Pragma("GCC unroll 16") for (int p = 0; p < SPL; p++) {                                          \
                const int ii = p * run + i;                                                                   \
                const float xi = x[ii];                                                                       \
                const float *restrict w = W + (size_t)ii * ldw;                                               \
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                                         \
                    acc[p][v] = acc[p][v] + *(const VT *)(w + LANES * v) * xi;                                \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                                               \
            VT s = *(const VT *)(b + LANES * v);                                                              \
            _Pragma("GCC unroll 16") for (int p = 0; p < SPL; p++) s = s + acc[p][v];                         \
            *(VT *)(y + LANES * v) = s;                                                                       \
        }                                                                                                     \
    }

/* The input-run count of a matrix with nout outputs. It depends on the shape only, so every
 * path sums each output in the same order; how many vectors one pass keeps in registers
 * (P4, P2, P1 for 4, 2, 1 runs) is the path's own choice and changes no result. */
INLINE int runs_for(int nout) { return nout <= VL ? 4 : nout <= 4 * VL ? 2 : 1; }

/* y = b + W x for nout outputs (a multiple of 16), W input-major with rows ldw floats apart */
#define MATVEC(ATTR, SCOPE, SUF, VT, P4, P2, P1)                                                              \
    MATVEC_CHUNK(ATTR, mv##SUF##_wide4, VT, P4, 4) MATVEC_CHUNK(ATTR, mv##SUF##_wide2, VT, P2, 2)             \
    MATVEC_CHUNK(ATTR, mv##SUF##_wide1, VT, P1, 1) MATVEC_CHUNK(ATTR, mv##SUF##_one4, VT, 1, 4)               \
    MATVEC_CHUNK(ATTR, mv##SUF##_one2, VT, 1, 2) MATVEC_CHUNK(ATTR, mv##SUF##_rest1, VT, 1, 1)               \
    MATVEC_CHUNK(ATTR, mv##SUF##_rest2, VT, 2, 1) MATVEC_CHUNK(ATTR, mv##SUF##_rest3, VT, 3, 1)               \
    MATVEC_CHUNK(ATTR, mv##SUF##_rest4, VT, 4, 1) MATVEC_CHUNK(ATTR, mv##SUF##_rest5, VT, 5, 1)               \
    MATVEC_CHUNK(ATTR, mv##SUF##_rest6, VT, 6, 1) MATVEC_CHUNK(ATTR, mv##SUF##_rest7, VT, 7, 1)               \
    ATTR SCOPE void matvec##SUF(float *restrict y, const float *restrict b, const float *restrict W, int ldw,  \
                                const float *restrict x, int nin, int nout) {                                 \
        enum { LANES = sizeof(VT) / sizeof(float) };                                                          \
        const int nvec = nout / LANES, spl = runs_for(nout);                                                  \
        int o = 0;                                                                                            \
        if (spl == 4) {                                                                                       \
            for (; o + P4 <= nvec; o += P4) mv##SUF##_wide4(y + LANES * o, b + LANES * o, W + LANES * o, ldw, x, nin); \
            for (; o < nvec; o++) mv##SUF##_one4(y + LANES * o, b + LANES * o, W + LANES * o, ldw, x, nin);   \
        } else if (spl == 2) {                                                                                \
            for (; o + P2 <= nvec; o += P2) mv##SUF##_wide2(y + LANES * o, b + LANES * o, W + LANES * o, ldw, x, nin); \
            for (; o < nvec; o++) mv##SUF##_one2(y + LANES * o, b + LANES * o, W + LANES * o, ldw, x, nin);   \
        } else {                                                                                              \
            for (; o + P1 <= nvec; o += P1) mv##SUF##_wide1(y + LANES * o, b + LANES * o, W + LANES * o, ldw, x, nin); \
            float *yo = y + LANES * o;                                                                        \
            const float *bo = b + LANES * o, *Wo = W + LANES * o;                                             \
            switch (nvec - o) { /* P1 <= 8 */                                                                 \
                case 1: mv##SUF##_rest1(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 2: mv##SUF##_rest2(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 3: mv##SUF##_rest3(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 4: mv##SUF##_rest4(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 5: mv##SUF##_rest5(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 6: mv##SUF##_rest6(yo, bo, Wo, ldw, x, nin); break;                                      \
                case 7: mv##SUF##_rest7(yo, bo, Wo, ldw, x, nin); break;                                      \
                default: break;                                                                               \
            }                                                                                                 \
        }                                                                                                     \
    }

typedef float vf4 __attribute__((vector_size(16)));
/* baseline x86-64 (16 SSE registers of 4 floats) and other machines */
MATVEC(, INLINE, _base, vf4, 2, 4, 8)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(RTAUDIO_WAVENET_PORTABLE)
#define HAVE_X86_PATHS 1
#define TARGET_AVX2 __attribute__((target("avx2")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2")))
MATVEC(TARGET_AVX2, static, _avx2, vf8, 2, 4, 8)    /* 16 registers of 8 floats */
MATVEC(TARGET_AVX512, static, _avx512, vf, 1, 4, 8) /* 32 registers of 16 floats */
#define MATVEC_OF(k, isa, name, y, b, off, ldw, x, nin, nout)                                                 \
    ((isa) == 2   ? matvec_avx512(y, b, (k)->name + (off), ldw, x, nin, nout)                                 \
     : (isa) == 1 ? matvec_avx2(y, b, (k)->name + (off), ldw, x, nin, nout)                                   \
                  : matvec_base(y, b, (k)->name + (off), ldw, x, nin, nout))
#else
#define MATVEC_OF(k, isa, name, y, b, off, ldw, x, nin, nout) matvec_base(y, b, (k)->name + (off), ldw, x, nin, nout)
#endif


/* ---- QUANTIZED PRODUCTS (precision "int8") ----
 * Weights: per output column o, scale w_o = max_i |W[i][o]| / 127 and q[i][o] = rint(W[i][o] / w_o)
 * (round half even, in -127..127). Inputs: per product, one scale s = max_i |x_i| / 63 and
 * x_i -> rint(x_i * (63 / max)) in -63..63, stored offset by 64 (1..127, an unsigned byte). Then
 *     y_o = b_o + float(sum_i u_i q[i][o] - 64 colsum_o) * (w_o * s),
 * whose integer part is exact in every order, and whose float part is the same elementwise IEEE
 * operations on every path: the takes stay bitwise identical across baseline, AVX2 and AVX-512.
 * Seven-bit inputs keep every byte pair product sum under 2^15, so AVX2's saturating
 * maddubs is exact too. The quality cost, measured on held-out data, is in the model card. */

#define QIN 63   /* input levels each side of 0 */
#define QOFF 64  /* the unsigned offset of a quantized input */

typedef uint8_t vu8 __attribute__((vector_size(16)));

INLINE float round_even(float v) { return (v + 12582912.0f) - 12582912.0f; } /* |v| < 2^22 */

/* Quantize x[0:n] (n a multiple of 16) into u; return the input scale s. The x86 paths below
 * compute the same with their own horizontal max and byte packing. */
INLINE float quantize_input(uint8_t *restrict u, const float *restrict x, int n) {
    const vf zero = {0};
    vf mv = zero;
    for (int j = 0; j < n; j += VL) {
        const vf v = vload(x + j);
        mv = vmax(mv, (vf)((vi)v & 0x7fffffff)); /* |v|, +0 for -0 as on every path */
    }
    float m = mv[0];
    for (int j = 1; j < VL; j++) m = mv[j] > m ? mv[j] : m;
    const float inv = m > 0.0f ? (float)QIN / m : 0.0f;
    for (int j = 0; j < n; j += VL) {
        vf r = (vload(x + j) * inv + 12582912.0f) - 12582912.0f;
        r = vselect(r > (float)QIN, zero + (float)QIN, r);
        r = vselect(r < -(float)QIN, zero - (float)QIN, r);
        const vi qi = __builtin_convertvector(r, vi) + QOFF;
        *(vu8 *)(u + j) = __builtin_convertvector(qi, vu8);
    }
    return m / (float)QIN;
}

/* y[0:nout] = b + float(acc - colsum) * (scale * s), elementwise (colsum holds QOFF x the sum) */
INLINE void dequantize(float *restrict y, const float *restrict b, const int32_t *restrict acc,
                       const int32_t *restrict colsum, const float *restrict scale, float s, int nout) {
    for (int o = 0; o < nout; o += VL) {
        const vi t = *(const vi *)(acc + o) - *(const vi *)(colsum + o); /* colsum: QOFF x the column sum */
        vstore(y + o, vload(b + o) + __builtin_convertvector(t, vf) * (vload(scale + o) * s));
    }
}

/* acc[0:nout] = sum_i u[i] W[i][o]; W packed [nin / 4][ldo][4] from this product's first column.
 * Portable C (non-x86 machines); x86-64's baseline path uses the SSE2 form below. */
INLINE void qdot_portable(int32_t *restrict acc, const int8_t *restrict W, int ldo, const uint8_t *restrict u,
                          int nin, int nout) {
    for (int o = 0; o < nout; o++) acc[o] = 0;
    for (int g = 0; g < nin / 4; g++) {
        const int8_t *restrict w = W + (size_t)g * ldo * 4;
        const int u0 = u[4 * g], u1 = u[4 * g + 1], u2 = u[4 * g + 2], u3 = u[4 * g + 3];
        for (int o = 0; o < nout; o++)
            acc[o] += u0 * w[4 * o] + u1 * w[4 * o + 1] + u2 * w[4 * o + 2] + u3 * w[4 * o + 3];
    }
}

#if defined(__x86_64__) && defined(__SSE2__) && !defined(RTAUDIO_WAVENET_PORTABLE)
#include <emmintrin.h>
/* SSE2 (every x86-64): 16 weight bytes are 4 outputs x 4 inputs; sign-extended to int16 and
 * multiplied by the 4 inputs with pmaddwd, each output's two pair sums are added at the end */
static void qdot_base(int32_t *restrict acc, const int8_t *restrict W, int ldo, const uint8_t *restrict u, int nin,
                      int nout) {
    for (int o = 0; o < nout; o += 16) { /* 16 outputs: 8 accumulators of 2 outputs x 2 pair sums */
        __m128i a[8];
        for (int v = 0; v < 8; v++) a[v] = _mm_setzero_si128();
        for (int g = 0; g < nin / 4; g++) {
            int32_t bytes;
            memcpy(&bytes, u + 4 * g, 4); /* in registers: a stack-built vector would stall on store forwarding */
            const __m128i w16 = _mm_unpacklo_epi8(_mm_cvtsi32_si128(bytes), _mm_setzero_si128());
            const __m128i quad = _mm_unpacklo_epi64(w16, w16); /* u0..u3 as int16, twice */
            const int8_t *w = W + ((size_t)g * ldo + o) * 4;
            for (int v = 0; v < 4; v++) {
                const __m128i b = _mm_loadu_si128((const __m128i *)(w + 16 * v));
                const __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8), hi = _mm_srai_epi16(_mm_unpackhi_epi8(b, b), 8);
                a[2 * v] = _mm_add_epi32(a[2 * v], _mm_madd_epi16(lo, quad));
                a[2 * v + 1] = _mm_add_epi32(a[2 * v + 1], _mm_madd_epi16(hi, quad));
            }
        }
        for (int v = 0; v < 8; v++) {
            int32_t t[4];
            _mm_storeu_si128((__m128i *)t, a[v]);
            acc[o + 2 * v] = t[0] + t[1];
            acc[o + 2 * v + 1] = t[2] + t[3];
        }
    }
}

/* quantize_input, SSE2: the same elementwise operations, packed to bytes in registers */
static float quantize_base(uint8_t *restrict u, const float *restrict x, int n) {
    const __m128 mag = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128 mv = _mm_setzero_ps();
    for (int j = 0; j < n; j += 4) mv = _mm_max_ps(mv, _mm_and_ps(mag, _mm_load_ps(x + j)));
    mv = _mm_max_ps(mv, _mm_movehl_ps(mv, mv));
    mv = _mm_max_ss(mv, _mm_shuffle_ps(mv, mv, 1));
    const float m = _mm_cvtss_f32(mv);
    const __m128 inv = _mm_set1_ps(m > 0.0f ? (float)QIN / m : 0.0f), big = _mm_set1_ps(12582912.0f);
    const __m128 hi = _mm_set1_ps((float)QIN), lo = _mm_set1_ps(-(float)QIN);
    const __m128i off = _mm_set1_epi32(QOFF);
    for (int j = 0; j < n; j += 16) {
        __m128i q[4];
        for (int h = 0; h < 4; h++) {
            __m128 r = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(_mm_load_ps(x + j + 4 * h), inv), big), big);
            r = _mm_max_ps(_mm_min_ps(r, hi), lo);
            q[h] = _mm_add_epi32(_mm_cvttps_epi32(r), off);
        }
        const __m128i w = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
        _mm_store_si128((__m128i *)(u + j), w);
    }
    return m / (float)QIN;
}
#else
#define qdot_base qdot_portable
#define quantize_base quantize_input
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(RTAUDIO_WAVENET_PORTABLE)
#include <immintrin.h>
#define TARGET_AVX2_INT8 __attribute__((target("avx2")))
#define TARGET_AVX512_INT8 __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni,avx2")))

/* acc[0 : NV * lanes] over all nin / 4 input quads, in SPL interleaved runs with their own
 * accumulators (integer sums are exact in any order, so the runs only shorten the add chains);
 * NV and SPL constant, so the NV * SPL accumulators stay in registers. STEP(acc, x, w) adds one
 * quad's products (x: the quad broadcast, w: its weights). nin / 4 is a multiple of 4. */
#define QDOT_CHUNK(ATTR, NAME, VT, NV, SPL, BCAST, LOADW, STEP, ADD, STORE)                                \
    ATTR INLINE void NAME(int32_t *restrict acc, const int8_t *restrict W, int ldo, const uint8_t *restrict u, \
                          int nin) {                                                                          \
        VT a[SPL][NV];                                                                                        \
        _Pragma("GCC unroll 16") for (int p = 0; p < SPL; p++)                                                \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) a[p][v] = (VT){0};                         \
        for (int g = 0; g < nin / 4; g += SPL) {                                                              \
            _Pragma("GCC unroll 16") for (int p = 0; p < SPL; p++) {                                          \
                int32_t quad;                                                                                 \
                memcpy(&quad, u + 4 * (g + p), 4);                                                            \
                const VT x = BCAST(quad);                                                                     \
                const int8_t *w = W + (size_t)(g + p) * ldo * 4;                                              \
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                                         \
                    a[p][v] = STEP(a[p][v], x, LOADW(w + sizeof(VT) * v));                                    \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                                               \
            _Pragma("GCC unroll 16") for (int p = 1; p < SPL; p++) a[0][v] = ADD(a[0][v], a[p][v]);           \
            STORE(acc + v * (sizeof(VT) / 4), a[0][v]);                                                       \
        }                                                                                                     \
    }

/* acc[0:nout] by chunks of at most MAXV (<= 8) vectors (nout a multiple of 16); the chunk of NV
 * vectors runs S<NV> input runs */
#define QDOT(ATTR, SUF, VT, MAXV, S1, S2, S3, S4, S5, S6, S7, S8, BCAST, LOADW, STEP, ADD, STORE)                  \
    QDOT_CHUNK(ATTR, qd##SUF##_1, VT, 1, S1, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_2, VT, 2, S2, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_3, VT, 3, S3, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_4, VT, 4, S4, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_5, VT, 5, S5, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_6, VT, 6, S6, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_7, VT, 7, S7, BCAST, LOADW, STEP, ADD, STORE)                                  \
    QDOT_CHUNK(ATTR, qd##SUF##_8, VT, 8, S8, BCAST, LOADW, STEP, ADD, STORE)                                  \
    ATTR static void qdot##SUF(int32_t *restrict acc, const int8_t *restrict W, int ldo, const uint8_t *restrict u, \
                               int nin, int nout) {                                                           \
        enum { LANES = sizeof(VT) / 4 };                                                                      \
        for (int o = 0; o < nout; o += MAXV * LANES) {                                                        \
            const int8_t *w = W + (size_t)o * 4;                                                              \
            const int left = (nout - o) / LANES;                                                              \
            switch (left < MAXV ? left : MAXV) {                                                                     \
                case 1: qd##SUF##_1(acc + o, w, ldo, u, nin); break;                                          \
                case 2: qd##SUF##_2(acc + o, w, ldo, u, nin); break;                                          \
                case 3: qd##SUF##_3(acc + o, w, ldo, u, nin); break;                                          \
                case 4: qd##SUF##_4(acc + o, w, ldo, u, nin); break;                                          \
                case 5: qd##SUF##_5(acc + o, w, ldo, u, nin); break;                                          \
                case 6: qd##SUF##_6(acc + o, w, ldo, u, nin); break;                                          \
                case 7: qd##SUF##_7(acc + o, w, ldo, u, nin); break;                                          \
                default: qd##SUF##_8(acc + o, w, ldo, u, nin); break;                                         \
            }                                                                                                 \
        }                                                                                                     \
    }

/* AVX2: maddubs (byte pairs -> int16, exact: 2 * 127 * 127 < 2^15), then madd by ones (-> int32) */
#define A2_BCAST(q) _mm256_set1_epi32(q)
#define A2_LOADW(p) _mm256_loadu_si256((const __m256i *)(p))
#define A2_STEP(a, x, w) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)))
#define A2_STORE(p, a) _mm256_storeu_si256((__m256i *)(p), a)
#define A2_ADD(a, b) _mm256_add_epi32(a, b)
/* 16 registers: at most ~8 accumulators */
QDOT(TARGET_AVX2_INT8, _avx2, __m256i, 4, 4, 4, 2, 2, 1, 1, 1, 1, A2_BCAST, A2_LOADW, A2_STEP, A2_ADD, A2_STORE)
/* AVX-512 VNNI: one vpdpbusd is 16 outputs x 4 inputs */
#define A5_BCAST(q) _mm512_set1_epi32(q)
#define A5_LOADW(p) _mm512_loadu_si512((const void *)(p))
#define A5_STEP(a, x, w) _mm512_dpbusd_epi32(a, x, w)
#define A5_STORE(p, a) _mm512_storeu_si512((void *)(p), a)
#define A5_ADD(a, b) _mm512_add_epi32(a, b)
/* 32 registers: up to 16 accumulators */
QDOT(TARGET_AVX512_INT8, _avx512, __m512i, 8, 4, 4, 4, 4, 2, 2, 2, 2, A5_BCAST, A5_LOADW, A5_STEP, A5_ADD, A5_STORE)

/* quantize_input, AVX2: the same elementwise operations; 32-bit -> byte by saturating packs
 * (the values are 1..127, so no saturation happens) */
TARGET_AVX2_INT8 static float quantize_avx2(uint8_t *restrict u, const float *restrict x, int n) {
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mv = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) mv = _mm256_max_ps(mv, _mm256_and_ps(mag, _mm256_load_ps(x + j)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float m = _mm_cvtss_f32(m4);
    const __m256 inv = _mm256_set1_ps(m > 0.0f ? (float)QIN / m : 0.0f), big = _mm256_set1_ps(12582912.0f);
    const __m256 hi = _mm256_set1_ps((float)QIN), lo = _mm256_set1_ps(-(float)QIN);
    const __m256i off = _mm256_set1_epi32(QOFF);
    for (int j = 0; j < n; j += 16) {
        __m256i q[2];
        for (int h = 0; h < 2; h++) {
            __m256 r = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_load_ps(x + j + 8 * h), inv), big), big);
            r = _mm256_max_ps(_mm256_min_ps(r, hi), lo);
            q[h] = _mm256_add_epi32(_mm256_cvttps_epi32(r), off);
        }
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);
        _mm_store_si128((__m128i *)(u + j), _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
    }
    return m / (float)QIN;
}

/* quantize_input, AVX-512 */
TARGET_AVX512_INT8 static float quantize_avx512(uint8_t *restrict u, const float *restrict x, int n) {
    __m512 mv = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) mv = _mm512_max_ps(mv, _mm512_abs_ps(_mm512_load_ps(x + j)));
    const float m = _mm512_reduce_max_ps(mv);
    const __m512 inv = _mm512_set1_ps(m > 0.0f ? (float)QIN / m : 0.0f), big = _mm512_set1_ps(12582912.0f);
    const __m512 hi = _mm512_set1_ps((float)QIN), lo = _mm512_set1_ps(-(float)QIN);
    for (int j = 0; j < n; j += 16) {
        __m512 r = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(x + j), inv), big), big);
        r = _mm512_max_ps(_mm512_min_ps(r, hi), lo);
        const __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(r), _mm512_set1_epi32(QOFF));
        _mm_store_si128((__m128i *)(u + j), _mm512_cvtepi32_epi8(q));
    }
    return m / (float)QIN;
}
#define QUANTIZE_OF(isa, u, x, n)                                                                             \
    ((isa) == 2 ? quantize_avx512(u, x, n) : (isa) == 1 ? quantize_avx2(u, x, n) : quantize_base(u, x, n))
#define QDOT_OF(isa, acc, W, ldo, u, nin, nout)                                                               \
    ((isa) == 2   ? qdot_avx512(acc, W, ldo, u, nin, nout)                                                    \
     : (isa) == 1 ? qdot_avx2(acc, W, ldo, u, nin, nout)                                                      \
                  : qdot_base(acc, W, ldo, u, nin, nout))
#else
#define QDOT_OF(isa, acc, W, ldo, u, nin, nout) qdot_base(acc, W, ldo, u, nin, nout)
#define QUANTIZE_OF(isa, u, x, n) quantize_base(u, x, n)
#endif

/* y = b + W x through the int8 weights `name` (columns off.. of rows ldo wide; nout outputs) */
#define QMATVEC_OF(k, isa, name, y, b, layer_w, layer_s, col, ldo, x, nin, nout)                           \
    do {                                                                                                      \
        const float s_ = QUANTIZE_OF(isa, (k)->u8, x, nin);                                                     \
        QDOT_OF(isa, (k)->iacc, (k)->qw##name + (layer_w) + (size_t)(col) * 4, ldo, (k)->u8, nin, nout);          \
        dequantize(y, b, (k)->iacc, (k)->cw##name + (layer_s) + (col), (k)->sw##name + (layer_s) + (col), s_, \
                   nout);                                                                                     \
    } while (0)

/* One step: input class -> k->logits; eb: this sample's gate-bias increment (L * 2R, the
 * model's unpadded layout) or NULL. */
INLINE void step_impl(Kernel *k, int input, const float *restrict eb, const int isa, const int q) {
    const int R = k->R, Rp = k->Rp, Sp = k->Sp, Hp = k->Hp, R2p = 2 * k->Rp, RSp = k->Rp + k->Sp;
    float *restrict x = k->x, *restrict in2 = k->in2, *restrict z = k->z, *restrict h = k->h;
    float *restrict y = k->y, *restrict skip = k->skip;
    const float *emb = k->embed + (size_t)input * Rp;
    for (int j = 0; j < Rp; j += VL) vstore(x + j, vload(emb + j));
    for (int j = 0; j < Sp; j += VL) vstore(skip + j, (vf){0});
    for (int l = 0; l < k->L; l++) {
        float *restrict slot = k->queue + k->qoff[l] + (size_t)k->pos[l] * Rp;
        if (++k->pos[l] == k->dil[l]) k->pos[l] = 0;
        for (int j = 0; j < Rp; j += VL) {
            vstore(in2 + j, vload(slot + j)); /* x[t-d] (zeros before the stream start) */
            vstore(in2 + Rp + j, vload(x + j));
            vstore(slot + j, vload(x + j));
        }
        const float *zbias = k->bias + (size_t)l * R2p;
        if (eb) {
            float *restrict zb = k->zb;
            memcpy(zb, zbias, sizeof(float) * R2p);
            const float *e = eb + (size_t)l * 2 * R;
            for (int j = 0; j < R; j++) {
                zb[j] = zb[j] + e[j];
                zb[Rp + j] = zb[Rp + j] + e[R + j];
            }
            zbias = zb;
        }
        if (q)
            QMATVEC_OF(k, isa, d, z, zbias, (size_t)l * R2p * R2p, (size_t)l * R2p, 0, R2p, in2, R2p, R2p);
        else
            MATVEC_OF(k, isa, wd, z, zbias, (size_t)l * R2p * R2p, R2p, in2, R2p, R2p);
        for (int j = 0; j < Rp; j += VL) {
            const vf th = 1.0f - 2.0f / (vexp(2.0f * vload(z + j)) + 1.0f);
            const vf sg = 1.0f / (1.0f + vexp(-vload(z + Rp + j)));
            vstore(h + j, th * sg);
        }
        const size_t wo = (size_t)l * Rp * RSp;
        const float *bo = k->bo + (size_t)l * RSp;
        const size_t so = (size_t)l * RSp;
        if (l + 1 < k->L) { /* the last layer's residual output feeds nothing */
            if (q)
                QMATVEC_OF(k, isa, o, y, bo, wo, so, 0, RSp, h, Rp, RSp);
            else
                MATVEC_OF(k, isa, wo, y, bo, wo, RSp, h, Rp, RSp);
            for (int j = 0; j < Rp; j += VL) vstore(x + j, vload(x + j) + vload(y + j));
        } else if (q) {
            QMATVEC_OF(k, isa, o, y + Rp, bo + Rp, wo, so, Rp, RSp, h, Rp, Sp);
        } else {
            MATVEC_OF(k, isa, wo, y + Rp, bo + Rp, wo + Rp, RSp, h, Rp, Sp);
        }
        for (int j = 0; j < Sp; j += VL) vstore(skip + j, vload(skip + j) + vload(y + Rp + j));
    }
    k->t++;
    for (int j = 0; j < Sp; j += VL) vstore(skip + j, vmax(vload(skip + j), (vf){0}));
    float *restrict h1 = k->h1;
    if (q)
        QMATVEC_OF(k, isa, 1, h1, k->b1, 0, 0, 0, Hp, skip, Sp, Hp);
    else
        MATVEC_OF(k, isa, w1, h1, k->b1, 0, Hp, skip, Sp, Hp);
    for (int j = 0; j < Hp; j += VL) vstore(h1 + j, vmax(vload(h1 + j), (vf){0}));
    if (q)
        QMATVEC_OF(k, isa, 2, k->logits, k->b2, 0, 0, 0, NCLASS, h1, Hp, NCLASS);
    else
        MATVEC_OF(k, isa, w2, k->logits, k->b2, 0, NCLASS, h1, Hp, NCLASS);
}

static uint64_t mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) keyed to (seed, position): 53 bits of a two-round splitmix64 hash. */
static double uniform_at(uint64_t seed, uint64_t pos) {
    return (double)(mix64(mix64(seed) + pos) >> 11) * (1.0 / 9007199254740992.0);
}

/* Draw a class from softmax(logits / temperature) (argmax when temperature <= 0).
 *
 * Inverse CDF in lane-major class order: lane j (0..15) holds classes j, 16 + j, ..., 240 + j;
 * the CDF runs through lane 0's classes, then lane 1's, ...: C(j, k) = before_j + part_j(k),
 * part_j(k) the running float64 sum of the lane's first k + 1 weights, before_j the running sum
 * of the lanes' totals. Any fixed class order samples the same distribution; this one makes
 * the 256 running sums 16 vector adds. kernels/wavenet/reference.py mirrors it exactly. */
INLINE int sample_impl(Kernel *k, double u, float temperature) {
    const float *restrict lg = k->logits;
    vf mv = vload(lg);
    for (int c = VL; c < NCLASS; c += VL) mv = vmax(mv, vload(lg + c));
    float m = mv[0];
    for (int j = 1; j < VL; j++) m = mv[j] > m ? mv[j] : m;
    if (!(temperature > 0.0f)) {
        for (int c = 0; c < NCLASS; c++)
            if (lg[c] == m) return c;
        return 0;
    }
    const float inv_t = 1.0f / temperature;
    float *restrict e = k->e;
    vd8 lo = {0}, hi = {0};
    for (int c = 0; c < NCLASS; c += VL) {
        const vf ev = vexp((vload(lg + c) - m) * inv_t);
        vstore(e + c, ev);
        vf8 half[2]; /* memcpy, not __builtin_shufflevector: that needs GCC 12 */
        memcpy(half, &ev, sizeof half);
        lo = lo + __builtin_convertvector(half[0], vd8);
        hi = hi + __builtin_convertvector(half[1], vd8);
    }
    double before[VL + 1];
    before[0] = 0.0;
    for (int j = 0; j < VL; j++) before[j + 1] = before[j] + (j < 8 ? lo[j] : hi[j - 8]);
    const double target = u * before[VL];
    int j = 0;
    while (j < VL - 1 && !(before[j + 1] > target)) j++;
    double part = 0.0;
    for (int c = j; c < NCLASS; c += VL) {
        part += (double)e[c];
        if (before[j] + part > target) return c;
    }
    return NCLASS - VL + j; /* unreachable: before[j] + part_j(15) = before[j + 1] > target */
}

INLINE void forward_impl(Kernel *k, const uint8_t *in, Py_ssize_t n, float *out, const float *eb, const int isa,
                         const int q) {
    const size_t row = (size_t)k->L * 2 * k->R;
    for (Py_ssize_t i = 0; i < n; i++) {
        step_impl(k, in[i], eb ? eb + (size_t)i * row : NULL, isa, q);
        if (out) memcpy(out + (size_t)i * NCLASS, k->logits, sizeof(float) * NCLASS);
    }
}

INLINE void generate_impl(Kernel *k, uint8_t *out, Py_ssize_t n, uint64_t seed, uint64_t pos, float temperature,
                          const float *eb, const int isa, const int q) {
    const size_t row = (size_t)k->L * 2 * k->R;
    int cls = k->last;
    for (Py_ssize_t i = 0; i < n; i++) {
        step_impl(k, cls, eb ? eb + (size_t)i * row : NULL, isa, q);
        cls = sample_impl(k, uniform_at(seed, pos + (uint64_t)i), temperature);
        out[i] = (uint8_t)cls;
    }
    k->last = cls;
}

typedef void (*forward_t)(Kernel *, const uint8_t *, Py_ssize_t, float *, const float *);
typedef void (*generate_t)(Kernel *, uint8_t *, Py_ssize_t, uint64_t, uint64_t, float, const float *);

/* one compiled path per (dispatch target, precision) */
#define PATH(name, target_list, isa, q)                                                                       \
    target_list static void forward_##name(Kernel *k, const uint8_t *in, Py_ssize_t n, float *out,            \
                                           const float *eb) {                                                 \
        forward_impl(k, in, n, out, eb, isa, q);                                                              \
    }                                                                                                         \
    target_list static void generate_##name(Kernel *k, uint8_t *out, Py_ssize_t n, uint64_t seed,             \
                                            uint64_t pos, float t, const float *eb) {                         \
        generate_impl(k, out, n, seed, pos, t, eb, isa, q);                                                   \
    }
PATH(base_f32, , 0, 0)
PATH(base_int8, , 0, 1)
#ifdef HAVE_X86_PATHS
PATH(avx2_f32, TARGET_AVX2, 1, 0)
PATH(avx2_int8, TARGET_AVX2_INT8, 1, 1)
PATH(avx512_f32, TARGET_AVX512, 2, 0)
PATH(avx512_int8, TARGET_AVX512_INT8, 2, 1)
#endif

/* indexed by precision: 0 float32, 1 int8 */
static forward_t forward_fn[2] = {forward_base_f32, forward_base_int8};
static generate_t generate_fn[2] = {generate_base_f32, generate_base_int8};
static const char *isa_name[2] = {"baseline", "baseline"};

/* ---- Python object ---- */

static int take_floats(PyObject *obj, Py_ssize_t count, float *dst, const char *what) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    int ok = view.format && strcmp(view.format, "f") == 0 && view.len == count * (Py_ssize_t)sizeof(float);
    if (ok) memcpy(dst, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (!ok) PyErr_Format(PyExc_ValueError, "%s: expected %zd contiguous float32 values", what, count);
    return ok ? 0 : -1;
}

/* One axis of a weight array: n = a + b entries (b = 0 when the axis is not split in halves)
 * stored at [0, a) and [ap, ap + b) of the padded axis, whose length is `padded`. */
typedef struct {
    int a, b, ap, padded;
} Axis;

static int axis_at(Axis ax, int i) { return i < ax.a ? i : ax.ap + (i - ax.a); }

/* Copy a float32 array of shape (count, rows.a + rows.b, cols.a + cols.b) into dst's padded
 * (count, rows.padded, cols.padded) layout; the padding stays zero. */
static int take_padded(PyObject *obj, int count, Axis rows, Axis cols, float *dst, const char *what) {
    const int nr = rows.a + rows.b, nc = cols.a + cols.b;
    const size_t n = (size_t)count * nr * nc;
    float *tmp = malloc(sizeof(float) * n);
    if (!tmp) {
        PyErr_NoMemory();
        return -1;
    }
    if (take_floats(obj, (Py_ssize_t)n, tmp, what) < 0) {
        free(tmp);
        return -1;
    }
    for (int l = 0; l < count; l++)
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < nc; c++)
                dst[((size_t)l * rows.padded + axis_at(rows, r)) * cols.padded + axis_at(cols, c)] =
                    tmp[((size_t)l * nr + r) * nc + c];
    free(tmp);
    return 0;
}

static void Kernel_dealloc(Kernel *k) {
    free(k->mem);
    free(k->qmem);
    free(k->dil);
    free(k->pos);
    free(k->qoff);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static void reset_state(Kernel *k) {
    memset(k->queue, 0, sizeof(float) * k->qoff[k->L]);
    for (int l = 0; l < k->L; l++) k->pos[l] = 0;
    k->t = 0;
    k->last = 128; /* mu-law class of 0.0 */
}

static int pad16(int n) { return (n + VL - 1) / VL * VL; }

/* Per-layer gate biases in the padded layout: bias = b_dil + cond (both (L, 2Rp)). */
static void refresh_bias(Kernel *k) {
    const size_t n = (size_t)k->L * 2 * k->Rp;
    for (size_t i = 0; i < n; i++) k->bias[i] = k->bd[i] + k->cond[i];
}

/* Quantize an input-major float matrix (nin x nout, padded) into the packed int8 layout,
 * with its per-column scales and sums (the rule at QUANTIZED PRODUCTS). */
static void pack_int8(const float *W, int nin, int nout, int8_t *P, float *scale, int32_t *colsum) {
    for (int o = 0; o < nout; o++) {
        float m = 0.0f;
        for (int i = 0; i < nin; i++) {
            const float a = W[(size_t)i * nout + o] < 0 ? -W[(size_t)i * nout + o] : W[(size_t)i * nout + o];
            m = a > m ? a : m;
        }
        const float s = m / 127.0f;
        int32_t sum = 0;
        for (int i = 0; i < nin; i++) {
            float v = m > 0.0f ? round_even(W[(size_t)i * nout + o] / s) : 0.0f;
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            P[((size_t)(i / 4) * nout + o) * 4 + i % 4] = (int8_t)v;
            sum += (int32_t)v;
        }
        scale[o] = s;
        colsum[o] = QOFF * sum; /* what the input offset adds to the integer sum */
    }
}

static int quantize_weights(Kernel *k) {
    const int L = k->L, Rp = k->Rp, Sp = k->Sp, Hp = k->Hp, R2p = 2 * Rp, RSp = Rp + Sp;
    const size_t nw[] = {(size_t)L * R2p * R2p, (size_t)L * Rp * RSp, (size_t)Sp * Hp, (size_t)Hp * NCLASS};
    const size_t ncol[] = {(size_t)L * R2p, (size_t)L * RSp, (size_t)Hp, NCLASS};
    size_t acc = R2p > NCLASS ? (size_t)R2p : NCLASS;
    acc = acc > (size_t)RSp ? acc : (size_t)RSp;
    acc = acc > (size_t)Hp ? acc : (size_t)Hp;
    size_t total = 0;
    for (int i = 0; i < 4; i++) total += ((nw[i] + 63) & ~(size_t)63) + 2 * ((4 * ncol[i] + 63) & ~(size_t)63);
    total += ((4 * acc + 63) & ~(size_t)63) + ((acc + 63) & ~(size_t)63);
    if (posix_memalign(&k->qmem, 64, total)) {
        k->qmem = NULL;
        PyErr_NoMemory();
        return -1;
    }
    memset(k->qmem, 0, total);
    char *p = k->qmem;
    int8_t **w[] = {&k->qwd, &k->qwo, &k->qw1, &k->qw2};
    float **sc[] = {&k->swd, &k->swo, &k->sw1, &k->sw2};
    int32_t **cs[] = {&k->cwd, &k->cwo, &k->cw1, &k->cw2};
    for (int i = 0; i < 4; i++) {
        *w[i] = (int8_t *)p;
        p += (nw[i] + 63) & ~(size_t)63;
        *sc[i] = (float *)p;
        p += (4 * ncol[i] + 63) & ~(size_t)63;
        *cs[i] = (int32_t *)p;
        p += (4 * ncol[i] + 63) & ~(size_t)63;
    }
    k->iacc = (int32_t *)p;
    p += (4 * acc + 63) & ~(size_t)63;
    k->u8 = (uint8_t *)p;
    for (int l = 0; l < L; l++) {
        pack_int8(k->wd + (size_t)l * R2p * R2p, R2p, R2p, k->qwd + (size_t)l * R2p * R2p, k->swd + (size_t)l * R2p,
                  k->cwd + (size_t)l * R2p);
        pack_int8(k->wo + (size_t)l * Rp * RSp, Rp, RSp, k->qwo + (size_t)l * Rp * RSp, k->swo + (size_t)l * RSp,
                  k->cwo + (size_t)l * RSp);
    }
    pack_int8(k->w1, Sp, Hp, k->qw1, k->sw1, k->cw1);
    pack_int8(k->w2, Hp, NCLASS, k->qw2, k->sw2, k->cw2);
    return 0;
}

static int Kernel_init(Kernel *k, PyObject *args, PyObject *kw) {
    static char *names[] = {"dilations", "residual", "skip", "head", "embed", "w_dil", "b_dil",
                            "w_out", "b_out", "w_head1", "b_head1", "w_head2", "b_head2", "precision", NULL};
    PyObject *dils, *a[9];
    int R, S, H;
    const char *precision = "float32";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiiiOOOOOOOOO|$s", names, &dils, &R, &S, &H, &a[0], &a[1], &a[2],
                                     &a[3], &a[4], &a[5], &a[6], &a[7], &a[8], &precision))
        return -1;
    const int quantized = strcmp(precision, "int8") == 0;
    if (!quantized && strcmp(precision, "float32") != 0) {
        PyErr_SetString(PyExc_ValueError, "precision must be 'float32' or 'int8'");
        return -1;
    }
    PyObject *seq = PySequence_Fast(dils, "dilations must be a sequence of ints");
    if (!seq) return -1;
    int L = (int)PySequence_Fast_GET_SIZE(seq);
    if (L < 1 || R < 1 || S < 1 || H < 1 || R > 4096 || S > 4096 || H > 4096) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "bad WaveNet shape");
        return -1;
    }
    free(k->mem); free(k->qmem); free(k->dil); free(k->pos); free(k->qoff);
    k->mem = NULL;
    k->qmem = NULL;
    k->dil = malloc(sizeof(int) * L);
    k->pos = malloc(sizeof(int) * L);
    k->qoff = malloc(sizeof(size_t) * (L + 1));
    if (!k->dil || !k->pos || !k->qoff) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    const int Rp = pad16(R), Sp = pad16(S), Hp = pad16(H);
    size_t q = 0;
    for (int l = 0; l < L; l++) {
        long d = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, l));
        if (d < 1 || d > (1 << 20)) {
            Py_DECREF(seq);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "dilations must be in 1..2^20");
            return -1;
        }
        k->dil[l] = (int)d;
        k->qoff[l] = q;
        q += (size_t)d * Rp;
    }
    k->qoff[L] = q;
    Py_DECREF(seq);
    k->L = L; k->R = R; k->S = S; k->H = H;
    k->Rp = Rp; k->Sp = Sp; k->Hp = Hp;
    const size_t R2p = 2 * (size_t)Rp, RSp = (size_t)Rp + Sp;
    size_t sizes[] = {NCLASS * (size_t)Rp, L * R2p * R2p, L * R2p, L * R2p, L * R2p, L * Rp * RSp, L * RSp,
                      (size_t)Sp * Hp, (size_t)Hp, (size_t)Hp * NCLASS, NCLASS,
                      q, (size_t)Rp, R2p, R2p, R2p, (size_t)Rp, RSp, (size_t)Sp, (size_t)Hp, NCLASS, NCLASS};
    float **ptrs[] = {&k->embed, &k->wd, &k->bd, &k->cond, &k->bias, &k->wo, &k->bo, &k->w1, &k->b1, &k->w2,
                      &k->b2, &k->queue, &k->x, &k->in2, &k->zb, &k->z, &k->h, &k->y, &k->skip, &k->h1,
                      &k->logits, &k->e};
    const int nb = (int)(sizeof sizes / sizeof sizes[0]);
    size_t total = 0;
    for (int i = 0; i < nb; i++) total += (sizes[i] + 15) & ~(size_t)15; /* 64-byte aligned pieces */
    if (posix_memalign((void **)&k->mem, 64, total * sizeof(float))) {
        k->mem = NULL;
        PyErr_NoMemory();
        return -1;
    }
    memset(k->mem, 0, total * sizeof(float));
    float *p = k->mem;
    for (int i = 0; i < nb; i++) {
        *ptrs[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    const Axis one = {1, 0, 1, 1}, res = {R, 0, Rp, Rp}, halves = {R, R, Rp, 2 * Rp};
    const Axis res_skip = {R, S, Rp, (int)RSp}, skip = {S, 0, Sp, Sp}, head = {H, 0, Hp, Hp};
    const Axis classes = {NCLASS, 0, NCLASS, NCLASS};
    if (take_padded(a[0], 1, classes, res, k->embed, "embed") < 0 ||
        take_padded(a[1], L, halves, halves, k->wd, "w_dil") < 0 ||
        take_padded(a[2], L, one, halves, k->bd, "b_dil") < 0 ||
        take_padded(a[3], L, res, res_skip, k->wo, "w_out") < 0 ||
        take_padded(a[4], L, one, res_skip, k->bo, "b_out") < 0 ||
        take_padded(a[5], 1, skip, head, k->w1, "w_head1") < 0 ||
        take_padded(a[6], 1, one, head, k->b1, "b_head1") < 0 ||
        take_padded(a[7], 1, head, classes, k->w2, "w_head2") < 0 ||
        take_padded(a[8], 1, one, classes, k->b2, "b_head2") < 0)
        return -1;
    k->q = quantized;
    if (quantized && quantize_weights(k) < 0) return -1;
    refresh_bias(k);
    reset_state(k);
    return 0;
}

static int claim(Kernel *k) {
    if (!k->mem) {
        PyErr_SetString(PyExc_RuntimeError, "kernel is not initialised");
        return -1;
    }
    if (k->busy) {
        PyErr_SetString(PyExc_RuntimeError, "kernel is in use by another thread");
        return -1;
    }
    k->busy = 1;
    return 0;
}

static PyObject *Kernel_set_cond(Kernel *k, PyObject *arg) {
    if (claim(k) < 0) return NULL;
    const Axis one = {1, 0, 1, 1}, halves = {k->R, k->R, k->Rp, 2 * k->Rp};
    int rc = take_padded(arg, k->L, one, halves, k->cond, "cond");
    if (rc == 0) refresh_bias(k);
    k->busy = 0;
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Kernel_reset(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (claim(k) < 0) return NULL;
    reset_state(k);
    k->busy = 0;
    Py_RETURN_NONE;
}

/* The optional per-sample gate-bias increments: float32 (n, L * 2R), or None. */
static int take_ebias(Kernel *k, PyObject *obj, Py_ssize_t n, Py_buffer *view) {
    view->buf = NULL;
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (!view->format || strcmp(view->format, "f") != 0 ||
        view->len != n * (Py_ssize_t)((size_t)k->L * 2 * k->R * sizeof(float))) {
        PyBuffer_Release(view);
        view->buf = NULL;
        PyErr_SetString(PyExc_ValueError, "ebias must be float32 (n, layers * 2 * residual)");
        return -1;
    }
    return 0;
}

static PyObject *Kernel_forward(Kernel *k, PyObject *args) {
    PyObject *inp, *outp = Py_None, *ebp = Py_None;
    if (!PyArg_ParseTuple(args, "O|OO", &inp, &outp, &ebp)) return NULL;
    Py_buffer in, out = {0}, eb = {0};
    if (PyObject_GetBuffer(inp, &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (in.itemsize != 1) {
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "inputs must be uint8 classes");
        return NULL;
    }
    if (outp != Py_None) {
        if (PyObject_GetBuffer(outp, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
            PyBuffer_Release(&in);
            return NULL;
        }
        if (strcmp(out.format, "f") != 0 || out.len != in.len * NCLASS * (Py_ssize_t)sizeof(float)) {
            PyBuffer_Release(&in);
            PyBuffer_Release(&out);
            PyErr_SetString(PyExc_ValueError, "logits must be float32 (n, 256)");
            return NULL;
        }
    }
    if (take_ebias(k, ebp, in.len, &eb) < 0 || claim(k) < 0) {
        PyBuffer_Release(&in);
        if (out.buf) PyBuffer_Release(&out);
        if (eb.buf) PyBuffer_Release(&eb);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    forward_fn[k->q](k, (const uint8_t *)in.buf, in.len, (float *)out.buf, (const float *)eb.buf);
    Py_END_ALLOW_THREADS
    k->busy = 0;
    PyBuffer_Release(&in);
    if (out.buf) PyBuffer_Release(&out);
    if (eb.buf) PyBuffer_Release(&eb);
    Py_RETURN_NONE;
}

static PyObject *Kernel_generate(Kernel *k, PyObject *args) {
    PyObject *outp, *ebp = Py_None;
    unsigned long long seed, pos;
    float temperature;
    if (!PyArg_ParseTuple(args, "OKKf|O", &outp, &seed, &pos, &temperature, &ebp)) return NULL;
    Py_buffer out, eb = {0};
    if (PyObject_GetBuffer(outp, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) return NULL;
    if (out.itemsize != 1) {
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "out must be a writable uint8 buffer");
        return NULL;
    }
    if (take_ebias(k, ebp, out.len, &eb) < 0 || claim(k) < 0) {
        PyBuffer_Release(&out);
        if (eb.buf) PyBuffer_Release(&eb);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    generate_fn[k->q](k, (uint8_t *)out.buf, out.len, (uint64_t)seed, (uint64_t)pos, temperature, (const float *)eb.buf);
    Py_END_ALLOW_THREADS
    k->busy = 0;
    PyBuffer_Release(&out);
    if (eb.buf) PyBuffer_Release(&eb);
    Py_RETURN_NONE;
}

static PyObject *Kernel_get_last(Kernel *k, void *Py_UNUSED(c)) { return PyLong_FromLong(k->last); }

static int Kernel_set_last(Kernel *k, PyObject *v, void *Py_UNUSED(c)) {
    long c = v ? PyLong_AsLong(v) : -1;
    if (c < 0 || c >= NCLASS) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "last must be a class 0..255");
        return -1;
    }
    k->last = (int)c;
    return 0;
}

static PyObject *Kernel_get_steps(Kernel *k, void *Py_UNUSED(c)) { return PyLong_FromUnsignedLongLong(k->t); }

static PyMethodDef Kernel_methods[] = {
    {"set_cond", (PyCFunction)Kernel_set_cond, METH_O,
     "set_cond(bias): per-layer conditioning gate bias, float32 (layers, 2 * residual)."},
    {"reset", (PyCFunction)Kernel_reset, METH_NOARGS, "Zero the queues; next input class 128 (silence)."},
    {"forward", (PyCFunction)Kernel_forward, METH_VARARGS,
     "forward(inputs, logits=None, ebias=None): teacher forcing. Feed uint8 classes (n,), write float32 logits "
     "(n, 256); ebias: per-sample gate-bias increments, float32 (n, layers * 2 * residual)."},
    {"generate", (PyCFunction)Kernel_generate, METH_VARARGS,
     "generate(out, seed, position, temperature, ebias=None): sample len(out) uint8 classes into out; the "
     "sample at stream position p uses the uniform keyed to (seed, p); ebias as for forward."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Kernel_getset[] = {
    {"last", (getter)Kernel_get_last, (setter)Kernel_set_last, "class fed into the next generated step", NULL},
    {"steps", (getter)Kernel_get_steps, NULL, "steps taken since reset", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rtaudio._wavenet.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Fast WaveNet recurrence over exported float32 weights (input-major matrices).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Kernel_init,
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_methods = Kernel_methods,
    .tp_getset = Kernel_getset,
};

static PyObject *mod_uniform(PyObject *Py_UNUSED(m), PyObject *args) {
    unsigned long long seed, pos;
    if (!PyArg_ParseTuple(args, "KK", &seed, &pos)) return NULL;
    return PyFloat_FromDouble(uniform_at((uint64_t)seed, (uint64_t)pos));
}

static PyMethodDef mod_methods[] = {
    {"uniform", mod_uniform, METH_VARARGS, "uniform(seed, position): the sampler's keyed uniform in [0, 1)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_wavenet", "Fast WaveNet generation kernel.", -1,
                                    mod_methods};

PyMODINIT_FUNC PyInit__wavenet(void) {
#ifdef HAVE_X86_PATHS
    /* RTAUDIO_WAVENET_ISA=baseline|avx2 caps the path (benches and the cross-path parity test) */
    const char *cap = getenv("RTAUDIO_WAVENET_ISA");
    const int allow_avx2 = !cap || strcmp(cap, "baseline") != 0;
    const int allow_avx512 = allow_avx2 && (!cap || strcmp(cap, "avx2") != 0);
    __builtin_cpu_init();
    const int avx512 = allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    const int avx2 = allow_avx2 && __builtin_cpu_supports("avx2");
    if (avx512) {
        forward_fn[0] = forward_avx512_f32;
        generate_fn[0] = generate_avx512_f32;
        isa_name[0] = "avx512";
    } else if (avx2) {
        forward_fn[0] = forward_avx2_f32;
        generate_fn[0] = generate_avx2_f32;
        isa_name[0] = "avx2";
    }
    if (avx512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni")) {
        forward_fn[1] = forward_avx512_int8;
        generate_fn[1] = generate_avx512_int8;
        isa_name[1] = "avx512";
    } else if (avx2) {
        forward_fn[1] = forward_avx2_int8;
        generate_fn[1] = generate_avx2_int8;
        isa_name[1] = "avx2";
    }
#endif
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0 ||
        PyModule_AddStringConstant(m, "isa", isa_name[0]) < 0 ||
        PyModule_AddStringConstant(m, "isa_int8", isa_name[1]) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
