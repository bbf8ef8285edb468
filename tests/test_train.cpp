// The trainer (model/trainer.h, tools/vdsr_train.cpp) on tiny CPU configs: exact resume from a
// mid-epoch checkpoint (in-process and across three processes), the non-finite stop keeping the
// last good checkpoint byte for byte, atomic checkpoints, Ctrl-C writing a checkpoint that resumes
// (and cutting an epoch's validation short, which the resumed run then does), a second Ctrl-C
// during a checkpoint's write removing its temporary (tests/support/stall_fsync.cpp), the JSONL log
// and SVG curve, resume option conflicts, and --init-from (fine-tuning).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "engine/atomic_file.h"
#include "engine/buffer.h"
#include "engine/folder_lock.h"
#include "engine/log.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "io/file_plan.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "io/svg_plot.h"
#include "model/checkpoint.h"
#include "model/dataset.h"
#include "model/inference.h"
#include "model/model_files.h"
#include "model/recipes.h"
#include "model/train_log.h"
#include "model/train_validation.h"
#include "model/trainer.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;
using test::test_image;

namespace {

// A folder of a few small synthetic HR images.
std::string make_data(const std::string& dir) {
  const std::string hr = dir + "/hr";
  fs::create_directories(hr);
  save_image(hr + "/a.png", test_image(48, 40, 3, 11), ImageFormat::PNG);
  save_image(hr + "/b.png", test_image(40, 52, 1, 12), ImageFormat::PNG);
  save_image(hr + "/c.bmp", test_image(36, 36, 3, 13), ImageFormat::BMP);
  return hr;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The bit patterns of the losses and gradient norms of the step records, and the epoch losses.
std::vector<uint64_t> loss_bits(const std::string& jsonl) {
  std::vector<uint64_t> bits;
  for (const auto& r : read_jsonl(jsonl)) {
    for (const char* k : {"loss", "grad_norm"})
      if (r.contains(k)) {
        const double v = r[k].get<double>();
        uint64_t b = 0;
        std::memcpy(&b, &v, sizeof b);
        bits.push_back(b);
      }
  }
  return bits;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

struct Quiet {
  Quiet() { set_log_level(LogLevel::Quiet); }
  ~Quiet() { set_log_level(LogLevel::Normal); }
};

}  // namespace

TEST_CASE("a run stopped mid-epoch and resumed equals the uninterrupted run bit for bit") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_resume"), hr = make_data(dir);
  TrainOptions full = test::tiny_train(hr, dir + "/full");
  full.val = {hr};
  const TrainResult rf = run_training(full);
  REQUIRE(rf.finished);
  REQUIRE(rf.step == 15);

  TrainOptions part = test::tiny_train(hr, dir + "/part");
  part.val = {hr};
  part.max_steps = 7;  // epoch 2, step 2 of 5
  const TrainResult r1 = run_training(part);
  REQUIRE(r1.hit_max_steps);
  REQUIRE(!r1.finished);
  REQUIRE(r1.step == 7);
  REQUIRE(!fs::exists(dir + "/part/vdsr.safetensors"));
  const LoadedCheckpoint ck = load_checkpoint(dir + "/part/checkpoint.safetensors", Device::cpu());
  REQUIRE(ck.state.step == 7);
  REQUIRE(ck.state.epoch == 1);
  REQUIRE(ck.state.seed == 5);
  REQUIRE(ck.state.loss_count == 2);  // two logged steps of the unfinished epoch
  REQUIRE(ck.state.config.at("patch") == "12");
  REQUIRE(ck.state.config.at("epoch_iters") == "5");
  REQUIRE(ck.state.config.at("val") == hr);

  // Resume with nothing but the checkpoint: every option comes from its config.
  TrainOptions res;
  res.resume = dir + "/part/checkpoint.safetensors";
  const TrainResult r2 = run_training(res);
  REQUIRE(r2.finished);
  REQUIRE(r2.steps_this_run == 8);

  REQUIRE(loss_bits(dir + "/full/train.jsonl") == loss_bits(dir + "/part/train.jsonl"));
  REQUIRE(loss_bits(dir + "/full/train.jsonl").size() == 15 * 2 + 3);
  const VdsrWeights a = load_weights(dir + "/full/vdsr.safetensors");
  const VdsrWeights b = load_weights(dir + "/part/vdsr.safetensors");
  REQUIRE(a.config == (VdsrConfig{3, 4, true}));
  REQUIRE(a.params == b.params);
  REQUIRE(a.metadata.at("commit").size() > 0);
  REQUIRE(a.metadata.at("recipe").find("patch=12") != std::string::npos);
  const LoadedCheckpoint ca = load_checkpoint(dir + "/full/checkpoint.safetensors", Device::cpu());
  const LoadedCheckpoint cb = load_checkpoint(dir + "/part/checkpoint.safetensors", Device::cpu());
  std::vector<float> ma(size_t(ca.model->num_params())), mb(ma.size());
  copy_bytes(Device::cpu(), ma.data(), Device::cpu(), ca.model->momentum(), ma.size() * sizeof(float));
  copy_bytes(Device::cpu(), mb.data(), Device::cpu(), cb.model->momentum(), mb.size() * sizeof(float));
  REQUIRE(ma == mb);
  REQUIRE(!test::has_tmp_files(dir));
}

// The epoch records of a log without their timings (which no two runs share).
std::vector<nlohmann::json> epoch_records_of(const std::string& jsonl) {
  std::vector<nlohmann::json> out;
  for (auto r : read_jsonl(jsonl))
    if (r.at("record") == "epoch") {
      for (const char* k : {"seconds", "data_ms", "step_ms"}) r.erase(k);
      out.push_back(r);
    }
  return out;
}

TEST_CASE(
    "a stop request while an epoch validates cuts it short and the resumed run scores that epoch "
    "first") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_stop_validation"), hr = make_data(dir);
  TrainOptions full = test::tiny_train(hr, dir + "/full");
  full.val = {hr};
  const TrainResult rf = run_training(full);
  REQUIRE(rf.finished);
  const auto want = epoch_records_of(dir + "/full/train.jsonl");
  REQUIRE(want.size() == 3);
  REQUIRE(want[1].contains("val_psnr_x3"));
  // The run's loss is its last step's; its checkpoint was written before the last validation.
  const std::vector<nlohmann::json> lines_full = read_jsonl(dir + "/full/train.jsonl");
  REQUIRE(lines_full.back().at("record") == "epoch");
  CHECK(rf.loss == lines_full.rbegin()[1].at("loss").get<double>());
  const LoadedCheckpoint last =
      load_checkpoint(dir + "/full/checkpoint.safetensors", Device::cpu());
  CHECK(nlohmann::json::parse(last.state.epoch_record).at("epoch") == 3);
  CHECK(last.state.seconds <= lines_full.back().at("seconds").get<double>());
  // Resumed into another --out with no step left: the checkpoint's last loss, kept in the new one.
  TrainOptions again;
  again.resume = dir + "/full/checkpoint.safetensors";
  again.out = dir + "/again";
  const TrainResult ra = run_training(again);
  REQUIRE(ra.finished);
  CHECK(ra.steps_this_run == 0);
  CHECK(ra.loss == rf.loss);
  CHECK(load_checkpoint(dir + "/again/checkpoint.safetensors", Device::cpu()).state.last_loss ==
        rf.loss);
  // A checkpoint written before state.last_loss existed knows no loss.
  {
    const SafeTensors with = read_safetensors(dir + "/full/checkpoint.safetensors");
    SafeTensors without;
    without.metadata = with.metadata;
    without.metadata.erase("state.tensors_digest");  // nor the tensors' checksum
    for (const auto& t : with.tensors)
      if (t.first != "state.last_loss") without.tensors.push_back(t);
    write_safetensors(dir + "/older.safetensors", without);
    CHECK(std::isnan(load_checkpoint(dir + "/older.safetensors", Device::cpu()).state.last_loss));
  }

  // Stopped in the last step of epoch 2 (the step finishes, then the validation sees the request),
  // and in the last step of the run.
  for (const int64_t stop_at : {10, 15}) {
    const std::string out = dir + "/part" + std::to_string(stop_at);
    TrainOptions part = test::tiny_train(hr, out);
    part.val = {hr};
    const TrainResult r1 = test::train_stopped_at(part, stop_at, SIGINT);
    CHECK(r1.stopped_by_signal == SIGINT);
    CHECK(r1.step == stop_at);
    CHECK(!r1.finished);  // the last epoch's record is not written: no weights yet
    CHECK(!fs::exists(out + "/vdsr.safetensors"));
    CHECK(epoch_records_of(out + "/train.jsonl").size() == size_t(stop_at / 5 - 1));
    const LoadedCheckpoint ck = load_checkpoint(out + "/checkpoint.safetensors", Device::cpu());
    REQUIRE(ck.state.step == stop_at);
    const auto pending = nlohmann::json::parse(ck.state.epoch_record);
    CHECK(pending.at("epoch") == stop_at / 5);
    CHECK(!pending.contains("val_psnr_x2"));
    if (stop_at == 15) {  // every step done: the tool says what is left, and does it
      fs::copy(out, out + "_bin");
      std::string log;
      REQUIRE(
          run_command(bin("vdsr_train") + " -g -1 --resume " + out + "_bin/checkpoint.safetensors",
                      &log) == 0);
      CHECK(log.find("the checkpoint's run has done all its 3 epochs (15 steps): no step left to "
                     "train (give --epochs 4 or more to train it further)") != std::string::npos);
      CHECK(log.find("epoch 3/3") != std::string::npos);  // the validation the stop cut short
      CHECK(fs::exists(out + "_bin/vdsr.safetensors"));
    }

    TrainOptions res;
    res.resume = out + "/checkpoint.safetensors";
    const TrainResult r2 = run_training(res);
    REQUIRE(r2.finished);
    CHECK(r2.loss == rf.loss);  // the last loss read back, though the last resume may take no step
    CHECK(epoch_records_of(out + "/train.jsonl") == want);
    CHECK(loss_bits(out + "/train.jsonl") == loss_bits(dir + "/full/train.jsonl"));
    const VdsrWeights a = load_weights(dir + "/full/vdsr.safetensors");
    const VdsrWeights b = load_weights(out + "/vdsr.safetensors");
    CHECK(a.params == b.params);
    CHECK(b.metadata.at("final_val_psnr_x2") == a.metadata.at("final_val_psnr_x2"));
  }

  // The checkpoint is written before its epoch's record, so a finished run's still holds the last
  // one unscored: a run extended from it does not write that record twice.
  TrainOptions more;
  more.resume = dir + "/full/checkpoint.safetensors";
  more.epochs = 4;
  more.given.insert("--epochs");
  REQUIRE(run_training(more).finished);
  std::vector<int64_t> epochs;
  for (const auto& r : epoch_records_of(dir + "/full/train.jsonl"))
    epochs.push_back(r.at("epoch").get<int64_t>());
  CHECK(epochs == std::vector<int64_t>{1, 2, 3, 4});

  // The run's time: an epoch's checkpoint is written before its validation, and its record after
  // it, so a run resumed there (--max-steps at an epoch's end) counts on from the record's time.
  TrainOptions slot = test::tiny_train(hr, dir + "/slot");
  slot.val = {hr};
  slot.max_steps = 5;
  REQUIRE(run_training(slot).hit_max_steps);
  std::vector<nlohmann::json> lines = read_jsonl(dir + "/slot/train.jsonl");
  REQUIRE(lines.back().at("record") == "epoch");
  lines.back()["seconds"] = 1000.0;  // a validation that took long
  {
    std::ofstream rewrite(dir + "/slot/train.jsonl");
    for (const auto& r : lines) rewrite << r.dump() << "\n";
  }
  TrainOptions slot2;
  slot2.resume = dir + "/slot/checkpoint.safetensors";
  REQUIRE(run_training(slot2).finished);
  lines = read_jsonl(dir + "/slot/train.jsonl");
  REQUIRE(lines.size() == 6 + 10 + 2);  // the first process's 5 steps and epoch, then the rest
  for (size_t i = 6; i < lines.size(); ++i) CHECK(lines[i].at("seconds").get<double>() >= 1000.0);
  CHECK(std::stod(load_weights(dir + "/slot/vdsr.safetensors").metadata.at("train_seconds")) >=
        1000.0);

  // A record of another epoch, or without one of its numbers, is the file's fault, said in words.
  SafeTensors st = read_safetensors(dir + "/part10/checkpoint.safetensors");
  const std::string fields = "\"record\": \"epoch\", \"lr\": 0.01, \"data_ms\": 1, \"step_ms\": 1";
  for (const std::string& bad :
       std::vector<std::string>{"{\"epoch\": 2}", "not json", "{\"epoch\": 2, \"step\": 10}",
                                "{\"epoch\": 3, \"step\": 15, \"loss\": \"x\", " + fields + "}",
                                "{\"epoch\": 3, \"step\": 15, " + fields + "}"}) {
    st.metadata["state.epoch_record"] = bad;
    write_safetensors(dir + "/edited.safetensors", st);
    TrainOptions edited;
    edited.resume = dir + "/edited.safetensors";
    edited.out = dir + "/edited";
    CHECK_THROWS_WITH(
        run_training(edited),
        Catch::Contains(
            "the checkpoint's unscored epoch record (state.epoch_record) is not the record of "
            "the epoch it ends (the file is damaged or was edited)"));
  }
  // The real record (epoch 3 at step 15) wrong in one respect only, each refused; itself resumed.
  st = read_safetensors(dir + "/part10/checkpoint.safetensors");
  const nlohmann::json good = nlohmann::json::parse(st.metadata.at("state.epoch_record"));
  REQUIRE(good.at("epoch") == 3);
  std::vector<nlohmann::json> one_wrong(4, good);
  one_wrong[0]["epoch"] = 2;
  one_wrong[1]["step"] = 10;
  one_wrong[2].erase("lr");
  one_wrong[3]["clip_bound_fraction"] = "x";
  // A mid-epoch checkpoint (step 7) given a record of its own step: no epoch ends there.
  TrainOptions mid = test::tiny_train(hr, dir + "/mid");
  mid.max_steps = 7;
  REQUIRE(run_training(mid).hit_max_steps);
  SafeTensors mid_st = read_safetensors(dir + "/mid/checkpoint.safetensors");
  nlohmann::json at7 = good;
  at7["epoch"] = 1;
  at7["step"] = 7;
  for (size_t i = 0; i <= one_wrong.size(); ++i) {
    const bool at_mid = i == one_wrong.size();
    SafeTensors edited_st = at_mid ? mid_st : st;
    edited_st.metadata["state.epoch_record"] = (at_mid ? at7 : one_wrong[i]).dump();
    INFO(edited_st.metadata["state.epoch_record"]);
    write_safetensors(dir + "/one_wrong.safetensors", edited_st);
    TrainOptions edited;
    edited.resume = dir + "/one_wrong.safetensors";
    edited.out = dir + "/one_wrong" + std::to_string(i);
    CHECK_THROWS_WITH(run_training(edited),
                      Catch::Contains("is not the record of the epoch it ends"));
  }
  write_safetensors(dir + "/unedited.safetensors", st);
  TrainOptions unedited;
  unedited.resume = dir + "/unedited.safetensors";
  unedited.out = dir + "/unedited";
  CHECK(run_training(unedited).finished);
  fs::remove_all(dir);
}

TEST_CASE("the JSONL log parses line by line and the SVG curve has one polyline per series") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_log"), hr = make_data(dir);
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  o.val = {hr};
  o.log_every = 2;
  run_training(o);
  int steps = 0, epochs = 0;
  std::map<int, std::vector<double>> step_losses;  // by epoch
  for (const auto& r : read_jsonl(dir + "/run/train.jsonl")) {
    REQUIRE(std::isfinite(r.at("loss").get<double>()));
    REQUIRE(r.at("seconds").get<double>() >= 0);
    if (r.at("record") == "step") {
      ++steps;
      step_losses[r.at("epoch").get<int>()].push_back(r.at("loss").get<double>());
      REQUIRE(r.at("step").get<int>() % 2 == 0);
      REQUIRE(r.contains("grad_norm"));
      REQUIRE(r.contains("lr"));
      REQUIRE(r.at("epoch").get<int>() >= 1);
    } else {
      ++epochs;
      REQUIRE(r.at("record") == "epoch");
      REQUIRE(r.at("step").get<int>() == 5 * r.at("epoch").get<int>());
      REQUIRE(r.at("val").at("hr").at("x2") == r.at("val_psnr_x2"));
      REQUIRE(r.at("data_ms").get<double>() >= 0);
      REQUIRE(r.at("step_ms").get<double>() > 0);
      // lr: 0.01 in epochs 1-2, 0.001 in epoch 3 (--lr-step 2)
      REQUIRE(r.at("lr").get<double>() == (r.at("epoch").get<int>() <= 2 ? 0.01 : 0.01 * 0.1));
      // The epoch's loss is the mean of its logged steps' (2, 3 and 2 of them: steps 2 4 | 6 8 10 | 12 14).
      const std::vector<double>& ls = step_losses[r.at("epoch").get<int>()];
      REQUIRE(ls.size() == (r.at("epoch").get<int>() == 2 ? 3u : 2u));
      double sum = 0;
      for (const double l : ls) sum += l;
      CHECK(r.at("loss").get<double>() == Approx(sum / double(ls.size())).epsilon(1e-12));
    }
  }
  REQUIRE(steps == 7);  // steps 2, 4, ..., 14
  REQUIRE(epochs == 3);
  // The last epoch's validation is the evaluation protocol run on the final weights.
  const VdsrWeights w = load_weights(dir + "/run/vdsr.safetensors");
  Vdsr model(w.config);
  model.set_params(w.params);
  const auto last = read_jsonl(dir + "/run/train.jsonl").back();
  for (const int s : {2, 3}) {
    double sum = 0;
    int n = 0;
    for (const auto& f : list_image_files(hr, "validation set")) {
      const EvalSample sm = make_eval_sample(load_image(f), s, f);
      sum += score_output(run_model(model, sm.input), sm.hr, s).psnr;
      ++n;
    }
    CHECK(last.at("val_psnr_x" + std::to_string(s)).get<double>() == sum / n);
  }
  const std::string svg = test::file_bytes(dir + "/run/curve.svg");
  REQUIRE(svg.find("<svg") != std::string::npos);
  REQUIRE(svg.find("</svg>") != std::string::npos);
  REQUIRE(count_of(svg, "<polyline") == 3);  // loss, val x2, val x3
  // Each point at its record's epoch, in both panels.
  const auto panels = curve_panels(trim_log(dir + "/run/train.jsonl", 15), {2, 3});
  REQUIRE(panels.size() == 2);
  const std::vector<double> epoch_x = {1, 2, 3};
  CHECK(panels[0].series.at(0).x == epoch_x);
  CHECK(panels[1].series.at(0).x == epoch_x);
  CHECK(panels[1].series.at(1).x == epoch_x);
  CHECK(panels[0].series.at(0).y.at(2) == last.at("loss").get<double>());
  // Both panels count whole epochs: epochs 1 to 3 (x 0.9..3.1) would tick every 0.5 otherwise.
  CHECK(panels[0].integer_x);
  CHECK(panels[1].integer_x);
  CHECK(svg.find("text-anchor=\"middle\">1.5</text>") == std::string::npos);
  CHECK(svg.find("text-anchor=\"middle\">2</text>") != std::string::npos);
}

