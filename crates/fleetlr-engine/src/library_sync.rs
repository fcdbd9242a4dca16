//! Puts the files a playbook needs into the live response library, by content hash: a file is
//! uploaded when the library lacks its name or holds different content, and left alone
//! otherwise, so syncing before every run costs one list call when nothing changed.

use bytes::Bytes;

use crate::budget::ApiBudget;
use fleetlr_defender::DefenderClient;
use fleetlr_defender::models::{LibraryFile, LibraryUpload};

/// A file as fleetlr has it locally: its library name, SHA-256 (hex) and content.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub name: String,
    pub sha256: String,
    pub content: Bytes,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: Vec<String>,
    pub unchanged: Vec<String>,
}

/// The names among `local` whose content the library does not already hold.
pub fn files_to_upload<'a>(local: &'a [LocalFile], library: &[LibraryFile]) -> Vec<&'a LocalFile> {
    local
        .iter()
        .filter(|file| !library.iter().any(|remote| holds(remote, file)))
        .collect()
}

/// Whether the library entry is `file`, content and all.
fn holds(remote: &LibraryFile, file: &LocalFile) -> bool {
    remote.file_name == file.name
        && remote
            .sha256
            .as_deref()
            .is_some_and(|sha| sha.eq_ignore_ascii_case(&file.sha256))
}

/// How one name compares between fleetlr's scripts and the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Same name, same SHA-256.
    Same,
    /// Same name, other content (or the library shows no hash): a sync replaces it.
    Differs,
    /// Only fleetlr has it: a sync uploads it.
    NotInLibrary,
    /// Only the library has it (someone else's, or a removed script): left alone.
    NotLocal,
}

/// One name of either side, with both hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryEntry {
    pub name: String,
    pub local_sha256: Option<String>,
    pub library_sha256: Option<String>,
    pub comparison: Comparison,
}

/// Every name of `local` and `library`, sorted, compared by SHA-256.
pub fn compare(local: &[LocalFile], library: &[LibraryFile]) -> Vec<LibraryEntry> {
    let mut entries: Vec<LibraryEntry> = local
        .iter()
        .map(|file| {
            let remote = library.iter().find(|r| r.file_name == file.name);
            LibraryEntry {
                name: file.name.clone(),
                local_sha256: Some(file.sha256.clone()),
                library_sha256: remote.and_then(|r| r.sha256.clone()),
                comparison: match remote {
                    None => Comparison::NotInLibrary,
                    Some(remote) if holds(remote, file) => Comparison::Same,
                    Some(_) => Comparison::Differs,
                },
            }
        })
        .collect();
    entries.extend(
        library
            .iter()
            .filter(|remote| !local.iter().any(|file| file.name == remote.file_name))
            .map(|remote| LibraryEntry {
                name: remote.file_name.clone(),
                local_sha256: None,
                library_sha256: remote.sha256.clone(),
                comparison: Comparison::NotLocal,
            }),
    );
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// Uploads what differs (replacing an older version of the same name) and reports what it did.
pub async fn sync_library(
    client: &DefenderClient,
    budget: &ApiBudget,
    local: &[LocalFile],
) -> Result<SyncReport, fleetlr_defender::Error> {
    if local.is_empty() {
        return Ok(SyncReport::default());
    }
    let library = budget
        .call("libraryfiles.list", || client.list_library_files())
        .await?;
    let upload: Vec<&LocalFile> = files_to_upload(local, &library);
    let mut report = SyncReport::default();
    for file in local {
        if !upload.iter().any(|u| u.name == file.name) {
            report.unchanged.push(file.name.clone());
        }
    }
    for file in upload {
        let upload = LibraryUpload {
            file_name: file.name.clone(),
            content: file.content.clone(),
            description: Some(format!("managed by fleetlr (sha256 {})", file.sha256)),
            parameters_description: None,
            has_parameters: true,
            override_if_exists: true,
        };
        budget
            .call("libraryfiles.upload", || {
                client.upload_library_file(&upload)
            })
            .await?;
        report.uploaded.push(file.name.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(name: &str, sha: &str) -> LocalFile {
        LocalFile {
            name: name.into(),
            sha256: sha.into(),
            content: Bytes::new(),
        }
    }

    fn remote(name: &str, sha: Option<&str>) -> LibraryFile {
        serde_json::from_value(serde_json::json!({"fileName": name, "sha256": sha}))
            .expect("library file")
    }

    #[test]
    fn only_missing_or_changed_files_are_uploaded() {
        let files = [
            local("same.ps1", "AB"),
            local("changed.ps1", "cd"),
            local("new.ps1", "ef"),
        ];
        let library = [
            remote("same.ps1", Some("ab")),
            remote("changed.ps1", Some("00")),
            remote("other.ps1", Some("ef")),
        ];
        let names: Vec<&str> = files_to_upload(&files, &library)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["changed.ps1", "new.ps1"]);
    }

    #[test]
    fn every_name_of_both_sides_is_compared() {
        let files = [
            local("same.ps1", "ab"),
            local("changed.ps1", "cd"),
            local("new.ps1", "ef"),
        ];
        let library = [
            remote("same.ps1", Some("AB")),
            remote("changed.ps1", Some("00")),
            remote("theirs.ps1", Some("11")),
        ];
        let entries = compare(&files, &library);
        let compared: Vec<(&str, Comparison)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.comparison))
            .collect();
        assert_eq!(
            compared,
            [
                ("changed.ps1", Comparison::Differs),
                ("new.ps1", Comparison::NotInLibrary),
                ("same.ps1", Comparison::Same),
                ("theirs.ps1", Comparison::NotLocal),
            ]
        );
    }

    #[test]
    fn a_library_entry_without_a_hash_is_replaced() {
        let files = [local("a.ps1", "ab")];
        assert_eq!(files_to_upload(&files, &[remote("a.ps1", None)]).len(), 1);
    }
}
