// A test shim, loaded with LD_PRELOAD into a tool the tests start: reading a folder fails (EIO)
// where the next entry would be the one named VDSR_FAIL_READDIR, after the entries before it. A
// listing that fails part way (a network share dropping, a failing disk) cannot be made from
// outside the process otherwise; the tools must say so, never use the part read as the whole.
#include <dirent.h>
#include <dlfcn.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

// The real function's next entry, or none (EIO) where it is the one named VDSR_FAIL_READDIR.
template <typename Entry>
Entry* next_entry(const char* symbol, DIR* d) {
  static const auto real = reinterpret_cast<Entry* (*)(DIR*)>(::dlsym(RTLD_NEXT, symbol));
  if (real == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  Entry* e = real(d);
  const char* name = std::getenv("VDSR_FAIL_READDIR");
  if (e != nullptr && name != nullptr && *name != '\0' && std::strcmp(e->d_name, name) == 0) {
    errno = EIO;
    return nullptr;
  }
  return e;
}

}  // namespace

// Both names: libstdc++ and the tools may reach either (they are one function in glibc on 64-bit).
extern "C" dirent* readdir(DIR* d) { return next_entry<dirent>("readdir", d); }
extern "C" dirent64* readdir64(DIR* d) { return next_entry<dirent64>("readdir64", d); }