// A run of tiny_train at the normal log level with a plain progress line after every step
// (hidden; started by the test below, stderr no terminal).
TEST_CASE("one training run with plain progress lines", "[.train_progress_child]") {
  const std::string dir = test::temp_dir("train_progress_child"), hr = make_data(dir);
  set_plain_progress_interval(0);
  run_training(test::tiny_train(hr, dir + "/run"));
}

TEST_CASE(
    "vdsr_train's progress line names the epoch, the last logged loss at its step and the lr") {
  std::string log;
  REQUIRE(run_command(bin("test_train") + " '[.train_progress_child]'", &log) == 0);
  INFO(log);
  // 3 epochs of 5 steps of 4 patches, a log point every step: the label, then the live count.
  CHECK(std::regex_search(
      log, std::regex("epoch 1/3  loss [0-9.e+-]+ at step 1/15  lr [0-9.e+-]+  4/60  ")));
  CHECK(std::regex_search(
      log, std::regex("epoch 3/3  loss [0-9.e+-]+ at step 14/15  lr [0-9.e+-]+  56/60  ")));
}

TEST_CASE("trim_log keeps the records up to the checkpoint's step and drops later ones and a torn line") {
  const std::string dir = test::temp_dir("trim_log"), path = dir + "/train.jsonl";
  const auto write = [&](const std::string& text) { std::ofstream(path, std::ios::binary) << text; };
  const auto read = [&] { return test::file_bytes(path); };
  const std::string s2 = R"({"step":2,"loss":1.5})", s4 = R"({"record":"epoch","epoch":0,"step":4,"loss":1.2})",
                    s6 = R"({"step":6,"loss":1.1})", s8 = R"({"record":"epoch","epoch":1,"step":8,"loss":1.0})";
  write(s2 + "\n" + s4 + "\n" + s6 + "\n" + s8 + "\n" + R"({"step":)");
  const auto epochs = trim_log(path, 4);
  CHECK(read() == s2 + "\n" + s4 + "\n");
  REQUIRE(epochs.size() == 1);
  CHECK(epochs.begin()->first == 0);
  // Only a torn last line past the checkpoint: it goes too.
  write(s2 + "\n" + s4 + "\n" + R"({"st)");
  trim_log(path, 4);
  CHECK(read() == s2 + "\n" + s4 + "\n");
  // Nothing past the checkpoint: the file is left as it was, byte for byte.
  write(s2 + "\n" + s4 + "\n");
  trim_log(path, 8);
  CHECK(read() == s2 + "\n" + s4 + "\n");
}

TEST_CASE("svg_line_chart places the points in the padded ranges, y up, and escapes the text") {
  SvgPanel panel;
  panel.title = "loss <x2> & \"val\"";
  panel.series.push_back({"a&b", {0, 10}, {0, 10}, ""});
  const std::string svg = svg_line_chart({panel});  // 720 x 300
  // Plot area x 70..700, y 30..255; both ranges 0..10 padded by 5 % to -0.5..10.5:
  // x = 70 + (v + 0.5) / 11 * 630, y = 255 - (v + 0.5) / 11 * 225, printed to one decimal.
  CHECK(svg.find("points=\"98.6,244.8 671.4,40.2\"") != std::string::npos);
  CHECK(svg.find(">loss &lt;x2&gt; &amp; &quot;val&quot;</text>") != std::string::npos);
  CHECK(svg.find("<title>a&amp;b</title>") != std::string::npos);
  CHECK(svg.find("a&b") == std::string::npos);
  // Epochs 1 and 2 (x 0.95..2.05): steps of 0.2, or with integer_x whole epochs only.
  SvgPanel epochs;
  epochs.series.push_back({"loss", {1, 2}, {5, 3}, ""});
  CHECK(svg_line_chart({epochs}).find("text-anchor=\"middle\">1.2</text>") != std::string::npos);
  epochs.integer_x = true;
  const std::string whole = svg_line_chart({epochs});
  CHECK(whole.find("text-anchor=\"middle\">1.2</text>") == std::string::npos);
  CHECK(whole.find("text-anchor=\"middle\">1</text>") != std::string::npos);
  CHECK(whole.find("text-anchor=\"middle\">2</text>") != std::string::npos);
  // No tick between whole numbers at all (not 1.5 either), though the plain step is 0.2.
  for (size_t at = whole.find("text-anchor=\"middle\">"); at != std::string::npos;
       at = whole.find("text-anchor=\"middle\">", at + 1)) {
    const size_t from = at + std::string("text-anchor=\"middle\">").size();
    const std::string tick = whole.substr(from, whole.find('<', from) - from);
    INFO(tick);
    CHECK(tick.find('.') == std::string::npos);
  }
}

TEST_CASE("a long run goes on across three vdsr_train processes with nothing lost") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_3proc"), hr = make_data(dir);
  run_training(test::tiny_train(hr, dir + "/ref"));
  const std::string cmd = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/run";
  std::string log;
  // --resume auto from the first: with no checkpoint yet, a new run, which it says.
  std::string first = cmd;
  first.erase(first.find(" -q "), 3);
  REQUIRE(run_command(first + " --resume auto --max-steps 6", &log) == 0);
  INFO(log);
  CHECK(log.find("no checkpoint in " + dir + "/run: starting a new run") != std::string::npos);
  REQUIRE(!fs::exists(dir + "/run/vdsr.safetensors"));
  // The same command line each time, as a job script in short GPU slots would run it.
  REQUIRE(run_command(cmd + " --resume auto --max-steps 6", &log) == 0);
  REQUIRE(load_checkpoint(dir + "/run/checkpoint.safetensors", Device::cpu()).state.step == 12);
  REQUIRE(run_command(first + " --resume auto --max-steps 6", &log) == 0);
  CHECK(log.find("trained 15 steps in ") != std::string::npos);
  CHECK(log.find(" (steps 13-15 in this process); weights in " + dir + "/run/vdsr.safetensors") !=
        std::string::npos);
  REQUIRE(load_weights(dir + "/run/vdsr.safetensors").params == load_weights(dir + "/ref/vdsr.safetensors").params);
  REQUIRE(loss_bits(dir + "/run/train.jsonl") == loss_bits(dir + "/ref/train.jsonl"));
  REQUIRE(!test::has_tmp_files(dir));
}

TEST_CASE("a non-finite loss stops training, names the step and keeps the last good checkpoint") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_nan"), hr = make_data(dir);
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  o.epochs = 1;
  run_training(o);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  const auto before = test::file_bytes(ckpt);
  const auto weights_before = test::file_bytes(dir + "/run/vdsr.safetensors");  // of the 1-epoch run

  SECTION("in-process, weights poisoned before step 8") {
    TrainOptions r;
    r.resume = ckpt;
    r.epochs = 3;
    r.given = {"--epochs"};
    TrainHooks hooks;
    hooks.before_step = [](Vdsr& m, int64_t step) {
      if (step == 7) m.params()[0] = std::numeric_limits<float>::quiet_NaN();
    };
    REQUIRE_THROWS_WITH(run_training(r, hooks), Catch::Contains("not finite at step 8") &&
                                                    Catch::Contains("checkpoint.safetensors is kept"));
  }
  SECTION("the binary, with a learning rate that blows up") {
    std::string log;
    const std::string cmd = bin("vdsr_train") +
                            " -g -1 --depth 3 --channels 4 --patch 12 --stride 12 --batch 4 --epoch-iters 1"
                            " --scales 2 --lr 1e30 --clip-mode none --train " + hr + " --out " + dir + "/big";
    REQUIRE(run_command(cmd + " --epochs 1", &log) == 0);
    const auto big_before = test::file_bytes(dir + "/big/checkpoint.safetensors");
    const auto big_weights = test::file_bytes(dir + "/big/vdsr.safetensors");  // of the 1-epoch run
    REQUIRE(run_command(cmd + " --epochs 4 --resume auto --json " + dir + "/big.json", &log) == 1);
    INFO(log);
    REQUIRE(log.find("not finite at step 2 ") != std::string::npos);
    CHECK(log.find("Try a smaller --lr or clipping (--clip-mode)") !=
          std::string::npos);  // none set
    // --json says so too, for a sweep's script: not finished, the step, the last good checkpoint.
    std::ifstream js(dir + "/big.json");
    const auto summary = nlohmann::json::parse(js);
    CHECK(summary.at("finished") == false);
    CHECK(summary.at("nonfinite_step") == 2);
    CHECK(summary.at("loss").is_null());
    CHECK(summary.at("weights") == "");
    CHECK(summary.at("checkpoint") == dir + "/big/checkpoint.safetensors");
    CHECK(summary.at("error").get<std::string>().find("not finite at step 2 ") !=
          std::string::npos);
    // The last epoch scored (the first run's, read back from its log), as a finished run gives it.
    CHECK(summary.at("last_epoch").at("epoch") == 1);
    REQUIRE(test::file_bytes(dir + "/big/checkpoint.safetensors") == big_before);
    REQUIRE(test::file_bytes(dir + "/big/vdsr.safetensors") == big_weights);
    // Resumed from a copy (a node's own) into the --out that holds the run: that checkpoint, of an
    // earlier process, is still the last good one, and --json names it.
    fs::copy_file(dir + "/big/checkpoint.safetensors", dir + "/copy.safetensors");
    REQUIRE(run_command(cmd + " --epochs 4 --resume " + dir + "/copy.safetensors --json " + dir +
                            "/copy.json",
                        &log) == 1);
    CHECK(log.find("the last good checkpoint " + dir + "/big/checkpoint.safetensors is kept") !=
          std::string::npos);
    CHECK(nlohmann::json::parse(std::ifstream(dir + "/copy.json")).at("checkpoint") ==
          dir + "/big/checkpoint.safetensors");
    REQUIRE(test::file_bytes(dir + "/big/checkpoint.safetensors") == big_before);
  }
  REQUIRE(test::file_bytes(ckpt) == before);
  REQUIRE(test::file_bytes(dir + "/run/vdsr.safetensors") == weights_before);
  REQUIRE(!test::has_tmp_files(dir));
}

TEST_CASE("resume refuses recipe options that differ from the checkpoint and names them") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_conflict"), hr = make_data(dir);
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  o.max_steps = 3;
  run_training(o);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  TrainOptions r = test::tiny_train(hr, "");
  r.resume = ckpt;
  r.data.patch = 16;
  r.seed = 6;
  r.given = {"--patch", "--seed", "--batch"};  // --batch given with the checkpoint's value: fine
  REQUIRE_THROWS_WITH(run_training(r), Catch::Contains("--patch (patch 16, the checkpoint has 12)") &&
                                           Catch::Contains("--seed (seed 6, the checkpoint has 5)") &&
                                           !Catch::Contains("--batch"));
  // The same through the binary.
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + ckpt + " --epoch-iters 7 --max-steps 1", &log) == 1);
  REQUIRE(log.find("--epoch-iters (epoch_iters 7, the checkpoint has 5)") != std::string::npos);
  // A new run into a folder that holds one is refused; run options may change on resume.
  REQUIRE_THROWS_WITH(run_training(test::tiny_train(hr, dir + "/run")), Catch::Contains("--resume"));
  TrainOptions ok;
  ok.resume = ckpt;
  ok.epochs = 1;
  ok.given = {"--epochs"};
  const TrainResult res = run_training(ok);
  REQUIRE(res.finished);
  REQUIRE(res.step == 5);
}

TEST_CASE("resume keeps the checkpoint's precision where --precision is left out, fp32 on the CPU") {
  // The merge: a run option, taken when not given, free to change when given.
  TrainOptions o;
  merge_checkpoint_config(o, {{"precision", "bf16"}});
  CHECK(o.precision == "bf16");
  TrainOptions g;
  g.precision = "fp32";
  g.given = {"--precision"};
  merge_checkpoint_config(g, {{"precision", "bf16"}});
  CHECK(g.precision == "fp32");
  CHECK(train_config_record(o).at("precision") == "bf16");
  // A bf16 run's checkpoint resumed on the CPU goes on in fp32 and says so.
  const std::string dir = test::temp_dir("train_precision"), hr = make_data(dir);
  TrainOptions first = test::tiny_train(hr, dir + "/run");
  first.max_steps = 2;
  {
    Quiet quiet;
    run_training(first);
  }
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  for (const char* mode : {"bf16", "tf32"}) {  // every GPU mode, not only bf16
    INFO(mode);
    LoadedCheckpoint ck = load_checkpoint(ckpt, Device::cpu());
    ck.state.config["precision"] = mode;
    save_checkpoint(ckpt, *ck.model, ck.state);
    std::string log;
    REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + ckpt + " --max-steps 1", &log) == 0);
    INFO(log);
    CHECK(log.find(std::string("the checkpoint's run computed in ") + mode + "; the CPU computes in fp32 only") !=
          std::string::npos);
    CHECK(log.find("on cpu in fp32") != std::string::npos);  // the model line: the run went on in fp32
  }
}

TEST_CASE("a run removes the checkpoint temporaries of this host's dead processes from --out") {
  const std::string dir = test::temp_dir("train_stale"), hr = make_data(dir);
  fs::create_directories(dir + "/run");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  REQUIRE(waitpid(dead, nullptr, 0) == dead);
  const std::string stale = dir + "/run/checkpoint.safetensors.tmp." + temporary_host_tag() + "." +
                            std::to_string(dead) + ".0";
  const std::string other = dir + "/run/checkpoint.safetensors.tmp.some-other-host." + std::to_string(dead) + ".0";
  // Of a temporary's shape, but not of a file the run writes: a user's.
  const std::string users = dir + "/run/notes.txt.tmp." + temporary_host_tag() + "." + std::to_string(dead) + ".0";
  // Each of the run's own four files.
  std::vector<std::string> ours;
  for (const char* name : {"train.jsonl", "curve.svg", "vdsr.safetensors"})
    ours.push_back(dir + "/run/" + name + ".tmp." + temporary_host_tag() + "." +
                   std::to_string(dead) + ".0");
  for (const auto& f : ours) std::ofstream(f) << "partial";
  for (const auto& f : {stale, other, users}) std::ofstream(f) << "partial";
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  o.max_steps = 1;
  {
    Quiet quiet;
    run_training(o);
  }
  CHECK_FALSE(fs::exists(stale));
  for (const auto& f : ours) CHECK_FALSE(fs::exists(f));
  CHECK(fs::exists(other));  // another host's process may be writing it now
  CHECK(fs::exists(users));
}

TEST_CASE("Ctrl-C writes a checkpoint, exits 130, and the run resumes from it") {
  const std::string dir = test::temp_dir("train_sigint"), hr = make_data(dir), out = dir + "/run";
  const std::string ckpt = out + "/checkpoint.safetensors";
  std::vector<std::string> args = {bin("vdsr_train"), "-g", "-1", "--train", hr, "--out", out,
                                   "--depth", "5", "--channels", "8", "--patch", "24", "--stride", "12",
                                   "--batch", "8", "--epoch-iters", "20", "--epochs", "100000",
                                   "--scales", "2", "--lr", "0.01", "--log-every", "5"};
  const pid_t pid = test::spawn(args, dir + "/child.log");
  REQUIRE(pid >= 0);
  // Wait until three distinct checkpoints (epoch ends) have been seen; every one read while the
  // trainer keeps replacing it must parse whole.
  const auto t0 = std::chrono::steady_clock::now();
  std::set<int64_t> steps_seen;
  bool logged = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::ifstream jl(out + "/train.jsonl");
    std::string line;
    if (!logged && std::getline(jl, line) && !line.empty()) logged = true;
    if (fs::exists(ckpt)) {
      REQUIRE_NOTHROW(read_safetensors(ckpt));
      steps_seen.insert(load_checkpoint(ckpt, Device::cpu()).state.step);
    }
    if (logged && steps_seen.size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(steps_seen.size() >= 3);
  if (!logged) {
    kill(pid, SIGKILL);  // do not leave a 100000-epoch run behind a failed test
    waitpid(pid, nullptr, 0);
  }
  REQUIRE(logged);
  kill(pid, SIGINT);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  const std::string child_log = test::file_bytes(dir + "/child.log");
  INFO(child_log);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 130);
  REQUIRE(child_log.find("stopped by signal 2") != std::string::npos);
  REQUIRE(child_log.find(ckpt) != std::string::npos);
  const LoadedCheckpoint ck = load_checkpoint(ckpt, Device::cpu());
  REQUIRE(ck.state.step > 0);
  REQUIRE(!test::has_tmp_files(out));
  // Finish the epoch in progress (run options such as --epochs may change on resume).
  std::string log;
  const int64_t epochs = ck.state.epoch + 1;
  REQUIRE(run_command(bin("vdsr_train") + " -q --resume " + ckpt + " --epochs " + std::to_string(epochs), &log) == 0);
  INFO(log);
  REQUIRE(fs::exists(out + "/vdsr.safetensors"));
  REQUIRE(load_checkpoint(ckpt, Device::cpu()).state.step == epochs * 20);
}

