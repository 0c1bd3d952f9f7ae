// One mini-batch step of biased MF with a lazy optimizer (momentum, Adam, Adamax) on an NVIDIA
// GPU in two launches: the rule of minibatch.py's array code, fused.
//
// minibatch_gradients: one warp per rating of the batch (ratings order[start .. start + n)); its
// lanes stride over the k factors, the dot product is reduced with warp shuffles. Every warp
// reads the rows as the batch found them (no row is written in this launch) and adds its
// rating's gradient, times `scale` (1 / batch size), into per-row accumulators with atomics.
// The first warp to touch a row (atomicExch on the row's flag) appends it to the side's list of
// the batch's rows; counts[0] and counts[1] are the two lists' lengths.
//
// minibatch_step: one warp per listed row (the user rows, then the item rows); it applies the
// optimizer to the row's weights and moments with the accumulated gradient, then zeroes the
// accumulator and the flag, so the next batch finds them clear. Rows not in the batch are not
// touched: their moments do not decay (lazy, as TensorFlow's LazyAdam).
//
// The order of atomic additions varies from run to run, so sums (and results) vary in their last
// bits: the GPU path is not bit-reproducible (its spec's reproducible_on leaves "gpu" out).

#define MOMENTUM 0
#define ADAM 1
#define ADAMAX 2

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ void add_row(int row, int* flags, int* list, int* count) {
    if (atomicExch(flags + row, 1) == 0) list[atomicAdd(count, 1)] = row;
}

extern "C" __global__ void minibatch_gradients(
    const long long* order, long long start, int n,
    const int* users, const int* items, const float* values,
    const float* P, const float* Q, const float* bu, const float* bi,
    float* gP, float* gQ, float* gbu, float* gbi,
    int* flags_u, int* flags_i, int* list_u, int* list_i, int* counts,
    int k, float mu, float reg, float reg_bias, int biased, float scale, double* sse) {
    const int lane = threadIdx.x & 31;
    const int j = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    if (j >= n) return;
    const long long r = order[start + j];
    const long long u = users[r], i = items[r];
    const float* p = P + u * k;
    const float* q = Q + i * k;
    float dot = 0.0f;
    for (int f = lane; f < k; f += 32) dot += p[f] * q[f];
    dot = warp_sum(dot);
    const float e = mu + bu[u] + bi[i] + dot - values[r];  // r_hat - r
    float* gp = gP + u * k;
    float* gq = gQ + i * k;
    for (int f = lane; f < k; f += 32) {
        const float pf = p[f], qf = q[f];
        atomicAdd(gp + f, scale * (e * qf + reg * pf));
        atomicAdd(gq + f, scale * (e * pf + reg * qf));
    }
    if (lane == 0) {
        if (biased) {
            atomicAdd(gbu + u, scale * (e + reg_bias * bu[u]));
            atomicAdd(gbi + i, scale * (e + reg_bias * bi[i]));
        }
        atomicAdd(sse, (double)e * (double)e);
        add_row((int)u, flags_u, list_u, counts);
        add_row((int)i, flags_i, list_i, counts + 1);
    }
}

__device__ __forceinline__ void step(
    int kind, float* w, float* m, float* v, float* g,
    float lr, float b1, float b2, float eps, float c1, float c2) {
    const float grad = *g;
    *g = 0.0f;
    if (kind == MOMENTUM) {  // v = beta v + g; w -= lr v (beta in b1)
        const float vel = b1 * *m + grad;
        *m = vel;
        *w -= lr * vel;
    } else if (kind == ADAM) {  // c1 = 1 - b1^t, c2 = 1 - b2^t
        const float mm = b1 * *m + (1.0f - b1) * grad;
        const float vv = b2 * *v + (1.0f - b2) * grad * grad;
        *m = mm;
        *v = vv;
        *w -= lr * (mm / c1) / (sqrtf(vv / c2) + eps);
    } else {  // ADAMAX: u = max(b2 u, |g|); w -= lr / c1 * m / (u + eps)
        const float mm = b1 * *m + (1.0f - b1) * grad;
        const float uu = fmaxf(b2 * *v, fabsf(grad));
        *m = mm;
        *v = uu;
        *w -= (lr / c1) * mm / (uu + eps);
    }
}

extern "C" __global__ void minibatch_step(
    int kind, int capacity, const int* counts, const int* list_u, const int* list_i,
    float* P, float* Q, float* bu, float* bi,
    float* gP, float* gQ, float* gbu, float* gbi,
    float* mP, float* vP, float* mQ, float* vQ,
    float* mbu, float* vbu, float* mbi, float* vbi,
    int* flags_u, int* flags_i,
    int k, int biased, float lr, float b1, float b2, float eps, float c1, float c2) {
    const int lane = threadIdx.x & 31;
    int slot = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const bool user_side = slot < capacity;
    if (!user_side) slot -= capacity;
    if (slot >= counts[user_side ? 0 : 1]) return;
    const long long row = user_side ? list_u[slot] : list_i[slot];
    float* w = (user_side ? P : Q) + row * k;
    float* g = (user_side ? gP : gQ) + row * k;
    float* m = (user_side ? mP : mQ) + row * k;
    float* v = (user_side ? vP : vQ) + row * k;
    for (int f = lane; f < k; f += 32) step(kind, w + f, m + f, v + f, g + f, lr, b1, b2, eps, c1, c2);
    if (lane == 0) {
        if (biased) {
            if (user_side) step(kind, bu + row, mbu + row, vbu + row, gbu + row, lr, b1, b2, eps, c1, c2);
            else step(kind, bi + row, mbi + row, vbi + row, gbi + row, lr, b1, b2, eps, c1, c2);
        }
        (user_side ? flags_u : flags_i)[row] = 0;
    }
}
