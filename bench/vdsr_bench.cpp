// vdsr_bench: throughput of the conv ops and of the whole network.
//   -g -1 (the CPU backend): each conv op at the training shape (N x 41 x 41, 64 -> 64 channels) and
//     the whole 20-layer forward and training step, each verified at the shape it times first
//     (bench/cpu_verify.h); medians over repeats after a warm-up; each as % of the same threads'
//     multiply-add peak, measured first in the kernels' vector path (bench/cpu_peak.h).
//   -g N (CUDA builds; the default when a GPU is usable): our kernels (every variant of every conv
//     op at the training shape and at 1 x 1080 x 1920, the training iteration, 1080p inference),
//     cuDNN's algorithms and cuBLAS' peaks and im2col + SGEMM (bench/gpu_bench.cpp); every row
//     verified before it is timed; a table with TFLOP/s, % of the measured peak and the ratio to
//     cuDNN's best like-for-like algorithm. --precision keeps one compute mode's rows (fp32, tf32
//     or bf16; all of them by default).
//   --stages FOLDER: the image pipeline's stages per format on a folder (bench/stages.h).
// FLOP counts: a 3x3 conv pass is 2 * 9 * C * K FLOP per pixel (multiply + add); the network
// forward is 2 * 664,704 FLOP per pixel; a training step is forward + backward-weight of every
// layer + backward-data of every layer but the first (bench/bench_rows.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench_rows.h"
#include "bench/cpu_peak.h"
#include "bench/cpu_verify.h"
#include "bench/gpu_bench.h"  // the GPU rows' options (the rows themselves: CUDA builds only)
#include "bench/nodes.h"
#include "bench/stages.h"
#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "io/json_text.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/programmatic_launch.h"
#include "model/vdsr.h"
#include "tools/cli.h"
#include "vdsr_version.h"

using namespace vdsr;

namespace {

// The GPU rows, the table and the JSON (CUDA builds). Returns 1 when a row failed verification.
int run_gpu(bench::GpuOptions o, const std::string& impl, const std::string& json) {
#ifdef VDSR_HAVE_CUDA
  o.ours = impl == "all" || impl == "ours";
  o.cudnn = impl == "all" || impl == "cudnn";
  o.cublas = impl == "all" || impl == "cublas";
  std::vector<bench::Row> rows;
  nlohmann::json meta = {{"commit", VDSR_COMMIT},
                         {"date", cli::utc_now()},
                         {"impl", impl},
                         {"precision", o.precision},
                         {"programmatic_launch", programmatic_launch()},
                         {"version", cli::version_text("vdsr_bench")}};
  if (o.time_limit_s > 0) meta["time_limit_s"] = o.time_limit_s;
  const auto failures = [](const std::vector<bench::Row>& so_far) {
    int n = 0;
    for (const auto& r : so_far) n += r.status.rfind("FAILED", 0) == 0 ? 1 : 0;
    return n;
  };
  // complete: false while rows are still to come (a run killed midway leaves that JSON).
  const auto write_json = [&](const nlohmann::json& table, int failed, bool complete) {
    meta["rows"] = table;
    meta["failed_rows"] = failed;
    meta["complete"] = complete;
    const std::string text = json_dump(meta, 2) + "\n";
    write_file_atomic(json, text.data(), text.size());
  };
  if (!json.empty())
    o.checkpoint = [&](const std::vector<bench::Row>& so_far) {
      write_json(bench::table_json(so_far), failures(so_far), false);
    };
  bench::run_gpu_benchmarks(o, rows, meta);
  std::printf("vdsr_bench %s (commit %s), %s, GPU %s, %s, PDL %s\n", VDSR_VERSION, VDSR_COMMIT,
              meta["date"].get<std::string>().c_str(), meta["gpu"]["name"].get<std::string>().c_str(),
              meta.contains("cudnn") && meta["cudnn"].is_object()
                  ? ("cuDNN " + meta["cudnn"]["library_version"].dump()).c_str()
                  : "cuDNN: not found at build time",
              programmatic_launch() ? "on" : "off");
  const nlohmann::json table = bench::print_table(rows);
  const int failed = failures(rows);
  if (!json.empty()) write_json(table, failed, true);
  int cut = 0;
  for (const auto& r : rows) cut += r.status.find("--time-limit") != std::string::npos ? 1 : 0;
  if (cut > 0) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", o.time_limit_s);
    log_warning(std::to_string(cut) + " row(s) or group(s) of rows not run: --time-limit " + limit + " s reached");
  }
  if (failed > 0) {
    log_error(std::to_string(failed) + " row(s) FAILED verification or errored (see the table)");
    return 1;
  }
  return 0;
#else
  (void)o, (void)impl, (void)json;
  VDSR_USER_FAIL("this build has no CUDA backend; use -g -1");
#endif
}

