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
 * Build: portable flags only. On x86-64 the hot loop is compiled three times (baseline, AVX2,
 * AVX-512) and chosen at run time; -ffp-contract=off keeps every path bitwise identical (no
 * FMA), so a seed gives the same take on any x86-64 machine.
 * Weights are stored input-major ([in][out]) so every inner loop runs over contiguous
 * outputs and auto-vectorises without reassociating sums.
 * The GIL is released while the recurrence runs; one kernel object serves one thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCLASS 256

typedef struct {
    PyObject_HEAD
    int L, R, S, H;
    int *dil;
    size_t *qoff;   /* float offset of each layer's queue */
    float *mem;     /* one block for weights, queues and scratch */
    float *embed, *wd, *bd, *cond, *bias, *wo, *bo, *w1, *b1, *w2, *b2;
    float *queue;
    float *x, *in2, *z, *h, *y, *skip, *h1, *logits;
    double *cdf;
    uint64_t t;     /* steps taken since reset (indexes the queues) */
    int last;       /* class fed into the next generated step */
    int busy;
} Kernel;

/* ---- the arithmetic, inlined into each dispatch target ---- */

#define INLINE static inline __attribute__((always_inline))

/* exp on float32 without libm calls (so loops of it vectorise): round-to-nearest range
 * reduction by the 1.5 * 2^23 trick, degree-6 Taylor on |r| <= ln2/2 (rel. error ~1.2e-7). */
