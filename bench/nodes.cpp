// vdsr_bench --nodes (bench/nodes.h): per-op times of one training iteration and one HD frame.
#include "bench/nodes.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "bench/bench_rows.h"
#include "bench/mark_clock.h"
#include "engine/atomic_file.h"
#include "engine/buffer.h"
#include "engine/cpu_features.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "io/json_text.h"
#include "kernels/conv_fwd.h"
#include "kernels/programmatic_launch.h"
#include "model/vdsr.h"
#include "tools/cli.h"
#include "vdsr_version.h"

#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_context.h"
#endif

namespace vdsr::bench {

namespace {

// A device buffer of n uniform values in [lo, hi).
Buffer random_buffer(Device d, size_t n, uint32_t seed, float lo, float hi) {
  const std::vector<float> host = random_floats(n, seed, lo, hi);
  Buffer b(d, n * sizeof(float));
  copy_bytes(d, b.data(), Device::cpu(), host.data(), n * sizeof(float));
  return b;
}

void wait_for(Device d) {
#ifdef VDSR_HAVE_CUDA
  if (d.is_cuda()) cuda_sync(d.index);
#else
  (void)d;
#endif
}

std::unique_ptr<MarkClock> make_clock(Device d) {
#ifdef VDSR_HAVE_CUDA
  if (d.is_cuda()) return cuda_mark_clock(d.index);
#else
  (void)d;
#endif
  return cpu_mark_clock();
}

// One interval of a table: the op that ends it (the first ends at the "start" mark: what the call
// queues before its first op, e.g. the step's scalars and the graph launch; the last ends at stop).
struct Node {
  std::string op;
  int layer = -1;
  int C = 0, K = 0;
  std::string kernel;
  double flop = 0.0;
};

struct Table {
  std::string workload, precision, shape, what;
  std::vector<Node> nodes;
  std::vector<std::string> modes;          // the columns: "graph", "eager" or "cpu"
  std::vector<std::vector<double>> ms;     // [mode][node], medians over the replays
  std::vector<double> unmarked_ms;         // [mode]: the call timed without markers
  int reps = 0;
};

// The kernel of `op` in the layer's -v text ("fwd tiled-128x64, bwd_data ..., bwd_weight ...").
std::string kernel_of(const std::string& op, const std::string& layer_text) {
  const std::string role = op == "conv_fwd" ? "fwd " : op == "conv_bwd_data" ? "bwd_data " : op == "conv_bwd_weight" ? "bwd_weight " : "";
  if (role.empty()) return "";
  const size_t at = layer_text.find(role);
  if (at == std::string::npos) return layer_text.find("thin-layer") != std::string::npos ? "thin-layer bf16" : layer_text;
  const size_t from = at + role.size(), to = layer_text.find(',', from);
  return layer_text.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

// Runs `call` with the model's marks timed: a few untimed calls (an iteration is recorded as a
// graph on its third), then `reps` timed ones; fills the nodes (first mode only) and one column.
void time_marked(Vdsr& m, Table& t, int64_t N, int64_t H, int64_t W, const std::function<void()>& call) {
  auto clock = make_clock(m.device());
  size_t k = 0;
  bool collect = t.ms.empty();  // the first call of the first column names the nodes
  std::vector<Node> nodes;
  m.set_op_marker([&](const Vdsr::OpMark& mk) {
    if (collect) {
      Node n;
      n.op = mk.op;
      n.layer = mk.layer;
      if (mk.layer >= 0) {
        const LayerDesc& l = m.layers()[size_t(mk.layer)];
        n.C = l.C;
        n.K = l.K;
        n.kernel = kernel_of(n.op, m.layer_kernels_text(size_t(mk.layer), N, H, W));
        if (n.op.rfind("conv_", 0) == 0) n.flop = 2.0 * double(l.R * l.R) * l.C * l.K * double(N * H * W);
      }
      nodes.push_back(n);
    }
    clock->mark(k++);
  });
  for (int i = 0; i < 4; ++i) {
    k = 0;
    call();
    wait_for(m.device());
    if (collect) t.nodes = nodes;
    collect = false;
  }
  VDSR_CHECK(k == 0 || k == t.nodes.size(),
             "the " << t.workload << " queued " << k << " ops, " << t.nodes.size() << " before");
  std::vector<std::vector<double>> per_node(t.nodes.size() + 1);
  for (int r = 0; r < t.reps; ++r) {
    k = 0;
    clock->start();
    call();
    clock->stop();
    const std::vector<double> iv = clock->intervals_ms(t.nodes.size());
    for (size_t i = 0; i < iv.size(); ++i) per_node[i].push_back(iv[i]);
  }
  m.set_op_marker(nullptr);
  std::vector<double> col;
  for (auto& v : per_node) col.push_back(median(std::move(v)));
  t.ms.push_back(col);

  // The same calls without markers: what the event nodes (or clock reads) cost.
  for (int i = 0; i < 4; ++i) call();
  wait_for(m.device());
  std::vector<double> whole;
  for (int r = 0; r < t.reps; ++r) {
    clock->start();
    call();
    clock->stop();
    whole.push_back(clock->intervals_ms(0).at(0));
  }
  t.unmarked_ms.push_back(median(std::move(whole)));
}

Table iteration_table(Device d, Precision p, int batch, int reps) {
  Table t;
  t.workload = "training iteration";
  t.precision = precision_name(p);
  t.shape = std::to_string(batch) + "x41x41";
  t.reps = reps;
  Vdsr m(VdsrConfig{}, d);
  m.init_he(1);
  m.set_precision(p);
  const size_t n = size_t(batch) * 41 * 41;
  Buffer x = random_buffer(d, n, 31, 0.0f, 1.0f), target = random_buffer(d, n, 32, 0.0f, 1.0f);
  StepOptions so;
  so.lr = 1e-4;  // keeps the weights sane over the repeats on random data
  const auto call = [&] {
    m.train_step_async(batch, 41, 41, static_cast<const float*>(x.data()), static_cast<const float*>(target.data()), so);
  };
  if (d.is_cuda()) {
    t.modes = {"graph", "eager"};
    t.what = "one CUDA graph per iteration with an event node after every op (graph), and the same ops launched one by one (eager)";
    for (const bool graphs : {true, false}) {
      m.set_use_graphs(graphs);
      const int64_t before = m.graph_replays();
      time_marked(m, t, batch, 41, 41, call);
      VDSR_CHECK(!graphs || m.graph_replays() > before, "the iteration was not replayed from a graph");
    }
  } else {
    t.modes = {"cpu"};
    t.what = "the CPU backend, the wall clock read after every op";
    time_marked(m, t, batch, 41, 41, call);
  }
  VDSR_CHECK(m.first_nonfinite_step() < 0, "non-finite loss while timing the iteration");
  return t;
}

Table frame_table(Device d, Precision p, int H, int W, int reps) {
  Table t;
  t.workload = "frame";
  t.precision = precision_name(p);
  t.shape = "1x" + std::to_string(H) + "x" + std::to_string(W);
  t.reps = reps;
  t.modes = {d.is_cuda() ? "eager" : "cpu"};
  t.what = d.is_cuda() ? "Vdsr::forward as vdsr_sr runs it (kernels launched one by one), an event after every op"
                       : "the CPU backend, the wall clock read after every op";
  Vdsr m(VdsrConfig{}, d);
  m.init_he(1);
  m.set_precision(p);
  const size_t n = size_t(H) * size_t(W);
  Buffer x = random_buffer(d, n, 42, 0.0f, 1.0f), y(d, n * sizeof(float));
  time_marked(m, t, 1, H, W, [&] { m.forward(1, H, W, static_cast<const float*>(x.data()), static_cast<float*>(y.data())); });
  return t;
}

// Row i's name: its op, or what the first and the last interval time.
std::string label_of(const Table& t, size_t i) {
  if (i == t.nodes.size()) return "(after the last op)";
  if (t.nodes[i].op != "start") return t.nodes[i].op;
  // On a GPU the first interval is the launch queue's; the CPU queues nothing.
  return t.modes.front() == "cpu" ? "(before the first op)" : "(queued before the first op)";
}

nlohmann::json print(const Table& t) {
  const std::string calls =
      t.reps == 1 ? "one call" : "medians of " + std::to_string(t.reps) + " calls";
  std::printf("\n%s, %s, %s: %s; %s (ms)\n", t.workload.c_str(), t.precision.c_str(),
              t.shape.c_str(), t.what.c_str(), calls.c_str());
  std::printf("%3s  %-28s %5s %7s  %-18s", "#", "op", "layer", "C->K", "kernel");
  for (const auto& mode : t.modes) std::printf(" %9s", mode.c_str());
  // The CPU's rates read in GFLOP/s, as vdsr_bench's CPU table gives them.
  const bool cpu = t.modes.front() == "cpu";
  const double per_unit = cpu ? 1e9 : 1e12;
  std::printf(" %7s %8s\n", "share", cpu ? "GFLOP/s" : "TFLOP/s");
  const size_t marks = t.nodes.size();
  std::vector<double> total(t.modes.size(), 0.0);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t m = 0; m < t.modes.size(); ++m)
    for (double v : t.ms[m]) total[m] += v;
  for (size_t i = 0; i <= marks; ++i) {
    // Interval i: from mark i - 1 (or the start) to mark i (or the stop); it times the op of mark i.
    const Node blank;
    const Node& n = i < marks ? t.nodes[i] : blank;
    const std::string label = label_of(t, i);
    char ck[16] = "", layer[8] = "";
    if (n.layer >= 0) {
      std::snprintf(ck, sizeof ck, "%d->%d", n.C, n.K);
      std::snprintf(layer, sizeof layer, "%d", n.layer);
    }
    std::printf("%3zu  %-28s %5s %7s  %-18s", i, label.c_str(), layer, ck, n.kernel.c_str());
    nlohmann::json r = {{"op", label}, {"layer", n.layer}, {"C", n.C}, {"K", n.K}, {"kernel", n.kernel}, {"flop", n.flop}};
    for (size_t m = 0; m < t.modes.size(); ++m) {
      std::printf(" %9.4f", t.ms[m][i]);
      r["ms"][t.modes[m]] = t.ms[m][i];
    }
    std::printf(" %6.1f%%", 100.0 * t.ms[0][i] / total[0]);
    if (n.flop > 0) std::printf(" %8.2f", n.flop / (t.ms[0][i] * 1e-3) / per_unit);
    std::printf("\n");
    rows.push_back(r);
  }
  std::printf("     %-62s", "sum of the intervals");
  for (double v : total) std::printf(" %9.4f", v);
  std::printf("\n     %-62s", "the same call without markers");
  for (double v : t.unmarked_ms) std::printf(" %9.4f", v);
  std::printf("\n");
  // By kind of node (op and channels): how many, their sum, the median node.
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i <= marks; ++i) {
    const Node blank;
    const Node& n = i < marks ? t.nodes[i] : blank;
    const std::string name = label_of(t, i);
    groups[n.layer >= 0 ? name + " " + std::to_string(n.C) + "->" + std::to_string(n.K) : name].push_back(i);
  }
  std::printf("     by kind (%s): nodes, sum ms, median node ms, share\n", t.modes[0].c_str());
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto& [name, idx] : groups) {
    double sum = 0.0;
    std::vector<double> each;
    for (size_t i : idx) {
      sum += t.ms[0][i];
      each.push_back(t.ms[0][i]);
    }
    const double mid = median(each);
    std::printf("     %-36s %3zu %9.4f %9.4f %6.1f%%\n", name.c_str(), idx.size(), sum, mid, 100.0 * sum / total[0]);
    kinds.push_back({{"kind", name}, {"nodes", idx.size()}, {"sum_ms", sum}, {"median_node_ms", mid}});
  }
  nlohmann::json j = {{"workload", t.workload}, {"precision", t.precision}, {"shape", t.shape}, {"what", t.what},
                      {"reps", t.reps},         {"columns", t.modes},        {"rows", rows},
                      {"by_kind", kinds}};
  for (size_t m = 0; m < t.modes.size(); ++m) {
    j["sum_ms"][t.modes[m]] = total[m];
    j["unmarked_ms"][t.modes[m]] = t.unmarked_ms[m];
  }
  return j;
}

}  // namespace

