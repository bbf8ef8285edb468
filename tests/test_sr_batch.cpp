// vdsr_sr as a batch upscaler: -r mirrors a folder tree, --skip-existing resumes a batch, any -j
// thread counts give the same bytes, bad files (corrupt, truncated, empty, non-image, a header
// claiming 100000x100000) are reported by name while the others finish, a full disk (ulimit -f)
// loses nothing already written and leaves no partial file, JPEG EXIF orientation, -g lists on a
// CPU build, the pipeline itself in-process, and cmake --install; nothing dropped silently (broken
// links, links to folders, all collisions at once), stale temporaries of this host removed and no
// other host's, kill -9 then --skip-existing, two processes on one folder, shards, --json and
// --progress json.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "engine/atomic_file.h"
#include "engine/device.h"
#include "image/image_io.h"
#include "io/batch_pipeline.h"
#include "io/file_plan.h"
#include "model/upscale.h"
#include "model/vdsr.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;
using test::test_image;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Output files under `dir` (relative path -> bytes).
std::map<std::string, std::string> tree_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = test::file_bytes(e.path().string());
  return out;
}

std::string tiny_model(const std::string& dir) {
  Vdsr model(VdsrConfig{3, 4, true});
  model.init_he(7);
  const std::string path = dir + "/m.safetensors";
  save_weights(path, model.config(), model.params());
  return path;
}

uint32_t crc32(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (const unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(uint32_t(data.size())) + type + data + be32(crc32(type + data));
}

// A well-formed PNG header claiming w x h RGB, with a token IDAT: only the header is wrong.
std::string png_claiming(uint32_t w, uint32_t h) {
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
         png_chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
         png_chunk("IEND", "");
}

// An APP1 Exif segment with IFD0 holding one SHORT orientation tag.
std::string exif_app1(int orientation, bool little_endian) {
  std::string tiff;
  auto u16 = [&](uint32_t v) {
    if (little_endian)
      tiff += {char(v), char(v >> 8)};
    else
      tiff += {char(v >> 8), char(v)};
  };
  auto u32 = [&](uint32_t v) {
    if (little_endian) {
      u16(v & 0xffff);
      u16(v >> 16);
    } else {
      u16(v >> 16);
      u16(v & 0xffff);
    }
  };
  tiff += little_endian ? std::string("II*\0", 4) : std::string("MM\0*", 4);
  u32(8);                   // IFD0 offset
  u16(2);                   // two entries
  u16(0x010f);              // Make, ASCII, 4 bytes inline: passed over
  u16(2);
  u32(4);
  tiff += std::string("abc\0", 4);
  u16(0x0112);              // Orientation, SHORT, count 1
  u16(3);
  u32(1);
  u16(uint32_t(orientation));
  u16(0);
  u32(0);                   // no next IFD
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t len = payload.size() + 2;
  return std::string("\xff\xe1", 2) + char(len >> 8) + char(len & 0xff) + payload;
}

std::string splice_after_soi(const std::string& jpeg, const std::string& segment) {
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

}  // namespace

TEST_CASE("vdsr_sr -r mirrors a two-level folder tree") {
  const std::string dir = test::temp_dir("srb_tree"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in + "/sub/deeper");
  save_image(in + "/a.png", test_image(10, 7, 3, 1), ImageFormat::PNG);
  save_image(in + "/sub/b.bmp", test_image(6, 9, 3, 2), ImageFormat::BMP);
  save_image(in + "/sub/deeper/c.JPG", test_image(8, 8, 3, 3), ImageFormat::JPEG);
  write_bytes(in + "/sub/notes.txt", "not an image");
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -s 2 -i " + in + " -o " + out, &log) == 0);
  INFO(log);
  REQUIRE(load_image(out + "/a.png").width == 20);
  const Image b = load_image(out + "/sub/b.png");
  REQUIRE(b.width == 12);
  REQUIRE(b.height == 18);
  REQUIRE(load_image(out + "/sub/deeper/c.png").width == 16);
  REQUIRE(tree_bytes(out).size() == 3);
  REQUIRE(log.find("3 done") != std::string::npos);

  // Without -r only the top level is read.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + dir + "/flat", &log) == 0);
  REQUIRE(tree_bytes(dir + "/flat").size() == 1);

  // With -r an output folder inside the input tree is refused before any work.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + in + "/sub/x", &log) == 1);
  REQUIRE(log.find("inside the input tree") != std::string::npos);
  REQUIRE(!fs::exists(in + "/sub/x"));
  // Without -r the same is fine: the top level is read once, before the folder gets its outputs.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + in + "/sub/x", &log) == 0);
  REQUIRE(tree_bytes(in + "/sub/x").size() == 1);
  fs::remove_all(in + "/sub/x");

  // Two inputs in one sub-folder mapping to one output name: refused before any work.
  save_image(in + "/sub/deeper/c.png", test_image(5, 5, 1, 4), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/o2", &log) == 1);
  REQUIRE(log.find("would both be written") != std::string::npos);
  REQUIRE((!fs::exists(dir + "/o2") || fs::is_empty(dir + "/o2")));
}

TEST_CASE("vdsr_sr names what it cannot use: broken links fail, links to folders are skipped, every collision at once") {
  // (A sub-folder it cannot read is reported the same way; tests run as root, who can read any
  // folder, so that case is not made here.)
  const std::string dir = test::temp_dir("srb_silent"), in = dir + "/in";
  fs::create_directories(in + "/sub");
  save_image(in + "/a.png", test_image(6, 6, 3, 1), ImageFormat::PNG);
  save_image(in + "/sub/b.png", test_image(6, 6, 3, 2), ImageFormat::PNG);
  fs::create_symlink(dir + "/nowhere.png", in + "/dead.png");
  fs::create_directory_symlink(in + "/sub", in + "/linked");
  fs::create_symlink("loop.png", in + "/loop.png");  // a link to itself: a loop, not a missing file
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -v -i " + in + " -o " + dir + "/out", &log) == 2);
  INFO(log);
  CHECK(log.find("dead.png: broken symbolic link (its target '" + dir + "/nowhere.png' does not exist)") !=
        std::string::npos);
  CHECK(log.find("loop.png: symbolic link loop (its target 'loop.png' leads back to it)") !=
        std::string::npos);
  CHECK(log.find("linked (a link to a folder: not followed)") != std::string::npos);
  CHECK(log.find("4 image(s): 2 done, 0 skipped (output exists), 2 failed") != std::string::npos);
  CHECK(tree_bytes(dir + "/out").size() == 2);
  fs::remove(in + "/loop.png");
  // A FIFO and a link to a device named like images: reported as what they are, never opened (a
  // FIFO would block the reader, /dev/zero read without end).
  REQUIRE(::mkfifo((in + "/pipe.png").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", in + "/zero.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -v -i " + in + " -o " + dir + "/out_special",
                      &log) == 2);
  CHECK(log.find("skipping " + in + "/sub (a folder: -r walks sub-folders)") != std::string::npos);
  CHECK(log.find("pipe.png: a FIFO (named pipe), not a file") != std::string::npos);
  CHECK(log.find("zero.png: a device, not a file") != std::string::npos);
  CHECK(log.find("4 image(s): 1 done, 0 skipped (output exists), 3 failed") != std::string::npos);
  // Named as the input itself, a FIFO is refused with the way to read a pipe.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + "/pipe.png -o " + dir + "/p.png",
                      &log) == 1);
  CHECK(log.find("input '" + in +
                 "/pipe.png' is a FIFO (named pipe), not a file: an image from a pipe is "
                 "read with -i - (standard input)") != std::string::npos);
  CHECK(!fs::exists(dir + "/p.png"));
  fs::remove(in + "/pipe.png");
  fs::remove(in + "/zero.png");
  // Two collisions, both named in one error, before any work.
  save_image(in + "/a.bmp", test_image(6, 6, 3, 3), ImageFormat::BMP);
  save_image(in + "/sub/b.jpg", test_image(6, 6, 3, 4), ImageFormat::JPEG);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/o2", &log) == 1);
  CHECK(log.find("2 output name(s) would be written by more than one input (rename all but one of "
                 "each)") != std::string::npos);
  CHECK(log.find("a.bmp' and '") != std::string::npos);
  CHECK(log.find("b.jpg' and '") != std::string::npos);
  CHECK((!fs::exists(dir + "/o2") || fs::is_empty(dir + "/o2")));
  // A third input of one name is still one name, each extra input named.
  save_image(in + "/a.tif", test_image(6, 6, 3, 5), ImageFormat::TIFF);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/o2", &log) == 1);
  CHECK(log.find("2 output name(s) would be written by more than one input") != std::string::npos);
  CHECK(log.find("a.tif' would both be written") != std::string::npos);
  fs::remove(in + "/a.tif");
  // An output where the mirrored tree makes a folder (x.png beside the input folder x.png/), or
  // where a folder already is: named before any work.
  const std::string in3 = dir + "/in3", o3 = dir + "/o3";
  fs::create_directories(in3 + "/x.png");
  save_image(in3 + "/x.bmp", test_image(6, 6, 3, 5), ImageFormat::BMP);
  save_image(in3 + "/x.png/y.png", test_image(6, 6, 3, 6), ImageFormat::PNG);
  save_image(in3 + "/w.png", test_image(6, 6, 3, 7), ImageFormat::PNG);
  fs::create_directories(o3 + "/w.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in3 + " -o " + o3, &log) == 1);
  INFO(log);
  CHECK(log.find("2 output name(s) are folders (rename the image or the folder)") !=
        std::string::npos);
  CHECK(log.find("x.bmp' would be written to '" + o3 + "/x.png', which is a folder") != std::string::npos);
  CHECK(log.find("w.png' would be written to '" + o3 + "/w.png', which is a folder") != std::string::npos);
  CHECK(!fs::exists(o3 + "/x.png/y.png"));
  // An output that is an input, each refused before any work, every input's bytes kept: -r with the
  // input folder inside the output folder (in4/photos/x.png's result is o4/photos/x.png, itself an
  // input), and a link in the input folder to a file in the output folder.
  const std::string o4 = dir + "/o4";
  fs::create_directories(o4 + "/photos/photos");
  save_image(o4 + "/photos/x.png", test_image(6, 6, 3, 8), ImageFormat::PNG);
  save_image(o4 + "/photos/photos/x.png", test_image(6, 6, 3, 9), ImageFormat::PNG);
  const auto before = tree_bytes(o4);
  REQUIRE(run_command("cd " + o4 + " && " + bin("vdsr_sr") + " --bicubic -r -i photos -o .",
                      &log) == 1);
  CHECK(
      log.find(
          "1 output(s) would overwrite an input (give an output folder apart from the input tree); "
          "'photos/photos/x.png' would be written to './photos/x.png', the file the input "
          "'photos/x.png' "
          "is read from") != std::string::npos);
  CHECK(tree_bytes(o4) == before);
  const std::string in5 = dir + "/in5", o5 = dir + "/o5";
  fs::create_directories(in5);
  fs::create_directories(o5);
  save_image(o5 + "/pic.png", test_image(6, 6, 3, 10), ImageFormat::PNG);
  save_image(in5 + "/other.png", test_image(6, 6, 3, 11), ImageFormat::PNG);
  fs::create_symlink("../o5/pic.png", in5 + "/pic.png");
  const auto kept = test::file_bytes(o5 + "/pic.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in5 + " -o " + o5, &log) == 1);
  CHECK(log.find("'" + in5 + "/pic.png' would be written to '" + o5 +
                 "/pic.png', the file the input '" + in5 + "/pic.png' is read from") !=
        std::string::npos);
  CHECK(test::file_bytes(o5 + "/pic.png") == kept);
  CHECK(!fs::exists(o5 + "/other.png"));
  // A link to an image in a third folder: its output in the output folder, by the link's name, not
  // beside its target.
  fs::remove(in5 + "/pic.png");
  fs::create_directories(dir + "/far");
  save_image(dir + "/far/target.png", test_image(6, 6, 3, 12), ImageFormat::PNG);
  fs::create_symlink("../far/target.png", in5 + "/linked.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in5 + " -o " + o5, &log) == 0);
  CHECK(fs::is_regular_file(o5 + "/linked.png"));
  CHECK(fs::is_regular_file(o5 + "/other.png"));
  CHECK(!fs::exists(dir + "/far/linked.png"));
  // An output name over 255 bytes is a problem named before any work, not a failure after it.
  const std::string longer(250, 'n');
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --suffix _" + longer + " -i " + in5 +
                          "/other.png -o " + dir + "/o6/",
                      &log) == 1);
  CHECK(log.find("other_" + longer +
                 ".png': it has a name of 260 bytes between two '/', more than the 255 a file "
                 "system allows") != std::string::npos);
  CHECK(log.find("internal error") == std::string::npos);
  // 255 bytes is a name a file system allows; a folder part over it is refused as the file's is.
  const std::string most(255 - std::string("other_.png").size(), 'm');
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic --suffix _" + most + " -i " + in5 +
                          "/other.png -o " + dir + "/o7/",
                      &log) == 0);
  CHECK(fs::is_regular_file(dir + "/o7/other_" + most + ".png"));
  const std::string folder(256, 'f');
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in5 + "/other.png -o " + dir + "/" +
                          folder + "/x.png",
                      &log) == 1);
  CHECK(log.find("internal error") == std::string::npos);
  CHECK(log.find(folder) != std::string::npos);
  // A report's long folder part is measured too, and a path past the system's limit is said.
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic -i " + in5 + "/other.png -o " + dir +
                          "/o8.png --json " + dir + "/" + std::string(260, 'f') + "/r.json",
                      &log) == 1);
  CHECK(log.find("has a name of 260 bytes between two '/'") != std::string::npos);
  std::string deep = dir;
  for (int i = 0; i < 17; ++i) deep += "/" + std::string(250, 'd');
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic -i " + in5 + "/other.png -o " + dir +
                          "/o8.png --json " + deep + "/r.json",
                      &log) == 1);
  CHECK(log.find("longer than the file system allows") != std::string::npos);
  CHECK(log.find("internal error") == std::string::npos);
}

