// SPDX-License-Identifier: MPL-2.0
//! Recorded clips for training and scoring: real videos with their MIDI, and `pianola dataset`
//! folders.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gstpianola::core::clip::ClipSpec;
use gstpianola::core::midi::smf_to_notes;
use gstpianola::core::notes::{Nanos, SECOND, retime};
use gstpianola::core::strip::{HEIGHT, WIDTH};

use crate::render::{Crop, Strip, decode_strips};
use crate::trainset::ClipWindows;

/// The reference notes of a clip on its video's stream clock.
pub fn reference(c: &ClipSpec) -> Result<Vec<gstpianola::core::notes::Note>> {
    let bytes = std::fs::read(&c.midi).with_context(|| format!("reading {}", c.midi.display()))?;
    let notes = smf_to_notes(&bytes).with_context(|| format!("reading {}", c.midi.display()))?;
    Ok(retime(&notes, c.scale, c.offset))
}

/// A clip's strips, from `cache` when it holds them (decoded once, then read back).
pub fn strips(c: &ClipSpec, cache: Option<&Path>) -> Result<Vec<Strip>> {
    let crop = Crop {
        rotate: c.rotate,
        corners: c.corners,
    };
    let (from, to) = c.range_ns();
    let Some(dir) = cache else {
        return decode_strips(&c.video, &crop, from, to);
    };
    // Keyed by the video's bytes, not its path or modification time: a copy of the same
    // data (another checkout, a fresh sync of shared/) finds the strips already decoded.
    let content = content_hash(&c.video)?;
    let key = format!("{content:016x}|{}|{:?}|{from}|{to}", c.rotate, c.corners);
    let file = dir.join(format!("{}-{:016x}.strips", c.name(), fnv1a(&key)));
    if let Ok(v) = read_strips(&file) {
        return Ok(v);
    }
    let v = decode_strips(&c.video, &crop, from, to)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_strips(&file, &v).with_context(|| format!("writing {}", file.display()))?;
    Ok(v)
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a_bytes(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn fnv1a(s: &str) -> u64 {
    fnv1a_bytes(FNV_START, s.as_bytes())
}

/// FNV-1a of a file's bytes and length (a 150 MB folder of clips takes a fraction of a
/// second; decoding it takes minutes).
fn content_hash(path: &Path) -> Result<u64> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut h, mut len) = (FNV_START, 0u64);
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h = fnv1a_bytes(h, &buf[..n]);
        len += n as u64;
    }
    Ok(fnv1a_bytes(h, &len.to_le_bytes()))
}

const MAGIC: &[u8; 8] = b"PSTRIPS1";

/// Written to a temporary file and renamed, so a stopped run leaves no half cache.
fn write_strips(path: &Path, strips: &[Strip]) -> Result<()> {
    let tmp = path.with_extension("strips.partial");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    f.write_all(MAGIC)?;
    f.write_all(&(strips.len() as u64).to_le_bytes())?;
    for s in strips {
        f.write_all(&s.time.to_le_bytes())?;
        f.write_all(&[s.gap as u8])?;
        f.write_all(&(s.luma.len() as u64).to_le_bytes())?;
        f.write_all(&s.luma)?;
    }
    f.into_inner().map_err(|e| anyhow!("{e}"))?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn read_strips(path: &Path) -> Result<Vec<Strip>> {
    let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
    let u64_at = |f: &mut std::io::BufReader<std::fs::File>| -> Result<u64> {
        let mut b = [0u8; 8];
        f.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    };
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(anyhow!("not a strip cache"));
    }
    let n = u64_at(&mut f)? as usize;
    let mut v = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let time = u64_at(&mut f)?;
        let mut gap = [0u8; 1];
        f.read_exact(&mut gap)?;
        let len = u64_at(&mut f)? as usize;
        if len != WIDTH * HEIGHT {
            return Err(anyhow!("strip of {len} bytes in the cache"));
        }
        let mut luma = vec![0u8; len];
        f.read_exact(&mut luma)?;
        v.push(Strip {
            time,
            gap: gap[0] != 0,
            luma,
        });
    }
    Ok(v)
}

