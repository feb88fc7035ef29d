//! The keyword analyzer: one text → terms pipeline, shared by indexing and querying.
//!
//! Steps, in order:
//! 1. UAX#29 word boundaries (`unicode-segmentation`).
//! 2. Inside a word, ASCII punctuation and the Unicode "mid-word" marks (`'`, `.`, `:`, `_`, `’`,
//!    `·`, ...) split it further, so `os.path`, `std::fs`, `snake_case`, `utf-8` and `can't` give
//!    their parts (`os` `path`, `std` `fs`, `snake` `case`, `utf` `8`, `can` `t`). This is what
//!    SQLite FTS5's `unicode61` tokenizer does for ASCII text, which lets its `bm25()` serve as the
//!    reference for ours. No compound term is kept: a query written the same way yields the same
//!    parts, and the parts alone keep the index small. Numbers stay whole runs of digits
//!    (`3.14` → `3` `14`, `EPIPE` → `epipe`, `ls -la` → `ls` `la`, `x86_64` → `x86` `64`).
//! 3. Lower case (full Unicode `to_lowercase`). No NFKC: it would need another table-heavy crate,
//!    and the corpora at hand are NFC text; full-width Latin stays distinct from ASCII.
//! 4. Optional English stemming (Snowball "English", i.e. Porter2, `rust-stemmers`).
//! 5. Han, Hiragana, Katakana and Hangul runs become overlapping character bigrams, as Lucene's
//!    `CJKBigramFilter` does (`東京都` → `東京` `京都`); a lone CJK character stays a unigram. A
//!    run ends at any other character, so CJK text needs no dictionary.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// Terms longer than this (in bytes) are dropped: such runs are hashes, base64 or binary junk, and
/// a bound keeps every dictionary entry small.
pub const MAX_TERM_BYTES: usize = 128;

/// How text is turned into terms; stored in the index file so queries use the same settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalyzerConfig {
    /// Reduce English words to their Snowball stem (`running` → `run`).
    pub stem: bool,
}

impl AnalyzerConfig {
    /// The settings as stored in the file's flag word.
    pub fn to_flags(self) -> u32 {
        u32::from(self.stem)
    }

    /// Settings from a file's flag word; `None` for bits this build does not know.
    pub fn from_flags(flags: u32) -> Option<Self> {
        (flags & !1 == 0).then_some(AnalyzerConfig { stem: flags & 1 == 1 })
    }
}

/// Turns text into index terms.
pub struct Analyzer {
    config: AnalyzerConfig,
    stemmer: Option<Stemmer>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").field("config", &self.config).finish()
    }
}

impl Clone for Analyzer {
    fn clone(&self) -> Self {
        Analyzer::new(self.config)
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new(AnalyzerConfig::default())
    }
}

impl Analyzer {
    /// An analyzer with these settings.
    pub fn new(config: AnalyzerConfig) -> Self {
        let stemmer = config.stem.then(|| Stemmer::create(Algorithm::English));
        Analyzer { config, stemmer }
    }

    /// Its settings.
    pub fn config(&self) -> AnalyzerConfig {
        self.config
    }

    /// The terms of `text`, in order, duplicates kept.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.each_term(text, |t| out.push(t.to_string()));
        out
    }

    /// Calls `emit` with every term of `text` in order (no allocation per term for ASCII words
    /// that need no stemming).
    pub fn each_term(&self, text: &str, mut emit: impl FnMut(&str)) {
        let mut word = String::new();
        let mut lower = String::new();
        let mut cjk = CjkRun::default();
        for (offset, segment) in text.split_word_bound_indices() {
            for (i, c) in segment.char_indices() {
                if is_cjk(c) {
                    self.flush_word(&mut word, &mut lower, &mut emit);
                    cjk.push(offset + i, c, &mut emit);
                    continue;
                }
                cjk.flush(&mut emit);
                if splits_word(c) {
                    self.flush_word(&mut word, &mut lower, &mut emit);
                } else if !is_ignorable(c) {
                    word.push(c);
                }
            }
            self.flush_word(&mut word, &mut lower, &mut emit);
        }
        cjk.flush(&mut emit);
    }

    fn flush_word(&self, word: &mut String, lower: &mut String, emit: &mut impl FnMut(&str)) {
        if word.is_empty() {
            return;
        }
        // A run of combining marks alone (left over after a split) is no word.
        if word.chars().any(char::is_alphanumeric) && word.len() <= MAX_TERM_BYTES * 2 {
            lower.clear();
            if word.is_ascii() {
                lower.push_str(word);
                lower.make_ascii_lowercase();
            } else {
                lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            match &self.stemmer {
                Some(stemmer) => {
                    let stem = stemmer.stem(lower);
                    if stem.len() <= MAX_TERM_BYTES {
                        emit(&stem);
                    }
                }
                None if lower.len() <= MAX_TERM_BYTES => emit(lower),
                None => {}
            }
        }
        word.clear();
    }
}

