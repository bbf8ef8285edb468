# Writes vdsr_version.h with the version and the git commit; rewrites only when it changes, so
# nothing rebuilds needlessly.
# The environment variable VDSR_COMMIT, when set, wins over git: bench/gpu_check.sh and
# bench/gpu_measure.sh set it from .carry/commit.txt, because the GPU machine's copy can hold a stale
# .git of an older commit with the newer tree on top (git there said "141c84721d4a-dirty" for every
# later commit). It is taken as it is, "-dirty" included when the build machine's tree was.
if(DEFINED ENV{VDSR_COMMIT} AND NOT "$ENV{VDSR_COMMIT}" STREQUAL "")
  set(commit "$ENV{VDSR_COMMIT}")
else()
  execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD OUTPUT_VARIABLE commit
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR commit STREQUAL "")
    set(commit "unknown")  # a copy without .git and no VDSR_COMMIT
  else()
    execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT dirty STREQUAL "")
      set(commit "${commit}-dirty")
    endif()
  endif()
endif()
set(text "#pragma once\n#define VDSR_VERSION \"${VERSION}\"\n#define VDSR_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