INLINE float wn_exp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145752f;
    r = r - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666667f + r * (0.0416666667f + r * (0.00833333333f + r * 0.00138888889f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* y[j] += sum_i W[i][j] x[i], in order of i (four rows per pass keep y in registers longer) */
INLINE void matvec_acc(float *restrict y, const float *restrict W, const float *restrict x, int nin, int nout) {
    int i = 0;
    for (; i + 4 <= nin; i += 4) {
        const float *restrict w0 = W + (size_t)i * nout, *restrict w1 = w0 + nout, *restrict w2 = w1 + nout,
                    *restrict w3 = w2 + nout;
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        for (int j = 0; j < nout; j++) y[j] = y[j] + w0[j] * x0 + w1[j] * x1 + w2[j] * x2 + w3[j] * x3;
    }
    for (; i < nin; i++) {
        const float *restrict w = W + (size_t)i * nout;
        const float xi = x[i];
        for (int j = 0; j < nout; j++) y[j] = y[j] + w[j] * xi;
    }
}

/* One step: input class -> k->logits; eb: this sample's gate-bias increment (L * 2R) or NULL. */
INLINE void step_impl(Kernel *k, int input, const float *restrict eb) {
    const int R = k->R, S = k->S, H = k->H, R2 = 2 * k->R, RS = k->R + k->S;
    float *restrict x = k->x, *restrict in2 = k->in2, *restrict z = k->z, *restrict h = k->h;
    float *restrict y = k->y, *restrict skip = k->skip;
    memcpy(x, k->embed + (size_t)input * R, sizeof(float) * R);
    for (int j = 0; j < S; j++) skip[j] = 0.0f;
    for (int l = 0; l < k->L; l++) {
        const int d = k->dil[l];
        float *restrict slot = k->queue + k->qoff[l] + (size_t)(k->t % (uint64_t)d) * R;
        memcpy(in2, slot, sizeof(float) * R); /* x[t-d] (zeros before the stream start) */
        memcpy(in2 + R, x, sizeof(float) * R);
        memcpy(slot, x, sizeof(float) * R);
        memcpy(z, k->bias + (size_t)l * R2, sizeof(float) * R2);
        if (eb)
            for (int j = 0; j < R2; j++) z[j] = z[j] + eb[(size_t)l * R2 + j];
        matvec_acc(z, k->wd + (size_t)l * R2 * R2, in2, R2, R2);
        for (int j = 0; j < R; j++) {
            const float th = 1.0f - 2.0f / (wn_exp(2.0f * z[j]) + 1.0f);
            const float sg = 1.0f / (1.0f + wn_exp(-z[R + j]));
            h[j] = th * sg;
        }
        memcpy(y, k->bo + (size_t)l * RS, sizeof(float) * RS);
        matvec_acc(y, k->wo + (size_t)l * R * RS, h, R, RS);
        for (int j = 0; j < R; j++) x[j] = x[j] + y[j];
        for (int j = 0; j < S; j++) skip[j] = skip[j] + y[R + j];
    }
    k->t++;
    for (int j = 0; j < S; j++) skip[j] = skip[j] > 0.0f ? skip[j] : 0.0f;
    float *restrict h1 = k->h1, *restrict lg = k->logits;
    memcpy(h1, k->b1, sizeof(float) * H);
    matvec_acc(h1, k->w1, skip, S, H);
    for (int j = 0; j < H; j++) h1[j] = h1[j] > 0.0f ? h1[j] : 0.0f;
    memcpy(lg, k->b2, sizeof(float) * NCLASS);
    matvec_acc(lg, k->w2, h1, H, NCLASS);
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

/* Draw a class from softmax(logits / temperature) (argmax when temperature <= 0). */
INLINE int sample_impl(Kernel *k, double u, float temperature) {
    const float *restrict lg = k->logits;
    int best = 0;
    for (int c = 1; c < NCLASS; c++)
        if (lg[c] > lg[best]) best = c;
    if (!(temperature > 0.0f)) return best;
    const float m = lg[best], inv_t = 1.0f / temperature;
    float e[NCLASS];
    for (int c = 0; c < NCLASS; c++) e[c] = wn_exp((lg[c] - m) * inv_t);
    double acc = 0.0;
    for (int c = 0; c < NCLASS; c++) {
        acc += (double)e[c];
        k->cdf[c] = acc;
    }
    const double target = u * acc;
    for (int c = 0; c < NCLASS; c++)
        if (k->cdf[c] > target) return c;
    return best; /* unreachable: cdf[255] = acc > target */
}

INLINE void forward_impl(Kernel *k, const uint8_t *in, Py_ssize_t n, float *out, const float *eb) {
    const size_t row = (size_t)k->L * 2 * k->R;
    for (Py_ssize_t i = 0; i < n; i++) {
        step_impl(k, in[i], eb ? eb + (size_t)i * row : NULL);
        if (out) memcpy(out + (size_t)i * NCLASS, k->logits, sizeof(float) * NCLASS);
    }
}

INLINE void generate_impl(Kernel *k, uint8_t *out, Py_ssize_t n, uint64_t seed, uint64_t pos, float temperature,
                          const float *eb) {
    const size_t row = (size_t)k->L * 2 * k->R;
    int cls = k->last;
    for (Py_ssize_t i = 0; i < n; i++) {
        step_impl(k, cls, eb ? eb + (size_t)i * row : NULL);
        cls = sample_impl(k, uniform_at(seed, pos + (uint64_t)i), temperature);
        out[i] = (uint8_t)cls;
    }
    k->last = cls;
}

static void forward_generic(Kernel *k, const uint8_t *in, Py_ssize_t n, float *out, const float *eb) {
    forward_impl(k, in, n, out, eb);
}
static void generate_generic(Kernel *k, uint8_t *out, Py_ssize_t n, uint64_t seed, uint64_t pos, float t,
                             const float *eb) {
    generate_impl(k, out, n, seed, pos, t, eb);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_PATHS 1
#define X86_PATH(isa, target_list)                                                                              \
    __attribute__((target(target_list))) static void forward_##isa(Kernel *k, const uint8_t *in, Py_ssize_t n,   \
                                                                  float *out, const float *eb) {              \
        forward_impl(k, in, n, out, eb);                                                                     \
    }                                                                                                        \
    __attribute__((target(target_list))) static void generate_##isa(Kernel *k, uint8_t *out, Py_ssize_t n,     \
                                                                   uint64_t seed, uint64_t pos, float t,      \
                                                                   const float *eb) {                         \
        generate_impl(k, out, n, seed, pos, t, eb);                                                          \
    }
X86_PATH(avx2, "avx2")
X86_PATH(avx512, "avx512f,avx512vl,avx2")
#endif

static void (*forward_fn)(Kernel *, const uint8_t *, Py_ssize_t, float *, const float *) = forward_generic;
static void (*generate_fn)(Kernel *, uint8_t *, Py_ssize_t, uint64_t, uint64_t, float, const float *) =
    generate_generic;
static const char *isa_name = "baseline";

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

static void Kernel_dealloc(Kernel *k) {
    free(k->mem);
    free(k->dil);
    free(k->qoff);
    free(k->cdf);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static void reset_state(Kernel *k) {
    size_t qn = k->qoff[k->L];
    memset(k->queue, 0, sizeof(float) * qn);
    k->t = 0;
    k->last = 128; /* mu-law class of 0.0 */
}

static int Kernel_init(Kernel *k, PyObject *args, PyObject *kw) {
    static char *names[] = {"dilations", "residual", "skip", "head", "embed", "w_dil", "b_dil",
                            "w_out", "b_out", "w_head1", "b_head1", "w_head2", "b_head2", NULL};
    PyObject *dils, *a[9];
    int R, S, H;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiiiOOOOOOOOO", names, &dils, &R, &S, &H, &a[0], &a[1], &a[2],
                                     &a[3], &a[4], &a[5], &a[6], &a[7], &a[8]))
        return -1;
    PyObject *seq = PySequence_Fast(dils, "dilations must be a sequence of ints");
    if (!seq) return -1;
    int L = (int)PySequence_Fast_GET_SIZE(seq);
    if (L < 1 || R < 1 || S < 1 || H < 1 || R > 4096 || S > 4096 || H > 4096) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "bad WaveNet shape");
        return -1;
    }
    free(k->mem); free(k->dil); free(k->qoff); free(k->cdf);
    k->mem = NULL;
    k->dil = malloc(sizeof(int) * L);
    k->qoff = malloc(sizeof(size_t) * (L + 1));
    k->cdf = malloc(sizeof(double) * NCLASS);
    if (!k->dil || !k->qoff || !k->cdf) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
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
        q += (size_t)d * R;
    }
    k->qoff[L] = q;
    Py_DECREF(seq);
    k->L = L; k->R = R; k->S = S; k->H = H;
    const size_t R2 = 2 * (size_t)R, RS = (size_t)R + S;
    size_t sizes[] = {NCLASS * (size_t)R, L * R2 * R2, L * R2, L * R2, L * R2, L * R * RS, L * RS,
                      (size_t)S * H, (size_t)H, (size_t)H * NCLASS, NCLASS,
                      q, (size_t)R, R2, R2, (size_t)R, RS, (size_t)S, (size_t)H, NCLASS};
    float **ptrs[] = {&k->embed, &k->wd, &k->bd, &k->cond, &k->bias, &k->wo, &k->bo, &k->w1, &k->b1, &k->w2,
                      &k->b2, &k->queue, &k->x, &k->in2, &k->z, &k->h, &k->y, &k->skip, &k->h1, &k->logits};
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
    const char *what[] = {"embed", "w_dil", "b_dil", "w_out", "b_out", "w_head1", "b_head1", "w_head2", "b_head2"};
    float *dst[] = {k->embed, k->wd, k->bd, k->wo, k->bo, k->w1, k->b1, k->w2, k->b2};
    size_t cnt[] = {sizes[0], sizes[1], sizes[2], sizes[5], sizes[6], sizes[7], sizes[8], sizes[9], sizes[10]};
    for (int i = 0; i < 9; i++)
        if (take_floats(a[i], (Py_ssize_t)cnt[i], dst[i], what[i]) < 0) return -1;
    memcpy(k->bias, k->bd, sizeof(float) * L * R2);
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
    const size_t n = (size_t)k->L * 2 * k->R;
    int rc = take_floats(arg, (Py_ssize_t)n, k->cond, "cond");
    if (rc == 0)
        for (size_t i = 0; i < n; i++) k->bias[i] = k->bd[i] + k->cond[i];
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
    forward_fn(k, (const uint8_t *)in.buf, in.len, (float *)out.buf, (const float *)eb.buf);
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
    generate_fn(k, (uint8_t *)out.buf, out.len, (uint64_t)seed, (uint64_t)pos, temperature, (const float *)eb.buf);
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
    if (allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) {
        forward_fn = forward_avx512;
        generate_fn = generate_avx512;
        isa_name = "avx512";
    } else if (allow_avx2 && __builtin_cpu_supports("avx2")) {
        forward_fn = forward_avx2;
        generate_fn = generate_avx2;
        isa_name = "avx2";
    }
#endif
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0 || PyModule_AddStringConstant(m, "isa", isa_name) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
