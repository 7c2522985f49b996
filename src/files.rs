//! Reading input files within documented limits: only regular files (not a device, a pipe or
//! a folder), and at most a size per kind of input, checked before reading and enforced while
//! reading (a file that grows is cut off and refused).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// A kind of input file, with the most bytes synops reads of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A network file (TOML), a conversion spec or a device profile file: 16 MiB.
    Text,
    /// A CSV file named by a network (spike times, a synapse list): 2 GiB.
    Csv,
    /// A model or weights file (safetensors, npz, ONNX): 4 GiB.
    Model,
    /// A data set file (MNIST IDX, gzip or not), also after decompression: 1 GiB.
    Dataset,
    /// A result file read by `energy` or `plot` (`summary.json`, `eval.json`, `energy.json`,
    /// `spikes.csv`, `traces.csv`): 2 GiB.
    Results,
}

impl InputKind {
    /// The most bytes synops reads of a file of this kind.
    pub const fn max_bytes(self) -> u64 {
        const MIB: u64 = 1 << 20;
        match self {
            InputKind::Text => 16 * MIB,
            InputKind::Csv | InputKind::Results => 2048 * MIB,
            InputKind::Model => 4096 * MIB,
            InputKind::Dataset => 1024 * MIB,
        }
    }

    /// What the kind is called in messages.
    pub const fn name(self) -> &'static str {
        match self {
            InputKind::Text => "network, spec or profile file",
            InputKind::Csv => "CSV file",
            InputKind::Model => "model file",
            InputKind::Dataset => "data set file",
            InputKind::Results => "result file",
        }
    }
}

/// `bytes` in the unit a message shows it in.
fn size_text(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{} GiB", crate::error::short_number(mib / 1024.0))
    } else {
        format!("{} MiB", crate::error::short_number(mib))
    }
}

/// The refusal of a file above the limit of `kind`.
pub fn too_large(path: &Path, kind: InputKind, bytes: Option<u64>) -> Error {
    let size = bytes.map_or_else(|| "more than the limit".to_string(), size_text);
    Error::Data {
        path: path.to_path_buf(),
        message: format!(
            "the file is {size}; synops reads at most {} of a {}",
            size_text(kind.max_bytes()),
            kind.name()
        ),
    }
}

/// Open a regular file of at most `kind`'s size; returns it with its size.
pub fn open(path: &Path, kind: InputKind) -> Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot read", e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if !meta.is_file() {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: "not a regular file (a folder, a device or a pipe): synops reads files".into(),
        });
    }
    if meta.len() > kind.max_bytes() {
        return Err(too_large(path, kind, Some(meta.len())));
    }
    Ok((file, meta.len()))
}

/// Read all of `reader` (from `path`), at most `kind`'s limit, refusing more.
pub fn read_at_most(reader: impl Read, path: &Path, kind: InputKind) -> Result<Vec<u8>> {
    read_capped(reader, path, kind, Vec::new())
}

/// [`read_at_most`] into `bytes` (allocated for the expected size, when known).
fn read_capped(
    reader: impl Read,
    path: &Path,
    kind: InputKind,
    mut bytes: Vec<u8>,
) -> Result<Vec<u8>> {
    reader
        .take(kind.max_bytes() + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if bytes.len() as u64 > kind.max_bytes() {
        return Err(too_large(path, kind, None));
    }
    Ok(bytes)
}

/// Read a whole file of `kind`.
pub fn read(path: &Path, kind: InputKind) -> Result<Vec<u8>> {
    let (file, size) = open(path, kind)?;
    // One allocation of the file's size (plus the byte that shows a file that grew).
    read_capped(file, path, kind, Vec::with_capacity(size as usize + 1))
}

/// Read a whole text file of `kind`.
pub fn read_text(path: &Path, kind: InputKind) -> Result<String> {
    String::from_utf8(read(path, kind)?).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        message: format!(
            "not a text file: the bytes at offset {} are not UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_devices_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), InputKind::Text).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        if Path::new("/dev/zero").exists() {
            let e = read(Path::new("/dev/zero"), InputKind::Text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/dev/zero") && e.contains("not a regular file"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_stream_beyond_the_limit_is_refused() {
        let stream = std::io::repeat(b'x');
        let e = read_at_most(stream, Path::new("big.idx"), InputKind::Text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.idx") && e.contains("at most 16 MiB"), "{e}");
    }
}
