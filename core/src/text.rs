//! Splitting documents into passages on paragraph and sentence boundaries, with overlap and byte offsets.

use crate::{Error, Result};

/// How documents are cut into passages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkConfig {
    /// The most tokens one passage may hold, as measured by the `count` given to [`chunk`].
    pub target_tokens: usize,
    /// The most tokens a passage may repeat from the end of the passage before it; must be less than
    /// `target_tokens`.
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        // 200 tokens fits a 256-token model window with room left for the special tokens ([CLS], [SEP])
        // and for the gap between an estimate (`approx_tokens`) and the real tokenizer. The L3 model's
        // default max length is only 128 tokens, so the CLI passes its own config for that model.
        Self { target_tokens: 200, overlap_tokens: 30 }
    }
}

/// One passage: the byte range [start, end) of the source document it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of the passage's first byte in the document.
    pub start: usize,
    /// Byte offset one past the passage's last byte in the document.
    pub end: usize,
}

impl Chunk {
    /// The passage's text, `&doc[start..end]`; empty if the range does not fit `doc` (a different
    /// document than the one chunked).
    pub fn text<'a>(&self, doc: &'a str) -> &'a str {
        slice(doc, self.start, self.end)
    }
}

/// Split `doc` into passages. `count` returns the token count of a piece of text (the caller passes the real tokenizer's count, or `approx_tokens`).
///
/// Passages are contiguous, whitespace-trimmed byte ranges of `doc` in ascending order; together they
/// cover every non-whitespace byte, and each one counts at most `config.target_tokens`. They end on
/// sentence boundaries where the sentences fit, else on word boundaries, else (one "word" longer than
/// the target, such as CJK text without spaces) between characters. Consecutive passages share at most
/// `config.overlap_tokens` tokens of whole units (sentences, words or pieces).
///
/// Errors with [`Error::InvalidArgument`] when `target_tokens` is 0, when `overlap_tokens` is not
/// below `target_tokens`, or when a single character already counts more than `target_tokens` (a
/// `count` that adds special tokens, with a tiny target).
///
/// ```
/// use ember_core::text::{approx_tokens, chunk, ChunkConfig};
///
/// let doc = "First sentence here. Second one!\n\nA new paragraph.";
/// let config = ChunkConfig { target_tokens: 10, overlap_tokens: 0 };
/// let chunks = chunk(doc, &config, &approx_tokens)?;
/// let texts: Vec<&str> = chunks.iter().map(|c| c.text(doc)).collect();
/// assert_eq!(texts, ["First sentence here. Second one!", "A new paragraph."]);
/// # Ok::<(), ember_core::Error>(())
/// ```
pub fn chunk(doc: &str, config: &ChunkConfig, count: &dyn Fn(&str) -> usize) -> Result<Vec<Chunk>> {
    if config.target_tokens == 0 {
        return Err(Error::InvalidArgument("target_tokens must be at least 1".into()));
    }
    if config.overlap_tokens >= config.target_tokens {
        return Err(Error::InvalidArgument(format!(
            "overlap_tokens ({}) must be less than target_tokens ({})",
            config.overlap_tokens, config.target_tokens
        )));
    }
    let units = split_units(doc, config.target_tokens, count)?;
    Ok(pack(doc, &units, config, count))
}

/// Cheap token estimate with no tokenizer: roughly one token per word piece of ~4 latin chars, one per CJK character, one per punctuation mark.
///
/// Whitespace is free; a run of letters or digits costs one token per started 4 characters; each CJK
/// ideograph, kana or hangul syllable costs one; any other character (punctuation, symbols, emoji)
/// costs one, except joiners, variation selectors and combining marks, which are free. A single
/// character never costs more than one token.
pub fn approx_tokens(text: &str) -> usize {
    let mut tokens = 0usize;
    let mut run = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            tokens += run.div_ceil(4);
            run = 0;
        } else if is_cjk(c) {
            tokens += run.div_ceil(4) + 1;
            run = 0;
        } else if c.is_alphanumeric() {
            run += 1;
        } else if is_joiner(c) {
            // Part of the character before it (a combining accent, ZWJ emoji sequence, ...).
        } else {
            tokens += run.div_ceil(4) + 1;
            run = 0;
        }
    }
    tokens + run.div_ceil(4)
}

