// Per-rating SGD for biased MF on an NVIDIA GPU: the update of _sgd_numba.sgd_step, lock-free
// across warps in the manner of cuMF_SGD (Xie et al., HPDC 2017). One warp takes one rating at a
// time, its 32 lanes stride over the k factors, the dot products are reduced with warp shuffles,
// and lane 0 updates the biases and the AdaGrad accumulators. Warps walk a per-epoch permutation
// of the ratings with a grid stride; concurrent updates of a shared row are not locked (Hogwild,
// Niu et al. 2011): with many more rows than resident warps, collisions are rare and benign.
//
// Factors are float32, or IEEE half when compiled with -DFACTOR_HALF (arithmetic stays float32;
// conversion by PTX cvt, so no CUDA header is needed). Accumulators and biases stay float32.

#ifdef FACTOR_HALF
typedef unsigned short factor_t;
__device__ __forceinline__ float load_factor(const factor_t* p) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(*p));
    return f;
}
__device__ __forceinline__ void store_factor(factor_t* p, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    *p = h;
}
#else
typedef float factor_t;
__device__ __forceinline__ float load_factor(const factor_t* p) { return *p; }
__device__ __forceinline__ void store_factor(factor_t* p, float v) { *p = v; }
#endif

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

extern "C" __global__ void sgd_epoch(
    const long long* __restrict__ order, long long n,
    const int* __restrict__ users, const int* __restrict__ items, const float* __restrict__ values,
    factor_t* P, factor_t* Q, float* bu, float* bi, float* Gp, float* Gq, float* Gbu, float* Gbi,
    int k, float mu, float lr, float reg, float reg_bias, int biased, int adaptive, double* sse)
{
    const int lane = threadIdx.x & 31;
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long n_warps = ((long long)gridDim.x * blockDim.x) >> 5;
    double local_sse = 0.0;
    for (long long t = warp; t < n; t += n_warps) {
        const long long j = order[t];
        const int u = users[j];
        const int i = items[j];
        factor_t* pu = P + (long long)u * k;
        factor_t* qi = Q + (long long)i * k;
        float dot = 0.f, pp = 0.f, qq = 0.f;
        for (int f = lane; f < k; f += 32) {
            const float a = load_factor(pu + f), b = load_factor(qi + f);
            dot += a * b;
            pp += a * a;
            qq += b * b;
        }
        dot = warp_sum(dot);
        float pred = dot;
        if (biased) pred += mu + bu[u] + bi[i];
        const float e = pred - values[j];
        float step_p = lr, step_q = lr;
        if (adaptive) {  // the step uses the accumulator before this rating (LIBMF's order)
            step_p = lr * rsqrtf(Gp[u]);
            step_q = lr * rsqrtf(Gq[i]);
            pp = warp_sum(pp);
            qq = warp_sum(qq);
        }
        for (int f = lane; f < k; f += 32) {
            const float a = load_factor(pu + f), b = load_factor(qi + f);
            store_factor(pu + f, a - step_p * (e * b + reg * a));
            store_factor(qi + f, b - step_q * (e * a + reg * b));
        }
        // every lane has read bu[u], bi[i], Gp[u] and Gq[i] above; without this, lane 0 could
        // write them while another lane of the warp has yet to read them (independent thread
        // scheduling), and the lanes would step with different errors
        __syncwarp();
        if (lane == 0) {
            if (adaptive) {  // |g_p|^2 = e^2 |q|^2 + 2 e reg (p . q) + reg^2 |p|^2, as on the CPU
                const float cross = 2.f * e * reg * dot;
                Gp[u] += (e * e * qq + cross + reg * reg * pp) / k;
                Gq[i] += (e * e * pp + cross + reg * reg * qq) / k;
            }
            if (biased) {
                const float gbu = e + reg_bias * bu[u];
                const float gbi = e + reg_bias * bi[i];
                if (adaptive) {
                    bu[u] -= lr * rsqrtf(Gbu[u]) * gbu;
                    bi[i] -= lr * rsqrtf(Gbi[i]) * gbi;
                    Gbu[u] += gbu * gbu;
                    Gbi[i] += gbi * gbi;
                } else {
                    bu[u] -= lr * gbu;
                    bi[i] -= lr * gbi;
                }
            }
            local_sse += (double)e * e;
        }
        __syncwarp();  // lane 0's bias and accumulator writes land before the warp's next rating reads them
    }
    if (lane == 0) atomicAdd(sse, local_sse);
}
