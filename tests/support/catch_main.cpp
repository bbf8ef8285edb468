// The one Catch2 main shared by every test executable (compiled once). Catch2's own main returns
// the number of failed assertions (capped at 255), so a test with exactly 77 failures would read
// as ctest's "skipped" (SKIP_RETURN_CODE 77). Here any failure is exit status 1, and 77 only ever
// comes from a deliberate skip (tests/support/test_support.h).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char** argv) { return Catch::Session().run(argc, argv) == 0 ? 0 : 1; }
