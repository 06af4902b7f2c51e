// SPDX-License-Identifier: MPL-2.0
//! Finding a default SoundFont the way fluiddec does: XDG data dirs, `sounds/sf2` and
//! `soundfonts`. Only SF2 is usable (the synthesiser reads SF2, not SF3).

use std::path::{Path, PathBuf};

/// Debian package that ships a General MIDI SoundFont in the default place.
pub const SOUNDFONT_PACKAGE: &str = "fluid-soundfont-gm";

/// Preferred file names, tried first in every directory.
pub const PREFERRED: [&str; 3] = ["FluidR3_GM.sf2", "default-GM.sf2", "TimGM6mb.sf2"];

/// Directories searched, in order: `$XDG_DATA_HOME` (default ~/.local/share), then
/// `$XDG_DATA_DIRS` (default /usr/local/share:/usr/share), each with `sounds/sf2` and `soundfonts`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut bases = Vec::new();
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(h) => bases.push(PathBuf::from(h)),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                bases.push(Path::new(&home).join(".local/share"));
            }
        }
    }
    let dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".to_string());
    bases.extend(dirs.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
    bases
        .iter()
        .flat_map(|b| [b.join("sounds/sf2"), b.join("soundfonts")])
        .collect()
}

/// The first SF2 found: preferred names in each directory, then any `*.sf2` there (sorted).
pub fn find_default() -> Option<PathBuf> {
    find_in(&search_dirs())
}

pub fn find_in(dirs: &[PathBuf]) -> Option<PathBuf> {
    for d in dirs {
        for name in PREFERRED {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        if let Ok(rd) = std::fs::read_dir(d) {
            let mut all: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("sf2"))
                })
                .collect();
            all.sort();
            if let Some(p) = all.into_iter().next() {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_known_names_then_any_sf2() {
        let tmp = std::env::temp_dir().join(format!("pianola-sf-{}", std::process::id()));
        let a = tmp.join("a");
        let b = tmp.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("zzz.sf3"), b"x").unwrap();
        std::fs::write(b.join("other.sf2"), b"x").unwrap();
        std::fs::write(b.join("FluidR3_GM.sf2"), b"x").unwrap();
        let missing = tmp.join("missing");
        assert_eq!(find_in(&[missing.clone(), a.clone()]), None);
        assert_eq!(
            find_in(&[a.clone(), b.clone()]),
            Some(b.join("FluidR3_GM.sf2"))
        );
        std::fs::remove_file(b.join("FluidR3_GM.sf2")).unwrap();
        assert_eq!(find_in(&[a, b.clone()]), Some(b.join("other.sf2")));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