TEST_CASE("set_name: a set is its folder's name as the shell gives it") {
  const std::string dir = test::temp_dir("set_name");
  fs::create_directories(dir + "/Set5/sub");
  CHECK(set_name(dir + "/Set5", "--data") == "Set5");
  CHECK(set_name(dir + "/Set5/", "--data") == "Set5");
  CHECK(set_name(dir + "/Set5/.", "--data") == "Set5");
  CHECK(set_name(dir + "/Set5/sub/..", "--data") == "Set5");
  CHECK(set_name("Set14", "--val") ==
        "Set14");  // relative to the working folder, which need not hold it
  CHECK_THROWS_WITH(set_name("/", "--val"),
                    "--val /: a set is named by its folder, and the root has no name");
  CHECK_THROWS_WITH(set_name("/..", "--data"), Catch::Contains("--data /..: a set is named"));
}

TEST_CASE("shards: I/N, auto from a Slurm job array, auto/N from an Indexed Job, FNV-1a 64") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  std::map<std::string, std::string> vars;
  const auto env = [&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  // All five variables of a stepped Slurm array (--array=MIN-MAX:STEP), as this task sees them.
  const auto stepped = [](int id, int min, int max, int step, int count) {
    return std::map<std::string, std::string>{{"SLURM_ARRAY_TASK_ID", std::to_string(id)},
                                              {"SLURM_ARRAY_TASK_MIN", std::to_string(min)},
                                              {"SLURM_ARRAY_TASK_MAX", std::to_string(max)},
                                              {"SLURM_ARRAY_TASK_STEP", std::to_string(step)},
                                              {"SLURM_ARRAY_TASK_COUNT", std::to_string(count)}};
  };
  CHECK(parse_shard("", env).count == 1);  // outside a job array: everything
  // Half of a job array's variables is not a job array: without --shard, everything.
  vars = {{"SLURM_ARRAY_TASK_ID", "3"}};
  CHECK(parse_shard("", env).count == 1);
  vars = {{"SLURM_ARRAY_TASK_COUNT", "4"}};
  CHECK(parse_shard("", env).count == 1);
  vars.clear();
  const Shard s = parse_shard("2/5", env);
  CHECK((s.index == 2 && s.count == 5));
  vars = {{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "4"}, {"SLURM_ARRAY_TASK_COUNT", "6"}};
  for (const char* text : {"", "auto"}) {
    const Shard a = parse_shard(text, env);
    CHECK((a.index == 3 && a.count == 6));
  }
  CHECK(parse_shard("auto/6", env).index == 3);
  // An N other than the array's size: shards that no task runs, or places past N. Refused.
  CHECK_THROWS_WITH(parse_shard("auto/10", env),
                    Catch::Contains("--shard auto/10 in a Slurm job array of 6 tasks "
                                    "(SLURM_ARRAY_TASK_COUNT)") &&
                        Catch::Contains("give --shard auto (N from the array) or an array of 10"));
  CHECK_THROWS_WITH(parse_shard("auto/4", env), Catch::Contains("job array of 6 tasks"));
  vars = {{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "1"}};
  CHECK_THROWS_WITH(parse_shard("auto/2", env),
                    Catch::Contains("job array of 1 task (SLURM_ARRAY_TASK_COUNT)"));
  vars = {
      {"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "4"}, {"SLURM_ARRAY_TASK_COUNT", "6"}};
  // --array=4-24:5 (4, 9, 14, 19, 24): task 14 is the third.
  vars = stepped(14, 4, 24, 5, 5);
  CHECK(parse_shard("", env).index == 2);
  CHECK(parse_shard("auto/5", env).index == 2);
  CHECK_THROWS_WITH(parse_shard("auto/7", env), Catch::Contains("job array of 5 tasks"));
  vars["SLURM_ARRAY_TASK_ID"] = "24";
  CHECK(parse_shard("", env).index == 4);
  // --array=1,3,7: no step makes it a range, so no task knows its place.
  vars = stepped(3, 1, 7, 2, 3);
  CHECK_THROWS_WITH(
      parse_shard("", env),
      Catch::Contains(
          "the Slurm job array's task IDs are not one range with a fixed step (this task 3;") &&
          Catch::Contains("give --shard I/N"));
  vars["SLURM_ARRAY_TASK_STEP"] = "3";  // a step that fits MIN, MAX and COUNT but not this ID
  CHECK_THROWS_WITH(parse_shard("", env), Catch::Contains("not one range with a fixed step"));
  vars = stepped(6, 1, 7, 1, 3);
  CHECK_THROWS_WITH(parse_shard("", env), Catch::Contains("not one range with a fixed step"));
  // IDs 1, 4, 8: the last is off the step.
  vars = stepped(4, 1, 8, 3, 3);
  CHECK_THROWS_WITH(parse_shard("", env), Catch::Contains("not one range with a fixed step"));
  // An ID below MIN.
  vars = stepped(2, 4, 8, 2, 3);
  CHECK_THROWS_WITH(parse_shard("", env), Catch::Contains("not one range with a fixed step"));
  // A stepped array without COUNT, given its N: IDs 1, 3, 5, 7, 9.
  vars = {{"SLURM_ARRAY_TASK_ID", "5"},
          {"SLURM_ARRAY_TASK_MIN", "1"},
          {"SLURM_ARRAY_TASK_MAX", "9"},
          {"SLURM_ARRAY_TASK_STEP", "2"}};
  CHECK(parse_shard("auto/5", env).index == 2);
  // Without MIN the IDs start at 0; a STEP of 0 reads as 1.
  vars = {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "3"}};
  CHECK(parse_shard("", env).index == 2);
  vars = {{"SLURM_ARRAY_TASK_ID", "2"},
          {"SLURM_ARRAY_TASK_MIN", "0"},
          {"SLURM_ARRAY_TASK_STEP", "0"},
          {"SLURM_ARRAY_TASK_COUNT", "3"}};
  CHECK(parse_shard("", env).index == 2);
  vars = {{"JOB_COMPLETION_INDEX", "4"}};
  const Shard k = parse_shard("auto/8", env);
  CHECK((k.index == 4 && k.count == 8));
  CHECK_THROWS_WITH(parse_shard("auto", env), Catch::Contains("SLURM_ARRAY_TASK_ID"));
  CHECK_THROWS_WITH(parse_shard("auto/3", env), Catch::Contains("is not one of 0..2"));
  CHECK_THROWS_WITH(parse_shard("3", env), Catch::Contains("expected I/N, auto or auto/N"));
  CHECK_THROWS_WITH(parse_shard("1/x", env), Catch::Contains("--shard count: 'x' is not an integer"));
  // Too large for a count is said, not clamped; so is a variable's.
  CHECK_THROWS_WITH(parse_shard("0/99999999999999999999", env), Catch::Contains("--shard count: 99999999999999999999 is out of range"));
  CHECK_THROWS_WITH(parse_shard("-1/3", env), Catch::Contains("--shard index: '-1' is not a non-negative integer"));
  vars = {{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "99999999999999999999"}};
  CHECK_THROWS_WITH(parse_shard("", env), Catch::Contains("SLURM_ARRAY_TASK_COUNT: 99999999999999999999 is out of range"));
  CHECK_THROWS_WITH(parse_shard("3/3", env), Catch::Contains("is not one of 0..2"));
}

TEST_CASE("apply_shard: every job, existing output and problem goes to one shard, by its path in the tree") {
  // FNV-1a 64 of the path relative to the input folder, written out here; mod the shard count.
  const auto shard_of = [](const std::string& rel, uint64_t count) {
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char c : rel) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return int64_t(h % count);
  };
  const std::string root = "/data/in";
  FilePlan all;
  all.folder_mode = true;
  // sub/a.png, sub/e.png and sub/broken.png fall in other shards than their bare file names.
  for (const char* rel : {"a.png", "sub/a.png", "b.jpg", "sub/deep/c.png"})
    all.jobs.push_back({root + "/" + rel, std::string("/out/") + rel});
  for (const char* rel : {"d.png", "sub/e.png"}) all.existing.push_back({root + "/" + rel, std::string("/out/") + rel});
  all.problems.push_back({root + "/sub/broken.png", "broken symbolic link"});
  all.skipped.push_back({root + "/notes.txt", "not an image by its extension"});
  std::map<std::string, int> seen;
  for (int64_t k = 0; k < 3; ++k) {
    FilePlan plan = all;
    apply_shard(plan, root, Shard{k, 3, "test"});
    const auto mine = [&](const std::string& path) { return shard_of(path.substr(root.size() + 1), 3) == k; };
    for (const auto& j : plan.jobs) CHECK(mine(j.input));
    for (const auto& j : plan.existing) CHECK(mine(j.input));
    for (const auto& n : plan.problems) CHECK(mine(n.path));
    for (const auto& j : plan.jobs) ++seen["job " + j.input];
    for (const auto& j : plan.existing) ++seen["existing " + j.input];
    for (const auto& n : plan.problems) ++seen["problem " + n.path];
    CHECK(plan.skipped.size() == 1);  // what is not an image is every shard's to report
  }
  CHECK(seen.size() == 7);
  for (const auto& [what, times] : seen) {
    INFO(what);
    CHECK(times == 1);
  }
  // One shard leaves the plan as it is.
  FilePlan one = all;
  apply_shard(one, root, Shard{0, 1, "test"});
  CHECK(one.jobs.size() == 4);
  CHECK(one.existing.size() == 2);
  CHECK(one.problems.size() == 1);
  // A single file (not a folder) is hashed by its name alone.
  FilePlan single;
  single.jobs.push_back({"some/where/photo.png", "out/photo.png"});
  for (int64_t k = 0; k < 4; ++k) {
    FilePlan plan = single;
    apply_shard(plan, "some/where/photo.png", Shard{k, 4, "test"});
    CHECK(plan.jobs.size() == (shard_of("photo.png", 4) == k ? 1u : 0u));
  }
}

