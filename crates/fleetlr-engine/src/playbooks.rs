//! The playbook directory: named playbooks (`<name>.yaml`) with their library files in
//! `scripts/` beside them. Reads files; compiling is `fleetlr-playbook`'s job.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use fleetlr_playbook::{Catalogue, FileFacts};
use sha2::{Digest, Sha256};

use crate::library_sync::LocalFile;

/// Where a playbook's library files live, relative to the playbook.
pub const SCRIPTS_DIR: &str = "scripts";

#[derive(Debug, Clone)]
pub struct PlaybookDir {
    dir: PathBuf,
    max_file_bytes: u64,
}

/// A named playbook as found on disk.
#[derive(Debug, Clone)]
pub struct PlaybookFile {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl PlaybookDir {
    pub fn new(dir: PathBuf, max_file_bytes: u64) -> Self {
        Self {
            dir,
            max_file_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The playbook `name` (the file `<name>.yaml`). `None` when there is none; a name that is
    /// not a plain file name never reads outside the directory.
    pub fn read(&self, name: &str) -> io::Result<Option<PlaybookFile>> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !plain {
            return Ok(None);
        }
        for extension in ["yaml", "yml"] {
            let path = self.dir.join(format!("{name}.{extension}"));
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8(bytes).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{} is not UTF-8", path.display()),
                        )
                    })?;
                    return Ok(Some(PlaybookFile {
                        name: name.to_owned(),
                        path,
                        text,
                    }));
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }

    /// The names of every playbook in the directory, sorted.
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if path.is_file()
                && is_yaml
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The library files beside the playbooks, with their sizes and hashes.
    pub fn catalogue(&self) -> io::Result<Catalogue> {
        catalogue(&self.dir, self.max_file_bytes)
    }

    /// The content of the named library files, for uploading.
    pub fn library_files(&self, names: &[&str]) -> io::Result<Vec<LocalFile>> {
        let scripts = self.dir.join(SCRIPTS_DIR);
        names
            .iter()
            .map(|name| {
                let content = std::fs::read(scripts.join(name))?;
                Ok(LocalFile {
                    name: (*name).to_owned(),
                    sha256: sha256_hex(&content),
                    content: Bytes::from(content),
                })
            })
            .collect()
    }
}

/// The catalogue of the `scripts/` directory beside playbooks in `dir`; no such directory is
/// an empty catalogue.
pub fn catalogue(dir: &Path, max_file_bytes: u64) -> io::Result<Catalogue> {
    let scripts = dir.join(SCRIPTS_DIR);
    let mut catalogue = Catalogue::new(scripts.display().to_string());
    catalogue.max_file_bytes = max_file_bytes;
    let entries = match std::fs::read_dir(&scripts) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(catalogue),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        // A name that is not UTF-8 can never be a library name; validation reports it unused.
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let bytes = std::fs::read(&path)?;
        catalogue.files.insert(
            name.to_owned(),
            FileFacts {
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            },
        );
    }
    Ok(catalogue)
}

/// The file facts of a catalogue as stored with a run, and back.
pub fn facts_to_json(files: &BTreeMap<String, FileFacts>) -> serde_json::Value {
    files
        .iter()
        .map(|(name, facts)| {
            (
                name.clone(),
                serde_json::json!({"size": facts.size, "sha256": facts.sha256}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub fn facts_from_json(value: &serde_json::Value) -> BTreeMap<String, FileFacts> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, facts)| {
            Some((
                name.clone(),
                FileFacts {
                    size: facts.get("size")?.as_u64()?,
                    sha256: facts.get("sha256")?.as_str()?.to_owned(),
                },
            ))
        })
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}
