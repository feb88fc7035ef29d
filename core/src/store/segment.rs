//! Writing and opening segment files, validating everything before any section is used.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::format::*;
use super::mmap::Mapped;
use crate::{Error, Result};

/// Collects sections, then publishes them as one segment file atomically.
#[derive(Debug, Default)]
pub struct SegmentWriter {
    sections: Vec<(SectionKind, Vec<u8>)>,
}

impl SegmentWriter {
    /// An empty segment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a section (each kind at most once).
    pub fn add(&mut self, kind: SectionKind, bytes: Vec<u8>) {
        self.sections.push((kind, bytes));
    }

    /// The header and what follows the sections (the section table and the footer), and each
    /// section's padding: the file is the header (padded to `ALIGN`), then every section followed
    /// by its padding, then the table.
    fn layout(&self) -> (Header, Vec<u8>, Vec<usize>) {
        let mut at = ALIGN as u64;
        let mut table = Vec::with_capacity(self.sections.len());
        let mut pads = Vec::with_capacity(self.sections.len());
        for (kind, bytes) in &self.sections {
            let end = at + bytes.len() as u64;
            table.push(SectionEntry {
                kind: *kind as u32,
                reserved: 0,
                offset: at,
                len: bytes.len() as u64,
                checksum: checksum(bytes),
            });
            pads.push((align_up(end) - end) as usize);
            at = align_up(end);
        }
        let table_bytes: &[u8] = bytemuck::cast_slice(&table);
        let footer = Footer { table_checksum: checksum(table_bytes), magic: FOOTER_MAGIC };
        let mut tail = table_bytes.to_vec();
        tail.extend_from_slice(bytemuck::bytes_of(&footer));
        let mut header = Header {
            magic: MAGIC,
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
            endian: ENDIAN_MARK,
            section_count: table.len() as u32,
            reserved0: 0,
            table_offset: at,
            file_len: at + tail.len() as u64,
            header_checksum: 0,
            reserved: [0; 2],
        };
        header.header_checksum = checksum(bytemuck::bytes_of(&header));
        (header, tail, pads)
    }

    /// The complete file image.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (header, tail, pads) = self.layout();
        let mut out = Vec::with_capacity(header.file_len as usize);
        out.extend_from_slice(bytemuck::bytes_of(&header));
        out.resize(ALIGN, 0);
        for ((_, bytes), pad) in self.sections.iter().zip(pads) {
            out.extend_from_slice(bytes);
            out.resize(out.len() + pad, 0);
        }
        out.extend_from_slice(&tail);
        out
    }

    /// Write the segment to `path` through `storage`, atomically and a section at a time (the
    /// image is never held whole: at a million passages it is 0.13 GB); returns its fingerprint.
    pub fn write(&self, storage: &dyn super::Storage, path: &Path) -> Result<u64> {
        let (header, tail, pads) = self.layout();
        let mut head = bytemuck::bytes_of(&header).to_vec();
        head.resize(ALIGN, 0);
        storage.atomic_write_with(path, &mut |tmp| {
            storage.write_new(tmp, &head)?;
            for ((_, bytes), &pad) in self.sections.iter().zip(&pads) {
                storage.append(tmp, bytes)?;
                if pad > 0 {
                    storage.append(tmp, &[0u8; ALIGN][..pad])?;
                }
            }
            storage.append(tmp, &tail)
        })?;
        Ok(fingerprint(&tail).unwrap_or(0))
    }

    /// Write the segment to `path` atomically (temp → fsync → rename → fsync dir).
    pub fn publish(&self, path: &Path) -> Result<()> {
        self.write(&super::RealStorage, path).map(|_| ())
    }
}

/// An opened, fully validated segment.
#[derive(Debug)]
pub struct Segment {
    file: Mapped,
    sections: BTreeMap<SectionKind, Range<usize>>,
    major: u16,
    minor: u16,
    fingerprint: u64,
}

