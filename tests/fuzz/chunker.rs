//! Target `chunker`: arbitrary text and configuration through `text::chunk`, with the chunker's
//! documented invariants checked on every result.

use ember_core::text::{approx_tokens, chunk, Chunk, ChunkConfig};
use ember_core::Error;

use super::Input;

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

fn plus_specials(text: &str) -> usize {
    approx_tokens(text) + 2
}

/// `target_tokens: u16 % 600`, `overlap: u16 % target`, a counter choice, then the document
/// (UTF-8 if valid, else decoded lossily).
pub fn chunker(data: &[u8]) {
    let mut input = Input::new(data);
    let target = usize::from(input.u16() % 600);
    let overlap = usize::from(input.u16()) % target.max(1);
    let which = input.u8();
    let rest = input.rest();
    let doc = match std::str::from_utf8(rest) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(rest).into_owned(),
    };
    let counters: [&dyn Fn(&str) -> usize; 4] = [&approx_tokens, &str::len, &plus_specials, &words];
    let count = counters[usize::from(which) % counters.len()];
    let config = ChunkConfig { target_tokens: target, overlap_tokens: overlap };
    match chunk(&doc, &config, count) {
        Ok(chunks) => check(&doc, &config, count, &chunks),
        Err(Error::InvalidArgument(_)) => {
            // Documented: target 0, or one character counting more than the target. The estimate
            // counts every character as at most one token, so it never fails on a valid target.
            let counter_can_fail = which % 4 == 1 || which % 4 == 2;
            assert!(
                target == 0 || counter_can_fail,
                "approx_tokens/words counter failed with target {target}"
            );
        }
        Err(e) => panic!("chunk failed with an undocumented error: {e}"),
    }
}

/// The invariants `chunk` documents (the same as its unit tests check).
fn check(doc: &str, config: &ChunkConfig, count: &dyn Fn(&str) -> usize, chunks: &[Chunk]) {
    for c in chunks {
        assert!(c.start < c.end, "empty range {c:?}");
        assert!(doc.is_char_boundary(c.start) && doc.is_char_boundary(c.end), "{c:?} splits a char");
        let text = c.text(doc);
        assert_eq!(text, &doc[c.start..c.end]);
        assert_eq!(text, text.trim(), "chunk {c:?} is not trimmed");
        let tokens = count(text);
        assert!(tokens <= config.target_tokens, "chunk {c:?} counts {tokens} > {}", config.target_tokens);
    }
    for pair in chunks.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        assert!(next.start > prev.start && next.end > prev.end, "not ascending: {prev:?} {next:?}");
        if config.overlap_tokens == 0 {
            assert!(next.start >= prev.end, "overlap with overlap_tokens 0: {prev:?} {next:?}");
        } else if next.start < prev.end {
            let shared = &doc[next.start..prev.end];
            assert!(count(shared) <= config.overlap_tokens, "overlap {shared:?} too long");
        }
    }
    let mut covered = vec![false; doc.len()];
    for c in chunks {
        covered[c.start..c.end].iter_mut().for_each(|b| *b = true);
    }
    for (i, ch) in doc.char_indices() {
        assert!(ch.is_whitespace() || covered[i], "byte {i} ({ch:?}) is in no chunk");
    }
    assert!(!doc.trim().is_empty() || chunks.is_empty(), "chunks of a blank document");
}
