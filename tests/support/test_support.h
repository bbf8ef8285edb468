// Helpers shared by the tests: data folders (skip or fail), GPU presence (skip), random inputs,
// running the built binaries.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "image/image_io.h"
#include "image/plane.h"
#include "model/train_options.h"
#include "model/trainer.h"

namespace vdsr::test {

constexpr int kSkipExitCode = 77;  // ctest's SKIP_RETURN_CODE for every test

// The data folder (VDSR_DATA_DIR from CMake, or the VDSR_DATA_DIR environment variable).
std::string data_dir();

// Returns data_dir()/sub when it exists. Otherwise exits the test process with kSkipExitCode and a
// message, or fails the test when VDSR_REQUIRE_DATA=1 is set.
std::string require_data(const std::string& sub);

// Exits with kSkipExitCode unless a CUDA device is usable by this build; with VDSR_REQUIRE_GPU=1
// (bench/gpu_check.sh sets it) fails instead, naming why the device cannot run the build.
void require_gpu();

// Exits with kSkipExitCode when this build has no library for image format `format` ("jpeg",
// "webp", "tiff": image_codecs_text says "<format> off"); with VDSR_REQUIRE_CODECS=1 (CI) fails.
void require_codec(const std::string& format);

// A fresh temporary folder under the build tree, removed by the caller if wanted.
std::string temp_dir(const std::string& name);

// Runs a shell command; returns its exit status and puts stdout+stderr into *output.
int run_command(const std::string& cmd, std::string* output);

// Starts args[0] with `args` as a child process (no shell), its stdout and stderr into the file
// `log`, with this process's environment plus `env` ("NAME=value" entries); returns its pid.
pid_t spawn(std::vector<std::string> args, const std::string& log,
            const std::vector<std::string>& env = {});
// The environment for spawn that makes the child's fsync of a file whose path holds `part` stall
// for up to 30 s after creating the file `mark` (tests/support/stall_fsync.cpp, by LD_PRELOAD), so
// that a test can send signals while that file is half written.
std::vector<std::string> stall_fsync_env(const std::string& part, const std::string& mark);
// A shell prefix for run_command that makes the command's listing of any folder fail (EIO) where
// its next entry would be `name` (tests/support/fail_readdir.cpp, by LD_PRELOAD).
std::string fail_readdir_prefix(const std::string& name);
// Waits up to `seconds` for `path` to exist.
bool wait_for_file(const std::string& path, double seconds);
// Waits up to `seconds` for child `pid` to end and returns its waitpid status; a child still
// running then is killed (SIGKILL) and -1 returned.
int wait_child(pid_t pid, double seconds);

// The whole content of a file ("" if it cannot be read).
std::string file_bytes(const std::string& path);

// True when a temporary file of an atomic write (*.tmp.*) is left anywhere under dir.
bool has_tmp_files(const std::string& dir);

// The message of the vdsr::Error that `f` throws (fails the test when it throws none).
std::string error_of(const std::function<void()>& f);

// Path of a built binary (build/bin/NAME).
std::string bin(const std::string& name);

// Deterministic random data.
std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed);
std::vector<float> random_ints(size_t n, int lo, int hi, uint32_t seed);  // integers stored as float
std::vector<double> to_double(const std::vector<float>& v);

// An 8-bit image of random pixels (channels 1..4).
Image test_image(int w, int h, int channels, uint32_t seed);
// Uniform random samples over the whole range of `bits` (8 or 16), h x w x c.
Image random_image(int h, int w, int c, int bits, uint32_t seed);
// A file's bytes; writes bytes to a file (REQUIREs success).
std::vector<unsigned char> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes);
// A PNG file built byte by byte, whatever its header claims (a fuzzing-style test's input): IHDR
// with these fields, PLTE and tRNS when given, `rows` (each row's filter byte 0, then its samples)
// as stored deflate, IEND; every chunk with its CRC.
std::vector<unsigned char> make_png(uint32_t w, uint32_t h, int depth, int color, const std::vector<unsigned char>& rows,
                                    const std::vector<unsigned char>& plte = {},
                                    const std::vector<unsigned char>& trns = {}, int interlace = 0);

// The trainer tests' tiny CPU run on the HR images of `train` into `out`: depth 3, 4 channels,
// patch 12 (stride 12), batch 4, 5 steps per epoch, 3 epochs, lr 0.01 divided by 10 after 2
// epochs, scales 2 and 3, seed 5, a log point every step. kTinyTrainFlags: the same as vdsr_train
// flags (with -q -g -1; --train and --out left to the caller).
TrainOptions tiny_train(const std::string& train, const std::string& out);
extern const char* const kTinyTrainFlags;
// run_training(o, hooks) with a stop request (signal `sig`, as vdsr_train's handler sets it) made
// after step `stop_at` (after hooks' own after_step, if any).
TrainResult train_stopped_at(const TrainOptions& o, int64_t stop_at, int sig,
                             TrainHooks hooks = {});

// A one-channel image holding a plane of integer levels 0..255 (e.g. a Y channel).
Image grey_image(const Plane& y);

}  // namespace vdsr::test
