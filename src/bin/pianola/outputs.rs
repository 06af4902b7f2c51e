// SPDX-License-Identifier: MPL-2.0
//! Output files written safely: never the input by another spelling (files are compared,
//! not strings), checked for writability before any work, written to a temporary file beside
//! the output and renamed only when the whole run succeeded. A failed or stopped run leaves
//! the old file (or none), never a 0-byte MIDI, an MP4 without its index or a silent WAV.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

/// Device and inode of an existing file.
fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// The absolute, symlink-free spelling of a path whose file may not exist yet: its folder
/// resolved, its name kept.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&parent).unwrap_or(parent);
    match p.file_name() {
        Some(n) => dir.join(n),
        None => dir,
    }
}

/// Whether two paths name the same file (existing or to be created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x == y,
        _ => resolved(a) == resolved(b),
    }
}

/// Planned outputs: each final path with the temporary file written in its place.
#[derive(Debug, Default)]
pub struct Outputs {
    files: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl Outputs {
    /// Check `outputs` (named by their option, e.g. "-o") against `inputs` and each other,
    /// and create their temporary files (which proves the folder is writable).
    pub fn plan(inputs: &[&Path], outputs: &[(&str, &Path)]) -> Result<Outputs> {
        let mut planned = Outputs::default();
        for (i, (opt, out)) in outputs.iter().enumerate() {
            if let Some(input) = inputs.iter().find(|input| same_file(input, out)) {
                return Err(anyhow!(
                    "{opt} {} is the input {}: write to another file",
                    out.display(),
                    input.display()
                ));
            }
            if let Some((other, _)) = outputs[..i].iter().find(|(_, o)| same_file(o, out)) {
                return Err(anyhow!(
                    "{opt} {} names the same file as {other}: give each output its own file",
                    out.display()
                ));
            }
            if out.is_dir() {
                return Err(anyhow!("{opt} {} is a folder: name a file", out.display()));
            }
            let tmp = temp_path(out);
            std::fs::File::create(&tmp).map_err(|e| {
                anyhow!(
                    "{opt} {}: cannot write there ({e}); choose a folder that exists and is writable",
                    out.display()
                )
            })?;
            planned.files.push((out.to_path_buf(), tmp));
        }
        Ok(planned)
    }

    /// The temporary file that stands for `out` until [`Outputs::commit`].
    pub fn temp(&self, out: &Path) -> Option<&Path> {
        self.files
            .iter()
            .find(|(f, _)| f == out)
            .map(|(_, t)| t.as_path())
    }

    /// Rename every temporary file to its output: the run succeeded.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        for (out, tmp) in &self.files {
            std::fs::rename(tmp, out)
                .map_err(|e| anyhow!("{}: cannot replace it ({e})", out.display()))?;
        }
        self.committed = true;
        Ok(self.files.iter().map(|(o, _)| o.clone()).collect())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if !self.committed {
            for (_, tmp) in &self.files {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// `dir/.name.partial-<pid>.ext`: beside the output (same file system, so the rename is
/// atomic), hidden, the extension kept.
fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.partial-{}{ext}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pianola-outputs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).expect("dir");
        d
    }

    #[test]
    fn the_input_by_any_spelling_is_refused() {
        let d = dir("spelling");
        let input = d.join("v.mp4");
        std::fs::write(&input, b"video").expect("write");
        std::os::unix::fs::symlink(&input, d.join("link.mp4")).expect("symlink");
        for other in [
            input.clone(),
            d.join("sub/../v.mp4"),
            d.join("./v.mp4"),
            d.join("link.mp4"),
        ] {
            let e = Outputs::plan(&[&input], &[("-o", &other)]).expect_err("refused");
            assert!(e.to_string().contains("is the input"), "{e}");
        }
        // Untouched.
        assert_eq!(std::fs::read(&input).expect("read"), b"video");
        // Two outputs naming one file.
        let e = Outputs::plan(
            &[&input],
            &[
                ("-o", &d.join("a.wav")),
                ("--midi", &d.join("sub/../a.wav")),
            ],
        )
        .expect_err("refused");
        assert!(e.to_string().contains("same file"), "{e}");
    }

    #[test]
    fn outputs_appear_only_on_commit_and_bad_folders_fail_first() {
        let d = dir("commit");
        let out = d.join("a.mid");
        std::fs::write(&out, b"old").expect("write");
        {
            let o = Outputs::plan(&[], &[("--midi", &out)]).expect("plan");
            std::fs::write(o.temp(&out).expect("temp"), b"half").expect("write");
            // Dropped without commit: the old file stays, no temporary is left.
        }
        assert_eq!(std::fs::read(&out).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(&d).expect("dir").count(), 2);
        let o = Outputs::plan(&[], &[("--midi", &out)]).expect("plan");
        std::fs::write(o.temp(&out).expect("temp"), b"new").expect("write");
        o.commit().expect("commit");
        assert_eq!(std::fs::read(&out).expect("read"), b"new");
        let e = Outputs::plan(&[], &[("-o", &d.join("missing/x.wav"))]).expect_err("no folder");
        assert!(e.to_string().contains("cannot write there"), "{e}");
    }
}
