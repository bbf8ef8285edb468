// The engine core: thread pool, arena, buffers and tensors, the CPU kernels' aligned scratch,
// atomic files, error messages, durations, device selection.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/aligned_vector.h"
#include "engine/arena.h"
#include "engine/atomic_file.h"
#include "engine/buffer.h"
#include "engine/collective.h"
#include "engine/cpu_features.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/folder_lock.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "engine/values.h"
#include "tests/support/test_support.h"

using namespace vdsr;
namespace fs = std::filesystem;

namespace {

// Names in `dir` that contain ".tmp." (AtomicFile's temporary files).
std::vector<std::string> tmp_leftovers(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// The message of the vdsr::Error that fn throws ("" if it throws none).
template <class F>
std::string error_message(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- ThreadPool
// ----------------------------------------------------------------------------------

TEST_CASE("ThreadPool: every index is visited exactly once, in chunks of at least grain") {
  for (const int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    REQUIRE(pool.size() == threads);
    for (const int64_t n : {0, 1, 2, 7, 64, 100, 1000, 4097, 100003}) {
      for (const int64_t grain : {-1, 0, 1, 3, 64, 1000, 1 << 20}) {
        INFO("threads " << threads << ", n " << n << ", grain " << grain);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        for (auto& h : hits) h = 0;
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace_back(begin, end);
        });
        int64_t bad = 0;
        for (const auto& h : hits) bad += h.load() != 1;
        CHECK(bad == 0);
        if (n == 0) {
          CHECK(chunks.empty());
          continue;
        }
        // The chunks tile [0, n) without gaps or overlaps; each has at least min(grain, n) items.
        std::sort(chunks.begin(), chunks.end());
        CHECK(chunks.front().first == 0);
        CHECK(chunks.back().second == n);
        const int64_t min_chunk = std::min<int64_t>(std::max<int64_t>(grain, 1), n);
        for (size_t c = 0; c < chunks.size(); ++c) {
          CHECK(chunks[c].second - chunks[c].first >= min_chunk);
          if (c > 0) CHECK(chunks[c].first == chunks[c - 1].second);
        }
      }
    }
  }
}

TEST_CASE("ThreadPool: exceptions from the work propagate and the pool stays usable") {
  for (const int threads : {1, 4}) {
    INFO("threads " << threads);
    ThreadPool pool(threads);
    CHECK_THROWS_WITH(pool.parallel_for(1000, 1,
                                        [](int64_t begin, int64_t end) {
                                          if (begin <= 500 && 500 < end)
                                            throw std::runtime_error("boom at 500");
                                        }),
                      "boom at 500");
    CHECK_THROWS_AS(
        pool.parallel_for(1000, 10, [](int64_t, int64_t) { VDSR_FAIL("every chunk fails"); }),
        Error);
    std::atomic<int64_t> sum{0};
    pool.parallel_for(1000, 7, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum += i;
    });
    CHECK(sum == 999 * 1000 / 2);
  }
}

TEST_CASE("ThreadPool: a pool of 1 runs everything inline on the caller") {
  ThreadPool pool(1);
  const auto me = std::this_thread::get_id();
  int calls = 0;
  bool all_here = true;
  pool.parallel_for(100000, 1, [&](int64_t begin, int64_t end) {
    ++calls;  // not atomic: only the calling thread runs work
    all_here = all_here && std::this_thread::get_id() == me;
    CHECK(begin == 0);
    CHECK(end == 100000);
  });
  CHECK(calls == 1);
  CHECK(all_here);
}

TEST_CASE("ThreadPool: bad sizes are errors, nested and concurrent use run inline") {
  CHECK_THROWS_AS(ThreadPool(0), Error);
  CHECK_THROWS_AS(ThreadPool(-3), Error);
  ThreadPool pool(3);
  std::atomic<int64_t> inner{0};
  pool.parallel_for(1000, 1, [&](int64_t begin, int64_t end) {
    pool.parallel_for(end - begin, 1, [&](int64_t b, int64_t e) { inner += e - b; });
  });
  CHECK(inner == 1000);
  // Two application threads using the pool at once both finish with every item visited.
  std::atomic<int64_t> a{0}, b{0};
  std::thread other([&] {
    for (int i = 0; i < 200; ++i) pool.parallel_for(1000, 1, [&](int64_t x, int64_t y) { a += y - x; });
  });
  for (int i = 0; i < 200; ++i) pool.parallel_for(1000, 1, [&](int64_t x, int64_t y) { b += y - x; });
  other.join();
  CHECK(a == 200000);
  CHECK(b == 200000);
}

TEST_CASE("ThreadPool: VDSR_THREADS takes 1 to 1024 threads, nothing else") {
  // Only parsed here: no pool of that size is started.
  const char* old = std::getenv("VDSR_THREADS");
  const std::string saved = old != nullptr ? old : "";
  auto threads = [](const char* value) {
    ::setenv("VDSR_THREADS", value, 1);
    return ThreadPool::threads_from_environment();
  };
  CHECK(threads("1") == 1);
  CHECK(threads("7") == 7);
  CHECK(threads("1024") == 1024);
  for (const char* bad : {"0", "1025", "-1", "2.5", "8 ", "abc", "99999999999"}) {
    INFO(bad);
    CHECK_THROWS_WITH(threads(bad), Catch::Contains("VDSR_THREADS must be a whole number of threads from 1 to 1024"));
  }
  ::unsetenv("VDSR_THREADS");
  CHECK(ThreadPool::threads_from_environment() >= 1);  // unset: the hardware's count
  if (old != nullptr) ::setenv("VDSR_THREADS", saved.c_str(), 1);
}