/// CJK characters that tokenizers typically treat one per token: ideographs, kana, hangul.
fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x1100..=0x11FF     // hangul jamo
        | 0x3040..=0x30FF   // hiragana, katakana
        | 0x3100..=0x312F   // bopomofo
        | 0x3130..=0x318F   // hangul compatibility jamo
        | 0x31F0..=0x31FF   // katakana phonetic extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7AF   // hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0xFF66..=0xFF9F   // halfwidth katakana
        | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

/// Characters that attach to the one before them and cost no token of their own.
fn is_joiner(c: char) -> bool {
    matches!(
        c as u32,
        0x200C..=0x200D     // zero-width non-joiner, joiner
        | 0xFE00..=0xFE0F   // variation selectors
        | 0x0300..=0x036F   // combining diacritical marks
        | 0x1AB0..=0x1AFF   // combining diacritical marks extended
        | 0x1DC0..=0x1DFF   // combining diacritical marks supplement
        | 0x20D0..=0x20FF   // combining marks for symbols
        | 0xFE20..=0xFE2F   // combining half marks
        | 0x1F3FB..=0x1F3FF // emoji skin tone modifiers
        | 0xE0020..=0xE007F // emoji tag characters
    )
}

/// `&doc[start..end]`, or "" if that is not a valid range of `doc` (never panics).
fn slice(doc: &str, start: usize, end: usize) -> &str {
    doc.get(start..end).unwrap_or_default()
}

/// The range `[start, end)` of `doc` with surrounding whitespace removed; `None` if nothing is left.
fn trim_range(doc: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let text = slice(doc, start, end);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return None;
    }
    let lead = text.len() - trimmed.len();
    let trail = trimmed.len() - trimmed.trim_end().len();
    Some((start + lead, end - trail))
}

/// The smallest piece of text a chunk is built from: a sentence, a word or a piece of a word, with its
/// token count (measured once, alone).
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
}

/// Cut `doc` into units that each count at most `target`: paragraphs into sentences; a sentence over
/// target into words; a word over target into character pieces.
fn split_units(doc: &str, target: usize, count: &dyn Fn(&str) -> usize) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (para_start, para_end) in paragraphs(doc) {
        for (start, end) in sentences(doc, para_start, para_end) {
            let tokens = count(slice(doc, start, end));
            if tokens <= target {
                units.push(Unit { start, end, tokens });
                continue;
            }
            let words = words(doc, start, end);
            if words.len() == 1 {
                // The sentence is one word; it is already known not to fit.
                hard_split(doc, start, end, target, count, &mut units)?;
                continue;
            }
            for (start, end) in words {
                let tokens = count(slice(doc, start, end));
                if tokens <= target {
                    units.push(Unit { start, end, tokens });
                } else {
                    hard_split(doc, start, end, target, count, &mut units)?;
                }
            }
        }
    }
    Ok(units)
}

/// Byte ranges of the paragraphs of `doc`: runs of lines separated by blank (whitespace-only) lines.
fn paragraphs(doc: &str) -> Vec<(usize, usize)> {
    let mut paragraphs = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_end = 0;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        if line.trim().is_empty() {
            if let Some(start) = start.take() {
                paragraphs.push((start, last_end));
            }
        } else {
            start.get_or_insert(line_start);
            last_end = offset;
        }
    }
    if let Some(start) = start {
        paragraphs.push((start, last_end));
    }
    paragraphs
}

fn is_latin_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?')
}

fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡')
}

/// Closing quotes and brackets that belong to the sentence they follow (`He said "no."`).
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | ')'
            | ']'
            | '}'
            | '”'
            | '’'
            | '»'
            | '」'
            | '』'
            | '）'
            | '》'
            | '〉'
            | '】'
            | '〕'
            | '］'
    )
}

