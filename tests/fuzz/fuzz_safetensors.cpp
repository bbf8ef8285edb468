// libFuzzer target: io/safetensors' parser on the raw bytes, then, for a file it accepts,
// model/weights_io's weights_from_safetensors (the loader every binary uses) and a
// serialise-and-parse round trip that must give back the same metadata and tensors. The only
// acceptable failure is a vdsr::Error; any other exception, a crash, a sanitizer report or a round
// trip that differs is a finding.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "model/weights_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vdsr::SafeTensors st;
  try {
    st = vdsr::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const vdsr::Error&) {
    return 0;
  }
  // Whatever the reader accepts, the writer must write and the reader read back unchanged.
  const std::vector<uint8_t> bytes = vdsr::serialize_safetensors(st);
  const vdsr::SafeTensors back = vdsr::parse_safetensors(bytes.data(), bytes.size(), "round trip");
  if (back.metadata != st.metadata || back.tensors.size() != st.tensors.size()) std::abort();
  for (size_t i = 0; i < st.tensors.size(); ++i) {
    const auto& [n0, t0] = st.tensors[i];
    const auto& [n1, t1] = back.tensors[i];
    if (n0 != n1 || t0.dtype != t1.dtype || t0.shape != t1.shape || t0.data != t1.data)
      std::abort();
  }
  try {
    const vdsr::VdsrWeights w = vdsr::weights_from_safetensors(st, "fuzz.safetensors");
    if (w.config.depth < 2 || w.config.channels < 1) std::abort();
  } catch (const vdsr::Error&) {
  }
  return 0;
}