TEST_CASE("ThreadPool: the global pool can be resized") {
  const int before = ThreadPool::global().size();
  ThreadPool::set_global_threads(3);
  CHECK(ThreadPool::global().size() == 3);
  std::atomic<int64_t> count{0};
  parallel_for(5000, 16, [&](int64_t begin, int64_t end) { count += end - begin; });
  CHECK(count == 5000);
  CHECK_THROWS_AS(ThreadPool::set_global_threads(0), Error);
  CHECK(ThreadPool::global().size() == 3);  // a failed resize keeps the old pool
  ThreadPool::set_global_threads(before);
}

// ---- Arena
// ---------------------------------------------------------------------------------------

TEST_CASE("Arena: allocations are aligned and do not overlap") {
  Arena arena(Device::cpu(), 1 << 16, "scratch");
  CHECK(arena.capacity() == 1 << 16);
  CHECK(arena.device() == Device::cpu());
  char* prev_end = nullptr;
  for (const size_t align : {size_t(1), size_t(4), size_t(64), size_t(256), size_t(4096)}) {
    for (const size_t bytes : {size_t(1), size_t(3), size_t(100)}) {
      auto* p = static_cast<char*>(arena.alloc(bytes, align));
      CHECK(aligned(p, align));
      if (prev_end != nullptr) CHECK(p >= prev_end);
      prev_end = p + bytes;
    }
  }
  float* f = arena.alloc_floats(10);
  CHECK(aligned(f, 256));
  CHECK(arena.used() <= arena.capacity());
  CHECK_THROWS_WITH(arena.alloc(8, 3), Catch::Contains("not a power of 2"));
  CHECK_THROWS_AS(arena.alloc(8, 0), Error);
}

TEST_CASE("Arena: overflow throws naming the arena, and reset frees everything") {
  Arena arena(Device::cpu(), 1000, "activations");
  void* first = arena.alloc(600, 64);
  const size_t used = arena.used();
  CHECK(used >= 600);
  CHECK_THROWS_WITH(arena.alloc(600, 64),
                    Catch::Contains("activations") && Catch::Contains("full"));
  CHECK(arena.used() == used);  // a failed alloc takes nothing
  arena.reset();
  CHECK(arena.used() == 0);
  CHECK(arena.alloc(600, 64) == first);
  CHECK_THROWS_AS(arena.alloc(size_t(1) << 40), Error);
  // Sizes near SIZE_MAX (a negative count cast to size_t) must not wrap past the check.
  CHECK_THROWS_AS(arena.alloc(SIZE_MAX), Error);
  CHECK_THROWS_AS(arena.alloc(SIZE_MAX - 100), Error);
  CHECK_THROWS_AS(arena.alloc_floats(SIZE_MAX / sizeof(float)), Error);
  CHECK(arena.used() == used);
  // A default arena has no memory.
  Arena none;
  CHECK(none.capacity() == 0);
  CHECK_THROWS_AS(none.alloc(1), Error);
}

TEST_CASE("Arena: capacity from bytes_for fits exactly those allocations") {
  CHECK(Arena::bytes_for(1) == 256);
  CHECK(Arena::bytes_for(256) == 256);
  CHECK(Arena::bytes_for(257) == 512);
  CHECK(Arena::bytes_for(0) == 0);
  CHECK(Arena::bytes_for(100, 64) == 128);
  // The last size fills its rounded slot, so any padding at the base would overflow (a CPU buffer
  // aligned to less than 256 bytes did that). Several arenas, so several base addresses.
  const std::vector<size_t> sizes = {1000, 4, 256, 100000, 1024};
  size_t total = 0;
  for (const size_t s : sizes) total += Arena::bytes_for(s);
  std::vector<Arena> keep;  // keeps earlier buffers alive so the allocator hands out new addresses
  for (int rep = 0; rep < 8; ++rep) {
    INFO("rep " << rep);
    keep.emplace_back(Device::cpu(), total, "sized");
    Arena& arena = keep.back();
    for (const size_t s : sizes) CHECK_NOTHROW(arena.alloc(s));
    CHECK(arena.used() == total);
    Arena one(Device::cpu(), Arena::bytes_for(1000), "one");
    CHECK_NOTHROW(one.alloc(1000));
  }
}

// ---- Buffer and Tensor
// ---------------------------------------------------------------------------

TEST_CASE("AlignedVector and AlignedScratch start on a cache line at every size") {
  // The CPU kernels' vector loads and stores count on it (engine/aligned_vector.h); a few sizes on
  // each side of malloc's switch to mmap (128 KiB), with a small block held to move the heap.
  std::vector<float> hold(3);
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(1000), std::size_t(32768 - 3),
                        std::size_t(32768 + 5), std::size_t(1) << 20}) {
    AlignedVector<float> v(n, 1.0f);
    AlignedScratch<float> a(n);
    CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % kCacheLine == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % kCacheLine == 0);
    a.data()[n - 1] = 2.0f;  // the whole range is ours (ASan / valgrind would say otherwise)
    CHECK(a.data()[n - 1] == 2.0f);
    CHECK(v[n - 1] == 1.0f);
    hold.push_back(float(n));
  }
}