// "64,128,256" -> {64, 128, 256}, each at least 1.
std::vector<int> parse_batches(const std::string& text, const char* flag) {
  std::vector<int> out;
  size_t from = 0;
  while (from <= text.size()) {
    const size_t comma = std::min(text.find(',', from), text.size());
    VDSR_USER_CHECK(comma > from,
                    flag << " has an empty item in '" << text << "': give batches such as 64,128");
    const int b = cli::parse_int(text.substr(from, comma - from), flag);
    VDSR_USER_CHECK(b >= 1, flag << " takes batches of at least 1 patch, got " << b);
    out.push_back(b);
    from = comma + 1;
  }
  return out;
}

int run(int argc, char** argv) {
  int gpu = kDefaultDevice, reps = 0, batch = 64, image = 256;
  bool nodes = false;
  bench::GpuOptions g;
  std::string json, impl = "all", precision;
  cli::Parser p(
      "vdsr_bench", "throughput of the VDSR ops and network",
      "vdsr_bench [-g N] [--impl ours|cudnn|cublas|all] [--precision MODE] [--reps N] "
      "[--batch N] [--train-batches N,N,...] [--conv-batches N,N,...] [--runs N] [--pdl on|off] "
      "[--probes] [--image N] "
      "[--gemm N] [--time-limit SECONDS] "
      "[--no-hd-convs] [--json FILE]\n"
      "       vdsr_bench --nodes [-g N] [--precision MODE] [--batch N] [--image N] [--reps N] "
      "[--json FILE]\n"
      "       vdsr_bench --stages FOLDER [-g N] [--images N] [-s 2|3|4] [--network-pixels N] "
      "[--net-rate MPX_PER_S] [--reps N] [--json FILE]\n"
      "       vdsr_bench --list-kernels [-g N]");
  p.add({"-g", "--gpu", "N",
         "device to benchmark; -1 = the CPU backend [0 when a GPU is usable, else -1]",
         [&](const std::string& v) { gpu = cli::parse_one_gpu(v, "give one GPU per run"); }});
  // Flags that belong to one mode, refused in another rather than ignored: the GPU op rows' own,
  // --stages' own, and the op rows' and --nodes' shape (--batch, --image). A flag that repeats its
  // default is no use of another mode (a script may pass it for every run).
  std::vector<std::string> gpu_row_flags, stage_flags, shape_flags;
  p.add({"", "--impl", "WHICH", "GPU rows: ours, cudnn, cublas or all [all]",
         [&](const std::string& v) {
           impl = v;
           if (impl != "all") gpu_row_flags.push_back("--impl");
         }});
  p.add({"", "--precision", "MODE",
         "rows of one compute mode: fp32, tf32 or bf16 (GPU only), or all, every mode the device "
         "has [all; the CPU computes in fp32 only]",
         [&](const std::string& v) { precision = v; }});
  p.add({"", "--reps", "N",
         "timed repeats per row, median reported; 0 = the default [5 on the CPU, 50 on a GPU, 20 "
         "with --nodes, 3 per image with --stages]",
         [&](const std::string& v) { reps = cli::parse_int(v, "--reps"); }});
  p.add({"", "--batch", "N", "patches of 41 x 41 in the training shape [64]",
         [&](const std::string& v) {
           batch = cli::parse_int(v, "--batch");
           if (batch != 64) shape_flags.push_back("--batch");
         }});
  p.add({"", "--train-batches", "LIST",
         "GPU: training-iteration rows at each of these batches, e.g. 64,128,256 (batch scaling) "
         "[--batch]",
         [&](const std::string& v) { g.train_batches = parse_batches(v, "--train-batches"); }});
  p.add({"", "--conv-batches", "LIST",
         "GPU: the per-op conv rows at each of these batches of 41 x 41 patches, e.g. 1,64 (a "
         "launch's fixed cost against its work) [--batch]",
         [&](const std::string& v) { g.conv_batches = parse_batches(v, "--conv-batches"); }});
  p.add({"", "--runs", "N",
         "GPU: time every row N times; the median of the runs is reported with their spread, and "
         "cuDNN's best is the median over the runs of each run's fastest algorithm [1]",
         [&](const std::string& v) {
           g.runs = cli::parse_int(v, "--runs");
           if (g.runs != 1) gpu_row_flags.push_back("--runs");
         }});
  std::string pdl;
  p.add({"", "--pdl", "on|off",
         "GPU: launch the kernels that support it with programmatic dependent launch (compute 9.0 "
         "and later; docs/kernels.md) [off, or on when VDSR_PDL=1]",
         [&](const std::string& v) { pdl = v; }});
  p.add({"", "--probes", "",
         "GPU: also time the bf16 default's wgmma kernels with parts switched off (the GEMM alone, "
         "no GEMM, no tile copies, no stores, the fixed part) at each conv shape, inputs rotated "
         "and in L2: where a conv's time goes (docs/kernels.md, Probes)",
         [&](const std::string&) {
           g.probes = true;
           gpu_row_flags.push_back("--probes");
         }});
  p.add({"", "--nodes", "",
         "instead of the op rows: the time of every op inside one training iteration (--batch; on a "
         "GPU replayed from its CUDA graph with an event node after each op) and one frame (1920 x "
         "1080 on a GPU, --image square on the CPU), medians of --reps calls [20]",
         [&](const std::string&) { nodes = true; }});
  p.add({"", "--image", "N",
         "CPU: side of the square image for whole-network inference and --nodes' frame [256] "
         "(the GPU rows use 1920 x 1080)",
         [&](const std::string& v) {
           image = cli::parse_int(v, "--image");
           if (image != 256) shape_flags.push_back("--image");
         }});
  p.add({"", "--time-limit", "SECONDS",
         "GPU rows: start no row or group of rows after SECONDS (what is left is listed as skipped "
         "and --json is still written); --json is also rewritten after every group, so a run "
         "killed midway leaves its rows [0: no limit]",
         [&](const std::string& v) {
           g.time_limit_s = cli::parse_double(v, "--time-limit");
           VDSR_USER_CHECK(g.time_limit_s >= 0, "--time-limit must be 0 (no limit) or more seconds, got " << v);
           if (g.time_limit_s != 0) gpu_row_flags.push_back("--time-limit");
         }});
  p.add({"", "--gemm", "N", "GPU: size of the cuBLAS peak GEMMs, M = N = K [8192]", [&](const std::string& v) {
           g.gemm = cli::parse_int(v, "--gemm");
           if (g.gemm != bench::GpuOptions{}.gemm) gpu_row_flags.push_back("--gemm");
         }});
  p.add({"", "--no-hd-convs", "", "GPU: skip the per-op conv rows at 1 x 1080 x 1920 (inference stays)",
         [&](const std::string&) {
           g.hd_convs = false;
           gpu_row_flags.push_back("--no-hd-convs");
         }});
  p.add({"", "--json", "FILE", "also write the rows as JSON",
         [&](const std::string& v) { json = cli::json_file(v); }});
  bool list = false;
  p.add({"", "--list-kernels", "", "GPU: list the conv kernel registry (which rows this GPU runs, the defaults) and exit",
         [&](const std::string&) { list = true; }});
  bench::StagesOptions stages;
  int64_t network_pixels = -1;
  p.add({"", "--stages", "FOLDER",
         "instead of the op rows: decode, colour + bicubic, network and encode throughput per format "
         "over the images of FOLDER, stb's codecs beside ours, and the vdsr_sr -j L:P:S that keeps the "
         "network fed",
         [&](const std::string& v) { stages.folder = v; }});
  p.add({"", "--images", "N", "--stages: the first N image files by name; 0 = all [0]",
         [&](const std::string& v) {
           stages.images = cli::parse_int(v, "--images");
           stage_flags.push_back("--images");
         }});
  p.add({"-s", "--scale", "N", "--stages: upscale factor 2, 3 or 4 [2]", [&](const std::string& v) {
           stages.scale = cli::parse_int(v, "--scale");
           stage_flags.push_back("--scale");
         }});
  p.add({"", "--network-pixels", "N",
         "--stages: output pixels the network runs (crops of the first images); 0 = every image whole "
         "[65536 on the CPU, 0 on a GPU]",
         [&](const std::string& v) {
           network_pixels = parse_int64(v, "--network-pixels");
           stage_flags.push_back("--network-pixels");
           VDSR_USER_CHECK(
               network_pixels >= 0,
               "--network-pixels must be 0 (every image whole) or more, got " << network_pixels);
         }});
  p.add({"", "--net-rate", "MPX_PER_S",
         "--stages: the network rate (output Mpx/s) the -j suggestion feeds, for instance a GPU's; "
         "0 = the rate measured here [0]",
         [&](const std::string& v) {
           stages.net_rate = cli::parse_double(v, "--net-rate");
           stage_flags.push_back("--net-rate");
         }});
  p.add_common();
  p.parse(argc, argv);
  // A batch list that is --batch alone repeats the default (taken in any mode, as the others are).
  bool batch_lists = false;  // a GPU-row flag that names batches (the CPU rows time --batch alone)
  for (const auto& [flag, batches] :
       {std::pair{"--train-batches", &g.train_batches}, {"--conv-batches", &g.conv_batches}})
    if (!batches->empty() && *batches != std::vector<int>{batch}) {
      gpu_row_flags.push_back(flag);
      batch_lists = true;
    }
  VDSR_USER_CHECK(stages.images >= 0, "--images must be 0 (all) or more, got " << stages.images);
  // An H200 runs VDSR at a few hundred output Mpx/s; a million is a typo, and its thread counts
  // would overflow what -j and --shard take.
  VDSR_USER_CHECK(stages.net_rate >= 0 && stages.net_rate <= 1e6,
                  "--net-rate must be 0 (the rate measured here) up to 1000000 output Mpx/s, got "
                      << stages.net_rate);
  VDSR_USER_CHECK(impl == "ours" || impl == "cudnn" || impl == "cublas" || impl == "all",
             "--impl must be ours, cudnn, cublas or all, got '" << impl << "'");
  VDSR_USER_CHECK(reps >= 0, "--reps must be 0 (the default count) or more, got " << reps);
  VDSR_USER_CHECK(batch >= 1, "--batch must be at least 1, got " << batch);
  VDSR_USER_CHECK(image >= 1, "--image must be at least 1, got " << image);
  VDSR_USER_CHECK(g.gemm >= 64, "--gemm must be at least 64, got " << g.gemm);
  VDSR_USER_CHECK(g.runs >= 1, "--runs must be at least 1, got " << g.runs);
  VDSR_USER_CHECK(pdl.empty() || pdl == "on" || pdl == "off", "--pdl must be on or off, got '" << pdl << "'");
  VDSR_USER_CHECK(precision.empty() || precision == "fp32" || precision == "tf32" ||
                      precision == "bf16" || precision == "all",
                  "--precision must be fp32, tf32, bf16 or all, got '" << precision << "'");
  VDSR_USER_CHECK(!nodes || stages.folder.empty(),
                  "--nodes and --stages are two runs: give one of them");
  VDSR_USER_CHECK(stage_flags.empty() || !stages.folder.empty(),
                  join_list(stage_flags) << ": for --stages FOLDER, which was not given");
  VDSR_USER_CHECK(gpu_row_flags.empty() || (!nodes && stages.folder.empty()),
                  join_list(gpu_row_flags)
                      << ": for the GPU op rows; " << (nodes ? "--nodes" : "--stages")
                      << " runs without them");
  VDSR_USER_CHECK(
      shape_flags.empty() || stages.folder.empty(),
      join_list(shape_flags)
          << ": the op rows' and --nodes' shape; --stages times the images of its folder");
  const Device dev = select_device(gpu);
  VDSR_USER_CHECK(!dev.is_cuda() || std::find(shape_flags.begin(), shape_flags.end(), "--image") ==
                                        shape_flags.end(),
                  "--image sets the CPU's square image; on a GPU the inference rows and --nodes' "
                  "frame are 1920 x 1080");
  VDSR_USER_CHECK(pdl != "on" || dev.is_cuda(),
                  "--pdl on sets how kernels are launched on a GPU; the CPU backend launches none");
  if (!pdl.empty()) set_programmatic_launch(pdl == "on");
  if (list) {
    VDSR_USER_CHECK(dev.is_cuda(), "--list-kernels lists the CUDA kernels and needs a GPU; the CPU backend's are "
                                   "kernels/conv_fwd_cpu.cpp and conv3x3_bwd_*_cpu.cpp, with *_winograd_cpu.cpp on the "
                                   "64 -> 64 layers (VDSR_CPU_CONV)");
#ifdef VDSR_HAVE_CUDA
    bench::list_kernels(dev.index, batch);
#endif
    return 0;
  }
  // Every mode the device has: the CPU's one (so a script may pass the GPU's default everywhere).
  if (!dev.is_cuda() && precision == "all") precision = "fp32";
  if (!stages.folder.empty()) {
    VDSR_USER_CHECK(precision != "all", "--stages times one compute mode; give --precision fp32, tf32 or bf16");
    stages.device = dev;
    stages.precision = precision;
    stages.reps = reps > 0 ? reps : 3;
    stages.network_pixels = network_pixels >= 0 ? network_pixels : dev.is_cuda() ? 0 : 65536;
    // A crop smaller than a 64 x 64 tile times the network's fixed cost, not its rate (said once
    // the command line is read, so that a -q after the flag silences it).
    if (network_pixels > 0 && network_pixels < 4096)
      log_warning("--network-pixels " + std::to_string(network_pixels) +
                  ": so small a crop times the network's fixed cost more than its rate (the "
                  "network rows and the -j suggestion read low); 4096 or more, or 0 for every "
                  "image whole, measure the rate");
    stages.json = json;
    return bench::run_stages(stages);
  }
  if (!precision.empty() && precision != "all") cli::check_precision(precision, dev.is_cuda());
  // Rows too large for this machine's memory are refused before any runs (an allocation failing
  // mid-run loses the rows already timed): a lower bound, the network's feature maps alone, 64
  // floats a pixel, of every layer for a training step's batch and of two layers for an image.
  if (dev.is_cpu()) {
    const double ram = double(memory_bytes(Device::cpu())), per_px = 64.0 * sizeof(float);
    const double train = double(batch) * 41 * 41 * per_px * VdsrConfig{}.depth;
    const double frame = double(image) * image * per_px * 2;
    const auto gb = [](double bytes) {
      char t[32];
      std::snprintf(t, sizeof t, "%.1f GB", bytes / 1e9);
      return std::string(t);
    };
    VDSR_USER_CHECK(train <= ram, "--batch "
                                      << batch << ": a training step's feature maps alone take "
                                      << gb(train) << ", more than this machine's " << gb(ram)
                                      << " of memory: give a smaller --batch");
    VDSR_USER_CHECK(frame <= ram, "--image " << image << ": an image's feature maps alone take "
                                             << gb(frame) << ", more than this machine's "
                                             << gb(ram) << " of memory: give a smaller --image");
  }
  if (nodes) {
    bench::NodesOptions n;
    n.device = dev;
    n.precision = !precision.empty() ? precision : dev.is_cuda() ? "all" : "fp32";
    n.batch = batch;
    if (dev.is_cpu()) n.hd_h = n.hd_w = image;
    n.reps = reps > 0 ? reps : 20;
    n.json = json;
    return bench::run_nodes(n);
  }
  if (dev.is_cuda()) {
    g.device = dev.index;
    g.reps = reps > 0 ? reps : 50;
    g.batch = batch;
    g.precision = precision.empty() ? "all" : precision;
    return run_gpu(g, impl, json);
  }
  VDSR_USER_CHECK(impl == "all" || impl == "ours",
                  "--impl " << impl << " picks among the GPU rows; the CPU rows are ours alone (the PyTorch peer on "
                               "the CPU: bench/pytorch_cpu_peer.py)");
  gpu_row_flags.erase(std::remove(gpu_row_flags.begin(), gpu_row_flags.end(), "--impl"),
                      gpu_row_flags.end());
  VDSR_USER_CHECK(gpu_row_flags.empty(),
                  join_list(gpu_row_flags)
                      << ": for the GPU rows ("
                      << (gpu == -1 ? "-g -1 chose the CPU" : "no usable GPU here")
                      << "), which the CPU backend does not run"
                      << (batch_lists ? "; its rows time --batch alone" : ""));
  if (reps == 0) reps = 5;

  nlohmann::json rows = nlohmann::json::array();
  // The base of the % column: the same threads' multiply-add peak in the kernels' ISA path.
  const Isa isa = cpu_isa();
  const int threads = ThreadPool::global().size();
  const double peak = bench::cpu_fma_peak_gflops(isa, threads);
  // With Winograd (VDSR_CPU_CONV, kernels/conv_fwd.h) the 64 -> 64 layers do 2.25x (F(2x2)) or 4x
  // (F(4x4)) fewer multiply-adds than a row is credited with: every row counts the direct method's,
  // so rows compare as times, and they may pass the peak. Each row names its 64 -> 64 layers' methods.
  const CpuConvMethod method = cpu_conv_method();
  const char* method_name = cpu_conv_method_name(method);
  std::printf(
      "CPU conv method: VDSR_CPU_CONV=%s (%s; GFLOP/s and %% peak count the direct method's "
      "multiply-adds%s)\n",
      method_name,
      method == CpuConvMethod::Auto ? "Winograd F(4x4, 3x3) forward and backward-data, F(2x2, 3x3) "
                                      "weight gradient on the 64 -> 64 layers, direct elsewhere"
      : method == CpuConvMethod::Winograd2
          ? "Winograd F(2x2, 3x3) on the 64 -> 64 layers, direct elsewhere"
          : "the direct method everywhere",
      method == CpuConvMethod::Direct
          ? ""
          : ", so rows whose layers do fewer by Winograd can pass 100 %");
  const auto tile_name = [](int tile) { return tile == 0 ? std::string("direct") : "winograd-f" + std::to_string(tile); };
  // What a GPU run has and this one does not, said rather than left to be missed.
  const char* not_run =
      "cuDNN and cuBLAS baselines, tf32 and bf16, the 1920 x 1080 rows: GPU rows (-g N, a CUDA "
      "build)";
  std::printf("not run on the CPU: %s\n", not_run);
  std::printf("%-34s %12s %10s %7s\n", "row (CPU, fp32)", "median ms", "GFLOP/s", "% peak");
  std::printf("%-34s %12s %10.2f %7s\n",
              ("multiply-add peak, " + std::string(isa_name(isa)) + ", " + std::to_string(threads) + " thr").c_str(),
              "", peak, "100.0");
  // methods: the row's 64 -> 64 layers' methods (tile_name; "direct" does the multiply-adds `flop` counts).
  auto row = [&](const std::string& name, double flop, double secs, const std::string& methods) {
    const bool fewer_macs = methods != "direct";
    const double gflops = flop / secs / 1e9;
    std::printf("%-34s %12.2f %10.2f %7.1f\n", name.c_str(), secs * 1e3, gflops, 100.0 * gflops / peak);
    if (gflops > 1.02 * peak && !fewer_macs)  // no direct conv can beat the units it runs on: the peak run was disturbed
      std::printf("  (above the measured peak: other work on the machine during the peak's run?)\n");
    cli::flush_stdout();
    rows.push_back({{"row", name}, {"device", "cpu"}, {"precision", "fp32"}, {"median_ms", secs * 1e3},
                    {"gflops", gflops}, {"percent_of_peak", 100.0 * gflops / peak},
                    {"method", methods}});
  };

  const ConvShape s{batch, 41, 41, 64, 64};
  const auto x = bench::random_floats(size_t(s.in_elems()), 5, -1.0f, 1.0f),
             w = bench::random_floats(size_t(s.weight_elems()), 6, -0.05f, 0.05f),
             b = bench::random_floats(64, 7, -1.0f, 1.0f), dy = bench::random_floats(size_t(s.out_elems()), 8, -1.0f, 1.0f);
  std::vector<float> y(size_t(s.out_elems())), dx(size_t(s.in_elems())), dw(size_t(s.weight_elems())), db(64);
  conv_fwd_cpu(s, x.data(), w.data(), b.data(), true, y.data());
  conv3x3_bwd_data_cpu(s, dy.data(), w.data(), x.data(), dx.data());
  conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
  bench::verify_conv_rows(s, x.data(), w.data(), b.data(), y.data(), dy.data(), dx.data(), dw.data(), db.data(), 256);
  const double conv_flop = 2.0 * s.macs();
  const std::string shape = std::to_string(batch) + "x41x41 64->64";
  row("conv3x3_fwd " + shape, conv_flop,
      bench::median_seconds(reps, [&] { conv_fwd_cpu(s, x.data(), w.data(), b.data(), true, y.data()); }),
      tile_name(cpu_conv_fwd_tile(s)));
  row("conv3x3_bwd_data " + shape, conv_flop,
      bench::median_seconds(reps, [&] { conv3x3_bwd_data_cpu(s, dy.data(), w.data(), x.data(), dx.data()); }),
      tile_name(cpu_conv_fwd_tile(s)));  // C = K: its forward's shape is s
  row("conv3x3_bwd_weight " + shape, conv_flop,
      bench::median_seconds(reps, [&] { conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data()); }),
      tile_name(cpu_conv_bwd_weight_tile(s)));

  Vdsr model(VdsrConfig{}, Device::cpu());
  model.init_he(1);
  const double px_flop = 2.0 * double(weight_count(model.config()));
  {
    const auto in = bench::random_floats(size_t(image) * size_t(image), 9, -0.5f, 0.5f);
    std::vector<float> out(in.size());
    model.forward(1, image, image, in.data(), out.data());
    bench::verify_network_forward(model, image, image, in.data(), out.data());
    row("network forward 1x" + std::to_string(image) + "x" + std::to_string(image), px_flop * image * image,
        bench::median_seconds(reps, [&] { model.forward(1, image, image, in.data(), out.data()); }),
        tile_name(cpu_conv_fwd_tile(ConvShape{1, image, image, 64, 64})));
  }
  {
    const auto in = bench::random_floats(size_t(batch) * 41 * 41, 10, -0.5f, 0.5f),
               target = bench::random_floats(in.size(), 11, -0.5f, 0.5f);
    bench::verify_training_step(model, batch, in.data(), target.data());
    StepOptions so;
    so.lr = 1e-6;  // keep the weights sane across repeats
    row("training step " + std::to_string(batch) + "x41x41", bench::train_step_flop(model.layers(), int64_t(batch) * 41 * 41),
        bench::median_seconds(reps, [&] { model.train_step(batch, 41, 41, in.data(), target.data(), so); }),
        cpu_conv_fwd_tile(s) == 0 && cpu_conv_bwd_weight_tile(s) == 0
            ? std::string("direct")
            : "fwd+bwd_data " + tile_name(cpu_conv_fwd_tile(s)) + ", bwd_weight " +
                  tile_name(cpu_conv_bwd_weight_tile(s)));
  }
  if (!json.empty()) {
    nlohmann::json doc = {{"rows", rows},
                          {"threads", threads},
                          {"isa", isa_name(isa)},
                          {"fma_peak_gflops", peak},
                          {"cpu_conv_method", method_name},
                          {"batch", batch},
                          {"image", image},
                          {"reps", reps},
                          {"not_run", not_run},
                          {"hardware_threads", std::thread::hardware_concurrency()},
                          {"version", cli::version_text("vdsr_bench")},
                          {"commit", VDSR_COMMIT},
                          {"date", cli::utc_now()}};
    const std::string text = json_dump(doc, 2) + "\n";
    write_file_atomic(json, text.data(), text.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