/// Consecutive CJK characters, emitted as bigrams (or a unigram for a run of one).
#[derive(Default)]
struct CjkRun {
    prev: Option<char>,
    /// Byte offset just past the last character, to see whether the next one touches it.
    end: usize,
    emitted: bool,
    buf: String,
}

impl CjkRun {
    fn push(&mut self, at: usize, c: char, emit: &mut impl FnMut(&str)) {
        if self.prev.is_some() && at != self.end {
            self.flush(emit);
        }
        if let Some(p) = self.prev {
            self.buf.clear();
            self.buf.push(p);
            self.buf.push(c);
            emit(&self.buf);
            self.emitted = true;
        }
        self.prev = Some(c);
        self.end = at + c.len_utf8();
    }

    fn flush(&mut self, emit: &mut impl FnMut(&str)) {
        if let (Some(p), false) = (self.prev, self.emitted) {
            self.buf.clear();
            self.buf.push(p);
            emit(&self.buf);
        }
        self.prev = None;
        self.emitted = false;
    }
}

/// Han, Hiragana, Katakana and Hangul: the scripts Lucene's CJKBigramFilter bigrams by default.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F // Hiragana
        | 0x30A0..=0x30FF // Katakana (incl. the prolonged sound mark)
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0xFF66..=0xFF9F // half-width Katakana
        | 0x3400..=0x4DBF // Han extension A
        | 0x4E00..=0x9FFF // Han unified ideographs
        | 0xF900..=0xFAFF // Han compatibility ideographs
        | 0x20000..=0x3134F // Han extensions B-G (supplementary ideographic planes)
        | 0x1100..=0x11FF // Hangul Jamo
        | 0x3130..=0x318F // Hangul compatibility Jamo
        | 0xA960..=0xA97F // Hangul Jamo extended A
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xD7B0..=0xD7FF // Hangul Jamo extended B
        | 0x3005 // 々 ideographic iteration mark
    )
}

/// Characters that end a term inside a UAX#29 word: all ASCII non-alphanumerics (`_`, `.`, `'`,
/// `:`, ...), white space, and the non-ASCII punctuation UAX#29 lets stand inside a word
/// (MidLetter, MidNum, MidNumLet, ExtendNumLet). Other non-alphanumerics inside a word are
/// combining marks and stay part of it.
fn splits_word(c: char) -> bool {
    if c.is_alphanumeric() {
        return false;
    }
    c.is_ascii()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{00B7}' | '\u{0387}' | '\u{055F}' | '\u{05F4}' | '\u{2018}' | '\u{2019}' | '\u{2024}'
                | '\u{2027}' | '\u{FE13}' | '\u{FE52}' | '\u{FE55}' | '\u{FF07}' | '\u{FF0E}'
                | '\u{FF1A}' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}'
                | '\u{07F8}' | '\u{2044}' | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}'
                | '\u{FF0C}' | '\u{FF1B}' | '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}'
                | '\u{FE34}' | '\u{FE4D}' | '\u{FE4E}' | '\u{FE4F}' | '\u{FF3F}' | '\u{202F}'
                | '\u{2010}'..='\u{2015}' | '\u{3001}' | '\u{3002}' | '\u{FF01}'..='\u{FF0F}'
        )
}