TEST_CASE("Buffer: CPU allocation, zero, move") {
  Buffer b(Device::cpu(), 1000);
  REQUIRE(b.data() != nullptr);
  CHECK(b.bytes() == 1000);
  CHECK_FALSE(b.empty());
  CHECK(b.device().is_cpu());
  CHECK(aligned(b.data(), 64));
  std::memset(b.data(), 0xAB, 1000);
  b.zero();
  const auto* bytes = static_cast<const unsigned char*>(b.data());
  CHECK(std::all_of(bytes, bytes + 1000, [](unsigned char c) { return c == 0; }));

  void* p = b.data();
  Buffer moved(std::move(b));
  CHECK(moved.data() == p);
  CHECK(moved.bytes() == 1000);
  CHECK(b.data() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  CHECK(b.empty());

  Buffer other(Device::cpu(), 10);
  other = std::move(moved);
  CHECK(other.data() == p);
  CHECK(moved.empty());

  Buffer empty(Device::cpu(), 0);
  CHECK(empty.empty());
  CHECK(empty.data() == nullptr);
  empty.zero();  // no-op

  if (!cuda_compiled()) CHECK_THROWS_AS(Buffer(Device::cuda(0), 16), Error);
}

TEST_CASE("Tensor: shape, zero, copy to the CPU") {
  Tensor t({2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.dim(1) == 3);
  CHECK(t.shape_string() == "[2, 3, 4]");
  CHECK(t.device() == Device::cpu());
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(i) * 0.5f;

  Tensor c = t.to(Device::cpu());
  CHECK(c.shape() == t.shape());
  REQUIRE(c.data() != t.data());
  CHECK(std::memcmp(c.data(), t.data(), 24 * sizeof(float)) == 0);
  c.data()[5] = -1.0f;
  CHECK(t.data()[5] == 2.5f);  // a deep copy

  t.zero();
  CHECK(std::all_of(t.data(), t.data() + 24, [](float x) { return x == 0.0f; }));

  Tensor moved(std::move(c));
  CHECK(moved.data()[5] == -1.0f);
  CHECK(moved.numel() == 24);

  CHECK(Tensor({1, 64, 41, 41}).shape_string() == "[1, 64, 41, 41]");
  CHECK(Tensor({0, 5}).numel() == 0);
  CHECK(Tensor(Device::cpu(), std::vector<int64_t>{}).shape_string() == "[]");
  CHECK_THROWS_WITH(Tensor({2, -1}),
                    Catch::Contains("negative dimension") && Catch::Contains("[2, -1]"));
}

// ---- AtomicFile
// ----------------------------------------------------------------------------------

TEST_CASE("AtomicFile: writes the content under the final name") {
  const std::string dir = test::temp_dir("atomic_write");
  const std::string path = dir + "/out.bin";
  const std::string content("hello\0world", 11);
  write_file_atomic(path, content.data(), content.size());
  CHECK(test::file_bytes(path) == content);
  CHECK(tmp_leftovers(dir).empty());

  AtomicFile f(dir + "/two.txt");
  CHECK(f.path() == dir + "/two.txt");
  f.write("ab", 2);
  f.write("cd", 2);
  f.write("", 0);
  CHECK_FALSE(fs::exists(dir + "/two.txt"));  // nothing under the final name before commit
  f.commit();
  CHECK(test::file_bytes(dir + "/two.txt") == "abcd");
  CHECK_THROWS_AS(f.write("x", 1), Error);
  CHECK_THROWS_AS(f.commit(), Error);
  CHECK(tmp_leftovers(dir).empty());
  // A target that cannot be created is named as the user gave it, not by its temporary's name.
  const std::string why = test::error_of([&] { AtomicFile(dir + "/missing/x.bin"); });
  CHECK(why.find("cannot write '" + dir + "/missing/x.bin': ") != std::string::npos);
  CHECK(why.find(".tmp.") == std::string::npos);
  fs::remove_all(dir);
}

// The child of the test below (hidden from a plain run): writes and removes more files than there
// are tracking slots (each freed with its file), writes a file half way and a tracked scratch
// folder with a file in it, then the signal VDSR_SIGNAL_TEST_SIGNAL ends it; with
// VDSR_SIGNAL_TEST_IGNORE the signal was ignored from the start and the process goes on.
TEST_CASE("a process killed while it writes", "[.signal_child]") {
  const char* dir = std::getenv("VDSR_SIGNAL_TEST_DIR");
  REQUIRE(dir != nullptr);
  const char* which = std::getenv("VDSR_SIGNAL_TEST_SIGNAL");
  const int sig = which != nullptr ? std::atoi(which) : SIGTERM;
  const bool ignore = std::getenv("VDSR_SIGNAL_TEST_IGNORE") != nullptr;
  if (ignore) std::signal(sig, SIG_IGN);
  remove_temporaries_on_signals();
  for (int i = 0; i < 300; ++i) {
    const std::string done = std::string(dir) + "/done" + std::to_string(i % 3) + ".bin";
    write_file_atomic(done, "x", 1);
    fs::remove(done);
  }
  AtomicFile f(std::string(dir) + "/out.bin");
  f.write("half", 4);
  const std::string scratch = std::string(dir) + "/out.mat.matio.AbC123";
  fs::create_directories(scratch);
  std::ofstream(scratch + "/model.mat") << "partial";
  // A tracked name that is not a temporary's is never removed.
  std::ofstream(std::string(dir) + "/keep.txt") << "the user's";
  const int slots[3] = {track_temporary(scratch), track_temporary(scratch + "/model.mat"),
                        track_temporary(std::string(dir) + "/keep.txt")};
  std::raise(sig);
  for (const int slot : slots) untrack_temporary(slot);
  std::exit(ignore ? 7 : 0);  // only with the signal ignored
}

TEST_CASE(
    "AtomicFile: a SIGINT or SIGTERM or SIGHUP while a file is written removes its temporaries and "
    "still ends the process") {
  const std::string dir = test::temp_dir("atomic_signal");
  std::string log;
  const std::string child =
      "VDSR_SIGNAL_TEST_DIR=" + dir + " " + test::bin("test_engine") + " '[.signal_child]'";
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    INFO("signal " << sig);
    const int rc =
        test::run_command("VDSR_SIGNAL_TEST_SIGNAL=" + std::to_string(sig) + " " + child, &log);
    INFO(log);
    CHECK((rc == 128 + sig || rc == -1));  // the shell's status for it, or the signal itself
    CHECK(fs::exists(dir + "/keep.txt"));
    fs::remove(dir + "/keep.txt");
    CHECK(fs::is_empty(dir));
  }
  // A signal the process was started ignoring (nohup) stays ignored: it goes on.
  REQUIRE(test::run_command("VDSR_SIGNAL_TEST_IGNORE=1 " + child, &log) == 7);
  CHECK(fs::exists(dir + "/out.mat.matio.AbC123/model.mat"));
  fs::remove_all(dir);
}

TEST_CASE("AtomicFile: failures leave no file and no temporary") {
  const std::string dir = test::temp_dir("atomic_fail");

  // A folder that does not exist: the error names the target.
  const std::string missing = dir + "/no_such_folder/out.bin";
  CHECK_THROWS_WITH(write_file_atomic(missing, "x", 1), Catch::Contains(missing));
  CHECK_FALSE(fs::exists(missing));

  // Destroyed before commit (an exception between write and commit).
  {
    AtomicFile f(dir + "/abandoned.bin");
    f.write("partial", 7);
    CHECK(tmp_leftovers(dir).size() == 1);
  }
  CHECK_FALSE(fs::exists(dir + "/abandoned.bin"));
  CHECK(tmp_leftovers(dir).empty());

  // The rename fails (the target became a non-empty folder after the file was opened; one there
  // before is refused at once, check_writable): commit throws, the folder is untouched.
  {
    AtomicFile f(dir + "/taken");
    fs::create_directories(dir + "/taken/inner");
    f.write("data", 4);
    CHECK_THROWS_WITH(f.commit(), Catch::Contains("taken"));
  }
  CHECK(fs::is_directory(dir + "/taken/inner"));
  CHECK(tmp_leftovers(dir).empty());
  fs::remove_all(dir);
}

TEST_CASE(
    "AtomicFile: a name near the file systems' 255-byte limit is written through a shorter "
    "temporary") {
  const std::string dir = test::temp_dir("atomic_long");
  const std::string name = std::string(250, 'a') + ".bin";  // 254 bytes: no room for ".tmp.*"
  write_file_atomic(dir + "/" + name, "long", 4);
  CHECK(test::file_bytes(dir + "/" + name) == "long");
  CHECK(tmp_leftovers(dir).empty());
  // Short names are kept whole; a long one is cut to leave the suffix whole within 255 bytes.
  CHECK(temporary_beside("d/out.png", ".tmp.h.1.0") == "d/out.png.tmp.h.1.0");
  CHECK(temporary_beside("out.png", ".x") == "out.png.x");
  const std::string cut = temporary_beside("d/e/" + name, ".matio.XXXXXX");
  CHECK(cut.size() == 4 + 255);
  CHECK(cut == "d/e/" + name.substr(0, 255 - 13) + ".matio.XXXXXX");
  fs::remove_all(dir);
}

TEST_CASE("AtomicFile: commit replaces an existing file") {
  const std::string dir = test::temp_dir("atomic_replace");
  const std::string path = dir + "/model.safetensors";
  write_file_atomic(path, "old contents", 12);
  {
    AtomicFile f(path);
    f.write("new", 3);
    CHECK(test::file_bytes(path) == "old contents");  // readers see the old file until commit
    f.commit();
    CHECK(test::file_bytes(path) == "new");
  }
  {
    AtomicFile f(path);  // abandoned: the committed file stays
    f.write("newer", 5);
  }
  CHECK(test::file_bytes(path) == "new");
  CHECK(tmp_leftovers(dir).empty());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  CHECK(names == std::vector<std::string>{"model.safetensors"});
  fs::remove_all(dir);
}

TEST_CASE(
    "AtomicFile: a link or a FIFO or a device or a folder is refused before a temporary is made") {
  const std::string dir = test::temp_dir("atomic_links");
  write_file_atomic(dir + "/real.json", "old", 3);
  fs::create_symlink("real.json", dir + "/link.json");  // relative, as `ln -s` makes them
  fs::create_symlink("made.json", dir + "/dangling.json");
  REQUIRE(::mkfifo((dir + "/fifo.json").c_str(), 0644) == 0);
  fs::create_symlink("fifo.json", dir + "/to_fifo.json");
  fs::create_directories(dir + "/folder.json");
  // Through a link a folder of outputs could overwrite an input, and replacing the link would leave
  // its target stale; renaming over a FIFO or a device would replace it (as root, /dev/null).
  for (const auto& [name, words] : std::vector<std::pair<std::string, std::string>>{
           {"link.json",
            "it is a symbolic link (to real.json): the tools write regular files only"},
           {"dangling.json", "it is a symbolic link (to made.json)"},
           {"to_fifo.json", "it is a symbolic link (to fifo.json)"},
           {"fifo.json", "it is a FIFO (named pipe), not a file, and writing would replace it"},
           {"folder.json", "it is a folder; give a file name"}}) {
    INFO(name);
    CHECK_THROWS_AS(write_file_atomic(dir + "/" + name, "x", 1), UserError);
    CHECK_THROWS_WITH(write_file_atomic(dir + "/" + name, "x", 1),
                      Catch::Contains("cannot write '" + dir + "/" + name + "': " + words));
  }
  CHECK(test::file_bytes(dir + "/real.json") == "old");
  CHECK(fs::is_symlink(dir + "/link.json"));
  CHECK(!fs::exists(dir + "/made.json"));
  CHECK(fs::is_fifo(dir + "/fifo.json"));
  CHECK(fs::is_directory(dir + "/folder.json"));
  CHECK_THROWS_WITH(check_writable("/dev/null"), Catch::Contains("it is a device, not a file"));
  CHECK_NOTHROW(check_writable(dir + "/real.json"));
  CHECK_NOTHROW(check_writable(dir + "/new.json"));
  CHECK(tmp_leftovers(dir).empty());
  fs::remove_all(dir);
}

// ---- Errors, logging, devices
// --------------------------------------------------------------------

TEST_CASE("Errors: VDSR_CHECK names the file, line and expression") {
  const int value = 42;
  int line = 0;
  const std::string msg = error_message([&] {
    line = __LINE__ + 1;
    VDSR_CHECK(value + 1 == 3, "value was " << value);
  });
  CHECK(msg == "tests/test_engine.cpp:" + std::to_string(line) +
                   ": check `value + 1 == 3` failed: value was 42");

  // Without a message.
  const std::string bare = error_message([&] { VDSR_CHECK(value < 0, ""); });
  CHECK_THAT(bare, Catch::StartsWith("tests/test_engine.cpp:") &&
                       Catch::EndsWith("check `value < 0` failed"));

  // From the engine: the engine's file and its expression.
  const std::string engine = error_message([] { ThreadPool pool(0); });
  CHECK_THAT(engine, Catch::StartsWith("engine/thread_pool.cpp:") &&
                         Catch::Contains("threads >= 1") && Catch::Contains("got 0"));

  // A passing check does nothing.
  CHECK_NOTHROW([&] { VDSR_CHECK(value == 42, "unused"); }());
  // vdsr::Error is a std::runtime_error.
  CHECK_THROWS_AS([] { VDSR_CHECK(false, "x"); }(), std::runtime_error);
}

TEST_CASE("Errors: VDSR_FAIL throws with file:line and the message only") {
  int line = 0;
  const std::string msg = error_message([&] {
    line = __LINE__ + 1;
    VDSR_FAIL("cannot open '" << std::string("a.png") << "'");
  });
  CHECK(msg == "tests/test_engine.cpp:" + std::to_string(line) + ": cannot open 'a.png'");
}

TEST_CASE("format_duration") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(5.4) == "0:05");
  CHECK(format_duration(59.6) == "1:00");
  CHECK(format_duration(61) == "1:01");
  CHECK(format_duration(3599) == "59:59");
  CHECK(format_duration(3600) == "1:00:00");
  CHECK(format_duration(3661) == "1:01:01");
  CHECK(format_duration(100 * 3600 + 5) == "100:00:05");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_duration(std::nan("")) == "--:--");
  CHECK(format_duration(1e12) == "--:--");
}

