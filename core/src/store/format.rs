//! The segment file layout: a 64-byte header, 64-byte-aligned sections, a section table, a footer.
//!
//! ```text
//! [Header 64 B][section 0, padded to 64]...[section N-1, padded][table: N × SectionEntry][Footer 16 B]
//! ```
//! Every section carries an xxh3-64 checksum in the table; the header and the table carry their own.
//! All integers are little-endian; the header's endian mark rejects a byte-swapped file.

use bytemuck::{Pod, Zeroable};

/// File magic of a segment.
pub const MAGIC: [u8; 8] = *b"EMBERSEG";
/// Magic closing the footer, to catch files cut short.
pub const FOOTER_MAGIC: [u8; 8] = *b"EMBEREND";
/// Incompatible layout changes bump the major version; readers refuse unknown majors. 2: the text
/// section names its codec (zstd with a dictionary) where 1 had lz4 blocks;
/// segments whose text the app holds have a `fingerprints` section instead (new in 2 too).
pub const FORMAT_MAJOR: u16 = 2;
/// Compatible additions bump the minor version.
pub const FORMAT_MINOR: u16 = 0;
/// The majors this build reads: 1 differs from 2 only in its text section's layout.
pub const READABLE_MAJORS: std::ops::RangeInclusive<u16> = 1..=FORMAT_MAJOR;
/// Written as a native u32; reads back as this only on a little-endian file.
pub const ENDIAN_MARK: u32 = 0x0102_0304;
/// Section alignment: `bytemuck` casts of mapped sections never fail for alignment.
pub const ALIGN: usize = 64;
/// Upper bound on sections, checked before the table is read.
pub const MAX_SECTIONS: u32 = 64;

/// The fixed header at offset 0.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct Header {
    pub magic: [u8; 8],
    pub major: u16,
    pub minor: u16,
    pub endian: u32,
    pub section_count: u32,
    pub reserved0: u32,
    pub table_offset: u64,
    pub file_len: u64,
    /// xxh3 of the header with this field zero.
    pub header_checksum: u64,
    pub reserved: [u64; 2],
}

/// One row of the section table.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct SectionEntry {
    pub kind: u32,
    pub reserved: u32,
    pub offset: u64,
    pub len: u64,
    pub checksum: u64,
}

/// The last 16 bytes: the table's checksum, then [`FOOTER_MAGIC`].
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct Footer {
    pub table_checksum: u64,
    pub magic: [u8; 8],
}

/// What a section holds. Values are part of the format: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum SectionKind {
    /// JSON: model id, dimension, counts, build parameters.
    Meta = 1,
    /// The trained quantizer.
    Quantizer = 2,
    /// One fixed-size code per passage.
    Codes = 3,
    /// Graph: u32 offset of every 32nd node's edge list.
    GraphBlocks = 4,
    /// Graph: byte length of each node's edge list.
    GraphLengths = 5,
    /// Graph: delta + varint edge lists.
    GraphEdges = 6,
    /// The app's passage ids, front-coded.
    Ids = 7,
    /// Passage text, lz4 blocks.
    Text = 8,
    /// One flag byte per passage (bit 0: deleted); absent when none is set.
    Flags = 9,
    /// Per-passage metadata; absent when no passage has any.
    Metadata = 10,
    /// A 4-byte fingerprint of each passage's text, in place of the text when the app holds it.
    Fingerprints = 11,
}

impl SectionKind {
    /// All kinds, for lookups by number.
    pub const ALL: [SectionKind; 11] = [
        SectionKind::Meta,
        SectionKind::Quantizer,
        SectionKind::Codes,
        SectionKind::GraphBlocks,
        SectionKind::GraphLengths,
        SectionKind::GraphEdges,
        SectionKind::Ids,
        SectionKind::Text,
        SectionKind::Flags,
        SectionKind::Metadata,
        SectionKind::Fingerprints,
    ];

    /// The kind with this number, if known.
    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| *k as u32 == v)
    }

    /// Name used in `ember info`.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Meta => "meta",
            SectionKind::Quantizer => "quantizer",
            SectionKind::Codes => "codes",
            SectionKind::GraphBlocks => "graph_blocks",
            SectionKind::GraphLengths => "graph_lengths",
            SectionKind::GraphEdges => "graph_edges",
            SectionKind::Ids => "ids",
            SectionKind::Text => "text",
            SectionKind::Flags => "flags",
            SectionKind::Metadata => "metadata",
            SectionKind::Fingerprints => "fingerprints",
        }
    }
}

/// Round `n` up to the section alignment.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}

/// Checksum used for every section, the table and the header.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

const _: () = assert!(std::mem::size_of::<Header>() == 64);
const _: () = assert!(std::mem::size_of::<SectionEntry>() == 32);
const _: () = assert!(std::mem::size_of::<Footer>() == 16);
