// SPDX-License-Identifier: MPL-2.0
//! Recorded clips with a reference: a video, its MIDI, how the MIDI maps to the video's stream
//! time, which part to use, how the keyboard lies in the picture, and which labels to ignore
//! (keys that sent no MIDI, time ranges of broken keys). Parsed from the `--real` syntax of
//! `pianola train` and from a data set manifest (the MTA `MANIFEST.tsv`).

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::notes::{Nanos, SECOND};
use super::strip::{KEYS, LOWEST_NOTE};

#[derive(Debug, Error, PartialEq)]
pub enum ClipError {
    #[error("\"{part}\" in \"{spec}\": write key=value")]
    NotKeyValue { part: String, spec: String },
    #[error("{key}={value}: {why}")]
    BadValue {
        key: String,
        value: String,
        why: String,
    },
    #[error(
        "unknown key {key} in \"{spec}\" (video, midi, scale, offset, from, to, weight, rotate, corners, group, mask-keys)"
    )]
    UnknownKey { key: String, spec: String },
    #[error("\"{0}\" needs video=... and midi=...")]
    Incomplete(String),
    #[error("{file} line {line}: {why}")]
    Manifest {
        file: String,
        line: usize,
        why: String,
    },
}

/// A key whose labels are ignored (neither pressed nor released), for all of the clip or
/// between two video times (seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMask {
    pub pitch: u8,
    pub from: f64,
    pub to: f64,
}

/// A real or rendered clip with its reference and the part of it to use.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    pub video: PathBuf,
    pub midi: PathBuf,
    /// video stream time = scale * midi time + offset (seconds).
    pub scale: f64,
    pub offset: f64,
    /// The part used, in video stream time (seconds).
    pub from: f64,
    pub to: f64,
    /// Sampling weight per frame, against the other clips.
    pub weight: f64,
    /// Clockwise rotation that makes the picture a player's view (0, 90, 180, 270).
    pub rotate: u32,
    /// Keyboard corners in the rotated picture (top-left, top-right, bottom-right,
    /// bottom-left; left = A0), or None for pianocrop to find them.
    pub corners: Option<[[f64; 2]; 4]>,
    /// Who or what the clip belongs to (a pianist): validation holds whole groups apart.
    pub group: String,
    pub masked_keys: Vec<KeyMask>,
    /// Video time ranges (seconds) whose frames are left out.
    pub ignore: Vec<(f64, f64)>,
}

fn num(key: &str, v: &str) -> Result<f64, ClipError> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| !x.is_nan())
        .ok_or_else(|| ClipError::BadValue {
            key: key.into(),
            value: v.into(),
            why: "not a number".into(),
        })
}

/// "x0,y0,x1,y1,x2,y2,x3,y3" (any of , ; or space between numbers).
pub fn parse_corners(s: &str) -> Result<[[f64; 2]; 4], String> {
    let v: Vec<f64> = s
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<f64>().map_err(|_| format!("{p} is not a number")))
        .collect::<Result<_, _>>()?;
    if v.len() != 8 || v.iter().any(|x| !x.is_finite()) {
        return Err(format!(
            "give 8 finite numbers x0,y0,...,x3,y3, not {}",
            v.len()
        ));
    }
    Ok([[v[0], v[1]], [v[2], v[3]], [v[4], v[5]], [v[6], v[7]]])
}

/// "a-b;c-d" (seconds) ranges.
fn parse_ranges(s: &str) -> Result<Vec<(f64, f64)>, String> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (a, b) = p
                .split_once('-')
                .ok_or_else(|| format!("range {p}: write from-to in seconds"))?;
            let (a, b) = (a.trim().parse::<f64>(), b.trim().parse::<f64>());
            match (a, b) {
                (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                _ => Err(format!("range {p}: write from-to in seconds, from <= to")),
            }
        })
        .collect()
}

/// "21,107,108,65@23.5-25.0": keys masked for the whole clip, or between two times.
pub fn parse_key_masks(s: &str) -> Result<Vec<KeyMask>, String> {
    s.split([',', ';', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (key, range) = match p.split_once('@') {
                Some((k, r)) => (k, Some(r)),
                None => (p, None),
            };
            let pitch: u8 = key
                .parse()
                .ok()
                .filter(|k| (LOWEST_NOTE..LOWEST_NOTE + KEYS as u8).contains(k))
                .ok_or_else(|| format!("key {key}: give a MIDI note 21..=108"))?;
            let (from, to) = match range {
                Some(r) => *parse_ranges(r)?
                    .first()
                    .ok_or_else(|| format!("{p}: empty range"))?,
                None => (0.0, f64::INFINITY),
            };
            Ok(KeyMask { pitch, from, to })
        })
        .collect()
}