// The child of the test below (hidden from a plain run), its stderr a pipe: progress lines at a
// 0.05 s interval, in the mode VDSR_PROGRESS_TEST_MODE names.
TEST_CASE("progress where stderr is no terminal", "[.progress_child]") {
  const char* mode_text = std::getenv("VDSR_PROGRESS_TEST_MODE");
  REQUIRE(mode_text != nullptr);
  const std::string mode = mode_text;
  if (mode == "quiet") set_log_level(LogLevel::Quiet);
  if (mode != "default interval") set_plain_progress_interval(0.05);
  const auto nap = [] { std::this_thread::sleep_for(std::chrono::milliseconds(80)); };
  if (mode == "one image") {  // one long image: its share done gives the rate and the ETA
    Progress p("one image", 1, "img");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    p.update(0, 0.9);
    return;
  }
  if (mode == "three images") {  // three workers' images, 0.9 of each done: every share counts
    Progress p("three images", 4, "img");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    p.update(0, 2.7);
    return;
  }
  if (mode == "burst") {               // one line per interval, however many updates come in it
    set_plain_progress_interval(0.5);  // long beside the updates, even on a loaded machine
    Progress p("burst", 100, "img");
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    for (int i = 1; i <= 50; ++i) p.update(i);
    return;
  }
  Progress p("work", 4, "img");
  if (mode == "json") p.set_plain(false);
  // As vdsr_sr's batch report asks: -q still wins, and so does a terminal (drawn in place).
  if (mode == "quiet" || mode == "terminal") p.set_plain(true);
  for (int i = 1; i <= 4; ++i) {
    nap();
    p.update(i);
  }
  p.finish();
}