/// Invisible format characters (soft hyphen, zero-width space and joiners, BOM) vanish, so a word
/// with one inside matches the word without.
fn is_ignorable(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Vec<String> {
        Analyzer::default().terms(text)
    }

    fn stemmed(text: &str) -> Vec<String> {
        Analyzer::new(AnalyzerConfig { stem: true }).terms(text)
    }

    #[test]
    fn ascii_words_split_like_unicode61() {
        assert_eq!(plain("Hello, World!"), ["hello", "world"]);
        assert_eq!(plain("EPIPE: broken pipe"), ["epipe", "broken", "pipe"]);
        assert_eq!(plain("ls -la /tmp"), ["ls", "la", "tmp"]);
        assert_eq!(plain("utf-8 text"), ["utf", "8", "text"]);
        assert_eq!(plain("std::fs::read_to_string"), ["std", "fs", "read", "to", "string"]);
        assert_eq!(plain("os.path.join()"), ["os", "path", "join"]);
        assert_eq!(plain("can't 3.14 x86_64 1,000"), ["can", "t", "3", "14", "x86", "64", "1", "000"]);
        assert_eq!(plain("  \n\t"), Vec::<String>::new());
    }

    #[test]
    fn non_ascii_letters_fold_case_and_keep_marks() {
        assert_eq!(plain("Ärger ÜBER Straße"), ["ärger", "über", "straße"]);
        // A decomposed é (e + combining acute) stays one word.
        assert_eq!(plain("cafe\u{301} noir"), ["cafe\u{301}", "noir"]);
        assert_eq!(plain("Привет, мир"), ["привет", "мир"]);
        assert_eq!(plain("soft\u{AD}hyphen zero\u{200D}width"), ["softhyphen", "zerowidth"]);
        assert_eq!(plain("l’homme"), ["l", "homme"]);
    }

    #[test]
    fn stemming_is_optional() {
        assert_eq!(stemmed("Running connections quickly"), ["run", "connect", "quick"]);
        assert_eq!(plain("Running connections"), ["running", "connections"]);
    }

    #[test]
    fn chinese_becomes_overlapping_bigrams() {
        assert_eq!(plain("北京大学"), ["北京", "京大", "大学"]);
        // Punctuation ends a run; a lone character is a unigram.
        assert_eq!(plain("我，爱你。"), ["我", "爱你"]);
    }

    #[test]
    fn japanese_scripts_bigram_together() {
        // Hiragana, Katakana and Han in one run, as Lucene's CJKBigramFilter does.
        assert_eq!(plain("東京タワーへ"), ["東京", "京タ", "タワ", "ワー", "ーへ"]);
        assert_eq!(plain("ｶﾀｶﾅ"), ["ｶﾀ", "ﾀｶ", "ｶﾅ"]);
    }

    #[test]
    fn korean_hangul_bigrams() {
        assert_eq!(plain("한국어 문서"), ["한국", "국어", "문서"]);
    }

    #[test]
    fn mixed_scripts_split_at_script_changes() {
        assert_eq!(plain("Rust语言2024年版"), ["rust", "语言", "2024", "年版"]);
        assert_eq!(plain("使用 grep 命令"), ["使用", "grep", "命令"]);
        assert_eq!(stemmed("検索 searching"), ["検索", "search"]);
    }

    #[test]
    fn overlong_terms_are_dropped() {
        let long = "a".repeat(MAX_TERM_BYTES + 1);
        assert_eq!(plain(&format!("x {long} y")), ["x", "y"]);
        let fits = "b".repeat(MAX_TERM_BYTES);
        assert_eq!(plain(&fits), vec![fits]);
    }

    #[test]
    fn flags_round_trip() {
        for stem in [false, true] {
            let c = AnalyzerConfig { stem };
            assert_eq!(AnalyzerConfig::from_flags(c.to_flags()), Some(c));
        }
        assert_eq!(AnalyzerConfig::from_flags(2), None);
    }
}
