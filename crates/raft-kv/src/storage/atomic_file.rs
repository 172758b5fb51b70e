//! Files replaced atomically and checked on read.
//!
//! A write goes to `<name>.tmp`, is synced, renamed over `<name>`, and the
//! directory is synced: after a crash the file holds either the old or the
//! new contents, never a mix. The contents carry a CRC32C so damage at rest
//! is reported instead of being read as valid state.
//!
//! ```text
//! magic "HKFILEv1" | len: u64 LE | crc32c(payload): u32 LE | payload
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::segment::sync_dir;
use crate::error::Error;

const FILE_MAGIC: [u8; 8] = *b"HKFILEv1";
const FILE_HEADER_LEN: usize = 20;

/// Replaces `dir/name` with `payload`, atomically and durably.
pub fn write_atomically(dir: &Path, name: &str, payload: &[u8]) -> Result<(), Error> {
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(&FILE_MAGIC);
    header[8..16].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[16..20].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    file.write_all(&header)
        .and_then(|()| file.write_all(payload))
        .map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("rename", &target, e))?;
    sync_dir(dir)
}

/// Reads a file written by [`write_atomically`]; `Ok(None)` if it does not exist.
pub fn read_checked(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let buf = match std::fs::read(path) {
        Ok(buf) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let corrupt = |offset: u64, reason: &'static str| Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    if buf.len() < FILE_HEADER_LEN {
        return Err(corrupt(0, "file shorter than its header"));
    }
    if buf[..8] != FILE_MAGIC {
        return Err(corrupt(0, "bad file magic"));
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&buf[8..16]);
    let len = u64::from_le_bytes(len_bytes);
    if len != (buf.len() - FILE_HEADER_LEN) as u64 {
        return Err(corrupt(8, "length field does not match file size"));
    }
    let stored = u32::from_le_bytes([buf[16], buf[17], buf[18], buf[19]]);
    let payload = &buf[FILE_HEADER_LEN..];
    if crc32c::crc32c(payload) != stored {
        return Err(corrupt(FILE_HEADER_LEN as u64, "checksum mismatch"));
    }
    Ok(Some(payload.to_vec()))
}

/// Removes leftover `*.tmp` files from interrupted writes in `dir`.
pub fn remove_temp_files(dir: &Path) -> Result<(), Error> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for item in listing {
        let item = item.map_err(|e| Error::io("list", dir, e))?;
        let path = item.path();
        if path.extension().is_some_and(|ext| ext == "tmp") {
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    Ok(())
}