TEST_CASE("Progress: a plain line at an interval where stderr is no terminal, none when quiet") {
  const std::string child = test::bin("test_engine") + " '[.progress_child]'";
  std::string log;
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE=plain " + child, &log) == 0);
  INFO(log);
  CHECK(log.find('\r') == std::string::npos);  // nothing drawn in place
  // Every update but the last (the tool's own summary follows it) is a line of its own.
  for (const char* line : {"\nwork  1/4  ", "\nwork  2/4  ", "\nwork  3/4  "})
    CHECK(("\n" + log).find(line) != std::string::npos);
  CHECK(log.find("work  4/4") == std::string::npos);
  // The times depend on the machine's load: only their form is fixed.
  CHECK(log.find(" img/s  elapsed ") != std::string::npos);
  CHECK(log.find("  ETA ") != std::string::npos);
  CHECK(log.find("--:--") == std::string::npos);
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE=quiet " + child, &log) == 0);
  CHECK(log.find("work") == std::string::npos);
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE=json " + child, &log) == 0);
  CHECK(log.find("work") == std::string::npos);
  // The first plain line waits a whole interval (60 s unless set), not only the next ones.
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE='default interval' " + child, &log) == 0);
  CHECK(log.find("work") == std::string::npos);
  // 50 updates after one interval: one line, and the next waits another interval.
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE=burst " + child, &log) == 0);
  {
    INFO(log);
    size_t lines = 0;
    for (size_t at = log.find("burst  "); at != std::string::npos; at = log.find("burst  ", at + 1))
      ++lines;
    CHECK(lines == 1);
  }
  // On a terminal (script(1) gives the child one) the line is redrawn in place, plain lines asked
  // for or not.
  if (std::system("command -v script > /dev/null 2>&1") == 0) {
    REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE=terminal script -qec \"" + child +
                                  "\" /dev/null < /dev/null",
                              &log) == 0);
    INFO(log);
    CHECK(log.find("\r\033[Kwork  1/4  ") != std::string::npos);
    // finish() clears the line it drew last.
    const size_t last = log.rfind("work  4/4");
    REQUIRE(last != std::string::npos);
    CHECK(log.find("\r\033[K", last) != std::string::npos);
    CHECK(log.find("\nwork  1/4  ") == std::string::npos);
  } else {
    WARN("script(1) (bsdutils) is missing: the terminal case is not checked");
  }
  // 0.9 of one image done after a second: a rate and an ETA, though no image is whole yet. The
  // ETA counts only the tenth left (about 0.1 s: "0:00"; the whole image would be about 1.1 s).
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE='one image' " + child, &log) == 0);
  INFO(log);
  CHECK(log.find("one image  0/1  ") != std::string::npos);
  CHECK(log.find("one image  0/1  0.00 img/s") == std::string::npos);
  CHECK(log.find("  ETA 0:00") != std::string::npos);
  // 2.7 images' shares after a second: two images a second or more (under 0.35 s of load), where
  // one image's share alone would give at most one.
  REQUIRE(test::run_command("VDSR_PROGRESS_TEST_MODE='three images' " + child, &log) == 0);
  CHECK(log.find("three images  0/4  2.") != std::string::npos);
}

