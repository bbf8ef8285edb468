// Data-parallel training over MPI (engine/collective.h, model/trainer.h) on tiny CPU runs of the
// bundled samples, launched with `mpirun -np 2`: the ranks' weights are the same bits after every
// step and the losses follow a one-process run of the same global batch within 1e-5 relative; a
// run stopped on 2 ranks resumes on 1 and the reverse (and on 2, bit for bit); SIGTERM to one rank
// stops every rank at the next agreement point with a whole checkpoint; a --batch the ranks cannot
// share is refused. Under `mpirun -np 3` the MPI backend's sum and average add the ranks in rank
// order, round the average once and write nothing past the buffer.
// Plus the launcher variables read by engine/collective.cpp (no MPI needed).
// Skipped (exit 77, with the reason) without MPI in the build or mpirun on the machine, failed
// then when VDSR_REQUIRE_MPI=1 (CI). Label `mpi`.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/collective.h"
#include "engine/error.h"
#include "engine/log.h"
#include "image/image_io.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/trainer.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;

namespace {

#ifndef VDSR_MPIEXEC
#define VDSR_MPIEXEC ""
#endif

// "mpirun -np N" with OpenMPI's switches for CI containers (root, fewer cores than ranks), or a
// skip saying why there is none.
std::string mpirun(int np) {
  std::string why, path;
  if (!mpi_compiled()) {
    why = "this build has no MPI (CMake found no libopenmpi-dev; ./setup.sh installs it)";
  } else {
    for (const std::string& p : {std::string(VDSR_MPIEXEC), std::string("/usr/bin/mpirun")})
      if (!p.empty() && fs::exists(p)) {
        path = p;
        break;
      }
    if (path.empty() && run_command("command -v mpirun", &path) == 0) path.erase(path.find_last_not_of("\n") + 1);
    if (path.empty()) why = "mpirun not found (Debian: openmpi-bin; ./setup.sh installs it)";
  }
  if (!why.empty()) {
    const char* req = std::getenv("VDSR_REQUIRE_MPI");
    if (req != nullptr && std::string(req) == "1") FAIL("VDSR_REQUIRE_MPI=1 but " << why);
    std::cout << "SKIPPED: " << why << std::endl;
    std::exit(test::kSkipExitCode);
  }
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 " + path + " -np " +
         std::to_string(np) + " --oversubscribe ";
}

// The trainer tests' tiny run (tests/support/test_support.h: global batch 4, 3 epochs of 5 steps,
// a log point every step) on the bundled samples.
TrainOptions tiny(const std::string& out) { return test::tiny_train(std::string(VDSR_SOURCE_DIR) + "/samples", out); }

std::string train_cmd(const std::string& out) {
  return bin("vdsr_train") + test::kTinyTrainFlags + " --train " + VDSR_SOURCE_DIR + "/samples --out " + out;
}

// The losses of the step records, by step.
std::map<int64_t, double> step_losses(const std::string& jsonl) {
  std::map<int64_t, double> out;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    const auto r = nlohmann::json::parse(line);
    if (r.at("record") == "step") out[r.at("step").get<int64_t>()] = r.at("loss").get<double>();
  }
  return out;
}

void require_close(const std::map<int64_t, double>& a, const std::map<int64_t, double>& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [step, loss] : a) {
    INFO("step " << step << ": " << loss << " vs " << b.at(step));
    REQUIRE(std::abs(loss - b.at(step)) <= 1e-5 * std::abs(loss));
  }
}

std::string file_text(const std::string& path) { return test::file_bytes(path); }

}  // namespace

