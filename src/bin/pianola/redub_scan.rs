// SPDX-License-Identifier: MPL-2.0
//! The videos of `pianola redub ... --out-dir D` and their outputs: folders scanned (in
//! sorted order, sub-folders with --recursive), each video's outputs named
//! D/[sub-folder/]<stem>.<format>, and every clash found before anything runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::outputs::same_file;
use crate::redub::{RedubArgs, common_options};

/// The files a folder is scanned for (any case).
pub const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "mov", "mkv", "webm", "avi", "m4v"];

/// One video to re-dub and its outputs, (format, path), in the order of --formats.
#[derive(Debug)]
pub struct Video {
    pub input: PathBuf,
    pub outputs: Vec<(String, PathBuf)>,
}

impl Video {
    /// Done by an earlier run: every output is there (outputs appear only by renaming a
    /// complete file) and not older than the video.
    pub fn is_done(&self) -> bool {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let Some(input) = modified(&self.input) else {
            return false;
        };
        self.outputs
            .iter()
            .all(|(_, out)| out.is_file() && modified(out).is_some_and(|t| t >= input))
    }
}

fn is_video(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| e.eq_ignore_ascii_case(v)))
}

/// The videos in `dir` (with `sub`, their folder below the one given), sorted; with
/// `recursive` those of its sub-folders too, except `out_dir`. Hidden files (the temporary
/// outputs among them) and symlinked folders are passed over.
fn scan(
    dir: &Path,
    sub: &Path,
    recursive: bool,
    out_dir: &Path,
    found: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<()> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        entries.push((e.path(), e.file_type().map(|t| t.is_dir()).unwrap_or(false)));
    }
    entries.sort();
    for (path, is_dir) in entries {
        let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
            continue;
        };
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if is_dir {
            if recursive && !same_file(&path, out_dir) {
                scan(&path, &sub.join(&name), recursive, out_dir, found)?;
            }
        } else if is_video(&path) && path.is_file() {
            found.push((path, sub.to_path_buf()));
        }
    }
    Ok(())
}

/// The video output format of --formats, and the others; at most one video format.
fn formats(a: &RedubArgs) -> Result<Vec<String>> {
    let mut f: Vec<String> = Vec::new();
    for x in &a.formats {
        if !f.contains(x) {
            f.push(x.clone());
        }
    }
    let videos: Vec<&String> = f
        .iter()
        .filter(|x| ["mp4", "mov", "mkv"].contains(&x.as_str()))
        .collect();
    if videos.len() > 1 {
        return Err(anyhow!(
            "--formats {}: give one video format (mp4, mov or mkv) with any of wav, mid, png",
            a.formats.join(",")
        ));
    }
    Ok(f)
}

/// Every video of the inputs with its outputs under `out_dir`; an error, before anything
/// runs, for a missing input, a folder without videos, two videos writing one file, or an
/// output that would be a video.
pub fn plan(a: &RedubArgs, out_dir: &Path) -> Result<Vec<Video>> {
    let formats = formats(a)?;
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(anyhow!(
            "--out-dir {} is a file: name a folder (it is made when missing)",
            out_dir.display()
        ));
    }
    let mut found = Vec::new();
    for input in &a.inputs {
        if input.is_dir() {
            if same_file(input, out_dir) {
                return Err(anyhow!(
                    "--out-dir {} is the folder being re-dubbed: choose another folder",
                    out_dir.display()
                ));
            }
            let before = found.len();
            scan(input, Path::new(""), a.recursive, out_dir, &mut found)?;
            if found.len() == before {
                return Err(anyhow!(
                    "no videos ({}) in {}{}",
                    VIDEO_EXTENSIONS.join(", "),
                    input.display(),
                    if a.recursive {
                        ""
                    } else {
                        " (--recursive looks in its sub-folders)"
                    }
                ));
            }
        } else if input.is_file() {
            found.push((input.clone(), PathBuf::new()));
        } else {
            return Err(anyhow!("{}: no such video or folder", input.display()));
        }
    }
    let mut videos: Vec<Video> = Vec::new();
    let mut writers: HashMap<PathBuf, PathBuf> = HashMap::new();
    for (input, sub) in found {
        // A video given twice (by name and in its folder) is re-dubbed once.
        if videos.iter().any(|v| same_file(&v.input, &input)) {
            continue;
        }
        // Flags that are wrong for every video fail here, not once per video.
        common_options(a, &input)?;
        let stem = input.file_stem().unwrap_or_default().to_os_string();
        let mut outputs = Vec::new();
        for f in &formats {
            let mut name = stem.clone();
            name.push(format!(".{f}"));
            let out = out_dir.join(&sub).join(name);
            if same_file(&out, &input) {
                return Err(anyhow!(
                    "{} would be written over its video: choose another --out-dir",
                    out.display()
                ));
            }
            if let Some(other) = writers.insert(out.clone(), input.clone()) {
                return Err(anyhow!(
                    "{} and {} would both write {}: rename one, or re-dub them in separate runs",
                    other.display(),
                    input.display(),
                    out.display()
                ));
            }
            outputs.push((f.clone(), out));
        }
        videos.push(Video { input, outputs });
    }
    Ok(videos)
}