TEST_CASE("Devices: selection and backend info") {
  CHECK(Device::cpu().name() == "cpu");
  CHECK(Device::cuda(1).name() == "cuda:1");
  CHECK(Device::cpu() != Device::cuda(0));
  CHECK(select_device(-1) == Device::cpu());

  std::string why;
  const int gpus = usable_cuda_devices(&why);
  CHECK((gpus > 0) == why.empty());  // no usable GPU always comes with the reason
  if (!cuda_compiled()) {
    CHECK(gpus == 0);
    CHECK_FALSE(why.empty());
  } else if (gpus == 0) {
    // A CUDA build without a usable GPU (CI's machine has no driver) says why in words a user can
    // act on, before the runtime's own text.
    INFO(why);
    const bool worded = why.rfind("no NVIDIA driver is installed", 0) == 0 || why.rfind("no NVIDIA GPU found", 0) == 0 ||
                        why.rfind("the NVIDIA driver supports CUDA ", 0) == 0 || why.rfind("CUDA cannot start", 0) == 0 ||
                        why.rfind("GPU 0 cannot run this build", 0) == 0;
    CHECK(worded);
  }
  if (gpus > 0) {
    CHECK(select_device(kDefaultDevice) == Device::cuda(0));
    CHECK(select_device(0) == Device::cuda(0));
    CHECK_THROWS_AS(select_device(gpus), Error);
  } else {
    CHECK(select_device(kDefaultDevice) == Device::cpu());
    CHECK_THROWS_WITH(select_device(0), Catch::Contains("not usable"));
  }
  CHECK_THROWS_AS(select_device(-2), Error);

  // The driver's list needs no launch; what is usable is never more than it lists.
  CHECK(cuda_device_count() >= gpus);
  // Several ranks on a machine: explicit -g wins; the default is the local rank's GPU (mod the
  // count), the CPU only where no GPU is listed at all.
  RankInfo ranks;
  ranks.size = ranks.local_size = 4;
  ranks.rank = ranks.local_rank = 3;
  CHECK(select_rank_device(-1, ranks) == Device::cpu());
  if (cuda_device_count() == 0) {
    CHECK(select_rank_device(kDefaultDevice, ranks) == Device::cpu());
    // An explicit GPU is not quietly moved to the CPU because several ranks run.
    CHECK_THROWS_WITH(select_rank_device(0, ranks), Catch::Contains("not usable"));
  } else if (gpus > 0) {
    CHECK(select_rank_device(kDefaultDevice, ranks) == Device::cuda(3 % cuda_device_count()));
  }
  // Sharing a GPU is fine over MPI, not under NCCL: refused in words before NCCL's own failure.
  CHECK_NOTHROW(check_nccl_gpus(ranks, 4));
  CHECK_THROWS_AS(check_nccl_gpus(ranks, 2), UserError);
  CHECK_THROWS_WITH(check_nccl_gpus(ranks, 2), Catch::Contains("4 ranks on this machine share 2 GPU(s)") &&
                                                   Catch::Contains("VDSR_COLLECTIVE=mpi"));

  const std::string info = backend_info();
  CHECK_FALSE(info.empty());
  CHECK_THAT(info, Catch::Contains("CPU threads"));
}

TEST_CASE("format_bytes: decimal units, a whole number of bytes below 1000, one decimal above") {
  CHECK(format_bytes(0) == "0 bytes");
  CHECK(format_bytes(999) == "999 bytes");
  CHECK(format_bytes(1000) == "1.0 kB");
  CHECK(format_bytes(1500) == "1.5 kB");
  CHECK(format_bytes(999949) == "999.9 kB");
  CHECK(format_bytes(2.5e6) == "2.5 MB");
  CHECK(format_bytes(8e9) == "8.0 GB");
  CHECK(format_bytes(3e12) == "3.0 TB");
  CHECK(format_bytes(4e15) == "4.0 PB");
  CHECK(format_bytes(5e18) == "5000.0 PB");  // no unit past PB
}

