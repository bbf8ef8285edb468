// The tools as users run them: --help / --version, bad flags, vdsr_sr over a folder with a corrupt
// file and a non-image, the folder rules, a model given with -m, a target size (--width /
// --height), vdsr_eval's JSON against the library's own protocol, and vdsr_train end to end with
// an exact resume.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/imresize.h"
#include "io/batch_pipeline.h"
#include "io/sha256.h"
#include "kernels/conv_fwd.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/vdsr.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"
#include "tools/batch_report.h"
#include "tools/cli.h"
#include "tools/eval_methods.h"
#include "tools/eval_sets.h"
#include "tools/sr_options.h"
#include "tools/sr_workers.h"

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;
using test::test_image;

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Each `command + args` exits 1 saying `words`, and leaves no file named by args' first word in dir.
void check_refused(const std::string& command, const std::string& dir,
                   const std::vector<std::pair<std::string, std::string>>& refused) {
  std::string log;
  for (const auto& [args, words] : refused) {
    INFO(args);
    REQUIRE(run_command(command + args, &log) == 1);
    INFO(log);
    CHECK(log.find(words) != std::string::npos);
    CHECK(!fs::exists(dir + "/" + args.substr(0, args.find(' '))));
  }
}

}  // namespace

TEST_CASE("every tool prints --help and --version and rejects unknown flags") {
  for (const char* tool : {"vdsr_sr", "vdsr_eval", "vdsr_train", "vdsr_bench", "vdsr_convert"}) {
    std::string out;
    INFO(tool);
    REQUIRE(run_command(bin(tool) + " --help", &out) == 0);
    REQUIRE(out.find("Usage:") != std::string::npos);
    REQUIRE(out.find("--version") != std::string::npos);
    REQUIRE(run_command(bin(tool) + " --version", &out) == 0);
    REQUIRE(out.find("commit") != std::string::npos);
    REQUIRE(out.find("CUDA") != std::string::npos);
    REQUIRE(run_command(bin(tool) + " --no-such-flag", &out) != 0);
    REQUIRE(out.find("unknown option '--no-such-flag'") != std::string::npos);
    REQUIRE(run_command(bin(tool) + " -h", &out) == 0);
    CHECK(out.find("-h, --help") != std::string::npos);
    CHECK(run_command(bin(tool) + " --help=x", &out) == 1);
    CHECK(out.find("option --help takes no value") != std::string::npos);
    // The help asked for, though a flag before it is wrong; not after "--", where it is a name.
    REQUIRE(run_command(bin(tool) + " --no-such-flag -h", &out) == 0);
    CHECK(out.find("Usage:") != std::string::npos);
    CHECK(run_command(bin(tool) + " --no-such-flag -- --help", &out) != 0);
    CHECK(out.find("Usage:") == std::string::npos);
  }
  std::string said;
  REQUIRE(run_command(bin("vdsr_eval") + " --scales 9 --help", &said) == 0);
  CHECK(said.find("Usage:") != std::string::npos);
  CHECK(said.find("outside") == std::string::npos);
  // "--" ends the options: a file name may start with '-' after it.
  const std::string dir = test::temp_dir("cli_dashes");
  std::string out;
  CHECK(run_command(
            "cd " + dir + " && " + bin("vdsr_convert") + " -- -in.safetensors out.safetensors",
            &out) == 1);
  CHECK(out.find("-in.safetensors") != std::string::npos);
  CHECK(out.find("unknown option") == std::string::npos);
  CHECK(run_command(bin("vdsr_eval") + " -- x", &out) == 1);
  CHECK(out.find("unexpected argument 'x' after '--'") != std::string::npos);
}

TEST_CASE("every tool takes --precision and the CPU refuses tf32 and bf16 with the reason") {
  const std::string dir = test::temp_dir("cli_precision");
  for (const char* tool : {"vdsr_sr", "vdsr_eval", "vdsr_train", "vdsr_bench"}) {
    std::string out;
    INFO(tool);
    REQUIRE(run_command(bin(tool) + " --help", &out) == 0);
    CHECK(out.find("--precision") != std::string::npos);
  }
  // vdsr_bench on the CPU: fp32 runs, the GPU modes stop before any work.
  std::string log;
  const std::string small = " -g -1 --reps 1 --batch 1 --image 8";
  REQUIRE(run_command(bin("vdsr_bench") + small + " --precision fp32 --json " + dir + "/b.json",
                      &log) == 0);
  // Every timed shape was verified first (bench/cpu_verify.h); the JSON holds one row per op with
  // a positive time and rate.
  std::ifstream jf(dir + "/b.json");
  const auto bench = nlohmann::json::parse(jf);
  std::vector<std::string> names, methods;
  for (const auto& r : bench.at("rows")) {
    names.push_back(r.at("row").get<std::string>());
    methods.push_back(r.at("method").get<std::string>());
    CHECK(r.at("median_ms").get<double>() > 0);
    CHECK(r.at("gflops").get<double>() > 0);
    CHECK(r.at("precision") == "fp32");
  }
  // Every row runs 64 -> 64 layers, by default on Winograd: F(4x4) forward, F(2x2) weight gradient.
  CHECK(methods == std::vector<std::string>{"winograd-f4", "winograd-f4", "winograd-f2", "winograd-f4",
                                            "fwd+bwd_data winograd-f4, bwd_weight winograd-f2"});
  CHECK(bench.at("cpu_conv_method") == "auto");
  CHECK(names == std::vector<std::string>{"conv3x3_fwd 1x41x41 64->64", "conv3x3_bwd_data 1x41x41 64->64",
                                          "conv3x3_bwd_weight 1x41x41 64->64", "network forward 1x8x8",
                                          "training step 1x41x41"});
  for (const char* mode : {"tf32", "bf16"}) {
    INFO(mode);
    REQUIRE(run_command(bin("vdsr_bench") + small + " --precision " + mode, &log) == 1);
    CHECK(log.find("needs a GPU") != std::string::npos);
  }
  // "all": every mode the device has, which on the CPU is fp32 alone.
  REQUIRE(run_command(bin("vdsr_bench") + small + " --precision all --json " + dir + "/all.json",
                      &log) == 0);
  for (const auto& r : nlohmann::json::parse(std::ifstream(dir + "/all.json")).at("rows"))
    CHECK(r.at("precision") == "fp32");
  REQUIRE(run_command(bin("vdsr_bench") + small + " --precision fp16", &log) == 1);
  CHECK(log.find("fp32, tf32, bf16 or all") != std::string::npos);
}

TEST_CASE("the tf32 mode is announced as unverified on a GPU, fp32 and bf16 are not") {
  // check_precision logs this note as a warning on a GPU (the CPU refuses tf32 before it: above).
  const std::string note = unverified_note(Precision::Tf32);
  CHECK(note.find("--precision tf32 has not run on a GPU yet") != std::string::npos);
  CHECK(note.find("unverified") != std::string::npos);
  CHECK(unverified_note(Precision::Fp32).empty());
  CHECK(unverified_note(Precision::Bf16).empty());
  CHECK(cli::check_precision("fp32", false) == Precision::Fp32);
}

TEST_CASE("vdsr_bench --nodes times every op of an iteration and a frame, in the model's order") {
  const std::string dir = test::temp_dir("bench_nodes");
  std::string log;
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --nodes --batch 1 --image 12 --reps 2 --json " + dir + "/n.json", &log) == 0);
  INFO(log);
  std::ifstream jf(dir + "/n.json");
  const auto doc = nlohmann::json::parse(jf);
  REQUIRE(doc.at("nodes").size() == 2);
  CHECK(log.find("; medians of 2 calls (ms)") != std::string::npos);
  {
    std::string one;
    REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --nodes --batch 1 --image 12 --reps 1", &one) ==
            0);
    CHECK(one.find("; one call (ms)") != std::string::npos);
    CHECK(one.find("medians of 1 calls") == std::string::npos);
  }
  CHECK(doc.at("threads").get<int>() >= 1);  // what CPU times depend on, as in the op rows' JSON
  CHECK(!doc.at("isa").get<std::string>().empty());
  CHECK(doc.at("cpu_conv_method") == cpu_conv_method_name(cpu_conv_method()));
  // On the CPU the rates read in GFLOP/s, as vdsr_bench's CPU table gives them: each row with
  // work prints its flop over its median time in that unit.
  CHECK(log.find(" GFLOP/s") != std::string::npos);
  CHECK(log.find("TFLOP/s") == std::string::npos);
  for (const auto& r : doc.at("nodes")[0].at("rows")) {
    if (r.at("flop").get<double>() <= 0) continue;
    char rate[32];
    std::snprintf(rate, sizeof rate, " %8.2f\n",
                  r.at("flop").get<double>() / (r.at("ms").at("cpu").get<double>() * 1e-3) / 1e9);
    INFO(r.dump());
    CHECK(log.find(rate) != std::string::npos);
  }
  // The expected op sequence: what Vdsr queues (fp32 keeps no GEMM weight copies).
  std::vector<std::string> iteration{"(before the first op)"}, frame{"(before the first op)"};
  for (int i = 0; i < 20; ++i) iteration.push_back("conv_fwd");
  iteration.push_back("euclidean_loss");
  for (int i = 19; i >= 0; --i) {
    iteration.push_back("conv_bwd_weight");
    if (i > 0) iteration.push_back("conv_bwd_data");
  }
  iteration.insert(iteration.end(), {"grad_norm", "optim_step", "(after the last op)"});
  for (int i = 0; i < 20; ++i) frame.push_back("conv_fwd");
  frame.push_back("(after the last op)");
  for (const auto& t : doc.at("nodes")) {
    const bool it = t.at("workload") == "training iteration";
    INFO(t.at("workload").get<std::string>());
    CHECK(t.at("shape") == (it ? "1x41x41" : "1x12x12"));
    std::vector<std::string> ops;
    double sum = 0.0;
    for (const auto& r : t.at("rows")) {
      ops.push_back(r.at("op").get<std::string>());
      const double ms = r.at("ms").at("cpu").get<double>();
      CHECK(ms >= 0);
      sum += ms;
      // A conv node's FLOP: 2 * 9 * C * K * pixels of its layer.
      if (ops.back().rfind("conv_", 0) == 0) {
        const double pixels = it ? 41.0 * 41.0 : 144.0;
        CHECK(r.at("flop").get<double>() == 18.0 * r.at("C").get<int>() * r.at("K").get<int>() * pixels);
        // The CPU method: Winograd with 32 or more channels on each side (F(4x4) forward and
        // backward-data, F(2x2) weight gradient), the direct method on the thin layers.
        const bool wide = r.at("C").get<int>() >= 32 && r.at("K").get<int>() >= 32;
        const bool weight = ops.back() == "conv_bwd_weight";
        CHECK(r.at("kernel") == (!wide ? "cpu-direct" : weight ? "cpu-winograd-f2" : "cpu-winograd-f4"));
      }
    }
    CHECK(ops == (it ? iteration : frame));
    CHECK(std::abs(sum - t.at("sum_ms").at("cpu").get<double>()) < 1e-9 * std::max(1.0, sum));
    CHECK(t.at("unmarked_ms").at("cpu").get<double>() > 0);
    // The kinds add up to the whole.
    double kinds = 0.0;
    for (const auto& k : t.at("by_kind")) kinds += k.at("sum_ms").get<double>();
    CHECK(std::abs(kinds - sum) < 1e-9 * std::max(1.0, sum));
  }
}

TEST_CASE("vdsr_bench --stages times every stage per format, stb beside ours, and suggests -j") {
  for (const char* f : {"jpeg", "webp", "tiff"}) test::require_codec(f);  // every encode row below
  const std::string dir = test::temp_dir("bench_stages"), in = dir + "/in";
  fs::create_directories(in);
  save_image(in + "/a.png", test_image(24, 16, 3, 1), ImageFormat::PNG);
  save_image(in + "/b.jpg", test_image(20, 18, 3, 2), ImageFormat::JPEG);
  save_image(in + "/c.png", test_image(12, 10, 1, 3), ImageFormat::PNG);
  save_image(in + "/d.bmp", test_image(9, 7, 3, 4), ImageFormat::BMP);  // the first 3 only: not read
  write_text(in + "/notes.txt", "not an image");
  const std::string cmd = bin("vdsr_bench") + " -g -1 --stages " + in + " --images 3 --reps 1 --network-pixels 300";
  std::string log;
  REQUIRE(run_command(cmd + " --json " + dir + "/s.json", &log) == 0);
  INFO(log);
  CHECK(log.find("warning: --network-pixels 300: so small a crop times the network's fixed cost") !=
        std::string::npos);
  {  // A cap above the images: the pixels run, 48x32 + 40x36 + 24x20, not the cap.
    std::string big;
    REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + in +
                            " --images 3 --reps 1 --network-pixels 100000",
                        &big) == 0);
    CHECK(big.find("3456 px of 3 images") != std::string::npos);
    CHECK(big.find("100000 px") == std::string::npos);
    CHECK(big.find("so small a crop") == std::string::npos);
  }
  std::ifstream jf(dir + "/s.json");
  const auto doc = nlohmann::json::parse(jf);
  CHECK(doc.at("files") == 3);
  std::vector<std::string> rows;
  double network = 0;
  for (const auto& r : doc.at("rows")) {
    const std::string name = r.at("stage").get<std::string>() + (r.at("baseline").get<bool>() ? " (stb)" : "") +
                             " | " + r.at("setting").get<std::string>();
    rows.push_back(name);
    INFO(name);
    CHECK(r.at("images").get<int>() >= 1);
    CHECK(r.at("seconds").get<double>() > 0);
    CHECK(r.at("mpx_per_s").get<double>() > 0);
    CHECK(r.at("images_per_s").get<double>() > 0);
    const std::string stage = r.at("stage");
    if (stage == "decode" || stage == "encode") CHECK(r.at("mb_per_s").get<double>() > 0);
    if (stage == "network x2") {
      network = r.at("mpx_per_s");
      CHECK(r.at("mpx").get<double>() * 1e6 <= 300.5);  // the cap
    }
    CHECK(log.find(r.at("stage").get<std::string>()) != std::string::npos);
  }
  CHECK(rows == std::vector<std::string>{"decode | png", "decode | jpeg", "decode (stb) | png", "decode (stb) | jpeg",
                                         "prepare x2 | 2 colour, 1 grey", "network x2 | 17x17 of image 1",
                                         "forward alone x2 | 17x17 of image 1", "finish x2 | 2 colour, 1 grey", "encode | png level 1", "encode | png level 6", "encode | jpg q95",
                                         "encode | webp q90", "encode | webp lossless", "encode | tif deflate 1",
                                         "encode | bmp", "encode (stb) | png level 8", "encode (stb) | jpg q95"});
  // One -j line per encode row, fed at the measured network rate.
  CHECK(doc.at("net_rate_mpx_per_s").get<double>() == network);
  CHECK(doc.at("suggestions").size() == 9);
  CHECK(log.find("  png level 1            -j ") != std::string::npos);
  CHECK(log.find("jpg q95 (stb)") != std::string::npos);
  // PNG's level 1 is our own chunk writer, the other levels libpng; the CPU's -j is explained.
  for (const auto& r : doc.at("rows"))
    if (r.at("stage") == "encode" && !r.at("baseline").get<bool>())
      CHECK((r.at("library") == "own writer with zlib") == (r.at("setting") == "png level 1"));
  CHECK(log.find("On the CPU every stage shares the same cores") != std::string::npos);
  // A given rate: L = ceil(rate / a load thread's decode + prepare rate), P = 1 (the network
  // alone), S = ceil(rate / a save thread's finish + encode rate).
  REQUIRE(run_command(cmd + " --net-rate 5000 --json " + dir + "/r.json", &log) == 0);
  std::ifstream rf(dir + "/r.json");
  const auto given = nlohmann::json::parse(rf);
  CHECK(given.at("net_rate_mpx_per_s").get<double>() == 5000.0);
  const double decode = given.at("decode_output_mpx_per_s"), prepare = given.at("prepare_mpx_per_s"),
               finish = given.at("finish_mpx_per_s");
  const double load_rate = 1.0 / (1.0 / decode + 1.0 / prepare);
  CHECK(std::abs(given.at("load_thread_mpx_per_s").get<double>() - load_rate) < 1e-9 * load_rate);
  // Each process's -j, and how many: the totals over at most 256 threads a stage, which vdsr_sr
  // takes.
  const auto check_split = [](const nlohmann::json& j) {
    const int load = j.at("load"), save = j.at("save"), n = j.at("processes");
    CHECK(n == (std::max(load, save) + 255) / 256);
    CHECK(j.at("threads").get<std::string>() ==
          std::to_string((load + n - 1) / n) + ":1:" + std::to_string((save + n - 1) / n));
    CHECK_NOTHROW(parse_pipeline_threads(j.at("threads").get<std::string>()));
  };
  for (const auto& j : given.at("suggestions")) {
    INFO(j.dump());
    CHECK(j.at("load").get<int>() == int(std::ceil(5000.0 / load_rate - 1e-9)));
    CHECK(j.at("process").get<int>() == 1);
    CHECK(j.at("save_thread_mpx_per_s").get<double>() < finish);  // finishing and encoding, one after the other
    CHECK(j.at("save").get<int>() == int(std::ceil(5000.0 / j.at("save_thread_mpx_per_s").get<double>() - 1e-9)));
    check_split(j);
  }
  // A rate past what -j takes (256 threads a stage) on every row: split over processes.
  REQUIRE(run_command(cmd + " --net-rate 1000000 --json " + dir + "/p.json", &log) == 0);
  std::ifstream pf(dir + "/p.json");
  // Held: a range-for over parse(pf).at(...) would walk a temporary already destroyed.
  const nlohmann::json split = nlohmann::json::parse(pf);
  for (const auto& j : split.at("suggestions")) {
    INFO(j.dump());
    check_split(j);
    CHECK(j.at("processes").get<int>() > 1);
  }
  CHECK(log.find(" processes (vdsr_sr --shard I/") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + dir + "/missing", &log) == 1);
  CHECK(log.find("is not a folder") != std::string::npos);
  // An empty and a truncated image are skipped with a warning each, like a file no codec reads.
  const std::string bad = dir + "/bad";
  fs::create_directories(bad);
  save_image(bad + "/a.png", test_image(24, 16, 3, 1), ImageFormat::PNG);
  write_text(bad + "/empty.png", "");
  const std::string whole = test::file_bytes(bad + "/a.png");
  write_text(bad + "/cut.png", whole.substr(0, whole.size() / 2));
  // A header that claims 100000 x 100000 meets vdsr_sr's limits before anything is allocated.
  test::write_bytes(bad + "/huge.png", test::make_png(100000, 100000, 8, 2, {0, 1, 2, 3}));
  fs::create_symlink(dir + "/nowhere.png", bad + "/gone.png");  // a broken link
  fs::create_symlink("round.png", bad + "/round.png");          // a loop
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + bad +
                          " --reps 1 --network-pixels 100 --json " + dir + "/bad.json",
                      &log) == 0);
  INFO(log);
  CHECK(log.find("skipped: ") != std::string::npos);
  CHECK(log.find("empty.png") != std::string::npos);
  CHECK(log.find("cut.png") != std::string::npos);
  CHECK(log.find("huge.png': its size 100000x100000 exceeds the limits") != std::string::npos);
  CHECK(log.find("gone.png': a broken link") != std::string::npos);
  CHECK(log.find("round.png': a symbolic link loop") != std::string::npos);
  CHECK(log.find("(1 image timed of 4 files, x2;") != std::string::npos);  // the links are no files
  {
    const auto timed = nlohmann::json::parse(std::ifstream(dir + "/bad.json"));
    CHECK(timed.at("files") == 4);
    CHECK(timed.at("images_timed") == 1);
  }
  // What cannot be timed does not count toward --images: the first file that can is timed.
  const std::string first = dir + "/first";
  fs::create_directories(first);
  fs::create_symlink(dir + "/nowhere.png", first + "/0gone.png");
  save_image(first + "/a.png", test_image(24, 16, 3, 1), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + first +
                          " --images 1 --reps 1 --network-pixels 100 --json " + dir + "/first.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/first.json")).at("files") == 1);
  // A file past --images is not looked at (no warning), and a mode refused is refused before the
  // folder is read.
  fs::create_symlink(dir + "/nowhere.png", first + "/z_gone.png");
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + first +
                          " --images 1 --reps 1 --network-pixels 100",
                      &log) == 0);
  CHECK(log.find("z_gone.png") == std::string::npos);
  CHECK(log.find("(1 image, x2;") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + first + " --precision bf16", &log) ==
          1);
  CHECK(log.find("needs a GPU") != std::string::npos);
  CHECK(log.find("gone.png") == std::string::npos);
  // Nothing timed is an error, not an empty table.
  fs::remove(bad + "/a.png");
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + bad + " --reps 1 --network-pixels 100", &log) == 1);
  CHECK(log.find("--stages " + bad + ": none of its 3 image file(s) could be timed") != std::string::npos);
}