// One rank of the run below (launched by it under mpirun; hidden from a plain run): trains the
// tiny run and writes a digest of its weights after every step to <out>/weights.<rank>.
TEST_CASE("one rank of an mpirun'd tiny training", "[.rank]") {
  const char* out = std::getenv("VDSR_MPI_TEST_OUT");
  REQUIRE(out != nullptr);
  const int rank = process_ranks().rank;
  std::ostringstream digests;
  TrainHooks hooks;
  hooks.after_step = [&](Vdsr& m, int64_t steps) {
    const std::vector<float> w = m.weights().params;
    uint64_t h = 1469598103934665603ull;
    const auto* bytes = reinterpret_cast<const unsigned char*>(w.data());
    for (size_t i = 0; i < w.size() * sizeof(float); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
    digests << steps << " " << h << "\n";
  };
  set_log_level(LogLevel::Quiet);
  const TrainResult r = run_training(tiny(out), hooks);
  REQUIRE(r.finished);
  std::ofstream(std::string(out) + "/weights." + std::to_string(rank)) << digests.str();
  finalize_ranks();
}

// One rank of the stop tests below (launched under mpirun -np 2; hidden from a plain run): the tiny
// run with --val, rank 1 alone asked to stop after step VDSR_MPI_TEST_STOP_AT, or with
// VDSR_MPI_TEST_STOP_IN_VAL set, at the end of epoch VDSR_MPI_TEST_STOP_AT once the ranks agreed
// there (while rank 0 validates); each rank writes its result to <out>/result.<rank>.
TEST_CASE("one rank of an mpirun'd run that rank 1 stops", "[.stop_rank]") {
  const char* out = std::getenv("VDSR_MPI_TEST_OUT");
  const char* stop_at_text = std::getenv("VDSR_MPI_TEST_STOP_AT");
  REQUIRE((out != nullptr && stop_at_text != nullptr));
  const int64_t stop_at = std::stoll(stop_at_text);
  const int rank = process_ranks().rank;
  set_log_level(LogLevel::Quiet);
  TrainOptions o = tiny(out);
  o.val = {std::string(VDSR_SOURCE_DIR) + "/samples"};
  std::atomic<int> stop{0};
  TrainHooks hooks;
  hooks.stop = &stop;
  const bool in_val = std::getenv("VDSR_MPI_TEST_STOP_IN_VAL") != nullptr;
  hooks.after_step = [&](Vdsr&, int64_t steps) {
    if (!in_val && rank == 1 && steps == stop_at) stop = SIGTERM;
  };
  hooks.before_report = [&](int64_t epoch) {
    if (in_val && rank == 1 && epoch == stop_at) stop = SIGTERM;
  };
  const TrainResult r = run_training(o, hooks);
  std::ofstream(std::string(out) + "/result." + std::to_string(rank))
      << r.step << " " << r.finished << " " << r.stopped_by_signal << "\n";
  finalize_ranks();
}

// Both ranks of a [.stop_rank] run returned at `step`, unfinished, stopped by SIGTERM.
static void check_both_stopped(const std::string& dir, int64_t step) {
  for (int rank = 0; rank < 2; ++rank) {
    INFO("rank " << rank);
    std::ifstream in(dir + "/result." + std::to_string(rank));
    int64_t at = -1;
    int finished = -1, sig = -1;
    in >> at >> finished >> sig;
    CHECK(at == step);
    CHECK(finished == 0);
    CHECK(sig == SIGTERM);
  }
}

TEST_CASE(
    "a stop asked of rank 1 at an epoch's end stops every rank there and leaves the epoch "
    "unscored") {
  const std::string run2 = mpirun(2);
  // At the end of epoch 2, and at the run's last step.
  for (const int64_t stop_at : {10, 15}) {
    INFO("stop at step " << stop_at);
    const std::string dir = test::temp_dir("mpi_stop_rank1_" + std::to_string(stop_at));
    std::string log;
    run_command("VDSR_MPI_TEST_OUT=" + dir + " VDSR_MPI_TEST_STOP_AT=" + std::to_string(stop_at) +
                    " " + run2 + bin("test_mpi") + " '[.stop_rank]'",
                &log);
    INFO(log);
    check_both_stopped(dir, stop_at);
    const LoadedCheckpoint ck = load_checkpoint(dir + "/checkpoint.safetensors", Device::cpu());
    CHECK(ck.state.step == stop_at);
    CHECK(!ck.state.epoch_record.empty());
    size_t epochs = 0;
    std::ifstream jl(dir + "/train.jsonl");
    for (std::string line; std::getline(jl, line);)
      epochs += nlohmann::json::parse(line).at("record") == "epoch";
    CHECK(epochs == size_t(stop_at / 5 - 1));
    fs::remove_all(dir);
  }
}

// The [.stop_rank] run is 3 epochs of 5 steps.
TEST_CASE(
    "a stop asked of rank 1 while rank 0 validates lets rank 0 score the epoch and stops every "
    "rank there") {
  const std::string dir = test::temp_dir("mpi_stop_rank1_in_val");
  std::string log;
  run_command("VDSR_MPI_TEST_OUT=" + dir + " VDSR_MPI_TEST_STOP_IN_VAL=1 VDSR_MPI_TEST_STOP_AT=2 " +
                  mpirun(2) + bin("test_mpi") + " '[.stop_rank]'",
              &log);
  INFO(log);
  check_both_stopped(dir, 10);  // the end of epoch 2, not a step later
  // Rank 0 did not see the request until it had scored the epoch: both records are written.
  std::vector<int64_t> epochs;
  std::ifstream jl(dir + "/train.jsonl");
  for (std::string line; std::getline(jl, line);) {
    const auto r = nlohmann::json::parse(line);
    if (r.at("record") == "epoch") {
      CHECK(r.contains("val"));
      epochs.push_back(r.at("epoch").get<int64_t>());
    }
  }
  CHECK(epochs == std::vector<int64_t>{1, 2});
  CHECK(load_checkpoint(dir + "/checkpoint.safetensors", Device::cpu()).state.step == 10);
  fs::remove_all(dir);
}

// One rank of the collective check below (launched by it under mpirun -np 3; hidden from a plain
// run): the MPI backend's sum, max and average against the same arithmetic done here in rank order.
TEST_CASE("one rank of an mpirun'd collective check", "[.collective]") {
  const char* out = std::getenv("VDSR_MPI_TEST_OUT");
  REQUIRE(out != nullptr);
  const int rank = process_ranks().rank, R = process_ranks().size;
  REQUIRE(R == 3);
  const auto c = make_collective(Device::cpu());
  REQUIRE(std::string(c->name()) == "mpi");
  // 2^53 + 0.5 is 2^53 in a double: in rank order (0.5 + 2^53) - 2^53 = 0; any other order that
  // does not start with rank 0 ends at 0.5.
  const double big = 9007199254740992.0;
  double v[2] = {rank == 0 ? 0.5 : rank == 1 ? big : -big, double(rank + 1)};
  c->sum(v, 2);
  CHECK(v[0] == 0.0);
  CHECK(v[1] == 6.0);
  double m[2] = {double(rank), -double(rank)};
  c->max(m, 2);
  CHECK((m[0] == 2.0 && m[1] == 0.0));
  // average: 3001 values (slices of 1001, 1000 and 1000), every rank's data known to every rank;
  // the value after them must stay as it is.
  const int64_t n = 3001;
  std::vector<std::vector<float>> all;
  for (int q = 0; q < R; ++q) all.push_back(test::random_floats(size_t(n), -1.0f, 1.0f, uint32_t(70 + q)));
  const float order[3] = {0.5f, 1152921504606846976.0f, -1152921504606846976.0f};  // 0.5, 2^60, -2^60
  for (const size_t i : {size_t(0), size_t(1001), size_t(3000)})  // one in each rank's slice
    for (int q = 0; q < R; ++q) all[size_t(q)][i] = order[q];
  std::vector<float> data = all[size_t(rank)];
  data.push_back(float(rank + 1));
  c->average(data.data(), n, Device::cpu());
  int wrong = 0;
  for (size_t i = 0; i < size_t(n); ++i) {
    double s = 0;
    for (int q = 0; q < R; ++q) s += double(all[size_t(q)][i]);
    if (data[i] != float(s * (1.0 / 3.0))) ++wrong;  // summed in rank order in double, rounded once
  }
  CHECK(wrong == 0);
  CHECK((data[0] == 0.0f && data[1001] == 0.0f && data[3000] == 0.0f));
  CHECK(data[size_t(n)] == float(rank + 1));
  std::ofstream(std::string(out) + "/collective." + std::to_string(rank)) << "checked\n";
  finalize_ranks();
}

TEST_CASE("mpirun -np 3: the MPI backend sums in rank order, rounds the average once, and keeps to the buffer") {
  const std::string run3 = mpirun(3);
  const std::string dir = test::temp_dir("mpi_collective");
  std::string log;
  const int rc = run_command("VDSR_THREADS=1 VDSR_MPI_TEST_OUT=" + dir + " " + run3 + bin("test_mpi") + " '[.collective]'", &log);
  INFO(log);
  REQUIRE(rc == 0);
  for (int q = 0; q < 3; ++q) CHECK(file_text(dir + "/collective." + std::to_string(q)) == "checked\n");
  fs::remove_all(dir);
}

TEST_CASE("mpirun -np 2: the ranks' weights are the same bits after every step, and the losses follow one process within 1e-5") {
  const std::string run2 = mpirun(2);
  const std::string dir = test::temp_dir("mpi_ranks");
  set_log_level(LogLevel::Quiet);
  const TrainResult one = run_training(tiny(dir + "/one"));
  set_log_level(LogLevel::Normal);
  REQUIRE(one.finished);
  std::string log;
  const int rc = run_command("VDSR_MPI_TEST_OUT=" + dir + "/two " + run2 + bin("test_mpi") + " '[.rank]'", &log);
  INFO(log);
  REQUIRE(rc == 0);
  const std::string w0 = file_text(dir + "/two/weights.0"), w1 = file_text(dir + "/two/weights.1");
  REQUIRE(std::count(w0.begin(), w0.end(), '\n') == 15);
  REQUIRE(w0 == w1);
  const auto a = step_losses(dir + "/one/train.jsonl"), b = step_losses(dir + "/two/train.jsonl");
  REQUIRE(a.size() == 15);
  require_close(a, b);
  // Rank 0 alone writes: one log line per record, no stray temporaries.
  REQUIRE(fs::exists(dir + "/two/vdsr.safetensors"));
  REQUIRE(!test::has_tmp_files(dir));
  fs::remove_all(dir);
}

TEST_CASE("a run stopped on 2 ranks resumes on 1, and the reverse, within 1e-5 of the uninterrupted run") {
  const std::string run2 = mpirun(2);
  const std::string dir = test::temp_dir("mpi_resume");
  std::string log;
  REQUIRE(run_command(train_cmd(dir + "/ref"), &log) == 0);
  const auto ref = step_losses(dir + "/ref/train.jsonl");
  REQUIRE(ref.size() == 15);
  SECTION("2 ranks, then 1") {
    REQUIRE(run_command(run2 + train_cmd(dir + "/a") + " --max-steps 6", &log) == 0);
    INFO(log);
    REQUIRE(load_checkpoint(dir + "/a/checkpoint.safetensors", Device::cpu()).state.step == 6);
    REQUIRE(run_command(train_cmd(dir + "/a") + " --resume auto", &log) == 0);
    require_close(ref, step_losses(dir + "/a/train.jsonl"));
  }
  SECTION("1 rank, then 2") {
    REQUIRE(run_command(train_cmd(dir + "/b") + " --max-steps 6", &log) == 0);
    REQUIRE(run_command(run2 + train_cmd(dir + "/b") + " --resume auto", &log) == 0);
    INFO(log);
    REQUIRE(fs::exists(dir + "/b/vdsr.safetensors"));
    require_close(ref, step_losses(dir + "/b/train.jsonl"));
  }
  SECTION("2 ranks, then 2 ranks: bit for bit the uninterrupted 2-rank run") {
    REQUIRE(run_command(run2 + train_cmd(dir + "/two"), &log) == 0);
    REQUIRE(run_command(run2 + train_cmd(dir + "/c") + " --max-steps 7", &log) == 0);
    REQUIRE(run_command(run2 + train_cmd(dir + "/c") + " --resume auto", &log) == 0);
    INFO(log);
    REQUIRE(step_losses(dir + "/c/train.jsonl") == step_losses(dir + "/two/train.jsonl"));
    REQUIRE(load_checkpoint(dir + "/c/checkpoint.safetensors", Device::cpu()).model->weights().params ==
            load_checkpoint(dir + "/two/checkpoint.safetensors", Device::cpu()).model->weights().params);
  }
  fs::remove_all(dir);
}

TEST_CASE("SIGTERM to one rank stops every rank at the next agreement point with a whole checkpoint") {
  const std::string run2 = mpirun(2);
  const std::string dir = test::temp_dir("mpi_sigterm");
  const std::string out = dir + "/run";
  // Long enough to be caught mid-run (many epochs of 5 steps), a log point every 4 steps.
  const std::string cmd = run2 + train_cmd(out) + " --epochs 400 --log-every 4";
  // cmd is "... timeout 120 mpirun ...": the ranks are the children of timeout's child.
  const std::string script =
      cmd + " & pid=$!; "
      "for i in $(seq 300); do [ -f " + out + "/train.jsonl ] && [ $(wc -l < " + out + "/train.jsonl) -ge 4 ] && break; "
      "sleep 0.05; done; "
      "launcher=$(pgrep -P $pid); kill -TERM $(pgrep -P $launcher | tail -n 1); wait $pid; echo \"exit=$?\"";
  std::string log;
  run_command("bash -c '" + script + "'", &log);
  INFO(log);
  REQUIRE(log.find("exit=143") != std::string::npos);
  const LoadedCheckpoint ck = load_checkpoint(out + "/checkpoint.safetensors", Device::cpu());
  REQUIRE(ck.state.step > 0);
  REQUIRE(ck.state.step < 2000);
  // An agreement point: a log point or an epoch's end.
  REQUIRE((ck.state.step % 4 == 0 || ck.state.step % 5 == 0));
  REQUIRE(!test::has_tmp_files(dir));
  // It resumes (one more step on one process).
  REQUIRE(run_command(train_cmd(out) + " --epochs 400 --resume auto --max-steps 1", &log) == 0);
  REQUIRE(load_checkpoint(out + "/checkpoint.safetensors", Device::cpu()).state.step == ck.state.step + 1);
  fs::remove_all(dir);
}

TEST_CASE(
    "ranks resumed from checkpoints that differ in their unscored epoch are refused in words") {
  const std::string run1 = mpirun(1);
  const std::string dir = test::temp_dir("mpi_unscored");
  {
    set_log_level(LogLevel::Quiet);
    TrainOptions part = tiny(dir + "/part");
    part.val = {std::string(VDSR_SOURCE_DIR) + "/samples"};
    REQUIRE(test::train_stopped_at(part, 10, SIGINT).stopped_by_signal == SIGINT);
    set_log_level(LogLevel::Normal);
  }
  SafeTensors st = read_safetensors(dir + "/part/checkpoint.safetensors");
  REQUIRE(st.metadata.count("state.epoch_record") == 1);
  write_safetensors(dir + "/a.safetensors", st);
  st.metadata.erase("state.epoch_record");
  write_safetensors(dir + "/b.safetensors", st);
  const std::string cmd = bin("vdsr_train") + " -q -g -1 --out " + dir + "/run --resume ";
  std::string log;
  CHECK(run_command(run1 + cmd + dir + "/a.safetensors : -np 1 " + cmd + dir + "/b.safetensors",
                    &log) != 0);
  INFO(log);
  CHECK(log.find("the checkpoint's unscored epoch") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("a --batch that does not divide by the ranks is refused, naming the flag") {
  const std::string run2 = mpirun(2);
  const std::string dir = test::temp_dir("mpi_batch");
  std::string log;
  REQUIRE(run_command(run2 + train_cmd(dir + "/run") + " --batch 5", &log) != 0);
  REQUIRE_THAT(log, Catch::Contains("--batch 5 is the global batch and must divide by the number of processes (2)"));
  fs::remove_all(dir);
}

TEST_CASE("ranks started unlike are refused at the start in words and only rank 0 speaks") {
  const std::string run1 = mpirun(1), run2 = mpirun(2);
  const std::string dir = test::temp_dir("mpi_unlike");
  std::string log;
  // Another --epochs on one rank would leave the other waiting in a collective for ever; -v (in
  // place of -q) on the second rank does not make it print.
  std::string verbose = train_cmd(dir + "/a");
  verbose.replace(verbose.find(" -q "), 4, " -v ");
  REQUIRE(
      run_command(run1 + train_cmd(dir + "/a") + " --epochs 3 : -np 1 " + verbose + " --epochs 4",
                  &log) != 0);
  INFO(log);
  CHECK_THAT(log, Catch::Contains(
                      "the ranks were not started alike; they differ in epochs (this rank: 3)"));
  CHECK_THAT(log, Catch::Contains("rank 1: error: the ranks were not started alike; they differ "
                                  "in epochs (this rank: 4)"));
  CHECK(log.find("model: ") ==
        std::string::npos);  // rank 0 has -q (kTinyTrainFlags), rank 1 errors only
  CHECK(!fs::exists(dir + "/a/checkpoint.safetensors"));
  // Training sets that differ (another image on one rank's copy): their counts name it.
  const std::string more = dir + "/more";
  fs::create_directories(more);
  for (const auto& e : fs::directory_iterator(std::string(VDSR_SOURCE_DIR) + "/samples"))
    if (e.path().extension() == ".png") fs::copy_file(e.path(), more / e.path().filename());
  fs::copy_file(more + "/butterfly_x0.5.png", more + "/another.png");
  REQUIRE(run_command(run1 + train_cmd(dir + "/b") + " : -np 1 " + bin("vdsr_train") +
                          test::kTinyTrainFlags + " --train " + more + " --out " + dir + "/b",
                      &log) != 0);
  CHECK_THAT(log, Catch::Contains("they differ in images (this rank: 4), patches (this rank: "));
  // The same counts, other pixels: the averaged gradients would hide it, the pixels' digest does
  // not.
  const std::string altered = dir + "/altered";
  fs::create_directories(altered);
  for (const auto& e : fs::directory_iterator(std::string(VDSR_SOURCE_DIR) + "/samples"))
    if (e.path().extension() == ".png") fs::copy_file(e.path(), altered / e.path().filename());
  Image img = load_image(altered + "/butterfly_x0.5.png");
  for (auto& v : img.pixels) v = uint16_t(255 - v);
  save_image(altered + "/butterfly_x0.5.png", img, ImageFormat::PNG);
  REQUIRE(run_command(run1 + train_cmd(dir + "/r") + " --epochs 1 : -np 1 " + bin("vdsr_train") +
                          test::kTinyTrainFlags + " --train " + altered + " --out " + dir +
                          "/r --epochs 1",
                      &log) != 0);
  CHECK_THAT(log,
             Catch::Contains("they differ in the training patches' pixels (this rank: digest "));
  // Another --max-steps would leave one rank waiting at the step the other stopped after.
  REQUIRE(run_command(run1 + train_cmd(dir + "/m") + " --max-steps 2 : -np 1 " +
                          train_cmd(dir + "/m") + " --max-steps 3",
                      &log) != 0);
  CHECK_THAT(log, Catch::Contains("they differ in max_steps (this rank: 2)"));
  // A step-0 checkpoint (a run of --epochs 0) that --resume auto finds in one rank's --out alone
  // (each node's own disk): a new run on the other rank, which would wait in another collective.
  REQUIRE(run_command(train_cmd(dir + "/z") + " --epochs 0", &log) == 0);
  REQUIRE(fs::exists(dir + "/z/checkpoint.safetensors"));
  REQUIRE(run_command(run1 + train_cmd(dir + "/z") + " --resume auto : -np 1 " +
                          train_cmd(dir + "/y") + " --resume auto",
                      &log) != 0);
  CHECK_THAT(log,
             Catch::Contains("they differ in whether it resumes a checkpoint (this rank: yes)"));
  CHECK_THAT(log, Catch::Contains("rank 1: error: the ranks were not started alike; they differ in "
                                  "whether it resumes a checkpoint (this rank: no)"));
  CHECK(log.find("timeout") == std::string::npos);
  // A finished run resumed on two ranks, one of them into another --out: both go the long way
  // (neither waits alone in a collective), and the weights keep the run's width and time.
  REQUIRE(run_command(train_cmd(dir + "/fin"), &log) == 0);
  const auto trained = load_weights(dir + "/fin/vdsr.safetensors").metadata;
  const std::string resume_fin =
      bin("vdsr_train") + " -g -1 --resume " + dir + "/fin/checkpoint.safetensors";
  REQUIRE(run_command(run1 + resume_fin + " : -np 1 " + resume_fin + " --out " + dir + "/fin2",
                      &log) == 0);
  CHECK_THAT(log, Catch::Contains("its weights are in " + dir + "/fin/vdsr.safetensors"));
  CHECK(log.find("trained 15 steps") == std::string::npos);
  const auto again = load_weights(dir + "/fin/vdsr.safetensors").metadata;
  CHECK(again.at("ranks") == "1");
  CHECK(std::stod(again.at("train_seconds")) <= std::stod(trained.at("train_seconds")));
  // Paths may differ: each rank its own copy of --init-from's file.
  REQUIRE(run_command(train_cmd(dir + "/w") + " --epochs 0", &log) == 0);
  fs::copy_file(dir + "/w/vdsr.safetensors", dir + "/copy.safetensors");
  REQUIRE(run_command(run1 + train_cmd(dir + "/i") + " --max-steps 1 --init-from " + dir +
                          "/w/vdsr.safetensors : -np 1 " + train_cmd(dir + "/i") +
                          " --max-steps 1 --init-from " + dir + "/copy.safetensors",
                      &log) == 0);
  // Copies of --init-from's file whose contents differ: the weights part at the start, in words.
  REQUIRE(run_command(train_cmd(dir + "/w6") + " --epochs 0 --seed 6", &log) == 0);
  REQUIRE(run_command(run1 + train_cmd(dir + "/j") + " --max-steps 1 --init-from " + dir +
                          "/w/vdsr.safetensors : -np 1 " + train_cmd(dir + "/j") +
                          " --max-steps 1 --init-from " + dir + "/w6/vdsr.safetensors",
                      &log) != 0);
  CHECK_THAT(log,
             Catch::Contains(
                 "the ranks' weights differ at step 0: they start from files with other contents"));
  CHECK(log.find("trainer.cpp") == std::string::npos);
  // One copy of --print-config and of the command line's warnings, and the rank count in the run's
  // records.
  const std::string loud = bin("vdsr_train") + std::string(test::kTinyTrainFlags).substr(3) +
                           " --train " + VDSR_SOURCE_DIR + "/samples --out " + dir + "/c";
  REQUIRE(run_command(run2 + loud + " --clip 0.5 --clip 0.4 --print-config", &log) == 0);
  CHECK(log.find("batch=") == log.rfind("batch="));
  const size_t twice = log.find("--clip is given more than once");
  CHECK(twice != std::string::npos);
  CHECK(log.find("--clip is given more than once", twice + 1) == std::string::npos);
  REQUIRE(run_command(run2 + train_cmd(dir + "/c") + " --json " + dir + "/c.json", &log) == 0);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/c.json")).at("ranks") == 2);
  CHECK(load_weights(dir + "/c/vdsr.safetensors").metadata.at("ranks") == "2");
  // A resume keeps its checkpoint's batch: the advice is the number of processes.
  REQUIRE(run_command(train_cmd(dir + "/d") + " --batch 5 --max-steps 2", &log) == 0);
  REQUIRE(run_command(run2 + bin("vdsr_train") + " -q -g -1 --out " + dir + "/d --resume auto",
                      &log) != 0);
  CHECK_THAT(
      log, Catch::Contains(
               "the checkpoint's run has --batch 5 (the global batch, which a resumed run keeps), "
               "and 2 processes cannot share it equally: resume with a number of processes that "
               "divides 5 (1, 5)"));
  // VDSR_COLLECTIVE: a mistyped value is refused even for one process; nccl where it cannot be had.
  REQUIRE(run_command("VDSR_COLLECTIVE=bogus " + train_cmd(dir + "/e"), &log) == 1);
  CHECK_THAT(log, Catch::Contains("VDSR_COLLECTIVE=bogus is not one of auto, nccl, mpi"));
  REQUIRE(run_command("VDSR_COLLECTIVE=nccl " + run2 + train_cmd(dir + "/f"), &log) != 0);
  CHECK_THAT(log, Catch::Contains("VDSR_COLLECTIVE=nccl, but the ranks train on the CPU"));
  // One process has no collective, so any valid choice is no conflict there.
  REQUIRE(run_command("VDSR_COLLECTIVE=nccl " + train_cmd(dir + "/g") + " --max-steps 1", &log) ==
          0);
  fs::remove_all(dir);
}

TEST_CASE("the launchers' variables give the ranks, and one process alone has no collective") {
  auto from = [](std::map<std::string, std::string> env) {
    return ranks_from_environment([env](const char* name) -> const char* {
      const auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
  };
  RankInfo r = from({});
  REQUIRE((r.rank == 0 && r.size == 1 && r.local_rank == 0 && r.local_size == 1 && r.source.empty()));
  r = from({{"OMPI_COMM_WORLD_RANK", "9"}, {"OMPI_COMM_WORLD_SIZE", "16"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
            {"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  REQUIRE((r.rank == 9 && r.size == 16 && r.local_rank == 1 && r.local_size == 8 && r.source == "mpirun"));
  r = from({{"SLURM_PROCID", "13"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "5"}, {"SLURM_TASKS_PER_NODE", "8(x2)"}});
  REQUIRE((r.rank == 13 && r.size == 16 && r.local_rank == 5 && r.local_size == 8 && r.source == "slurm"));
  r = from({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "3"}});
  REQUIRE((r.local_rank == 3 && r.local_size == 4));
  // srun --ntasks-per-node gives the local count itself.
  r = from({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"SLURM_NTASKS_PER_NODE", "4"}});
  REQUIRE((r.rank == 1 && r.size == 8 && r.local_rank == 1 && r.local_size == 4 && r.source == "slurm"));
  // A local count below the local rank cannot be: at least local rank + 1.
  r = from({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "3"},
            {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  REQUIRE((r.local_rank == 3 && r.local_size == 4));
  REQUIRE_THAT(test::error_of([&] { from({{"SLURM_PROCID", "x"}, {"SLURM_NTASKS", "4"}}); }),
               Catch::Contains("SLURM_PROCID='x'"));
  REQUIRE_THAT(test::error_of([&] { from({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}}); }),
               Catch::Contains("rank 4 of 4"));
  if (process_ranks().size == 1) {
    const auto c = make_collective(Device::cpu());
    REQUIRE(std::string(c->name()) == "none");
    double v[2] = {1.5, -2.0};
    c->sum(v, 2);
    REQUIRE((v[0] == 1.5 && v[1] == -2.0));
  }
}
