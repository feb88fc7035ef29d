#!/usr/bin/env python3
"""Count the postings of an Ember keyword file (format 2.0, docs/format.md "Keyword index") by
walking its dictionary as core/src/keywords/postings.rs check_dictionary does; print the sections'
sizes and bytes per posting. Usage: kw_postings.py INDEX_DIR/keywords-NNNNNN.ember"""
import json, struct, sys

def varint(b, pos):
    x = shift = 0
    while True:
        c = b[pos]; pos += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, pos
        shift += 7

data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'EMBERKWD'
major, minor, endian, flags, node_count, doc_count, term_count, total_len, file_len = struct.unpack_from('<HHIIIIIQQ', data, 8)
sections = {}
for i in range(4):
    kind, _, off, ln, _ = struct.unpack_from('<IIQQQ', data, 64 + 32 * i)
    sections[{1: 'norms', 2: 'dict_blocks', 3: 'dict', 4: 'postings'}[kind]] = (off, ln)
off, ln = sections['dict']; d = data[off:off + ln]
pos = 0; seen = 0; postings = 0
nblocks = sections['dict_blocks'][1] // 4
for b in range(nblocks):
    _, pos = varint(d, pos)
    for k in range(min(16, term_count - seen)):
        shared, pos = varint(d, pos)
        sl, pos = varint(d, pos)
        pos += sl
        df, pos = varint(d, pos)
        _, pos = varint(d, pos)
        postings += df; seen += 1
assert seen == term_count and pos == len(d), (seen, term_count, pos, len(d))
out = {"file_bytes": len(data), "format": f"{major}.{minor}", "docs": doc_count, "terms": term_count,
       "total_len": total_len, "postings": postings,
       "sections": {k: v[1] for k, v in sections.items()},
       "postings_bytes_per_posting": sections['postings'][1] / postings,
       "file_bytes_per_posting": len(data) / postings,
       "postings_per_passage": postings / doc_count}
print(json.dumps(out))