TEST_CASE(
    "a second Ctrl-C while a checkpoint is written ends vdsr_train at once and removes the "
    "temporary, and so does a Ctrl-C after a SIGTERM") {
  for (const int first : {SIGINT, SIGTERM}) {
    INFO("first signal " << first);
    const std::string dir = test::temp_dir("train_sigint_twice"), hr = make_data(dir),
                      out = dir + "/run";
    const std::string mark = dir + "/stalled";
    std::vector<std::string> args = {bin("vdsr_train"), "-g", "-1", "--train", hr, "--out", out};
    for (const char* a :
         {"--depth", "5", "--channels", "8", "--patch", "24", "--stride", "12", "--batch", "8",
          "--epoch-iters", "5", "--epochs", "100000", "--scales", "2"})
      args.push_back(a);
    // The first checkpoint's fsync stalls (30 s) with its temporary half written.
    const pid_t pid = test::spawn(args, dir + "/child.log",
                                  test::stall_fsync_env("checkpoint.safetensors.tmp.", mark));
    const bool stalled = test::wait_for_file(mark, 60);
    INFO(test::file_bytes(dir + "/child.log"));
    if (!stalled) test::wait_child(pid, 0);  // do not leave a 100000-epoch run behind a failed test
    REQUIRE(stalled);
    REQUIRE(test::has_tmp_files(out));
    // The first asks for a stop at the next step: the write goes on.
    kill(pid, first);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int status = 0;
    CHECK(waitpid(pid, &status, WNOHANG) == 0);
    // The second ends the process as SIGINT's default action would, well before the stall is over.
    kill(pid, SIGINT);
    status = test::wait_child(pid, 10);
    REQUIRE(status != -1);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGINT);
    CHECK_FALSE(test::has_tmp_files(out));
    CHECK_FALSE(fs::exists(out + "/checkpoint.safetensors"));
    fs::remove_all(dir);
  }
}

namespace {

// key=value lines of `vdsr_train ... --print-config`.
std::map<std::string, std::string> print_config(const std::string& flags, int* status = nullptr) {
  std::string out;
  const int rc = run_command(bin("vdsr_train") + " " + flags + " --print-config", &out);
  if (status != nullptr) *status = rc;
  std::map<std::string, std::string> kv;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

double number(const std::map<std::string, std::string>& kv, const std::string& key) {
  INFO(key);
  REQUIRE(kv.count(key) == 1);
  return std::stod(kv.at(key));
}

// The last epoch record of a run.
nlohmann::json last_epoch(const std::string& jsonl) {
  nlohmann::json last;
  for (const auto& r : read_jsonl(jsonl))
    if (r.at("record") == "epoch") last = r;
  return last;
}

}  // namespace

TEST_CASE("vdsr_train cosine down to the default --lr-min 0 finishes: the last step runs at a rate of 0") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_cosine_zero"), hr = make_data(dir);
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + std::string(test::kTinyTrainFlags) +
                          " --optimizer adam --lr 0.002 --lr-schedule cosine --train " + hr + " --out " + dir + "/run",
                      &log) == 0);
  INFO(log);
  std::vector<double> lrs;
  for (const auto& r : read_jsonl(dir + "/run/train.jsonl"))
    if (r.at("record") == "step") lrs.push_back(r.at("lr").get<double>());
  REQUIRE(lrs.size() >= 2);
  CHECK(lrs.front() == 0.002);
  CHECK(lrs.back() == 0.0);
  CHECK(fs::exists(dir + "/run/vdsr.safetensors"));
}

TEST_CASE("Adam with warm-up, cosine and EMA resumes bit for bit across three processes") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_adam_3proc"), hr = make_data(dir);
  const std::string flags = std::string(test::kTinyTrainFlags) +
                            " --optimizer adam --lr 0.002 --lr-schedule cosine --warmup-steps 4 --lr-min 1e-5"
                            " --ema 0.9 --clip-mode none --bias-lr-mult 0.1 --init fan-out --val " + hr +
                            " --train " + hr;
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + flags + " --out " + dir + "/ref", &log) == 0);
  INFO(log);
  const std::string cmd = bin("vdsr_train") + flags + " --out " + dir + "/run --resume auto --max-steps 6";
  for (int i = 0; i < 3; ++i) REQUIRE(run_command(cmd, &log) == 0);
  REQUIRE(loss_bits(dir + "/run/train.jsonl") == loss_bits(dir + "/ref/train.jsonl"));
  REQUIRE(loss_bits(dir + "/ref/train.jsonl").size() == 15 * 2 + 3);
  REQUIRE(last_epoch(dir + "/run/train.jsonl").at("val") == last_epoch(dir + "/ref/train.jsonl").at("val"));
  const VdsrWeights a = load_weights(dir + "/ref/vdsr.safetensors"), b = load_weights(dir + "/run/vdsr.safetensors");
  REQUIRE(a.params == b.params);
  REQUIRE(a.metadata.at("weights") == "ema 0.9");  // the fewest digits that read back
  // The lr of the step records follows the schedule: the warm-up ramp, then the cosine.
  std::vector<double> lrs;
  for (const auto& r : read_jsonl(dir + "/run/train.jsonl"))
    if (r.at("record") == "step") lrs.push_back(r.at("lr").get<double>());
  REQUIRE(lrs.size() == 15);
  CHECK(lrs[0] == Approx(0.002 / 4));
  CHECK(lrs[3] == Approx(0.002));
  CHECK(lrs[14] == Approx(1e-5));
  // The checkpoint keeps Adam's moments and the EMA beside the raw weights; the final weights are
  // the EMA, not the raw weights.
  const SafeTensors st = read_safetensors(dir + "/run/checkpoint.safetensors");
  REQUIRE(st.find("optim.second_moment.layers.0.weight") != nullptr);
  REQUIRE(st.find("optim.ema.layers.2.bias") != nullptr);
  const LoadedCheckpoint ck = load_checkpoint(dir + "/run/checkpoint.safetensors", Device::cpu());
  REQUIRE(ck.model->ema_weights().params == b.params);
  REQUIRE(ck.model->weights().params != b.params);
  // A tool given the checkpoint takes its raw weights, and says that they are not the average.
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/run/checkpoint.safetensors " + dir +
                          "/raw.safetensors",
                      &log) == 0);
  CHECK(log.find("checkpoint.safetensors: a checkpoint of a run with an EMA of the weights: its "
                 "raw weights are used") != std::string::npos);
  CHECK(load_weights(dir + "/raw.safetensors").params == ck.model->weights().params);
  // Said as a warning (the weights used are not the ones the run validated), not as a note.
  CHECK(log.find("warning: " + dir +
                 "/run/checkpoint.safetensors: a checkpoint of a run with an EMA") !=
        std::string::npos);
  REQUIRE(run_command(
              bin("vdsr_convert") + " " + dir + "/ref/vdsr.safetensors " + dir + "/avg.safetensors",
              &log) == 0);
  CHECK(log.find("EMA") == std::string::npos);
  REQUIRE(!test::has_tmp_files(dir));
}

TEST_CASE("recipes: --help, docs/training.md and the presets agree, the command line wins") {
  std::string help;
  REQUIRE(run_command(bin("vdsr_train") + " --help", &help) == 0);
  const size_t at = help.find("Recipes (--recipe NAME");
  REQUIRE(at != std::string::npos);
  const std::string block = help.substr(at);
  for (const auto& r : recipes()) REQUIRE(block.find(std::string("  ") + r.name + ": " + recipe_flags_text(r) + "\n") != std::string::npos);
  // The docs list the same block verbatim.
  REQUIRE(test::file_bytes(std::string(VDSR_SOURCE_DIR) + "/docs/training.md").find(block) != std::string::npos);

  // The defaults are the bundled recipe.
  auto defaults = print_config(""), bundled = print_config("--recipe bundled");
  REQUIRE(defaults.size() > 20);
  REQUIRE(bundled.at("recipe") == "bundled");
  bundled.erase("recipe");
  defaults.erase("recipe");
  REQUIRE(defaults == bundled);
  // A preset fills what the command line leaves out.
  const auto fast = print_config("--lr 0.001 --recipe fast --epochs 3");
  CHECK(fast.at("recipe") == "fast");
  CHECK(fast.at("optimizer") == "adam");
  CHECK(number(fast, "lr") == 0.001);
  CHECK(number(fast, "epochs") == 3);
  CHECK(fast.at("lr_schedule") == "cosine");
  CHECK(number(fast, "lr_min") == 2e-6);
  CHECK(number(fast, "warmup_steps") == 2000);
  CHECK(number(fast, "ema") == 0.999);
  CHECK(fast.at("clip_mode") == "none");
  CHECK(number(fast, "epoch_iters") == 1000);
  const auto paper = print_config("--recipe paper");
  CHECK(paper.at("clip_mode") == "value");
  CHECK(number(paper, "clip") == 1e-5);
  CHECK(paper.at("clip_scale_by_lr") == "true");
  CHECK(number(paper, "lr") == 0.1);
  CHECK(number(paper, "lr_step") == 20);
  const auto port = print_config("--recipe pytorch-port");
  CHECK(number(port, "lr") * number(port, "clip") == Approx(0.1 * 0.4 / 256 * 256));  // the port's step length
  CHECK(number(port, "weight_decay") == 1e-4 / 256);
  CHECK(port.at("bias") == "false");
  CHECK(port.at("augment") == "false");
  CHECK(port.at("init") == "fan-out");
  int status = 0;
  std::string out;
  status = run_command(bin("vdsr_train") + " --recipe nonsense --print-config", &out);
  CHECK(status == 1);
  CHECK(out.find("unknown recipe 'nonsense' (known: bundled, paper, pytorch-port, fast)") != std::string::npos);
}

TEST_CASE(
    "a resume whose checkpoint's --val set is gone says so and --no-val drops it, and a batch "
    "larger "
    "than the set and an image without patches are said") {
  const std::string dir = test::temp_dir("train_no_val"), hr = make_data(dir);
  fs::create_directories(dir + "/val");
  fs::copy_file(fs::directory_iterator(hr)->path(), dir + "/val/a.png");
  const std::string base =
      bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/run";
  std::string log;
  REQUIRE(run_command(base + " --epochs 1 --val " + dir + "/val", &log) == 0);
  fs::remove_all(dir + "/val");
  REQUIRE(run_command(base + " --epochs 2 --resume auto", &log) == 1);
  CHECK(log.find("the checkpoint's validation set '" + dir +
                 "/val' does not exist: give --val with other sets, "
                 "or --no-val") != std::string::npos);
  REQUIRE(run_command(base + " --epochs 2 --resume auto --no-val", &log) == 0);
  CHECK(load_checkpoint(dir + "/run/checkpoint.safetensors", Device::cpu()).state.step == 10);
  CHECK(run_command(base + " --print-config --no-val --val " + hr, &log) == 1);
  CHECK(log.find("--no-val and --val exclude each other") != std::string::npos);
  CHECK(run_command(base + " --print-config --val " + hr + " --no-val", &log) == 1);
  CHECK(log.find("--no-val and --val exclude each other") != std::string::npos);
  // A --val given on the command line that does not exist is the ordinary refusal, not the
  // checkpoint's, and so it is for --print-config.
  REQUIRE(run_command(base + " --epochs 3 --resume auto --val " + dir + "/gone", &log) == 1);
  CHECK(log.find("validation set '" + dir + "/gone' does not exist") != std::string::npos);
  CHECK(log.find("the checkpoint's validation set") == std::string::npos);
  CHECK(run_command(bin("vdsr_train") + " -g -1 --print-config --val " + dir + "/gone", &log) == 1);
  CHECK(log.find("validation set '" + dir + "/gone' does not exist") != std::string::npos);
  // A batch larger than the set is warned of (every batch repeats patches).
  std::string loud = base;
  loud.erase(loud.find(" -q "), 3);
  REQUIRE(run_command(loud + "2 --batch 1000 --epochs 1 --epoch-iters 1", &log) == 0);
  CHECK(log.find("--batch 1000 is larger than the training set's 528 patches: every batch holds some of them more "
                 "than once") != std::string::npos);
  REQUIRE(run_command(loud + "4 --batch 528 --epochs 1 --epoch-iters 1", &log) ==
          0);  // the whole set: fine
  CHECK(log.find("is larger than the training set") == std::string::npos);
  CHECK(log.find("trained 1 steps in ") != std::string::npos);
  CHECK(log.find("in this process") ==
        std::string::npos);  // a new run: every step is this process's
  // An image too small for any patch is said to add nothing (named with -v).
  save_image(hr + "/tiny.png", test_image(10, 10, 1, 4), ImageFormat::PNG);
  REQUIRE(run_command(loud + "3 -v --epochs 1 --epoch-iters 1", &log) == 0);
  CHECK(log.find("1 of the 4 training images give no 12x12 patch (too small; -v names them)") != std::string::npos);
  CHECK(log.find(hr + "/tiny.png (10x10) gives no 12x12 patch at any scale") != std::string::npos);
  // Without -v the count is still said, and the names are not; a narrow image by its width x
  // height.
  save_image(hr + "/tiny.png", test_image(20, 6, 1, 4), ImageFormat::PNG);
  REQUIRE(run_command(loud + "5 --epochs 1 --epoch-iters 1", &log) == 0);
  CHECK(log.find("1 of the 4 training images give no 12x12 patch (too small; -v names them)") !=
        std::string::npos);
  CHECK(log.find("gives no 12x12 patch at any scale") == std::string::npos);
  REQUIRE(run_command(loud + "6 -v --epochs 1 --epoch-iters 1", &log) == 0);
  CHECK(log.find(hr + "/tiny.png (20x6) gives no 12x12 patch at any scale") != std::string::npos);
  // So is a downscale factor that leaves every image too small (0.2 of 52 is 10), and only that
  // one.
  REQUIRE(run_command(loud + "7 --epochs 1 --epoch-iters 1 --downscales 0.5,0.2", &log) == 0);
  CHECK(log.find("warning: --downscales 0.2 shrinks every training image below a 12x12 patch: it "
                 "adds none") != std::string::npos);
  CHECK(log.find("--downscales 0.5 shrinks") == std::string::npos);
  // Every image too small: the refusal says so, with no note of a part besides.
  fs::create_directories(dir + "/small");
  save_image(dir + "/small/t.png", test_image(10, 10, 1, 4), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --patch 12 --stride 12 --epochs 1 --train " +
                          dir + "/small --out " + dir + "/small_run --downscales 0.5",
                      &log) == 1);
  CHECK(log.find("the training image gives no 12x12 patch at any scale") != std::string::npos);
  CHECK(log.find("shrinks every") == std::string::npos);  // the refusal says it all
  CHECK(log.find("of the 1 training images give no") == std::string::npos);
}

TEST_CASE(
    "options that the others leave without effect are warned of, a rate that rounds to 0 is "
    "refused") {
  const std::string model = std::string(VDSR_SOURCE_DIR) + "/model/vdsr.safetensors";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--optimizer adam --momentum 0.5",
       "--momentum has no effect: --optimizer adam has no momentum term"},
      {"--beta1 0.5", "--beta1 has no effect: it is Adam's and AdamW's, and --optimizer is sgd"},
      {"--optimizer adamw --lr-schedule cosine --lr-step 5",
       "--lr-step has no effect: it is the step schedule's, and --lr-schedule is cosine"},
      {"--lr-min 0.001",
       "--lr-min has no effect: it is the cosine schedule's end, and --lr-schedule is step"},
      {"--clip-mode none --clip-scale-by-lr",
       "--clip-scale-by-lr has no effect: --clip-mode is none"},
      {"--clip-mode none --clip 0.1", "--clip has no effect: --clip-mode is none"},
      {"--optimizer adamw --momentum 0.5",
       "--momentum has no effect: --optimizer adamw has no momentum term"},
      {"--eps 1e-6", "--eps has no effect: it is Adam's and AdamW's, and --optimizer is sgd"},
      {"--init-from " + model + " --init fan-out",
       "--init has no effect: --init-from gives the starting weights"},
      {"--no-bias --bias-lr-mult 0.1", "--bias-lr-mult has no effect: --no-bias leaves no biases"},
      {"--recipe paper --clip-mode norm",
       "--clip-mode norm keeps --recipe paper's --clip 1e-05 and --clip-scale-by-lr, which it set "
       "for its own clip "
       "mode: give --clip for this one"},
      {"--recipe fast --epochs 2",
       "--warmup-steps 2000 is not shorter than the run (2000 steps): the rate never "
       "reaches --lr 0.0002"}};
  std::string log;
  for (const auto& [flags, warning] : cases) {
    INFO(flags);
    REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config " + flags, &log) == 0);
    CHECK(log.find("warning: " + warning) != std::string::npos);
  }
  // The same options where they act: no warning.
  for (const std::string flags :
       {"--optimizer sgd --momentum 0.5", "--optimizer adam --beta1 0.5",
        "--lr-schedule cosine --lr-min 0.001", "--clip-mode norm --clip 0.1",
        "--recipe fast --epochs 3", "--recipe paper --clip-mode norm --clip 0.4",
        "--epoch-iters 0 --warmup-steps 10", "--recipe paper", "--recipe pytorch-port",
        "--recipe bundled"}) {  // an epoch of one pass: its length is not known
                                // here
    INFO(flags);
    REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config " + flags, &log) == 0);
    CHECK(log.find("warning:") == std::string::npos);
  }
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config --lr 1e-320", &log) == 1);
  CHECK(log.find("--lr 1e-320 rounds to 0 in float") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config --optimizer adam --eps 1e-320",
                      &log) == 1);
  CHECK(log.find("--eps 1e-320 rounds to 0 in float") != std::string::npos);
}

