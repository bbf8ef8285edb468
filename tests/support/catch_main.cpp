// The one Catch2 main shared by every test executable (compiled once). Catch2's own main returns
// the number of failed assertions (capped at 255), so a test with exactly 77 failures would read
// as ctest's "skipped" (SKIP_RETURN_CODE 77). Here any failure is exit status 1, and 77 only ever
// comes from a deliberate skip (tests/support/test_support.h). A filter that matches no test case
// (a renamed case, or a name whose comma was not escaped: Catch2 splits filters at commas) is a
// failure too, not an empty pass: the NoTests warning is always on.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return 1;
  auto& config = session.configData();
  config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoTests);
  return session.run() == 0 ? 0 : 1;
}