TEST_CASE("vdsr_sr: three shards together write exactly the unsharded outputs, each file once") {
  const std::string dir = test::temp_dir("srb_shards"), in = dir + "/in";
  fs::create_directories(in + "/sub");
  for (int i = 0; i < 14; ++i)
    save_image(in + (i % 3 == 0 ? "/sub/s" : "/t") + std::to_string(i) + ".png", test_image(7 + i, 6, 3, uint32_t(i)),
               ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/all", &log) == 0);
  size_t done = 0;
  for (int k = 0; k < 3; ++k) {
    REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r --shard " + std::to_string(k) + "/3 -i " + in + " -o " +
                            dir + "/sharded",
                        &log) == 0);
    INFO(log);
    const auto at = log.find(" done, ");
    REQUIRE(at != std::string::npos);
    done += std::stoul(log.substr(log.rfind(' ', at - 1) + 1));
  }
  CHECK(done == 14);  // no file written twice
  CHECK(tree_bytes(dir + "/sharded") == tree_bytes(dir + "/all"));
  // The tasks of a Slurm array with a step (--array=10-14:2), sharded without --shard.
  done = 0;
  for (const int id : {10, 12, 14}) {
    REQUIRE(
        run_command("SLURM_ARRAY_TASK_ID=" + std::to_string(id) +
                        " SLURM_ARRAY_TASK_MIN=10 SLURM_ARRAY_TASK_MAX=14 SLURM_ARRAY_TASK_STEP=2 "
                        "SLURM_ARRAY_TASK_COUNT=3 " +
                        bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/stepped",
                    &log) == 0);
    INFO(log);
    CHECK(log.find("shard " + std::to_string((id - 10) / 2) + "/3 (from the Slurm job array") !=
          std::string::npos);
    const auto at = log.find(" done, ");
    REQUIRE(at != std::string::npos);
    done += std::stoul(log.substr(log.rfind(' ', at - 1) + 1));
  }
  CHECK(done == 14);
  CHECK(tree_bytes(dir + "/stepped") == tree_bytes(dir + "/all"));
  // An Indexed Job's pod without --shard does every file, and says so.
  REQUIRE(run_command("JOB_COMPLETION_INDEX=1 " + bin("vdsr_sr") + " --bicubic -r -i " + in +
                          " -o " + dir + "/pod",
                      &log) == 0);
  CHECK(log.find("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but --shard is not") !=
        std::string::npos);
  CHECK(tree_bytes(dir + "/pod") == tree_bytes(dir + "/all"));
  // Not with --shard given, nor inside a Slurm array of two tasks.
  REQUIRE(run_command("JOB_COMPLETION_INDEX=1 " + bin("vdsr_sr") + " --bicubic -r --shard 0/1 -i " +
                          in + " -o " + dir + "/given",
                      &log) == 0);
  CHECK(log.find("JOB_COMPLETION_INDEX is set") == std::string::npos);
  REQUIRE(run_command("JOB_COMPLETION_INDEX=1 SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_MIN=0 "
                      "SLURM_ARRAY_TASK_MAX=1 "
                      "SLURM_ARRAY_TASK_COUNT=2 " +
                          bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + dir + "/slurm",
                      &log) == 0);
  CHECK(log.find("JOB_COMPLETION_INDEX is set") == std::string::npos);
}