TEST_CASE("resuming with a different recipe option is refused, naming each") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_recipe_conflict"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/run";
  std::string log;
  REQUIRE(run_command(base + " --recipe fast --max-steps 2", &log) == 0);
  INFO(log);
  // On resume a preset fills in nothing (the checkpoint holds its values): only its name is
  // compared, not the options it would have set, which the command line never typed.
  REQUIRE(run_command(base + " --resume auto --recipe paper --max-steps 1", &log) == 1);
  CHECK(log.find("--recipe (recipe paper, the checkpoint has fast)") != std::string::npos);
  CHECK(log.find("--optimizer") == std::string::npos);
  CHECK(log.find("--clip-mode") == std::string::npos);
  REQUIRE(run_command(base + " --resume auto --ema 0.5 --max-steps 1", &log) == 1);
  CHECK(log.find("--ema (ema 0.5, the checkpoint has 0.999") != std::string::npos);
  // Left out, everything comes from the checkpoint: Adam and the EMA go on.
  REQUIRE(run_command(base + " --resume auto --max-steps 1", &log) == 0);
  CHECK(load_checkpoint(dir + "/run/checkpoint.safetensors", Device::cpu()).state.config.at("optimizer") == "adam");
  // A run of the defaults, which are the bundled preset, resumes under --recipe bundled (the
  // checkpoint keeps its record), and not under another preset.
  const std::string plain =
      bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/plain";
  REQUIRE(run_command(plain + " --max-steps 2", &log) == 0);
  REQUIRE(run_command(plain + " --resume auto --recipe bundled --max-steps 1", &log) == 0);
  CHECK(load_checkpoint(dir + "/plain/checkpoint.safetensors", Device::cpu())
            .state.config.at("recipe")
            .empty());
  REQUIRE(run_command(plain + " --resume auto --recipe fast --max-steps 1", &log) == 1);
  CHECK(log.find("--recipe (recipe fast, the checkpoint has none)") != std::string::npos);
  // The other way round too: a run of another preset is no run of the defaults.
  REQUIRE(run_command(base + " --resume auto --recipe bundled --max-steps 1", &log) == 1);
  CHECK(log.find("--recipe (recipe bundled, the checkpoint has fast)") != std::string::npos);
}

TEST_CASE("print-config with --resume shows the checkpoint's options and refuses a conflict") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_print_resume"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/run";
  std::string log;
  REQUIRE(run_command(base + " --recipe fast --batch 3 --max-steps 1", &log) == 0);
  INFO(log);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  // Left out, the checkpoint's: its recipe, batch, network and folders (not the defaults).
  int status = 0;
  const auto kv = print_config("-g -1 --resume " + ckpt, &status);
  CHECK(status == 0);
  CHECK(kv.at("optimizer") == "adam");
  CHECK(number(kv, "batch") == 3);
  CHECK(number(kv, "ema") == 0.999);
  const auto made = print_config(std::string(test::kTinyTrainFlags) + " --train " + hr + " --recipe fast --batch 3");
  CHECK(kv.at("depth") == made.at("depth"));
  CHECK(kv.at("channels") == made.at("channels"));
  CHECK(kv.at("train") == made.at("train"));
  CHECK(number(print_config("-g -1 --resume auto --out " + dir + "/run"), "batch") == 3);
  // A recipe option that differs: the run's error, not a table.
  std::string out;
  CHECK(run_command(bin("vdsr_train") + " -g -1 --resume " + ckpt + " --batch 5 --print-config", &out) == 1);
  CHECK(out.find("--batch (batch 5, the checkpoint has 3)") != std::string::npos);
}

TEST_CASE("a checkpoint without an option's key ran with its default: another value is refused") {
  // Written before the option existed (here: no "ema" and no "bias_lr_mult" keys).
  const std::map<std::string, std::string> old = {{"lr", "0.01"}, {"optimizer", "sgd"}};
  TrainOptions left;
  merge_checkpoint_config(left, old);
  CHECK(left.step.optim.ema == 0);
  CHECK(left.step.optim.bias_lr_mult == 1);
  TrainOptions same;
  same.given = {"--ema"};
  CHECK_NOTHROW(merge_checkpoint_config(same, old));
  TrainOptions other;
  other.step.optim.ema = 0.5;
  other.step.optim.bias_lr_mult = 3;
  other.given = {"--ema", "--bias-lr-mult"};
  REQUIRE_THROWS_WITH(merge_checkpoint_config(other, old),
                      Catch::Contains("--ema (ema 0.5, the checkpoint has 0)") &&
                          Catch::Contains("--bias-lr-mult (bias_lr_mult 3, the checkpoint has 1)"));
}

TEST_CASE("a collapsed network and a clip that sets the step are named in the epoch record") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_collapse"), hr = make_data(dir);
  TrainOptions unclipped = test::tiny_train(hr, dir + "/unclipped");
  unclipped.step.optim.clip_mode = ClipMode::None;
  run_training(unclipped);
  for (const auto& r : read_jsonl(dir + "/unclipped/train.jsonl")) CHECK(!r.contains("clip_bound_fraction"));
  // Layer 1's ReLUs all dead from the first step: no gradient reaches them again, and what follows
  // sees a constant.
  TrainOptions dead = test::tiny_train(hr, dir + "/dead");
  TrainHooks hooks;
  hooks.before_step = [](Vdsr& m, int64_t step) {
    if (step != 0) return;
    const LayerDesc& l = m.layers()[0];
    for (int k = 0; k < l.K; ++k) m.params()[l.b_offset + k] = -1000.0f;
  };
  run_training(dead, hooks);
  const auto rec = last_epoch(dir + "/dead/train.jsonl");
  REQUIRE(rec.contains("collapsed"));
  CHECK(rec.at("collapsed").get<std::string>().find("no longer depends on its input") != std::string::npos);
  // Stopped while an epoch validates (the second, and the last): the resumed run scores it, its
  // probe on the batch the uninterrupted run's saw.
  for (const int64_t stop_at : {10, 15}) {
    const std::string out = dir + "/dead_val" + std::to_string(stop_at);
    TrainOptions dead_val = test::tiny_train(hr, out);
    dead_val.val = {hr};
    REQUIRE(test::train_stopped_at(dead_val, stop_at, SIGTERM, hooks).stopped_by_signal == SIGTERM);
    REQUIRE(epoch_records_of(out + "/train.jsonl").size() == size_t(stop_at / 5 - 1));
    TrainOptions resumed;
    resumed.resume = out + "/checkpoint.safetensors";
    REQUIRE(run_training(resumed).finished);
    const auto recs = epoch_records_of(out + "/train.jsonl");
    REQUIRE(recs.size() == 3);
    for (const auto& r : recs) {
      REQUIRE(r.contains("collapsed"));
      CHECK(r.at("collapsed").get<std::string>().find("no longer depends on its input") !=
            std::string::npos);
    }
  }
  // A norm clip far below the gradient's norm binds at every logged step.
  TrainOptions clipped = test::tiny_train(hr, dir + "/clipped");
  clipped.step.clip = 1e-9;
  run_training(clipped);
  CHECK(last_epoch(dir + "/clipped/train.jsonl").at("clip_bound_fraction").get<double>() == 1.0);
}

TEST_CASE("the clip warning is given once per run while every epoch records its share") {
  const std::string dir = test::temp_dir("train_clip_once"), hr = make_data(dir);
  std::string flags = test::kTinyTrainFlags;
  flags.erase(flags.find(" -q "), 3);  // the warnings are wanted
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + flags + " --clip-mode norm --clip 1e-9 --train " + hr +
                          " --out " + dir + "/run",
                      &log) == 0);
  INFO(log);
  const std::string warning = "the clip sets the step length";
  const size_t first = log.find(warning);
  REQUIRE(first != std::string::npos);
  CHECK(log.find(warning, first + 1) == std::string::npos);
  const auto recs = epoch_records_of(dir + "/run/train.jsonl");
  REQUIRE(recs.size() == 3);
  for (const auto& r : recs) CHECK(r.at("clip_bound_fraction").get<double>() == 1.0);
  fs::remove_all(dir);
}

TEST_CASE(
    "an epoch records the clip's share only when the clip bound in more than 90 percent of its "
    "logged steps") {
  CHECK_FALSE(clip_set_the_steps(0, 0));  // no logged step: nothing to say
  CHECK_FALSE(clip_set_the_steps(9, 10));
  CHECK(clip_set_the_steps(10, 10));
  CHECK_FALSE(clip_set_the_steps(90, 100));  // exactly 90 %: not more
  CHECK(clip_set_the_steps(91, 100));
  CHECK_FALSE(clip_set_the_steps(0, 7));
  // Long runs: no overflow at a billion logged steps.
  CHECK(clip_set_the_steps(900'000'001, 1'000'000'000));
  CHECK_FALSE(clip_set_the_steps(900'000'000, 1'000'000'000));
}

TEST_CASE("the collapse probe: a constant residual is a collapse, a small input dependence and identical patches are not") {
  // depth 2, one channel, only the centre taps: y = x + w1 relu(w0 x + b0) + b1, pixel by pixel.
  Vdsr m(VdsrConfig{2, 1, true});
  const auto set = [&](float w0, float b0) {
    std::vector<float> p(size_t(m.num_params()), 0.0f);
    p[4] = w0;      // layer 0's centre tap
    p[9 + 4] = 1;   // layer 1's centre tap
    p[18] = b0;     // layer 0's bias
    p[19] = 0.25f;  // layer 1's bias
    m.set_params(p);
  };
  const int patch = 4, area = patch * patch;
  // Patch q holds 0.1 q + 0.01 i: the residual 1e-3 x + 0.25 of the healthy network moves by
  // 1e-4 between patches, a hundred times the probe's tolerance (1e-6).
  std::vector<float> x(size_t(3 * area)), same(x.size()), y(x.size());
  for (int q = 0; q < 3; ++q)
    for (int i = 0; i < area; ++i) {
      x[size_t(q * area + i)] = 0.1f * float(q) + 0.01f * float(i);
      same[size_t(q * area + i)] = 0.01f * float(i);
    }
  set(1e-3f, 0.0f);
  CHECK(collapse_reason(m, x.data(), 3, patch, y.data()).empty());
  CHECK(collapse_reason(m, x.data(), 2, patch, y.data()).empty());
  // The same patch three times says nothing about the input's influence.
  CHECK(collapse_reason(m, same.data(), 3, patch, y.data()).empty());
  // Layer 0's ReLUs all dead: the residual is layer 1's bias, 0.25, whatever the input.
  set(1e-3f, -1000.0f);
  for (const int64_t n : {3, 2}) {
    INFO(n << " patches");
    const std::string why = collapse_reason(m, x.data(), n, patch, y.data());
    CHECK_THAT(why, Catch::Contains("no longer depends on its input") && Catch::Contains("max |r| = 0.25"));
  }
  CHECK(collapse_reason(m, x.data(), 1, patch, y.data()).empty());  // one patch: nothing to compare
  CHECK(collapse_reason(m, same.data(), 3, patch, y.data()).empty());
}

TEST_CASE("at_bicubic: every scale of the first set within 0.005 dB of bicubic") {
  const std::vector<int> scales = {2, 3};
  std::vector<ValSet> val(2);
  val[0].bicubic_psnr = {30.0, 28.0};
  val[1].bicubic_psnr = {20.0, 20.0};  // another set's numbers play no part
  const auto rec = [](double x2, double x3) { return nlohmann::json{{"val_psnr_x2", x2}, {"val_psnr_x3", x3}}; };
  CHECK(at_bicubic(val, scales, rec(30.004, 27.996)));
  CHECK(at_bicubic(val, scales, rec(30.0, 28.0)));
  CHECK_FALSE(at_bicubic(val, scales, rec(30.006, 28.0)));
  CHECK_FALSE(at_bicubic(val, scales, rec(30.0, 27.99)));
  CHECK_FALSE(at_bicubic(val, scales, rec(30.2, 28.0)));
  CHECK_FALSE(at_bicubic({}, scales, rec(30.0, 28.0)));
}

TEST_CASE("validate: every set in the record, the first set's scores in val_psnr and the epoch line") {
  const std::string dir = test::temp_dir("train_two_val");
  fs::create_directories(dir + "/first");
  fs::create_directories(dir + "/second");
  save_image(dir + "/first/a.png", test_image(40, 36, 3, 21), ImageFormat::PNG);
  save_image(dir + "/second/b.png", test_image(36, 40, 1, 22), ImageFormat::PNG);
  const std::vector<int> scales = {2};
  const auto val = load_validation_sets({dir + "/first", dir + "/second/"}, scales);
  REQUIRE(val.size() == 2);
  CHECK(val[0].name == "first");
  CHECK(val[1].name == "second");
  // Named as vdsr_eval names a set (io/file_plan.h): "second/sub/.." is second; the root has no
  // name.
  fs::create_directories(dir + "/second/sub");
  CHECK(load_validation_sets({dir + "/second/sub/.."}, scales).at(0).name == "second");
  CHECK_THROWS_WITH(
      load_validation_sets({"/"}, scales),
      Catch::Contains("--val /: a set is named by its folder, and the root has no name"));
  // Two sets of one name would share the record's key: refused, as vdsr_eval refuses them.
  fs::create_directories(dir + "/other/first");
  save_image(dir + "/other/first/c.png", test_image(40, 36, 3, 23), ImageFormat::PNG);
  CHECK_THROWS_WITH(load_validation_sets({dir + "/first", dir + "/other/first"}, scales),
                    Catch::Contains("are both named 'first' (a set is named by its folder)"));
  Vdsr m(VdsrConfig{3, 4, true});
  m.init_he(2);
  nlohmann::json rec;
  const std::string text = validate(m, val, scales, rec).value();
  const double first = rec.at("val").at("first").at("x2").get<double>();
  const double second = rec.at("val").at("second").at("x2").get<double>();
  REQUIRE(first != second);
  CHECK(rec.at("val_psnr_x2").get<double>() == first);
  char want[48];
  std::snprintf(want, sizeof want, " x2 %.3f", first);
  CHECK(text == want);
  // A stop request ends it before the next image: no score in the record.
  std::atomic<int> stop{SIGINT};
  nlohmann::json cut;
  CHECK(!validate(m, val, scales, cut, &stop).has_value());
  CHECK(!cut.contains("val_psnr_x2"));
  stop = 0;
  CHECK(validate(m, val, scales, cut, &stop).has_value());
  fs::remove_all(dir);
}

namespace {

// What `f` prints on stderr (the log's lines), with descriptor 2 pointed at a file meanwhile.
std::string stderr_of(const std::string& file, const std::function<void()>& f) {
  std::fflush(stderr);
  const int saved = dup(2);
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE((saved >= 0 && fd >= 0));
  dup2(fd, 2);
  close(fd);
  try {
    f();
  } catch (...) {
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    throw;
  }
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  return test::file_bytes(file);
}

}  // namespace

TEST_CASE("the stop line says a resumed run scores the epoch first only when one is unscored") {
  const std::string dir = test::temp_dir("train_stop_line"), hr = make_data(dir);
  for (const int64_t stop_at : {10, 7}) {
    TrainOptions o = test::tiny_train(hr, dir + "/r" + std::to_string(stop_at));
    o.val = {hr};
    const std::string err =
        stderr_of(dir + "/err.txt", [&] { test::train_stopped_at(o, stop_at, SIGINT); });
    INFO(err);
    CHECK(err.find("stopped by signal 2 at step " + std::to_string(stop_at)) != std::string::npos);
    CHECK((err.find("(it scores epoch 2 first)") != std::string::npos) == (stop_at == 10));
  }
  // Without --val there is no validation to cut short: the epoch's record is written at once.
  TrainOptions o = test::tiny_train(hr, dir + "/noval");
  const std::string err =
      stderr_of(dir + "/err.txt", [&] { test::train_stopped_at(o, 10, SIGINT); });
  INFO(err);
  CHECK(err.find("stopped by signal 2 at step 10") != std::string::npos);
  CHECK(err.find("validation short") == std::string::npos);
  CHECK(err.find("scores epoch 2 first") == std::string::npos);
  CHECK(count_of(test::file_bytes(dir + "/noval/train.jsonl"), "\"record\":\"epoch\"") == 2);
  // Nor in its last step: the run is complete (its weights written, exit 0), and says so.
  TrainOptions last = test::tiny_train(hr, dir + "/last");
  TrainResult r;
  const std::string said =
      stderr_of(dir + "/err.txt", [&] { r = test::train_stopped_at(last, 15, SIGINT); });
  INFO(said);
  CHECK(r.finished);
  CHECK(r.stopped_by_signal == 0);
  CHECK(said.find("signal 2 came as the run's last step ended, with no validation left to cut "
                  "short: the run is complete") != std::string::npos);
  CHECK(fs::exists(dir + "/last/vdsr.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE(
    "a non-finite loss between log points just before --max-steps is caught and not checkpointed") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_nan_at_stop"), hr = make_data(dir);
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  o.log_every = 5;
  o.max_steps = 3;
  TrainHooks hooks;
  hooks.before_step = [](Vdsr& m, int64_t step) {
    if (step == 2) m.params()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  CHECK_THROWS_WITH(run_training(o, hooks), Catch::Contains("not finite at step 3"));
  CHECK(!fs::exists(dir + "/run/checkpoint.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE("a non-finite loss at the very first step stops a fresh run, naming step 1") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_nan_first"), hr = make_data(dir);
  TrainOptions o = test::tiny_train(hr, dir + "/run");
  TrainHooks hooks;
  hooks.before_step = [](Vdsr& m, int64_t step) {
    if (step == 0) m.params()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  REQUIRE_THROWS_WITH(run_training(o, hooks),
                      Catch::Contains("not finite at step 1 ") && Catch::Contains("no checkpoint had been written"));
  CHECK(!fs::exists(dir + "/run/vdsr.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE("Adam trains a deep, narrow network where SGD with the default recipe does not") {
  // depth 12, 8 channels, 400 steps of 16 24x24 patches of the bundled samples at x2; measured: SGD
  // (lr 0.01, norm clip 0.4) collapses to the bicubic PSNR on the samples (24.89 dB, its last
  // epoch's loss 0.967); Adam (lr 3e-3, 20 warm-up steps, cosine) reaches 25.77 dB and loss 0.839 (0.87x).
  // SGD's network sits at the edge of collapse, so which of its epochs are named collapsed, and
  // whether it ends at bicubic or a little below, depends on the last bits of the arithmetic: with
  // -march=native (VDSR_NATIVE) or a sanitizer, GCC fuses other multiply-adds, and its last epoch
  // ends 0.02 dB below bicubic, unnamed. What holds in every build: no SGD epoch beats bicubic, and
  // one of them is named collapsed.
  Quiet quiet;
  const std::string dir = test::temp_dir("train_adam_vs_sgd");
  const std::string samples = std::string(VDSR_SOURCE_DIR) + "/samples";
  auto run = [&](const std::string& name, bool adam) {
    TrainOptions o;
    o.train = o.val = {samples};
    o.out = dir + "/" + name;
    o.data.scales = {2};
    o.data.patch = 24;
    o.data.stride = 12;
    o.model = VdsrConfig{12, 8, true};
    o.batch = 16;
    o.epochs = 4;
    o.epoch_iters = 100;
    o.seed = 3;
    if (adam) {
      o.step.optim.kind = Optimizer::Adam;
      o.step.lr = 3e-3;
      o.lr_schedule = LrSchedule::Cosine;
      o.warmup_steps = 20;
      o.lr_min = 1e-5;
      o.step.optim.clip_mode = ClipMode::None;
    }
    run_training(o);
    std::vector<nlohmann::json> epochs;
    for (const auto& r : read_jsonl(o.out + "/train.jsonl"))
      if (r.at("record") == "epoch") epochs.push_back(r);
    REQUIRE(epochs.size() == 4);
    return epochs;
  };
  const auto sgd_epochs = run("sgd", false), adam_epochs = run("adam", true);
  const auto &sgd = sgd_epochs.back(), &adam = adam_epochs.back();
  INFO("SGD " << sgd.dump() << "\nAdam " << adam.dump());
  CHECK(adam.at("loss").get<double>() < 0.92 * sgd.at("loss").get<double>());
  CHECK(adam.at("val_psnr_x2").get<double>() > sgd.at("val_psnr_x2").get<double>() + 0.5);
  // SGD never learns: no epoch above bicubic, and the collapse is named; the network that learns is
  // never called collapsed.
  const double bicubic = load_validation_sets({samples}, {2}).at(0).bicubic_psnr.at(0);
  bool named = false;
  for (const auto& e : sgd_epochs) {
    INFO("SGD epoch " << e.dump() << ", bicubic " << bicubic);
    CHECK(e.at("val_psnr_x2").get<double>() < bicubic + 0.005);
    named = named || e.contains("collapsed");
  }
  CHECK(named);
  for (const auto& e : adam_epochs) CHECK(!e.contains("collapsed"));
}

TEST_CASE("resume: a model-shape conflict, --resume auto without a checkpoint, a corrupt checkpoint") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_resume_errors"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " + dir + "/run";
  std::string log;
  // --resume auto into an empty folder starts a new run.
  REQUIRE(run_command(base + " --resume auto --max-steps 2", &log) == 0);
  INFO(log);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  REQUIRE(load_checkpoint(ckpt, Device::cpu()).state.step == 2);
  // The model's shape is part of the recipe.
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + ckpt + " --depth 5 --max-steps 1", &log) == 1);
  CHECK(log.find("--depth (depth 5, the checkpoint has 3)") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + ckpt + " --channels 8 --no-bias --max-steps 1", &log) == 1);
  CHECK(log.find("--channels (channels 8, the checkpoint has 4)") != std::string::npos);
  CHECK(log.find("--no-bias (bias false, the checkpoint has true)") != std::string::npos);
  // A stored value no run writes (a damaged or edited record) is the file's fault, said with its
  // name, not a flag's the user never typed; a number too large for its option is not cut to fit.
  for (const auto& [key, value, words] : std::vector<std::array<std::string, 3>>{
           {"batch", "0", "--batch must be at least 1, got 0"},
           {"optimizer", "foo", "--optimizer must be sgd, adam or adamw, got 'foo'"},
           {"lr", "nan", "checkpoint config lr: nan is not a finite number"},
           {"batch", "4294967300", "checkpoint config batch: 4294967300 is out of range"},
           {"patch", "4294967337", "checkpoint config patch: 4294967337 is out of range"},
           {"scales", "5", "outside 2..4"}}) {
    INFO(key << " = " << value);
    LoadedCheckpoint ck = load_checkpoint(ckpt, Device::cpu());
    ck.state.config[key] = value;
    const std::string edited = dir + "/edited.safetensors";
    save_checkpoint(edited, *ck.model, ck.state);
    REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + edited + " --max-steps 1", &log) == 1);
    INFO(log);
    CHECK(log.find(edited + ": the checkpoint's stored options are not ones a run writes") != std::string::npos);
    CHECK(log.find(words) != std::string::npos);
  }
  // One byte changed on disk (the last one: a tensor's): refused as damaged, not resumed. Without
  // the checksum (an older checkpoint) the same file loads.
  {
    std::string flipped = test::file_bytes(ckpt);
    flipped.back() = char(flipped.back() ^ 0x10);
    const std::string damaged = dir + "/damaged.safetensors";
    std::ofstream(damaged, std::ios::binary) << flipped;
    REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + damaged + " --max-steps 1",
                        &log) == 1);
    CHECK(log.find(damaged + ": the file is damaged: its tensors do not match the checksum") !=
          std::string::npos);
    // Whatever reads it: as weights (vdsr_sr -m, --init-from) too.
    CHECK_THAT(test::error_of([&] { load_weights(damaged); }),
               Catch::Contains("the file is damaged"));
    SafeTensors older = read_safetensors(damaged);
    REQUIRE(older.metadata.erase("state.tensors_digest") == 1);
    write_safetensors(damaged, older);
    CHECK(load_checkpoint(damaged, Device::cpu()).state.step == 2);
  }
  // A truncated checkpoint is refused by name, and left as it is.
  std::string bytes = test::file_bytes(ckpt);
  bytes.resize(bytes.size() / 2);
  std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << bytes;
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + ckpt + " --max-steps 1", &log) == 1);
  CHECK(log.find(ckpt) != std::string::npos);
  CHECK(test::file_bytes(ckpt) == bytes);
  REQUIRE(run_command(base + " --resume auto --max-steps 1", &log) == 1);
  CHECK(log.find(ckpt) != std::string::npos);
}