// File names on Linux are bytes; JSON text (a report, a safetensors header) is UTF-8. A name that
// is not must not turn finished work into an internal error: its bad bytes are written as U+FFFD.
TEST_CASE("a name that is not UTF-8 goes into a model's metadata and a JSON report as U+FFFD") {
  const std::string dir = test::temp_dir("cli_not_utf8");
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(3);
  save_weights(dir + "/m\xff\xfe.safetensors", model.config(), model.params());
  std::string log;
  REQUIRE(run_command(
              bin("vdsr_convert") + " " + dir + "/m\xff\xfe.safetensors " + dir + "/o.safetensors",
              &log) == 0);
  INFO(log);
  CHECK(load_weights(dir + "/o.safetensors").metadata.at("source") ==
        "m\xEF\xBF\xBD\xEF\xBF\xBD.safetensors");
  const std::string in = dir +
                         "/st\xff"
                         "dir";
  fs::create_directories(in);
  save_image(in + "/a.png", test_image(24, 16, 3, 1), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_bench") + " -g -1 --stages " + in +
                          " --images 1 --reps 1 --network-pixels 100 --json " + dir + "/s.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/s.json")).at("folder") == dir +
                                                                                  "/st\xEF\xBF\xBD"
                                                                                  "dir");
  // vdsr_eval: a set named in such bytes, its images' names in the per-image scores.
  save_image(in + "/b\xfe.png", test_image(24, 20, 3, 2), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + in + " --json " + dir +
                          "/e.json",
                      &log) == 0);
  const auto eval = nlohmann::json::parse(std::ifstream(dir + "/e.json"));
  CHECK(eval.at("results").at(0).at("set") ==
        "st\xEF\xBF\xBD"
        "dir");
}

TEST_CASE("vdsr_sr reports a corrupt image and still upscales the others") {
  const std::string dir = test::temp_dir("sr_corrupt"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  save_image(in + "/a.bmp", test_image(20, 14, 3, 1), ImageFormat::BMP);
  save_image(in + "/b.png", test_image(9, 11, 1, 2), ImageFormat::PNG);
  write_text(in + "/broken.png", "this is not a PNG file at all");
  write_text(in + "/notes.txt", "skipped, not an error");
  std::string log;
  const int rc = run_command(bin("vdsr_sr") + " --bicubic -s 3 -i " + in + " -o " + out, &log);
  INFO(log);
  REQUIRE(rc == 2);  // some images failed
  REQUIRE(log.find("broken.png") != std::string::npos);
  REQUIRE(log.find("notes.txt") == std::string::npos);  // only named with -v
  const Image a = load_image(out + "/a.png");
  REQUIRE(a.width == 60);
  REQUIRE(a.height == 42);
  REQUIRE(a.channels == 3);
  const Image b = load_image(out + "/b.png");
  REQUIRE(b.width == 27);
  REQUIRE(b.channels == 1);
  REQUIRE(!fs::exists(out + "/broken.png"));
  REQUIRE(!test::has_tmp_files(out));
  REQUIRE(run_command(bin("vdsr_sr") + " -v --bicubic -i " + in + " -o " + out, &log) == 2);
  REQUIRE(log.find("notes.txt") != std::string::npos);
}

TEST_CASE("vdsr_sr folder rules are checked before any work") {
  const std::string dir = test::temp_dir("sr_rules"), in = dir + "/in";
  fs::create_directories(in);
  save_image(in + "/x.png", test_image(8, 8, 3, 3), ImageFormat::PNG);
  save_image(in + "/x.bmp", test_image(8, 8, 3, 4), ImageFormat::BMP);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/out", &log) == 1);
  REQUIRE(log.find("would both be written") != std::string::npos);
  REQUIRE((!fs::exists(dir + "/out") || fs::is_empty(dir + "/out")));
  fs::remove(in + "/x.bmp");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + in, &log) == 1);
  REQUIRE(log.find("is the input folder") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/missing -o " + dir + "/o2", &log) == 1);
  REQUIRE(log.find("does not exist") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 9 -i " + in + " -o " + dir + "/o3", &log) == 1);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --precision bf16 -g -1 -i " + in + " -o " + dir + "/o4", &log) == 0);
  REQUIRE(run_command(bin("vdsr_sr") + " -m nope.safetensors -g -1 -i " + in + " -o " + dir + "/o5", &log) == 1);
  REQUIRE(log.find("nope.safetensors") != std::string::npos);
  // One file onto itself, a folder without images, an output folder that cannot be made (its
  // parent is a file: root may write anywhere, so a permission bit would not test this).
  const std::string before = test::file_bytes(in + "/x.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + "/x.png -o " + in + "/x.png", &log) == 1);
  REQUIRE(log.find("would overwrite the input") != std::string::npos);
  REQUIRE(test::file_bytes(in + "/x.png") == before);
  fs::create_directories(dir + "/empty");
  std::ofstream(dir + "/empty/notes.txt") << "not an image";
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/empty -o " + dir + "/o6", &log) == 1);
  REQUIRE(log.find("no images in") != std::string::npos);
  // Runs refused before any work make no output folder: nothing to upscale, a --shard that
  // cannot be worked out.
  CHECK_FALSE(fs::exists(dir + "/o6"));
  REQUIRE(run_command("env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX " + bin("vdsr_sr") +
                          " --bicubic --shard auto/8 -i " + in + " -o " + dir + "/o7/",
                      &log) == 1);
  REQUIRE(log.find("--shard auto/8 needs") != std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/o7"));
  std::ofstream(dir + "/a_file") << "x";
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/a_file/out", &log) == 1);
  REQUIRE(log.find("cannot create output folder") != std::string::npos);
  // A new -o named like an image is refused for a folder, before any folder is made; a trailing
  // '/' asks for a folder of that name, and an existing folder of that name is taken as it is.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/big.PNG", &log) == 1);
  REQUIRE(log.find("reads as one image's name") != std::string::npos);
  REQUIRE(!fs::exists(dir + "/big.PNG"));
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/big.png/", &log) == 0);
  REQUIRE(fs::is_regular_file(dir + "/big.png/x.png"));
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/big.png", &log) == 0);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/big.d", &log) == 0);
  REQUIRE(fs::is_regular_file(dir + "/big.d/x.png"));
}

TEST_CASE("vdsr_sr without -g says in words why it runs on the CPU where no GPU is usable") {
  const std::string dir = test::temp_dir("sr_why_cpu");
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(1);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  save_image(dir + "/in.png", test_image(9, 8, 3, 5), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " -m " + dir + "/m.safetensors -i " + dir + "/in.png -o " + dir + "/o.png", &log) ==
          0);
  if (usable_cuda_devices() > 0) {
    CHECK(log.find("running on the CPU") == std::string::npos);
  } else {
    CHECK(log.find("running on the CPU: ") != std::string::npos);
    if (!cuda_compiled()) CHECK(log.find("this build has no CUDA backend") != std::string::npos);
  }
}

TEST_CASE("a tool catches SIGTERM and SIGHUP from its start to remove its temporaries") {
  // run_main, which every tool goes through, installs the handler; vdsr_sr waits on standard input
  // (a pipe that stays open a while) while /proc says which signals it catches.
  const std::string dir = test::temp_dir("cli_signals");
  std::string log;
  (void)run_command("(sleep 2 | " + bin("vdsr_sr") + " --bicubic -i - -o " + dir +
                        "/x.png & sleep 1; grep SigCgt /proc/$!/status; wait)",
                    &log);
  INFO(log);
  const size_t at = log.find("SigCgt:");
  REQUIRE(at != std::string::npos);
  const unsigned long long caught = std::stoull(log.substr(at + 7), nullptr, 16);
  // SIGINT is not among them: sh starts a background command with it ignored, which stays so.
  CHECK(((caught >> (SIGINT - 1)) & 1) == 0);
  for (const int sig : {SIGHUP, SIGTERM}) CHECK(((caught >> (sig - 1)) & 1) == 1);
  fs::remove_all(dir);
}

TEST_CASE("vdsr_sr warns of an output larger than the tools read back, and writes it") {
  const std::string dir = test::temp_dir("cli_read_back");
  save_image(dir + "/wide.png", test_image(33000, 1, 1, 3), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/wide.png -o " + dir + "/o.png",
                      &log) == 0);
  CHECK(log.find(
            "wide.png: its 66000x2 output is larger than these tools read (at most 65535 pixels a "
            "side and 268435456 pixels), so it cannot be read back by them") != std::string::npos);
  CHECK(probe_image(dir + "/o.png").width == 66000);
  REQUIRE(
      run_command(bin("vdsr_sr") + " --bicubic -s 1.9 -i " + dir + "/wide.png -o " + dir + "/p.png",
                  &log) == 0);
  CHECK(log.find("cannot be read back") == std::string::npos);  // 62700 wide
  // Exactly the largest side read is no warning; a tall output is one.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --width 65535 -i " + dir + "/wide.png -o " +
                          dir + "/q.png",
                      &log) == 0);
  CHECK(probe_image(dir + "/q.png").width == 65535);
  CHECK(log.find("cannot be read back") == std::string::npos);
  save_image(dir + "/tall.png", test_image(1, 33000, 1, 3), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/tall.png -o " + dir + "/t.png",
                      &log) == 0);
  CHECK(log.find("tall.png: its 2x66000 output is larger than these tools read") !=
        std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("vdsr_eval stopped by a signal says what it leaves") {
  const std::string dir = test::temp_dir("cli_eval_signal_note");
  fs::create_directories(dir + "/Big");
  save_image(dir + "/Big/a.png", test_image(480, 480, 1, 3), ImageFormat::PNG);
  // Signalled once the table's head is printed, while the bundled model works (seconds on the CPU):
  // what the run said (its exit status last), its standard error in *err.
  const auto signalled = [&](const std::string& flags, const std::string& tag, std::string* err) {
    std::string log;
    (void)run_command("(" + bin("vdsr_eval") + " -g -1 --data " + dir + "/Big --scales 2" + flags +
                          " > " + dir + "/out" + tag + " 2> " + dir + "/err" + tag +
                          " & until grep -q scale " + dir + "/out" + tag +
                          "; do sleep 0.05; done; kill -TERM $!; wait $!; echo status $?)",
                      &log);
    *err = test::file_bytes(dir + "/err" + tag);
    return log;
  };
  std::string err;
  const std::string log = signalled(" --save " + dir + "/s --json " + dir + "/r.json", "1", &err);
  INFO(log);
  CHECK(log.find("status 143") != std::string::npos);
  INFO(err);
  CHECK(err.find("\nvdsr_eval: stopped by a signal; each table row printed is complete, every "
                 "--save image written is whole, and the --json report (written once every set "
                 "is scored) is not written\n") != std::string::npos);
  CHECK(!fs::exists(dir + "/r.json"));
  // --save alone: no word of a report.
  (void)signalled(" --save " + dir + "/s2", "2", &err);
  CHECK(err.find("\nvdsr_eval: stopped by a signal; each table row printed is complete, and every "
                 "--save image written is whole\n") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("vdsr_sr stopped by a signal says that its outputs are whole and how to go on") {
  const std::string dir = test::temp_dir("cli_signal_note");
  std::string log;
  (void)run_command("(sleep 3 | " + bin("vdsr_sr") + " --bicubic -i - -o " + dir + "/x.png 2> " +
                        dir + "/err & sleep 1; kill -TERM $!; wait $!; echo status $?)",
                    &log);
  INFO(log);
  CHECK(log.find("status 143") != std::string::npos);
  const std::string err = test::file_bytes(dir + "/err");
  INFO(err);
  CHECK(err.find("\nvdsr_sr: stopped by a signal; every output written so far is whole (no partial "
                 "file is left): run the same command with --skip-existing to go on\n") !=
        std::string::npos);
  CHECK(!fs::exists(dir + "/x.png"));
  fs::remove_all(dir);
}

TEST_CASE("vdsr_sr runs a model given with -m on the CPU, file to file") {
  const std::string dir = test::temp_dir("sr_model");
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(1);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  save_image(dir + "/in.png", test_image(13, 10, 4, 5), ImageFormat::PNG);  // RGBA
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/m.safetensors -s 2 -i " + dir +
                          "/in.png -o " + dir + "/out.png",
                      &log) == 0);
  const Image out = load_image(dir + "/out.png");
  REQUIRE(out.width == 26);
  REQUIRE(out.height == 20);
  REQUIRE(out.channels == 4);
  // Other factors: MATLAB's ceil(s n) a side, the factor in the report; a model that lists its
  // training scales warns when the factor the network runs at (x2 below x2, x3 at other factors than
  // 2, 3 and 4) lies outside them.
  save_weights(dir + "/t.safetensors", model.config(), model.params(), {{"scales", "2,3"}});
  for (const auto& [s, w, h, warning] : std::vector<std::tuple<std::string, int, int, std::string>>{
           {"2.5", 33, 25, ""},
           {"1.5", 20, 15, ""},
           {"4", 52, 40, "was trained at x2, x3; x4 lies outside them"},
           {"3.5", 46, 35, ""},  // the network at x3
           {"5", 65, 50, ""}}) {  // the network at x3
    INFO("-s " << s);
    REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/t.safetensors -s " + s + " -i " + dir + "/in.png -o " +
                            dir + "/s.png --json " + dir + "/s.json",
                        &log) == 0);
    INFO(log);
    const Image o = load_image(dir + "/s.png");
    CHECK(o.width == w);
    CHECK(o.height == h);
    CHECK(nlohmann::json::parse(std::ifstream(dir + "/s.json")).at("scale").get<double>() == std::stod(s));
    CHECK((log.find("was trained at") != std::string::npos) == !warning.empty());
    if (!warning.empty()) CHECK(log.find(warning) != std::string::npos);
  }
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/s.json")).at("scale").is_number_integer());  // 5, not 5.0
  // A checkpoint records its run's scales as config.scales.
  TrainState state;
  state.config["scales"] = "2,3";
  save_checkpoint(dir + "/ck.safetensors", model, state);
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/ck.safetensors -s 4 -i " + dir +
                          "/in.png -o " + dir + "/ck.png",
                      &log) == 0);
  CHECK(log.find("was trained at x2, x3; x4 lies outside them") != std::string::npos);
  // -v lists each kind of layer's kernels once, though each of the two workers has a model: a
  // 32-channel model runs Winograd in its middle layer.
  Vdsr wide(VdsrConfig{3, 32, true});
  wide.init_he(2);
  save_weights(dir + "/w.safetensors", wide.config(), wide.params());
  REQUIRE(run_command("VDSR_THREADS=2 " + bin("vdsr_sr") + " -g -1 -v -j 1:2:1 -m " + dir + "/w.safetensors -s 2 -i " +
                          dir + "/in.png -o " + dir + "/v.png",
                      &log) == 0);
  INFO(log);
  const std::string middle =
      "layer 1 (32 -> 32, fp32) on cpu: fwd cpu-winograd-f4, bwd_data cpu-winograd-f4, bwd_weight cpu-winograd-f2";
  const size_t at = log.find(middle);
  CHECK(at != std::string::npos);
  CHECK(log.find(middle, at + 1) == std::string::npos);
  CHECK(log.find("layer 0 (1 -> 32, fp32) on cpu: fwd cpu-direct") != std::string::npos);
  CHECK(log.find("layer 2 (32 -> 1, fp32) on cpu: fwd cpu-direct") !=
        std::string::npos);  // unlike layer 0's shape
  // Alike layers in a row are one line, by their first and last index; each layer on one line only.
  Vdsr deep(VdsrConfig{4, 32, true});
  deep.init_he(2);
  save_weights(dir + "/d4.safetensors", deep.config(), deep.params());
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -v -j 1:1:1 -m " + dir + "/d4.safetensors -s 2 -i " +
                          dir + "/in.png -o " + dir + "/v4.png",
                      &log) == 0);
  CHECK(log.find("layer 0 (1 -> 32, fp32) on cpu: ") != std::string::npos);
  CHECK(log.find("layers 1-2 (32 -> 32, fp32) on cpu: fwd cpu-winograd-f4") != std::string::npos);
  CHECK(log.find("layer 3 (32 -> 1, fp32) on cpu: ") != std::string::npos);
  size_t listed = 0;
  for (size_t l4 = log.find("layer"); l4 != std::string::npos; l4 = log.find("layer", l4 + 1))
    ++listed;
  CHECK(listed == 3);
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/m.safetensors --bicubic -i " + dir +
                          "/in.png -o " + dir + "/o2.png", &log) == 1);
  // The tensor-core modes are GPU modes: on the CPU they stop with the reason, before any work.
  for (const char* mode : {"tf32", "bf16"}) {
    REQUIRE(run_command(bin("vdsr_sr") + " -g -1 --precision " + mode + " -m " + dir +
                            "/m.safetensors -i " + dir + "/in.png -o " + dir + "/o3.png",
                        &log) == 1);
    CHECK(log.find("needs a GPU") != std::string::npos);
    CHECK(!fs::exists(dir + "/o3.png"));
  }
}

TEST_CASE("vdsr_sr --width and --height: a factor per image, the target side exact, the others refused in words") {
  const std::string dir = test::temp_dir("sr_fit"), in = dir + "/in";
  fs::create_directories(in);
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(3);
  save_weights(dir + "/m.safetensors", model.config(), model.params(), {{"scales", "2"}});
  const std::string m = " -g -1 -m " + dir + "/m.safetensors";
  save_image(in + "/a.png", test_image(13, 10, 4, 5), ImageFormat::PNG);  // RGBA
  save_image(in + "/b.png", test_image(13, 10, 3, 6), ImageFormat::PNG);
  save_image(in + "/c.png", test_image(20, 8, 1, 7), ImageFormat::PNG);   // grey
  const auto sizes = [](const std::string& folder) {
    std::map<std::string, std::pair<int, int>> out;
    for (const auto& e : fs::directory_iterator(folder)) {
      const Image img = load_image(e.path().string());
      out[e.path().filename().string()] = {img.width, img.height};
    }
    return out;
  };
  using Sizes = std::map<std::string, std::pair<int, int>>;
  std::string log;
  // --width 26: a and b at x2 (the network's own factor), c at x1.3 (the network at x2, resized).
  REQUIRE(run_command(bin("vdsr_sr") + m + " --width 26 -i " + in + " -o " + dir + "/w26 --json " + dir + "/w26.json",
                      &log) == 0);
  INFO(log);
  CHECK(sizes(dir + "/w26") == Sizes{{"a.png", {26, 20}}, {"b.png", {26, 20}}, {"c.png", {26, 11}}});
  CHECK(log.find("to 26 pixels wide") != std::string::npos);
  CHECK(log.find("was trained at") == std::string::npos);  // x2 only: inside the model's scales
  // The same bytes as -s with that factor.
  REQUIRE(run_command(bin("vdsr_sr") + m + " -s 2 -i " + in + "/a.png -o " + dir + "/a_s2.png", &log) == 0);
  CHECK(test::file_bytes(dir + "/a_s2.png") == test::file_bytes(dir + "/w26/a.png"));
  REQUIRE(run_command(bin("vdsr_sr") + m + " -s 1.3 -i " + in + "/c.png -o " + dir + "/c_s13.png", &log) == 0);
  CHECK(test::file_bytes(dir + "/c_s13.png") == test::file_bytes(dir + "/w26/c.png"));
  const nlohmann::json r = nlohmann::json::parse(std::ifstream(dir + "/w26.json"));
  CHECK(r.at("scale").is_null());
  CHECK(r.at("width") == 26);
  CHECK(r.at("height").is_null());
  CHECK(r.at("files").at(0).at("scale") == 2);
  CHECK(r.at("files").at(2).at("scale").get<double>() == 1.3);
  // --height 30: a and b at x3, outside the model's x2: one warning for the two images.
  REQUIRE(run_command(bin("vdsr_sr") + m + " --height 30 -i " + in + " -o " + dir + "/h30", &log) == 0);
  CHECK(sizes(dir + "/h30") == Sizes{{"a.png", {39, 30}}, {"b.png", {39, 30}}, {"c.png", {75, 30}}});
  const size_t warned = log.find("was trained at x2; x3 lies outside it,");
  CHECK(warned != std::string::npos);
  CHECK(log.find("was trained at", warned + 1) == std::string::npos);
  // Both: the largest output inside 30 x 30.
  REQUIRE(run_command(bin("vdsr_sr") + m + " --width 30 --height 30 -i " + in + " -o " + dir + "/fit", &log) == 0);
  CHECK(sizes(dir + "/fit") == Sizes{{"a.png", {30, 24}}, {"b.png", {30, 24}}, {"c.png", {30, 12}}});
  CHECK(log.find("to fit 30x30") != std::string::npos);
  // An image the target does not enlarge, or enlarges beyond x8, fails by name while the others are done.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --width 18 -i " + in + " -o " + dir + "/w18 --json " + dir +
                          "/w18.json",
                      &log) == 2);
  CHECK(log.find("c.png: 20x8 already reaches --width 18 (x0.9); vdsr_sr only enlarges") != std::string::npos);
  // With both targets, the one that binds is named.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --width 70000 --height 6 -i " + in +
                          "/c.png -o " + dir + "/c2.png",
                      &log) != 0);
  CHECK(log.find("20x8 already reaches --height 6 (x0.75, the smaller factor of --width 70000 "
                 "--height 6); vdsr_sr only enlarges") != std::string::npos);
  CHECK(sizes(dir + "/w18") == Sizes{{"a.png", {18, 14}}, {"b.png", {18, 14}}});
  const nlohmann::json f = nlohmann::json::parse(std::ifstream(dir + "/w18.json")).at("files").at(2);
  CHECK(f.at("status") == "failed");
  CHECK(f.at("input_size") == nlohmann::json{20, 8});
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --width 110 -i " + in + "/a.png -o " + dir + "/big.png", &log) == 2);
  CHECK(log.find("13x10 would need x8.46154 to reach --width 110; the largest factor is x8") != std::string::npos);
  CHECK(!fs::exists(dir + "/big.png"));
}

