#!/usr/bin/env python3
"""Build a BEIR-layout passage corpus from extracted Debian documentation packages.

Called by scripts/fetch/make-debian-corpus.sh once the .debs are downloaded, verified
against scripts/fetch/debian-corpus.lock and unpacked with `dpkg-deb -x` into
EXTRACT/<package>/.  Standard library only.

Output (in OUT):
  corpus.jsonl       {"_id","title","text"}: ~0.9 KB passages of prose
  queries.jsonl      {"_id","text"}: section headings (never passage text)
  qrels/test.tsv     query-id, corpus-id, score: a heading's section -> its passages

Determinism: files are read in sorted order, packages in the order given,
workers return results in submission order, ids are a plain counter, and
nothing depends on hash seeds, time or locale.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import multiprocessing
import os
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

# ---------------------------------------------------------------------------
# What to read from each package: (glob relative to the package's extract
# root, format, path prefix stripped for the title).  Globs are matched with
# Path.glob, then filtered by EXCLUDE.  Formats: html, pod, man.

SOURCES: dict[str, list[tuple[str, str, str]]] = {
    "python3.11-doc": [("usr/share/doc/python3.11/html/**/*.html", "html", "usr/share/doc/python3.11/html/")],
    "postgresql-doc-15": [("usr/share/doc/postgresql-doc-15/html/*.html", "html", "usr/share/doc/postgresql-doc-15/html/")],
    "python-django-doc": [("usr/share/doc/python-django-doc/html/**/*.html", "html", "usr/share/doc/python-django-doc/html/")],
    "perl-doc": [
        ("usr/share/perl/5.36.0/pod/*.pod", "pod", "usr/share/perl/5.36.0/pod/"),
        ("usr/share/man/man3/*.gz", "man", "usr/share/man/"),
    ],
    "manpages": [("usr/share/man/man*/*.gz", "man", "usr/share/man/")],
    "manpages-dev": [("usr/share/man/man*/*.gz", "man", "usr/share/man/")],
    "git-doc": [("usr/share/doc/git-doc/**/*.html", "html", "usr/share/doc/git-doc/")],
    "debian-reference-en": [("usr/share/debian-reference/*.en.html", "html", "usr/share/debian-reference/")],
    "debian-policy": [("usr/share/doc/debian-policy/**/*.html", "html", "usr/share/doc/debian-policy/")],
    "bash-doc": [("usr/share/doc/bash/bashref.html", "html", "usr/share/doc/bash/")],
    "linux-doc-6.1": [("usr/share/doc/linux-doc-6.1/html/**/*.html", "html", "usr/share/doc/linux-doc-6.1/html/")],
    "debian-handbook": [("usr/share/doc/debian-handbook/html/en-US/*.html", "html", "usr/share/doc/debian-handbook/html/")],
    "libreoffice-help-en-us": [("usr/share/libreoffice/help/en-US/**/*.html", "html", "usr/share/libreoffice/help/")],
    "llvm-15-doc": [("usr/share/doc/llvm-15-doc/html/**/*.html", "html", "usr/share/doc/llvm-15-doc/html/")],
    "sqlite3-doc": [("usr/share/doc/sqlite3/**/*.html", "html", "usr/share/doc/sqlite3/")],
    "qtbase5-doc-html": [("usr/share/qt5/doc/**/*.html", "html", "usr/share/qt5/doc/")],
    "cmake-doc": [("usr/share/doc/cmake-data/html/**/*.html", "html", "usr/share/doc/cmake-data/html/")],
    "nodejs-doc": [("usr/share/doc/nodejs/api/*.html", "html", "usr/share/doc/nodejs/")],
    "python-sqlalchemy-doc": [("usr/share/doc/python-sqlalchemy-doc/html/**/*.html", "html", "usr/share/doc/python-sqlalchemy-doc/html/")],
    "apache2-doc": [("usr/share/doc/apache2-doc/manual/en/**/*.html", "html", "usr/share/doc/apache2-doc/manual/")],
    "sphinx-doc": [("usr/share/doc/sphinx-doc/html/**/*.html", "html", "usr/share/doc/sphinx-doc/html/")],
    "zsh-doc": [("usr/share/doc/zsh-common/html/*.html", "html", "usr/share/doc/zsh-common/html/")],
    "erlang-doc": [("usr/share/doc/erlang-doc/**/*.html", "html", "usr/share/doc/erlang-doc/")],
    "octave-doc": [("usr/share/doc/octave/**/*.html", "html", "usr/share/doc/octave/")],
}

# Index, search and legal pages, generated source listings, translations.
EXCLUDE = re.compile(
    r"(^|/)(genindex[^/]*|py-modindex|modindex|search|searchindex|bookindex|"
    r"copyright|license|_modules/.*|_sources/.*|_static/.*|_images/.*|"
    r"translations/.*|AMDGPU/.*|lib/wx-[^/]*/.*|lib/jinterface-[^/]*/.*|.*-members|.*-obsolete|api/all|.*-(de|es|fr|it|ja|ko|pt|ru|zh|zh_CN|zh_TW)\.html)(\.html)?$"
)

# Man/POD sections that are code, cross references or boilerplate.
SKIP_SECTIONS = {
    "synopsis", "see also", "colophon", "copyright", "license", "licence",
    "copyright and license", "license and copyright", "author", "authors",
    "availability", "standards", "conforming to", "versions", "attributes",
    "history", "reporting bugs", "maintainer", "maintainers", "library",
}

TARGET_MAX = 1040      # flush before a sentence would push a passage past this
SECTION_BREAK = 560    # at a section start, flush if the passage is at least this
MIN_PASSAGE = 200      # shorter passages are dropped (or merged into the previous one)
HARD_SPLIT = 900       # over-long "sentences" are split at words into pieces this size


# ---------------------------------------------------------------------------
# Documents are (title, [(heading, [paragraph, ...]), ...]).

NAV_LINE = re.compile(r"^(Next|Previous|Prev|Up|Home|Contents|Index)\s*:")


class HTMLDoc(HTMLParser):
    SKIP_TAGS = {"script", "style", "nav", "pre", "noscript", "svg", "form", "button",
                 "textarea", "select", "math", "object", "iframe"}
    SKIP_CLASSES = {
        "sig", "highlight", "related", "sphinxsidebar", "sphinxsidebarwrapper", "footer",
        "headerlink", "mobile-nav", "menu-wrapper", "navheader", "navfooter", "toc",
        "toctree-wrapper", "contents", "programlisting", "screen", "synopsis",
        "refsynopsisdiv", "literallayout", "inline-search", "searchbox", "breadcrumbs",
        "doctest", "linenodiv", "version_switcher_placeholder", "language_switcher_placeholder",
        "wy-nav-side", "rst-footer-buttons", "docnav", "navigation", "indexterm", "index",
        "toc-backref", "footnote-reference", "cmdsynopsis", "funcsynopsis", "lot", "list-of-tables",
        "list-of-figures", "list-of-examples", "highlight-default", "literal-block", "nav",
        "nav-panel", "global-nav", "navbar", "wy-breadcrumbs", "navigationbar",
        "alignedsummary", "propsummary", "memberSummary", "summary", "menu", "mini-toc",
        "toplang", "bottomlang", "up",
    }
    SKIP_IDS = {"toc", "header", "footer", "navigation", "sidebar", "search", "related", "hd", "ft",
                "global-nav", "searchbox", "breadcrumbs", "page-header", "path", "quickview"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "param", "source", "track", "wbr"}
    BLOCK = {"p", "div", "li", "dt", "dd", "tr", "table", "blockquote", "section", "ul", "ol",
             "dl", "br", "hr", "article", "aside", "figure", "figcaption", "caption", "td", "th",
             "header", "main", "body", "center"}
    HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.in_title = False
        self.page_title = ""
        self.heading_level = 0
        self.heading_buf: list[str] = []
        self.buf: list[str] = []
        self.sections: list[list] = [["", []]]
        self.h1 = ""
        self.first_heading = ""

    def _skip(self, tag: str, attrs) -> bool:
        if tag in self.SKIP_TAGS:
            return True
        for k, v in attrs:
            if k == "class" and v and not self.SKIP_CLASSES.isdisjoint(v.split()):
                return True
            if k == "id" and v in self.SKIP_IDS:
                return True
            if k == "role" and v in ("navigation", "search"):
                return True
        return False

    def _flush(self) -> None:
        if self.buf:
            text = clean("".join(self.buf))
            self.buf = []
            if text and not NAV_LINE.match(text):
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
                self.buf.append("\n")
            return
        if self._skip(tag, attrs):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in self.HEADINGS:
            self._flush()
            self.heading_level = self.HEADINGS[tag]
            self.heading_buf = []
        elif tag in self.BLOCK:
            if self.heading_level:
                self.heading_buf.append(" ")
            else:
                self._flush()

    def handle_startendtag(self, tag, attrs):
        if self.skip_tag is None and tag in ("br", "hr"):
            self.buf.append("\n")

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
        if tag in self.HEADINGS and self.heading_level:
            head = clean("".join(self.heading_buf)).rstrip("¶#").strip()
            level = self.heading_level
            self.heading_level = 0
            if head:
                if level == 1 and not self.h1:
                    self.h1 = head
                if not self.first_heading:
                    self.first_heading = head
                self.sections.append([head, []])
        elif tag in self.BLOCK and not self.heading_level:
            self._flush()

    def handle_data(self, data):
        if self.in_title:
            self.page_title += data
            return
        if self.skip_tag is not None:
            return
        if self.heading_level:
            self.heading_buf.append(data)
        else:
            self.buf.append(data)

    def doc(self):
        self._flush()
        page = re.split(r" [—|] ", clean(self.page_title))[0]
        title = self.h1 or self.first_heading or page
        return title, [(h, ps) for h, ps in self.sections if ps]


def parse_html(raw: bytes):
    text = raw.decode("utf-8", errors="replace")
    p = HTMLDoc()
    try:
        p.feed(text)
        p.close()
    except Exception:  # malformed markup: keep what was parsed
        pass
    return p.doc()


# --- POD -------------------------------------------------------------------

# C<< x >>, C<<< x >>> ...: as many '>' close as '<' opened.
POD_CODES = [re.compile(r"([A-Z])%s\s+(.*?)\s+%s" % ("<" * n, ">" * n), re.S) for n in (4, 3, 2)]
POD_SIMPLE = re.compile(r"([A-Z])<([^<>]*)>")
POD_ENT = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/", "quot": '"', "amp": "&", "apos": "'"}


def _pod_code(code: str, body: str) -> str:
    if code in ("X", "Z"):
        return ""
    if code == "E":
        if body in POD_ENT:
            return POD_ENT[body]
        if body.isdigit():
            return chr(int(body))
        if body.lower().startswith("0x"):
            try:
                return chr(int(body, 16))
            except ValueError:
                return ""
        return html.unescape(f"&{body};")
    if code == "L":
        if "|" in body:
            return body.split("|", 1)[0]
        body = re.sub(r'^[^/"]*/"?([^"]*)"?$', r"\1", body) if "/" in body and "://" not in body else body
        return body.strip('"')
    return body


def pod_inline(s: str) -> str:
    for _ in range(8):
        new = s
        for code in POD_CODES:
            new = code.sub(lambda m: _pod_code(m.group(1), m.group(2)), new)
        new = POD_SIMPLE.sub(lambda m: _pod_code(m.group(1), m.group(2)), new)
        if new == s:
            break
        s = new
    return s


def parse_pod(raw: bytes):
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    sections: list[list] = [["", []]]
    title = ""
    in_begin = False
    in_pod = True
    for para in re.split(r"\n[ \t]*\n", text):
        if not para.strip():
            continue
        if para.startswith("="):
            m = re.match(r"=(\w+)\s*(.*)", para, re.S)
            cmd, rest = (m.group(1), m.group(2).strip()) if m else ("", "")
            if cmd == "cut":
                in_pod = False
            elif cmd == "pod":
                in_pod = True
            elif cmd == "begin":
                in_begin = True
            elif cmd == "end":
                in_begin = False
            elif cmd.startswith("head") and not in_begin:
                in_pod = True
                sections.append([clean(pod_inline(rest)), []])
            elif cmd == "item" and not in_begin:
                in_pod = True
                item = clean(pod_inline(rest)).lstrip("*").strip()
                if item and not item.isdigit():
                    sections[-1][1].append(item)
            continue
        if not in_pod or in_begin:
            continue
        if para[:1] in (" ", "\t"):
            continue  # verbatim block: code
        t = clean(pod_inline(para))
        if t:
            sections[-1][1].append(t)
    # NAME paragraph "perlfunc - Perl builtin functions" gives the title.
    for h, ps in sections:
        if h.upper() == "NAME" and ps:
            title = ps[0]
            break
    return title, [(h, ps) for h, ps in sections if ps and h.lower() not in SKIP_SECTIONS and h.upper() != "NAME"]


# --- troff man pages ----------------------------------------------------------

TROFF_SPECIAL = {
    "em": "—", "en": "–", "aq": "'", "dq": '"', "bu": "•", "co": "©", "lq": "“", "rq": "”",
    "oq": "‘", "cq": "’", "hy": "-", "mi": "-", "pl": "+", "eq": "=", "ga": "`", "ti": "~",
    "ha": "^", "rs": "\\", "sl": "/", "ba": "|", "or": "|", "rg": "®", "tm": "™", "de": "°",
    "+-": "±", "mu": "×", "di": "÷", "<=": "≤", ">=": "≥", "!=": "≠", "->": "→", "<-": "←",
    "fm": "′", "sq": "□", "dg": "†", "Fo": "«", "Fc": "»", "lB": "[", "rB": "]", "lC": "{",
    "rC": "}", "at": "@", "sh": "#", "Do": "$", "ul": "_", "ss": "ß", "ae": "æ", "oe": "œ",
}
TROFF_STRINGS = {'L"': '"', 'R"': '"', "C+": "C++", "--": "--", "C`": '"', "C'": '"',
                 "PI": "π", "Tm": "(TM)", "lq": "“", "rq": "”", "Aq": "'"}
MAN_FONT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "R", "CW"}
MAN_BREAKS = {"PP", "LP", "P", "sp", "br", "TP", "IP", "HP", "RS", "RE", "in", "ti", "Sp", "TQ",
              "PD", "ne", "bp", "UR", "UE", "MT", "ME", "YS", "SY", "OP"}


def troff_inline(s: str) -> str:
    s = re.sub(r'\\".*$', "", s)                       # comment
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)       # fonts
    s = re.sub(r"\\s[+-]?(\d|\(\d\d|\[\d+\])", "", s)  # sizes
    s = re.sub(r"\\\*\[([^\]]*)\]", lambda m: TROFF_STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\*\((..)", lambda m: TROFF_STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\*(.)", lambda m: TROFF_STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\[([^\]]*)\]", lambda m: TROFF_SPECIAL.get(m.group(1), ""), s)
    s = re.sub(r"\\\((..)", lambda m: TROFF_SPECIAL.get(m.group(1), ""), s)
    s = re.sub(r"\\[nk](\[[^\]]*\]|\(..|.)", "", s)     # registers
    s = re.sub(r"\\[hvwXoDlLHSbZ]'[^']*'", "", s)      # motions, etc.
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
    s = s.replace("\\0", " ")
    s = re.sub(r"\\[&|^c%:)!{}/,dupatrz]", "", s)
    s = s.replace("\\\\", "\\")
    s = s.replace("\\.", ".").replace("\\'", "'").replace("\\`", "`")
    return s


def _macro_args(rest: str) -> list[str]:
    args = re.findall(r'"((?:[^"]|"")*)"|(\S+)', rest)
    return [a or b for a, b in args]


def parse_man(raw: bytes):
    text = raw.decode("utf-8", errors="replace")
    sections: list[list] = [["", []]]
    title = ""
    buf: list[str] = []
    skip_until: str | None = None
    skip_section = False

    def flush():
        if buf:
            t = clean(troff_inline(" ".join(buf)))
            buf.clear()
            if t and not skip_section:
                sections[-1][1].append(t)

    for line in text.split("\n"):
        if skip_until is not None:
            if re.match(skip_until, line):
                skip_until = None
            continue
        if line.startswith((".", "'")):
            m = re.match(r"^[.'][ \t]*(\S*)[ \t]*(.*)$", line)
            name, rest = (m.group(1), m.group(2)) if m else ("", "")
            if name.startswith('\\"') or name == "":
                continue
            if name in ("de", "de1", "am", "ig"):
                flush()
                skip_until = r"^\.\.\s*$"
                continue
            if name in ("nf", "EX"):
                flush()
                skip_until = r"^[.'][ \t]*(fi|EE)\b"
                continue
            if name == "Vb":
                flush()
                skip_until = r"^[.'][ \t]*Ve\b"
                continue
            if name == "TS":
                flush()
                skip_until = r"^[.'][ \t]*TE\b"
                continue
            if name == "EQ":
                flush()
                skip_until = r"^[.'][ \t]*EN\b"
                continue
            if name in ("if", "ie", "el") and rest.rstrip().endswith("\\{"):
                flush()
                skip_until = r".*\\}"
                continue
            if name == "TH":
                a = _macro_args(rest)
                if a:
                    title = f"{troff_inline(a[0])}({a[1] if len(a) > 1 else ''})"
                continue
            if name in ("SH", "SS"):
                flush()
                head = clean(troff_inline(" ".join(_macro_args(rest))))
                skip_section = head.lower() in SKIP_SECTIONS
                sections.append([head, []])
                continue
            if name in MAN_FONT_MACROS:
                a = _macro_args(rest)
                if name in ("B", "I", "SM", "SB", "R", "CW"):
                    buf.append(" ".join(a))
                else:
                    buf.append("".join(a))
                continue
            if name in ("IP", "TP", "HP"):
                flush()
                a = _macro_args(rest)
                if name == "IP" and a and a[0] not in ("\\(bu", "\\[bu]", "*", "-", "\\-", "o"):
                    buf.append(a[0])
                    if len(buf[-1]) < 60:  # an item tag: keep it with its text
                        buf[-1] += ":"
                continue
            if name in MAN_BREAKS:
                flush()
                continue
            continue  # any other request or macro: dropped
        if not line.strip():
            flush()
            continue
        buf.append(line)
    flush()
    # NAME section: "ls - list directory contents" makes a good title.
    out = []
    for h, ps in sections:
        if h.upper() == "NAME":
            if ps:
                title = ps[0]
            continue
        if ps and h.lower() not in SKIP_SECTIONS:
            out.append((h, ps))
    return title, out


# ---------------------------------------------------------------------------

WS = re.compile(r"\s+")


def clean(s: str) -> str:
    s = s.replace("\u00a0", " ").replace("\u200b", "").replace("\ufffd", "").replace("¶", "")
    return WS.sub(" ", s).strip()


CODEY = re.compile(r"[_(){}\[\];=<>$@\\&*|#]|::|->|^-")


def prose(p: str) -> bool:
    """True for paragraphs that read as text, not code, tables or symbol soup."""
    if len(p) < 2:
        return False
    letters = sum(c.isalpha() for c in p)
    spaces = p.count(" ")
    if (letters + spaces) / len(p) < 0.78:
        return False
    words = p.split()
    if len(words) >= 3:
        # identifiers_like_this, paths and calls dominate code; prose has short plain words
        codey = sum(1 for w in words if CODEY.search(w))
        if codey / len(words) > (0.3 if len(words) >= 6 else 0.2):
            return False
    return True


def labelled(paras: list[str]) -> list[str]:
    """Prose paragraphs; a short fragment (table cell, term, label) survives only
    as a "label: " prefix of the long paragraph right after it."""
    paras = [p for p in paras if prose(p)]
    out = []
    for i, p in enumerate(paras):
        words = p.split()
        if len(words) >= 4 or p.endswith((".", "!", "?")) and len(words) >= 2:
            if out and out[-1].endswith("\0"):
                p = out.pop()[:-1] + p
            out.append(p)
        elif i + 1 < len(paras) and len(paras[i + 1].split()) >= 8:
            if out and out[-1].endswith("\0"):
                out.pop()
            out.append(p.rstrip(":") + ": \0")
    return [p for p in out if not p.endswith("\0")]


SENT = re.compile(r"(?<=[.!?:;])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def sentences(p: str) -> list[str]:
    out = []
    for s in SENT.split(p):
        s = s.strip()
        if not s:
            continue
        while len(s.encode()) > HARD_SPLIT * 1.6:
            cut = s.rfind(" ", 0, HARD_SPLIT)
            if cut <= 0:
                cut = HARD_SPLIT
            out.append(s[:cut].strip())
            s = s[cut:].strip()
        if s:
            out.append(s)
    return out


def chunk(sections):
    """Greedy sentence packing; returns [(text, [section_index, ...])]."""
    passages: list[tuple[str, list[int]]] = []
    cur: list[str] = []
    cur_len = 0
    cur_secs: list[int] = []

    def flush():
        nonlocal cur, cur_len, cur_secs
        if cur:
            passages.append((" ".join(cur), cur_secs))
        cur, cur_len, cur_secs = [], 0, []

    for si, (_head, paras) in enumerate(sections):
        if cur_len >= SECTION_BREAK:
            flush()
        for p in labelled(paras):
            for s in sentences(p):
                n = len(s.encode()) + 1
                if cur and cur_len + n > TARGET_MAX:
                    flush()
                cur.append(s)
                cur_len += n
                if not cur_secs or cur_secs[-1] != si:
                    cur_secs.append(si)
    flush()
    # Merge a short tail into the passage before it when that stays reasonable.
    out: list[tuple[str, list[int]]] = []
    for text, secs in passages:
        b = len(text.encode())
        if b < MIN_PASSAGE:
            if out and len(out[-1][0].encode()) + b < TARGET_MAX + MIN_PASSAGE:
                pt, ps = out[-1]
                out[-1] = (pt + " " + text, ps + [s for s in secs if s not in ps])
            continue
        out.append((text, secs))
    return out


NUMBERING = re.compile(r"^((chapter|section|appendix|part)\s+)?([0-9A-Z]{1,3}\.)+([0-9]+\.?)*\s+|^[0-9]+(\.[0-9]+)*\.?\s+", re.I)


def norm_heading(h: str) -> str:
    for _ in range(2):  # Sphinx may number an already numbered title: "6.6.5. 5. Device..."
        h = NUMBERING.sub("", h).strip()
    h = h.rstrip("¶#:").strip()
    return h


def process(job):
    pkg, path, fmt, rel = job
    try:
        raw = Path(path).read_bytes()
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile):
        return pkg, rel, "", [], []
    if b"\x00" in raw[:4096]:
        return pkg, rel, "", [], []
    if fmt == "html":
        title, sections = parse_html(raw)
    elif fmt == "pod":
        title, sections = parse_pod(raw)
    else:
        title, sections = parse_man(raw)
    # Man page ".so" redirects and empty pages yield nothing.
    title = clean(title)
    heads = [norm_heading(h) for h, _ in sections]
    return pkg, rel, title, heads, chunk(sections)


def b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def is_query_heading(h: str, doc_title: str) -> bool:
    if not h or h.lower() == doc_title.lower() or h.lower() in doc_title.lower():
        return False
    words = h.split()
    if not 3 <= len(words) <= 14 or len(h) > 110:
        return False
    letters = sum(c.isalpha() for c in h)
    if letters / len(h) < 0.75 or not re.search(r"[a-z]", h):
        return False
    if re.search(r"[(){}\[\]=<>_$@/\\]|::|\.\w+\(", h):
        return False  # API signatures, paths
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extract", required=True, type=Path, help="folder holding <package>/ trees")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--packages", required=True, nargs="+", help="package=version, in output order")
    ap.add_argument("--min-passages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500, help="query headings to pick (0: every candidate)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    t0 = time.monotonic()

    jobs = []
    versions = {}
    for spec in args.packages:
        pkg, _, ver = spec.partition("=")
        versions[pkg] = ver
        if pkg not in SOURCES:
            print(f"error: no extraction rules for package {pkg} in {__file__}", file=sys.stderr)
            return 2
        root = args.extract / pkg
        files: dict[str, tuple[str, str]] = {}
        for pattern, fmt, strip in SOURCES[pkg]:
            for f in root.glob(pattern):
                if not f.is_file() or f.is_symlink():
                    continue
                relfull = f.relative_to(root).as_posix()
                rel = relfull[len(strip):] if relfull.startswith(strip) else relfull
                if EXCLUDE.search(rel):
                    continue
                files.setdefault(relfull, (fmt, rel))
        if not files:
            print(f"error: no documents found for {pkg} under {root}", file=sys.stderr)
            return 2
        for relfull in sorted(files):
            fmt, rel = files[relfull]
            jobs.append((pkg, str(root / relfull), fmt, rel))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qrels").mkdir(exist_ok=True)
    corpus_tmp = args.out / "corpus.jsonl.tmp"
    seen: set[bytes] = set()
    per_pkg: dict[str, int] = {p.partition("=")[0]: 0 for p in args.packages}
    per_pkg_bytes: dict[str, int] = dict.fromkeys(per_pkg, 0)
    n = 0
    total = 0
    # heading candidates: normalized heading -> list of (pkg, rel, doc_title, [passage ids])
    heading_refs: dict[str, list] = {}
    heading_text: dict[str, str] = {}

    with open(corpus_tmp, "w", encoding="utf-8", newline="\n") as out:
        with multiprocessing.Pool(args.jobs) as pool:
            for pkg, rel, title, heads, passages in pool.imap(process, jobs, chunksize=8):
                if not passages:
                    continue
                doc_title = f"{pkg} {rel}"
                if title:
                    doc_title += f": {title[:120]}"
                sec_ids: dict[int, list[str]] = {}
                for text, secs in passages:
                    key = hashlib.blake2b(text.encode(), digest_size=16).digest()
                    if key in seen:
                        continue
                    seen.add(key)
                    n += 1
                    pid = "d" + b36(n)
                    nbytes = len(text.encode())
                    total += nbytes
                    per_pkg[pkg] += 1
                    per_pkg_bytes[pkg] += nbytes
                    out.write(json.dumps({"_id": pid, "title": doc_title, "text": text}, ensure_ascii=False) + "\n")
                    for s in secs:
                        sec_ids.setdefault(s, []).append(pid)
                for si, ids in sec_ids.items():
                    h = heads[si]
                    if not is_query_heading(h, title):
                        continue
                    k = h.lower()
                    heading_refs.setdefault(k, []).append((pkg, rel, ids))
                    heading_text.setdefault(k, h)
    corpus_tmp.replace(args.out / "corpus.jsonl")

    # Queries: headings that name exactly one section in the whole corpus
    # (so the qrels are unambiguous), picked in a fixed pseudo-random order.
    cands = []
    for k, refs in heading_refs.items():
        if len(refs) != 1:
            continue
        pkg, rel, ids = refs[0]
        order = hashlib.sha256(f"{pkg}\0{rel}\0{k}".encode()).hexdigest()
        cands.append((order, heading_text[k], ids))
    cands.sort()
    chosen = cands[: args.queries] if args.queries > 0 else cands
    with open(args.out / "queries.jsonl.tmp", "w", encoding="utf-8", newline="\n") as qf, \
            open(args.out / "qrels" / "test.tsv.tmp", "w", encoding="utf-8", newline="\n") as rf:
        rf.write("query-id\tcorpus-id\tscore\n")
        for i, (_o, text, ids) in enumerate(chosen, 1):
            qid = f"q{i}"
            qf.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
            for pid in ids:
                rf.write(f"{qid}\t{pid}\t1\n")
    (args.out / "queries.jsonl.tmp").replace(args.out / "queries.jsonl")
    (args.out / "qrels" / "test.tsv.tmp").replace(args.out / "qrels" / "test.tsv")

    dt = time.monotonic() - t0
    print(f"documents read:   {len(jobs)}")
    print(f"passages:         {n}")
    print(f"mean bytes:       {total / max(n, 1):.1f}")
    print(f"total text:       {total / 1e6:.1f} MB (corpus.jsonl {(args.out / 'corpus.jsonl').stat().st_size / 1e6:.1f} MB)")
    print(f"queries:          {len(chosen)} (from {len(cands)} unique headings)")
    print("per package:")
    for pkg, c in per_pkg.items():
        mean = per_pkg_bytes[pkg] / c if c else 0
        print(f"  {pkg:<24} {versions[pkg]:<28} {c:>7} passages, mean {mean:.0f} B")
    print(f"extract+chunk:    {dt:.1f} s")
    if n < args.min_passages:
        print(f"error: only {n} passages, fewer than --min-passages {args.min_passages}", file=sys.stderr)
        return 1
    if args.queries > 0 and len(chosen) < args.queries:
        print(f"error: only {len(chosen)} query headings, wanted {args.queries}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