TEST_CASE("refused in words: a second run into an --out in use, fewer epochs than done, a flat validation image, a broken link") {
  const std::string dir = test::temp_dir("train_refusals"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr;
  std::string log;
  // Two runs into one --out, the second started before the first's checkpoint: one runs.
  fs::create_directories(dir + "/busy");
  {
    FolderLock held(dir + "/busy");
    REQUIRE(run_command(base + " --out " + dir + "/busy --max-steps 1", &log) == 1);
    CHECK(log.find("another vdsr_train is running into --out " + dir + "/busy now") != std::string::npos);
    CHECK(!fs::exists(dir + "/busy/checkpoint.safetensors"));
  }
  REQUIRE(run_command(base + " --out " + dir + "/busy --max-steps 1", &log) == 0);
  // A run's own file in --out that is no regular file is said before the training set is built
  // (a FIFO as train.jsonl blocked the first record; `timeout` turns a hang into 124).
  fs::create_directories(dir + "/odd");
  REQUIRE(::mkfifo((dir + "/odd/train.jsonl").c_str(), 0644) == 0);
  REQUIRE(run_command("timeout 60 " + base + " --out " + dir + "/odd --max-steps 1", &log) == 1);
  CHECK(log.find("--out " + dir + "/odd: its train.jsonl is a FIFO (named pipe), not a file") !=
        std::string::npos);
  CHECK(log.find("training set:") == std::string::npos);
  CHECK(fs::is_fifo(dir + "/odd/train.jsonl"));
  // --epochs extends a run; it cannot shorten one (3 epochs of 5 steps done).
  REQUIRE(run_command(base + " --out " + dir + "/done", &log) == 0);
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir + "/done/checkpoint.safetensors --epochs 1", &log) == 1);
  CHECK(log.find("--epochs 1 ends at step 5, before the checkpoint's step 15: give --epochs 3 or more") != std::string::npos);
  // Both said before the training set is built; a complete run says what would train it further.
  const std::string resume_done =
      bin("vdsr_train") + " -g -1 --resume " + dir + "/done/checkpoint.safetensors";
  REQUIRE(run_command(resume_done + " --epochs 1", &log) == 1);
  CHECK(log.find("training set:") == std::string::npos);
  // A summary asked for is written: that run goes the whole way (training nothing) to write it.
  REQUIRE(run_command(resume_done + " --json " + dir + "/done_summary.json", &log) == 0);
  {
    std::ifstream in(dir + "/done_summary.json");
    CHECK(nlohmann::json::parse(in).at("finished") == true);
  }
  // --resume auto into an empty --out starts a new run.
  fs::create_directories(dir + "/empty_auto");
  REQUIRE(run_command(base + " --resume auto --out " + dir + "/empty_auto --max-steps 1", &log) ==
          0);
  CHECK(fs::exists(dir + "/empty_auto/checkpoint.safetensors"));
  // Its weights of that step are there: nothing is built or rewritten.
  const auto weights_time = fs::last_write_time(dir + "/done/vdsr.safetensors");
  REQUIRE(run_command(resume_done, &log) == 0);
  CHECK(log.find("the checkpoint's run has done all its 3 epochs (15 steps): no step left to train "
                 "(give --epochs 4 or more to train it further)") != std::string::npos);
  CHECK(log.find("its weights are in " + dir + "/done/vdsr.safetensors") != std::string::npos);
  CHECK(log.find("training set:") == std::string::npos);
  CHECK(fs::last_write_time(dir + "/done/vdsr.safetensors") == weights_time);
  // Without the last epoch's record in the log, the run scores that epoch and writes it.
  fs::remove(dir + "/done/train.jsonl");
  REQUIRE(run_command(resume_done, &log) == 0);
  CHECK(log.find("training set:") != std::string::npos);
  CHECK(test::file_bytes(dir + "/done/train.jsonl").find("\"record\":\"epoch\"") !=
        std::string::npos);
  // Nor when only the last epoch's record is missing: an earlier epoch's record is not the last's.
  REQUIRE(run_command(base + " --out " + dir + "/t8", &log) == 0);
  {
    std::istringstream lines(test::file_bytes(dir + "/t8/train.jsonl"));
    std::vector<std::string> kept;
    for (std::string line; std::getline(lines, line);) kept.push_back(line);
    const auto last_epoch = std::find_if(kept.rbegin(), kept.rend(), [](const std::string& l) {
      return l.find("\"record\":\"epoch\"") != std::string::npos;
    });
    REQUIRE(last_epoch != kept.rend());
    kept.erase(std::next(last_epoch).base());
    std::ofstream out(dir + "/t8/train.jsonl", std::ios::trunc);
    for (const auto& l : kept) out << l << "\n";
  }
  REQUIRE(test::file_bytes(dir + "/t8/train.jsonl").find("\"record\":\"epoch\"") !=
          std::string::npos);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir + "/t8/checkpoint.safetensors",
                      &log) == 0);
  CHECK(log.find("training set:") != std::string::npos);
  // Scoring the epoch is this process's work: its time counts, and it says so.
  CHECK(log.find("trained 15 steps in ") != std::string::npos);
  CHECK(log.find("its weights are in") == std::string::npos);
  {
    const double saved =
        load_checkpoint(dir + "/t8/checkpoint.safetensors", Device::cpu()).state.seconds;
    const auto records = read_jsonl(dir + "/t8/train.jsonl");
    CHECK(records.back().at("record") == "epoch");
    CHECK(records.back().at("seconds").get<double>() > saved);
  }
  {
    int epochs = 0;
    std::istringstream lines(test::file_bytes(dir + "/t8/train.jsonl"));
    for (std::string line; std::getline(lines, line);)
      epochs += line.find("\"record\":\"epoch\"") != std::string::npos;
    CHECK(epochs == 3);
  }
  // Weights of an earlier step of this run (a run extended from 2 epochs to 3, its 2-epoch weights
  // put back) are written anew at the last step.
  REQUIRE(run_command(base + " --epochs 2 --out " + dir + "/t5", &log) == 0);
  fs::copy_file(dir + "/t5/vdsr.safetensors", dir + "/t5_weights_at_10.safetensors");
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/t5/checkpoint.safetensors --epochs 3",
                      &log) == 0);
  fs::copy_file(dir + "/t5_weights_at_10.safetensors", dir + "/t5/vdsr.safetensors",
                fs::copy_options::overwrite_existing);
  REQUIRE(read_safetensors(dir + "/t5/vdsr.safetensors").metadata.at("steps") == "10");
  REQUIRE(
      run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir + "/t5/checkpoint.safetensors",
                  &log) == 0);
  CHECK(read_safetensors(dir + "/t5/vdsr.safetensors").metadata.at("steps") == "15");
  // Another run's weights of the same step count are not this run's: they are written anew.
  REQUIRE(run_command(base + " --seed 9 --out " + dir + "/other", &log) == 0);
  fs::copy_file(dir + "/other/vdsr.safetensors", dir + "/done/vdsr.safetensors",
                fs::copy_options::overwrite_existing);
  REQUIRE(run_command(resume_done, &log) == 0);
  CHECK(log.find("training set:") != std::string::npos);
  CHECK(read_safetensors(dir + "/done/vdsr.safetensors").metadata.at("seed") == "5");
  // Without them the run writes them again, training nothing.
  fs::remove(dir + "/done/vdsr.safetensors");
  REQUIRE(run_command(resume_done, &log) == 0);
  CHECK(log.find("3 epochs; every step done (15)") != std::string::npos);
  CHECK(log.find("resuming at step") == std::string::npos);
  CHECK(fs::exists(dir + "/done/vdsr.safetensors"));
  // An epoch of one pass over the set: its length from the checkpoint's patch count.
  // (528 patches: --batch 5 leaves a part batch at each pass's end.)
  REQUIRE(run_command(base + " --epoch-iters 0 --epochs 2 --batch 5 --out " + dir + "/passes",
                      &log) == 0);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir +
                          "/passes/checkpoint.safetensors --epochs 1",
                      &log) == 1);
  CHECK(log.find("--epochs 1 ends at step") != std::string::npos);
  CHECK(log.find("training set:") == std::string::npos);
  // A checkpoint without the patch count (an older one): the same refusal, once the set is built.
  {
    SafeTensors old = read_safetensors(dir + "/passes/checkpoint.safetensors");
    REQUIRE(old.metadata.erase("config.patches") == 1);
    fs::create_directories(dir + "/older");
    write_safetensors(dir + "/older/checkpoint.safetensors", old);
  }
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir +
                          "/older/checkpoint.safetensors --epochs 1",
                      &log) == 1);
  CHECK(log.find("--epochs 1 ends at step") != std::string::npos);
  // Its two epochs done: nothing to train (the steps per pass round up, as the run counted them).
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir +
                          "/passes/checkpoint.safetensors --epochs 2",
                      &log) == 0);
  CHECK(log.find("no step left to train") != std::string::npos);
  // Stopped in its second epoch (step 7 of 5-step epochs): --epochs 2 covers it, so say 2.
  REQUIRE(run_command(base + " --out " + dir + "/mid --max-steps 7", &log) == 0);
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/mid/checkpoint.safetensors --epochs 1",
                      &log) == 1);
  CHECK(log.find("--epochs 1 ends at step 5, before the checkpoint's step 7: give --epochs 2 or "
                 "more") != std::string::npos);
  // One epoch is "1 epoch".
  std::string loud = base;
  loud.erase(loud.find(" -q "), 3);
  REQUIRE(run_command(loud + " --epochs 1 --max-steps 1 --out " + dir + "/one", &log) == 0);
  CHECK(log.find("5 steps per epoch, 1 epoch") != std::string::npos);
  CHECK(log.find("1 epochs") == std::string::npos);
  // One grey level: bicubic is exact, so the PSNR is infinite whatever the network does.
  fs::create_directories(dir + "/flat");
  Image grey = test_image(40, 40, 1, 1);
  std::fill(grey.pixels.begin(), grey.pixels.end(), decltype(grey.pixels)::value_type(128));
  save_image(dir + "/flat/grey.png", grey, ImageFormat::PNG);
  REQUIRE(run_command(base + " --out " + dir + "/v --val " + dir + "/flat", &log) == 1);
  CHECK(log.find("grey.png is reconstructed exactly by bicubic at x2") != std::string::npos);
  // A training image that is a broken link: the set would silently lack it.
  fs::create_symlink(dir + "/nowhere.png", hr + "/dead.png");
  REQUIRE(run_command(base + " --out " + dir + "/link", &log) == 1);
  CHECK(log.find(hr + "/dead.png is a broken symbolic link") != std::string::npos);
  fs::remove(hr + "/dead.png");
  // A link that leads back to itself is a loop, not a missing target.
  fs::create_symlink("self.png", hr + "/self.png");
  REQUIRE(run_command(base + " --out " + dir + "/loop", &log) == 1);
  CHECK(
      log.find(hr + "/self.png is a symbolic link loop (its target 'self.png' leads back to it)") !=
      std::string::npos);
  fs::remove(hr + "/self.png");
  // Nor may one be a FIFO, which would block the reader.
  REQUIRE(::mkfifo((hr + "/pipe.png").c_str(), 0600) == 0);
  REQUIRE(run_command(base + " --out " + dir + "/fifo", &log) == 1);
  CHECK(log.find(hr + "/pipe.png is a FIFO (named pipe), not a file") != std::string::npos);
  fs::remove(hr + "/pipe.png");
  // Nor a link to a device, which would be read without end.
  fs::create_symlink("/dev/zero", hr + "/zero.png");
  REQUIRE(run_command(base + " --out " + dir + "/dev", &log) == 1);
  CHECK(log.find(hr + "/zero.png is a device, not a file") != std::string::npos);
  fs::remove(hr + "/zero.png");
  // A broken link to what is no image is not the set's: the run goes on without it.
  fs::create_symlink(dir + "/nowhere.txt", hr + "/notes.txt");
  REQUIRE(run_command(base + " --out " + dir + "/notes --max-steps 1", &log) == 0);
  fs::remove(hr + "/notes.txt");
}