TEST_CASE("vdsr_sr refuses an output its format cannot store before upscaling, and does the others") {
  const std::string dir = test::temp_dir("sr_too_large"), in = dir + "/in";
  fs::create_directories(in);
  save_image(in + "/wide.png", test_image(2100, 3, 1, 1), ImageFormat::PNG);  // x8: 16800 wide
  save_image(in + "/small.png", test_image(20, 10, 3, 2), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 8 -f webp -i " + in + " -o " + dir + "/out", &log) == 2);
  INFO(log);
  CHECK(log.find("wide.png: its x8 output, 16800x24, would be too large for WebP (at most 16383 pixels a side); "
                 "use png or tif") != std::string::npos);
  CHECK(!fs::exists(dir + "/out/wide.webp"));
  CHECK(load_image(dir + "/out/small.webp").width == 160);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 8 -f png -i " + in + " -o " + dir + "/png", &log) == 0);
  CHECK(load_image(dir + "/png/wide.png").width == 16800);
}

TEST_CASE("vdsr_sr -i - and -o -: standard input and output give the bytes of files, refusals in words") {
  const std::string dir = test::temp_dir("sr_streams"), a = dir + "/a.png";
  save_image(a, test_image(21, 14, 3, 9), ImageFormat::PNG);
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(4);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  const std::string sr = bin("vdsr_sr") + " -g -1 -m " + dir + "/m.safetensors";
  std::string log;
  // Braces keep the redirections on vdsr_sr alone: run_command adds 2>&1 after the group.
  REQUIRE(run_command(sr + " -i " + a + " -o " + dir + "/file.png", &log) == 0);
  REQUIRE(run_command("{ " + sr + " -i - -o - < " + a + " > " + dir + "/piped.png; }", &log) == 0);
  INFO(log);
  CHECK(test::file_bytes(dir + "/piped.png") == test::file_bytes(dir + "/file.png"));
  REQUIRE(run_command("{ " + sr + " -i - -o " + dir + "/from_stdin.png < " + a + "; }", &log) == 0);
  CHECK(test::file_bytes(dir + "/from_stdin.png") == test::file_bytes(dir + "/file.png"));
  REQUIRE(run_command("{ " + sr + " --width 30 -f jpg -i " + a + " -o - > " + dir + "/out.jpg; }", &log) == 0);
  const Image jpg = load_image(dir + "/out.jpg");
  CHECK(jpg.width == 30);
  CHECK(jpg.height == 20);
  // What the streams cannot do, before any work; an empty standard input fails as an image.
  fs::create_directories(dir + "/folder");
  for (const auto& [args, words] : std::vector<std::pair<std::string, std::string>>{
           {" -i - -o " + dir + "/folder < " + a, "-i - (standard input) has no file name to name an output after"},
           {" -i " + dir + "/folder -o - > /dev/null", "-o - (standard output) takes one image"},
           {" -r -i - -o - < " + a + " > /dev/null", "-r walks a folder; it does not go with -i - or -o -"}}) {
    INFO(args);
    CHECK(run_command("{ " + sr + args + "; }", &log) == 1);
    CHECK(log.find(words) != std::string::npos);
  }
  const int empty_rc =
      run_command("{ " + sr + " -i - -o - < /dev/null > " + dir + "/empty.png; }", &log);
  INFO("the empty input's run: " << log);
  CHECK(empty_rc == 2);
  CHECK(log.find("cannot read image 'standard input': it is empty") != std::string::npos);
  // A TGA has no signature: from standard input it cannot be told, and the message says why.
  std::vector<unsigned char> tga = {0, 0, 2, 0, 0, 0, 0, 0,  0,
                                    0, 0, 0, 6, 0, 5, 0, 24, 0x20};  // 6x5 BGR
  for (int i = 0; i < 6 * 5 * 3; ++i) tga.push_back(static_cast<unsigned char>(i * 7));
  test::write_bytes(dir + "/t.tga", tga);
  CHECK(run_command("{ " + sr + " -i - -o " + dir + "/tga.png < " + dir + "/t.tga; }", &log) == 2);
  CHECK(log.find("a TGA, which has none, is read only from a file named .tga") !=
        std::string::npos);
  CHECK(run_command(sr + " -i " + dir + "/t.tga -o " + dir + "/tga.png", &log) == 0);
}

TEST_CASE("vdsr_sr colour: --bicubic equals an independent YCbCr round trip, pure colours keep their hue") {
  // Written out here, apart from image/color.cpp: MATLAB's double rgb2ycbcr, each plane resized
  // (imresize itself is checked against MATLAB's arrays in test_imresize), the inverse by solving
  // the 3 x 3 system, rounded half away from zero and saturated. A swap of Cb and Cr, or a wrong
  // coefficient, moves pixels by tens of levels; the two inverses may differ in the last bits, so
  // one level of slack.
  const std::string dir = test::temp_dir("sr_colour");
  const Image in = test_image(14, 11, 3, 77);
  save_image(dir + "/in.png", in, ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 3 -i " + dir + "/in.png -o " + dir + "/out.png", &log) == 0);
  const Image out = load_image(dir + "/out.png");
  REQUIRE(out.width == 42);
  REQUIRE(out.height == 33);
  const double M[3][3] = {{65.481, 128.553, 24.966}, {-37.797, -74.203, 112.0}, {112.0, -93.786, -18.214}};
  const double off[3] = {16, 128, 128};
  Plane ycc[3] = {Plane(in.height, in.width), Plane(in.height, in.width), Plane(in.height, in.width)};
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int k = 0; k < 3; ++k) {
        double v = off[k] / 255;
        for (int c = 0; c < 3; ++c) v += M[k][c] * (in.at(y, x, c) / 255.0) / 255;
        ycc[k].at(y, x) = v;
      }
  Plane up[3] = {imresize(ycc[0], 3.0), imresize(ycc[1], 3.0), imresize(ycc[2], 3.0)};
  const double det = M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
                     M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                     M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]);
  int worst = 0;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      double b[3];
      for (int k = 0; k < 3; ++k) b[k] = (up[k].at(y, x) - off[k] / 255) * 255;  // = M rgb
      for (int c = 0; c < 3; ++c) {  // Cramer's rule: rgb = M^-1 b
        double A[3][3];
        for (int r = 0; r < 3; ++r)
          for (int j = 0; j < 3; ++j) A[r][j] = j == c ? b[r] : M[r][j];
        const double d = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                         A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                         A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
        const double v = std::min(255.0, std::max(0.0, std::round(255.0 * d / det)));
        worst = std::max(worst, std::abs(int(out.at(y, x, c)) - int(v)));
      }
    }
  CHECK(worst <= 1);
  // Through the bundled model: pure red, green and blue stay red, green and blue.
  const int colours[3][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  for (const auto& rgb : colours) {
    INFO("colour " << rgb[0] << "," << rgb[1] << "," << rgb[2]);
    Image flat = test_image(12, 12, 3, 1);
    for (size_t i = 0; i < flat.pixels.size(); ++i) flat.pixels[i] = uint16_t(rgb[i % 3]);
    save_image(dir + "/flat.png", flat, ImageFormat::PNG);
    REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -s 2 -i " + dir + "/flat.png -o " + dir + "/flat_x2.png", &log) == 0);
    const Image o = load_image(dir + "/flat_x2.png");
    const int main_c = rgb[0] ? 0 : rgb[1] ? 1 : 2;
    int wrong = 0;
    for (int y = 0; y < o.height; ++y)
      for (int x = 0; x < o.width; ++x)
        for (int c = 0; c < 3; ++c)
          if (c != main_c && o.at(y, x, c) + 128 > o.at(y, x, main_c)) ++wrong;
    CHECK(wrong == 0);
  }
}

TEST_CASE("vdsr_sr keeps 16-bit PNGs 16-bit and grey images grey") {
  const std::string dir = test::temp_dir("sr_16bit");
  Image img = test_image(11, 7, 1, 9);
  img.bits = 16;
  for (auto& v : img.pixels) v = static_cast<uint16_t>(v * 257 + 100);
  save_image(dir + "/g16.png", img, ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 -i " + dir + "/g16.png -o " + dir +
                          "/out.png", &log) == 0);
  const Image out = load_image(dir + "/out.png");
  REQUIRE(out.bits == 16);
  REQUIRE(out.channels == 1);
  REQUIRE(out.width == 22);
  // Values that are not multiples of 257 survive: the output really has 16 bits of precision.
  bool fine = false;
  for (const auto v : out.pixels) fine = fine || v % 257 != 0;
  REQUIRE(fine);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f jpg -s 2 -i " + dir + "/g16.png -o " + dir +
                          "/out.jpg", &log) == 0);
  REQUIRE(load_image(dir + "/out.jpg").bits == 8);
  // A lossless 8-bit format holds the 16-bit result rounded to the nearest of 256 levels
  // (v / 257, halves up), not truncated.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 -i " + dir + "/g16.png -o " + dir + "/out.bmp", &log) == 0);
  const Image b8 = load_image(dir + "/out.bmp");
  REQUIRE(b8.bits == 8);
  REQUIRE((b8.width == out.width && b8.height == out.height));
  int wrong = 0, rounded_up = 0;
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const int want = int(std::floor(out.pixels[i] / 257.0 + 0.5));
    rounded_up += want > out.pixels[i] / 257;
    for (int c = 0; c < b8.channels; ++c) wrong += int(b8.pixels[i * size_t(b8.channels) + size_t(c)]) != want;
  }
  CHECK(wrong == 0);
  CHECK(rounded_up > 0);  // the image has values that truncation would get wrong
}

TEST_CASE("vdsr_eval --bicubic JSON equals the protocol computed in-process") {
  const std::string dir = test::temp_dir("eval"), set = dir + "/Tiny";
  fs::create_directories(set);
  std::vector<Image> imgs = {test_image(30, 25, 3, 7), test_image(24, 33, 1, 8)};
  save_image(set + "/a.png", imgs[0], ImageFormat::PNG);
  save_image(set + "/b.png", imgs[1], ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --scales 2,3 --json " + dir +
                          "/r.json", &log) == 0);
  INFO(log);
  REQUIRE(log.find("Tiny") != std::string::npos);
  std::ifstream f(dir + "/r.json");
  const auto j = nlohmann::json::parse(f);
  REQUIRE(j.at("results").size() == 2);
  for (const auto& r : j.at("results")) {
    const int s = r.at("scale").get<int>();
    double psnr = 0, ssim = 0;
    for (size_t i = 0; i < imgs.size(); ++i) {
      const EvalSample sm = make_eval_sample(imgs[i], s, "");
      const Scores sc = score_output(sm.input, sm.hr, s);
      psnr += sc.psnr / 2;
      ssim += sc.ssim / 2;
    }
    REQUIRE(r.at("set") == "Tiny");
    REQUIRE(r.at("images") == 2);
    REQUIRE(r.at("psnr").get<double>() == Approx(psnr).margin(1e-12));
    REQUIRE(r.at("ssim").get<double>() == Approx(ssim).margin(1e-12));
    // The printed table holds the same numbers, each under its own heading.
    INFO("scale " << s);
    bool row_found = false;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream row(line);
      std::string name;
      int scale = 0, images = 0;
      double p = 0, q = 0, seconds = 0;
      if (!(row >> name >> scale >> p >> q >> images >> seconds) || name != "Tiny" || scale != s) continue;
      row_found = true;
      CHECK(p == Approx(psnr).margin(5.1e-5));  // printed with 4 decimals
      CHECK(q == Approx(ssim).margin(5.1e-5));
      CHECK(images == 2);
    }
    CHECK(row_found);
  }
  CHECK(log.find("set        scale      PSNR     SSIM  images   seconds") != std::string::npos);
}

// vdsr_eval's progress with its stderr no terminal (hidden from a plain run; started by the test
// below): two cells of two images each on one line for the run, plain lines every 10 ms.
TEST_CASE("one run's progress over two cells", "[.eval_progress_child]") {
  set_plain_progress_interval(0.01);
  const EvalMethod bicubic = bicubic_method();
  Progress progress("scoring", 4, "img");
  int64_t done = 0;
  for (const int s : {2, 3}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the interval
    std::vector<EvalSample> samples;
    for (const uint64_t seed : {1, 2})
      samples.push_back(make_eval_sample(test_image(30, 25, 1, seed), s, "a.png"));
    (void)evaluate_cell(bicubic, samples, "Tiny", s, false,
                        "Tiny x" + std::to_string(s) + " Bicubic", "", progress, done);
    done += 2;
  }
}

TEST_CASE("vdsr_eval's progress counts the whole run's images, not one cell's") {
  std::string log;
  REQUIRE(run_command(test::bin("test_cli") + " '[.eval_progress_child]'", &log) == 0);
  INFO(log);
  CHECK(log.find("Tiny x2 Bicubic  1/4  ") != std::string::npos);
  CHECK(log.find("Tiny x3 Bicubic  3/4  ") != std::string::npos);
  CHECK(log.find("/2  ") == std::string::npos);
}

TEST_CASE(
    "vdsr_eval's table: the set column as wide as its longest name, names escaped, no -0.00") {
  CHECK(cli::table_cell("Set5", 6) == "Set5  ");
  CHECK(cli::table_cell("\xc3\x9crb\xc3\xa4n", 7) ==
        "\xc3\x9crb\xc3\xa4n  ");  // Ürbän: 5 characters
  CHECK(cli::table_cell("a_long_name", 4) == "a_long_name");
  CHECK(cli::table_cell("e\x1b[1m", 10) == "e\\x1B[1m  ");
  CHECK(cli::cell_width("\xff") == 4);          // shown as \xFF
  CHECK(cli::cell_width("\xe2\x82\xac") == 1);  // the euro sign: 3 bytes, 1 character
  CHECK(cli::signed_diff(-0.0036, 2, 6) == " +0.00");
  CHECK(cli::signed_diff(-0.006, 2, 6) == " -0.01");
  CHECK(cli::signed_diff(0.5, 2, 6) == " +0.50");
  CHECK(cli::signed_diff(-0.00004, 4, 7) == "+0.0000");
  CHECK(cli::signed_diff(-0.00006, 4, 7) == "-0.0001");
  const std::string dir = test::temp_dir("eval_table_width");
  // The widest name is not ASCII: 21 characters in 23 bytes.
  const std::string urban = "\xc3\x9crb\xc3\xa4n_the_longest_set";
  for (const std::string& name :
       {std::string("a_long_set_name"), urban, std::string("e\x1b[31mvil")}) {
    fs::create_directories(dir + "/" + name);
    save_image(dir + "/" + name + "/a.png", test_image(30, 25, 1, 7), ImageFormat::PNG);
  }
  const std::string sets = " --scales 2 --data '" + dir + "/a_long_set_name," + dir + "/" + urban +
                           "," + dir + "/e\x1b[31mvil'";
  std::string out;
  REQUIRE(run_command(bin("vdsr_eval") + " -q --bicubic" + sets + " 2> /dev/null", &out) == 0);
  INFO(out);
  CHECK(out.find("set                   scale      PSNR") != std::string::npos);
  CHECK(out.find("\na_long_set_name           2 ") != std::string::npos);
  CHECK(out.find("\n" + urban + "     2 ") != std::string::npos);
  CHECK(out.find("\ne\\x1B[31mvil              2 ") != std::string::npos);
  CHECK(out.find('\x1b') == std::string::npos);
  // Table 3's SSIM rows line up with its PSNR rows.
  REQUIRE(run_command(bin("vdsr_eval") + " -q -g -1 --table3" + sets + " 2> /dev/null", &out) == 0);
  CHECK(out.find("\nSSIM: ours, and beside VDSR's the paper's and the difference\nset              "
                 "     scale |") != std::string::npos);
  const size_t ssim = out.find("SSIM: ours");
  REQUIRE(ssim != std::string::npos);
  CHECK(out.find("\na_long_set_name           2 |", ssim) != std::string::npos);
}

TEST_CASE("vdsr_eval on a terminal: one progress line over the run, cleared before each row") {
  if (std::system("command -v script > /dev/null 2>&1") != 0) {
    WARN("script(1) (bsdutils) is missing: the terminal case is not checked");
    return;
  }
  const std::string dir = test::temp_dir("eval_terminal"), set = dir + "/Tiny";
  fs::create_directories(set);
  save_image(set + "/a.png", test_image(30, 25, 1, 7), ImageFormat::PNG);
  save_image(set + "/b.png", test_image(24, 33, 1, 8), ImageFormat::PNG);
  std::string out;
  REQUIRE(run_command("script -qec \"" + bin("vdsr_eval") + " --bicubic --scales 2,3 --data " +
                          set + "\" /dev/null < /dev/null",
                      &out) == 0);
  INFO(out);
  // The run's last image is the 4th of 4 (two cells of two), always drawn; each row starts clean.
  CHECK(out.find("Tiny x3 bicubic  4/4  ") != std::string::npos);
  CHECK(out.find("\r\033[KTiny           2 ") != std::string::npos);
  CHECK(out.find("\r\033[KTiny           3 ") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("vdsr_eval and vdsr_sr warn of a network whose output is not finite, and of no other") {
  const std::string dir = test::temp_dir("eval_nonfinite"), set = dir + "/Tiny";
  fs::create_directories(set);
  save_image(set + "/a.png", test_image(30, 25, 3, 7), ImageFormat::PNG);
  save_image(set + "/b.png", test_image(24, 33, 1, 8), ImageFormat::PNG);
  // Finite weights (the loader refuses others) whose products overflow float: every output pixel
  // of both images is inf or NaN (a.png after modcrop: 30 x 24).
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(1);
  for (int64_t i = 0; i < model.num_params(); ++i) model.params()[i] = 1e30f;
  save_weights(dir + "/big.safetensors", model.config(), model.params());
  std::string log;
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --data " + set + " --scales 2 -m " + dir +
                          "/big.safetensors",
                      &log) == 0);
  CHECK(log.find("warning: Tiny x2 model: the network's output is not finite (inf or NaN) at 720 "
                 "pixels of a.png and in 1 more image, scored as MATLAB's uint8 takes them") !=
        std::string::npos);
  model.init_he(1);
  save_weights(dir + "/fine.safetensors", model.config(), model.params());
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --data " + set + " --scales 2 -m " + dir +
                          "/fine.safetensors",
                      &log) == 0);
  CHECK(log.find("not finite") == std::string::npos);
  // vdsr_sr: each image so made named (with TTA too: the mean of eight), and none from a sound
  // model.
  for (const std::string flags : {"", " -x"}) {
    INFO(flags);
    REQUIRE(run_command(bin("vdsr_sr") + " -g -1" + flags + " -m " + dir + "/big.safetensors -i " +
                            set + " -o " + dir + "/up" + std::to_string(flags.size()),
                        &log) == 0);
    CHECK(log.find("warning: " + set +
                   "/a.png: the network's output is not finite (inf or NaN) at 3000 pixels: "
                   "the model's arithmetic overflows") != std::string::npos);
    CHECK(log.find(set + "/b.png: the network's output is not finite") != std::string::npos);
  }
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/fine.safetensors -i " + set + " -o " +
                          dir + "/upf",
                      &log) == 0);
  CHECK(log.find("not finite") == std::string::npos);
}

