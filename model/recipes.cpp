#include "model/recipes.h"

#include "engine/error.h"

namespace vdsr {

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> table = {
      {"bundled",
       "the bundled model's recipe and the defaults: SGD lr 0.01 for 70,000 steps then 0.001, global-norm "
       "clip 0.4, 90,000 steps (Set5 37.00 / 33.16 / 30.86 dB; 0.2-0.5 dB short of the paper)",
       {{"--optimizer", "sgd"}, {"--lr", "0.01"}, {"--lr-schedule", "step"}, {"--lr-step", "70"},
        {"--warmup-steps", "0"}, {"--momentum", "0.9"}, {"--weight-decay", "0.0001"},
        {"--clip-mode", "norm"}, {"--clip", "0.4"}, {"--ema", "0"}, {"--batch", "64"},
        {"--epochs", "90"}, {"--epoch-iters", "1000"}}},
      {"paper",
       "the paper's words: SGD lr 0.1 divided by 10 every 20 epochs of 125 steps, each gradient element "
       "clipped to theta / lr; the paper gives no theta, 1e-5 is our guess. Collapsed at lr 0.1 with norm "
       "clipping; not yet run with this clip",
       {{"--optimizer", "sgd"}, {"--lr", "0.1"}, {"--lr-schedule", "step"}, {"--lr-step", "20"},
        {"--warmup-steps", "0"}, {"--momentum", "0.9"}, {"--weight-decay", "0.0001"},
        {"--clip-mode", "value"}, {"--clip", "1e-05"}, {"--clip-scale-by-lr", ""}, {"--ema", "0"},
        {"--batch", "64"}, {"--epochs", "80"}, {"--epoch-iters", "125"}}},
      {"pytorch-port",
       "the PyTorch port's per-step dynamics on our loss (its summed loss has 2B = 256 times our gradient: "
       "lr x 256, clip and weight decay / 256), its data (no flips, down-scaled copies 0.7 and 0.5), no "
       "biases, fan-out init, batch 128, lr / 10 every 10 full passes, 50 passes",
       {{"--optimizer", "sgd"}, {"--lr", "25.6"}, {"--lr-schedule", "step"}, {"--lr-step", "10"},
        {"--warmup-steps", "0"}, {"--momentum", "0.9"}, {"--weight-decay", "3.90625e-07"},
        {"--clip-mode", "norm"}, {"--clip", "0.0015625"}, {"--ema", "0"}, {"--batch", "128"},
        {"--epochs", "50"}, {"--epoch-iters", "0"}, {"--no-augment", ""}, {"--downscales", "0.7,0.5"},
        {"--no-bias", ""}, {"--init", "fan-out"}}},
      {"fast",
       "a candidate, not a result (until the GPU screen decides): Adam lr 2e-4, 2,000 warm-up steps, cosine "
       "to 2e-6, no clipping, EMA 0.999, 150,000 steps of 64",
       {{"--optimizer", "adam"}, {"--lr", "0.0002"}, {"--lr-schedule", "cosine"}, {"--lr-min", "2e-06"},
        {"--warmup-steps", "2000"}, {"--weight-decay", "0.0001"}, {"--clip-mode", "none"},
        {"--ema", "0.999"}, {"--batch", "64"}, {"--epochs", "150"}, {"--epoch-iters", "1000"}}},
  };
  return table;
}

const Recipe& find_recipe(const std::string& name) {
  std::string known;
  for (const auto& r : recipes()) {
    if (name == r.name) return r;
    known += std::string(known.empty() ? "" : ", ") + r.name;
  }
  VDSR_USER_FAIL("--recipe: unknown recipe '" << name << "' (known: " << known << ")");
}

std::string recipe_flags_text(const Recipe& r) {
  std::string s;
  for (const auto& [flag, value] : r.flags) s += (s.empty() ? "" : " ") + flag + (value.empty() ? "" : " " + value);
  return s;
}

}  // namespace vdsr
