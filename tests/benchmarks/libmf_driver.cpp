// Times LIBMF's training on the ratings mfbench's benchmark writes, so that both run on the same
// data in one benchmark run. Reads three raw arrays from DIR (users.i32, items.i32, values.f32),
// trains with LIBMF's defaults (AdaGrad steps, lambda 0.1, eta 0.1) at the given k, threads and
// bins for a short and a long run, and prints the per-epoch time as their difference, so that
// LIBMF's setup (grid building, shuffling) cancels out.
//
//   libmf_driver DIR N_USERS N_ITEMS K THREADS BINS   ->   one JSON line on stdout
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "mf.h"
using namespace mf;

template <typename T>
static std::vector<T> slurp(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) { std::fprintf(stderr, "cannot open %s\n", path.c_str()); std::exit(2); }
    std::fseek(f, 0, SEEK_END);
    long bytes = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    std::vector<T> out(bytes / sizeof(T));
    if (std::fread(out.data(), sizeof(T), out.size(), f) != out.size()) { std::fprintf(stderr, "short read %s\n", path.c_str()); std::exit(2); }
    std::fclose(f);
    return out;
}

static double train_seconds(const mf_problem& prob, int k, int threads, int bins, int iters) {
    mf_parameter p = mf_get_default_param();
    p.k = k; p.nr_threads = threads; p.nr_bins = bins; p.nr_iters = iters; p.quiet = true; p.copy_data = false;
    auto t0 = std::chrono::steady_clock::now();
    mf_model* model = mf_train(&prob, p);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mf_destroy_model(&model);
    return s;
}

int main(int argc, char** argv) {
    if (argc != 7) { std::fprintf(stderr, "usage: libmf_driver DIR N_USERS N_ITEMS K THREADS BINS\n"); return 2; }
    std::string dir = argv[1];
    int n_users = std::atoi(argv[2]), n_items = std::atoi(argv[3]);
    int k = std::atoi(argv[4]), threads = std::atoi(argv[5]), bins = std::atoi(argv[6]);
    auto users = slurp<int>(dir + "/users.i32");
    auto items = slurp<int>(dir + "/items.i32");
    auto values = slurp<float>(dir + "/values.f32");
    if (users.size() != items.size() || users.size() != values.size()) { std::fprintf(stderr, "array lengths differ\n"); return 2; }
    // mf_train reorders R in place when copy_data is false, so each run gets a fresh copy
    std::vector<mf_node> base(users.size());
    for (size_t j = 0; j < users.size(); j++) { base[j].u = users[j]; base[j].v = items[j]; base[j].r = values[j]; }
    const int short_iters = 2, long_iters = 7;
    std::vector<mf_node> R = base;
    mf_problem prob{n_users, n_items, (mf_long)R.size(), R.data()};
    double t_short = train_seconds(prob, k, threads, bins, short_iters);
    R = base;
    double t_long = train_seconds(prob, k, threads, bins, long_iters);
    double epoch = (t_long - t_short) / (long_iters - short_iters);
    std::printf("{\"k\": %d, \"threads\": %d, \"bins\": %d, \"n_ratings\": %zu, \"epoch_seconds\": %.6f, "
                "\"setup_seconds\": %.6f}\n", k, threads, bins, users.size(), epoch, t_short - short_iters * epoch);
    return 0;
}