TEST_CASE("vdsr_sr --json gives a name that is not UTF-8 also escaped, byte for byte") {
  const std::string dir = test::temp_dir("srb_json_bytes"), in = dir + "/in";
  fs::create_directories(in);
  save_image(in + "/n\xFFo.png", test_image(6, 6, 3, 1), ImageFormat::PNG);
  save_image(in + "/plain.png", test_image(6, 6, 3, 2), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic --json " + dir + "/r.json -i " + in + " -o " +
                          dir + "/out",
                      &log) == 0);
  const auto report = nlohmann::json::parse(test::file_bytes(dir + "/r.json"));
  REQUIRE(report.at("files").size() == 2);
  const auto& odd = report.at("files")[0];
  CHECK(odd.at("input") == in + "/n\uFFFDo.png");  // JSON text cannot hold the byte
  CHECK(odd.at("input_escaped") == in + "/n\\xFFo.png");
  CHECK(odd.at("output_escaped") == dir + "/out/n\\xFFo.png");
  CHECK(!report.at("files")[1].contains("input_escaped"));
  CHECK(!report.at("files")[1].contains("output_escaped"));
  CHECK(fs::is_regular_file(dir + "/out/n\xFFo.png"));
  // Each name by itself: a plain input written to an output whose name is not UTF-8.
  REQUIRE(run_command(bin("vdsr_sr") + " -q --bicubic --json " + dir + "/r2.json -i " + in +
                          "/plain.png -o " + dir + "/o\xFF.png",
                      &log) == 0);
  const auto single = nlohmann::json::parse(test::file_bytes(dir + "/r2.json"));
  REQUIRE(single.at("files").size() == 1);
  const auto& out_only = single.at("files")[0];
  CHECK(!out_only.contains("input_escaped"));
  CHECK(out_only.at("output_escaped") == dir + "/o\\xFF.png");
}

TEST_CASE("vdsr_sr --json reports every file, --progress json writes one event per line") {
  const std::string dir = test::temp_dir("srb_json"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  fs::create_directories(out);
  save_image(in + "/a.png", test_image(160, 140, 3, 1), ImageFormat::PNG);
  save_image(in + "/b.png", test_image(9, 7, 1, 2), ImageFormat::PNG);
  save_image(in + "/c.png", test_image(5, 5, 3, 3), ImageFormat::PNG);
  save_image(out + "/c.png", test_image(10, 10, 3, 3), ImageFormat::PNG);  // exists: skipped
  write_bytes(in + "/bad.png", "not a png");
  fs::create_symlink(dir + "/gone.png", in + "/dead.png");
  std::string log;
  // The bundled model on the CPU with TTA: a few seconds for a.png, long enough for progress events.
  const int rc = run_command(bin("vdsr_sr") + " -g -1 -x --skip-existing --progress json --json " + dir +
                                 "/report.json -i " + in + " -o " + out, &log);
  INFO(log);
  REQUIRE(rc == 2);
  std::ifstream jf(dir + "/report.json");
  const auto report = nlohmann::json::parse(jf);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& f : report.at("files")) by_name[fs::path(f.at("input").get<std::string>()).filename().string()] = f;
  REQUIRE(by_name.size() == 5);
  CHECK(by_name["a.png"].at("status") == "done");
  CHECK(by_name["a.png"].at("input_size") == nlohmann::json::array({160, 140}));
  CHECK(by_name["a.png"].at("output_size") == nlohmann::json::array({320, 280}));
  CHECK(by_name["a.png"].at("seconds").get<double>() > 0);
  CHECK(by_name["b.png"].at("status") == "done");
  CHECK(by_name["c.png"].at("status") == "skipped");
  CHECK(by_name["bad.png"].at("status") == "failed");
  CHECK(by_name["bad.png"].at("stage") == "load");
  CHECK(by_name["bad.png"].at("reason").get<std::string>().find("not a PNG") != std::string::npos);
  CHECK(by_name["dead.png"].at("status") == "failed");
  CHECK(report.at("totals").at("done") == 2);
  CHECK(report.at("totals").at("skipped") == 1);
  CHECK(report.at("totals").at("failed") == 2);
  CHECK(report.at("totals").at("images") == 5);
  CHECK(report.at("scale") == 2);
  // The files are sorted by input (the planned ones, reported first, are not first by name).
  std::vector<std::string> order;
  for (const auto& f : report.at("files")) order.push_back(fs::path(f.at("input").get<std::string>()).filename().string());
  CHECK(order == std::vector<std::string>{"a.png", "b.png", "bad.png", "c.png", "dead.png"});
  // Every line that starts with '{' is one event; images are reported once each, progress in between.
  std::map<std::string, int> events;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') ++events[nlohmann::json::parse(line).at("event").get<std::string>()];
  CHECK(events["start"] == 1);
  CHECK(events["image"] == 5);
  CHECK(events["done"] == 1);
  CHECK(events["progress"] >= 1);
}

