//! Where the account key and the certificate are kept between runs: a
//! [`Storage`] trait, so that JS and WASI users can keep them elsewhere (a
//! KV store, a secret manager), and [`DirStorage`], a directory.

use std::io;
use std::path::PathBuf;

use crate::rt::{create_private_dir, write_atomically};

/// A place for a few named blobs. `secret` ones (keys) must be readable by
/// their owner only. A write must be all or nothing: a reader sees the old
/// value or the new one.
pub trait Storage: Send + Sync + 'static {
    /// The blob stored under `name`, `None` when there is none.
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Stores `data` under `name`, replacing what was there.
    fn store(&self, name: &str, data: &[u8], secret: bool) -> io::Result<()>;
}

/// A directory: one file per name, written atomically, keys `0600`
/// (created `0700` if it does not exist).
#[derive(Debug, Clone)]
pub struct DirStorage {
    dir: PathBuf,
}

impl DirStorage {
    /// The directory `dir`, made on the first write if need be.
    pub fn new(dir: impl Into<PathBuf>) -> DirStorage {
        DirStorage { dir: dir.into() }
    }
}

impl Storage for DirStorage {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.dir.join(name)) {
            Ok(data) => Ok(Some(data)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn store(&self, name: &str, data: &[u8], secret: bool) -> io::Result<()> {
        if !self.dir.is_dir() {
            create_private_dir(&self.dir)?;
        }
        write_atomically(&self.dir.join(name), data, secret)
    }
}
