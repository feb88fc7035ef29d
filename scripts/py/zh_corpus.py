#!/usr/bin/env python3
"""Build a Chinese BEIR-layout evaluation set from extracted Debian documentation packages.

Called by scripts/fetch/make-zh-corpus.sh once the .debs are downloaded, verified
against scripts/fetch/zh-corpus.lock and unpacked with `dpkg-deb -x` into
EXTRACT/<package>/.  Standard library only.

Output (in OUT):
  corpus.jsonl       {"_id","title","text"}: 200-900 byte passages of Chinese prose;
                     _id is "<package>/<path>#NNNN", title is the page's <title>
                     (never the section heading: Ember indexes title + "\\n" + text)
  queries.jsonl      {"_id","text"}: cleaned section headings, "q/<package>/<path>#sNNNN"
  qrels/test.tsv     query-id, corpus-id, score: a heading -> every passage of its section

Debian's Chinese man pages (package manpages-zh) are held out for acceptance
testing: this script refuses that package and never reads a man page at all.

Determinism: files are read in sorted order, packages in the order given, ids
come from paths and counters, all three files are sorted by id, and nothing
depends on hash seeds, time or locale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

# Held out for acceptance: never read, whatever the command line says.
HELD_OUT = re.compile(r"^manpages-zh($|[-_.])")

# What to read from each package: (glob relative to the extract root, prefix
# stripped from the path in ids).  One script per document: the zh-cn and zh-tw
# builds of the same book are parallel translations, and keeping both would
# leave every query with a second, unjudged copy of its answer.
SOURCES: dict[str, list[tuple[str, str]]] = {
    "debian-reference-zh-tw": [("usr/share/debian-reference/*.zh-tw.html", "usr/share/debian-reference/")],
    "maint-guide-zh-cn": [("usr/share/doc/maint-guide-zh-cn/html/*.zh-cn.html", "usr/share/doc/maint-guide-zh-cn/html/")],
    "debian-faq-zh-cn": [("usr/share/doc/debian/FAQ/zh-cn/*.zh-cn.html", "usr/share/doc/debian/FAQ/zh-cn/")],
    # The bullseye manual in the same package is an older edition of this one.
    "debian-edu-doc-zh-cn": [("usr/share/doc/debian-edu-doc-zh-cn/debian-edu-bookworm-manual.html",
                              "usr/share/doc/debian-edu-doc-zh-cn/")],
    "debian-handbook": [("usr/share/doc/debian-handbook/html/zh-CN/*.html", "usr/share/doc/debian-handbook/html/")],
    "installation-guide-amd64": [("usr/share/doc/installation-guide-amd64/zh_CN/*.html",
                                  "usr/share/doc/installation-guide-amd64/")],
    "kicad-doc-zh": [("usr/share/doc/kicad/help/zh/*.html", "usr/share/doc/kicad/help/")],
    "libreoffice-help-zh-cn": [("usr/share/libreoffice/help/zh-CN/text/**/*.html", "usr/share/libreoffice/help/")],
}

# Tables of contents and title/legal pages.
EXCLUDE = re.compile(r"(^|/)(index|noscript)(\.[\w-]+)?\.html$|(^|/)usr/share/man/")

TARGET_MAX = 900     # bytes: a passage never grows past this
MIN_PASSAGE = 200    # bytes: shorter pieces are merged with a neighbour or dropped
MIN_KEEP = 120       # bytes: a short piece that cannot be merged is kept down to this

# Headings that name a kind of section, not a topic; any heading found in more
# than one section is dropped as well, so this list is only a first cut.
GENERIC = {
    "介绍", "介紹", "简介", "簡介", "概述", "概览", "概覽", "参见", "參見", "另请参阅", "另請參閱",
    "注意", "提示", "警告", "示例", "例子", "范例", "範例", "说明", "說明", "描述", "目录", "目錄",
    "前言", "摘要", "注释", "註釋", "相关主题", "相關主題", "参考", "參考", "参考文献", "參考文獻",
    "致谢", "致謝", "版权", "版權", "索引", "语法", "語法", "返回值", "参数", "參數", "选项", "選項",
    "用法", "功能", "引言", "总结", "總結", "结论", "結論", "小结", "小結", "附录", "附錄", "问题", "問題",
}


# ---------------------------------------------------------------------------
# Text helpers

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


def is_cjk(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in CJK_RANGES)


def cjk_count(s: str) -> int:
    return sum(1 for c in s if is_cjk(c))


# A CJK ideograph or full-width punctuation: source files wrap lines anywhere,
# so whitespace between two of these is an artefact, not a word break.
_WIDE = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
WIDE_GAP = re.compile(rf"(?<={_WIDE})\s+(?={_WIDE})")
WS = re.compile(r"\s+")
LATIN_WORD = re.compile(r"[A-Za-z0-9_]+")


def clean(s: str) -> str:
    s = s.replace("\u00a0", " ").replace("\u200b", "").replace("\ufffd", "").replace("¶", "")
    s = WS.sub(" ", s).strip()
    return WIDE_GAP.sub("", s)


def chinese(p: str) -> bool:
    """True for a paragraph that is mainly Chinese: at least 4 ideographs and
    no fewer ideographs than Latin words (partly translated books keep whole
    English paragraphs; commands and code are Latin words too)."""
    c = cjk_count(p)
    return c >= 4 and c >= len(LATIN_WORD.findall(p))


# ---------------------------------------------------------------------------
# HTML -> (page title, [(heading, [paragraph, ...]), ...])


class HTMLDoc(HTMLParser):
    SKIP_TAGS = {"script", "style", "pre", "nav", "header", "footer", "aside", "noscript", "svg",
                 "form", "button", "textarea", "select", "math", "object", "iframe"}
    SKIP_CLASSES = {
        "toc", "navheader", "navfooter", "docnav", "programlisting", "screen", "synopsis",
        "cmdsynopsis", "funcsynopsis", "literallayout", "indexterm", "index", "footnotes",
        "legalnotice", "list-of-tables", "list-of-figures", "list-of-examples", "lot",
        "relatedtopics", "code", "listingblock", "literalblock", "bug", "debug",
        "revhistory", "authorgroup", "author", "copyright",
    }
    SKIP_IDS = {"toc", "header", "footer", "TopLeftHeader", "DEBUG", "SearchFrame", "DonationFrame"}
    # Inside these a heading is a box title, not a new section.
    BOX_CLASSES = {"note", "tip", "warning", "caution", "important", "sidebar", "admonitionblock"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "param", "source", "track", "wbr"}
    BLOCK = {"p", "div", "li", "dt", "dd", "tr", "table", "blockquote", "section", "ul", "ol",
             "dl", "br", "hr", "article", "figure", "figcaption", "caption", "body", "center",
             "h1", "h2", "h3", "h4", "h5", "h6"}
    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.in_title = False
        self.page_title = ""
        self.in_heading = False
        self.heading_buf: list[str] = []
        self.buf: list[str] = []
        self.sections: list[list] = [["", []]]
        self.div_box: list[bool] = []   # one entry per open <div>: is it a box?
        self.box_depth = 0

    def _skip(self, tag: str, attrs) -> bool:
        if tag in self.SKIP_TAGS:
            return True
        for k, v in attrs:
            if k == "class" and v and not self.SKIP_CLASSES.isdisjoint(v.split()):
                return True
            if k == "id" and v in self.SKIP_IDS:
                return True
        return False

    def _flush(self) -> None:
        if self.buf:
            text = clean("".join(self.buf))
            self.buf = []
            if text:
                self.sections[-1][1].append(text)

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        if tag == "title":
            self.in_title = True
            return
        if tag in self.VOID:
            if tag in ("br", "hr"):
                (self.heading_buf if self.in_heading else self.buf).append(" ")
            return
        if self._skip(tag, attrs):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "div":
            classes = next((v.split() for k, v in attrs if k == "class" and v), [])
            box = not self.BOX_CLASSES.isdisjoint(classes)
            self.div_box.append(box)
            self.box_depth += box
        if tag in self.HEADINGS and not self.box_depth:
            self._flush()
            self.in_heading = True
            self.heading_buf = []
        elif tag in self.BLOCK:
            if self.in_heading:
                self.heading_buf.append(" ")
            else:
                self._flush()

    def handle_startendtag(self, tag, attrs):
        # XHTML "<a id='x'/>": no content, nothing to open or close.
        if tag in self.VOID and self.skip_tag is None:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "title":
            self.in_title = False
            return
        if tag == "div" and self.div_box:
            self.box_depth -= self.div_box.pop()
        if tag in self.HEADINGS and self.in_heading:
            head = clean("".join(self.heading_buf))
            self.in_heading = False
            if head:
                self.sections.append([head, []])
        elif tag in self.BLOCK and not self.in_heading:
            self._flush()

    def handle_data(self, data):
        if self.in_title:
            self.page_title += data
            return
        if self.skip_tag is not None:
            return
        (self.heading_buf if self.in_heading else self.buf).append(data)

    def doc(self):
        self._flush()
        return clean(self.page_title), [(h, ps) for h, ps in self.sections if ps]


def parse_html(raw: bytes):
    p = HTMLDoc()
    try:
        p.feed(raw.decode("utf-8", errors="replace"))
        p.close()
    except Exception:  # malformed markup: keep what was parsed
        pass
    return p.doc()


# ---------------------------------------------------------------------------
# Passages

SENT_END = re.compile(r"(?<=[。！？；!?;])")


def pieces(p: str) -> list[str]:
    """A paragraph as parts of at most TARGET_MAX bytes: cut after a sentence
    end, and only inside a sentence (after a comma or space) if it is too long."""
    if len(p.encode()) <= TARGET_MAX:
        return [p]
    out: list[str] = []
    cur = ""
    for s in (x for x in SENT_END.split(p) if x):
        while len(s.encode()) > TARGET_MAX:
            # Largest prefix that fits, preferably ending at a comma or space.
            cut = len(s.encode()[:TARGET_MAX].decode("utf-8", errors="ignore"))
            soft = max(s.rfind(c, 0, cut) for c in "，、, ")
            cut = soft + 1 if soft > cut // 2 else cut
            head, s = s[:cut], s[cut:]
            if cur:
                out.append(cur)
                cur = ""
            out.append(head)
        if cur and len((cur + s).encode()) > TARGET_MAX:
            out.append(cur)
            cur = ""
        cur += s
    if cur:
        out.append(cur)
    return [x.strip() for x in out if x.strip()]


def split_section(paras: list[str]) -> list[str]:
    """A section's paragraphs as passages of balanced size, cut at paragraph
    boundaries where possible; none over TARGET_MAX bytes."""
    parts = [x for p in paras for x in pieces(p)]
    total = sum(len(x.encode()) + 1 for x in parts)
    k = -(-total // TARGET_MAX)
    target = total / max(k, 1)
    out: list[str] = []
    cur: list[str] = []
    cur_len = 0
    for x in parts:
        n = len(x.encode()) + 1
        if cur and cur_len + n > TARGET_MAX:
            out.append("\n".join(cur))
            cur, cur_len = [], 0
        cur.append(x)
        cur_len += n
        if cur_len >= target:
            out.append("\n".join(cur))
            cur, cur_len = [], 0
    if cur:
        out.append("\n".join(cur))
    return out


def chunk(sections) -> list[tuple[str, list[int]]]:
    """[(passage text, [section index, ...])]: passages never mix two sections,
    except that a section too short for a passage of its own is joined to the
    next one (then the passage is relevant to both headings)."""
    raw: list[tuple[str, list[int]]] = []
    for si, (_head, paras) in enumerate(sections):
        paras = [p for p in paras if chinese(p)]
        if paras:
            raw.extend((t, [si]) for t in split_section(paras))
    out: list[tuple[str, list[int]]] = []
    carry: tuple[str, list[int]] | None = None
    for text, secs in raw:
        if carry is not None:
            joined = carry[0] + "\n" + text
            if len(joined.encode()) <= TARGET_MAX:
                text, secs = joined, carry[1] + [s for s in secs if s not in carry[1]]
            elif len(carry[0].encode()) >= MIN_KEEP:
                out.append(carry)
            carry = None
        if len(text.encode()) < MIN_PASSAGE:
            carry = (text, secs)
        else:
            out.append((text, secs))
    if carry is not None:
        if out and len(out[-1][0].encode()) + 1 + len(carry[0].encode()) <= TARGET_MAX:
            pt, ps = out[-1]
            out[-1] = (pt + "\n" + carry[0], ps + [s for s in carry[1] if s not in ps])
        elif len(carry[0].encode()) >= MIN_KEEP:
            out.append(carry)
    return out


# ---------------------------------------------------------------------------
# Queries

# "第 2 章", "章 2.", "附录 A.", "2.1.4.", "A.1", "问题 1.2", "6.3.7.2" ...
NUMBERING = re.compile(
    r"^(第\s*[0-9一二三四五六七八九十百]+\s*[章节節部分篇]\s*|"
    r"(章|节|節|附录|附錄|部分|appendix|chapter|part)\s*[0-9A-Z]+\.?\s*|"
    r"[0-9A-Z]{1,3}(\.[0-9]+)+\.?\s*|[0-9]{1,3}\.?\s+|[A-Z]\.\s*)",
    re.I,
)


def norm_heading(h: str) -> str:
    for _ in range(3):
        h2 = NUMBERING.sub("", h).strip()
        if h2 == h:
            break
        h = h2
    return h.strip(" :：#").strip()


def heading_key(h: str) -> str:
    return re.sub(r"[\s\"'“”「」『』《》()（）.,，。:：?？!！]", "", h).lower()


def is_query_heading(h: str, page_title: str) -> bool:
    if cjk_count(h) < 2 or len(h) > 60 or h in GENERIC:
        return False
    if cjk_count(h) < len(LATIN_WORD.findall(h)):
        return False  # mostly an English (untranslated) heading
    k = heading_key(h)
    return bool(k) and k not in heading_key(page_title)


# ---------------------------------------------------------------------------


def process(job):
    pkg, path, rel = job
    raw = Path(path).read_bytes()
    if b"\x00" in raw[:4096]:
        return pkg, rel, "", [], []
    title, sections = parse_html(raw)
    heads = [norm_heading(h) for h, _ in sections]
    return pkg, rel, title, heads, chunk(sections)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extract", required=True, type=Path, help="folder holding <package>/ trees")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--packages", required=True, nargs="+", help="package=version, in output order")
    ap.add_argument("--min-passages", type=int, default=1000)
    ap.add_argument("--max-passages", type=int, default=10000)
    ap.add_argument("--min-queries", type=int, default=300)
    ap.add_argument("--max-queries", type=int, default=2000)
    args = ap.parse_args()
    t0 = time.monotonic()

    jobs = []
    versions: dict[str, str] = {}
    for spec in args.packages:
        pkg, _, ver = spec.partition("=")
        if HELD_OUT.match(pkg):
            print(f"error: {pkg} is held out for acceptance testing and must not be in any corpus",
                  file=sys.stderr)
            return 2
        versions[pkg] = ver
        if pkg not in SOURCES:
            print(f"error: no extraction rules for package {pkg} in {__file__}", file=sys.stderr)
            return 2
        root = args.extract / pkg
        files: dict[str, str] = {}
        for pattern, strip in SOURCES[pkg]:
            for f in root.glob(pattern):
                if not f.is_file() or f.is_symlink():
                    continue
                relfull = f.relative_to(root).as_posix()
                if EXCLUDE.search(relfull):
                    continue
                files.setdefault(relfull, relfull[len(strip):] if relfull.startswith(strip) else relfull)
        if not files:
            print(f"error: no documents found for {pkg} under {root}", file=sys.stderr)
            return 2
        for relfull in sorted(files):
            jobs.append((pkg, str(root / relfull), files[relfull]))

    seen: dict[bytes, str] = {}  # text hash -> id of the passage that holds it
    corpus: list[tuple[str, str, str]] = []
    per_pkg = dict.fromkeys(versions, 0)
    per_pkg_bytes = dict.fromkeys(versions, 0)
    # heading key -> [(query id, heading text, [passage ids])]
    heading_refs: dict[str, list[tuple[str, str, list[str]]]] = {}

    for job in jobs:
        pkg, rel, title, heads, passages = process(job)
        doc = f"{pkg}/{rel}"
        sec_ids: dict[int, list[str]] = {}
        n = 0
        for text, secs in passages:
            key = hashlib.blake2b(text.encode(), digest_size=16).digest()
            pid = seen.get(key, "")
            if not pid:
                n += 1
                pid = f"{doc}#{n:04d}"
                seen[key] = pid
                corpus.append((pid, title or doc, text))
                per_pkg[pkg] += 1
                per_pkg_bytes[pkg] += len(text.encode())
            # else: text repeated from an earlier page (boilerplate); stored
            # once, still relevant to this section's heading.
            for s in secs:
                sec_ids.setdefault(s, []).append(pid)
        if n > 9999 or len(heads) > 9999:
            print(f"error: {doc} gives more than 9999 passages or sections", file=sys.stderr)
            return 1
        for si, ids in sec_ids.items():
            h = heads[si]
            if is_query_heading(h, title):
                heading_refs.setdefault(heading_key(h), []).append((f"q/{doc}#s{si:04d}", h, ids))

    # A heading is a query only if it names exactly one section in the whole
    # set, so that its qrels are complete; then a fixed pseudo-random pick.
    cands = [refs[0] for refs in heading_refs.values() if len(refs) == 1]
    cands.sort(key=lambda c: hashlib.sha256(c[0].encode()).hexdigest())
    chosen = sorted(cands[: args.max_queries])
    corpus.sort()

    out = args.out
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl.tmp", "w", encoding="utf-8", newline="\n") as f:
        for pid, title, text in corpus:
            f.write(json.dumps({"_id": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl.tmp", "w", encoding="utf-8", newline="\n") as qf, \
            open(out / "qrels" / "test.tsv.tmp", "w", encoding="utf-8", newline="\n") as rf:
        rf.write("query-id\tcorpus-id\tscore\n")
        for qid, text, ids in chosen:
            qf.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
            for pid in sorted(set(ids)):
                rf.write(f"{qid}\t{pid}\t1\n")
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        (out / f"{name}.tmp").replace(out / name)

    n = len(corpus)
    sizes = sorted(len(t.encode()) for _, _, t in corpus)
    total = sum(sizes)
    chars = sum(len(t) - t.count(" ") - t.count("\n") for _, _, t in corpus)
    cjk = sum(cjk_count(t) for _, _, t in corpus)
    qrels = sum(len(set(ids)) for _, _, ids in chosen)
    pct = (lambda q: sizes[min(n - 1, int(q * n))]) if n else (lambda q: 0)
    print(f"documents read:   {len(jobs)}")
    print(f"passages:         {n}")
    print(f"mean bytes:       {total / max(n, 1):.1f} (min {pct(0)}, p5 {pct(0.05)}, median {pct(0.5)}, "
          f"p95 {pct(0.95)}, max {sizes[-1] if sizes else 0})")
    print(f"CJK share:        {cjk / max(chars, 1):.3f} of non-space characters")
    print(f"queries:          {len(chosen)} (from {len(cands)} unique headings), "
          f"{qrels} qrels, {qrels / max(len(chosen), 1):.2f} per query")
    per_pkg_q = dict.fromkeys(versions, 0)
    for qid, _, _ in chosen:
        per_pkg_q[qid.split("/", 2)[1]] += 1
    print("per package:")
    for pkg, c in per_pkg.items():
        mean = per_pkg_bytes[pkg] / c if c else 0
        print(f"  {pkg:<26} {versions[pkg]:<22} {c:>6} passages, mean {mean:>3.0f} B, {per_pkg_q[pkg]:>5} queries")
    print(f"parse+chunk:      {time.monotonic() - t0:.1f} s")
    if n < args.min_passages or n > args.max_passages:
        print(f"error: {n} passages, outside --min-passages {args.min_passages} .. "
              f"--max-passages {args.max_passages}", file=sys.stderr)
        return 1
    if len(chosen) < args.min_queries:
        print(f"error: only {len(chosen)} queries, fewer than --min-queries {args.min_queries}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