int run_nodes(const NodesOptions& opt) {
  std::vector<Precision> precisions;
  for (const Precision p : {Precision::Fp32, Precision::Tf32, Precision::Bf16})
    if (opt.precision == "all" || opt.precision == precision_name(p)) precisions.push_back(p);
  VDSR_USER_CHECK(!precisions.empty(), "--precision must be fp32, tf32, bf16 or all, got '" << opt.precision << "'");
  VDSR_USER_CHECK(opt.device.is_cuda() || opt.precision == "fp32",
                  "--nodes on the CPU times fp32 only (the CPU backend computes in fp32); give --precision fp32");
  if (programmatic_launch()) {
    // An event node after every op stands between every two kernels: there is nothing for
    // programmatic dependent launch to overlap, so the kernels are launched plainly.
    log_info("--nodes: programmatic dependent launch is off for these tables (an event node follows every op)");
    set_programmatic_launch(false);
  }
  int status = 0;
  nlohmann::json tables = nlohmann::json::array();
  for (const Precision p : precisions) {
    for (int w = 0; w < 2; ++w) {
      const char* what = w == 0 ? "training iteration" : "frame";
      try {
        const Table t = w == 0 ? iteration_table(opt.device, p, opt.batch, opt.reps)
                               : frame_table(opt.device, p, opt.hd_h, opt.hd_w, opt.reps);
        tables.push_back(print(t));
      } catch (const UserError&) {
        throw;
      } catch (const std::exception& e) {
        log_error(std::string("--nodes: the ") + what + " in " + precision_name(p) + " could not be timed: " + e.what());
        tables.push_back({{"workload", what}, {"precision", precision_name(p)}, {"status", std::string("FAILED: ") + e.what()}});
        status = 1;
      }
      cli::flush_stdout();
    }
  }
  nlohmann::json doc = {{"nodes", tables},
                        {"device", opt.device.name()},
                        {"version", cli::version_text("vdsr_bench")},
                        {"commit", VDSR_COMMIT},
                        {"date", cli::utc_now()}};
  // The CPU's times depend on these as the op rows' do (their JSON gives the same three).
  if (opt.device.is_cpu()) {
    doc["threads"] = ThreadPool::global().size();
    doc["isa"] = isa_name(cpu_isa());
    doc["cpu_conv_method"] = cpu_conv_method_name(cpu_conv_method());
  }
#ifdef VDSR_HAVE_CUDA
  if (opt.device.is_cuda()) {
    try {
      const NodeFloor f = cuda_node_floor(opt.device.index, std::max(opt.reps, 20));
      std::printf("\nnode floor in a replayed graph (median ms): two event nodes in a row %.4f, with one empty kernel between %.4f\n",
                  f.event_gap_ms, f.empty_kernel_ms);
      doc["floor"] = {{"event_gap_ms", f.event_gap_ms}, {"empty_kernel_ms", f.empty_kernel_ms}};
    } catch (const std::exception& e) {
      log_error(std::string("--nodes: the node floor could not be measured: ") + e.what());
      status = 1;
    }
  }
#endif
  if (!opt.json.empty()) {
    const std::string text = json_dump(doc, 2) + "\n";
    write_file_atomic(opt.json, text.data(), text.size());
  }
  return status;
}

}  // namespace vdsr::bench