TEST_CASE("vdsr_eval --save writes the scored 8-bit outputs, --json every image's scores, --score reads them back") {
  const std::string dir = test::temp_dir("eval_save"), set = dir + "/Tiny";
  fs::create_directories(set);
  const std::vector<Image> imgs = {test_image(30, 25, 3, 7), test_image(24, 33, 1, 8)};
  const std::vector<std::string> files = {"a.png", "b.bmp"};
  save_image(set + "/" + files[0], imgs[0], ImageFormat::PNG);
  save_image(set + "/" + files[1], imgs[1], ImageFormat::BMP);
  std::string log;
  // The bundled model (on the CPU), so that the saved file is the network's output, not its input.
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --data " + set + " --scales 2,3 --save " + dir +
                          "/out --json " + dir + "/r.json", &log) == 0);
  INFO(log);
  const auto j = nlohmann::json::parse(std::ifstream(dir + "/r.json"));
  REQUIRE(j.at("results").size() == 2);
  for (const auto& r : j.at("results")) {
    const int s = r.at("scale").get<int>();
    INFO("scale " << s);
    const auto& per = r.at("per_image");
    REQUIRE(per.size() == 2);
    double mean = 0;
    for (size_t i = 0; i < imgs.size(); ++i) {
      // The saved file holds exactly the pixels the protocol scored: its PSNR and SSIM against the
      // HR Y, shaved, are the JSON's for that image, and not bicubic's.
      const EvalSample sm = make_eval_sample(load_image(set + "/" + files[i]), s, "");
      const std::string saved = dir + "/out/Tiny/x" + std::to_string(s) + "/" + files[i].substr(0, 1) + ".png";
      const Image png = load_image(saved);
      REQUIRE(png.channels == 1);
      REQUIRE(png.bits == 8);
      REQUIRE(png.width == sm.hr.width);
      REQUIRE(png.height == sm.hr.height);
      Plane pred(png.height, png.width);
      for (size_t k = 0; k < pred.v.size(); ++k) pred.v[k] = png.pixels[k] / 255.0;
      const Scores from_file = score_output(pred, sm.hr, s);
      const Scores bicubic = score_output(sm.input, sm.hr, s);
      CHECK(per[i].at("image") == files[i]);
      CHECK(per[i].at("psnr").get<double>() == from_file.psnr);
      CHECK(per[i].at("ssim").get<double>() == from_file.ssim);
      CHECK(from_file.psnr != bicubic.psnr);
      mean += per[i].at("psnr").get<double>() / 2;
    }
    CHECK(r.at("psnr").get<double>() == Approx(mean).margin(1e-12));
  }
  // --score reads the saved files back as another method's outputs: the same scores, image by image;
  // any image format, found by stem.
  fs::rename(dir + "/out/Tiny/x3/b.png", dir + "/out/Tiny/x3/b.tif");
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 2,3 --score " + dir + "/out --json " + dir +
                          "/scored.json",
                      &log) == 0);
  const auto k = nlohmann::json::parse(std::ifstream(dir + "/scored.json"));
  REQUIRE(k.at("results").size() == 2);
  CHECK(k.at("score") == dir + "/out");  // the folder scored, and no -x where no network ran
  REQUIRE(run_command("cd " + dir + " && " + bin("vdsr_eval") + " --data " + set +
                          " --scales 2,3 --score out --json " + dir + "/rel.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/rel.json")).at("score") == dir + "/out");
  CHECK(!k.contains("tta"));
  CHECK(j.at("tta") == false);
  // A broken link among the outputs: skipped where no image asks for it, refused where one does.
  fs::create_symlink(dir + "/nowhere.png", dir + "/out/Tiny/x2/stray.png");
  REQUIRE(
      run_command(bin("vdsr_eval") + " -v --data " + set + " --scales 2 --score " + dir + "/out",
                  &log) == 0);
  CHECK(log.find("--score: skipping " + dir + "/out/Tiny/x2/stray.png (no image of that name") !=
        std::string::npos);
  fs::rename(dir + "/out/Tiny/x2/a.png", dir + "/a_kept.png");
  fs::create_symlink(dir + "/nowhere.png", dir + "/out/Tiny/x2/a.png");
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 2 --score " + dir + "/out",
                      &log) == 1);
  CHECK(log.find("--score: " + dir + "/out/Tiny/x2/a.png is a broken link") != std::string::npos);
  fs::remove(dir + "/out/Tiny/x2/a.png");
  fs::remove(dir + "/out/Tiny/x2/stray.png");
  fs::rename(dir + "/a_kept.png", dir + "/out/Tiny/x2/a.png");
  for (size_t r = 0; r < 2; ++r) {
    CHECK(k.at("results")[r].at("per_image") == j.at("results")[r].at("per_image"));
    CHECK(k.at("results")[r].at("psnr") == j.at("results")[r].at("psnr"));
  }
  // --colour: the same outputs as colour pictures. An RGB image becomes RGB whose Y by MATLAB's
  // rgb2ycbcr (written out here) is the grey file's within the RGB rounding, and whose Cb and Cr are
  // the HR's taken down and up by bicubic, within the same; a grey PNG stays grey, the grey file's
  // bytes. (b.bmp above loads as RGB: BMP stores grey as RGB.)
  const std::string cset = dir + "/Col";
  fs::create_directories(cset);
  save_image(cset + "/a.png", imgs[0], ImageFormat::PNG);
  save_image(cset + "/g.png", imgs[1], ImageFormat::PNG);
  for (const char* colour : {"", " --colour"})
    REQUIRE(run_command(bin("vdsr_eval") + " -q -g -1 --data " + cset + " --scales 2 --save " + dir +
                            (*colour ? "/col" : "/gry") + colour,
                        &log) == 0);
  {
    const Image grey = load_image(dir + "/gry/Col/x2/a.png"), col = load_image(dir + "/col/Col/x2/a.png");
    REQUIRE(grey.channels == 1);
    REQUIRE(col.channels == 3);
    REQUIRE(col.width == grey.width);
    REQUIRE(col.height == grey.height);
    const YCbCr hr = rgb_to_ycbcr(imgs[0]);
    const Plane cb = imresize(imresize(modcrop(hr.cb, 2), 0.5), 2.0);
    const Plane cr = imresize(imresize(modcrop(hr.cr, 2), 0.5), 2.0);
    double worst_y = 0, worst_c = 0;
    for (int y = 0; y < col.height; ++y)
      for (int x = 0; x < col.width; ++x) {
        const double r = col.at(y, x, 0), g = col.at(y, x, 1), b = col.at(y, x, 2);
        const double Y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;
        const double Cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255;
        const double Cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255;
        worst_y = std::max(worst_y, std::fabs(Y - grey.at(y, x, 0)));
        worst_c = std::max({worst_c, std::fabs(Cb - 255 * cb.at(y, x)), std::fabs(Cr - 255 * cr.at(y, x))});
      }
    INFO("largest difference: Y " << worst_y << ", chroma " << worst_c << " levels");
    CHECK(worst_y < 1.0);
    CHECK(worst_c < 1.0);
  }
  CHECK(test::file_bytes(dir + "/col/Col/x2/g.png") == test::file_bytes(dir + "/gry/Col/x2/g.png"));
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --colour", &log) == 1);
  CHECK(log.find("--colour is how --save writes its pictures: give --save DIR too") != std::string::npos);
  // A missing output, one of the wrong size, a missing scale, and --score with a model: refused in words.
  fs::rename(dir + "/out/Tiny/x3/b.tif", dir + "/out/Tiny/x3/c.png");
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 3 --score " + dir + "/out", &log) == 1);
  CHECK(log.find("--score: no output for " + set + "/b.bmp in " + dir + "/out/Tiny/x3 (expected b.png") != std::string::npos);
  fs::remove(dir + "/out/Tiny/x3/c.png");
  fs::copy_file(dir + "/out/Tiny/x2/b.png", dir + "/out/Tiny/x3/b.png");
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 3 --score " + dir + "/out", &log) == 1);
  CHECK(log.find("--score: " + dir + "/out/Tiny/x3/b.png is 24x32; " + set + "/b.bmp at x3 after modcrop is 24x33") !=
        std::string::npos);
  save_image(dir + "/out/Tiny/x3/b.png", test_image(23, 33, 1, 5),
             ImageFormat::PNG);  // the width wrong
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 3 --score " + dir + "/out",
                      &log) == 1);
  CHECK(log.find("b.png is 23x33; " + set + "/b.bmp at x3 after modcrop is 24x33") !=
        std::string::npos);
  fs::copy_file(dir + "/out/Tiny/x2/b.png", dir + "/out/Tiny/x3/b.png",
                fs::copy_options::overwrite_existing);
  // 16 bits at the right size: refused before anything is scored.
  Image deep;
  deep.width = 24;
  deep.height = 33;
  deep.channels = 1;
  deep.bits = 16;
  deep.pixels.assign(24 * 33, uint16_t(1000));
  save_image(dir + "/out/Tiny/x3/b.png", deep, ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 3 --score " + dir + "/out", &log) == 1);
  CHECK(log.find("--score: " + dir + "/out/Tiny/x3/b.png has 16-bit samples") != std::string::npos);
  CHECK(log.find("PSNR") == std::string::npos);
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 4 --score " + dir + "/out", &log) == 1);
  CHECK(log.find("--score: no folder " + dir + "/out/Tiny/x4") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --score " + dir + "/out", &log) == 1);
  CHECK(log.find("it takes no -m, --bicubic, --table3, -x or --save") != std::string::npos);
  // --table3: one folder per method.
  REQUIRE(run_command(bin("vdsr_eval") + " -q -g -1 --table3 --data " + set + " --scales 2 --save " + dir + "/t3",
                      &log) == 0);
  CHECK(fs::is_regular_file(dir + "/t3/Bicubic/Tiny/x2/a.png"));
  CHECK(fs::is_regular_file(dir + "/t3/VDSR/Tiny/x2/b.png"));
  CHECK(!fs::exists(dir + "/t3/SRCNN"));
  // Two files of a set that would share a name, and a --save that is a file: refused in words.
  save_image(set + "/a.bmp", imgs[0], ImageFormat::BMP);
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --save " + dir + "/clash", &log) == 1);
  CHECK(log.find("would both be saved as a.png") != std::string::npos);
  CHECK(!fs::exists(dir + "/clash/Tiny"));
  fs::remove(set + "/a.bmp");
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --save " + dir + "/r.json", &log) == 1);
  CHECK(log.find("--save " + dir + "/r.json: is a file; give a folder name") != std::string::npos);
  // What stands where an output or its folder goes, at the last scale of the last column: refused
  // before any cell is scored (the rows and the --json report of the cells before it would be
  // lost).
  fs::create_directories(dir + "/in_way/VDSR/Tiny/x3/b.png");
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --data " + set + " --scales 2,3 --save " +
                          dir + "/in_way --json " + dir + "/in_way.json",
                      &log) == 1);
  CHECK(log.find("--save: " + dir + "/in_way/VDSR/Tiny/x3/b.png is a folder; give a file name") !=
        std::string::npos);
  CHECK(log.find("PSNR") == std::string::npos);
  CHECK(!fs::exists(dir + "/in_way/Bicubic"));
  fs::remove_all(dir + "/in_way");
  fs::create_directories(dir + "/in_way/Tiny");
  std::ofstream(dir + "/in_way/Tiny/x3") << "not a folder";
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --scales 2,3 --save " +
                          dir + "/in_way",
                      &log) == 1);
  CHECK(log.find("--save: " + dir +
                 "/in_way/Tiny/x3 is a file, where a folder of outputs goes: move it away, or "
                 "choose another --save") != std::string::npos);
  CHECK(!fs::exists(dir + "/in_way/Tiny/x2"));
  fs::remove(dir + "/in_way/Tiny/x3");
  fs::create_directories(dir + "/in_way/Tiny/x3");
  fs::create_symlink(dir + "/elsewhere.png", dir + "/in_way/Tiny/x3/a.png");
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --scales 2,3 --save " +
                          dir + "/in_way",
                      &log) == 1);
  CHECK(log.find("--save: " + dir + "/in_way/Tiny/x3/a.png is a symbolic link") !=
        std::string::npos);
  CHECK(!fs::exists(dir + "/elsewhere.png"));
  // Only where a column writes: --table3 puts nothing in DIR/SET (its folders are the methods'),
  // and nothing in an SRCNN folder where no SRCNN model is given.
  fs::remove_all(dir + "/in_way");
  fs::create_directories(dir + "/in_way/SRCNN");
  std::ofstream(dir + "/in_way/Tiny") << "not a folder";
  std::ofstream(dir + "/in_way/SRCNN/Tiny") << "not a folder";
  REQUIRE(run_command(bin("vdsr_eval") + " -q -g -1 --table3 --data " + set +
                          " --scales 2 --save " + dir + "/in_way/",
                      &log) == 0);
  CHECK(fs::is_regular_file(dir + "/in_way/VDSR/Tiny/x2/a.png"));
}

TEST_CASE(
    "vdsr_eval reads every set before it scores any and names a set by the folder it is and says "
    "what it scores oddly") {
  const std::string dir = test::temp_dir("eval_checks"), set = dir + "/Tiny", bad = dir + "/Bad";
  fs::create_directories(set);
  fs::create_directories(bad);
  save_image(set + "/a.png", test_image(30, 25, 3, 7), ImageFormat::PNG);
  save_image(set + "/b.png", test_image(24, 33, 1, 8), ImageFormat::PNG);
  std::string log;
  // A truncated image in the second set, or an image of the first too small for x4 only: refused
  // before the first row is printed, and no JSON.
  save_image(bad + "/c.png", test_image(30, 30, 1, 9), ImageFormat::PNG);
  const std::string png = test::file_bytes(bad + "/c.png");
  std::ofstream(bad + "/c.png", std::ios::binary)
      .write(png.data(), std::streamsize(png.size() / 2));
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + "," + bad + " --json " + dir +
                          "/r.json",
                      &log) == 1);
  CHECK(log.find(bad + "/c.png") != std::string::npos);
  CHECK(log.find("PSNR") == std::string::npos);
  CHECK(!fs::exists(dir + "/r.json"));
  fs::remove(bad + "/c.png");
  save_image(set + "/small.png", test_image(18, 18, 1, 10), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data " + set + " --scales 2,3,4", &log) ==
          1);
  CHECK(log.find("small.png' (16x16 after modcrop) is too small to score at x4: it needs 19x19") !=
        std::string::npos);
  CHECK(log.find("PSNR") == std::string::npos);
  fs::remove(set + "/small.png");
  // "." and ".." are the folders they stand for: the set's name, --save's layout and Table 3's
  // lookup.
  REQUIRE(run_command("cd " + set + " && " + bin("vdsr_eval") +
                          " -q --bicubic --data . --scales 2 --save " + dir + "/dot --json " + dir +
                          "/dot.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/dot.json")).at("results").at(0).at("set") ==
        "Tiny");
  // A $PWD that is not the working folder (a stale one) is not taken for it.
  REQUIRE(run_command("cd " + set + " && PWD=" + dir + " " + bin("vdsr_eval") +
                          " -q --bicubic --data . --scales 2 --json " + dir + "/stale.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/stale.json")).at("results").at(0).at("set") ==
        "Tiny");
  // Through a link, "." is the link's name as the shell has it; the root has no name.
  fs::create_directory_symlink(set, dir + "/Linked");
  REQUIRE(run_command("cd " + dir + "/Linked && " + bin("vdsr_eval") +
                          " -q --bicubic --data . --scales 2 --json " + dir + "/link.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/link.json")).at("results").at(0).at("set") ==
        "Linked");
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --data / --scales 2", &log) == 1);
  CHECK(log.find("--data /: a set is named by its folder, and the root has no name") !=
        std::string::npos);
  CHECK(fs::is_regular_file(dir + "/dot/Tiny/x2/a.png"));
  fs::create_directories(set + "/sub");
  REQUIRE(run_command(
              "cd " + set + "/sub && " + bin("vdsr_eval") + " --bicubic --data .. --scales 2 -v",
              &log) == 0);
  CHECK(log.find("Tiny           2") != std::string::npos);
  // A folder inside a set is not searched: said with -v.
  CHECK(log.find("skipping ../sub/ (a folder: a set is the images directly in its folder)") !=
        std::string::npos);
  // Table 3 finds the paper's sets by name in any case, B100 also as BSD100; another set is said to
  // have no figures.
  const std::string set5 = dir + "/set5", bsd = dir + "/BSD100";
  fs::create_directories(set5);
  fs::create_directories(bsd);
  fs::copy_file(set + "/a.png", set5 + "/a.png");
  fs::copy_file(set + "/a.png", bsd + "/a.png");
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --data " + set5 + "," + bsd + "," + set +
                          " --scales 2",
                      &log) == 0);
  CHECK(log.find("set5           2 |") != std::string::npos);
  CHECK(log.find("  33.66 ") != std::string::npos);  // Set5's bicubic x2
  CHECK(log.find("  29.56 ") != std::string::npos);  // B100's
  CHECK(log.find("--table3: the paper has no figures for a set named 'Tiny'") != std::string::npos);
  // A folder of a paper set's name with other images is said not to be that set; with no SRCNN
  // models the log says how to add the column.
  CHECK(log.find("--table3: " + set5 +
                 " holds 1 image, the paper's Set5 5: its row is set beside the paper's") !=
        std::string::npos);
  CHECK(log.find("--table3: " + bsd + " holds 1 image, the paper's B100 100") != std::string::npos);
  CHECK(log.find("--table3: no SRCNN column (give the authors' models as --models srcnn-x2=FILE") !=
        std::string::npos);
  // -x with --table3: VDSR's column averages the 8 flips, the SRCNN column runs as the official
  // code.
  const VdsrConfig srcnn = srcnn_config(9, 5, 5, 4, 2, true);
  const std::vector<float> sp(size_t(param_count(srcnn)), 0.01f);
  save_weights(dir + "/srcnn_x2.safetensors", srcnn, sp.data(), {{"scale", "2"}});
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 -x --data " + set5 +
                          " --scales 2 --models srcnn-x2=" + dir + "/srcnn_x2.safetensors --json " +
                          dir + "/t3.json",
                      &log) == 0);
  CHECK(log.find("| Bicubic   paper   diff | SRCNN     paper   diff | VDSR+TTA  paper   diff") !=
        std::string::npos);
  // Held in a variable: a range-for keeps only its last temporary alive, not the parsed document
  // that .at() points into (AddressSanitizer saw the read after free).
  const nlohmann::json t3 = nlohmann::json::parse(std::ifstream(dir + "/t3.json"));
  for (const auto& r : t3.at("results")) CHECK(r.at("tta") == (r.at("method") == "VDSR"));
  // What produced the figures: the model files by digest and scale, the sets' folders, the date,
  // the CPU's convolution method.
  CHECK(log.find("no SRCNN column") == std::string::npos);
  REQUIRE(t3.at("model_files").size() == 2);
  CHECK(t3.at("model_files")[0].at("method") == "SRCNN");
  CHECK(t3.at("model_files")[0].at("scale") == 2);
  CHECK(t3.at("model_files")[0].at("sha256") == sha256_file_hex(dir + "/srcnn_x2.safetensors"));
  CHECK(t3.at("model_files")[1].at("method") == "VDSR");
  CHECK(t3.at("model_files")[1].at("scale").is_null());
  CHECK(t3.at("model_files")[1].at("sha256") == sha256_file_hex(bundled_model_path()));
  CHECK(t3.at("data").at("set5") == fs::absolute(set5).lexically_normal().string());
  CHECK(t3.at("date").get<std::string>().size() == 20);
  CHECK(t3.at("cpu_conv") == cpu_conv_method_name(cpu_conv_method()));
  // A model file missing is said with its key; --json - is a name the report cannot take.
  CHECK(run_command(bin("vdsr_eval") + " -g -1 --table3 --data " + set5 +
                        " --models srcnn-x3=" + dir + "/none.mat",
                    &log) == 1);
  CHECK(log.find("--models srcnn-x3=" + dir + "/none.mat: no such file") != std::string::npos);
  CHECK(run_command(
            "cd " + dir + " && " + bin("vdsr_eval") + " --bicubic --data " + set5 + " --json -",
            &log) == 1);
  CHECK(log.find("--json -: the report is written to a file") != std::string::npos);
  CHECK(!fs::exists(dir + "/-"));
  // -m's file recorded, each set's folder as a clean absolute path, no cpu_conv where no network
  // ran; a paper set's folder with more images than the paper's is warned of too.
  // A file named relative to the working folder is recorded absolute too; an SRCNN model by its
  // scale.
  REQUIRE(run_command("cd " + dir + " && " + bin("vdsr_eval") +
                          " -q -g -1 --scales 2 --data ./set5/ -m srcnn_x2.safetensors --json " +
                          dir + "/m.json",
                      &log) == 0);
  const nlohmann::json mj = nlohmann::json::parse(std::ifstream(dir + "/m.json"));
  CHECK(mj.at("model_files").at(0).at("path") == dir + "/srcnn_x2.safetensors");
  CHECK(mj.at("model_files").at(0).at("scale") == 2);
  CHECK(mj.at("data").at("set5") == dir + "/set5");
  REQUIRE(run_command(bin("vdsr_eval") + " -q --bicubic --scales 2 --data " + set5 + " --json " +
                          dir + "/b.json",
                      &log) == 0);
  const nlohmann::json bj = nlohmann::json::parse(std::ifstream(dir + "/b.json"));
  CHECK(!bj.contains("cpu_conv"));
  CHECK(bj.at("model_files").empty());
  const std::string set5_big = dir + "/big/Set5";
  fs::create_directories(set5_big);
  for (int i = 0; i < 6; ++i)
    fs::copy_file(set + "/a.png", set5_big + "/" + std::to_string(i) + ".png");
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --scales 2 --data " + set5_big, &log) ==
          0);
  CHECK(log.find("--table3: " + set5_big + " holds 6 images, the paper's Set5 5") !=
        std::string::npos);
  // A VDSR model asked for a scale it was not trained at is warned of as with -m; the SSIM table's
  // cells keep their columns where a model serves no scale and where the paper has no figure.
  Vdsr tiny(VdsrConfig{3, 4, true});
  tiny.init_he(3);
  save_weights(dir + "/x2only.safetensors", tiny.config(), tiny.params(), {{"scales", "2"}});
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --data " + set5 + "," + set +
                          " --scales 2,3 --models vdsr=" + dir +
                          "/x2only.safetensors,srcnn-x2=" + dir + "/srcnn_x2.safetensors",
                      &log) == 0);
  CHECK(log.find("was trained at x2; x3 lies outside it") != std::string::npos);
  const size_t ssim_at = log.find("SSIM: ours, and beside VDSR's the paper's and the difference\n");
  REQUIRE(ssim_at != std::string::npos);
  std::istringstream ssim_lines(log.substr(ssim_at));
  std::string line, header;
  std::getline(ssim_lines, line);  // the title
  std::getline(ssim_lines, header);
  CHECK(header == "set        scale | Bicubic  | SRCNN    | VDSR      paper    diff");
  int rows = 0;
  while (std::getline(ssim_lines, line) && !line.empty() &&
         line.find("warning") == std::string::npos) {
    INFO(line);
    CHECK(line.size() == header.size());
    ++rows;
  }
  CHECK(rows == 4);
  CHECK(log.find("set5           3 |   ") != std::string::npos);
  CHECK(log.find(" |        - | ") != std::string::npos);     // SRCNN at x3
  CHECK(log.find("      -       -\n") != std::string::npos);  // Tiny: no paper figure beside VDSR
  // --score: two images of one stem, a grey output stored as RGB, an output with no image of its
  // name.
  REQUIRE(run_command(bin("vdsr_eval") + " -q --bicubic --data " + set + " --scales 2 --save " +
                          dir + "/pred",
                      &log) == 0);
  save_image(set + "/a.bmp", test_image(30, 25, 3, 7), ImageFormat::BMP);
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 2 --score " + dir + "/pred",
                      &log) == 1);
  CHECK(log.find("share the name a, so one output a.* would be scored against both") !=
        std::string::npos);
  fs::remove(set + "/a.bmp");
  // A grey picture stored as RGB (R = G = B).
  const auto as_rgb = [](const Image& grey) {
    Image rgb = grey;
    rgb.channels = 3;
    rgb.pixels.clear();
    for (const uint16_t v : grey.pixels) rgb.pixels.insert(rgb.pixels.end(), {v, v, v});
    return rgb;
  };
  const Image grey = load_image(dir + "/pred/Tiny/x2/b.png");
  const Image rgb = as_rgb(grey);
  save_image(dir + "/pred/Tiny/x2/b.png", rgb, ImageFormat::PNG);
  fs::copy_file(dir + "/pred/Tiny/x2/a.png", dir + "/pred/Tiny/x2/z.png");
  REQUIRE(
      run_command(bin("vdsr_eval") + " -v --data " + set + " --scales 2 --score " + dir + "/pred",
                  &log) == 0);
  CHECK(log.find("1 of the outputs in " + dir +
                 "/pred/Tiny/x2 (e.g. b.png) is a grey picture stored as RGB") !=
        std::string::npos);
  CHECK(log.find("--score: skipping " + dir + "/pred/Tiny/x2/z.png (no image of that name in " +
                 set + ")") != std::string::npos);
  // Perfect outputs: their PSNR and the set's mean are infinite, said so, null in the JSON.
  for (const char* name : {"a", "b"})
    save_image(
        dir + "/pred/Tiny/x2/" + name + ".png",
        [&] {
          Image y = load_image(dir + "/pred/Tiny/x2/" + name + ".png");
          const Plane hr = modcrop(y_channel_u8(load_image(set + "/" + name + ".png")), 2);
          y.channels = 1;
          y.pixels.assign(hr.v.begin(), hr.v.end());
          return y;
        }(),
        ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 2 --score " + dir +
                          "/pred --json " + dir + "/inf.json",
                      &log) == 0);
  CHECK(
      log.find("Tiny x2 scored: a.png and 1 more equal their ground truth after the shave, so the "
               "PSNR is infinite") != std::string::npos);
  // One perfect output of two: named alone ("equals its").
  {
    Image b = load_image(dir + "/pred/Tiny/x2/b.png");
    uint16_t& centre = b.pixels[(size_t(b.height / 2) * size_t(b.width) + size_t(b.width / 2)) *
                                size_t(b.channels)];
    centre = uint16_t(centre ^ 1);  // inside the shaved border
    save_image(dir + "/pred/Tiny/x2/b.png", b, ImageFormat::PNG);
  }
  REQUIRE(run_command(bin("vdsr_eval") + " --data " + set + " --scales 2 --score " + dir + "/pred",
                      &log) == 0);
  CHECK(log.find("Tiny x2 scored: a.png equals its ground truth after the shave") !=
        std::string::npos);
  // A set whose own image is a grey picture stored as RGB: its output so stored is no mistake.
  const std::string grey_set = dir + "/GreyRGB";
  fs::create_directories(grey_set);
  save_image(grey_set + "/g.png", rgb, ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_eval") + " -q --bicubic --data " + grey_set +
                          " --scales 2 --save " + dir + "/pred",
                      &log) == 0);
  save_image(dir + "/pred/GreyRGB/x2/g.png", as_rgb(load_image(dir + "/pred/GreyRGB/x2/g.png")),
             ImageFormat::PNG);
  REQUIRE(
      run_command(bin("vdsr_eval") + " --data " + grey_set + " --scales 2 --score " + dir + "/pred",
                  &log) == 0);
  CHECK(log.find("grey pictures stored as RGB") == std::string::npos);
  // --bicubic and --score run no network: a precision asked for is said to have no effect.
  REQUIRE(run_command(
              bin("vdsr_eval") + " --bicubic --precision bf16 --data " + grey_set + " --scales 2",
              &log) == 0);
  CHECK(log.find("--precision bf16 has no effect with --bicubic: no network runs") !=
        std::string::npos);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/inf.json"))
            .at("results")
            .at(0)
            .at("psnr")
            .is_null());
  // A table that cannot reach standard output fails the run in words, and so does --help.
  REQUIRE(
      run_command("(" + bin("vdsr_eval") + " --bicubic --data " + set + " --scales 2 > /dev/full)",
                  &log) == 1);
  CHECK(log.find("error: could not write to standard output") != std::string::npos);
  REQUIRE(run_command("(" + bin("vdsr_sr") + " --help > /dev/full)", &log) == 1);
  CHECK(log.find("could not write to standard output") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --version", &log) == 0);
}

