// SPDX-License-Identifier: MPL-2.0
//! A keyboard at any turn in the frame: the view that lies it level, and the search over
//! quarter turns and tilts.

use super::runs::{regular_runs, slice_dark_runs, slice_threshold};
use super::{DetectParams, Detection, GrayImage, MIN_FRAME, detect};

/// Clockwise turn (degrees, `[0, 360)`) of a keyboard in the frame: 0 upright (A0 at the left,
/// back of the keys up), 90 A0 at the top, 180 upside down (the pianist's view from the far
/// side), 270 A0 at the bottom; oblique views add a few degrees. From the corners: the mean
/// direction of the back and front edges, A0 to C8.
pub fn angle_of(corners: &[[f64; 2]; 4]) -> f64 {
    let [tl, tr, br, bl] = *corners;
    let dx = (tr[0] - tl[0]) + (br[0] - bl[0]);
    let dy = (tr[1] - tl[1]) + (br[1] - bl[1]);
    dy.atan2(dx).to_degrees().rem_euclid(360.0)
}

/// The nearest quarter turn (0, 90, 180, 270) of an angle in degrees.
pub fn quarter_of(angle: f64) -> u16 {
    ((angle.rem_euclid(360.0) / 90.0).round() as u16 % 4) * 90
}

/// An upright view of a frame whose keyboard is turned by `angle` degrees clockwise: the view
/// is the frame turned back by `angle` about its centre, on a canvas holding all of it.
/// Coordinates are continuous (pixel `i` covers `[i, i + 1)`), as in [`Detection::corners`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Turn {
    cos: f64,
    sin: f64,
    src_c: [f64; 2],
    view_c: [f64; 2],
    view_w: usize,
    view_h: usize,
}

impl Turn {
    pub(super) fn new(angle: f64, w: usize, h: usize) -> Turn {
        let a = angle.to_radians();
        let (mut sin, mut cos) = a.sin_cos();
        // Exact quarter turns stay exact (pixels map onto pixels).
        for v in [&mut sin, &mut cos] {
            if v.abs() < 1e-12 {
                *v = 0.0;
            }
        }
        let (wf, hf) = (w as f64, h as f64);
        let view_w = ((wf * cos.abs() + hf * sin.abs()) - 1e-6).ceil().max(1.0) as usize;
        let view_h = ((wf * sin.abs() + hf * cos.abs()) - 1e-6).ceil().max(1.0) as usize;
        Turn {
            cos,
            sin,
            src_c: [wf / 2.0, hf / 2.0],
            view_c: [view_w as f64 / 2.0, view_h as f64 / 2.0],
            view_w,
            view_h,
        }
    }

    /// A view point in the frame.
    pub(super) fn to_src(self, p: [f64; 2]) -> [f64; 2] {
        let (x, y) = (p[0] - self.view_c[0], p[1] - self.view_c[1]);
        [
            self.src_c[0] + self.cos * x - self.sin * y,
            self.src_c[1] + self.sin * x + self.cos * y,
        ]
    }

    /// Fill `row` with view row `y` (nearest pixel; 0 outside the frame).
    pub(super) fn sample_row(&self, img: &GrayImage, y: usize, row: &mut [u8]) {
        let [x0, y0] = self.to_src([0.5, y as f64 + 0.5]);
        let (w, h) = (img.width as f64, img.height as f64);
        for (i, o) in row.iter_mut().enumerate() {
            let (sx, sy) = (x0 + self.cos * i as f64, y0 + self.sin * i as f64);
            *o = if sx >= 0.0 && sy >= 0.0 && sx < w && sy < h {
                img.at(sx as usize, sy as usize)
            } else {
                0
            };
        }
    }

    /// The whole view (bilinear; 0 outside the frame), rows packed.
    pub(super) fn warp(&self, img: &GrayImage, out: &mut Vec<u8>) {
        out.clear();
        out.resize(self.view_w * self.view_h, 0);
        let (wl, hl) = ((img.width - 1) as f64, (img.height - 1) as f64);
        for (y, row) in out.chunks_exact_mut(self.view_w).enumerate() {
            let [x0, y0] = self.to_src([0.5, y as f64 + 0.5]);
            for (i, o) in row.iter_mut().enumerate() {
                let sx = x0 + self.cos * i as f64 - 0.5;
                let sy = y0 + self.sin * i as f64 - 0.5;
                if !(sx >= 0.0 && sy >= 0.0 && sx <= wl && sy <= hl) {
                    continue;
                }
                let (xi, yi) = (sx as usize, sy as usize);
                let (x1, y1) = ((xi + 1).min(img.width - 1), (yi + 1).min(img.height - 1));
                let fx = ((sx - xi as f64) * 256.0) as u32;
                let fy = ((sy - yi as f64) * 256.0) as u32;
                let top = img.at(xi, yi) as u32 * (256 - fx) + img.at(x1, yi) as u32 * fx;
                let bot = img.at(xi, y1) as u32 * (256 - fx) + img.at(x1, y1) as u32 * fx;
                *o = ((top * (256 - fy) + bot * fy + (1 << 15)) >> 16) as u8;
            }
        }
    }