TEST_CASE("vdsr_train maps each optimiser and schedule flag to its own option") {
  const auto kv = print_config(
      "--optimizer adam --lr 0.003 --lr-schedule cosine --lr-min 3e-05 --warmup-steps 7 --lr-step 11 --beta1 0.8 "
      "--beta2 0.95 --eps 1e-06 --momentum 0.7 --weight-decay 0.002 --bias-lr-mult 2 --ema 0.99 --clip-mode value "
      "--clip 0.3 --batch 6 --epoch-iters 13 --epochs 9 --depth 4 --channels 5 --seed 9 --log-every 4");
  const std::map<std::string, double> expected = {
      {"lr", 0.003},        {"lr_min", 3e-05},       {"warmup_steps", 7},  {"lr_step", 11},  {"beta1", 0.8},
      {"beta2", 0.95},      {"eps", 1e-06},          {"momentum", 0.7},    {"weight_decay", 0.002},
      {"bias_lr_mult", 2},  {"ema", 0.99},           {"clip", 0.3},        {"batch", 6},     {"epoch_iters", 13},
      {"epochs", 9},        {"depth", 4},            {"channels", 5},      {"seed", 9},      {"log_every", 4}};
  for (const auto& [key, value] : expected) CHECK(number(kv, key) == value);
  CHECK(kv.at("optimizer") == "adam");
  CHECK(kv.at("lr_schedule") == "cosine");
  CHECK(kv.at("clip_mode") == "value");
}

TEST_CASE("vdsr_train --json: steps, epochs, finished, loss, checkpoint, weights and the last epoch's record") {
  const std::string dir = test::temp_dir("train_json"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr;
  std::string log;
  // The tiny run: 3 epochs of 5 steps.
  REQUIRE(run_command(base + " --out " + dir + "/full --json " + dir + "/full.json", &log) == 0);
  INFO(log);
  std::ifstream full_in(dir + "/full.json");
  const nlohmann::json full = nlohmann::json::parse(full_in);
  CHECK(full.at("steps") == 15);
  CHECK(full.at("epochs") == 3);
  CHECK(full.at("finished") == true);
  CHECK(std::isfinite(full.at("loss").get<double>()));
  CHECK(full.at("seconds").get<double>() > 0);  // the run's own time counts
  CHECK(fs::equivalent(full.at("checkpoint").get<std::string>(), dir + "/full/checkpoint.safetensors"));
  CHECK(fs::equivalent(full.at("weights").get<std::string>(), dir + "/full/vdsr.safetensors"));
  CHECK(full.at("last_epoch").at("epoch") == 3);
  CHECK(full.at("last_epoch").at("step") == 15);
  // Stopped at --max-steps: not finished, no weights file named.
  // The summary may go into the --out folder the run creates (given before --out, too); any other
  // folder must exist.
  REQUIRE(run_command(base + " --json " + dir + "/part/part.json --out " + dir + "/part/ --max-steps 4", &log) == 0);
  std::ifstream part_in(dir + "/part/part.json");
  const nlohmann::json part = nlohmann::json::parse(part_in);
  CHECK(part.at("steps") == 4);
  CHECK(part.at("seconds").get<double>() > 0);  // no epoch scored: its steps' time counts
  CHECK(part.at("finished") == false);
  CHECK(part.at("weights") == "");
  CHECK(fs::equivalent(part.at("checkpoint").get<std::string>(), dir + "/part/checkpoint.safetensors"));
  REQUIRE(run_command(base + " --out " + dir + "/other --json " + dir + "/nowhere/s.json", &log) == 1);
  CHECK(log.find("--json " + dir + "/nowhere/s.json: the folder '" + dir + "/nowhere' does not exist") != std::string::npos);
  CHECK(!fs::exists(dir + "/other"));
  // A run that fails replaces an earlier summary at that name with its error (a job array's slot
  // that fails must not read as the slot before it), naming the checkpoint the --out folder holds.
  REQUIRE(run_command(base + " --resume auto --out " + dir + "/part --train " + dir +
                          "/gone --json " + dir + "/part/part.json",
                      &log) == 1);
  std::ifstream failed_in(dir + "/part/part.json");
  const nlohmann::json failed = nlohmann::json::parse(failed_in);
  CHECK(failed.at("finished") == false);
  CHECK(failed.at("error").get<std::string>().find("/gone' does not exist") != std::string::npos);
  CHECK(fs::equivalent(failed.at("checkpoint").get<std::string>(),
                       dir + "/part/checkpoint.safetensors"));
  CHECK(failed.count("steps") == 0);
  // A checkpoint that cannot be written (a full disk; here a file-size limit) says what is left.
  const std::string small = "(ulimit -f 4; " + base + " --out " + dir + "/limited";
  REQUIRE(run_command(small + " --max-steps 2)", &log) == 1);
  CHECK(log.find("/limited/checkpoint.safetensors' failed: File too large; no checkpoint had been "
                 "written") != std::string::npos);
  fs::remove_all(dir + "/limited");
  REQUIRE(run_command(base + " --out " + dir + "/limited --max-steps 2", &log) == 0);
  REQUIRE(run_command(small + " --resume auto --max-steps 2)", &log) == 1);
  CHECK(
      log.find("failed: File too large; the checkpoint written before it is kept whole: free space "
               "and resume it") != std::string::npos);
  CHECK(load_checkpoint(dir + "/limited/checkpoint.safetensors", Device::cpu()).state.step == 2);
  fs::remove_all(dir);
}

// Folder names are bytes; the checkpoint's metadata and the logs are JSON (UTF-8). A name that is
// not UTF-8 is written with U+FFFD for its bad bytes, and a resume that needs it back says so.
TEST_CASE("folders named in bytes that are not UTF-8 train, and a resume names the lost bytes") {
  const std::string dir = test::temp_dir("train_not_utf8"), hr = make_data(dir);
  const std::string data = dir + "/t\xffset", out = dir + "/run\xfe";
  fs::rename(hr, data);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags;
  std::string log;
  REQUIRE(run_command(base + " --train " + data + " --val " + data + " --out " + out +
                          " --max-steps 5 --json " + dir + "/r\xfe.json",
                      &log) == 0);
  INFO(log);
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/r\xfe.json")).at("checkpoint") ==
        dir + "/run\xEF\xBF\xBD/checkpoint.safetensors");
  CHECK(read_jsonl(out + "/train.jsonl").size() >= 1);
  REQUIRE(run_command(base + " --resume auto --out " + out, &log) == 1);
  CHECK(log.find("/t\xEF\xBF\xBDset' does not exist (the checkpoint holds a name that is not UTF-8 "
                 "with U+FFFD") != std::string::npos);
  REQUIRE(run_command(base + " --resume auto --out " + out + " --no-val", &log) == 1);
  CHECK(log.find("the checkpoint's training folder '") != std::string::npos);
  CHECK(log.find("give --train (the same images") != std::string::npos);
  CHECK(log.find("/t\xEF\xBF\xBDset' does not exist (the checkpoint holds a name that is not "
                 "UTF-8 with U+FFFD in place of its bad bytes): give --train") !=
        std::string::npos);
  REQUIRE(run_command(base + " --resume auto --out " + out + " --train " + data + " --val " + data,
                      &log) == 0);
  CHECK(fs::exists(out + "/vdsr.safetensors"));
  fs::remove_all(dir);
}

// SIGHUP too: a closed terminal or ssh session keeps the epoch's work.
TEST_CASE(
    "validation sets: one that is a training folder, and a resume's first set changed, are said") {
  const std::string dir = test::temp_dir("train_val_said"), hr = make_data(dir);
  fs::copy(hr, dir + "/other");
  const std::string base = bin("vdsr_train") + std::string(test::kTinyTrainFlags).substr(3) +
                           " --train " + hr + " --out " + dir + "/run";
  std::string log;
  REQUIRE(run_command(base + " --epochs 1 --val " + hr, &log) == 0);
  CHECK(log.find("warning: --val " + hr +
                 " is also a --train folder: its PSNR says how well the run "
                 "fits its own training images, not how it does on others") != std::string::npos);
  REQUIRE(run_command(base + " --epochs 1 --resume auto", &log) ==
          0);  // done: said in the singular
  CHECK(
      log.find("the checkpoint's run has done all its epoch (5 steps): no step left to train (give "
               "--epochs 2 or more to train it further)") != std::string::npos);
  REQUIRE(run_command(base + " --epochs 2 --resume auto --val " + dir + "/other", &log) == 0);
  CHECK(log.find("warning: the first --val set was hr and is now other: from this epoch on, the "
                 "curve's validation line and the records' val_psnr_x* are other's") !=
        std::string::npos);
  CHECK(log.find("is also a --train folder") == std::string::npos);
  REQUIRE(run_command(base + " --epochs 3 --resume auto --val " + dir + "/other/", &log) == 0);
  CHECK(log.find("the first --val set was") == std::string::npos);  // the same set
  REQUIRE(run_command(bin("vdsr_train") + std::string(test::kTinyTrainFlags).substr(3) +
                          " --train " + hr + " --out " + dir + "/one --epoch-iters 1 --epochs 1",
                      &log) == 0);
  CHECK(log.find("; 1 step per epoch, 1 epoch") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("SIGTERM and SIGHUP write a checkpoint and exit 143 and 129") {
  for (const int sig : {SIGTERM, SIGHUP}) {
    INFO("signal " << sig);
    const std::string dir = test::temp_dir("train_sigterm"), hr = make_data(dir),
                      out = dir + "/run";
    const std::string ckpt = out + "/checkpoint.safetensors";
    std::vector<std::string> args = {bin("vdsr_train"),
                                     "-g",
                                     "-1",
                                     "--train",
                                     hr,
                                     "--out",
                                     out,
                                     "--depth",
                                     "3",
                                     "--channels",
                                     "4",
                                     "--patch",
                                     "12",
                                     "--stride",
                                     "12",
                                     "--batch",
                                     "4",
                                     "--epoch-iters",
                                     "1000000",
                                     "--epochs",
                                     "1",
                                     "--scales",
                                     "2",
                                     "--log-every",
                                     "1"};
    const pid_t pid = test::spawn(args, dir + "/child.log");
    REQUIRE(pid >= 0);
    // Wait for the first logged step: the handlers are installed before the loop starts.
    const auto t0 = std::chrono::steady_clock::now();
    bool logged = false;
    while (!logged && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
      std::ifstream jl(out + "/train.jsonl");
      std::string line;
      logged = std::getline(jl, line) && !line.empty();
      if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!logged) kill(pid, SIGKILL);  // do not leave a million-step run behind a failed test
    kill(pid, sig);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(logged);
    const std::string child_log = test::file_bytes(dir + "/child.log");
    INFO(child_log);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + sig);
    CHECK(child_log.find("stopped by signal " + std::to_string(sig)) != std::string::npos);
    // Said at once, before the step ends (the stop may be a validation or a build away).
    CHECK(child_log.find("\nvdsr_train: stopping at the end of this step, then writing the "
                         "checkpoint (a new run still building its training set stops once it is "
                         "built, with nothing to write); a second signal stops at once\n") <
          child_log.find("stopped by signal"));
    CHECK(load_checkpoint(ckpt, Device::cpu()).state.step > 0);
    fs::remove_all(dir);
  }
}

TEST_CASE("init-from: a new run starts from the file's weights with fresh optimizer state, and resumes as one run") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_init_from"), hr = make_data(dir);
  TrainOptions a = test::tiny_train(hr, dir + "/a");
  REQUIRE(run_training(a).finished);
  const std::string start = dir + "/a/vdsr.safetensors";
  const VdsrWeights wa = load_weights(start);

  // --epochs 0 writes the starting weights: the file's, bit for bit, with the file named in the recipe.
  TrainOptions zero = test::tiny_train(hr, dir + "/zero");
  zero.init_from = start;
  zero.epochs = 0;
  REQUIRE(run_training(zero).finished);
  const VdsrWeights wz = load_weights(dir + "/zero/vdsr.safetensors");
  REQUIRE(wz.params == wa.params);
  CHECK(wz.metadata.at("recipe").find("init_from=" + start) != std::string::npos);
  CHECK(wa.metadata.at("recipe").find("init_from") == std::string::npos);
  // A checkpoint gives its raw weights.
  zero.out = dir + "/zero_ckpt";
  zero.init_from = dir + "/a/checkpoint.safetensors";
  REQUIRE(run_training(zero).finished);
  CHECK(load_weights(dir + "/zero_ckpt/vdsr.safetensors").params == wa.params);

  // The same seed draws the same first batch: from the trained weights its loss is below the
  // He-initialised run's; the step count starts at zero.
  TrainOptions full = test::tiny_train(hr, dir + "/full");
  full.init_from = start;
  const TrainResult rf = run_training(full);
  REQUIRE(rf.finished);
  REQUIRE(rf.step == 15);
  const auto first_loss = [](const std::string& jsonl) {
    for (const auto& r : read_jsonl(jsonl))
      if (r.at("record") == "step") return r.at("loss").get<double>();
    return std::numeric_limits<double>::quiet_NaN();
  };
  CHECK(first_loss(dir + "/full/train.jsonl") < 0.9 * first_loss(dir + "/a/train.jsonl"));

  // Stopped and resumed (the weights then come from the checkpoint, not the file again): the same
  // run bit for bit.
  TrainOptions part = test::tiny_train(hr, dir + "/part");
  part.init_from = start;
  part.max_steps = 7;
  REQUIRE(run_training(part).hit_max_steps);
  TrainOptions res;
  res.resume = dir + "/part/checkpoint.safetensors";
  REQUIRE(run_training(res).finished);
  REQUIRE(loss_bits(dir + "/full/train.jsonl") == loss_bits(dir + "/part/train.jsonl"));
  REQUIRE(load_weights(dir + "/full/vdsr.safetensors").params == load_weights(dir + "/part/vdsr.safetensors").params);

  // Resuming with another starting file, or one where the run had none, is refused.
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir + "/part/checkpoint.safetensors --init-from " +
                          dir + "/zero/vdsr.safetensors",
                      &log) == 1);
  CHECK(log.find("--init-from (init_from " + dir + "/zero/vdsr.safetensors, the checkpoint has " + start + ")") !=
        std::string::npos);
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir + "/a/checkpoint.safetensors --init-from " + start,
                      &log) == 1);
  CHECK(log.find("--init-from (init_from " + start + ", the checkpoint has none)") != std::string::npos);
  // The same file under another path (a node's own copy, another working folder) is the same
  // start: matched by the SHA-256 the run recorded, and, for a checkpoint of before it was
  // recorded, by the checkpoint's file's contents.
  CHECK(load_checkpoint(dir + "/part/checkpoint.safetensors", Device::cpu())
            .state.config.at("init_from_sha256") == sha256_file_hex(start));
  fs::copy_file(start, dir + "/copy.safetensors");
  const std::string again =
      bin("vdsr_train") + " -q -g -1 --max-steps 1 --init-from " + dir + "/copy.safetensors";
  REQUIRE(run_command(again + " --resume " + dir + "/part/checkpoint.safetensors", &log) == 0);
  {
    SafeTensors older = read_safetensors(dir + "/part/checkpoint.safetensors");
    REQUIRE(older.metadata.erase("config.init_from_sha256") == 1);
    write_safetensors(dir + "/older.safetensors", older);
  }
  REQUIRE(run_command(again + " --resume " + dir + "/older.safetensors --out " + dir + "/older",
                      &log) == 0);
  fs::copy_file(dir + "/zero/vdsr.safetensors", dir + "/copy.safetensors",
                fs::copy_options::overwrite_existing);
  REQUIRE(run_command(again + " --resume " + dir + "/part/checkpoint.safetensors", &log) == 1);
  CHECK(log.find("--init-from (init_from " + dir + "/copy.safetensors, the checkpoint has " +
                 start + ")") != std::string::npos);

  // A shape that differs from the file's, an SRCNN model and a missing file: refused, naming the file.
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr;
  REQUIRE(run_command(base + " --out " + dir + "/deep --init-from " + start + " --depth 5", &log) == 1);
  CHECK(log.find("differs from " + start + "'s (depth 3, 4 channels, with biases): leave out --depth") !=
        std::string::npos);
  CHECK(!fs::exists(dir + "/deep"));
  const VdsrConfig srcnn = srcnn_config(9, 5, 5, 4, 2, true);
  const std::vector<float> sp(size_t(param_count(srcnn)), 0.01f);
  save_weights(dir + "/srcnn.safetensors", srcnn, sp.data());
  REQUIRE(run_command(base + " --out " + dir + "/s --init-from " + dir + "/srcnn.safetensors", &log) == 1);
  CHECK(log.find("--init-from " + dir +
                 "/srcnn.safetensors is an SRCNN model (SRCNN 9-5-5, 4/2 channels, with biases)") !=
        std::string::npos);
  CHECK(log.find("trains VDSR only") != std::string::npos);
  REQUIRE(run_command(base + " --out " + dir + "/m --init-from " + dir + "/missing.safetensors", &log) == 1);
  CHECK(log.find("--init-from " + dir + "/missing.safetensors: no such file") != std::string::npos);
}