TEST_CASE("vdsr_train trains a tiny model end to end and resumes exactly") {
  const std::string dir = test::temp_dir("train"), data = dir + "/hr";
  fs::create_directories(data);
  save_image(data + "/a.png", test_image(48, 40, 3, 11), ImageFormat::PNG);
  save_image(data + "/b.png", test_image(40, 52, 1, 12), ImageFormat::PNG);
  const std::string common = bin("vdsr_train") + " -g -1 --train " + data +
                             " --depth 3 --channels 4 --patch 12 --stride 12 --batch 4"
                             " --epoch-iters 3 --lr 0.01 --lr-step 2 --scales 2,3 --seed 5";
  std::string log;
  REQUIRE(run_command(common + " --epochs 4 --out " + dir + "/full", &log) == 0);
  INFO(log);
  REQUIRE(run_command(common + " --epochs 2 --out " + dir + "/part", &log) == 0);
  REQUIRE(run_command(common + " --epochs 4 --out " + dir + "/part --resume " + dir +
                          "/part/checkpoint.safetensors", &log) == 0);
  const VdsrWeights full = load_weights(dir + "/full/vdsr.safetensors");
  const VdsrWeights resumed = load_weights(dir + "/part/vdsr.safetensors");
  REQUIRE(full.config == (VdsrConfig{3, 4, true}));
  REQUIRE(full.params == resumed.params);
  std::ifstream jl(dir + "/full/train.jsonl");
  int records = 0;
  for (std::string line; std::getline(jl, line);) {
    const auto r = nlohmann::json::parse(line);
    REQUIRE(std::isfinite(r.at("loss").get<double>()));
    ++records;
  }
  REQUIRE(records >= 4);  // one per epoch at least
}

// vdsr_sr's batch report with its stderr no terminal (hidden from a plain run; started by the test
// below): three images, the first half done after a second, a second image a quarter done by
// another worker, then both done; VDSR_BATCH_REPORT_MODE says plain or json (--progress json).
// Plain lines every 10 ms instead of every minute.
TEST_CASE("one batch report", "[.batch_report_child]") {
  const char* mode = std::getenv("VDSR_BATCH_REPORT_MODE");
  REQUIRE(mode != nullptr);
  set_plain_progress_interval(0.01);
  BatchReport report(3, std::string(mode) == "json");
  report.start("test");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // progress after the first second
  report.progress("a.png", 0.5);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(600));  // past the half second between words
  report.progress("b.png", 0.25);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  report.progress("a.png", 0.75);  // the older image's share moves on
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  FileRecord done;
  done.input = "a.png";
  done.output = "out/a.png";
  done.status = "done";
  report.finished(done);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  done.input = "b.png";
  report.finished(done);
  report.finish(0.0);
}

TEST_CASE(
    "vdsr_sr's batch report: plain progress lines with the share of a long image, none with "
    "--progress json") {
  const std::string child = test::bin("test_cli") + " '[.batch_report_child]'";
  std::string log;
  REQUIRE(run_command("VDSR_BATCH_REPORT_MODE=plain " + child, &log) == 0);
  INFO(log);
  // Half an image after a second: a rate from that share, not 0.00.
  CHECK(log.find("upscaling (a.png 50%)  0/3  ") != std::string::npos);
  CHECK(log.find("upscaling (a.png 50%)  0/3  0.00 img/s") == std::string::npos);
  // Two images at once: the line keeps naming the older one, and counts the other, until it is
  // done.
  CHECK(log.find("upscaling (a.png 50%, 1 more)  0/3  ") != std::string::npos);
  CHECK(log.find("upscaling (a.png 75%, 1 more)  0/3  ") != std::string::npos);
  CHECK(log.find("upscaling (b.png 25%)  1/3  ") != std::string::npos);
  CHECK(log.find("(b.png 25%)  0/3") == std::string::npos);
  CHECK(log.find("upscaling  2/3  ") != std::string::npos);
  // --progress json: the events, and no plain line among them.
  REQUIRE(run_command("VDSR_BATCH_REPORT_MODE=json " + child, &log) == 0);
  INFO(log);
  CHECK(log.find("{\"event\":\"progress\"") != std::string::npos);
  CHECK(log.find("upscaling") == std::string::npos);
}