TEST_CASE("two vdsr_sr processes on one output folder never leave a partial or mixed file") {
  const std::string dir = test::temp_dir("srb_two"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  for (int i = 0; i < 16; ++i)
    save_image(in + "/p" + std::to_string(i) + ".png", test_image(80, 60, 3, uint32_t(40 + i)), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 3 -i " + in + " -o " + dir + "/clean", &log) == 0);
  // Both at once, the same files in the same folder: each output is renamed into place whole.
  const std::string cmd = bin("vdsr_sr") + " -q --bicubic -s 3 -i " + in + " -o " + out;
  REQUIRE(run_command("(" + cmd + " & " + cmd + " & wait)", &log) == 0);
  INFO(log);
  CHECK(tree_bytes(out) == tree_bytes(dir + "/clean"));
  CHECK(!test::has_tmp_files(out));
}

TEST_CASE("vdsr_sr --skip-existing leaves finished outputs and reports them") {
  const std::string dir = test::temp_dir("srb_skip"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  for (int k = 0; k < 3; ++k)
    save_image(in + "/img" + std::to_string(k) + ".png", test_image(9, 8, 3, 10 + k), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + out, &log) == 0);
  // A marker in place of one output shows that it is not rewritten; a removed one is redone.
  save_image(out + "/img0.png", test_image(2, 2, 1, 99), ImageFormat::PNG);
  const std::string marker = test::file_bytes(out + "/img0.png");
  const std::string kept = test::file_bytes(out + "/img1.png");
  fs::remove(out + "/img2.png");
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -v --skip-existing -i " + in + " -o " + out, &log) == 0);
  INFO(log);
  REQUIRE(log.find("1 done, 2 skipped") != std::string::npos);
  REQUIRE(log.find("img0.png exists") != std::string::npos);  // named with -v
  REQUIRE(test::file_bytes(out + "/img0.png") == marker);
  REQUIRE(test::file_bytes(out + "/img1.png") == kept);
  REQUIRE(load_image(out + "/img2.png").width == 18);
  // Everything done already: nothing to do is success.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --skip-existing -i " + in + " -o " + out, &log) == 0);
  REQUIRE(log.find("0 done, 3 skipped") != std::string::npos);
  // Without the flag everything is redone.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + out, &log) == 0);
  REQUIRE(test::file_bytes(out + "/img0.png") != marker);
  // A single file too.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --skip-existing -i " + in + "/img1.png -o " + out +
                          "/img1.png", &log) == 0);
  REQUIRE(log.find("0 done, 1 skipped") != std::string::npos);
  // A single file whose output does not exist yet is done.
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic --skip-existing -i " + in + "/img1.png -o " + out +
                          "/new1.png", &log) == 0);
  REQUIRE(log.find("1 done, 0 skipped") != std::string::npos);
  REQUIRE(load_image(out + "/new1.png").width == 18);
}

TEST_CASE("vdsr_sr gives byte-identical outputs for any -j thread counts") {
  const std::string dir = test::temp_dir("srb_threads"), in = dir + "/in";
  fs::create_directories(in + "/sub");
  const std::string model = tiny_model(dir);
  save_image(in + "/rgb.png", test_image(23, 17, 3, 21), ImageFormat::PNG);
  save_image(in + "/rgba.png", test_image(12, 19, 4, 22), ImageFormat::PNG);
  save_image(in + "/grey.png", test_image(31, 9, 1, 23), ImageFormat::PNG);
  save_image(in + "/sub/ga.png", test_image(14, 14, 2, 24), ImageFormat::PNG);
  save_image(in + "/sub/p.bmp", test_image(17, 13, 3, 25), ImageFormat::BMP);
  save_image(in + "/sub/q.jpg", test_image(16, 24, 3, 26), ImageFormat::JPEG);
  std::map<std::string, std::string> first;
  int run = 0;
  for (const char* j : {"1:1:1", "2:2:2", "3:1:2 -t 16", "1:3:1"}) {
    const std::string out = dir + "/out" + std::to_string(run++);
    std::string log;
    INFO(j);
    REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + model + " -r -s 3 -j " + j + " -i " + in +
                            " -o " + out, &log) == 0);
    INFO(log);
    const auto bytes = tree_bytes(out);
    REQUIRE(bytes.size() == 6);
    if (first.empty())
      first = bytes;
    else
      REQUIRE(bytes == first);
  }
  // The pipeline splits the upscale over its stages (prepare on the load threads, the network on
  // the process worker, finish on the save threads): the result is upscale_image's, pixel for pixel.
  {
    const VdsrWeights w = load_weights(model);
    Vdsr net(w.config, Device::cpu());
    net.set_params(w.params);
    UpscaleOptions up;
    up.scale = 3;
    for (const char* name : {"rgb.png", "rgba.png", "grey.png", "sub/ga.png"}) {
      INFO(name);
      const Image ref = upscale_image(load_image(in + "/" + name), &net, up);
      CHECK(load_image(dir + "/out0/" + name).pixels == ref.pixels);
    }
    // A JPEG has no alpha: it is left out before the upscale (the colour as stored, not over
    // alpha).
    std::string jlog;
    REQUIRE(run_command(bin("vdsr_sr") + " -v -g -1 -m " + model + " -s 3 -i " + in +
                            "/rgba.png -o " + dir + "/rgba.jpg",
                        &jlog) == 0);
    CHECK(jlog.find("rgba.png: its alpha is left out (jpg stores none)") != std::string::npos);
    REQUIRE(run_command(bin("vdsr_sr") + " -v -g -1 -m " + model + " -s 3 -i " + in +
                            "/sub/ga.png -o " + dir + "/ga.jpg",
                        &jlog) == 0);
    CHECK(jlog.find("ga.png: its alpha is left out (jpg stores none)") != std::string::npos);
    // Every other format keeps it (BMP as 32-bit).
    REQUIRE(run_command(bin("vdsr_sr") + " -v -g -1 -m " + model + " -s 3 -i " + in +
                            "/rgba.png -o " + dir + "/rgba.bmp",
                        &jlog) == 0);
    CHECK(jlog.find("left out") == std::string::npos);
    CHECK(load_image(dir + "/rgba.bmp").channels == 4);
    up.keep_alpha = false;
    const Image flat = upscale_image(load_image(in + "/rgba.png"), &net, up);
    REQUIRE(flat.channels == 3);
    const auto want = encode_image(flat, ImageFormat::JPEG, SaveOptions{}, "rgba.jpg");
    CHECK(test::file_bytes(dir + "/rgba.jpg") == std::string(want.begin(), want.end()));
  }
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -j 2:2 -i " + in + " -o " + dir + "/bad", &log) == 1);
  REQUIRE(log.find("--threads") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -j 1:0:1 -i " + in + " -o " + dir + "/bad", &log) == 1);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -t -5 -i " + in + " -o " + dir + "/bad", &log) == 1);
  REQUIRE(!fs::exists(dir + "/bad"));
}