impl Segment {
    /// Map and validate `path`: magic, version, endianness, bounds, and every checksum.
    pub fn open(path: &Path) -> Result<Self> {
        let file = Mapped::open(path)?;
        // Sections hashed in steps given back as they go: only what searches read stays resident.
        let (sections, (major, minor)) = validate_with(file.bytes(), &|r| file.checksum_released(r))?;
        let fingerprint = fingerprint(file.bytes()).unwrap_or(0);
        Ok(Segment { file, sections, major, minor, fingerprint })
    }

    /// The bytes of a section; `Corrupt` if the segment lacks it.
    pub fn section(&self, kind: SectionKind) -> Result<&[u8]> {
        let range = self
            .sections
            .get(&kind)
            .ok_or_else(|| Error::Corrupt(format!("missing section {}", kind.name())))?;
        self.file.bytes().get(range.clone()).ok_or_else(|| Error::Corrupt("section out of bounds".into()))
    }

    /// The bytes of an optional section, `None` if the segment lacks it.
    pub fn optional_section(&self, kind: SectionKind) -> Result<Option<&[u8]>> {
        match self.sections.contains_key(&kind) {
            true => self.section(kind).map(Some),
            false => Ok(None),
        }
    }

    /// Sizes of all sections, by name.
    pub fn section_sizes(&self) -> BTreeMap<&'static str, u64> {
        self.sections.iter().map(|(k, r)| (k.name(), r.len() as u64)).collect()
    }

    /// The whole file size.
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }

    /// A content fingerprint (the section table's checksum, which covers every section's).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The format major version the file was written with (one of [`READABLE_MAJORS`]).
    pub fn major(&self) -> u16 {
        self.major
    }

    /// The format minor version the file was written with.
    pub fn minor(&self) -> u16 {
        self.minor
    }
}

type Sections = BTreeMap<SectionKind, Range<usize>>;

/// The fingerprint of a segment image: its footer's table checksum.
pub fn fingerprint(image: &[u8]) -> Option<u64> {
    let at = image.len().checked_sub(std::mem::size_of::<Footer>())?;
    let footer: Footer = bytemuck::pod_read_unaligned(image.get(at..)?);
    Some(footer.table_checksum)
}

#[cfg(test)]
fn validate(bytes: &[u8]) -> Result<(Sections, (u16, u16))> {
    validate_with(bytes, &|r| checksum(&bytes[r]))
}

/// [`validate`] with each section's checksum computed by `sum`.
fn validate_with(bytes: &[u8], sum: &dyn Fn(Range<usize>) -> u64) -> Result<(Sections, (u16, u16))> {
    let corrupt = |m: &str| Error::Corrupt(m.to_string());
    let head = bytes.get(..ALIGN).ok_or_else(|| corrupt("file shorter than its header"))?;
    let header: Header = bytemuck::pod_read_unaligned(head);
    if header.magic != MAGIC {
        return Err(corrupt("not an Ember segment (bad magic)"));
    }
    if header.endian != ENDIAN_MARK {
        return Err(corrupt("segment written with another byte order"));
    }
    if !READABLE_MAJORS.contains(&header.major) {
        return Err(Error::IncompatibleVersion { found: header.major, supported: FORMAT_MAJOR });
    }
    let mut zeroed = header;
    zeroed.header_checksum = 0;
    if checksum(bytemuck::bytes_of(&zeroed)) != header.header_checksum {
        return Err(corrupt("header checksum mismatch"));
    }
    if header.file_len != bytes.len() as u64 {
        return Err(corrupt("file length differs from the header (truncated or extended)"));
    }
    if header.section_count > MAX_SECTIONS {
        return Err(corrupt("too many sections"));
    }
    let table_len = header.section_count as usize * std::mem::size_of::<SectionEntry>();
    let footer_len = std::mem::size_of::<Footer>();
    let table_start = usize::try_from(header.table_offset).map_err(|_| corrupt("table offset"))?;
    if table_start.checked_add(table_len).and_then(|e| e.checked_add(footer_len)) != Some(bytes.len()) {
        return Err(corrupt("section table does not end at the footer"));
    }
    let table_bytes = &bytes[table_start..table_start + table_len];
    let footer: Footer = bytemuck::pod_read_unaligned(&bytes[bytes.len() - footer_len..]);
    if footer.magic != FOOTER_MAGIC {
        return Err(corrupt("bad footer magic"));
    }
    if footer.table_checksum != checksum(table_bytes) {
        return Err(corrupt("section table checksum mismatch"));
    }
    let mut sections = BTreeMap::new();
    let mut next_free = ALIGN as u64;
    // End of the previous section: the bytes from there to the next section are padding.
    let mut prev_end = ALIGN;
    for raw in table_bytes.chunks_exact(std::mem::size_of::<SectionEntry>()) {
        let e: SectionEntry = bytemuck::pod_read_unaligned(raw);
        let kind = SectionKind::from_u32(e.kind);
        let end = e.offset.checked_add(e.len).ok_or_else(|| corrupt("section length overflows"))?;
        if !e.offset.is_multiple_of(ALIGN as u64) || e.offset < next_free || end > header.table_offset {
            return Err(corrupt("section out of bounds or overlapping"));
        }
        check_padding(&bytes[prev_end..e.offset as usize])?;
        prev_end = end as usize;
        next_free = align_up(end);
        let range = e.offset as usize..end as usize;
        if sum(range.clone()) != e.checksum {
            return Err(Error::Corrupt(format!(
                "checksum mismatch in section {}",
                kind.map_or("unknown", SectionKind::name)
            )));
        }
        // Unknown kinds come from a newer minor version: skipped, after their checksum passed.
        if let Some(kind) = kind {
            if sections.insert(kind, range).is_some() {
                return Err(Error::Corrupt(format!("duplicate section {}", kind.name())));
            }
        }
    }
    check_padding(&bytes[prev_end..table_start])?;
    Ok((sections, (header.major, header.minor)))
}

