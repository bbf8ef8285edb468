#!/usr/bin/env python3
"""Compares the PTX of two folders of .ptx files kernel by kernel (bench/ptx_diff.sh): each .entry
with its register numbers, labels and the file-local namespace hash canonicalised, so a kernel is
"same" when its code is identical up to names and register numbering. Exit 1 if any kernel present
in both differs."""
import re
import sys
from pathlib import Path


def canon(text):
    text = re.sub(r'%(r|rd|f|fd|p|rs|h|hh)\d+', r'%\1N', text)
    text = re.sub(r'\$L__BB\d+_\d+', 'LBB', text)
    return re.sub(r'_GLOBAL__N__[0-9a-f_]+_\d+_\w+?_cu_[0-9a-f]+', 'ANON', text)


def entries(path):
    lines = [l for l in Path(path).read_text().splitlines()
             if not l.lstrip().startswith(('//', '.file', '.loc'))]
    parts = re.split(r'(?=^\.(?:visible )?\.?entry )', '\n'.join(lines), flags=re.M)
    out = {}
    for p in parts[1:]:
        name = canon(re.match(r'\.(?:visible )?\.?entry (\S+)\(', p).group(1))
        out[name] = canon(p)
    return out


def main(a_dir, b_dir):
    changed = 0
    for a_file in sorted(Path(a_dir).glob('*.ptx')):
        b_file = Path(b_dir) / a_file.name
        a = entries(a_file)
        b = entries(b_file) if b_file.exists() else {}
        for name in sorted(set(a) | set(b)):
            state = ('same' if a.get(name) == b.get(name) else
                     'removed' if name not in b else 'added' if name not in a else 'DIFFERENT')
            changed += state == 'DIFFERENT'
            print(f'{state:9} {a_file.stem:28} {name}')
    return 1 if changed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