TEST_CASE(
    "resume refuses an --out that holds another run, and training images with other pixels or "
    "order") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_resume_guard"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags;
  std::string log;
  REQUIRE(run_command(base + " --train " + hr + " --out " + dir + "/x --max-steps 3", &log) == 0);
  REQUIRE(run_command(base + " --train " + hr + " --out " + dir + "/y --seed 7 --max-steps 7",
                      &log) == 0);
  const std::string y_ckpt = dir + "/y/checkpoint.safetensors";
  const std::string y_bytes = test::file_bytes(y_ckpt);
  // Another run's checkpoint in --out stays as it is.
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir +
                          "/x/checkpoint.safetensors --out " + dir + "/y",
                      &log) == 1);
  CHECK(log.find(dir + "/y already holds another run (" + y_ckpt + "), which resuming " + dir +
                 "/x/checkpoint.safetensors there would replace") != std::string::npos);
  CHECK(test::file_bytes(y_ckpt) == y_bytes);
  // Into a folder of its own it goes on.
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/x/checkpoint.safetensors --out " + dir + "/x2 --max-steps 1",
                      &log) == 0);
  CHECK(load_checkpoint(dir + "/x2/checkpoint.safetensors", Device::cpu()).state.step == 4);

  // A copy of this run's checkpoint (a node's own) resumes into the run's folder; a copy of an
  // earlier step would throw away the steps after it.
  fs::copy_file(dir + "/x2/checkpoint.safetensors", dir + "/copy4.safetensors");
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/copy4.safetensors --out " + dir + "/x2 --max-steps 1",
                      &log) == 0);
  CHECK(load_checkpoint(dir + "/x2/checkpoint.safetensors", Device::cpu()).state.step == 5);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir + "/copy4.safetensors --out " +
                          dir + "/x2",
                      &log) == 1);
  CHECK(log.find(dir + "/x2 holds this run at step 5 (" + dir +
                 "/x2/checkpoint.safetensors), later than " + dir +
                 "/copy4.safetensors's step 4") != std::string::npos);

  // The same patch count from other pixels: the images' sizes kept, their contents changed.
  const std::string other = dir + "/other";
  fs::create_directories(other);
  save_image(other + "/a.png", test_image(48, 40, 3, 21), ImageFormat::PNG);
  save_image(other + "/b.png", test_image(40, 52, 1, 22), ImageFormat::PNG);
  save_image(other + "/c.bmp", test_image(36, 36, 3, 23), ImageFormat::BMP);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + dir +
                          "/x/checkpoint.safetensors --train " + other,
                      &log) == 1);
  CHECK(log.find("gives the checkpoint's") != std::string::npos);
  CHECK(log.find("patches, but other pixels or in another order (its run's --train: " + hr +
                 "; now: " + other + "): the batches would differ") != std::string::npos);
  CHECK(log.find("start a new run with --init-from " + dir + "/x/checkpoint.safetensors") !=
        std::string::npos);
  // The same images under another path are the same run.
  fs::copy(hr, dir + "/moved");
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/x/checkpoint.safetensors --train " + dir + "/moved --max-steps 1",
                      &log) == 0);
}

TEST_CASE(
    "a --recipe on resume names the checkpoint's preset and fills in nothing: its overrides go "
    "on") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_recipe_resume"), hr = make_data(dir);
  const std::string out = dir + "/run", ckpt = out + "/checkpoint.safetensors";
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " +
                          out + " --recipe fast --warmup-steps 3 --epochs 2 --max-steps 4",
                      &log) == 0);
  // The preset's own --warmup-steps 2000 and --epochs 150 would conflict or lengthen the run.
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + ckpt + " --recipe fast", &log) ==
          0);
  INFO(log);
  const LoadedCheckpoint ck = load_checkpoint(ckpt, Device::cpu());
  CHECK(ck.state.step == 10);
  CHECK(ck.state.config.at("epochs") == "2");
  CHECK(ck.state.config.at("warmup_steps") == "3");
  CHECK(ck.state.config.at("recipe") == "fast");
  // --resume auto where --out holds no checkpoint is a new run: there the preset fills in.
  const auto kv =
      print_config("-g -1 --train " + hr + " --out " + dir + "/fresh --resume auto --recipe fast");
  CHECK(kv.at("warmup_steps") == "2000");
  CHECK(kv.at("epochs") == "150");
}

TEST_CASE(
    "a refusal of a value a --recipe set says it came from the preset, and how to override it") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_recipe_note"), hr = make_data(dir);
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --train " + hr + " --out " + dir +
                          "/a --recipe fast --lr 1e-6",
                      &log) == 1);
  CHECK(log.find("--lr-min must be in [0, --lr] = [0, 1e-06], got 2e-06 (--lr-min 2e-06 came from "
                 "--recipe "
                 "fast: give --lr-min on "
                 "the command line to override the preset)") != std::string::npos);
  // A switch cannot be given back.
  Vdsr biased(VdsrConfig{3, 4, true});
  biased.init_he(1);
  save_weights(dir + "/biased.safetensors", biased.config(), biased.params());
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --train " + hr + " --out " + dir +
                          "/b --recipe pytorch-port --init-from " + dir + "/biased.safetensors",
                      &log) == 1);
  CHECK(log.find("(--no-bias came from --recipe pytorch-port: a switch cannot be undone, so give "
                 "the preset's other "
                 "options without --recipe)") != std::string::npos);
  // A message naming --lr-step names no --lr: the preset's --lr gets no note.
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --train " + hr + " --out " + dir +
                          "/d --recipe bundled --lr-step 0",
                      &log) == 1);
  CHECK(log.find("--lr-step") != std::string::npos);
  CHECK(log.find("came from") == std::string::npos);
  // A typed flag gets no note ("--lr" is not named by "--lr-min" either).
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --train " + hr + " --out " + dir +
                          "/c --lr-min 1 --lr 0.5",
                      &log) == 1);
  CHECK(log.find("came from") == std::string::npos);
}

TEST_CASE("a stop while a new run is set up leaves nothing and an ignored SIGINT stays ignored") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_stop_setup"), hr = make_data(dir);
  std::atomic<int> stop{SIGINT};
  TrainHooks hooks;
  hooks.stop = &stop;
  const TrainResult r = run_training(test::tiny_train(hr, dir + "/run"), hooks);
  CHECK(r.stopped_by_signal == SIGINT);
  CHECK(r.step == 0);
  CHECK(r.checkpoint.empty());
  CHECK(!fs::exists(dir + "/run"));  // the folder it made, removed with its empty log
  // Into a folder that was there, only the folder stays.
  fs::create_directories(dir + "/kept");
  (void)run_training(test::tiny_train(hr, dir + "/kept"), hooks);
  CHECK(fs::is_empty(dir + "/kept"));

  // Started with SIGINT ignored (a background job of a script), the trainer leaves it ignored:
  // SIGINT does nothing, SIGTERM still stops it with a checkpoint.
  const std::string out = dir + "/ignored";
  const pid_t pid = test::spawn(
      {"/bin/sh", "-c",
       "trap '' INT; exec " + bin("vdsr_train") + " -g -1 --train " + hr + " --out " + out +
           " --depth 3 --channels 4 --patch 12 --stride 12 --batch 4 --epochs 100000"},
      dir + "/child.log");
  REQUIRE(pid >= 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(out + "/checkpoint.safetensors") &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO(test::file_bytes(dir + "/child.log"));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 143);
  CHECK(test::file_bytes(dir + "/child.log").find("stopped by signal 15") != std::string::npos);
}

TEST_CASE("print-config refuses what the run would and shows --init-from's shape") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_print_resolved"), hr = make_data(dir);
  Vdsr model(VdsrConfig{4, 6, true});
  model.init_he(1);
  save_weights(dir + "/m.safetensors", model.config(), model.params());
  int status = 0;
  const auto kv =
      print_config("-g -1 --train " + hr + " --init-from " + dir + "/m.safetensors", &status);
  CHECK(status == 0);
  CHECK(kv.at("depth") == "4");
  CHECK(kv.at("channels") == "6");
  (void)print_config("-g -1 --train " + hr + " --init-from " + dir + "/m.safetensors --channels 8",
                     &status);
  CHECK(status == 1);
  // --bias-lr-mult with a file without biases: known once the file is read, and warned of then.
  Vdsr unbiased(VdsrConfig{4, 6, false});
  unbiased.init_he(1);
  save_weights(dir + "/nb.safetensors", unbiased.config(), unbiased.params());
  std::string said;
  for (const char* file : {"/nb.safetensors", "/m.safetensors"}) {
    INFO(file);
    REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config --train " + hr +
                            " --bias-lr-mult 0.1 --init-from " + dir + file,
                        &said) == 0);
    CHECK((said.find("warning: --bias-lr-mult has no effect: --init-from " + dir + file +
                     " holds a model without biases") != std::string::npos) ==
          (std::string(file) == "/nb.safetensors"));
  }
  // With --no-bias the flags' own warning says it, once.
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --print-config --train " + hr +
                          " --no-bias --bias-lr-mult 0.1 --init-from " + dir + "/nb.safetensors",
                      &said) == 0);
  CHECK(said.find("--bias-lr-mult has no effect: --no-bias leaves no biases") != std::string::npos);
  CHECK(said.find("holds a model without biases") == std::string::npos);
  (void)print_config("-g -1 --train " + hr + " --init-from " + dir + "/missing.safetensors",
                     &status);
  CHECK(status == 1);
  (void)print_config("-g -1 --precision bf16 --train " + hr, &status);
  CHECK(status == 1);
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " +
                          dir + "/run",
                      &log) == 0);
  (void)print_config("-g -1 --resume " + dir + "/run/checkpoint.safetensors --epochs 1", &status);
  CHECK(status == 1);
  // A new run into a folder that holds one is refused here as the run refuses it.
  (void)print_config("-g -1 --train " + hr + " --out " + dir + "/run", &status);
  CHECK(status == 1);
}

TEST_CASE(
    "refused in words: a clip / lr that rounds to 0, a --json onto the curve, -g -1000, a "
    "down-scale twice") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_values"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + " -g -1 --train " + hr;
  std::string log;
  for (const auto& [args, words] : std::vector<std::pair<std::string, std::string>>{
           {" --out " + dir + "/a --clip-mode value --clip 1e-300 --clip-scale-by-lr --lr 1e100",
            "--clip 1e-300 with --clip-scale-by-lr and --lr 1e+100 makes the threshold clip / lr "
            "round to 0"},
           {" --out " + dir + "/b --json " + dir + "/b/curve.svg",
            "names an SVG drawing file (.svg)"},
           {" --out " + dir + "/c --print-config -g -1000",
            "--gpu -1000: give a GPU index (0 or more), or -1 for the CPU"},
           {" --out " + dir + "/g --clip-mode value --clip 1e-50",
            "--clip 1e-50 makes the threshold round to 0 in float"},
           {" --out " + dir + "/d --downscales 0.5,0.50",
            "--downscales: 0.50 is the factor 0.5 again"},
           {" --out " + dir + "/e --resume " + dir + "/nothing.safetensors",
            "--resume " + dir + "/nothing.safetensors: no such file"}}) {
    INFO(args);
    REQUIRE(run_command(base + args, &log) == 1);
    CHECK(log.find(words) != std::string::npos);
  }
  for (const char* d : {"a", "b", "c", "d", "e", "g"}) CHECK(!fs::exists(dir + "/" + d));
  // One patch too large for the machine: only --patch can shrink; with two, either.
  REQUIRE(run_command(base + " --print-config --patch 40000 --batch 1", &log) == 1);
  CHECK(log.find("of host memory, more than this machine's") != std::string::npos);
  CHECK(log.find(": use a smaller --patch") != std::string::npos);
  REQUIRE(run_command(base + " --print-config --patch 40000 --batch 2", &log) == 1);
  CHECK(log.find(": use a smaller --batch or --patch") != std::string::npos);
  // A deep network's activations (800 GB here) are most of it: --depth and --channels are named.
  REQUIRE(run_command(base + " --print-config --depth 100 --channels 64 --patch 4000 --batch 1",
                      &log) == 1);
  CHECK(log.find(": use a smaller --patch, or a smaller --depth or --channels (the activations of "
                 "100 layers of "
                 "64 channels are most of it)") != std::string::npos);
  // -v names the files a training folder skips.
  fs::create_directories(hr + "/sub");
  save_image(hr + "/sub/d.png", test_image(8, 8, 1, 1), ImageFormat::PNG);
  test::write_bytes(hr + "/notes.txt", {'x'});
  REQUIRE(run_command(bin("vdsr_train") + " -v -g -1 --epochs 0 --patch 12 --stride 12 --train " +
                          hr + " --out " + dir + "/f",
                      &log) == 0);
  CHECK(log.find("skipping " + hr + "/notes.txt (not an image)") != std::string::npos);
  CHECK(log.find("skipping " + hr +
                 "/sub/ (a folder: a training folder is read without its sub-folders)") !=
        std::string::npos);
}

TEST_CASE("a checkpoint's stored values are checked as the flags' are, naming the checkpoint") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_ckpt_values"), hr = make_data(dir);
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " +
                          dir + "/run --max-steps 2",
                      &log) == 0);
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"config.precision", "fp64"},
                                                        {"config.recipe", "nosuch"},
                                                        {"config.downscales", "2"},
                                                        {"config.patches", "abc"},
                                                        {"config.images", "0"}}) {
    INFO(key << "=" << value);
    SafeTensors st = read_safetensors(dir + "/run/checkpoint.safetensors");
    st.metadata[key] = value;
    const std::string edited = dir + "/edited/checkpoint.safetensors";
    fs::remove_all(dir + "/edited");
    fs::create_directories(dir + "/edited");
    write_safetensors(edited, st);
    REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + edited, &log) == 1);
    CHECK(log.find(edited + ": the checkpoint's stored options are not ones a run writes") !=
          std::string::npos);
  }
}

TEST_CASE(
    "the eighth mutation round's training gaps: every stored option read back, range ends, EMA "
    "validation") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_mutation8"), hr = make_data(dir);
  std::string log;
  // Every option a checkpoint stores comes back on --resume (lr_min among them), whatever the run.
  REQUIRE(run_command(bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " +
                          dir +
                          "/run --recipe fast --lr 0.004 --lr-min 3e-6 --warmup-steps 2 --ema 0.9 "
                          "--max-steps 1",
                      &log) == 0);
  const auto stored =
      load_checkpoint(dir + "/run/checkpoint.safetensors", Device::cpu()).state.config;
  int status = 0;
  const auto resumed =
      print_config("-g -1 --resume " + dir + "/run/checkpoint.safetensors", &status);
  REQUIRE(status == 0);
  for (const auto& [key, value] : resumed) {
    INFO(key);
    REQUIRE(stored.count(key) == 1);
    CHECK(stored.at(key) == value);
  }
  CHECK(resumed.at("lr_min") == "3e-06");
  // The ends of the documented ranges: --lr-min may equal --lr; --ema 1 would never move.
  (void)print_config("-g -1 --train " + hr + " --lr 0.01 --lr-min 0.01 --lr-schedule cosine",
                     &status);
  CHECK(status == 0);
  (void)print_config("-g -1 --train " + hr + " --lr 0.01 --lr-min 0.02 --lr-schedule cosine",
                     &status);
  CHECK(status == 1);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --train " + hr + " --ema 1 --print-config",
                      &log) == 1);
  CHECK(log.find("--ema must be in [0, 1) (0: off), got 1") != std::string::npos);

  // With an EMA, validation scores the averaged weights, which vdsr.safetensors holds: scoring the
  // file gives the last epoch's figures exactly.
  TrainOptions o = test::tiny_train(hr, dir + "/ema");
  o.val = {hr};
  o.step.optim.kind = Optimizer::Adam;
  o.step.lr = 0.01;
  o.step.optim.ema = 0.999;  // the average stays near the start while the raw weights move away
  REQUIRE(run_training(o).finished);
  const std::vector<ValSet> val = load_validation_sets({hr}, o.data.scales);
  const auto model = make_model(load_weights(dir + "/ema/vdsr.safetensors"), Device::cpu());
  nlohmann::json scored;
  REQUIRE(validate(*model, val, o.data.scales, scored).has_value());
  const nlohmann::json last = last_epoch(dir + "/ema/train.jsonl");
  for (const int s : o.data.scales) {
    const std::string key = "val_psnr_x" + std::to_string(s);
    INFO(key);
    CHECK(scored.at(key).get<double>() == last.at(key).get<double>());
  }
}