TEST_CASE("cpu_isa: the best path the processor has, VDSR_CPU_ISA forces a supported one") {
#if defined(__x86_64__) || defined(__i386__)
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  const bool avx512 = false, avx2 = false;
#endif
  const char* saved = std::getenv("VDSR_CPU_ISA");
  const std::string keep = saved != nullptr ? saved : "";
  unsetenv("VDSR_CPU_ISA");
  CHECK(cpu_isa() == (avx512 ? Isa::kAvx512 : avx2 ? Isa::kAvx2 : Isa::kGeneric));
  setenv("VDSR_CPU_ISA", "", 1);
  CHECK(cpu_isa() == (avx512 ? Isa::kAvx512 : avx2 ? Isa::kAvx2 : Isa::kGeneric));
  setenv("VDSR_CPU_ISA", "generic", 1);
  CHECK(cpu_isa() == Isa::kGeneric);
  setenv("VDSR_CPU_ISA", "avx2", 1);
  if (avx2) CHECK(cpu_isa() == Isa::kAvx2);
  else CHECK_THROWS_WITH(cpu_isa(), Catch::Contains("VDSR_CPU_ISA=avx2 is not one of"));
  setenv("VDSR_CPU_ISA", "avx512", 1);
  if (avx512) CHECK(cpu_isa() == Isa::kAvx512);
  else CHECK_THROWS_WITH(cpu_isa(), Catch::Contains("VDSR_CPU_ISA=avx512 is not one of"));
  setenv("VDSR_CPU_ISA", "AVX2", 1);
  CHECK_THROWS_AS(cpu_isa(), Error);
  if (keep.empty()) unsetenv("VDSR_CPU_ISA");
  else setenv("VDSR_CPU_ISA", keep.c_str(), 1);
}

// Hidden; run only by the ctest "Catch2 main: 77 failed checks exit 1, not skipped"
// (tests/CMakeLists.txt): Catch2's own main would return 77 here, which ctest reads as a skip.
TEST_CASE("seventy-seven failing checks", "[.selftest]") {
  for (int i = 0; i < 77; ++i) CHECK(i < 0);
}

