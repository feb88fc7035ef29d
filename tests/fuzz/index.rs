//! Target `index_open`: bytes → an index directory → `Index::open` → if it opens, stats, ids,
//! texts and a search in every mode, each result checked for well-formedness
//! (`crate::damage::open_and_use`).

use crate::damage::open_and_use;

use super::{scratch_dir, DirImage};

/// Write the [`DirImage`] in `data` to the scratch directory and open it as an index.
pub fn index_open(data: &[u8]) {
    let mut image = DirImage::parse(data);
    image.repair();
    let dir = scratch_dir();
    image.write_to(dir);
    // A refusal is fine whatever its kind: every Ember error is typed. Panics are what we look for.
    let _ = open_and_use(dir);
}
