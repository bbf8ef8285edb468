#!/usr/bin/env python3
"""Every #include "..." of our sources follows the include rules of docs/architecture.md.

The rules are the table under "## Include rules" in docs/architecture.md, one row a folder:

    | `kernels/` | `engine/`, `kernels/` |

the folder on the left may include headers of the folders on the right and of no other folder of
ours, so nothing points back up (engine/ includes only engine/; kernels/ stands on the runtime
alone). This script reads that table, then every `#include "..."` line of the C++/CUDA sources
(.cpp .h .cu .cuh) of the repository, and lists each include that breaks it:

- an include of a folder the including file's folder may not include;
- an include that names no folder (`#include "ops.h"`): every include of ours is written from the
  repository root, so that this check sees which folder it comes from. The headers the build
  generates (GENERATED below) are the exception;
- a source file in a folder the table has no row for: a new folder gets its row first.

System includes (`#include <...>`) are not ours and are not checked.

Usage: tests/check_includes.py [REPO_ROOT]. Exit status 1 and one line per broken rule
(file:line: what), 0 when every include follows the rules.
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # importing check_paths leaves no bytecode folder in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_paths import repo_files  # noqa: E402

DOC = "docs/architecture.md"
SECTION = "## Include rules"
SOURCE_ENDINGS = (".cpp", ".h", ".cu", ".cuh")
# Headers the build writes into its own folder (cmake/version_header.cmake), included by name.
GENERATED = {"vdsr_version.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
ROW = re.compile(r"^\|\s*`([\w.\-]+)/`\s*\|(.*)\|\s*$")
FOLDER = re.compile(r"`([\w.\-]+)/`")


def read_rules(root):
    """{folder: set of folders it may include} from the table under SECTION in DOC."""
    rules, inside = {}, False
    with open(os.path.join(root, DOC), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("## "):
                inside = line.strip() == SECTION
            elif inside:
                m = ROW.match(line.strip())
                if m:
                    rules[m.group(1)] = set(FOLDER.findall(m.group(2)))
    return rules


def sources(root):
    """The C++/CUDA files of the repository (check_paths.repo_files: what git tracks or would
    track, else every file outside .git and the build folders)."""
    return sorted(f for f in repo_files(root)
                  if f.endswith(SOURCE_ENDINGS) and os.path.isfile(os.path.join(root, f)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, ".."))
    rules = read_rules(root)
    if not rules:
        print("%s: no table of include rules under '%s'" % (DOC, SECTION), file=sys.stderr)
        return 1
    broken = []  # (file, line, what)
    files = sources(root)
    for f in files:
        folder = f.split("/")[0] if "/" in f else "."
        if folder not in rules:
            broken.append((f, 1, "no include rule for the folder %s/: add its row to %s, '%s'"
                           % (folder, DOC, SECTION[3:])))
            continue
        allowed = rules[folder]
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for k, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                if "/" not in target:
                    if target not in GENERATED:
                        broken.append((f, k, '"%s" names no folder: include it from the '
                                       "repository root (folder/file)" % target))
                elif target.split("/")[0] not in allowed:
                    broken.append((f, k, '%s/ may not include "%s" (%s/ may include %s)'
                                   % (folder, target, folder,
                                      ", ".join(x + "/" for x in sorted(allowed)))))
    for f, line, what in broken:
        print("%s:%d: %s" % (f, line, what))
    if broken:
        print("%d include(s) break the rules of %s" % (len(broken), DOC), file=sys.stderr)
        return 1
    print("every include of %d source files follows the rules of %s" % (len(files), DOC))
    return 0


if __name__ == "__main__":
    sys.exit(main())