TEST_CASE("vdsr_sr refuses -q and -v together in either order") {
  const std::string dir = test::temp_dir("cli_quiet_verbose");
  save_image(dir + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  for (const std::string flags : {"-q -v", "-v -q", "--verbose --quiet"}) {
    INFO(flags);
    std::string log;
    CHECK(run_command(
              bin("vdsr_sr") + " " + flags + " --bicubic -i " + dir + "/a.png -o " + dir + "/o.png",
              &log) == 1);
    CHECK(log.find("-q (--quiet) and -v (--verbose) exclude each other") != std::string::npos);
    CHECK(!fs::exists(dir + "/o.png"));
  }
}

TEST_CASE("no user-caused error in any tool shows a source location or a C++ expression") {
  const std::string dir = test::temp_dir("cli_words");
  save_image(dir + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  fs::create_directories(dir + "/empty");
  write_text(dir + "/notes.txt", "text");
  write_text(dir + "/notes.mat", "text, not MATLAB's");
  write_text(dir + "/m.pth", std::string("PK\x03\x04", 4) + "rest of a zip");
  const std::string a = dir + "/a.png";
  const VdsrConfig srcnn = srcnn_config(9, 5, 5, 4, 2, true);
  const std::vector<float> sp(size_t(param_count(srcnn)), 0.01f);
  save_weights(dir + "/srcnn_x3.safetensors", srcnn, sp.data(), {{"scale", "3"}});
  fs::create_directories(dir + "/g16");
  fs::create_directories(dir + "/a,b");  // a folder whose name holds a comma
  for (const char* twin : {"/one/Set", "/two/Set"}) {
    fs::create_directories(dir + twin);
    save_image(dir + twin + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  }
  // Seven and six sets made out of order (six are named, sorted, then "..." for more); a folder of
  // text alone; a folder whose only folder is a link (-r would not walk it); a tree of empty
  // folders.
  for (const char* set : {"g", "c", "a", "f", "b", "e", "d"}) {
    fs::create_directories(dir + "/seven/" + set);
    if (std::string(set) != "g") fs::create_directories(dir + "/six/" + set);
  }
  fs::create_directories(dir + "/textonly");
  write_text(dir + "/textonly/notes.txt", "text");
  fs::create_directories(dir + "/linkonly");
  fs::create_directory_symlink(dir + "/one", dir + "/linkonly/one");
  fs::create_directories(dir + "/emptytree/sub/deeper");
  Image deep = test_image(24, 24, 1, 2);
  deep.bits = 16;
  save_image(dir + "/g16/deep.png", deep, ImageFormat::PNG);
  const std::string samples = std::string(VDSR_SOURCE_DIR) + "/samples";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"vdsr_sr -s 9 -i " + a + " -o " + dir + "/o.png",
       "--scale must be above 1 and at most 8 (2, 3, 4 or e.g. 2.5), got 9"},
      {"vdsr_sr -s 1 -i " + a + " -o " + dir + "/o.png", "--scale must be above 1"},
      {"vdsr_sr -s x2 -i " + a + " -o " + dir + "/o.png", "--scale: 'x2' is not a number"},
      {"vdsr_sr -g -1 -s 2.5 -m " + dir + "/srcnn_x3.safetensors -i " + a + " -o " + dir + "/o.png",
       "is an SRCNN model for x3 (one model per scale); it cannot upscale x2.5: use a VDSR model, "
       "or -s 3"},
      {"vdsr_sr -s 2 --width 30 -i " + a + " -o " + dir + "/o.png",
       "-s and --width 30 exclude each other: give a factor, or the output's size"},
      {"vdsr_sr --height 0 -i " + a + " -o " + dir + "/o.png",
       "--height takes the output's size in pixels"},
      {"vdsr_sr --width 2.5k -i " + a + " -o " + dir + "/o.png",
       "--width: '2.5k' is not an integer"},
      {"vdsr_sr -g -1 --height 20 -m " + dir + "/srcnn_x3.safetensors -i " + a + " -o " + dir +
           "/o.png",
       "is an SRCNN model (one model per scale); with --height 20 each image gets its own factor: "
       "give the model's "
       "with -s"},
      {"vdsr_sr --bicubic --suffix x/y -i " + a + " -o " + dir + "/sfx",
       "--suffix 'x/y' may not hold a '/'"},
      {"vdsr_sr --bicubic -i " + dir + "/missing.png -o " + dir + "/o.png", "does not exist"},
      {"vdsr_sr --bicubic -i " + a + "/ -o " + dir + "/o.png", "is a file: drop the trailing '/'"},
      {"vdsr_sr --bicubic -i " + a + "// -o " + dir + "/o.png", "is a file: drop the trailing '/'"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/notes.txt/o.png",
       "notes.txt' is a file, not a folder"},
      {"vdsr_sr --bicubic -i " + dir + "/one/Set -o " + dir + "/notes.txt/",
       "notes.txt' is a file, not a folder"},
      {"vdsr_sr --bicubic -i " + a + " -o " + a, "would overwrite the input"},
      {"vdsr_sr --bicubic -i " + dir + "/empty -o " + dir + "/out", "no images in"},
      {"vdsr_sr --bicubic -i " + dir + "/empty -o " + dir + "/out.jpg",
       "is a folder, so its outputs go to a folder"},
      {"vdsr_sr -g -1 -m " + dir + "/m.pth -i " + a + " -o " + dir + "/o.png", "is a PyTorch file"},
      {"vdsr_sr -g -1 -m " + dir + "/notes.txt -i " + a + " -o " + dir + "/o.png",
       "notes.txt is a text file, not a model"},
      {"vdsr_sr --tile -3 --bicubic -i " + a + " -o " + dir + "/o.png", "--tile"},
      {"vdsr_sr --bicubic -i", "needs a value"},
      {"vdsr_sr -t 1 --bicubic -i " + a + " -o " + dir + "/o.png",
       "--tile must be 0 (auto) or at least 16"},
      {"vdsr_sr -t 8 --bicubic -i " + a + " -o " + dir + "/o.png",
       "for VDSR 20 pixels on a GPU, 56 on the CPU"},
      {"vdsr_eval -g -1 -m " + dir + "/srcnn_x3.safetensors --data " + samples + " --scales 2",
       "it cannot upscale x2: use its x2 model, or --scales 3"},
      {"vdsr_eval -g -1 --table3 --data " + samples + " --models srcnn-x2=" + dir +
           "/srcnn_x3.safetensors",
       "that file is the SRCNN model for x3; give it as srcnn-x3= and the x2 model as srcnn-x2="},
      {"vdsr_eval --bicubic --data " + dir + "/one/Set," + dir + "/two/Set",
       "are both named 'Set' (a set is named by its folder)"},
      {"vdsr_eval --bicubic --data " + dir + "/a,b",
       "--data " + dir +
           "/a,b: its name holds a comma, which separates --data's folders: give it "
           "by a name without one (a symbolic link to it)"},
      {"vdsr_train --print-config --train " + dir + "/a,b",
       "--train " + dir + "/a,b: its name holds a comma"},
      {"vdsr_sr -t 99999999999 --bicubic -i " + a + " -o " + dir + "/o.png",
       "99999999999 is out of range"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/no/r.json",
       "does not exist"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir, "is a folder"},
      // --json never replaces an image, a model, a checkpoint, a log or any other file that is not
      // JSON.
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + a,
       "names an image file (.png)"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/o.png",
       "names an image file"},
      {"vdsr_eval --bicubic --data " + samples + " --json " + dir + "/m.safetensors",
       "names a model or checkpoint file (.safetensors)"},
      // (--max-steps 1: were .jsonl ever accepted, the row would fail in seconds, not train for an
      // hour)
      {"vdsr_train -g -1 --train " + samples + " --out " + dir + "/tj --max-steps 1 --json " + dir +
           "/train.jsonl",
       "names a JSON Lines log file"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/m.ckpt",
       "names a model or checkpoint file (.ckpt)"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/m.pt",
       "names a model or checkpoint file (.pt)"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/m.mat",
       "names a model or checkpoint file (.mat)"},
      // The extension in any case.
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/M.SafeTensors",
       "names a model or checkpoint file (.safetensors)"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/T.JSONL",
       "names a JSON Lines log file (.jsonl)"},
      {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png --json " + dir + "/notes.txt",
       "the file exists and is not a JSON report"},
      {"vdsr_sr -g -1 -m " + a + " -i " + a + " -o " + dir + "/o.png",
       "is a PNG image, not a model"},
      {"vdsr_sr --bicubic " + a + " " + dir + "/o.png", "unexpected argument"},
      {"vdsr_sr --bicubic --shard 0/0 -i " + a + " -o " + dir + "/o.png",
       "the number of shards must be at least 1"},
      {"vdsr_train -g -1 --train " + samples, "--out DIR is required"},
      {"vdsr_eval -q --bicubic -v --data " + samples,
       "-q (--quiet) and -v (--verbose) exclude each other"},
      {"vdsr_convert -v -q a.mat b.safetensors",
       "-q (--quiet) and -v (--verbose) exclude each other"},
      {"vdsr_sr --bicubic --shard auto/0 -i " + a + " -o " + dir + "/o.png",
       "--shard auto/0: the number of shards must be at least 1"},
      {"vdsr_sr --bicubic -j 1000:1:1 -i " + a + " -o " + dir + "/o.png",
       "each count must be 1..256"},
      {"vdsr_eval --bicubic --scales 2 --data " + dir + "/g16", "has 16-bit samples"},
      {"vdsr_train -g -1 --train " + samples + " --out " + dir + "/t3 --depth 1",
       "--depth must be at least 2"},
      {"vdsr_train -g -1 --train " + samples + " --out " + dir + "/t3 --batch 0",
       "--batch must be at least 1, got 0"},
      {"vdsr_train -g -1 --train " + samples + " --out " + a, "cannot create the --out folder"},
      {"vdsr_train -g -1 --train " + samples + " --out " + dir + "/t4 --lr 1e309",
       "1e309 is out of range"},
      {"vdsr_bench -g -1 --stages --reps 1", "needs a value (FOLDER), got the option --reps"},
      {"vdsr_bench -g -1 --image 0", "--image must be at least 1, got 0"},
      {"vdsr_bench -g -1 --impl cudnn", "--impl cudnn picks among the GPU rows"},
      {"vdsr_eval --bicubic --scales 2,3,2 --data " + dir, "--scales lists x2 twice"},
      {"vdsr_eval --bicubic --scales 2 --data " + samples + "," + samples,
       "--data " + samples + "," + samples + ": lists " + samples + " twice"},
      {"vdsr_sr -g \"\" --bicubic -i " + a + " -o " + dir + "/o.png",
       "option -g needs a value (N|-1|0,1), got an empty one"},
      {"vdsr_convert " + samples + "/../model/vdsr.safetensors " + dir, "is a folder"},
      {"vdsr_eval --data " + dir + "/empty --bicubic", "holds no images"},
      {"vdsr_eval --data " + a + " --bicubic", "evaluation set '" + a + "' is not a folder"},
      {"vdsr_eval --data " + dir + "/one --bicubic",
       "holds no images, only folders (Set): give each set as --data " + dir +
           "/one/SET, or VDSR_DATA_DIR=" + dir + "/one to score"},
      {"vdsr_sr --bicubic -i " + dir + "/one -o " + dir + "/o1/",
       "no images in '" + dir + "/one' (it has sub-folders: -r walks them)"},
      {"vdsr_eval --data " + dir + "/seven --bicubic", "only folders (a, b, c, d, e, f, ...): "},
      {"vdsr_eval --data " + dir + "/six --bicubic", "only folders (a, b, c, d, e, f): "},
      {"vdsr_eval --data " + dir + "/textonly --bicubic",
       "evaluation set '" + dir + "/textonly' holds no images\n"},
      {"vdsr_sr --bicubic -i " + dir + "/linkonly -o " + dir + "/o2/",
       "no images in '" + dir + "/linkonly'\n"},
      {"vdsr_sr --bicubic -r -i " + dir + "/emptytree -o " + dir + "/o3/",
       "no images in '" + dir + "/emptytree'\n"},
      {"vdsr_bench -g 0,1 --reps 1", "--gpu 0,1: this tool runs on one device"},
      {"vdsr_eval --scales 9 --bicubic --data " + dir, "--scales"},
      {"vdsr_train -g -1 --out " + dir + "/t", "--train DIR is required"},
      {"vdsr_train -g -1 --train " + samples + " --out " + dir + "/t5 --val " + dir + "/missing",
       "validation set '" + dir + "/missing' does not exist"},
      {"vdsr_train -g -1 --train " + std::string(VDSR_SOURCE_DIR) + "/samples --out " + dir +
           "/t --batch 100000000",
       "of host memory"},
      {"vdsr_train -g -1 --train " + dir + " --out " + dir + "/t2 --optimizer rmsprop",
       "--optimizer must be"},
      {"vdsr_train -g -1 --resume " + dir + "/notes.txt", "notes.txt"},
      {"vdsr_eval --bicubic -g 0,1 --data " + samples,
       "--gpu 0,1: this tool runs on one device (N, or -1 for the CPU); vdsr_sr -g 0,1 spreads a "
       "folder over several"},
      {"vdsr_train -g 0,1 --print-config",
       "for several GPUs start one process per GPU (mpirun -np N"},
      {"vdsr_train -g -1 --resume " + samples + "/../model/vdsr.safetensors",
       "a weights file cannot resume training, but a new run can start from its weights: "
       "--init-from " +
           samples + "/../model/vdsr.safetensors --train DIR --out DIR"},
      {"vdsr_bench -g -1 --reps -2", "--reps"},
      {"vdsr_bench -g -1 --train-batches 64,0", "--train-batches takes batches of at least 1"},
      {"vdsr_bench -g -1 --train-batches 64,x", "--train-batches"},
      {"vdsr_bench -g -1 --runs 0", "--runs must be at least 1"},
      {"vdsr_bench -g -1 --runs 3", "--runs: for the GPU rows (-g -1 chose the CPU)"},
      {"vdsr_bench -g -1 --conv-batches 1,64",
       "--conv-batches: for the GPU rows (-g -1 chose the CPU)"},
      {"vdsr_bench -g -1 --probes", "--probes: for the GPU rows (-g -1 chose the CPU)"},
      {"vdsr_bench -g -1 --conv-batches 1,-4",
       "--conv-batches takes batches of at least 1 patch, got -4"},
      {"vdsr_bench -g -1 --conv-batches 1,,4", "--conv-batches has an empty item in '1,,4'"},
      {"vdsr_bench -g -1 --train-batches 64,128", "its rows time --batch alone"},
      {"vdsr_bench -g -1 --nodes --precision bf16", "needs a GPU"},
      {"vdsr_convert -old.safetensors " + dir + "/x.safetensors",
       "unknown option '-old.safetensors' (see vdsr_convert --help; a file whose name starts with "
       "'-' goes after --)"},
      {"vdsr_convert - " + dir + "/x.safetensors",
       "'-' (a standard stream) is not one: give the file's path"},
      {"vdsr_bench -g -1 --time-limit 30", "--time-limit: for the GPU rows (-g -1 chose the CPU)"},
      {"vdsr_bench -g -1 --time-limit 2.5",
       "--time-limit: for the GPU rows (-g -1 chose the CPU)"},  // seconds need not be whole
      {"vdsr_bench -g -1 --time-limit 0 --impl cudnn",
       "--impl cudnn picks among the GPU rows"},  // 0: no limit
      {"vdsr_bench -g -1 --stages " + dir + " --time-limit 30",
       "--time-limit: for the GPU op rows; --stages runs without them"},
      // Every mode's flags, refused in another mode rather than ignored.
      {"vdsr_bench -g -1 --stages " + dir + " --impl cudnn --probes",
       "--impl,--probes: for the GPU op rows; --stages runs without them"},
      {"vdsr_bench -g -1 --stages " + dir + " --image 99 --batch 7",
       "--image,--batch: the op rows' and --nodes' shape; --stages times the images of its folder"},
      {"vdsr_bench -g -1 --nodes --runs 2 --conv-batches 3",
       "--runs,--conv-batches: for the GPU op rows; --nodes runs without them"},
      {"vdsr_bench -g -1 --stages " + dir + " --network-pixels 99999999999999999999",
       "99999999999999999999 is out of range"},
      {"vdsr_bench -g -1 --time-limit -1",
       "--time-limit must be 0 (no limit) or more seconds, got -1"},
      {"vdsr_bench -g -1 --nodes --time-limit 30",
       "--time-limit: for the GPU op rows; --nodes runs without them"},
      {"vdsr_bench -g -1 --nodes --stages " + dir,
       "--nodes and --stages are two runs: give one of them"},
      {"vdsr_bench -g -1 --pdl maybe", "--pdl must be on or off, got 'maybe'"},
      {"vdsr_bench -g -1 --precision fp16",
       "--precision must be fp32, tf32, bf16 or all, got 'fp16'"},
      // Before any row runs: an allocation failing mid-run would lose the rows done.
      {"vdsr_bench -g -1 --batch 100000",
       "--batch 100000: a training step's feature maps alone take 860.7 GB, more than this "
       "machine's"},
      {"vdsr_bench -g -1 --nodes --image 100000",
       "--image 100000: an image's feature maps alone take 5120.0 GB, more than this machine's"},
      {"vdsr_bench -g -1 --stages " + dir + " --net-rate 2000000",
       "--net-rate must be 0 (the rate measured here) up to 1000000 output Mpx/s, got 2e+06"},
      {"vdsr_bench -g -1 --pdl on", "--pdl on sets how kernels are launched on a GPU"},
      {"vdsr_bench -g -1 --stages " + dir + " --net-rate 1e30",
       "--net-rate must be 0 (the rate measured here) up to 1000000 output Mpx/s, got 1e+30"},
      {"vdsr_bench -g -1 --gemm 4096 --no-hd-convs",
       "--gemm,--no-hd-convs: for the GPU rows (-g -1 chose the CPU), which the CPU backend does "
       "not run"},
      // Values that used to be taken as something else: out of range, clamped, a quoting slip, a
      // comma too many, a list with a repeat, a value meaning no number, an empty value.
      {"vdsr_train --seed 99999999999999999999999 --print-config",
       "--seed: 99999999999999999999999 is out of range (beyond 18446744073709551615)"},
      {"vdsr_train --seed ' -5' --print-config", "--seed: ' -5' is not a non-negative integer"},
      // --print-config refuses what the run would, the machine's memory included.
      {"vdsr_train -g -1 --depth 1000 --channels 4096 --print-config",
       "--depth 1000 and --channels 4096 make a model of 150697119745 parameters"},
      {"vdsr_train -g -1 --batch 100000000 --print-config",
       "--batch 100000000 of 41x41 patches needs"},
      {"vdsr_train --batch ' 4' --print-config", "--batch: ' 4' is not an integer"},
      {"vdsr_train --lr 0x1p-3 --print-config", "--lr: '0x1p-3' is not a number"},
      {"vdsr_train --eps inf --print-config", "--eps: inf is not a finite number"},
      {"vdsr_train --weight-decay nan --print-config",
       "--weight-decay: nan is not a finite number"},
      {"vdsr_train --scales 2, --print-config", "--scales 2,: an empty item"},
      {"vdsr_train --scales 2,2 --print-config", "--scales lists x2 twice"},
      {"vdsr_train --print-config --train " + dir + "/none",
       "training folder '" + dir + "/none' does not exist"},
      {"vdsr_train --print-config --val " + samples + "/../samples," + samples,
       "--val: " + samples + "/../samples and " + samples + " are one folder, listed twice"},
      {"vdsr_train --train " + samples + "," + samples + " --print-config",
       "lists " + samples + " twice"},
      {"vdsr_train --train " + samples + "," + samples + "/ --print-config",
       "--train: " + samples + " and " + samples + "/ are one folder, listed twice"},
      {"vdsr_eval --bicubic --data " + samples + "/," + samples + "/../samples",
       "--data: " + samples + "/ and " + samples + "/../samples are one folder, listed twice"},
      {"vdsr_train --print-config --val " + samples + "/.," + samples,
       "--val: " + samples + "/. and " + samples + " are one folder, listed twice"},
      {"vdsr_train --downscales 0.5,,0.7 --print-config", "--downscales 0.5,,0.7: an empty item"},
      {"vdsr_train --resume '' --print-config",
       "option --resume needs a value (CKPT|auto), got an empty one"},
      // --print-config prints a run's options: what a run refuses, it refuses.
      {"vdsr_train --lr -1 --print-config", "--lr must be positive, got -1"},
      {"vdsr_train --batch 0 --print-config", "--batch must be at least 1, got 0"},
      {"vdsr_train --precision xyz --print-config",
       "--precision must be fp32, tf32 or bf16, got 'xyz'"},
      {"vdsr_train --channels 100000 --print-config",
       "--channels must be at most 4096, got 100000"},
      {"vdsr_train --depth 100000000 --print-config",
       "--depth must be at most 1000, got 100000000"},
      // A model too large for the machine is named by its shape before anything is allocated.
      {"vdsr_train -g -1 --train " + samples + " --out " + dir +
           "/huge --depth 1000 --channels 4096",
       "--depth 1000 and --channels 4096 make a model of 150697119745 parameters"},
      {"vdsr_eval --bicubic --scales 2, --data " + samples, "--scales 2,: an empty item"},
      {"vdsr_eval --score '' --data " + samples,
       "option --score needs a value (DIR), got an empty one"},
      {"vdsr_eval --table3 --models , --data " + samples, "--models ,: an empty item"},
      {"vdsr_eval -g -1 --bicubic --precision xyz --data " + samples,
       "--precision must be fp32, tf32 or bf16"},
      {"vdsr_sr --bicubic --precision xyz -i " + a + " -o " + dir + "/o.png",
       "--precision must be fp32, tf32 or bf16"},
      {"vdsr_sr -m '' -i " + a + " -o " + dir + "/o.png",
       "option -m needs a value (FILE), got an empty one"},
      {"vdsr_sr --bicubic -g 0, -i " + a + " -o " + dir + "/o.png", "--gpu 0,: an empty item"},
      {"vdsr_sr --bicubic --shard 0/99999999999999999999 -i " + samples + " -o " + dir + "/sh",
       "--shard count: 99999999999999999999 is out of range"},
      {"vdsr_bench -g -1 -s 3", "--scale: for --stages FOLDER, which was not given"},
      {"vdsr_bench -g -1 --images 2 --net-rate 5",
       "--images,--net-rate: for --stages FOLDER, which was not given"},
      {"vdsr_bench -g -1 --gemm 64", "--gemm: for the GPU rows (-g -1 chose the CPU)"},
      {"vdsr_bench -g -1 --nodes --no-hd-convs", "--no-hd-convs: for the GPU op rows"},
      {"vdsr_bench -g -1 --stages " + samples + " --net-rate inf",
       "--net-rate: inf is not a finite number"},
      {"vdsr_convert " + dir + "/srcnn_x3.safetensors " + a,
       "OUT '" + a + "': name the output .safetensors"},
      {"vdsr_convert '' " + dir + "/c.safetensors", "IN needs a file name"},
      {"vdsr_convert " + dir + "/notes.mat " + dir + "/c.safetensors",
       "notes.mat: named .mat, but it is not a MATLAB file"},
  };
  for (const auto& [cmd, words] : cases) {
    INFO(cmd);
    std::string log;
    CHECK(run_command(bin(cmd.substr(0, cmd.find(' '))) + cmd.substr(cmd.find(' ')), &log) != 0);
    INFO(log);
    CHECK(log.find(words) != std::string::npos);
    CHECK(log.find(".cpp:") == std::string::npos);
    CHECK(log.find("check `") == std::string::npos);
    CHECK(log.find("internal error") == std::string::npos);
  }
  // The environment's settings stop a tool before any work, in words.
  for (const auto& [env, words] : std::vector<std::pair<std::string, std::string>>{
           {"VDSR_THREADS=100000",
            "VDSR_THREADS must be a whole number of threads from 1 to 1024, got '100000'"},
           {"VDSR_THREADS=2.5", "got '2.5'"},
           {"VDSR_CPU_ISA=foo", "VDSR_CPU_ISA=foo is not one of"},
           {"VDSR_CPU_CONV=fast", "VDSR_CPU_CONV=fast is not one of auto, winograd2, direct"},
           {"VDSR_PDL=yes",
            "VDSR_PDL must be 0 or 1 (programmatic dependent launch off or on), got 'yes'"}}) {
    INFO(env);
    std::string log;
    CHECK(run_command(env + " " + bin("vdsr_sr") + " --bicubic -i " + a + " -o " + dir + "/env.png", &log) == 1);
    INFO(log);
    CHECK(log.find(words) != std::string::npos);
    CHECK(!fs::exists(dir + "/env.png"));
    // --help and --version still answer.
    CHECK(run_command(env + " " + bin("vdsr_eval") + " --help", &log) == 0);
    CHECK(log.find("vdsr_eval") != std::string::npos);
    CHECK(run_command(env + " " + bin("vdsr_convert") + " --version", &log) == 0);
    if (env.rfind("VDSR_THREADS", 0) == 0)
      CHECK(log.find("\nCPU threads: none (VDSR_THREADS") != std::string::npos);
  }
  // VDSR_PDL's off values (0, empty) are taken, not refused.
  for (const char* env : {"VDSR_PDL=0", "VDSR_PDL=", "VDSR_PDL=1"}) {
    INFO(env);
    std::string log;
    CHECK(run_command(std::string(env) + " " + bin("vdsr_sr") + " --bicubic -i " + a + " -o " +
                          dir + "/pdl.png",
                      &log) == 0);
  }
  // A set that is not there stops vdsr_eval before it scores the ones before it.
  std::string log;
  // Under a launcher (mpirun's variables; --print-config starts no MPI) the memory checks see each
  // process's share of the batch.
  CHECK(run_command("OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_LOCAL_RANK=0 "
                    "OMPI_COMM_WORLD_LOCAL_SIZE=2 " +
                        bin("vdsr_train") + " -g -1 --batch 100000000 --print-config",
                    &log) == 1);
  CHECK(log.find("--batch 100000000 (50000000 a process) of 41x41 patches needs") !=
        std::string::npos);
  CHECK(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + samples + "," + dir + "/missing", &log) == 1);
  CHECK(log.find("evaluation set '" + dir + "/missing' does not exist") != std::string::npos);
  CHECK(log.find("PSNR") == std::string::npos);
  // Nor does a missing --val let vdsr_train build its training set first.
  CHECK(run_command(bin("vdsr_train") + " -g -1 --train " + samples + " --out " + dir + "/t6 --val " + dir +
                        "/missing", &log) == 1);
  CHECK(log.find("training set:") == std::string::npos);
  // A training run that fails while it is set up leaves no empty --out folder of its own behind.
  CHECK(run_command(bin("vdsr_train") + " -g -1 --train " + dir + "/empty --out " + dir + "/never", &log) == 1);
  CHECK(log.find("no images found") != std::string::npos);
  CHECK(!fs::exists(dir + "/never"));
}

TEST_CASE("vdsr_sr prints file names escaped") {
  const std::string dir = test::temp_dir("sr_names"), in = dir + "/in";
  fs::create_directories(in);
  write_text(in + "/bad\nname\x1b[2J.png", "not a png");
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/out", &log) == 2);
  INFO(log);
  CHECK(log.find("bad\\nname\\x1B[2J.png") != std::string::npos);
  CHECK(log.find("\x1b") == std::string::npos);
}

TEST_CASE("vdsr_sr: the output format follows -o's extension, contradictions and unknown formats stop first") {
  for (const char* f : {"jpeg", "webp"}) test::require_codec(f);
  const std::string dir = test::temp_dir("sr_format"), a = dir + "/a.png";
  save_image(a, test_image(9, 7, 3, 4), ImageFormat::PNG);
  auto magic = [](const std::string& path) { return test::file_bytes(path).substr(0, 2); };
  const std::string sr = bin("vdsr_sr") + " --bicubic -i " + a + " -o " + dir + "/";
  std::string log;
  REQUIRE(run_command(sr + "o1.jpg", &log) == 0);
  CHECK(magic(dir + "/o1.jpg") == "\xff\xd8");
  REQUIRE(run_command(sr + "o2.bmp", &log) == 0);
  CHECK(magic(dir + "/o2.bmp") == "BM");
  REQUIRE(run_command(sr + "o3.PNG", &log) == 0);
  CHECK(magic(dir + "/o3.PNG") == "\x89P");
  REQUIRE(run_command(sr + "o4.jpeg -f jpg", &log) == 0);
  CHECK(magic(dir + "/o4.jpeg") == "\xff\xd8");
  REQUIRE(run_command(sr + "o5 -f bmp", &log) == 0);  // no extension: -f says it
  CHECK(magic(dir + "/o5") == "BM");
  REQUIRE(run_command(sr + "o10.webp", &log) == 0);
  CHECK(magic(dir + "/o10.webp") == "RI");  // RIFF
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"o6.png -f jpg", "-f jpg contradicts the output file name"},
      {"o7.gif", "cannot write .gif files"},
      {"o8", "has no extension"},
      {"o9.png -f gif", "-f gif: the output formats are png, jpg, webp, tif and bmp"}};
  check_refused(sr, dir, refused);
  // A folder (or an existing folder as -o) takes -f, default png.
  fs::create_directories(dir + "/into");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + a + " -o " + dir + "/into", &log) == 0);
  CHECK(magic(dir + "/into/a.png") == "\x89P");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f jpg -i " + a + " -o " + dir + "/into", &log) == 0);
  CHECK(magic(dir + "/into/a.jpg") == "\xff\xd8");
  // A name ending in '/' is a folder, created: <stem>.<format> inside it (not a file named "new/").
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f bmp -i " + a + " -o " + dir + "/new/", &log) == 0);
  CHECK(magic(dir + "/new/a.bmp") == "BM");
  // -f same: each output in its input's format, named with its input's extension in lower case
  // (x.png and x.jpg do not collide); a .tga input, which nothing writes, as png. With -o a file,
  // the name must agree with the input's format.
  const std::string in = dir + "/mixed";
  fs::create_directories(in);
  save_image(in + "/x.png", test_image(9, 7, 3, 4), ImageFormat::PNG);
  save_image(in + "/x.JPEG", test_image(9, 7, 3, 5), ImageFormat::JPEG);
  save_image(in + "/y.webp", test_image(9, 7, 3, 6), ImageFormat::WEBP);
  save_image(in + "/z.TIF", test_image(9, 7, 1, 7), ImageFormat::TIFF);
  {  // an uncompressed 24-bit TGA of 4 x 3 grey-ish pixels, written out here (stb reads it)
    std::string tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 24, 0x20};
    for (int k = 0; k < 4 * 3 * 3; ++k) tga += char(40 + 5 * k);
    std::ofstream(in + "/t.tga", std::ios::binary) << tga;
  }
  const auto names_in = [](const std::string& folder) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(folder)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f same -i " + in + " -o " + dir + "/same", &log) == 0);
  INFO(log);
  CHECK(names_in(dir + "/same") == std::vector<std::string>{"t.png", "x.jpeg", "x.png", "y.webp", "z.tif"});
  CHECK(magic(dir + "/same/x.jpeg") == "\xff\xd8");
  CHECK(magic(dir + "/same/x.png") == "\x89P");
  CHECK(magic(dir + "/same/y.webp") == "RI");
  CHECK(magic(dir + "/same/z.tif") == "II");
  CHECK(magic(dir + "/same/t.png") == "\x89P");
  // --suffix goes into every name vdsr_sr makes (a folder's outputs, a file into a folder), not into
  // a -o file's.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f same --suffix _x2 -i " + in + " -o " + dir + "/suffixed", &log) ==
          0);
  CHECK(names_in(dir + "/suffixed") ==
        std::vector<std::string>{"t_x2.png", "x_x2.jpeg", "x_x2.png", "y_x2.webp", "z_x2.tif"});
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --suffix -big -i " + a + " -o " + dir + "/into", &log) == 0);
  CHECK(magic(dir + "/into/a-big.png") == "\x89P");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --suffix -big -i " + a + " -o " + dir + "/named.png", &log) == 0);
  CHECK(magic(dir + "/named.png") == "\x89P");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -f same -i " + in + "/y.webp -o " + dir + "/one", &log) == 0);
  CHECK(magic(dir + "/one") == "RI");
  check_refused(bin("vdsr_sr") + " --bicubic -f same -i " + in + "/y.webp -o " + dir + "/", dir,
                {{"two.png", "-f same contradicts the output file name " + dir +
                                 "/two.png: the input is a .webp image"}});
}

