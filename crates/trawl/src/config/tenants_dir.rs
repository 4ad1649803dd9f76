//! `tenants_dir`: one TOML file per tenant, so tenants can be added and removed by
//! dropping files (a Kubernetes ConfigMap, a provisioning tool) without touching the
//! main file.
//!
//! A file holds one tenant's keys at its top level (`id`, `provider`, ...); its name is
//! irrelevant, the `id` inside counts. Only `*.toml` files are read; hidden entries
//! (`.swp`, Kubernetes' `..data` links) are skipped; symlinks are followed. The listing
//! with contents is public so a reloader can tell what changed between two scans.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{ConfigErrors, Problems};

/// A tenant file and its text, as read in one scan of `tenants_dir`.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantFile {
    pub path: PathBuf,
    pub content: String,
}

/// Shows the path and size only: the content may hold an inline secret.
impl fmt::Debug for TenantFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantFile")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// The tenant files of `dir` with their content, sorted by path.
pub fn read_tenant_files(dir: &Path) -> Result<Vec<TenantFile>, ConfigErrors> {
    let mut p = Problems::new();
    let files = list(dir, "tenants_dir", &mut p);
    if p.errors.is_empty() {
        Ok(files)
    } else {
        Err(ConfigErrors(p.errors))
    }
}

/// Reads the tenant files of `dir`, recording unreadable ones (`field` names the setting
/// that pointed here, for the message).
pub(crate) fn list(dir: &Path, field: &str, p: &mut Problems) -> Vec<TenantFile> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            p.error(
                field,
                format!("cannot read directory {}: {e}", dir.display()),
            );
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && path.extension().is_some_and(|x| x == "toml")
                && path.is_file()
        })
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(content) => files.push(TenantFile { path, content }),
            Err(e) => {
                p.set_file(Some(&path));
                p.error("", format!("cannot read the file: {e}"));
                p.set_file(None);
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_toml_files_sorted_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.toml"), "id = \"b\"").unwrap();
        std::fs::write(dir.path().join("a.toml"), "id = \"a\"").unwrap();
        std::fs::write(dir.path().join(".hidden.toml"), "x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub.toml")).unwrap();
        let files = read_tenant_files(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.file_name().unwrap()).collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        assert_eq!(files[0].content, "id = \"a\"");
        assert!(!format!("{files:?}").contains("id ="));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let e = read_tenant_files(Path::new("/nonexistent/tenants.d")).unwrap_err();
        assert!(e.0[0]
            .to_string()
            .starts_with("tenants_dir: cannot read directory /nonexistent/tenants.d:"));
    }
}
