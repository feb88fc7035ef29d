#!/usr/bin/env python3
"""Build a >= 1M short-passage corpus (BEIR layout) for index scale tests.

Called by scripts/fetch/make-debian-1m.sh once the dictionary .debs are
downloaded, verified against scripts/fetch/debian-1m.lock and unpacked with
`dpkg-deb -x` into EXTRACT/<package>/.  Standard library only.

Passages, in this order:
  1. the sentences of data/debian-docs/corpus.jsonl (split after . ! ? and the
     CJK full stops and at newlines, whitespace collapsed, 40..400 characters);
     _id "<passage id>#s<k>" (k: 1-based position among the passage's pieces),
     title: the passage's title;
  2. one passage per definition / gloss of each dictionary package, in the
     order given (20..400 characters); title: the headword.
Every text is kept once: exact duplicates of anything before are dropped.

Output: OUT/corpus.jsonl   {"_id","title","text"}

Determinism: inputs are read in a fixed order (corpus order, file order,
dictionary offsets), ids are positions or counters, the set of seen texts is
only asked for membership, and nothing depends on hash seeds, time or locale.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from pathlib import Path

from debian_corpus import b36  # the same short ids as debian-docs

WS = re.compile(r"\s+")
# A sentence ends after . ! ? (and any closing quotes/brackets) before whitespace,
# or right after a CJK full stop; newlines always end one.
SENT_END = re.compile(r"([.!?][\"'’”)\]»]*)[ \t\r\f\v]+")
CJK_END = re.compile(r"([。！？｡．])[ \t\r\f\v]*")

SENT_MIN, SENT_MAX = 40, 400
DEF_MIN, DEF_MAX = 20, 400


def clean(s: str) -> str:
    s = s.replace("\u00a0", " ").replace("\u200b", "").replace("\ufffd", "")
    return WS.sub(" ", s).strip()


def split_sentences(text: str) -> list[str]:
    text = SENT_END.sub("\\1\n", text)
    text = CJK_END.sub("\\1\n", text)
    return [clean(s) for s in text.split("\n")]


# --- source 1: sentences of debian-docs ----------------------------------------

def docs_sentences(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            pid, title = d["_id"], d.get("title", "")
            for k, s in enumerate(split_sentences(d["text"]), 1):
                if SENT_MIN <= len(s) <= SENT_MAX:
                    yield f"{pid}#s{k}", title, s


# --- WordNet (wordnet-base): one passage per synset gloss ------------------------

WN_FILES = (("data.noun", "n"), ("data.verb", "v"), ("data.adj", "a"), ("data.adv", "r"))
WN_MARKER = re.compile(r"\((a|p|ip)\)$")


def wordnet(root: Path):
    base = root / "usr/share/wordnet"
    for name, _pos in WN_FILES:
        with open(base / name, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # license header
                    continue
                head, sep, gloss = line.partition(" | ")
                if not sep:
                    continue
                fields = head.split()
                offset, ss_type, wcnt = fields[0], fields[2], int(fields[3], 16)
                words = []
                for i in range(wcnt):
                    w = WN_MARKER.sub("", fields[4 + 2 * i]).replace("_", " ")
                    if w not in words:
                        words.append(w)
                yield f"wn:{ss_type}{offset}", ", ".join(words), clean(gloss)


# --- dictd dictionaries (dict-gcide, dict-foldoc) ---------------------------------

B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _b64(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + B64[c]
    return n


def dictd_blocks(root: Path, name: str):
    """(headwords, text) of each distinct block of a dictd database, in file order."""
    base = root / "usr/share/dictd"
    with gzip.open(base / f"{name}.dict.dz") as f:  # dictzip is gzip-compatible
        data = f.read()
    spans: dict[tuple[int, int], list[str]] = {}
    with open(base / f"{name}.index", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith(("00-", "00database")):  # database metadata
                continue
            spans.setdefault((_b64(parts[1]), _b64(parts[2])), []).append(parts[0])
    for off, ln in sorted(spans):
        text = data[off:off + ln].decode("utf-8", errors="replace")
        if not text.startswith(("00-", "00database")):
            yield spans[(off, ln)], text


BRACES = re.compile(r"[{}]")
# Source tags that close each GCIDE definition: [1913 Webster], [WordNet 1.5 +PJC] ...
GCIDE_SOURCE = re.compile(
    r"\[(?:[^\[\]]*?(?:Webster|WordNet|PJC|Century|Chambers|Suppl\.|RDH|JW|MW\d*|Fiske|Bouvier|"
    r"Johnson|Dict\.|Gloss\.|Encyc\.|Cyc\.)[^\[\]]*)\]")
GCIDE_SENSE = re.compile(r"^(\d+\.|\([a-z]\))\s+")
GCIDE_HEAD = re.compile(r"^(.+?)\s*(?:\\|,|\(|$)")
GCIDE_SUBENTRY = re.compile(r"^\{([^{}]{1,80})\}")
GCIDE_SKIP = ("Syn:", "Note:", "Usage:", "See also", "Phrases:")
# A run-on derivative closing a definition: "... for reproduction. -- {Ty`po*graph"ic}, a."
GCIDE_RUNON = re.compile(r"\s*--\s*\{?[A-Za-z][^\s{}]*[*`\"][^\s{}]*\}?,? .*$")
# Syllable and accent marks of a headword's spelling: Co*ag"u*late
GCIDE_MARKED = re.compile(r"\w[*`]\w")


def gcide(root: Path):
    for _words, block in dictd_blocks(root, "gcide"):
        headword = ""
        units: list[tuple[str, list[str], int]] = []  # (headword, lines, first line's indent)
        cur: list[str] | None = None
        depth = 0            # unclosed '[' of an entry header (etymology)
        in_header = False
        for raw in block.split("\n"):
            if not raw.strip():
                cur = None
                continue
            if raw[0] == "\\":                   # a header's second spelling: "\Pa*gan"ic*al\, a."
                depth += raw.count("[") - raw.count("]")
                in_header = depth > 0
                continue
            if not raw[0].isspace():           # a new entry: "Word \Pron\, n. [Etym.]"
                m = GCIDE_HEAD.match(raw.strip())
                headword = clean(BRACES.sub("", m.group(1))) if m else ""
                depth = raw.count("[") - raw.count("]")
                in_header = depth > 0
                cur = None
                continue
            if in_header:
                depth += raw.count("[") - raw.count("]")
                in_header = depth > 0
                continue
            line = raw.strip()
            indent = len(raw) - len(raw.lstrip())
            if cur is None or GCIDE_SENSE.match(line):
                cur = []
                units.append((headword, cur, 0 if GCIDE_SENSE.match(line) else indent))
            cur.append(line)
            if GCIDE_SOURCE.search(line):
                cur = None  # the source tag closes this definition
        for hw, lines, indent in units:
            if indent >= 6:
                continue  # a deeply indented block is a quotation
            text = " ".join(lines)
            text = clean(GCIDE_SOURCE.sub(" ", text))
            text = GCIDE_RUNON.sub("", text)
            text = GCIDE_SENSE.sub("", text)
            if not text or text.startswith(GCIDE_SKIP) or text.startswith("--"):
                continue
            if text.startswith("[") and text.endswith("]") and text.count("[") == 1:
                continue  # "[Formerly written also ...]" asides
            title = hw
            m = GCIDE_SUBENTRY.match(text)
            if m:
                title = clean(m.group(1))
            text = clean(BRACES.sub("", text))
            if title and text and not GCIDE_MARKED.search(text) and not GCIDE_MARKED.search(title):
                yield title, text


DATE_LINE = re.compile(r"^\(\d{4}-\d{2}-\d{2}\)$")  # FOLDOC's "last changed" stamp
XREF = re.compile(r"\{\s*([^{}]*?)\s*\}")             # {cross reference}


def dictd_paragraphs(root: Path, name: str, quote_indent: int | None = None):
    """(headword, paragraph) of a plain dictd database (FOLDOC, Jargon File, V.E.R.A.):
    a block is its headword line(s) at column 0, then indented paragraphs.
    With quote_indent, paragraphs indented that deep (quotations, verse) are dropped."""
    for _words, block in dictd_blocks(root, name):
        lines = block.split("\n")
        heads = []
        i = 0
        while i < len(lines) and lines[i].strip() and not lines[i][0].isspace():
            heads.append(lines[i].strip())
            i += 1
        if not heads:
            continue
        paras: list[tuple[int, list[str]]] = []
        cur: list[str] = []
        for raw in lines[i:]:
            if raw.strip():
                if not cur:
                    paras.append((len(raw) - len(raw.lstrip()), cur))
                cur.append(raw.strip())
            else:
                cur = []
        for indent, p in paras:
            if quote_indent is not None and indent >= quote_indent:
                continue
            text = clean(" ".join(p))
            if DATE_LINE.match(text) or text.startswith("[\"") or text.startswith(("See ", "Home page")) and len(text) < 80:
                continue
            text = clean(XREF.sub("\\1", text))
            yield heads[0], text


def dictionary(pkg: str, root: Path):
    """(_id, title, text) of a dictionary package."""
    if pkg == "wordnet-base":
        yield from wordnet(root)
        return
    if pkg == "dict-gcide":
        prefix, gen = "gcide", gcide(root)
    elif pkg == "dict-foldoc":
        prefix, gen = "foldoc", dictd_paragraphs(root, "foldoc")
    elif pkg == "dict-jargon":
        prefix, gen = "jargon", dictd_paragraphs(root, "jargon", quote_indent=8)
    elif pkg == "dict-vera":
        prefix, gen = "vera", dictd_paragraphs(root, "vera")
    else:
        raise KeyError(pkg)
    for n, (title, text) in enumerate(gen, 1):
        yield f"{prefix}:{b36(n)}", title, text


SOURCES = ("wordnet-base", "dict-gcide", "dict-foldoc", "dict-jargon", "dict-vera")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", required=True, type=Path, help="data/debian-docs/corpus.jsonl")
    ap.add_argument("--extract", required=True, type=Path, help="folder holding <package>/ trees")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--packages", required=True, nargs="+", help="package=version, in output order")
    ap.add_argument("--min-passages", type=int, default=1_000_000)
    args = ap.parse_args()
    t0 = time.monotonic()

    for spec in args.packages:
        pkg = spec.partition("=")[0]
        if pkg not in SOURCES:
            print(f"error: no extraction rules for package {pkg} in {__file__}", file=sys.stderr)
            return 2

    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "corpus.jsonl.tmp"
    seen: set[bytes] = set()
    ids: set[str] = set()
    n = 0
    total = 0
    stats: list[tuple[str, str, int, int]] = []

    def emit(out, pid: str, title: str, text: str) -> bool:
        nonlocal n, total
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if key in seen:
            return False
        if pid in ids:
            raise SystemExit(f"error: duplicate id {pid}")
        seen.add(key)
        ids.add(pid)
        n += 1
        total += len(text.encode())
        out.write(json.dumps({"_id": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
        return True

    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        c = b = 0
        for pid, title, text in docs_sentences(args.docs):
            if emit(out, pid, title, text):
                c += 1
                b += len(text.encode())
        stats.append(("debian-docs sentences", "", c, b))
        for spec in args.packages:
            pkg, _, ver = spec.partition("=")
            c = b = 0
            for pid, title, text in dictionary(pkg, args.extract / pkg):
                if not (DEF_MIN <= len(text) <= DEF_MAX) or not title:
                    continue
                if emit(out, pid, title, text):
                    c += 1
                    b += len(text.encode())
            if c == 0:
                print(f"error: no definitions found in {pkg}", file=sys.stderr)
                return 2
            stats.append((pkg, ver, c, b))
    tmp.replace(args.out / "corpus.jsonl")

    print("per source:")
    for name, ver, c, b in stats:
        print(f"  {name:<24} {ver:<22} {c:>8} passages, mean {b / max(c, 1):.0f} B")
    print(f"build time:       {time.monotonic() - t0:.1f} s")
    print(f"passages:         {n}")
    print(f"total text bytes: {total}")
    print(f"mean bytes:       {total / max(n, 1):.1f}")
    if n < args.min_passages:
        print(f"error: only {n} passages, fewer than --min-passages {args.min_passages}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