TEST_CASE("vdsr_sr: --jpg-quality, --png-level and --webp-quality take their whole documented range") {
  for (const char* f : {"jpeg", "webp"}) test::require_codec(f);
  const std::string dir = test::temp_dir("sr_quality"), a = dir + "/a.png";
  save_image(a, test_image(16, 12, 3, 6), ImageFormat::PNG);
  const std::string sr = bin("vdsr_sr") + " --bicubic -i " + a + " -o " + dir + "/";
  std::string log;
  REQUIRE(run_command(sr + "ref.png", &log) == 0);
  const Image ref = load_image(dir + "/ref.png");
  // The ends of each range run; PNG at levels 0 and 9 and WebP at 101 (lossless) keep every pixel.
  for (const char* args : {"l0.png --png-level 0", "l9.png --png-level 9", "w101.webp --webp-quality 101"}) {
    INFO(args);
    REQUIRE(run_command(sr + args, &log) == 0);
    const std::string name = args;
    CHECK(load_image(dir + "/" + name.substr(0, name.find(' '))).pixels == ref.pixels);
  }
  CHECK(fs::file_size(dir + "/l0.png") > fs::file_size(dir + "/l9.png"));  // level 0 stores, 9 compresses
  for (const char* args : {"q1.jpg --jpg-quality 1", "q100.jpg --jpg-quality 100", "w1.webp --webp-quality 1",
                           "w100.webp --webp-quality 100"}) {
    INFO(args);
    REQUIRE(run_command(sr + args, &log) == 0);
  }
  // The quality reaches the encoder: JPEG at 1 is smaller than at 100.
  CHECK(fs::file_size(dir + "/q1.jpg") < fs::file_size(dir + "/q100.jpg"));
  // One past each end stops before any work, naming the range.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"x.jpg --jpg-quality 0", "--jpg-quality must be 1..100, got 0"},
      {"x.jpg --jpg-quality 101", "--jpg-quality must be 1..100, got 101"},
      {"x.png --png-level -1", "--png-level must be 0..9, got -1"},
      {"x.png --png-level 10", "--png-level must be 0..9, got 10"},
      {"x.webp --webp-quality 0", "got 0"},
      {"x.webp --webp-quality 102", "--webp-quality must be 1..100, or 101 for lossless, got 102"}};
  check_refused(sr, dir, refused);
}

TEST_CASE("vdsr_eval --bicubic with -g N says the device has no effect") {
  const std::string samples = std::string(VDSR_SOURCE_DIR) + "/samples";
  std::string plain, with_gpu;
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic -q --scales 2 --data " + samples, &plain) == 0);
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic -g 0 --scales 2 --data " + samples, &with_gpu) == 0);
  CHECK(with_gpu.find("warning: -g 0 has no effect with --bicubic") != std::string::npos);
  CHECK(plain.find("has no effect") == std::string::npos);
  std::string cpu;  // -1, the CPU, is where the scores are made anyway
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic -g -1 --scales 2 --data " + samples, &cpu) == 0);
  CHECK(cpu.find("has no effect") == std::string::npos);
  // --score runs no network either.
  const std::string dir = test::temp_dir("eval_score_gpu");
  std::string log;
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic -q --scales 2 --data " + samples + " --save " + dir + "/out", &log) == 0);
  REQUIRE(run_command(bin("vdsr_eval") + " -g 0 --scales 2 --data " + samples + " --score " + dir + "/out", &log) == 0);
  CHECK(log.find("warning: -g 0 has no effect with --score") != std::string::npos);
}

TEST_CASE("vdsr_sr --bicubic with -g N says the device has no effect, and still refuses a bad list") {
  const std::string dir = test::temp_dir("sr_bicubic_gpu");
  save_image(dir + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  std::string log;
  // Bicubic needs no device, so a GPU asked for (in a CPU build too) is a warning, not an error.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -g 0 -i " + dir + "/a.png -o " + dir + "/o.png", &log) == 0);
  CHECK(log.find("warning: -g 0 has no effect with --bicubic") != std::string::npos);
  CHECK(fs::exists(dir + "/o.png"));
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -g -1 -i " + dir + "/a.png -o " + dir + "/o2.png", &log) == 0);
  CHECK(log.find("has no effect") == std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -g 0,0 -i " + dir + "/a.png -o " + dir + "/o3.png", &log) == 1);
  CHECK(log.find("-g 0,0: a list names distinct GPUs") != std::string::npos);
  CHECK(!fs::exists(dir + "/o3.png"));
  // -t, and a quality flag no output's format reads, are said to have no effect; one that is read
  // is not.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -t 64 --jpg-quality 50 --png-level 3 -i " + dir +
                          "/a.png -o " + dir + "/o4.png",
                      &log) == 0);
  CHECK(log.find("warning: --tile has no effect with --bicubic") != std::string::npos);
  CHECK(log.find("warning: --jpg-quality has no effect: no output is a JPEG (the outputs are png, "
                 "by the -o file's extension or the default; -f chooses the format)") !=
        std::string::npos);
  CHECK(log.find("--png-level has no effect") == std::string::npos);
  REQUIRE(
      run_command(bin("vdsr_sr") +
                      " --bicubic --webp-quality 50 --png-level 3 --jpg-quality 80 -f same -i " +
                      dir + " -o " + dir + "/o5",
                  &log) == 0);
  CHECK(log.find(
            "warning: --webp-quality has no effect: no output is a WebP (the outputs are png, by "
            "-f same)") != std::string::npos);
  CHECK(log.find("--png-level has no effect") == std::string::npos);
  CHECK(log.find("warning: --jpg-quality has no effect") != std::string::npos);
  // Each flag by the formats that read it: --png-level by TIFF too, --jpg-quality by JPEG alone;
  // -t 0 (the default, given) has no effect either; nothing to write, nothing said.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -t 0 --png-level 3 --jpg-quality 50 -i " + dir +
                          "/a.png -o " + dir + "/o6.tif",
                      &log) == 0);
  CHECK(log.find("--png-level has no effect") == std::string::npos);
  CHECK(log.find(
            "warning: --jpg-quality has no effect: no output is a JPEG (the outputs are tif, by") !=
        std::string::npos);
  CHECK(log.find("warning: --tile has no effect with --bicubic") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --png-level 3 --jpg-quality 50 -i " + dir +
                          "/a.png -o " + dir + "/o7.webp",
                      &log) == 0);
  CHECK(log.find("warning: --png-level has no effect: no output is a PNG or TIFF (the outputs are "
                 "webp, by the -o file's extension") != std::string::npos);
  CHECK(log.find(
            "warning: --jpg-quality has no effect: no output is a JPEG (the outputs are webp,") !=
        std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --skip-existing --jpg-quality 50 -i " + dir +
                          "/a.png -o " + dir + "/o7.webp",
                      &log) == 0);
  CHECK(log.find("has no effect") == std::string::npos);
  // A report in a folder the run makes on the way to its output folder is taken; one in a folder
  // the run does not make is refused before any work.
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic -i " + dir + "/a.png -o " + dir +
                          "/made/deeper/ --json " + dir + "/made/r.json",
                      &log) == 0);
  CHECK(fs::is_regular_file(dir + "/made/r.json"));
  CHECK(fs::is_regular_file(dir + "/made/deeper/a.png"));
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic -i " + dir + "/a.png -o " + dir +
                          "/made2/deeper/ --json " + dir + "/elsewhere/r.json",
                      &log) == 1);
  CHECK(log.find("the folder '" + dir + "/elsewhere' does not exist") != std::string::npos);
  CHECK(!fs::exists(dir + "/made2"));
}

TEST_CASE(
    "vdsr_sr's options and workers in-process: P models on the CPU, none for --bicubic, the factor "
    "in words") {
  const std::string dir = test::temp_dir("sr_workers");
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(1);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  const auto options = [](std::vector<std::string> args) {
    args.insert(args.begin(), "vdsr_sr");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_sr_options(int(argv.size()), argv.data());
  };
  const SrOptions cpu = options(
      {"-i", "a.png", "-o", "b.png", "-g", "-1", "-j", "1:3:1", "-m", dir + "/m.safetensors"});
  CHECK(!cpu.fit());
  CHECK(scale_words(cpu) == "x2");
  const auto workers = load_sr_workers(cpu, ImageFormat::PNG);
  REQUIRE(workers->models.size() == 3);  // one model per process worker, not shared
  CHECK(workers->model(0) != workers->model(2));
  CHECK(workers->model(2)->config().depth == 3);
  CHECK(workers->model_name == dir + "/m.safetensors");
  CHECK(workers->threads.process == 3);
  CHECK_THAT(workers->what, Catch::Contains(" on cpu in fp32, x2"));

  const SrOptions bicubic = options({"-i", "a.png", "-o", "b.png", "--bicubic", "--width", "640"});
  CHECK(bicubic.fit());
  CHECK(scale_words(bicubic) == "to 640 pixels wide");
  const auto none = load_sr_workers(bicubic, ImageFormat::PNG);
  CHECK(none->models.empty());
  CHECK(none->model(0) == nullptr);
  CHECK(none->model_name == "bicubic");
  CHECK(none->what == "BICUBIC baseline (no network), to 640 pixels wide");
  CHECK(scale_words(options({"-i", "a", "-o", "b", "--height", "480"})) == "to 480 pixels high");
  CHECK(scale_words(options({"-i", "a", "-o", "b", "--width", "640", "--height", "480"})) ==
        "to fit 640x480");
  CHECK(image_scale(320, 200, 640, 0) == 2);

  CHECK_THAT(test::error_of([&] {
               options({"-i", "a", "-o", "b", "-s", "3", "--width", "640"});
             }),
             Catch::Contains("-s and --width 640 exclude each other"));
  CHECK_THAT(test::error_of([&] {
               options({"-i", "a", "-o", "b", "--bicubic", "-x"});
             }),
             Catch::Contains("--tta applies to a model"));
  CHECK_THAT(test::error_of([&] { image_scale(640, 400, 640, 0); }),
             Catch::Contains("vdsr_sr only enlarges"));
}

TEST_CASE(
    "vdsr_eval's sets and columns in-process: a set's images sorted, a folder of sets named, "
    "bicubic serves all") {
  const std::string dir = test::temp_dir("eval_sets");
  for (const std::string f : {"SetA/c.png", "SetA/a.png", "SetB/b.png"}) {
    fs::create_directories(fs::path(dir + "/data/" + f).parent_path());
    save_image(dir + "/data/" + f, test_image(8, 8, 3, 1), ImageFormat::PNG);
  }
  CHECK(eval_set_images(dir + "/data/SetA") ==
        std::vector<std::string>{dir + "/data/SetA/a.png", dir + "/data/SetA/c.png"});
  CHECK_THAT(
      test::error_of([&] { eval_set_images(dir + "/data"); }),
      Catch::Contains("holds no images, only folders (SetA, SetB): give each set as --data " + dir +
                      "/data/SET"));
  fs::create_directories(dir + "/empty");
  CHECK_THAT(test::error_of([&] { eval_set_images(dir + "/empty"); }),
             Catch::EndsWith("/empty' holds no images"));
  const EvalMethod bicubic = bicubic_method();
  CHECK(bicubic.serves(3));
  CHECK(bicubic.net(3) == nullptr);
}

TEST_CASE("a value flag given twice: the last wins, with a warning naming both values") {
  const std::string dir = test::temp_dir("cli_twice");
  save_image(dir + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  save_image(dir + "/b.png", test_image(6, 6, 3, 2), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/a.png -i " + dir + "/b.png -o " + dir + "/o.png", &log) == 0);
  CHECK(log.find("-i is given more than once ('" + dir + "/a.png', then '" + dir + "/b.png'): the last one is used") !=
        std::string::npos);
  CHECK(load_image(dir + "/o.png").width == 12);  // b.png's 6 pixels, x2
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 -s 2 -i " + dir + "/a.png -o " + dir + "/p.png", &log) == 0);
  CHECK(log.find("more than once") == std::string::npos);  // the same value twice says nothing
  // The short and the long form are one flag.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 --scale 3 -i " + dir + "/a.png -o " + dir + "/q.png", &log) == 0);
  CHECK(log.find("--scale is given more than once ('2', then '3')") != std::string::npos);
  // The warning waits for the whole line: a -q after the repeat silences it.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 --scale 3 -i " + dir + "/a.png -o " + dir + "/r.png -q", &log) == 0);
  CHECK(log.find("more than once") == std::string::npos);
}

TEST_CASE("the flag parser: --name=value, short and long forms, and what a switch or a missing value is") {
  int number = 0;
  std::string name = "unset";
  bool on = false;
  cli::Parser p("tool", "a parser test", "tool [flags]");
  p.add({"-n", "--number", "N", "a number", [&](const std::string& v) { number = cli::parse_int(v, "--number"); }});
  p.add({"", "--name", "TEXT", "a name", [&](const std::string& v) { name = v; }});
  p.add({"-x", "--switch", "", "a switch", [&](const std::string&) { on = true; }});
  auto parse = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "tool");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    p.parse(int(argv.size()), argv.data());
  };
  parse({"--number=7", "--name=a=b"});  // the value is everything after the first '='
  CHECK(number == 7);
  CHECK(name == "a=b");
  parse({"-n", "3", "--name", "plain", "-x"});
  CHECK(number == 3);
  CHECK(name == "plain");
  CHECK(on);
  // A short flag's value may be attached, as getopt reads it; switches are not bundled.
  parse({"-n9"});
  CHECK(number == 9);
  parse({"-n-2"});
  CHECK(number == -2);
  CHECK_THAT(test::error_of([&] { parse({"-xn"}); }), Catch::Contains("unknown option '-xn'"));
  CHECK_THAT(test::error_of([&] { parse({"-x5"}); }),
             Catch::Contains("unknown option '-x5'"));  // a switch takes none
  // Only a number is taken attached: a long flag typed with one dash stays unknown, not -n 'umber'.
  CHECK_THAT(test::error_of([&] { parse({"-number"}); }),
             Catch::Contains("unknown option '-number'"));
  CHECK_THAT(test::error_of([&] { parse({"-n=4"}); }), Catch::Contains("unknown option '-n=4'"));
  // An empty value (an unset shell variable) is refused, not taken as the flag left out.
  CHECK_THAT(test::error_of([&] { parse({"--name="}); }), Catch::Contains("option --name needs a value (TEXT), got an empty one"));
  CHECK_THAT(test::error_of([&] { parse({"--name", ""}); }), Catch::Contains("option --name needs a value (TEXT), got an empty one"));
  CHECK_THAT(test::error_of([&] { parse({"--switch=1"}); }), Catch::Contains("option --switch takes no value"));
  CHECK_THAT(test::error_of([&] { parse({"--number"}); }), Catch::Contains("option --number needs a value (N)"));
  CHECK_THAT(test::error_of([&] { parse({"--name", "-n", "4"}); }), Catch::Contains("got the option -n"));
  CHECK_THAT(test::error_of([&] { parse({"--nmuber=4"}); }), Catch::Contains("unknown option '--nmuber'"));
  CHECK_THAT(test::error_of([&] { parse({"file.png"}); }), Catch::Contains("unexpected argument 'file.png'"));
  std::vector<std::string> positional;
  std::vector<std::string> args = {"tool", "in.mat", "-n", "5", "out.safetensors"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  p.parse_positional(int(argv.size()), argv.data(), &positional);
  CHECK(positional == std::vector<std::string>{"in.mat", "out.safetensors"});
  CHECK(number == 5);
}

TEST_CASE("vdsr_convert: a safetensors model keeps its weights and says so, and the output may not be the input") {
  const std::string dir = test::temp_dir("convert_st");
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(3);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  std::string log;
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/m.safetensors " + dir + "/ours.safetensors", &log) == 0);
  INFO(log);
  const VdsrWeights w = load_weights(dir + "/ours.safetensors");
  CHECK(w.config == (VdsrConfig{3, 4, true}));
  CHECK(w.params == std::vector<float>(model.params(), model.params() + model.num_params()));
  CHECK(w.metadata.at("source") == "m.safetensors");
  CHECK(w.metadata.at("source_format") == "safetensors");
  // Onto itself, under its own name or another spelling of it: refused, the file untouched.
  const std::string before = test::file_bytes(dir + "/m.safetensors");
  for (const std::string& out : {dir + "/m.safetensors", dir + "/./m.safetensors"}) {
    INFO(out);
    CHECK(run_command(bin("vdsr_convert") + " " + dir + "/m.safetensors " + out, &log) == 1);
    CHECK(log.find("is the input") != std::string::npos);
    CHECK(test::file_bytes(dir + "/m.safetensors") == before);
  }
}

TEST_CASE("vdsr_sr --json replaces an earlier JSON report, object or array, whitespace first or not") {
  const std::string dir = test::temp_dir("cli_json_again");
  save_image(dir + "/a.png", test_image(8, 8, 3, 1), ImageFormat::PNG);
  for (const char* earlier : {"{\"old\": 1}", "  [1, 2]", "\n\n{}", "", "  \n"}) {
    INFO("earlier report: '" << earlier << "'");
    write_text(dir + "/r.json", earlier);
    std::string log;
    REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/a.png -o " + dir + "/o.png --json " + dir + "/r.json",
                        &log) == 0);
    std::ifstream in(dir + "/r.json");
    CHECK(nlohmann::json::parse(in).contains("totals"));
  }
}