/// A clip's training windows: strips (padding before the lock left out) labelled with the
/// reference at each strip's stream time, masked keys and ignored ranges applied. A clip
/// whose keyboard is never found, or whose MIDI ends before the used part of the video, is
/// an error naming the file.
pub fn windows(c: &ClipSpec, cache: Option<&Path>) -> Result<ClipWindows> {
    let notes = reference(c)?;
    let strips: Vec<Strip> = strips(c, cache)?.into_iter().filter(|s| !s.gap).collect();
    if strips.is_empty() {
        return Err(anyhow!(
            "{}: pianocrop never found the keyboard; give its corners (corners=...) and rotation",
            c.video.display()
        ));
    }
    let first = strips.first().map(|s| s.time).unwrap_or(0);
    let last = strips.last().map(|s| s.time).unwrap_or(0);
    let midi_end = notes.iter().map(|n| n.end).max().unwrap_or(0);
    let span = last.saturating_sub(first);
    if notes.is_empty() || (midi_end < first + span / 2) {
        return Err(anyhow!(
            "{}: its MIDI {} ends at {:.1} s of video time, before most of the video ({:.1}-{:.1} s): check scale and offset",
            c.video.display(),
            c.midi.display(),
            midi_end as f64 / SECOND as f64,
            first as f64 / SECOND as f64,
            last as f64 / SECOND as f64
        ));
    }
    let secs = |t: Nanos| t as f64 / SECOND as f64;
    if !strips.iter().any(|s| c.uses(secs(s.time))) {
        return Err(anyhow!(
            "{}: no strip left after the ignored ranges",
            c.video.display()
        ));
    }
    let weights = strips.iter().map(|s| c.key_weights(secs(s.time))).collect();
    let usable = strips.iter().map(|s| c.uses(secs(s.time))).collect();
    ClipWindows::new(
        strips.into_iter().map(|s| (s.time, s.luma)).collect(),
        &notes,
    )
    .and_then(|w| w.with_masks(weights, usable))
    .map_err(|e| anyhow!("{}: {e}", c.video.display()))
}

/// The clips of a manifest file (the MTA layout, see [`gstpianola::core::clip::parse_manifest`]).
pub fn manifest(path: &Path) -> Result<Vec<ClipSpec>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let clips = gstpianola::core::clip::parse_manifest(&text, dir, &path.display().to_string())?;
    for c in &clips {
        for f in [&c.video, &c.midi] {
            if !f.is_file() {
                return Err(anyhow!(
                    "{}: {} listed but missing",
                    path.display(),
                    f.display()
                ));
            }
        }
    }
    Ok(clips)
}

/// One clip of a `pianola dataset` folder, from its .json labels.
pub struct LabelledClip {
    pub name: String,
    pub video: PathBuf,
    pub truth_midi: PathBuf,
    pub held_out: bool,
}

/// The clips of a `pianola dataset` folder, in name order.
pub fn dataset_labels(dir: &Path) -> Result<Vec<LabelledClip>> {
    let mut labels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    labels.sort();
    let mut out = Vec::new();
    for l in labels {
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&l)?)?;
        let get = |k: &str| j.get(k).and_then(|v| v.as_str()).map(|s| dir.join(s));
        if let (Some(video), Some(truth_midi)) = (get("video"), get("truth_midi")) {
            out.push(LabelledClip {
                name: l
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default(),
                video,
                truth_midi,
                held_out: j.get("split").and_then(|v| v.as_str()) == Some("held-out"),
            });
        }
    }
    Ok(out)
}

/// The clips of a `pianola dataset` folder, whole; held-out clips are refused.
pub fn dataset_clips(dir: &Path) -> Result<Vec<ClipSpec>> {
    dataset_labels(dir)?
        .into_iter()
        .map(|c| {
            if c.held_out {
                return Err(anyhow!(
                    "{} is a held-out clip: train on the dataset's train/ folder only",
                    c.video.display()
                ));
            }
            Ok(ClipSpec::whole(c.video, c.truth_midi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_follows_the_bytes_not_the_path_or_time() {
        let dir = std::env::temp_dir().join(format!("pianola-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a.mp4"), dir.join("b.mp4"), dir.join("c.mp4"));
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&a, &bytes).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&b, &bytes).unwrap();
        let mut other = bytes.clone();
        other[2_500_000] ^= 1;
        std::fs::write(&c, &other).unwrap();
        let h = |p: &Path| content_hash(p).unwrap();
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
        assert!(content_hash(&dir.join("missing.mp4")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
