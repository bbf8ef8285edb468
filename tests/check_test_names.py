#!/usr/bin/env python3
"""Every Catch2 test case name survives catch_discover_tests as one ctest test that runs it.

catch_discover_tests (Catch2's CatchAddTests.cmake) lists the names and adds one ctest test per
name, with the name as the executable's test filter. A ';' is CMake's list separator: "A; B"
became two ctest tests, "A" and " B", whose filters matched no test case, so both passed without
running anything (eleven such names went unnoticed until 2026-12-05, one of them a failing test).
A name that starts with '-' is read as an option ("Unrecognised token"), one that starts with '~'
as an exclusion. This script reads every TEST_CASE( "..." "..." of tests/ (adjacent string
literals joined) and lists the names with any of these.

Usage: tests/check_test_names.py [REPO_ROOT]. Exit status 1 and one line per bad name
(file:line: name: why), 0 when every name is safe.
"""
import os
import re
import sys

TEST_CASE = re.compile(r'TEST_CASE\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)')
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def problems(name):
    why = []
    if ";" in name:
        why.append("';' splits it into two ctest tests that run nothing")
    if name.startswith("-"):
        why.append("a leading '-' is read as an option")
    if name.startswith("~"):
        why.append("a leading '~' is read as an exclusion")
    return why


def main(root):
    bad = 0
    count = 0
    for folder, _, files in os.walk(os.path.join(root, "tests")):
        for f in sorted(files):
            if not f.endswith(".cpp"):
                continue
            path = os.path.join(folder, f)
            text = open(path, encoding="utf-8").read()
            for m in TEST_CASE.finditer(text):
                name = "".join(LITERAL.findall(m.group(1)))
                count += 1
                for why in problems(name):
                    line = text.count("\n", 0, m.start()) + 1
                    print("%s:%d: %s: %s" % (os.path.relpath(path, root), line, name, why))
                    bad += 1
    if count == 0:
        print("no TEST_CASE found under %s/tests" % root)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