TEST_CASE("outputs: a FIFO or a link or the output folder itself is refused before any work") {
  const std::string dir = test::temp_dir("cli_json_special");
  fs::create_directories(dir + "/in");
  save_image(dir + "/in/a.png", test_image(24, 24, 3, 1), ImageFormat::PNG);
  save_image(dir + "/in/b.png", test_image(24, 24, 3, 2), ImageFormat::PNG);
  const std::string a = dir + "/in/a.png", set = dir + "/in";
  const std::string a_bytes = test::file_bytes(a);
  REQUIRE(::mkfifo((dir + "/f.json").c_str(), 0644) == 0);
  REQUIRE(::mkfifo((dir + "/m.safetensors").c_str(), 0644) == 0);
  REQUIRE(::mkfifo((dir + "/o.png").c_str(), 0644) == 0);
  fs::create_symlink("f.json", dir + "/l.json");
  write_text(dir + "/real.json", "{}");
  fs::create_symlink("real.json", dir + "/to_real.json");
  fs::create_symlink("nodir/r.json", dir + "/dangling.json");
  // A FIFO would have been replaced by a file when the run ended (as root, --json /dev/null the
  // device itself); a FIFO given as -m blocked the reader forever (`timeout` turns a hang into
  // 124); a link written through could lead to an input. Each is said before any work.
  for (const auto& [command, words] : std::vector<std::pair<std::string, std::string>>{
           {"vdsr_eval --bicubic --scales 2 --data " + set + " --json " + dir + "/f.json",
            "--json " + dir +
                "/f.json: is a FIFO (named pipe), not a file, and writing would replace it"},
           {"vdsr_eval --bicubic --scales 2 --data " + set + " --json " + dir + "/l.json",
            "--json " + dir +
                "/l.json: is a symbolic link (to f.json): the tools write regular files only"},
           {"vdsr_bench -g -1 --nodes --batch 1 --image 8 --json " + dir + "/f.json",
            "--json " + dir + "/f.json: is a FIFO (named pipe)"},
           {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/x.png --json " + dir + "/to_real.json",
            "--json " + dir + "/to_real.json: is a symbolic link (to real.json)"},
           {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/x.png --json " + dir + "/dangling.json",
            "--json " + dir + "/dangling.json: is a symbolic link (to nodir/r.json)"},
           {"vdsr_sr --bicubic -i " + a + " -o /dev/stdout",
            "-o /dev/stdout: give -o - to write to standard output"},
           {"vdsr_sr --bicubic -i - -o " + dir + "/o.png < " + a,
            "cannot write '" + dir + "/o.png': it is a FIFO (named pipe)"},
           {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/o.png",
            "cannot write '" + dir +
                "/o.png': it is a FIFO (named pipe), not a file, and writing would replace it"},
           {"vdsr_eval -g -1 --scales 2 -m " + dir + "/m.safetensors --data " + set,
            dir + "/m.safetensors: is a FIFO (named pipe), not a file; give a model file"},
           {"vdsr_eval --bicubic --scales 2 --data " + set + " --save " + dir + "/same --json " +
                dir + "/same",
            "--json " + dir +
                "/same: is the folder the run writes its outputs into; give the report a file "
                "name, "
                "such as " +
                dir + "/same/report.json"},
           // The same folder however it is spelt, and a folder made on the way to -o's.
           {"vdsr_eval --bicubic --scales 2 --data " + set + " --save " + dir + "/same/ --json " +
                dir + "/./same",
            "is the folder the run writes its outputs into"},
           {"vdsr_sr --bicubic -i " + set + " -o " + dir + "/outC/ --json " + dir + "/./outC",
            "is the folder the run writes its outputs into"},
           {"vdsr_sr --bicubic -i " + a + " -o " + dir + "/outD/sub/x.png --json " + dir + "/outD",
            "is the folder the run writes its outputs into"}}) {
    INFO(command);
    std::string log;
    CHECK(run_command("timeout 60 " + bin(command.substr(0, command.find(' '))) +
                          command.substr(command.find(' ')),
                      &log) == 1);
    INFO(log);
    CHECK(log.find(words) != std::string::npos);
    CHECK(log.find("PSNR") == std::string::npos);  // vdsr_eval: before any scoring
    CHECK(log.find(" image(s): ") ==
          std::string::npos);  // vdsr_sr: before its batch, not one failed image
  }
  CHECK(fs::is_fifo(dir + "/f.json"));
  CHECK(fs::is_fifo(dir + "/o.png"));
  CHECK(fs::is_symlink(dir + "/l.json"));
  CHECK(test::file_bytes(dir + "/real.json") == "{}");
  for (const char* never : {"/x.png", "/same", "/outC", "/outD", "/nodir"})
    CHECK(!fs::exists(dir + never));
  // A report may go into the folder the run itself makes: --save's, -o's, however it is spelt.
  std::string log;
  CHECK(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + set + " --save " + dir +
                        "/outA --json " + dir + "/outA/r.json",
                    &log) == 0);
  CHECK(fs::is_regular_file(dir + "/outA/r.json"));
  CHECK(fs::is_regular_file(dir + "/outA/in/x2/a.png"));
  CHECK(run_command("cd " + dir + " && " + bin("vdsr_sr") + " --bicubic -i in -o " + dir +
                        "/outB/ --json outB/r.json",
                    &log) == 0);
  CHECK(fs::is_regular_file(dir + "/outB/r.json"));
  CHECK(fs::is_regular_file(dir + "/outB/a.png"));
  // A link among a folder's outputs is that file's failure, said before any work: written through,
  // it overwrote the input it led to.
  fs::create_directories(dir + "/outE");
  fs::create_symlink("../in/a.png", dir + "/outE/a.png");
  CHECK(run_command(bin("vdsr_sr") + " --bicubic -i " + set + " -o " + dir + "/outE", &log) == 2);
  CHECK(log.find(a + ": its output '" + dir + "/outE/a.png' is a symbolic link (to ../in/a.png)") !=
        std::string::npos);
  CHECK(test::file_bytes(a) == a_bytes);
  CHECK(fs::is_symlink(dir + "/outE/a.png"));
  CHECK(fs::is_regular_file(dir + "/outE/b.png"));
  // --skip-existing leaves an existing output file, not a FIFO that has its name.
  fs::create_directories(dir + "/outF");
  REQUIRE(::mkfifo((dir + "/outF/a.png").c_str(), 0644) == 0);
  CHECK(
      run_command(bin("vdsr_sr") + " --skip-existing --bicubic -i " + set + " -o " + dir + "/outF",
                  &log) == 2);
  CHECK(log.find(a + ": its output '" + dir + "/outF/a.png' is a FIFO (named pipe)") !=
        std::string::npos);
  CHECK(fs::is_fifo(dir + "/outF/a.png"));
  // A report may go into -o's folder when -o names a folder by its '/' (one input file), or when
  // the input is a folder (-o without the '/').
  CHECK(run_command(bin("vdsr_sr") + " --bicubic -i " + a + " -o " + dir + "/outG/ --json " + dir +
                        "/outG/r.json",
                    &log) == 0);
  CHECK(fs::is_regular_file(dir + "/outG/r.json"));
  CHECK(fs::is_regular_file(dir + "/outG/a.png"));
  CHECK(run_command(bin("vdsr_sr") + " --bicubic -i " + set + " -o " + dir + "/outH --json " + dir +
                        "/outH/r.json",
                    &log) == 0);
  CHECK(fs::is_regular_file(dir + "/outH/r.json"));
  // A link to a FIFO given as -m is named as what it leads to.
  fs::create_symlink("m.safetensors", dir + "/lm.safetensors");
  CHECK(run_command("timeout 60 " + bin("vdsr_eval") + " -g -1 --scales 2 -m " + dir +
                        "/lm.safetensors --data " + set,
                    &log) == 1);
  CHECK(log.find(dir + "/lm.safetensors: is a FIFO (named pipe), not a file; give a model file") !=
        std::string::npos);
}

TEST_CASE("vdsr_bench takes a flag that repeats its default in any mode") {
  const std::string dir = test::temp_dir("cli_bench_defaults");
  fs::create_directories(dir + "/in");
  save_image(dir + "/in/a.png", test_image(24, 24, 3, 1), ImageFormat::PNG);
  std::string log;
  // A script may pass these for every run: a default is no use of another mode.
  CHECK(run_command(
            bin("vdsr_bench") +
                " -g -1 --nodes --batch 1 --image 8 --reps 1 --runs 1 --time-limit 0 --impl all",
            &log) == 0);
  CHECK(run_command(
            bin("vdsr_bench") + " -g -1 --stages " + dir +
                "/in --images 1 --network-pixels 256 --reps 1 --batch 64 --image 256 --runs 1",
            &log) == 0);
  // The CPU's op rows are ours: --impl ours is theirs, and the table says what a GPU run adds. The
  // GPU rows' defaults (--gemm, --pdl off, a batch list of --batch alone) are taken too.
  CHECK(run_command(bin("vdsr_bench") +
                        " -g -1 --batch 1 --image 8 --reps 1 --impl ours --gemm 8192 --pdl off "
                        "--train-batches 1 --conv-batches 1 --precision all",
                    &log) == 0);
  CHECK(log.find("fp32") != std::string::npos);  // every mode the CPU has: its one
  CHECK(
      log.find(
          "not run on the CPU: cuDNN and cuBLAS baselines, tf32 and bf16, the 1920 x 1080 rows") !=
      std::string::npos);
}

TEST_CASE(
    "a folder's hidden files are left out: vdsr_sr skips them and vdsr_eval scores without them") {
  const std::string dir = test::temp_dir("cli_hidden");
  fs::create_directories(dir + "/in/.cache");
  save_image(dir + "/in/a.png", test_image(24, 24, 3, 1), ImageFormat::PNG);
  save_image(dir + "/in/.hidden.png", test_image(24, 24, 3, 2), ImageFormat::PNG);
  save_image(dir + "/in/.cache/b.png", test_image(24, 24, 3, 3), ImageFormat::PNG);
  write_text(dir + "/in/._a.png",
             std::string("\0\5\26\7\0\2\0\0Mac OS X", 16));  // macOS's resource stub
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " -v -r --bicubic -i " + dir + "/in -o " + dir + "/out",
                      &log) == 0);
  INFO(log);
  CHECK(fs::is_regular_file(dir + "/out/a.png"));
  CHECK(!fs::exists(dir + "/out/.hidden.png"));
  CHECK(!fs::exists(dir + "/out/._a.png"));
  CHECK(!fs::exists(dir + "/out/.cache"));
  CHECK(log.find("skipping " + dir + "/in/._a.png (hidden: its name starts with '.')") !=
        std::string::npos);
  REQUIRE(run_command(bin("vdsr_eval") + " -v --bicubic --scales 2 --data " + dir + "/in --json " +
                          dir + "/e.json",
                      &log) == 0);
  CHECK(log.find("skipping " + dir + "/in/.hidden.png (hidden: its name starts with '.')") !=
        std::string::npos);
  CHECK(log.find("skipping " + dir + "/in/.cache/ (hidden: its name starts with '.')") !=
        std::string::npos);
  std::ifstream in(dir + "/e.json");
  const nlohmann::json e = nlohmann::json::parse(in);
  CHECK(e["results"][0]["images"] == 1);
  // A set of hidden images alone says why it holds none.
  fs::create_directories(dir + "/only_hidden");
  fs::copy_file(dir + "/in/.hidden.png", dir + "/only_hidden/.h.png");
  fs::create_directories(dir + "/only_hidden/.thumbs");  // a hidden folder is no set of sets
  CHECK(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + dir + "/only_hidden",
                    &log) == 1);
  CHECK(log.find("holds no images but hidden ones (names starting with '.'), which are left out") !=
        std::string::npos);
  fs::create_directories(dir + "/only_ds");
  write_text(dir + "/only_ds/.DS_Store", "Bud1");
  fs::create_directories(dir + "/only_ds/.x.png");  // a hidden folder, named like an image
  CHECK(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + dir + "/only_ds", &log) ==
        1);
  CHECK(log.find("evaluation set '" + dir + "/only_ds' holds no images\n") != std::string::npos);
  // Named on its own, a hidden file is read.
  CHECK(
      run_command(bin("vdsr_sr") + " --bicubic -i " + dir + "/in/.hidden.png -o " + dir + "/h.png",
                  &log) == 0);
  CHECK(fs::is_regular_file(dir + "/h.png"));
}

TEST_CASE(
    "vdsr_eval says which standard sets VDSR_DATA_DIR lacks, and which --table3 model no scale "
    "uses") {
  const std::string dir = test::temp_dir("cli_data_dir");
  fs::create_directories(dir + "/data/Set5");
  save_image(dir + "/data/Set5/a.png", test_image(48, 48, 3, 1), ImageFormat::PNG);
  fs::create_directories(dir + "/data/bsd100");  // B100 by another of its names, in another case
  save_image(dir + "/data/bsd100/b.png", test_image(48, 48, 1, 2), ImageFormat::PNG);
  std::string log;
  REQUIRE(
      run_command("VDSR_DATA_DIR=" + dir + "/data " + bin("vdsr_eval") + " --bicubic --scales 2",
                  &log) == 0);
  CHECK(log.find("VDSR_DATA_DIR=" + dir +
                 "/data has no folder Set14, Urban100: evaluating the others") !=
        std::string::npos);
  CHECK(log.find("Set5 ") != std::string::npos);
  CHECK(log.find("bsd100 ") != std::string::npos);
  CHECK(log.find("are both") == std::string::npos);
  // Two folders of one set (by name, in any case): the first by name is scored, and said.
  fs::create_directories(dir + "/data/set5");
  save_image(dir + "/data/set5/c.png", test_image(48, 48, 3, 3), ImageFormat::PNG);
  REQUIRE(
      run_command("VDSR_DATA_DIR=" + dir + "/data " + bin("vdsr_eval") + " --bicubic --scales 2",
                  &log) == 0);
  CHECK(log.find("warning: VDSR_DATA_DIR=" + dir + "/data: " + dir + "/data/Set5 and " + dir +
                 "/data/set5 are both Set5: scoring " + dir +
                 "/data/Set5 (or name the set with --data)") != std::string::npos);
  CHECK(log.find("\nset5 ") == std::string::npos);
  fs::remove_all(dir + "/data/set5");
  CHECK(run_command("VDSR_DATA_DIR=" + dir + "/nothere " + bin("vdsr_eval") + " --bicubic", &log) ==
        1);
  CHECK(log.find("VDSR_DATA_DIR=" + dir + "/nothere: no such folder") != std::string::npos);
  const VdsrConfig srcnn = srcnn_config(9, 5, 5, 4, 2, true);
  const std::vector<float> sp(size_t(param_count(srcnn)), 0.01f);
  save_weights(dir + "/srcnn_x3.safetensors", srcnn, sp.data(), {{"scale", "3"}});
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --scales 2 --data " + dir +
                          "/data/Set5 --models srcnn-x3=" + dir + "/srcnn_x3.safetensors",
                      &log) == 0);
  CHECK(log.find("--models srcnn-x3: x3 is not among --scales, so that model is not used") !=
        std::string::npos);
  CHECK(log.find("srcnn-x0") == std::string::npos);  // VDSR serves every scale
  // --models given twice: the lists add up (the last alone would score the bundled model as VDSR).
  fs::copy_file(std::string(VDSR_SOURCE_DIR) + "/model/vdsr.safetensors",
                dir + "/mine.safetensors");
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 --table3 --scales 3 --data " + dir +
                          "/data/Set5 --models srcnn-x3=" + dir +
                          "/srcnn_x3.safetensors --models vdsr=" + dir + "/mine.safetensors",
                      &log) == 0);
  CHECK(log.find("vdsr_eval: SRCNN: ") != std::string::npos);
  CHECK(log.find("vdsr_eval: VDSR: " + dir + "/mine.safetensors") != std::string::npos);
  CHECK(log.find("given more than once") == std::string::npos);
  // One set missing is said as well as three.
  for (const char* set : {"Set14", "B100"}) {
    fs::create_directories(dir + "/data2/" + set);
    save_image(dir + "/data2/" + set + "/a.png", test_image(48, 48, 1, 3), ImageFormat::PNG);
  }
  fs::create_directory_symlink(dir + "/data/Set5", dir + "/data2/Set5");
  REQUIRE(
      run_command("VDSR_DATA_DIR=" + dir + "/data2 " + bin("vdsr_eval") + " --bicubic --scales 2",
                  &log) == 0);
  CHECK(log.find("has no folder Urban100: evaluating the others") != std::string::npos);
}

TEST_CASE("a file-size limit fails vdsr_convert's write in words, with no temporary left (run_main ignores SIGXFSZ)") {
  // ulimit -f in a subshell: the tool must report EFBIG itself (SIGXFSZ ignored), not be killed.
  const std::string dir = test::temp_dir("cli_fsize");
  std::string log;
  const std::string out = dir + "/big.safetensors";
  const int rc = run_command("bash -c 'ulimit -f 100; " + bin("vdsr_convert") + " " + std::string(VDSR_SOURCE_DIR) +
                                 "/model/vdsr.safetensors " + out + "'",
                             &log);
  INFO(log);
  CHECK(rc == 1);
  CHECK(log.find("File too large") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
  for (const auto& e : std::filesystem::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

namespace {

// Runs `cmd` through sh with its stream `fd` (1 or 2) into a pipe whose reader is gone (closed
// before the command starts, so no race) and the other stream into file `other`, SIGPIPE at its
// default as a shell leaves it. Returns waitpid's status.
int run_into_closed_pipe(const std::string& cmd, int fd, const std::string& other) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  ::close(p[0]);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGPIPE, SIG_DFL);
    const int out = ::open(other.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || ::dup2(p[1], fd) < 0 || ::dup2(out, fd == 1 ? 2 : 1) < 0) ::_exit(126);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE(
    "a reader that goes away does not kill a tool: the batch goes on, a lost output fails in words "
    "(SIGPIPE ignored)") {
  const std::string dir = test::temp_dir("cli_sigpipe"), in = dir + "/in";
  fs::create_directories(in);
  save_image(in + "/a.png", test_image(24, 20, 3, 1),
             ImageFormat::PNG);  // big enough to score at x2
  save_image(in + "/b.png", test_image(20, 24, 1, 2), ImageFormat::PNG);
  // The log into a closed pipe (`2>&1 | head -1` once head is done): every image is still written.
  int status = run_into_closed_pipe(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/out",
                                    2, dir + "/so.txt");
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(fs::is_regular_file(dir + "/out/a.png"));
  CHECK(fs::is_regular_file(dir + "/out/b.png"));
  // Image bytes into it: that image fails in words (exit 2, as a failed image), not a silent death.
  status = run_into_closed_pipe(bin("vdsr_sr") + " --bicubic -i " + in + "/a.png -o -", 1,
                                dir + "/se.txt");
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(test::file_bytes(dir + "/se.txt").find("cannot write to standard output: Broken pipe") !=
        std::string::npos);
  // A table into it: the run stops at the first row it cannot write, in words (exit 1), rather
  // than scoring every set for nobody.
  status = run_into_closed_pipe(
      bin("vdsr_eval") + " --bicubic --scales 2 --data " + in + " --json " + dir + "/e.json", 1,
      dir + "/ee.txt");
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(test::file_bytes(dir + "/ee.txt").find("could not write to standard output: Broken pipe") !=
        std::string::npos);
  CHECK(!fs::exists(dir + "/e.json"));
}

TEST_CASE("a folder whose listing fails part way is said and never used as if whole") {
  const std::string dir = test::temp_dir("cli_listing");
  for (const char* set : {"Set5", "Set14"}) {
    fs::create_directories(dir + "/data/" + set);
    save_image(dir + "/data/" + set + "/a.png", test_image(24, 24, 1, 1), ImageFormat::PNG);
    save_image(dir + "/data/" + set + "/fails_here.png", test_image(24, 24, 1, 2),
               ImageFormat::PNG);
  }
  const std::string fail = test::fail_readdir_prefix("fails_here.png");
  const std::string set = dir + "/data/Set5";
  std::string log;
  // The shim itself: without it every tool reads both images.
  REQUIRE(run_command(bin("vdsr_eval") + " --bicubic --scales 2 --data " + set + " --json " + dir +
                          "/whole.json",
                      &log) == 0);
  CHECK(nlohmann::json::parse(test::file_bytes(dir + "/whole.json"))["results"][0]["images"] == 2);
  CHECK(run_command(fail + bin("vdsr_eval") + " --bicubic --scales 2 --data " + set, &log) == 1);
  CHECK(log.find("reading evaluation set '" + set + "' failed: Input/output error") !=
        std::string::npos);
  CHECK(run_command(fail + bin("vdsr_train") + test::kTinyTrainFlags + " --train " + set +
                        " --out " + dir + "/run",
                    &log) == 1);
  CHECK(log.find("reading training folder '" + set + "' failed: Input/output error") !=
        std::string::npos);
  CHECK(!fs::exists(dir + "/run"));
  CHECK(run_command(fail + bin("vdsr_bench") + " -g -1 --stages " + set, &log) == 1);
  CHECK(log.find("--stages: reading the folder '" + set + "' failed: Input/output error") !=
        std::string::npos);
  CHECK(run_command(fail + bin("vdsr_sr") + " --bicubic -i " + set + " -o " + dir + "/sr", &log) !=
        0);
  CHECK(log.find("reading this folder failed: Input/output error") != std::string::npos);
  // The folder of sets: a set after the failure would be left out as if missing.
  CHECK(run_command(test::fail_readdir_prefix("Set14") + "VDSR_DATA_DIR=" + dir + "/data " +
                        bin("vdsr_eval") + " --bicubic --scales 2",
                    &log) == 1);
  CHECK(log.find("reading VDSR_DATA_DIR=" + dir + "/data failed: Input/output error") !=
        std::string::npos);
}