TEST_CASE("vdsr_sr reports every bad file by name and reason and finishes the good ones") {
  const std::string dir = test::temp_dir("srb_bad"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  save_image(in + "/good1.png", test_image(12, 10, 3, 31), ImageFormat::PNG);
  save_image(in + "/good2.jpg", test_image(9, 9, 3, 32), ImageFormat::JPEG);
  save_image(dir + "/whole.png", test_image(40, 40, 3, 33), ImageFormat::PNG);
  const std::string whole = test::file_bytes(dir + "/whole.png");
  write_bytes(in + "/truncated.png", whole.substr(0, whole.size() / 2));
  std::string corrupt = whole;
  for (size_t i = 60; i < corrupt.size() - 20; ++i) corrupt[i] = char(corrupt[i] ^ 0x5a);
  write_bytes(in + "/corrupt.png", corrupt);
  write_bytes(in + "/empty.png", "");
  write_bytes(in + "/notes.jpg", "a text file with an image's name\n");
  write_bytes(in + "/huge.png", png_claiming(100000, 100000));
  std::string log;
  const int rc = run_command(bin("vdsr_sr") + " --bicubic -j 2:2:2 -i " + in + " -o " + out, &log);
  INFO(log);
  REQUIRE(rc == 2);
  auto reported = [&](const std::string& name, const std::string& reason) {
    INFO(name << ": " << reason);
    const auto at = log.find("error: " + in + "/" + name + ": ");
    REQUIRE(at != std::string::npos);
    REQUIRE(log.find(reason, at) < log.find('\n', at));
  };
  reported("truncated.png", "truncated");
  reported("corrupt.png", "corrupt");
  reported("empty.png", "empty");
  reported("notes.jpg", "not a PNG, JPEG, WebP, TIFF, BMP or TGA file");
  reported("huge.png", "100000x100000 exceeds the limits");
  REQUIRE(log.find("2 done, 0 skipped (output exists), 5 failed") != std::string::npos);
  REQUIRE(load_image(out + "/good1.png").width == 24);
  REQUIRE(load_image(out + "/good2.png").width == 18);
  REQUIRE(tree_bytes(out).size() == 2);
  REQUIRE(!test::has_tmp_files(out));
}

TEST_CASE("vdsr_sr removes the temporaries of this host's dead processes, never another host's") {
  const std::string dir = test::temp_dir("srb_stale"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  fs::create_directories(out + "/sub");
  save_image(in + "/a.png", test_image(6, 6, 3, 1), ImageFormat::PNG);
  // A process that has exited: its pid names a dead process (until the kernel reuses it).
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  REQUIRE(waitpid(dead, nullptr, 0) == dead);
  const std::string host = temporary_host_tag(), d = std::to_string(dead), live = std::to_string(getpid());
  const std::vector<std::string> stale = {out + "/x.png.tmp." + host + "." + d + ".0",
                                          out + "/sub/y.png.tmp." + host + "." + d + ".7",
                                          out + "/old.png.tmp." + d + ".2"};
  const std::vector<std::string> kept = {out + "/z.png.tmp.some-other-host." + d + ".0",
                                         out + "/w.png.tmp." + host + "." + live + ".0",
                                         out + "/notes.tmp.txt",
                                         // a user's files of a temporary's shape, but not an image's
                                         out + "/budget.tmp." + d + ".1",
                                         out + "/thesis.docx.tmp." + host + "." + d + ".0"};
  for (const auto& f : stale) write_bytes(f, "partial");
  for (const auto& f : kept) write_bytes(f, "keep");
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -r -i " + in + " -o " + out, &log) == 0);
  INFO(log);
  CHECK(log.find("removed 3 temporary file(s)") != std::string::npos);
  for (const auto& f : stale) CHECK(!fs::exists(f));
  for (const auto& f : kept) CHECK(fs::exists(f));
  CHECK(fs::exists(out + "/a.png"));
}

TEST_CASE("vdsr_sr killed with -9 mid-batch, rerun with --skip-existing: the clean run's bytes, no temporary left") {
  const std::string dir = test::temp_dir("srb_kill"), in = dir + "/in";
  fs::create_directories(in);
  for (int i = 0; i < 24; ++i)
    save_image(in + "/img" + std::to_string(100 + i) + ".png", test_image(120, 90, 3, uint32_t(i)), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 4 -i " + in + " -o " + dir + "/clean", &log) == 0);
  const std::string out = dir + "/killed";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string exe = bin("vdsr_sr");
    execl(exe.c_str(), exe.c_str(), "-q", "--bicubic", "-s", "4", "-j", "1:1:1", "-i", in.c_str(), "-o", out.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once a few outputs exist (or after 20 s, whatever it finished by then).
  const auto t0 = std::chrono::steady_clock::now();
  // Counted by name only: the writer renames its temporaries away while we look, so nothing here
  // may ask for a file's status (that would throw when the file is gone).
  const auto finished_outputs = [&] {
    std::error_code ec;
    int n = 0;
    for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec))
      n += it->path().extension() == ".png" ? 1 : 0;
    return n;
  };
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
    if (finished_outputs() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill(pid, SIGKILL);
  REQUIRE(waitpid(pid, nullptr, 0) == pid);
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 4 --skip-existing -i " + in + " -o " + out, &log) == 0);
  INFO(log);
  CHECK(tree_bytes(out) == tree_bytes(dir + "/clean"));
  CHECK(!test::has_tmp_files(out));
}

TEST_CASE("vdsr_sr on a full disk (ulimit -f) keeps what was written and leaves no partial file") {
  const std::string dir = test::temp_dir("srb_full"), in = dir + "/in", out = dir + "/out";
  fs::create_directories(in);
  // Noise upscaled x2: the big ones encode to well over 20 KiB, the small ones to under 2 KiB.
  save_image(in + "/a_small.png", test_image(8, 8, 3, 41), ImageFormat::PNG);
  save_image(in + "/b_big.png", test_image(120, 120, 3, 42), ImageFormat::PNG);
  save_image(in + "/c_small.png", test_image(7, 9, 1, 43), ImageFormat::PNG);
  save_image(in + "/d_big.png", test_image(100, 130, 3, 44), ImageFormat::PNG);
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -i " + in + " -o " + out, &log) == 0);
  const auto before = tree_bytes(out);
  REQUIRE(before.size() == 4);
  REQUIRE(before.at("b_big.png").size() > 40 * 1024);

  const std::string limited = "bash -c 'ulimit -f 20; exec " + bin("vdsr_sr") + " --bicubic -j 1:2:2 -i " +
                              in + " -o ";
  // Rewriting every output: the big ones fail (EFBIG, not a SIGXFSZ kill) and keep their old bytes.
  int rc = run_command(limited + out + "'", &log);
  INFO(log);
  REQUIRE(rc == 2);
  for (const char* name : {"b_big.png", "d_big.png"}) {
    const auto at = log.find("error: " + in + "/" + name + " -> " + out + "/" + name + ": ");
    REQUIRE(at != std::string::npos);
    REQUIRE(log.find("File too large", at) < log.find('\n', at));
  }
  REQUIRE(log.find("2 done, 0 skipped (output exists), 2 failed") != std::string::npos);
  REQUIRE(tree_bytes(out) == before);
  REQUIRE(!test::has_tmp_files(out));
  for (const auto& [name, bytes] : before) REQUIRE(load_image(out + "/" + name).width > 0);

  // Into a fresh folder: the small ones are written whole, the big ones not at all.
  rc = run_command(limited + dir + "/fresh'", &log);
  REQUIRE(rc == 2);
  const auto fresh = tree_bytes(dir + "/fresh");
  REQUIRE(fresh.size() == 2);
  REQUIRE(fresh.at("a_small.png") == before.at("a_small.png"));
  REQUIRE(fresh.at("c_small.png") == before.at("c_small.png"));
  REQUIRE(!test::has_tmp_files(dir + "/fresh"));
}

TEST_CASE("JPEG EXIF orientation is parsed defensively and applied on load") {
  // The eight orientations on a 3x2 image (rows 1 2 3 / 4 5 6).
  Image img;
  img.width = 3;
  img.height = 2;
  img.channels = 1;
  img.pixels = {1, 2, 3, 4, 5, 6};
  const std::vector<std::vector<uint16_t>> expect = {
      {1, 2, 3, 4, 5, 6}, {3, 2, 1, 6, 5, 4}, {6, 5, 4, 3, 2, 1}, {4, 5, 6, 1, 2, 3},
      {1, 4, 2, 5, 3, 6}, {4, 1, 5, 2, 6, 3}, {6, 3, 5, 2, 4, 1}, {3, 6, 2, 5, 1, 4}};
  for (int o = 1; o <= 8; ++o) {
    INFO("orientation " << o);
    const Image r = apply_exif_orientation(img, o);
    REQUIRE(r.width == (o >= 5 ? 2 : 3));
    REQUIRE(r.height == (o >= 5 ? 3 : 2));
    REQUIRE(r.pixels == expect[size_t(o - 1)]);
  }

  const std::string dir = test::temp_dir("srb_exif");
  Image photo = test_image(16, 8, 3, 51);
  save_image(dir + "/plain.jpg", photo, ImageFormat::JPEG);
  const std::string plain = test::file_bytes(dir + "/plain.jpg");
  auto orientation = [](const std::string& b) {
    return jpeg_exif_orientation(reinterpret_cast<const unsigned char*>(b.data()), b.size());
  };
  REQUIRE(orientation(plain) == 1);
  for (int o = 1; o <= 8; ++o) {
    REQUIRE(orientation(splice_after_soi(plain, exif_app1(o, false))) == o);
    REQUIRE(orientation(splice_after_soi(plain, exif_app1(o, true))) == o);
  }
  // Malformed: every case reads as 1 (upright), never out of bounds.
  const std::string seg = exif_app1(6, false);
  REQUIRE(orientation(splice_after_soi(plain, exif_app1(9, false))) == 1);
  REQUIRE(orientation(splice_after_soi(plain, exif_app1(0, true))) == 1);
  for (size_t cut = 0; cut <= seg.size() + 2; ++cut) {
    const std::string b = splice_after_soi(plain, seg).substr(0, cut);
    REQUIRE(orientation(b) == (cut >= 2 + seg.size() ? 6 : 1));
  }
  std::string bad_offset = seg;
  bad_offset[4 + 6 + 4 + 3] = char(0x7f);  // IFD0 offset beyond the segment
  REQUIRE(orientation(splice_after_soi(plain, bad_offset)) == 1);
  std::string bad_count = seg;
  bad_count[4 + 6 + 8] = char(0xff);  // 65535 entries claimed, none of them the orientation
  bad_count[4 + 6 + 9] = char(0xff);
  bad_count[4 + 6 + 22] = char(0x02);
  REQUIRE(orientation(splice_after_soi(plain, bad_count)) == 1);
  std::string bad_len = seg;
  bad_len[2] = char(0xff);  // a segment longer than the file
  REQUIRE(orientation(splice_after_soi(plain, bad_len)) == 1);
  const std::string xmp = std::string("\xff\xe1\x00\x06http", 8);  // another APP1 first
  REQUIRE(orientation(splice_after_soi(plain, xmp + seg)) == 6);

  // load_image applies it: the same decoded pixels, turned 90 degrees clockwise.
  write_bytes(dir + "/rot6.jpg", splice_after_soi(plain, seg));
  const Image base = load_image(dir + "/plain.jpg");
  const Image rot = load_image(dir + "/rot6.jpg");
  REQUIRE(rot.width == 8);
  REQUIRE(rot.height == 16);
  REQUIRE(rot.pixels == apply_exif_orientation(base, 6).pixels);
  REQUIRE(probe_image(dir + "/rot6.jpg").width == 16);  // the stored size
  std::string log;
  REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -s 2 -i " + dir + "/rot6.jpg -o " + dir + "/up.png",
                      &log) == 0);
  const Image up = load_image(dir + "/up.png");
  REQUIRE(up.width == 16);
  REQUIRE(up.height == 32);
}

TEST_CASE("vdsr_sr -g: lists, and GPU ids on a CPU build, are clear errors") {
  const std::string dir = test::temp_dir("srb_gpu");
  const std::string model = tiny_model(dir);
  save_image(dir + "/in.png", test_image(8, 8, 3, 61), ImageFormat::PNG);
  std::string log;
  const std::string base = bin("vdsr_sr") + " -m " + model + " -i " + dir + "/in.png -o " + dir + "/out.png ";
  // The list itself is checked first, in any build; then whether this build has GPUs at all.
  REQUIRE(run_command(base + "-g 0,0", &log) == 1);
  REQUIRE(log.find("-g 0,0: a list names distinct GPUs") != std::string::npos);
  if (!cuda_compiled()) {
    REQUIRE(run_command(base + "-g 0,1", &log) == 1);
    REQUIRE(log.find("-g 0,1: this vdsr_sr was built without CUDA") != std::string::npos);
    REQUIRE(run_command(base + "-g 1", &log) == 1);
    REQUIRE(log.find("built without CUDA") != std::string::npos);
  }
  REQUIRE(run_command(base + "-g x", &log) == 1);
  REQUIRE(!fs::exists(dir + "/out.png"));
  REQUIRE(run_command(base + "-g -1", &log) == 0);
  REQUIRE(load_image(dir + "/out.png").width == 16);
}

TEST_CASE("run_pipeline: every job finishes once, failures stay with their job") {
  for (const PipelineThreads t : {PipelineThreads{1, 1, 1}, PipelineThreads{3, 2, 4}}) {
    const size_t n = 40;
    std::vector<int> saved(n, 0);
    std::atomic<int> live{0}, peak{0}, bad_worker{0};
    PipelineStages<Image> s;
    s.load = [&](size_t i) {
      if (i % 7 == 3) throw std::runtime_error("cannot load " + std::to_string(i));
      peak = std::max(peak.load(), ++live);
      Image img;
      img.width = int(i) + 1;
      return img;
    };
    s.process = [&](int worker, size_t i, Image in) {
      if (worker < 0 || worker >= t.process) ++bad_worker;  // no REQUIRE off the test's thread
      if (i % 11 == 5) {
        --live;
        throw std::runtime_error("cannot process " + std::to_string(i));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 3)));
      return in;
    };
    s.save = [&](size_t i, Image& img) {
      --live;
      if (i % 13 == 12) throw std::runtime_error("disk full");
      saved[i] = img.width;  // each job writes its own slot, so no lock
    };
    size_t reported = 0;
    const auto outcomes = run_pipeline(n, t, s, [&](size_t, const JobOutcome&) { ++reported; });
    REQUIRE(reported == n);
    REQUIRE(bad_worker.load() == 0);
    for (size_t i = 0; i < n; ++i) {
      INFO(i);
      const bool fails = i % 7 == 3 || i % 11 == 5 || i % 13 == 12;
      REQUIRE(outcomes[i].ok == !fails);
      if (i % 7 == 3) REQUIRE(outcomes[i].stage == "load");
      else if (i % 11 == 5) REQUIRE(outcomes[i].stage == "process");
      else if (i % 13 == 12) REQUIRE(outcomes[i].stage == "save");
      REQUIRE(saved[i] == (fails ? 0 : int(i) + 1));
    }
    // Bounded queues: at most loaders + 3 x process + 3 x save images alive at once.
    REQUIRE(peak.load() <= t.load + 3 * t.process + 3 * t.save);
  }
  REQUIRE(parse_pipeline_threads("1:2:2").process == 2);
  // vdsr_sr on GPUs without -j: a worker per GPU, the other threads split so that loading and
  // saving keep pace, by the output format's save cost.
  const auto same = [](PipelineThreads a, PipelineThreads b) {
    return a.load == b.load && a.process == b.process && a.save == b.save;
  };
  const double png = save_cost_ratio(ImageFormat::PNG, SaveOptions{}), jpg = save_cost_ratio(ImageFormat::JPEG, SaveOptions{});
  CHECK(png > 3.0);
  CHECK(jpg < 2.0);
  CHECK(save_cost_ratio(ImageFormat::PNG, SaveOptions{95, 6, 90}) > png);   // zlib's search
  CHECK(save_cost_ratio(ImageFormat::WEBP, SaveOptions{95, 1, 101}) > save_cost_ratio(ImageFormat::WEBP, SaveOptions{}));
  CHECK(same(gpu_pipeline_threads(16, 1, png), {3, 1, 12}));  // 3 x 1 load ~ 12 / 4.2 save
  CHECK(same(gpu_pipeline_threads(16, 1, jpg), {6, 1, 9}));
  CHECK(same(gpu_pipeline_threads(16, 2, png), {3, 2, 11}));
  CHECK(same(gpu_pipeline_threads(16, 1, 1.0), {7, 1, 8}));  // equal costs: an even split, the pace of 7
  CHECK(same(gpu_pipeline_threads(2, 1, png), {1, 1, 2}));
  // 5 threads less the GPU's: 4, saves costing 1.3 loads (BMP): 2 load + 2 save keep a pace of
  // min(2, 2 / 1.3) = 1.54, 1 + 3 only min(1, 3 / 1.3) = 1 (at least 2 save threads).
  CHECK(same(gpu_pipeline_threads(5, 1, 1.3), {2, 1, 2}));
  CHECK(same(gpu_pipeline_threads(0, 1, jpg), {1, 1, 2}));  // hardware_concurrency() may say 0
  CHECK(same(gpu_pipeline_threads(2048, 8, png), {256, 8, 256}));  // at most 256 a stage, as -j
  REQUIRE_THROWS(parse_pipeline_threads("1:2"));
  REQUIRE_THROWS(parse_pipeline_threads("1:2:0"));
  CHECK(parse_pipeline_threads("256:1:256").save == 256);  // at most 256 a stage
  REQUIRE_THROWS(parse_pipeline_threads("1:257:1"));
  REQUIRE_THROWS(parse_pipeline_threads("a:b:c"));
  REQUIRE_THROWS(parse_pipeline_threads("1:2:3:4"));
  CHECK(parse_pipeline_threads("0001:02:0256").save == 256);  // leading zeros are the same counts
  REQUIRE_THROWS(parse_pipeline_threads("1:1:0000000257"));
}

