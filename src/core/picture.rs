// SPDX-License-Identifier: MPL-2.0
//! Piano-roll pictures, to look at a transcription: time runs left to right (one column per
//! frame, or per few frames for long clips), keys bottom (lowest) to top, a few pixels each.

use thiserror::Error;

use super::roll::VelocityFrame;

/// Widest picture drawn; longer clips put several frames in a column (the strongest wins).
pub const MAX_COLUMNS: usize = 8000;

#[derive(Debug, Error)]
pub enum PictureError {
    #[error("nothing to draw: no frames")]
    Empty,
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// An RGBA picture.
#[derive(Clone, Debug)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Picture {
    /// `n` frames of `keys` keys, `row` pixels a key, high keys up: the colour of each column
    /// (its range of frames) and key from `color`, None leaving the background.
    fn draw(
        n: usize,
        keys: usize,
        row: u32,
        color: impl Fn(std::ops::Range<usize>, usize) -> Option<[u8; 3]>,
    ) -> Result<Picture, PictureError> {
        if n == 0 || keys == 0 {
            return Err(PictureError::Empty);
        }
        let step = per_column(n);
        let columns = n.div_ceil(step);
        let mut pic = Picture::new(columns, keys, row);
        for x in 0..columns {
            let range = x * step..((x + 1) * step).min(n);
            for k in 0..keys {
                if let Some(c) = color(range.clone(), k) {
                    pic.put(x, k, keys, row, c);
                }
            }
        }
        Ok(pic)
    }

    fn new(columns: usize, keys: usize, row: u32) -> Picture {
        let (width, height) = (columns as u32, keys as u32 * row);
        let mut rgba = vec![0u8; (width * height * 4) as usize];
        for px in rgba.chunks_exact_mut(4) {
            px.copy_from_slice(&[16, 16, 20, 255]);
        }
        Picture {
            width,
            height,
            rgba,
        }
    }

    fn put(&mut self, x: usize, key: usize, keys: usize, row: u32, c: [u8; 3]) {
        let top = (keys - 1 - key) as u32 * row;
        for y in top..top + row {
            let o = ((y * self.width + x as u32) * 4) as usize;
            self.rgba[o..o + 3].copy_from_slice(&c);
        }
    }

    /// The picture as a PNG file's bytes.
    pub fn encode_png(&self) -> Result<Vec<u8>, PictureError> {
        let size =
            tiny_skia::IntSize::from_wh(self.width, self.height).ok_or(PictureError::Empty)?;
        let pm = tiny_skia::Pixmap::from_vec(self.rgba.clone(), size)
            .ok_or_else(|| PictureError::Png("bad size".into()))?;
        pm.encode_png()
            .map_err(|e| PictureError::Png(e.to_string()))
    }
}

/// Frames per column for `n` frames.
fn per_column(n: usize) -> usize {
    n.div_ceil(MAX_COLUMNS).max(1)
}

/// A transcription: the key-down probability as grey, the decided notes over it in amber
/// (brighter when louder) with the struck frame marked white. `notes[i]` belongs to
/// `probs[i]` (None: no decision for that frame). `row`: pixels per key.
pub fn transcription(
    probs: &[Vec<f32>],
    notes: &[Option<VelocityFrame>],
    keys: usize,
    row: u32,
) -> Result<Picture, PictureError> {
    Picture::draw(probs.len(), keys, row, |range, k| {
        let p = range
            .clone()
            .map(|i| probs[i].get(k).copied().unwrap_or(0.0))
            .fold(0.0f32, f32::max)
            .clamp(0.0, 1.0);
        let mut c = [
            16 + (p * 110.0) as u8,
            16 + (p * 110.0) as u8,
            20 + (p * 110.0) as u8,
        ];
        let mut vel = 0u8;
        let mut struck = false;
        for i in range {
            if let Some(Some(n)) = notes.get(i) {
                vel = vel.max(n.frame.get(k).copied().unwrap_or(0));
                struck |= k < n.keys() && n.frame[k] > 0 && n.is_struck(k);
            }
        }
        if vel > 0 {
            let a = 0.55 + 0.45 * (vel as f32 / 127.0);
            c = [(255.0 * a) as u8, (170.0 * a) as u8, (40.0 * a) as u8];
        }
        if struck {
            c = [250, 250, 250];
        }
        Some(c)
    })
}

/// Estimate against reference, frame by frame: both white, reference only red, estimate
/// only blue.
pub fn comparison(
    estimate: &[Vec<bool>],
    reference: &[Vec<bool>],
    keys: usize,
    row: u32,
) -> Result<Picture, PictureError> {
    let at = |v: &Vec<bool>, k: usize| v.get(k).copied().unwrap_or(false);
    Picture::draw(
        estimate.len().min(reference.len()),
        keys,
        row,
        |range, k| {
            let e = range.clone().any(|i| at(&estimate[i], k));
            let r = range.clone().any(|i| at(&reference[i], k));
            match (e, r) {
                (true, true) => Some([240, 240, 240]),
                (false, true) => Some([220, 40, 40]),
                (true, false) => Some([60, 120, 255]),
                _ => None,
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(p: &Picture, x: u32, y: u32) -> [u8; 3] {
        let o = ((y * p.width + x) * 4) as usize;
        [p.rgba[o], p.rgba[o + 1], p.rgba[o + 2]]
    }

    #[test]
    fn transcription_marks_notes_and_strikes_with_high_keys_up() {
        let keys = 88;
        let probs: Vec<Vec<f32>> = (0..4)
            .map(|i| {
                let mut v = vec![0.0; keys];
                v[87] = if i > 0 { 0.9 } else { 0.0 };
                v
            })
            .collect();
        let mut n = VelocityFrame::silent(keys, true);
        n.frame[87] = 100;
        let mut struck = n.clone();
        if let Some(o) = struck.onset.as_mut() {
            o[87] = 100;
        }
        let notes = vec![None, Some(struck), Some(n), None];
        let pic = transcription(&probs, &notes, keys, 2).unwrap();
        assert_eq!((pic.width, pic.height), (4, 176));
        // Key 87 is the top row.
        assert_eq!(px(&pic, 1, 0), [250, 250, 250]);
        assert_eq!(
            px(&pic, 2, 1)[2],
            (40.0 * (0.55 + 0.45 * 100.0 / 127.0)) as u8
        );
        // Probability without a note: grey; nothing: background.
        let g = px(&pic, 3, 0);
        assert!(g[0] == g[1] && g[0] > 100, "{g:?}");
        assert_eq!(px(&pic, 0, 0), [16, 16, 20]);
        assert_eq!(px(&pic, 0, 175), [16, 16, 20]);
        assert!(pic.encode_png().unwrap().starts_with(b"\x89PNG"));
        assert!(transcription(&[], &[], keys, 2).is_err());
    }

    #[test]
    fn long_clips_fold_frames_into_columns() {
        let n = MAX_COLUMNS * 2 + 1;
        let est = vec![vec![false; 88]; n];
        let mut reference = est.clone();
        reference[n - 1][0] = true;
        let pic = comparison(&est, &reference, 88, 1).unwrap();
        // Three frames a column: 5334 columns, the last frame alone in the last one.
        assert_eq!(pic.width, 5334);
        assert_eq!(px(&pic, 5333, 87), [220, 40, 40]);
        assert_eq!(px(&pic, 5332, 87), [16, 16, 20]);
    }
}