TEST_CASE("errors by type: user errors in words, internal ones with their place, out of memory typed") {
  const std::string user = test::error_of([] { VDSR_USER_CHECK(1 + 1 == 3, "--scale: 7 is outside 2..4"); });
  CHECK(user == "--scale: 7 is outside 2..4");
  try {
    VDSR_USER_FAIL("input 'a.png' does not exist");
  } catch (const UserError& e) {
    CHECK(describe_error(e, false) == "input 'a.png' does not exist");
    CHECK_THAT(describe_error(e, true), Catch::StartsWith("input 'a.png' does not exist [tests/test_engine.cpp:"));
  }
  try {
    VDSR_CHECK(2 < 1, "an invariant");
  } catch (const Error& e) {
    CHECK_THAT(describe_error(e, false), Catch::StartsWith("internal error: an invariant (at tests/test_engine.cpp:") &&
                                             Catch::EndsWith("check `2 < 1`)"));
  }
  // A place in every top-level folder of the sources is given from the project root.
  for (const char* dir : {"engine", "image", "io", "kernels", "model", "tools", "tests", "bench"})
    try {
      detail::throw_error(detail::Kind::User,
                          ("/home/u/vdsr/" + std::string(dir) + "/f.cpp").c_str(), 7, nullptr, "m");
    } catch (const UserError& e) {
      CHECK(e.where() == std::string(dir) + "/f.cpp:7");
    }
  // A host allocation that cannot succeed is an OutOfMemory, which callers can branch on.
  CHECK_THROWS_AS(Buffer(Device::cpu(), size_t(1) << 62), OutOfMemory);
  CHECK_THROWS_AS(Buffer(Device::cpu(), SIZE_MAX - 100), OutOfMemory);  // not rounded to a tiny block
  CHECK(describe_error(std::bad_alloc(), false).find("out of host memory") == 0);
  // Names reach the terminal escaped.
  CHECK(printable("a\nb\tc\x1b[2J\\.png") == "a\\nb\\tc\\x1B[2J\\\\.png");
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac.png") == "caf\xc3\xa9 \xe2\x82\xac.png");  // UTF-8 stays
  CHECK(printable("bad\xff\xc3.png") == "bad\\xFF\\xC3.png");
  // DEL is a control character; an overlong encoding (C0 or C1 lead byte) and a lead byte past
  // U+10FFFF (F5) are not UTF-8.
  CHECK(printable("del\x7f.png") == "del\\x7F.png");
  CHECK(printable("over\xc0\xaf.png") == "over\\xC0\\xAF.png");
  CHECK(printable("\xc1\x81") == "\\xC1\\x81");
  CHECK(printable("\xf5\x80\x80\x80") == "\\xF5\\x80\\x80\\x80");
  CHECK(printable("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF, the last code point
  // The C1 controls U+0080..U+009F (U+009B is a terminal's CSI), a 3-byte overlong '/', a UTF-16
  // surrogate and a 4-byte overlong are escaped byte by byte; U+00A0 and U+0800 are text.
  CHECK(printable("a\xc2\x9b" "2Jb") == "a\\xC2\\x9B2Jb");
  CHECK(printable("\xc2\x80\xc2\x9f") == "\\xC2\\x80\\xC2\\x9F");
  CHECK(printable("\xe0\x80\xaf") == "\\xE0\\x80\\xAF");
  CHECK(printable("\xed\xa0\x80") == "\\xED\\xA0\\x80");
  CHECK(printable("\xf0\x8f\xbf\xbf") == "\\xF0\\x8F\\xBF\\xBF");
  CHECK(printable("\xc2\xa0\xe0\xa0\x80") == "\xc2\xa0\xe0\xa0\x80");
}

TEST_CASE("value parsers take a value as written or refuse it, and doubles print in the fewest digits") {
  using vdsr::test::error_of;
  CHECK(vdsr::parse_int("-12", "--n") == -12);
  CHECK_THAT(error_of([] { vdsr::parse_int(" 2", "--n"); }), Catch::Contains("--n: ' 2' is not an integer"));
  CHECK_THAT(error_of([] { vdsr::parse_int64("0x10", "--n"); }), Catch::Contains("'0x10' is not an integer"));
  CHECK_THAT(error_of([] { vdsr::parse_int64("99999999999999999999", "--n"); }), Catch::Contains("is out of range"));
  CHECK(vdsr::parse_uint64("18446744073709551615", "--seed") == UINT64_MAX);
  CHECK_THAT(error_of([] { vdsr::parse_uint64("18446744073709551616", "--seed"); }), Catch::Contains("out of range"));
  CHECK_THAT(error_of([] { vdsr::parse_uint64("-5", "--seed"); }), Catch::Contains("not a non-negative integer"));
  CHECK_THAT(error_of([] { vdsr::parse_uint64("+5", "--seed"); }), Catch::Contains("not a non-negative integer"));
  CHECK(vdsr::parse_double("1e-3", "--lr") == 1e-3);
  for (const char* bad : {"inf", "-inf", "nan", "1e400"})
    CHECK_THROWS_AS(vdsr::parse_double(bad, "--lr"), vdsr::UserError);
  CHECK_THAT(error_of([] { vdsr::parse_double("0x1p-3", "--lr"); }), Catch::Contains("'0x1p-3' is not a number"));
  CHECK_THAT(error_of([] { vdsr::parse_double("\t1", "--lr"); }), Catch::Contains("is not a number"));
  // Below the smallest double: refused as typed, not taken as 0; zero itself and a subnormal stay.
  CHECK_THAT(error_of([] { vdsr::parse_double("1e-400", "--lr"); }),
             Catch::Contains("--lr: 1e-400 is too small for a double (it would be 0)"));
  CHECK(vdsr::parse_double("0e-400", "--lr") == 0.0);
  CHECK(vdsr::parse_double("-0.0", "--lr") == 0.0);
  CHECK(vdsr::parse_double("1e-310", "--lr") > 0.0);
  CHECK(vdsr::parse_list("a,b", "--train", true) == std::vector<std::string>{"a", "b"});
  for (const char* bad : {"", "a,", ",a", "a,,b"})
    CHECK_THAT(error_of([&] { vdsr::parse_list(bad, "--train", true); }), Catch::Contains("--train"));
  CHECK_THAT(error_of([] { vdsr::parse_list("a,b,a", "--train", true); }), Catch::Contains("lists a twice"));
  CHECK_THAT(error_of([] { vdsr::parse_list("", "--train", true); }),
             Catch::Contains("--train: empty list"));
  CHECK(vdsr::parse_list("a,a", "--crop", false).size() == 2);
  CHECK(vdsr::parse_int_list("4,4", 0, 9, "--crop") == std::vector<int>{4, 4});
  CHECK_THAT(error_of([] { vdsr::parse_int_list("2,", 0, 9, "--crop"); }), Catch::Contains("an empty item"));
  CHECK(vdsr::parse_scale_list("4,2", "--scales") == std::vector<int>{4, 2});
  CHECK_THAT(error_of([] { vdsr::parse_scale_list("3,3", "--scales"); }), Catch::Contains("--scales lists x3 twice"));
  CHECK_THAT(error_of([] { vdsr::parse_scale_list("5", "--scales"); }), Catch::Contains("outside 2..4"));
  // The shortest text that reads back as the same double.
  CHECK(vdsr::format_double(0.1) == "0.1");
  CHECK(vdsr::format_double(1e-4) == "0.0001");
  CHECK(vdsr::format_double(0) == "0");
  // Whole numbers as written (%g alone wrote 20 as "2e+01"); the exponent form past 17 digits.
  CHECK(vdsr::format_double(20) == "20");
  CHECK(vdsr::format_double(100) == "100");
  CHECK(vdsr::format_double(-1000) == "-1000");
  CHECK(vdsr::format_double(1e20) == "1e+20");
  CHECK(vdsr::format_double(1.7e300) == "1.7e+300");
  CHECK(vdsr::format_double(6.02214076e23) == "6.02214076e+23");
  CHECK(vdsr::format_double(1.5e16) == "15000000000000000");
  // Past 1e17 the shortest digits that read back, not 17 forced.
  CHECK(vdsr::format_double(9.007199254740993e17) == "9.007199254740993e+17");
  CHECK(vdsr::format_double(2.5e-7) == "2.5e-07");
  CHECK(vdsr::format_double(0.1 + 0.2) == "0.30000000000000004");  // all 17 digits
  for (const double v :
       {0.1, 1.0 / 3.0, 2e-3 * 3, 1e-300, 123456789.125, -0.7, 999.9999999, 1e16 + 2})
    CHECK(std::strtod(vdsr::format_double(v).c_str(), nullptr) == v);
}

TEST_CASE("a folder lock is held by one holder at a time and released with it") {
  const std::string dir = vdsr::test::temp_dir("folder_lock");
  {
    vdsr::FolderLock first(dir);
    CHECK(first.held());
    vdsr::FolderLock second(dir);  // another open of the folder: what another process would get
    CHECK_FALSE(second.held());
  }
  vdsr::FolderLock again(dir);
  CHECK(again.held());
  CHECK_THROWS_AS(vdsr::FolderLock(dir + "/missing"), vdsr::UserError);
}