TEST_CASE("cmake --install puts the tools in bin and the bundled model where vdsr_sr finds it") {
  const fs::path build = fs::path(VDSR_BIN_DIR).parent_path();
  for (const char* tool : {"vdsr_sr", "vdsr_eval", "vdsr_train", "vdsr_bench"}) {
    INFO(tool << " is not built in " << build.string());
    REQUIRE(fs::exists(bin(tool)));
  }
  const std::string prefix = test::temp_dir("srb_install");
  std::string log;
  REQUIRE(run_command("cmake --install " + build.string() + " --prefix " + prefix, &log) == 0);
  INFO(log);
  for (const char* tool : {"vdsr_sr", "vdsr_eval", "vdsr_train", "vdsr_bench"})
    REQUIRE(fs::exists(prefix + "/bin/" + tool));
  const std::string source_model = std::string(VDSR_SOURCE_DIR) + "/model/vdsr.safetensors";
  const std::string installed_model = prefix + "/share/vdsr/vdsr.safetensors";
  REQUIRE(fs::exists(installed_model) == fs::exists(source_model));
  if (!fs::exists(installed_model)) {  // no bundled model yet: stand one in, as install would
    fs::create_directories(prefix + "/share/vdsr");
    fs::copy_file(tiny_model(prefix), installed_model);
  }
  save_image(prefix + "/in.png", test_image(8, 8, 3, 71), ImageFormat::PNG);
  REQUIRE(run_command(prefix + "/bin/vdsr_sr -g -1 -i " + prefix + "/in.png -o " + prefix + "/out.png",
                      &log) == 0);
  REQUIRE(log.find("model " + installed_model) != std::string::npos);
  REQUIRE(load_image(prefix + "/out.png").width == 16);
}

