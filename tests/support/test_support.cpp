#include "tests/support/test_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "engine/device.h"
#include "image/image_io.h"
#include "engine/error.h"

namespace vdsr::test {

std::string data_dir() {
  if (const char* env = std::getenv("VDSR_DATA_DIR"); env != nullptr && *env != '\0') return env;
  return VDSR_DATA_DIR;
}

std::string require_data(const std::string& sub) {
  const std::string path = data_dir() + "/" + sub;
  if (std::filesystem::is_directory(path) || std::filesystem::is_regular_file(path)) return path;
  const char* req = std::getenv("VDSR_REQUIRE_DATA");
  if (req != nullptr && std::string(req) == "1") FAIL("required data missing: " << path);
  std::cout << "SKIPPED: data not found at " << path << " (set VDSR_DATA_DIR)" << std::endl;
  std::exit(kSkipExitCode);
}

void require_codec(const std::string& format) {
  const std::string codecs = image_codecs_text();
  if (codecs.find(format + " off") == std::string::npos) return;
  const char* req = std::getenv("VDSR_REQUIRE_CODECS");
  if (req != nullptr && std::string(req) == "1") FAIL("VDSR_REQUIRE_CODECS=1 but this build has " << format << " off");
  std::cout << "SKIPPED: this build has no " << format << " library (" << codecs << ")" << std::endl;
  std::exit(kSkipExitCode);
}

void require_gpu() {
  std::string why;
  if (usable_cuda_devices(&why) > 0) return;
  const char* req = std::getenv("VDSR_REQUIRE_GPU");
  if (req != nullptr && std::string(req) == "1") FAIL("VDSR_REQUIRE_GPU=1 but no GPU is usable: " << why);
  std::cout << "SKIPPED: no usable GPU (" << why << ")" << std::endl;
  std::exit(kSkipExitCode);
}

TrainResult train_stopped_at(const TrainOptions& o, int64_t stop_at, int sig, TrainHooks hooks) {
  std::atomic<int> stop{0};
  hooks.stop = &stop;
  hooks.after_step = [&, own = hooks.after_step](Vdsr& m, int64_t steps) {
    if (own) own(m, steps);
    if (steps == stop_at) stop = sig;
  };
  return run_training(o, hooks);
}

TrainOptions tiny_train(const std::string& train, const std::string& out) {
  TrainOptions o;
  o.train = {train};
  o.out = out;
  o.data.scales = {2, 3};
  o.data.patch = 12;
  o.data.stride = 12;
  o.model = VdsrConfig{3, 4, true};
  o.batch = 4;
  o.epochs = 3;
  o.epoch_iters = 5;
  o.lr_step = 2;
  o.step.lr = 0.01;
  o.seed = 5;
  o.log_every = 1;
  return o;
}

const char* const kTinyTrainFlags =
    " -q -g -1 --depth 3 --channels 4 --patch 12 --stride 12 --batch 4 --epochs 3 --epoch-iters 5"
    " --lr-step 2 --lr 0.01 --scales 2,3 --seed 5 --log-every 1";

std::string temp_dir(const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("vdsr_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::string out;
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t spawn(std::vector<std::string> args, const std::string& log,
            const std::vector<std::string>& env) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  REQUIRE(pid > 0);
  return pid;
}

std::vector<std::string> stall_fsync_env(const std::string& part, const std::string& mark) {
  // An instrumented build (AddressSanitizer) refuses a preloaded library ahead of its runtime
  // unless told not to check.
  const char* asan = std::getenv("ASAN_OPTIONS");
  return {
      std::string("LD_PRELOAD=") + VDSR_STALL_FSYNC_LIB, "VDSR_STALL_FSYNC=" + part,
      "VDSR_STALL_MARK=" + mark,
      std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") + ":verify_asan_link_order=0"};
}

std::string fail_readdir_prefix(const std::string& name) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  return std::string("LD_PRELOAD=") + VDSR_FAIL_READDIR_LIB + " VDSR_FAIL_READDIR='" + name +
         "' ASAN_OPTIONS='" + (asan != nullptr ? asan : "") + ":verify_asan_link_order=0' ";
}

bool wait_for_file(const std::string& path, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!std::filesystem::exists(path)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int wait_child(pid_t pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has_tmp_files(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const vdsr::Error& e) {
    return e.what();
  }
  FAIL("expected a vdsr::Error");
  return {};
}

std::string bin(const std::string& name) { return std::string(VDSR_BIN_DIR) + "/" + name; }

std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> random_ints(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(dist(rng));
  return v;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

Image test_image(int w, int h, int channels, uint32_t seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  const auto v = random_ints(size_t(w) * size_t(h) * size_t(channels), 0, 255, seed);
  img.pixels.assign(v.begin(), v.end());
  return img;
}

Image random_image(int h, int w, int c, int bits, uint32_t seed) {
  const auto v = random_ints(size_t(h) * size_t(w) * size_t(c), 0, bits == 16 ? 65535 : 255, seed);
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.bits = bits;
  img.pixels.assign(v.begin(), v.end());
  return img;
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

Image grey_image(const Plane& y) {
  Image img;
  img.width = y.width;
  img.height = y.height;
  img.channels = 1;
  img.pixels.resize(y.v.size());
  for (size_t i = 0; i < y.v.size(); ++i) img.pixels[i] = uint16_t(y.v[i]);
  return img;
}

namespace {

// PNG files byte by byte: chunks with CRCs, image data as stored (uncompressed) deflate.
uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put32(std::vector<unsigned char>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

void chunk(std::vector<unsigned char>& png, const char* type, const std::vector<unsigned char>& data) {
  put32(png, uint32_t(data.size()));
  std::vector<unsigned char> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put32(png, crc32(body.data(), body.size()));
}

std::vector<unsigned char> zlib_stored(const std::vector<unsigned char>& raw) {
  std::vector<unsigned char> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    z.push_back(static_cast<unsigned char>(n & 0xff));
    z.push_back(static_cast<unsigned char>(n >> 8));
    z.push_back(static_cast<unsigned char>(~n & 0xff));
    z.push_back(static_cast<unsigned char>((~n >> 8) & 0xff));
    z.insert(z.end(), raw.begin() + long(pos), raw.begin() + long(pos + n));
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  return z;
}

}  // namespace

std::vector<unsigned char> make_png(uint32_t w, uint32_t h, int depth, int color, const std::vector<unsigned char>& rows,
                                    const std::vector<unsigned char>& plte, const std::vector<unsigned char>& trns,
                                    int interlace) {
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<unsigned char> ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr.insert(ihdr.end(), {static_cast<unsigned char>(depth), static_cast<unsigned char>(color), 0, 0,
                           static_cast<unsigned char>(interlace)});
  chunk(png, "IHDR", ihdr);
  if (!plte.empty()) chunk(png, "PLTE", plte);
  if (!trns.empty()) chunk(png, "tRNS", trns);
  chunk(png, "IDAT", zlib_stored(rows));
  chunk(png, "IEND", {});
  return png;
}

}  // namespace vdsr::test