TEST_CASE("a validation set's bicubic baseline is the mean over its images at each scale") {
  const std::string dir = test::temp_dir("train_val_bicubic"), hr = make_data(dir);
  const std::vector<int> scales = {2, 3};
  const std::vector<ValSet> val = load_validation_sets({hr}, scales);
  REQUIRE(val.size() == 1);
  const std::vector<std::string> files = list_image_files(hr, "set");
  REQUIRE(files.size() == 3);  // not the number of scales
  for (size_t si = 0; si < scales.size(); ++si) {
    double sum = 0;
    for (const auto& f : files) {
      const EvalSample s = make_eval_sample(load_image(f), scales[si], f);
      sum += score_output(s.input, s.hr, scales[si]).psnr;
    }
    CHECK(val[0].bicubic_psnr[si] == Approx(sum / 3).epsilon(1e-12));
  }
}

TEST_CASE(
    "the norm clip's bound count uses the step's threshold, clip / lr with --clip-scale-by-lr") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_clip_scaled"), hr = make_data(dir);
  // clip 1e-9 and lr 1e-12: the threshold is 1000, far above every gradient norm, which are far
  // above 1e-9; so the clip never binds and no epoch records a bound fraction.
  TrainOptions o = test::tiny_train(hr, dir + "/loose");
  o.step.optim.clip_mode = ClipMode::Norm;
  o.step.clip = 1e-9;
  o.step.clip_scale_by_lr = true;
  o.step.lr = 1e-12;
  o.lr_schedule = LrSchedule::Constant;
  REQUIRE(run_training(o).finished);
  int epochs = 0;
  for (const auto& r : read_jsonl(dir + "/loose/train.jsonl"))
    if (r.at("record") == "epoch") {
      ++epochs;
      CHECK(!r.contains("clip_bound_fraction"));
    }
  CHECK(epochs == 3);
  // Threshold 1e-12: it binds at every step.
  o = test::tiny_train(hr, dir + "/tight");
  o.step.optim.clip_mode = ClipMode::Norm;
  o.step.clip = 1e-12;
  o.step.clip_scale_by_lr = true;
  o.step.lr = 1;
  o.lr_schedule = LrSchedule::Constant;
  REQUIRE(run_training(o).finished);
  CHECK(last_epoch(dir + "/tight/train.jsonl").at("clip_bound_fraction").get<double>() == 1.0);
}

TEST_CASE(
    "a run resumed mid-epoch and stopped again in that epoch counts the epochs done, not begun") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_epoch_count"), hr = make_data(dir);
  const std::string out = dir + "/run", ckpt = out + "/checkpoint.safetensors";
  std::string log;
  REQUIRE(run_command(bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr + " --out " +
                          out + " --max-steps 7",
                      &log) == 0);
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + ckpt + " --max-steps 1 --json " +
                          dir + "/r.json",
                      &log) == 0);
  CHECK(log.find("resuming at step 7 (epoch 2)") != std::string::npos);
  CHECK(nlohmann::json::parse(test::file_bytes(dir + "/r.json")).at("epochs") == 1);
  CHECK(load_checkpoint(ckpt, Device::cpu()).state.epoch == 1);
}

TEST_CASE("the seed orders the data: from the same weights two seeds give other first batches") {
  Quiet quiet;
  const std::string dir = test::temp_dir("train_seed_order"), hr = make_data(dir);
  Vdsr start(VdsrConfig{3, 4, true});
  start.init_he(1);
  save_weights(dir + "/start.safetensors", start.config(), start.params());
  std::vector<double> first_loss;
  for (const uint64_t seed : {5, 6}) {
    TrainOptions o = test::tiny_train(hr, dir + "/run" + std::to_string(seed));
    o.init_from = dir + "/start.safetensors";
    o.seed = seed;
    o.epochs = 1;
    o.max_steps = 1;
    run_training(o);
    first_loss.push_back(read_jsonl(dir + "/run" + std::to_string(seed) + "/train.jsonl")
                             .at(0)
                             .at("loss")
                             .get<double>());
  }
  CHECK(first_loss[0] != first_loss[1]);
}

TEST_CASE("runs of one recipe on other pixels are told apart by their patches' digest") {
  const std::string dir = test::temp_dir("train_pixels"), hr = make_data(dir);
  // make_data's sizes with other pixels: the same patch count, the same recipe.
  const std::string hr2 = dir + "/hr2";
  fs::create_directories(hr2);
  save_image(hr2 + "/a.png", test_image(48, 40, 3, 21), ImageFormat::PNG);
  save_image(hr2 + "/b.png", test_image(40, 52, 1, 22), ImageFormat::PNG);
  save_image(hr2 + "/c.bmp", test_image(36, 36, 3, 23), ImageFormat::BMP);
  const std::string tiny = bin("vdsr_train") + test::kTinyTrainFlags;
  std::string log;
  REQUIRE(run_command(tiny + " --train " + hr + " --out " + dir + "/a", &log) == 0);
  REQUIRE(run_command(tiny + " --train " + hr2 + " --out " + dir + "/b", &log) == 0);
  const auto meta = [&](const std::string& file) { return read_safetensors(dir + file).metadata; };
  const std::string digest_a = meta("/a/checkpoint.safetensors").at("config.patches_digest");
  REQUIRE(meta("/a/checkpoint.safetensors").at("config.patches") ==
          meta("/b/checkpoint.safetensors").at("config.patches"));
  REQUIRE(meta("/a/vdsr.safetensors").at("recipe") == meta("/b/vdsr.safetensors").at("recipe"));
  REQUIRE(meta("/b/vdsr.safetensors").at("patches_digest") != digest_a);
  const std::string resume_a =
      bin("vdsr_train") + " -g -1 --resume " + dir + "/a/checkpoint.safetensors";
  // Resumed into the other run's --out (both at their last step): refused, that run kept.
  REQUIRE(run_command(resume_a + " --out " + dir + "/b", &log) == 1);
  CHECK(log.find(dir + "/b already holds another run") != std::string::npos);
  CHECK(meta("/b/checkpoint.safetensors").at("config.patches_digest") != digest_a);
  // The other run's weights in this run's --out are not its own: they are written anew.
  fs::copy_file(dir + "/b/vdsr.safetensors", dir + "/a/vdsr.safetensors",
                fs::copy_options::overwrite_existing);
  REQUIRE(run_command(resume_a, &log) == 0);
  CHECK(log.find("training set:") != std::string::npos);
  CHECK(meta("/a/vdsr.safetensors").at("patches_digest") == digest_a);
  // Its checkpoint moved out of --out: resumed from there into --out, it is written back.
  fs::rename(dir + "/a/checkpoint.safetensors", dir + "/a_moved.safetensors");
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/a_moved.safetensors --out " + dir + "/a",
                      &log) == 0);
  REQUIRE(fs::exists(dir + "/a/checkpoint.safetensors"));
  CHECK(meta("/a/checkpoint.safetensors").at("config.patches_digest") == digest_a);
  CHECK(load_checkpoint(dir + "/a/checkpoint.safetensors", Device::cpu()).state.step == 15);
  // Pixels in no patch that the x2 input's bicubic reads: with 12-pixel windows a 26 x 26 image
  // leaves columns 24 and 25 out of every window (x3's modcrop drops them), without rotations.
  Image edge = test_image(26, 26, 1, 31);
  fs::create_directories(dir + "/edge1");
  fs::create_directories(dir + "/edge2");
  save_image(dir + "/edge1/e.png", edge, ImageFormat::PNG);
  edge.pixels[5 * 26 + 25] ^= 0x40;
  save_image(dir + "/edge2/e.png", edge, ImageFormat::PNG);
  DatasetOptions d;
  d.scales = {2, 3};
  d.patch = d.stride = 12;
  d.augment = false;
  {
    const Quiet quiet;
    const TrainingSet s1 = TrainingSet::build({dir + "/edge1/e.png"}, d);
    const TrainingSet s2 = TrainingSet::build({dir + "/edge2/e.png"}, d);
    REQUIRE(s1.target_patches() == s2.target_patches());
    REQUIRE(s1.input_patches() != s2.input_patches());
  }
  REQUIRE(run_command(
              tiny + " --no-augment --max-steps 2 --train " + dir + "/edge1 --out " + dir + "/e",
              &log) == 0);
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/e/checkpoint.safetensors --train " + dir + "/edge2",
                      &log) == 1);
  CHECK(log.find("but other pixels or in another order") != std::string::npos);
}

TEST_CASE(
    "a finished run resumed again keeps its width and its shortcut and --out may be the folder it "
    "runs in") {
  const std::string dir = test::temp_dir("train_finished"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr;
  std::string log;
  REQUIRE(run_command(base + " --out " + dir + "/run", &log) == 0);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  // A new run into a finished run's --out is refused, and so it is when the checkpoint has been
  // removed (to save space, say): the weights, log and curve are kept, not replaced or emptied.
  REQUIRE(run_command(base + " --out " + dir + "/run", &log) == 1);
  CHECK(log.find(dir + "/run already holds a run (" + ckpt + "): continue it with --resume") !=
        std::string::npos);
  fs::create_directories(dir + "/results");
  for (const char* name : {"/vdsr.safetensors", "/train.jsonl", "/curve.svg"})
    fs::copy_file(dir + "/run" + name, dir + "/results" + name);
  REQUIRE(run_command(base + " --out " + dir + "/results", &log) == 1);
  CHECK(
      log.find(
          dir +
          "/results holds another run's results (vdsr.safetensors, train.jsonl, curve.svg) without "
          "its checkpoint: a new run would replace them") != std::string::npos);
  for (const char* name : {"/vdsr.safetensors", "/train.jsonl", "/curve.svg"})
    CHECK(test::file_bytes(dir + "/results" + name) == test::file_bytes(dir + "/run" + name));
  // --resume auto refuses them too while the weights are there (a finished run's).
  REQUIRE(run_command(base + " --out " + dir + "/results --resume auto", &log) == 1);
  CHECK(log.find("/results holds another run's results (vdsr.safetensors, train.jsonl, curve.svg) "
                 "without its checkpoint: a new run would replace them; choose another --out, or "
                 "move them away first\n") != std::string::npos);
  // Records without checkpoint or weights: a run stopped before its first checkpoint (killed, or
  // its disk full). A new run is refused with the way to start it again; --resume auto (the same
  // command of a job array's requeued slot) starts it again over them, and a second process into
  // that --out meanwhile is told that a run is live there, not that its files are another run's.
  fs::create_directories(dir + "/cut");
  fs::copy_file(dir + "/run/train.jsonl", dir + "/cut/train.jsonl");
  REQUIRE(run_command(base + " --out " + dir + "/cut", &log) == 1);
  CHECK(
      log.find("/cut holds another run's results (train.jsonl) without its checkpoint: a new run "
               "would replace them; choose another --out, or move them away first (records of a "
               "run stopped before its first checkpoint: --resume auto starts that run again over "
               "them)") != std::string::npos);
  std::string loud_auto = base;  // warnings shown
  loud_auto.erase(loud_auto.find(" -q "), 3);
  {
    FolderLock held(dir + "/cut");
    REQUIRE(run_command(loud_auto + " --out " + dir + "/cut --resume auto", &log) == 1);
    CHECK(log.find("another vdsr_train is running into --out " + dir + "/cut now") !=
          std::string::npos);
    CHECK(log.find("holds") == std::string::npos);
  }
  REQUIRE(run_command(loud_auto + " --out " + dir + "/cut --resume auto", &log) == 0);
  CHECK(log.find("warning: " + dir +
                 "/cut holds the records of a run that wrote no checkpoint "
                 "(train.jsonl; stopped before its first): --resume auto starts the run again over "
                 "them") != std::string::npos);
  // The run again from its start, the old records replaced: the same steps and losses.
  const auto again = read_jsonl(dir + "/cut/train.jsonl"),
             first = read_jsonl(dir + "/run/train.jsonl");
  REQUIRE(again.size() == first.size());
  for (size_t i = 0; i < first.size(); ++i)
    CHECK(
        (again[i].at("step") == first[i].at("step") && again[i].at("loss") == first[i].at("loss")));
  // An empty log left there (a run stopped while it was set up) holds nothing to lose.
  fs::create_directories(dir + "/empty_log");
  std::ofstream(dir + "/empty_log/train.jsonl").close();
  REQUIRE(run_command(base + " --out " + dir + "/empty_log", &log) == 0);
  // A new run of no steps is no finished run resumed: it says what it did.
  std::string loud = base;
  loud.erase(loud.find(" -q "), 3);
  REQUIRE(run_command(loud + " --epochs 0 --out " + dir + "/zero", &log) == 0);
  CHECK(log.find("trained 0 steps in ") != std::string::npos);
  // A checkpoint of before the rank count was recorded: the weights get this process's, not none.
  {
    SafeTensors older = read_safetensors(ckpt);
    REQUIRE(older.metadata.erase("config.ranks") == 1);
    write_safetensors(dir + "/older.safetensors", older);
  }
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/older.safetensors --out " + dir + "/older_out --json " + dir +
                          "/older.json",
                      &log) == 0);
  INFO(log);
  CHECK(read_safetensors(dir + "/older_out/vdsr.safetensors").metadata.at("ranks") == "1");
  // Its final weights damaged, or of a checkpoint of before the patches' digest was recorded (so
  // they cannot be told to be this run's): written again, not taken as done.
  fs::create_directories(dir + "/damaged");
  fs::copy_file(ckpt, dir + "/damaged/checkpoint.safetensors");
  test::write_bytes(dir + "/damaged/vdsr.safetensors", {'n', 'o'});
  REQUIRE(run_command(
              bin("vdsr_train") + " -q -g -1 --resume " + dir + "/damaged/checkpoint.safetensors",
              &log) == 0);
  CHECK(load_weights(dir + "/damaged/vdsr.safetensors").params ==
        load_weights(dir + "/run/vdsr.safetensors").params);
  {
    SafeTensors undigested = read_safetensors(ckpt);
    REQUIRE(undigested.metadata.erase("config.patches_digest") == 1);
    fs::create_directories(dir + "/undigested");
    write_safetensors(dir + "/undigested/checkpoint.safetensors", undigested);
    for (const char* name : {"/vdsr.safetensors", "/train.jsonl"})
      fs::copy_file(dir + "/run" + name, dir + "/undigested" + name);
  }
  loud = bin("vdsr_train") + " -g -1 --resume " + dir + "/undigested/checkpoint.safetensors";
  REQUIRE(run_command(loud, &log) == 0);
  CHECK(log.find("training set:") != std::string::npos);  // the long way, which writes the weights
  // Nor an unscored record in its checkpoint (older, or scored before it was written): the weights
  // of the last step are there, so nothing is built.
  {
    SafeTensors scored = read_safetensors(ckpt);
    scored.metadata.erase("state.epoch_record");
    write_safetensors(ckpt, scored);
  }
  REQUIRE(run_command(bin("vdsr_train") + " -g -1 --resume " + ckpt, &log) == 0);
  CHECK(log.find("its weights are in") != std::string::npos);
  CHECK(log.find("training set:") == std::string::npos);
  // --out left out is the checkpoint's folder, also when that is the folder vdsr_train runs in.
  REQUIRE(run_command("cd " + dir + "/run && " + bin("vdsr_train") +
                          " -g -1 --resume checkpoint.safetensors",
                      &log) == 0);
  CHECK(log.find("its weights are in ./vdsr.safetensors") != std::string::npos);
  // A checkpoint in --out that cannot be read is not replaced by a resume of another one.
  REQUIRE(run_command(base + " --max-steps 5 --out " + dir + "/a", &log) == 0);
  fs::create_directories(dir + "/b");
  test::write_bytes(dir + "/b/checkpoint.safetensors",
                    {'n', 'o', 't', ' ', 'a', ' ', 'f', 'i', 'l', 'e'});
  REQUIRE(run_command(bin("vdsr_train") + " -q -g -1 --resume " + dir +
                          "/a/checkpoint.safetensors --out " + dir + "/b",
                      &log) == 1);
  CHECK(log.find(dir + "/b holds a checkpoint that cannot be read") != std::string::npos);
  CHECK(test::file_bytes(dir + "/b/checkpoint.safetensors") == "not a file");
}

TEST_CASE(
    "vdsr_convert --ema takes a checkpoint's averaged weights: those its run writes at its end") {
  const std::string dir = test::temp_dir("train_convert_ema"), hr = make_data(dir);
  const std::string base = bin("vdsr_train") + test::kTinyTrainFlags + " --train " + hr;
  std::string log;
  REQUIRE(run_command(base + " --ema 0.5 --out " + dir + "/run", &log) == 0);
  const std::string ckpt = dir + "/run/checkpoint.safetensors";
  REQUIRE(run_command(bin("vdsr_convert") + " --ema " + ckpt + " " + dir + "/ema.safetensors",
                      &log) == 0);
  INFO(log);
  CHECK(log.find("its raw weights are used") == std::string::npos);
  const VdsrWeights ema = load_weights(dir + "/ema.safetensors");
  CHECK(ema.params == load_weights(dir + "/run/vdsr.safetensors").params);
  CHECK(ema.metadata.at("weights") == "ema 0.5 (a checkpoint's)");
  // Without --ema, the raw weights, which differ.
  REQUIRE(run_command(bin("vdsr_convert") + " " + ckpt + " " + dir + "/raw.safetensors", &log) ==
          0);
  const VdsrWeights raw = load_weights(dir + "/raw.safetensors");
  CHECK(raw.params == load_checkpoint(ckpt, Device::cpu()).model->weights().params);
  CHECK(raw.params != ema.params);
  // A file with no average: refused in words.
  REQUIRE(run_command(
              bin("vdsr_convert") + " --ema " + dir + "/raw.safetensors " + dir + "/x.safetensors",
              &log) == 1);
  CHECK(log.find("holds no average of the weights") != std::string::npos);
  CHECK(!fs::exists(dir + "/x.safetensors"));
}