    /// How strongly the view shows a row of black keys: the best sum, over five neighbouring
    /// sampled rows, of regular dark runs (as [`find_band`] scores rows), from about 120 rows.
    pub(super) fn band_score(&self, img: &GrayImage) -> usize {
        let wmin = (self.view_w / 400).max(2);
        let wmax = (self.view_w / 25).max(wmin + 2);
        let step = (self.view_h / 120).max(1);
        let mut row = vec![0u8; self.view_w];
        let counts: Vec<usize> = (0..self.view_h)
            .step_by(step)
            .map(|y| {
                self.sample_row(img, y, &mut row);
                let (thr, lo, hi) = slice_threshold(&row);
                if hi as i32 - lo as i32 > 60 {
                    regular_runs(&slice_dark_runs(&row, thr, wmin, wmax)).min(60)
                } else {
                    0
                }
            })
            .collect();
        counts
            .windows(5.min(counts.len()).max(1))
            .map(|w| w.iter().sum())
            .max()
            .unwrap_or(0)
    }
}

/// [`detect`] in the view of `img` turned back by `angle` degrees (the keyboard's clockwise
/// turn in the frame); corners in frame pixels. `scratch` holds the view.
pub fn detect_turned(
    img: &GrayImage,
    params: &DetectParams,
    angle: f64,
    scratch: &mut Vec<u8>,
) -> Option<Detection> {
    if !img.is_valid() {
        return None;
    }
    if angle.rem_euclid(360.0).abs() < 1e-9 {
        return detect(img, params);
    }
    let turn = Turn::new(angle, img.width, img.height);
    turn.warp(img, scratch);
    let view = GrayImage {
        data: scratch,
        width: turn.view_w,
        height: turn.view_h,
        stride: turn.view_w,
    };
    let d = detect(&view, params)?;
    Some(Detection {
        corners: d.corners.map(|p| turn.to_src(p)),
        ..d
    })
}

/// Tilts tried first (degrees): oblique cameras turn the keyboard by a few degrees.
pub(super) const TILTS: [f64; 9] = [0.0, -2.5, 2.5, -5.0, 5.0, -7.5, 7.5, -10.0, 10.0];

/// Find the keyboard whatever its turn in the frame. `quarter`: the turn if known (0, 90, 180
/// or 270; a tilt is still searched for around it), else every one is tried.
///
/// Rows of black keys show best in the view turned so the keyboard lies level: the turn (a
/// quarter turn and a tilt) comes from how strongly sampled rows show black keys. That
/// score cannot tell a keyboard from the same turned half round (the black keys' pattern of
/// twos and threes reads the same both ways), so [`detect`] runs in both views: only the one
/// with the back of the keys up finds the black keys' ends, the back edge and the front edge
/// where they belong, and the more confident detection wins. Returns it with the view's turn
/// (degrees, for [`detect_turned`]).
pub fn detect_any(
    img: &GrayImage,
    params: &DetectParams,
    quarter: Option<u16>,
    scratch: &mut Vec<u8>,
) -> Option<(Detection, f64)> {
    if !img.is_valid() || img.width < MIN_FRAME.0 || img.height < MIN_FRAME.1 {
        return None;
    }
    let bases: Vec<f64> = match quarter {
        Some(q) => vec![(q % 360) as f64],
        None => vec![0.0, 90.0],
    };
    // Half turns score alike: score 0 and 90 (or the given quarter) over the tilts.
    let score = |a: f64| Turn::new(a, img.width, img.height).band_score(img);
    let mut best: Option<(usize, f64)> = None;
    for &b in &bases {
        let level = score(b);
        // A tilt must beat the level view clearly: upright videos stay exactly upright.
        let mut local = (level, b);
        for &t in &TILTS[1..] {
            let s = score(b + t);
            if s as f64 > local.0 as f64 * 1.1 && s > local.0 {
                local = (s, b + t);
            }
        }
        if local.1 != b {
            for dt in [1.25, 0.6] {
                let c = local.1;
                for a in [c - dt, c + dt] {
                    let s = score(a);
                    if s > local.0 {
                        local = (s, a);
                    }
                }
            }
        }
        if best.is_none_or(|x| local.0 > x.0) {
            best = Some(local);
        }
    }
    let (_, angle) = best?;
    let opposite = match quarter {
        Some(_) => None,
        None => Some(angle + 180.0),
    };
    let mut found: Option<(Detection, f64)> = None;
    for a in std::iter::once(angle).chain(opposite) {
        if let Some(d) = detect_turned(img, params, a, scratch)
            && found.is_none_or(|f| d.confidence > f.0.confidence)
        {
            found = Some((d, a.rem_euclid(360.0)));
        }
    }
    found
}