impl ClipSpec {
    /// All of a clip whose MIDI is on the video's clock.
    pub fn whole(video: PathBuf, midi: PathBuf) -> ClipSpec {
        ClipSpec {
            video,
            midi,
            scale: 1.0,
            offset: 0.0,
            from: 0.0,
            to: f64::INFINITY,
            weight: 1.0,
            rotate: 0,
            corners: None,
            group: String::new(),
            masked_keys: Vec::new(),
            ignore: Vec::new(),
        }
    }

    /// "video=V,midi=M[,scale=A][,offset=B][,from=S][,to=S][,weight=W][,rotate=R]
    /// [,corners=x0;y0;...;y3][,group=G][,mask-keys=K;K@a-b]" (video_t = A * midi_t + B).
    pub fn parse(s: &str) -> Result<ClipSpec, ClipError> {
        let mut c = ClipSpec::whole(PathBuf::new(), PathBuf::new());
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| ClipError::NotKeyValue {
                part: part.into(),
                spec: s.into(),
            })?;
            let bad = |why: String| ClipError::BadValue {
                key: k.into(),
                value: v.into(),
                why,
            };
            match k.trim() {
                "video" => c.video = PathBuf::from(v.trim()),
                "midi" => c.midi = PathBuf::from(v.trim()),
                "scale" => c.scale = num(k, v)?,
                "offset" => c.offset = num(k, v)?,
                "from" => c.from = num(k, v)?,
                "to" => c.to = num(k, v)?,
                "weight" => c.weight = num(k, v)?.max(0.0),
                "rotate" => c.rotate = parse_rotation(v).map_err(bad)?,
                "corners" => c.corners = Some(parse_corners(v).map_err(bad)?),
                "group" => c.group = v.trim().to_string(),
                "mask-keys" => {
                    c.masked_keys = parse_key_masks(&v.replace(';', ",")).map_err(bad)?
                }
                _ => {
                    return Err(ClipError::UnknownKey {
                        key: k.into(),
                        spec: s.into(),
                    });
                }
            }
        }
        if c.video.as_os_str().is_empty() || c.midi.as_os_str().is_empty() {
            return Err(ClipError::Incomplete(s.into()));
        }
        Ok(c)
    }

    /// A short name: the video's file stem.
    pub fn name(&self) -> String {
        self.video
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    /// Whether the frame at video time `t` (seconds) is used at all.
    pub fn uses(&self, t: f64) -> bool {
        t >= self.from && t < self.to && !self.ignore.iter().any(|&(a, b)| t >= a && t < b)
    }

    /// Per key of the canonical keyboard (A0 up): 1.0 where the label at video time `t`
    /// counts, 0.0 where it is masked.
    pub fn key_weights(&self, t: f64) -> Vec<f32> {
        let mut w = vec![1.0f32; KEYS];
        for m in &self.masked_keys {
            if t >= m.from && t < m.to {
                w[(m.pitch - LOWEST_NOTE) as usize] = 0.0;
            }
        }
        w
    }

    /// `from..to` in nanoseconds.
    pub fn range_ns(&self) -> (Nanos, Nanos) {
        let ns = |s: f64| (s.max(0.0) * SECOND as f64).min(u64::MAX as f64) as Nanos;
        (ns(self.from), ns(self.to))
    }
}

fn parse_rotation(v: &str) -> Result<u32, String> {
    match v.trim() {
        "0" => Ok(0),
        "90" => Ok(90),
        "180" => Ok(180),
        "270" => Ok(270),
        other => Err(format!("rotate={other}: use 0, 90, 180 or 270")),
    }
}