/// Trimmed, non-empty byte ranges of the sentences in `doc[start..end]`. A sentence ends after `.`,
/// `!` or `?` (and any closing quotes or brackets) followed by whitespace or the end of the range, or
/// right after a CJK terminator `。！？`.
fn sentences(doc: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let text = slice(doc, start, end);
    let mut sentences = Vec::new();
    let mut sentence_start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let mut cjk = is_cjk_terminator(c);
        if !cjk && !is_latin_terminator(c) {
            continue;
        }
        let mut sentence_end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if is_cjk_terminator(d) || is_latin_terminator(d) || is_closer(d) {
                cjk |= is_cjk_terminator(d);
                sentence_end = j + d.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let boundary = cjk || chars.peek().is_none_or(|&(_, d)| d.is_whitespace());
        if boundary {
            sentences.extend(trim_range(doc, start + sentence_start, start + sentence_end));
            sentence_start = sentence_end;
        }
    }
    sentences.extend(trim_range(doc, start + sentence_start, end));
    sentences
}

/// Byte ranges of the whitespace-separated words in `doc[start..end]`.
fn words(doc: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut word_start: Option<usize> = None;
    for (i, c) in slice(doc, start, end).char_indices() {
        match (c.is_whitespace(), word_start) {
            (true, Some(s)) => {
                words.push((start + s, start + i));
                word_start = None;
            }
            (false, None) => word_start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = word_start {
        words.push((start + s, end));
    }
    words
}

/// Cut the word `doc[start..end]` between characters into the longest pieces that each count at most
/// `target`, pushing them onto `units`.
///
/// Each piece's length is found by galloping from the previous piece's length and then bisecting,
/// so a piece costs O(log length) calls to `count` (about two once the piece length settles) rather
/// than one per character.
fn hard_split(
    doc: &str,
    start: usize,
    end: usize,
    target: usize,
    count: &dyn Fn(&str) -> usize,
    units: &mut Vec<Unit>,
) -> Result<()> {
    // Byte offset just past each character of the word.
    let ends: Vec<usize> =
        slice(doc, start, end).char_indices().map(|(i, c)| start + i + c.len_utf8()).collect();
    let mut pos = start;
    let mut first = 0; // index in `ends` of the current piece's first character
    let mut guess = 1; // characters in the previous piece
    while first < ends.len() {
        let remaining = ends.len() - first;
        // Token count of the piece of `chars` characters from `pos`, if it fits.
        let fits = |chars: usize| -> Option<usize> {
            let tokens = count(slice(doc, pos, ends[first + chars - 1]));
            (tokens <= target).then_some(tokens)
        };
        // Invariant: a piece of `lo` characters fits (0 trivially), one of `hi` does not (or is past
        // the end of the word).
        let mut lo = 0;
        let mut lo_tokens = 0;
        let mut hi = remaining + 1;
        let first_try = guess.min(remaining);
        match fits(first_try) {
            Some(tokens) => {
                lo = first_try;
                lo_tokens = tokens;
                let mut step = 1;
                while lo < remaining {
                    let next = lo.saturating_add(step).min(remaining);
                    match fits(next) {
                        Some(tokens) => {
                            lo = next;
                            lo_tokens = tokens;
                            step = step.saturating_mul(2);
                        }
                        None => {
                            hi = next;
                            break;
                        }
                    }
                }
            }
            None => hi = first_try,
        }
        while hi - lo > 1 && lo < remaining {
            let mid = lo + (hi - lo) / 2;
            match fits(mid) {
                Some(tokens) => {
                    lo = mid;
                    lo_tokens = tokens;
                }
                None => hi = mid,
            }
        }
        if lo == 0 {
            let first_char = slice(doc, pos, ends[first]);
            return Err(Error::InvalidArgument(format!(
                "target_tokens ({target}) is too small: the single character {first_char:?} counts {} tokens",
                count(first_char)
            )));
        }
        let piece_end = ends[first + lo - 1];
        units.push(Unit { start: pos, end: piece_end, tokens: lo_tokens });
        pos = piece_end;
        first += lo;
        guess = lo;
    }
    Ok(())
}

/// Greedily pack consecutive units into chunks, with overlap.
///
/// `count` may be a real tokenizer, so it is not called on every candidate chunk (that would be
/// O(n^2) work on a long document). Each unit was counted once, alone; the sum of unit counts is the
/// estimate used while packing. Only when that estimate says the next unit does not fit is the real
/// count of the grown chunk asked for (sums overestimate when `count` adds special tokens per call),
/// and a chunk built from estimates alone gets one real count at the end, dropping units while it is
/// over target. Calls are thus about one per unit plus a few per chunk, each on at most a chunk of text.
fn pack(doc: &str, units: &[Unit], config: &ChunkConfig, count: &dyn Fn(&str) -> usize) -> Vec<Chunk> {
    let target = config.target_tokens;
    let span = |first: usize, end: usize| slice(doc, units[first].start, units[end - 1].end);
    let mut chunks = Vec::new();
    // The current chunk is units[start..end]; units[start..fresh] repeat the end of the previous
    // chunk, and the chunk always takes at least the fresh unit units[fresh], so it makes progress.
    let mut start = 0;
    let mut fresh = 0;
    while fresh < units.len() {
        let mut end = fresh + 1;
        let mut estimate = units[start..end].iter().fold(0usize, |sum, u| sum.saturating_add(u.tokens));
        // Whether `estimate` is the real count of units[start..end].
        let mut exact = end - start == 1;
        while end < units.len() {
            let grown = estimate.saturating_add(units[end].tokens);
            if grown <= target {
                estimate = grown;
                exact = false;
                end += 1;
                continue;
            }
            let real = count(span(start, end + 1));
            if real > target {
                break;
            }
            estimate = real;
            exact = true;
            end += 1;
        }
        if !exact {
            // A single unit is known to fit; otherwise verify and shrink, keeping the fresh unit and
            // giving up trailing units first, then overlap.
            while end - start > 1 && count(span(start, end)) > target {
                if end > fresh + 1 {
                    end -= 1;
                } else {
                    start += 1;
                }
            }
        }
        chunks.push(Chunk { start: units[start].start, end: units[end - 1].end });
        if end >= units.len() {
            break;
        }
        start = overlap_start(doc, units, start, end, config, count);
        fresh = end;
    }
    chunks
}

/// Where the chunk after units[prev_start..end] starts: the earliest unit after `prev_start` such
/// that the repeated units (up to `end`) count at most `overlap_tokens` and still leave room for the
/// fresh unit units[end]. Returns `end` (no overlap) if no unit qualifies.
fn overlap_start(
    doc: &str,
    units: &[Unit],
    prev_start: usize,
    end: usize,
    config: &ChunkConfig,
    count: &dyn Fn(&str) -> usize,
) -> usize {
    if config.overlap_tokens == 0 {
        return end;
    }
    let next_tokens = units[end].tokens;
    let mut start = end;
    let mut sum = 0usize;
    while start > prev_start + 1 {
        let grown = sum.saturating_add(units[start - 1].tokens);
        if grown > config.overlap_tokens || grown.saturating_add(next_tokens) > config.target_tokens {
            break;
        }
        sum = grown;
        start -= 1;
    }
    // The sum is an estimate: check it with one real count, giving back units while it is over. A
    // single unit's count is already known to be within the limit.
    while end - start > 1 && count(slice(doc, units[start].start, units[end - 1].end)) > config.overlap_tokens
    {
        start += 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    fn words_count(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn cfg(target_tokens: usize, overlap_tokens: usize) -> ChunkConfig {
        ChunkConfig { target_tokens, overlap_tokens }
    }

    /// Checks every invariant of `chunk`'s output and returns it.
    fn check(doc: &str, config: &ChunkConfig, count: &dyn Fn(&str) -> usize) -> Vec<Chunk> {
        let chunks = chunk(doc, config, count).unwrap();
        check_chunks(doc, config, count, &chunks);
        chunks
    }

    fn check_chunks(doc: &str, config: &ChunkConfig, count: &dyn Fn(&str) -> usize, chunks: &[Chunk]) {
        for c in chunks {
            assert!(c.start < c.end, "empty range {c:?}");
            assert!(doc.is_char_boundary(c.start) && doc.is_char_boundary(c.end), "{c:?} splits a char");
            let text = c.text(doc);
            assert_eq!(text, &doc[c.start..c.end]);
            assert!(!text.is_empty());
            assert_eq!(text, text.trim(), "chunk {c:?} is not trimmed");
            let tokens = count(text);
            assert!(
                tokens <= config.target_tokens,
                "chunk {text:?} counts {tokens} > {}",
                config.target_tokens
            );
        }
        for pair in chunks.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            assert!(next.start > prev.start, "starts do not ascend: {prev:?} {next:?}");
            assert!(next.end > prev.end, "ends do not ascend: {prev:?} {next:?}");
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
            if !ch.is_whitespace() {
                assert!(covered[i], "byte {i} ({ch:?}) is in no chunk");
            }
        }
        if doc.trim().is_empty() {
            assert!(chunks.is_empty());
        }
    }

    fn check_both_counters(doc: &str, config: &ChunkConfig) {
        check(doc, config, &approx_tokens);
        check(doc, config, &words_count);
    }

    fn prose() -> String {
        let mut doc = String::new();
        for p in 0..12 {
            for s in 0..(3 + p % 4) {
                doc.push_str(&format!(
                    "Sentence {s} of paragraph {p} says something {}. ",
                    "rather interesting ".repeat(1 + (s + p) % 5)
                ));
            }
            doc.push_str(if p % 3 == 0 { "Does it end well?\n\n" } else { "It does!\r\n \r\n" });
        }
        doc
    }

    #[test]
    fn defaults() {
        assert_eq!(ChunkConfig::default(), cfg(200, 30));
    }

    #[test]
    fn invalid_configs_are_rejected() {
        for config in [cfg(0, 0), cfg(10, 10), cfg(10, 11)] {
            assert!(matches!(chunk("some text", &config, &approx_tokens), Err(Error::InvalidArgument(_))));
        }
    }

    #[test]
    fn character_over_target_is_an_error_not_a_panic() {
        // A counter that adds two special tokens to everything: no single character fits in 2.
        let with_specials = |t: &str| approx_tokens(t) + 2;
        let result = chunk("hello world", &cfg(2, 0), &with_specials);
        assert!(matches!(result, Err(Error::InvalidArgument(_))), "{result:?}");
        // But 3 is enough.
        check("hello world. Again", &cfg(3, 1), &with_specials);
    }

    #[test]
    fn empty_input() {
        assert_eq!(chunk("", &ChunkConfig::default(), &approx_tokens).unwrap(), vec![]);
        check_both_counters("", &cfg(1, 0));
    }

    #[test]
    fn whitespace_only_input() {
        let doc = " \n\t\r\n  \u{3000}\u{a0}\n\n   ";
        assert_eq!(chunk(doc, &ChunkConfig::default(), &approx_tokens).unwrap(), vec![]);
        check_both_counters(doc, &cfg(1, 0));
    }

    #[test]
    fn small_doc_is_one_trimmed_chunk() {
        let doc = "\n  Hello there. How are you?\n\nFine.  \n";
        let chunks = check(doc, &ChunkConfig::default(), &approx_tokens);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text(doc), doc.trim());
    }

    #[test]
    fn plain_paragraphs_end_at_sentence_boundaries() {
        let doc = prose();
        for (target, overlap) in [(40, 0), (60, 10), (80, 30), (200, 30)] {
            for count in [&approx_tokens as &dyn Fn(&str) -> usize, &words_count] {
                let chunks = check(&doc, &cfg(target, overlap), count);
                assert!(chunks.len() > 1);
                for c in &chunks {
                    let text = c.text(&doc);
                    assert!(text.ends_with(['.', '!', '?']), "{text:?} does not end a sentence");
                    let first = text.chars().next().unwrap();
                    assert!(first.is_uppercase(), "{text:?} does not start a sentence");
                }
            }
        }
    }

    #[test]
    fn sentences_do_not_cross_paragraphs() {
        // Headings without punctuation still end at the blank line.
        let doc = "A heading without a full stop\n\nBody text follows here and goes on. More text.";
        let chunks = check(doc, &cfg(7, 0), &words_count);
        assert_eq!(chunks[0].text(doc), "A heading without a full stop");
    }

    #[test]
    fn decimals_and_closing_quotes() {
        let doc = "Pi is 3.14 or so. He said \"stop.\" Then (quietly) left.";
        let chunks = check(doc, &cfg(5, 0), &words_count);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text(doc)).collect();
        assert_eq!(texts, ["Pi is 3.14 or so.", "He said \"stop.\"", "Then (quietly) left."]);
    }

    #[test]
    fn run_on_line_without_sentence_breaks() {
        let doc: String = (0..5000).map(|i| format!("word{} ", i % 97)).collect();
        for config in [cfg(200, 30), cfg(50, 0), cfg(7, 3)] {
            for count in [&approx_tokens as &dyn Fn(&str) -> usize, &words_count] {
                let chunks = check(&doc, &config, count);
                assert!(chunks.len() > 1);
                for c in &chunks {
                    // Cut between words, never inside one.
                    assert!(doc[c.end..].starts_with(' '));
                    assert!(c.start == 0 || doc[..c.start].ends_with(' '));
                }
            }
        }
    }

    #[test]
    fn count_is_called_about_once_per_unit() {
        let calls = Cell::new(0usize);
        let counting = |t: &str| {
            calls.set(calls.get() + 1);
            approx_tokens(t)
        };
        let doc: String = (0..5000).map(|i| format!("word{} ", i % 97)).collect();
        let chunks = check(&doc, &cfg(200, 30), &|t: &str| approx_tokens(t));
        calls.set(0);
        assert_eq!(chunk(&doc, &cfg(200, 30), &counting).unwrap(), chunks);
        // One for the sentence, one per word, a few per chunk.
        assert!(calls.get() <= 1 + 5000 + 4 * chunks.len(), "{} calls", calls.get());

        let long = "a".repeat(100_000);
        calls.set(0);
        let chunks = chunk(&long, &cfg(200, 30), &counting).unwrap();
        assert!(calls.get() <= 40 * chunks.len(), "{} calls for {} chunks", calls.get(), chunks.len());
    }

    #[test]
    fn cjk_sentences_without_spaces() {
        let doc = "这是一个测试句子。".repeat(200);
        let chunks = check(&doc, &cfg(20, 0), &approx_tokens);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.text(&doc).ends_with('。'));
            // Two whole sentences of 9 tokens each.
            assert_eq!(c.text(&doc).chars().count(), 18);
        }
        check_both_counters(&doc, &cfg(20, 9));
        check_both_counters(&doc, &cfg(5, 2));
    }

    #[test]
    fn cjk_without_any_terminator() {
        let doc = "测试文本没有标点".repeat(500);
        for config in [cfg(200, 30), cfg(7, 3), cfg(1, 0)] {
            let chunks = check(&doc, &config, &approx_tokens);
            assert!(chunks.len() >= doc.chars().count() / config.target_tokens);
        }
        check(&doc, &cfg(1, 0), &words_count);
    }

    #[test]
    fn mixed_cjk_latin_and_emoji() {
        let doc = "Hello 世界! Ember は速い。naïve café 👨‍👩‍👧 family🎉🎉🎉 done? 한국어 문장입니다. \
                   e\u{301}tude ok.\n\n"
            .repeat(40);
        for (target, overlap) in [(1, 0), (2, 1), (5, 2), (16, 4), (64, 20)] {
            check_both_counters(&doc, &cfg(target, overlap));
        }
    }

    #[test]
    fn very_long_word() {
        let doc = "a".repeat(10_000);
        let chunks = check(&doc, &cfg(200, 30), &approx_tokens);
        // 4 chars per token: pieces of 800 chars.
        assert_eq!(chunks.len(), 13);
        assert_eq!(chunks[0], Chunk { start: 0, end: 800 });
        check(&doc, &cfg(3, 1), &approx_tokens);
        // One "word" by the word counter: it fits whole.
        assert_eq!(check(&doc, &cfg(2, 1), &words_count), vec![Chunk { start: 0, end: 10_000 }]);

        let url = format!("See https://example.org/{} for details.", "path/segment-with-words_".repeat(300));
        for config in [cfg(200, 30), cfg(16, 4), cfg(1, 0)] {
            check_both_counters(&url, &config);
        }
    }

    #[test]
    fn consecutive_chunks_overlap_when_overlap_is_positive() {
        let doc = "One two. Three four. Five six. Seven eight. Nine ten. ".repeat(20);
        let chunks = check(&doc, &cfg(10, 4), &words_count);
        assert!(chunks.len() > 2);
        for pair in chunks.windows(2) {
            assert!(pair[1].start < pair[0].end, "{pair:?} do not overlap");
            // The overlap is whole sentences: two words each.
            assert_eq!(words_count(&doc[pair[1].start..pair[0].end]), 4);
        }
        let chunks = check(&prose(), &cfg(60, 20), &approx_tokens);
        assert!(chunks.windows(2).any(|p| p[1].start < p[0].end));
    }

    #[test]
    fn no_overlap_when_overlap_is_zero() {
        let doc = "One two. Three four. Five six. Seven eight. Nine ten. ".repeat(20);
        let chunks = check(&doc, &cfg(10, 0), &words_count);
        assert!(chunks.len() > 2);
        for pair in chunks.windows(2) {
            assert!(pair[1].start >= pair[0].end);
        }
    }

    #[test]
    fn overlap_larger_than_any_unit_still_progresses() {
        // Each sentence is over the overlap; chunks must still advance.
        let doc = "alpha beta gamma delta. epsilon zeta eta theta. iota kappa lambda mu. ".repeat(10);
        let chunks = check(&doc, &cfg(8, 3), &words_count);
        assert!(chunks.len() >= 15);
    }

    #[test]
    fn deterministic() {
        let doc = prose();
        let a = chunk(&doc, &cfg(33, 7), &approx_tokens).unwrap();
        let b = chunk(&doc, &cfg(33, 7), &approx_tokens).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn text_of_foreign_range_is_empty() {
        assert_eq!(Chunk { start: 3, end: 50 }.text("short"), "");
        assert_eq!(Chunk { start: 0, end: 1 }.text("é"), "");
    }

    #[test]
    fn approx_tokens_estimates() {
        assert_eq!(approx_tokens(""), 0);
        assert_eq!(approx_tokens("  \n"), 0);
        assert_eq!(approx_tokens("a"), 1);
        assert_eq!(approx_tokens("hello"), 2);
        assert_eq!(approx_tokens("Hello, world!"), 6);
        assert_eq!(approx_tokens("你好"), 2);
        assert_eq!(approx_tokens("テスト"), 3);
        assert_eq!(approx_tokens("👨‍👩‍👧"), 3);
        assert_eq!(approx_tokens("e\u{301}"), 1);
        assert_eq!(approx_tokens("abc世界def"), 4);
        // No single character costs more than one token.
        for c in ['a', '.', '世', '🎉', '\u{200d}', ' ', 'ß', '٣'] {
            assert!(approx_tokens(c.encode_utf8(&mut [0; 4])) <= 1);
        }
    }

    fn mixed_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[a-zA-Z]{1,12}",
            1 => "[a-z]{30,120}",
            2 => Just(" ".to_string()),
            1 => prop::sample::select(vec![".", "!", "?", "...", ",", "\"", ")", ". ", "! ", "? "])
                .prop_map(str::to_string),
            1 => prop::sample::select(vec!["\n", "\n\n", "\r\n", "\n \n", "\t", "\u{3000}"]).prop_map(str::to_string),
            2 => "[\u{4e00}-\u{4e80}]{1,20}",
            1 => prop::sample::select(vec!["。", "！", "？", "」", "🎉", "👨‍👩‍👧", "é", "e\u{301}", "ß", "한"])
                .prop_map(str::to_string),
        ];
        prop::collection::vec(piece, 0..200).prop_map(|pieces| pieces.concat())
    }

    fn config() -> impl Strategy<Value = ChunkConfig> {
        (1usize..64).prop_flat_map(|target| (Just(target), 0..target)).prop_map(|(t, o)| cfg(t, o))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_strings_keep_invariants(doc in ".*", config in config()) {
            check_both_counters(&doc, &config);
        }

        #[test]
        fn mixed_text_keeps_invariants(doc in mixed_text(), config in config()) {
            check_both_counters(&doc, &config);
        }

        #[test]
        fn other_counters_error_cleanly_or_keep_invariants(doc in mixed_text(), config in config()) {
            // Bytes as tokens: a CJK character (3 bytes) does not fit a target under 3. Plus specials.
            let counters: [&dyn Fn(&str) -> usize; 2] = [&str::len, &|t: &str| approx_tokens(t) + 2];
            for count in counters {
                match chunk(&doc, &config, count) {
                    Ok(chunks) => check_chunks(&doc, &config, count, &chunks),
                    Err(e) => prop_assert!(matches!(e, Error::InvalidArgument(_)), "{e}"),
                }
            }
        }
    }
}