/// Padding is written as zeros and covered by no checksum: any other byte there is damage (without
/// this check, a flipped bit in padding would go unnoticed).
fn check_padding(padding: &[u8]) -> Result<()> {
    if padding.iter().any(|&b| b != 0) {
        return Err(Error::Corrupt("nonzero bytes in section padding".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = SegmentWriter::new();
        w.add(SectionKind::Meta, b"{\"hello\":1}".to_vec());
        w.add(SectionKind::Codes, (0..200u8).collect());
        w.add(SectionKind::Text, Vec::new());
        w.to_bytes()
    }

    #[test]
    fn a_segment_written_in_pieces_is_its_image() {
        let mut w = SegmentWriter::new();
        w.add(SectionKind::Meta, b"{\"hello\":1}".to_vec());
        w.add(SectionKind::Codes, (0..200u8).collect());
        w.add(SectionKind::Text, Vec::new());
        w.add(SectionKind::Ids, vec![7; 64]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let fp = w.write(&crate::store::RealStorage, &path).unwrap();
        let image = w.to_bytes();
        assert_eq!(std::fs::read(&path).unwrap(), image);
        assert_eq!(Some(fp), fingerprint(&image));
        assert_eq!(Segment::open(&path).unwrap().fingerprint(), fp);
    }

    #[test]
    fn round_trip_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        std::fs::write(&path, sample()).unwrap();
        let seg = Segment::open(&path).unwrap();
        assert_eq!(seg.section(SectionKind::Meta).unwrap(), b"{\"hello\":1}");
        assert_eq!(seg.section(SectionKind::Codes).unwrap().len(), 200);
        assert!(seg.section(SectionKind::Ids).is_err());
        for r in seg.sections.values() {
            assert_eq!(r.start % ALIGN, 0);
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(validate(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        // Sections are covered by their checksums, padding by the zero check, the rest by the
        // header's and the table's checksums: no single-bit flip goes unnoticed.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(validate(&b).is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn unknown_major_is_incompatible() {
        let mut bytes = sample();
        let mut header: Header = bytemuck::pod_read_unaligned(&bytes[..ALIGN]);
        header.major = 9;
        header.header_checksum = 0;
        header.header_checksum = checksum(bytemuck::bytes_of(&header));
        bytes[..ALIGN].copy_from_slice(bytemuck::bytes_of(&header));
        assert!(matches!(
            validate(&bytes),
            Err(Error::IncompatibleVersion { found: 9, supported: FORMAT_MAJOR })
        ));
    }
}