/// The clips of a data set manifest in the MTA layout (`MANIFEST.tsv`: tab-separated with a
/// header; columns clip, pianist, corners_rot180, broken_keys, ignore_ranges_s; videos
/// `<clip>.mp4` and `<clip>.mid` beside it, MIDI already on the video's clock, the keyboard
/// upside down). A broken line is an error naming the file and line.
pub fn parse_manifest(text: &str, dir: &Path, file: &str) -> Result<Vec<ClipSpec>, ClipError> {
    let mut lines = text.lines().enumerate();
    let err = |line: usize, why: String| ClipError::Manifest {
        file: file.into(),
        line,
        why,
    };
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| err(1, "empty manifest".into()))?
        .1
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| err(1, format!("no column {name}")))
    };
    let (c_clip, c_pianist, c_corners) = (col("clip")?, col("pianist")?, col("corners_rot180")?);
    let (c_broken, c_ignore) = (col("broken_keys")?, col("ignore_ranges_s")?);
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| {
            f.get(c).copied().ok_or_else(|| {
                err(
                    i + 1,
                    format!("{} fields, expected {}", f.len(), header.len()),
                )
            })
        };
        let name = get(c_clip)?.trim();
        let mut c = ClipSpec::whole(
            dir.join(format!("{name}.mp4")),
            dir.join(format!("{name}.mid")),
        );
        c.rotate = 180;
        c.group = format!("pianist {}", get(c_pianist)?.trim());
        c.corners = Some(
            parse_corners(get(c_corners)?)
                .map_err(|e| err(i + 1, format!("corners_rot180: {e}")))?,
        );
        c.masked_keys =
            parse_key_masks(get(c_broken)?).map_err(|e| err(i + 1, format!("broken_keys: {e}")))?;
        c.ignore = parse_ranges(get(c_ignore)?)
            .map_err(|e| err(i + 1, format!("ignore_ranges_s: {e}")))?;
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_clip_syntax() {
        let c = ClipSpec::parse(
            "video=a.mp4,midi=a.mid,scale=1.001,offset=-6.145,from=0,to=85,weight=6,rotate=180,corners=1;2;3;4;5;6;7;8,group=p1,mask-keys=21;65@2-3",
        )
        .unwrap();
        assert_eq!(
            (c.scale, c.offset, c.to, c.weight, c.rotate),
            (1.001, -6.145, 85.0, 6.0, 180)
        );
        assert_eq!(c.corners.unwrap()[3], [7.0, 8.0]);
        assert_eq!(c.group, "p1");
        assert_eq!(c.key_weights(2.5)[0], 0.0);
        assert_eq!(c.key_weights(2.5)[65 - 21], 0.0);
        assert_eq!(c.key_weights(4.0)[65 - 21], 1.0);
        assert!(matches!(
            ClipSpec::parse("video=a.mp4"),
            Err(ClipError::Incomplete(_))
        ));
        assert!(matches!(
            ClipSpec::parse("video=a,midi=b,rotate=45"),
            Err(ClipError::BadValue { .. })
        ));
        assert!(matches!(
            ClipSpec::parse("video=a,midi=b,speed=2"),
            Err(ClipError::UnknownKey { .. })
        ));
    }

    #[test]
    fn parses_a_manifest_and_names_broken_lines() {
        let text = "clip\tpianist\tignore_ranges_s\tbroken_keys\tcorners_rot180\n\
                    p1_0_1\t1\t2.50-5.05;37.60-40.15\t21,107,108,65@23.5-25.0\t7.1,154.3,636.3,156.3,636.7,231.4,5.9,232.8\n";
        let v = parse_manifest(text, Path::new("/d"), "M.tsv").unwrap();
        assert_eq!(v.len(), 1);
        let c = &v[0];
        assert_eq!(c.video, PathBuf::from("/d/p1_0_1.mp4"));
        assert_eq!((c.rotate, c.group.as_str()), (180, "pianist 1"));
        assert_eq!(c.ignore, vec![(2.5, 5.05), (37.6, 40.15)]);
        assert!(!c.uses(3.0) && c.uses(6.0));
        assert_eq!(c.masked_keys.len(), 4);
        assert_eq!(c.key_weights(0.0).iter().filter(|&&w| w == 0.0).count(), 3);
        assert_eq!(c.key_weights(24.0).iter().filter(|&&w| w == 0.0).count(), 4);
        let broken =
            "clip\tpianist\tignore_ranges_s\tbroken_keys\tcorners_rot180\np2\t2\t\t21\t1,2,3\n";
        let e = parse_manifest(broken, Path::new("/d"), "M.tsv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("M.tsv line 2") && e.contains("corners_rot180"),
            "{e}"
        );
        let short = "clip\tpianist\tignore_ranges_s\tbroken_keys\tcorners_rot180\np2\t2\n";
        let e = parse_manifest(short, Path::new("/d"), "M.tsv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