TEST_CASE("vdsr_sr carries the colour profile and EXIF to every output format, the photo upright") {
  for (const char* f : {"jpeg", "webp", "tiff"}) test::require_codec(f);
  const std::string dir = test::temp_dir("srb_meta"), in = dir + "/in";
  fs::create_directories(in);
  // A phone photo: 10 wide, 6 high as stored, EXIF orientation 6 (turn 90 degrees clockwise), a
  // profile (an RGB one by its colour space, bytes 16-19, as an output keeps only a profile that
  // describes its pixels; the other bytes are carried as they are, and a JPEG holds any).
  Image photo = test_image(10, 6, 3, 41);
  photo.icc.assign(300, 0);
  for (size_t i = 0; i < photo.icc.size(); ++i) photo.icc[i] = static_cast<unsigned char>(i * 7);
  std::copy_n("RGB ", 4, photo.icc.begin() + 16);
  photo.exif = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
  save_image(in + "/photo.jpg", photo, ImageFormat::JPEG);
  for (const char* fmt : {"png", "jpg", "webp", "tif"}) {
    INFO(fmt);
    const std::string out = dir + "/out_" + fmt;
    std::string log;
    REQUIRE(run_command(bin("vdsr_sr") + " --bicubic -q -f " + fmt + " -i " + in + " -o " + out, &log) == 0);
    const Image up = load_image(out + "/photo." + fmt);
    CHECK(up.width == 12);  // upright (6 wide), then x2
    CHECK(up.height == 20);
    const bool keeps_icc_only = std::string(fmt) == "tif";
    if (std::string(fmt) != "png") CHECK(up.icc == photo.icc);  // libpng checks a profile's header
    CHECK(up.exif.empty() == keeps_icc_only);
    if (!keeps_icc_only) CHECK(exif_orientation(up.exif) == 1);
  }
  fs::remove_all(dir);
}

TEST_CASE("vdsr_sr keeps a PNG's gAMA and cHRM in a PNG, upscaled by the network or bicubic") {
  const std::string dir = test::temp_dir("srb_png_colour"), in = dir + "/in";
  fs::create_directories(in);
  Image img = test_image(10, 8, 3, 5);
  img.png_colour.gamma = 55556;
  img.png_colour.chrm = {31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000};
  save_image(in + "/a.png", img, ImageFormat::PNG);
  for (const std::string& how :
       {std::string("--bicubic"),
        "-g -1 -m " + std::string(VDSR_SOURCE_DIR) + "/model/vdsr.safetensors"}) {
    INFO(how);
    std::string log;
    REQUIRE(run_command(bin("vdsr_sr") + " -q " + how + " -i " + in + "/a.png -o " + dir + "/o.png",
                        &log) == 0);
    CHECK(load_image(dir + "/o.png").png_colour == img.png_colour);
    fs::remove(dir + "/o.png");
  }
  fs::remove_all(dir);
}

TEST_CASE("run_pipeline: a report callback that throws stops nothing, every job is still done") {
  for (const PipelineThreads t : {PipelineThreads{1, 1, 1}, PipelineThreads{2, 2, 2}}) {
    const size_t n = 12;
    PipelineStages<Image> s;
    s.load = [&](size_t i) {
      if (i == 4) throw std::runtime_error("cannot load 4");
      Image img;
      img.width = int(i) + 1;
      return img;
    };
    s.process = [&](int, size_t, Image in) { return in; };
    std::vector<int> saved(n, 0);
    s.save = [&](size_t i, Image& img) { saved[i] = img.width; };
    std::atomic<int> calls{0};
    const auto outcomes = run_pipeline(n, t, s, [&](size_t, const JobOutcome&) {
      ++calls;
      throw std::runtime_error("the report's disk is full");
    });
    REQUIRE(calls.load() == int(n));
    for (size_t i = 0; i < n; ++i) {
      INFO(i);
      CHECK(outcomes[i].ok == (i != 4));
      CHECK(saved[i] == (i == 4 ? 0 : int(i) + 1));
    }
    CHECK(outcomes[4].stage == "load");
  }
}
