// SPDX-License-Identifier: MPL-2.0
//! Finding a piano keyboard in a top-view frame, and rectifying it to the canonical strip.
//!
//! Detection works on luma only. Black keys are found as dark, narrow, tall blobs standing in
//! a row on a bright background; their spacing pattern (groups of two and three) names each
//! one's pitch class, and which standard instrument (88, 76, 61 or 49 keys) fits the row names
//! the octaves. The keyboard's back edge is where the black keys start, its front edge where
//! the white keys end (found from the brightness of the white keys below the black ones). A
//! homography fitted to all of these points gives the four corners.
//!
//! The canonical strip is the 88-key keyboard: key `n` covers
//! [`crate::core::keyboard::canonical_span`] of its width; keys a smaller instrument lacks are
//! padded with [`PAD`].

use super::geometry::Homography;
use super::keyboard::Keyboard;

mod track;
pub use track::{KeyboardTracker, TrackEvent, TrackerConfig, fit_score};

/// BT.601 luma of one RGB pixel (integer weights 77, 150, 29).
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * r as u32 + 150 * g as u32 + 29 * b as u32) >> 8) as u8
}

/// Luma of packed RGBA pixels.
pub fn luma_rgba(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| luma(p[0], p[1], p[2]))
        .collect()
}

/// The smallest frame (width, height) a keyboard is looked for in.
pub const MIN_FRAME: (usize, usize) = (64, 16);

/// Luma of the canonical strip where the instrument has no keys.
pub const PAD: u8 = 16;

/// A borrowed 8-bit luma image.
#[derive(Clone, Copy, Debug)]
pub struct GrayImage<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

impl GrayImage<'_> {
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.stride + x]
    }

    pub fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.stride >= self.width
            && self.data.len() >= (self.height - 1) * self.stride + self.width
    }
}

/// A keyboard found in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Top-left, top-right, bottom-right, bottom-left, in image pixels (top = back of the
    /// keys, bottom = front edge of the white keys).
    pub corners: [[f64; 2]; 4],
    pub keyboard: Keyboard,
    /// 0..1: the share of the expected black keys that were found where the fit puts them.
    pub confidence: f32,
}

/// Precomputed resampling from a frame to the canonical strip (fixed point bilinear).
#[derive(Clone, Debug)]
pub struct Rectifier {
    out_w: usize,
    out_h: usize,
    /// Per output pixel: source offset of the top-left neighbour, and the 8-bit weights
    /// (fx, fy); `u32::MAX` for padding.
    map: Vec<(u32, u8, u8)>,
    src_w: usize,
    src_h: usize,
    src_stride: usize,
}

impl Rectifier {
    /// A map for frames of `src_w` x `src_h` (row stride `src_stride`) whose keyboard of type
    /// `keyboard` has `corners`, into an `out_w` x `out_h` canonical 88-key strip.
    pub fn new(
        corners: &[[f64; 2]; 4],
        keyboard: Keyboard,
        (src_w, src_h, src_stride): (usize, usize, usize),
        out_w: usize,
        out_h: usize,
    ) -> Option<Rectifier> {
        if src_w < 2 || src_h < 2 || out_w == 0 || out_h == 0 {
            return None;
        }
        let h = Homography::from_unit_square(corners)?;
        let (l, r) = keyboard.canonical_extent();
        let (l, r) = (l as f64, r as f64);
        let mut map = Vec::with_capacity(out_w * out_h);
        for y in 0..out_h {
            let v = (y as f64 + 0.5) / out_h as f64;
            for x in 0..out_w {
                let c = (x as f64 + 0.5) / out_w as f64;
                if c < l || c > r {
                    map.push((u32::MAX, 0, 0));
                    continue;
                }
                let u = (c - l) / (r - l);
                let [sx, sy] = h.apply([u, v]);
                let (sx, sy) = (sx - 0.5, sy - 0.5);
                if !(sx >= 0.0 && sy >= 0.0 && sx < (src_w - 1) as f64 && sy < (src_h - 1) as f64) {
                    map.push((u32::MAX, 0, 0));
                    continue;
                }
                let (x0, y0) = (sx as usize, sy as usize);
                let fx = ((sx - x0 as f64) * 256.0).min(255.0) as u8;
                let fy = ((sy - y0 as f64) * 256.0).min(255.0) as u8;
                map.push(((y0 * src_stride + x0) as u32, fx, fy));
            }
        }
        Some(Rectifier {
            out_w,
            out_h,
            map,
            src_w,
            src_h,
            src_stride,
        })
    }

    /// Whether this map was made for frames of this geometry.
    pub fn fits(&self, img: &GrayImage) -> bool {
        img.width == self.src_w && img.height == self.src_h && img.stride == self.src_stride
    }

    pub fn out_size(&self) -> (usize, usize) {
        (self.out_w, self.out_h)
    }

    /// Fill `out` (`out_w * out_h` bytes, rows packed) from `img`.
    pub fn rectify(&self, img: &GrayImage, out: &mut [u8]) {
        let s = self.src_stride;
        let d = img.data;
        for (o, &(off, fx, fy)) in out.iter_mut().zip(&self.map) {
            if off == u32::MAX {
                *o = PAD;
                continue;
            }
            let i = off as usize;
            let (fx, fy) = (fx as u32, fy as u32);
            let top = d[i] as u32 * (256 - fx) + d[i + 1] as u32 * fx;
            let bot = d[i + s] as u32 * (256 - fx) + d[i + s + 1] as u32 * fx;
            *o = ((top * (256 - fy) + bot * fy + (1 << 15)) >> 16) as u8;
        }
    }
}

/// What is known beforehand about the instrument (manual overrides).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DetectParams {
    /// Number of keys, if known (88, 76, 61, 49).
    pub keys: Option<usize>,
    /// Lowest note, if known (with `keys`).
    pub lowest_note: Option<u8>,
}

/// Black key centres in white-key units from C of the octave (C#, D#, F#, G#, A#).
const BLACK_PHASES: [f64; 5] = [0.9, 2.1, 3.0 + 6.0 / 7.0, 5.0, 6.0 + 1.0 / 7.0];

/// A dark blob that may be a black key, in image pixels.
#[derive(Clone, Copy, Debug)]
struct Blob {
    x: f64,
    bottom: f64,
    width: f64,
}

/// Luma threshold between the black and white keys of a row: halfway between its 10th and
/// 90th percentiles.
fn row_threshold(img: &GrayImage, y: usize) -> (u8, u8, u8) {
    slice_threshold(&img.data[y * img.stride..y * img.stride + img.width])
}

/// [`row_threshold`] of one row's pixels.
fn slice_threshold(row: &[u8]) -> (u8, u8, u8) {
    let mut hist = [0u32; 256];
    for &v in row {
        hist[v as usize] += 1;
    }
    let pct = |q: f64| {
        let target = (q * row.len() as f64) as u32;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as u8;
            }
        }
        255
    };
    let (lo, hi) = (pct(0.1), pct(0.9));
    (((lo as u16 + hi as u16) / 2) as u8, lo, hi)
}

/// Centres and widths of dark runs of plausible black-key width in row `y`.
fn dark_runs(img: &GrayImage, y: usize, thr: u8, wmin: usize, wmax: usize) -> Vec<(f64, f64)> {
    slice_dark_runs(
        &img.data[y * img.stride..y * img.stride + img.width],
        thr,
        wmin,
        wmax,
    )
}

/// [`dark_runs`] of one row's pixels.
fn slice_dark_runs(row: &[u8], thr: u8, wmin: usize, wmax: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut x = 0;
    while x < row.len() {
        if row[x] < thr {
            let s = x;
            while x < row.len() && row[x] < thr {
                x += 1;
            }
            let w = x - s;
            // Bright on both sides (not cut by the frame edge).
            if s > 0 && x < row.len() && (wmin..=wmax).contains(&w) {
                out.push(((s + x) as f64 / 2.0, w as f64));
            }
        } else {
            x += 1;
        }
    }
    out
}

/// How many runs of a row look like a row of black keys: neighbours at a steady spacing
/// (1.1 to 1.8 white keys, so within 0.55..1.7 of the median) with steady widths. Text and
/// textures give irregular runs.
fn regular_runs(runs: &[(f64, f64)]) -> usize {
    if runs.len() < 4 {
        return 0;
    }
    let even: Vec<(f64, f64)>;
    let xs: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let runs = match EvenPitch::fit(&xs) {
        Some(e) => {
            even = runs
                .iter()
                .map(|&(x, w)| (e.map(x), w * e.stretch(x)))
                .collect();
            &even[..]
        }
        None => runs,
    };
    let mut gaps: Vec<f64> = runs.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mut widths: Vec<f64> = runs.iter().map(|r| r.1).collect();
    gaps.sort_by(f64::total_cmp);
    widths.sort_by(f64::total_cmp);
    let (g, w) = (gaps[gaps.len() / 2], widths[widths.len() / 2]);
    // Black keys are about half as wide as their spacing; the gap lines between white keys,
    // just as regular, are far thinner.
    if w < 0.25 * g {
        return 0;
    }
    // Black keys come in groups of two and three: two gaps in five are about 1.5 times the
    // others. Evenly spaced patterns (checkers, grilles, text lines) have none.
    let big = gaps.iter().filter(|&&x| x > 1.3 * g && x < 1.9 * g).count();
    if big * 5 < gaps.len() {
        return 0;
    }
    runs.windows(2)
        .filter(|p| {
            let gap = p[1].0 - p[0].0;
            gap > 0.55 * g && gap < 1.7 * g && p[0].1 > 0.6 * w && p[0].1 < 1.6 * w && gap > 1.5 * w
        })
        .count()
}

/// The row band where most black keys show: (middle row, its threshold), by the number of
/// plausible dark runs per row.
fn find_band(img: &GrayImage, wmin: usize, wmax: usize) -> Option<(usize, u8)> {
    let step = (img.height / 360).max(1);
    let mut counts = Vec::new();
    for y in (0..img.height).step_by(step) {
        let (thr, lo, hi) = row_threshold(img, y);
        let n = if hi as i32 - lo as i32 > 60 {
            regular_runs(&dark_runs(img, y, thr, wmin, wmax))
        } else {
            0
        };
        counts.push((y, n, thr));
    }
    // Smooth over a few rows and take the best; require a real key row count.
    let k = 2;
    let (mut best, mut best_score) = (None, 0usize);
    for i in k..counts.len().saturating_sub(k) {
        let score: usize = counts[i - k..=i + k].iter().map(|c| c.1.min(60)).sum();
        if score > best_score {
            best_score = score;
            best = Some(i);
        }
    }
    let i = best?;
    if counts[i].1 < 8 {
        return None;
    }
    // The middle of the run of rows around the best that still count at least half.
    let half = counts[i].1 / 2;
    let mut a = i;
    while a > 0 && counts[a - 1].1 >= half {
        a -= 1;
    }
    let mut b = i;
    while b + 1 < counts.len() && counts[b + 1].1 >= half {
        b += 1;
    }
    let m = (a + b) / 2;
    Some((counts[m].0, counts[m].2))
}

/// A row seen in perspective: the key pitch changes steadily along it (by up to about two
/// times from one end of the keyboard to the other in an oblique view). A line's projection
/// has a pitch whose square root is linear in x, so a fit of that to the local median gap
/// gives a map of x to a coordinate where the pitch is even (and equal to the pitch in the
/// middle of the row).
#[derive(Clone, Copy, Debug)]
struct EvenPitch {
    a: f64,
    b: f64,
    x0: f64,
    /// Pitch at `x0`.
    p0: f64,
}

impl EvenPitch {
    /// None when the pitch is about even already (within 15% from end to end) or no fit
    /// holds: the row is used as it is.
    fn fit(xs: &[f64]) -> Option<EvenPitch> {
        if xs.len() < 10 {
            return None;
        }
        let gaps: Vec<(f64, f64)> = xs
            .windows(2)
            .map(|w| ((w[0] + w[1]) / 2.0, w[1] - w[0]))
            .collect();
        let local: Vec<[f64; 2]> = (0..gaps.len())
            .map(|i| {
                let window = &gaps[i.saturating_sub(2)..(i + 3).min(gaps.len())];
                let mut v: Vec<f64> = window.iter().map(|g| g.1).collect();
                v.sort_by(f64::total_cmp);
                [gaps[i].0, v[v.len() / 2].max(1e-6).sqrt()]
            })
            .collect();
        let (b, a) = fit_line(&local)?;
        let (lo, hi) = (xs[0], xs[xs.len() - 1]);
        let (ql, qh) = (a + b * lo, a + b * hi);
        let valid = ql > 0.0 && qh > 0.0 && a.is_finite() && b.is_finite();
        if !valid {
            return None;
        }
        let ratio = (ql / qh).powi(2);
        if ratio > 1.0 / 1.15 && ratio < 1.15 {
            return None;
        }
        let x0 = (lo + hi) / 2.0;
        Some(EvenPitch {
            a,
            b,
            x0,
            p0: (a + b * x0).powi(2),
        })
    }

    fn q(&self, x: f64) -> f64 {
        (self.a + self.b * x).max(1e-3)
    }

    /// The even coordinate of `x` (equal at `x0`, same scale there).
    fn map(&self, x: f64) -> f64 {
        let q0 = self.q(self.x0);
        self.x0 + self.p0 * (1.0 / q0 - 1.0 / self.q(x)) / self.b
    }

    /// How much lengths near `x` grow in the even coordinate.
    fn stretch(&self, x: f64) -> f64 {
        self.p0 / self.q(x).powi(2)
    }
}

/// Pitch of each blob as a position in white-key units from C-1 (MIDI 0), up to whole
/// octaves: a global scale and offset found by search, then a quadratic fit refined over
/// the assignment (perspective makes keys slightly wider on one side).
fn assign_phases(xs: &[f64]) -> Option<(Vec<Option<f64>>, [f64; 3])> {
    let n = xs.len();
    if n < 6 {
        return None;
    }
    // In a strongly foreshortened row the pitch search below runs where the keys are even.
    let even: Vec<f64>;
    let xs = match EvenPitch::fit(xs) {
        Some(e) => {
            even = xs.iter().map(|&x| e.map(x)).collect();
            &even[..]
        }
        None => xs,
    };
    let mut gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let g = gaps[gaps.len() / 3];
    // Within a group the gap is 1.14..1.2 white keys.
    let (smin, smax) = (g / 1.35, g / 1.0);
    let phase_err = |u: f64| {
        let p = u.rem_euclid(7.0);
        BLACK_PHASES
            .iter()
            .map(|&b| {
                let d = (p - b).abs();
                d.min(7.0 - d)
            })
            .fold(f64::MAX, f64::min)
    };
    // The score of a phase, tabulated over the octave (linear in between: the search below
    // evaluates it some million times).
    const TAB: usize = 7 * 64;
    let table: Vec<f64> = (0..=TAB)
        .map(|i| {
            let d = phase_err(i as f64 * 7.0 / TAB as f64);
            (-(d / 0.12).powi(2)).exp()
        })
        .collect();
    let score_of = |u: f64| {
        let t = u.rem_euclid(7.0) * (TAB as f64 / 7.0);
        let i = (t as usize).min(TAB - 1);
        let f = t - i as f64;
        table[i] * (1.0 - f) + table[i + 1] * f
    };
    let mut best = (f64::MIN, 0.0, 0.0);
    let steps = 200;
    for si in 0..=steps {
        let sc = smin + (smax - smin) * si as f64 / steps as f64;
        let inv = 1.0 / sc;
        for oi in 0..140 {
            let o = xs[n / 2] - sc * 7.0 * oi as f64 / 140.0;
            let score: f64 = xs.iter().map(|&x| score_of((x - o) * inv)).sum();
            if score > best.0 {
                best = (score, sc, o);
            }
        }
    }
    let (_, sc, o) = best;
    // x = c0 + c1 u + c2 u^2 around u0; start linear.
    let mut coef = [o, sc, 0.0];
    let mut assigned: Vec<Option<f64>> = vec![None; n];
    for _ in 0..4 {
        // Invert the quadratic near the linear guess.
        let u_of = |x: f64| {
            let mut u = (x - coef[0]) / coef[1];
            for _ in 0..5 {
                let f = coef[0] + coef[1] * u + coef[2] * u * u - x;
                let df = coef[1] + 2.0 * coef[2] * u;
                u -= f / df;
            }
            u
        };
        for (i, &x) in xs.iter().enumerate() {
            let u = u_of(x);
            let oct = (u / 7.0).floor();
            let p = u - oct * 7.0;
            let (bp, d) = BLACK_PHASES
                .iter()
                .chain(std::iter::once(&(BLACK_PHASES[0] + 7.0)))
                .map(|&b| (b, (p - b).abs()))
                .fold((0.0, f64::MAX), |a, c| if c.1 < a.1 { c } else { a });
            assigned[i] = (d < 0.35).then_some(oct * 7.0 + bp);
        }
        // Least squares x = c0 + c1 u + c2 u^2 over the assigned blobs.
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .zip(&assigned)
            .filter_map(|(&x, u)| u.map(|u| (u, x)))
            .collect();
        if pts.len() < 6 {
            return None;
        }
        coef = fit_quadratic(&pts)?;
    }
    Some((assigned, coef))
}

fn fit_quadratic(pts: &[(f64, f64)]) -> Option<[f64; 3]> {
    let mu = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
    let mut m = [[0f64; 4]; 3];
    for &(u, x) in pts {
        let t = u - mu;
        let row = [1.0, t, t * t];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            m[i][3] += row[i] * x;
        }
    }
    let [a, b, c] = super::geometry::solve(m)?;
    // Back from t = u - mu to u.
    Some([a - b * mu + c * mu * mu, b - 2.0 * c * mu, c])
}

/// Standard instruments to try, smallest first.
const STANDARD: [usize; 4] = [49, 61, 76, 88];

/// Which instrument and octave: the one whose black keys explain the blobs best.
fn choose_keyboard(units: &[f64], params: &DetectParams) -> Option<(Keyboard, f64)> {
    let mut best: Option<(f64, Keyboard, f64)> = None;
    let candidates: Vec<Keyboard> = match (params.keys, params.lowest_note) {
        (Some(k), Some(l)) => vec![Keyboard::new(k, l).ok()?],
        (Some(k), None) => vec![Keyboard::standard(k).ok()?],
        _ => STANDARD
            .iter()
            .filter_map(|&k| Keyboard::standard(k).ok())
            .collect(),
    };
    let umin = units.iter().copied().fold(f64::MAX, f64::min);
    for kb in candidates {
        let blacks: Vec<f64> = kb
            .notes()
            .filter(|&n| super::keyboard::is_black(n))
            .map(|n| {
                let (a, b) = super::keyboard::absolute_span(n);
                ((a + b) / 2.0) as f64
            })
            .collect();
        // Every octave shift that puts some blob on the instrument.
        let lo = ((blacks[0] - umin) / 7.0).floor() as i64 - 12;
        for k in lo..lo + 24 {
            let shift = k as f64 * 7.0;
            let mut matched = 0usize;
            let mut outside = 0usize;
            for &u in units {
                if blacks.iter().any(|&b| (b - (u + shift)).abs() < 0.05) {
                    matched += 1;
                } else {
                    outside += 1;
                }
            }
            let missing = blacks.len() - matched.min(blacks.len());
            let score = matched as f64 - 3.0 * outside as f64 - 0.6 * missing as f64;
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, kb, shift));
            }
        }
    }
    best.map(|(_, kb, shift)| (kb, shift))
}

/// Find the keyboard in one frame.
pub fn detect(img: &GrayImage, params: &DetectParams) -> Option<Detection> {
    if !img.is_valid() || img.width < MIN_FRAME.0 || img.height < MIN_FRAME.1 {
        return None;
    }
    let wmin = (img.width / 400).max(2);
    let wmax = (img.width / 25).max(wmin + 2);
    let (ym, thr) = find_band(img, wmin, wmax)?;
    // Blobs: runs of the middle row, traced down to where the black key ends.
    let mut blobs: Vec<Blob> = dark_runs(img, ym, thr, wmin, wmax)
        .into_iter()
        .map(|(x, w)| {
            let xi = x as usize;
            let mut y = ym;
            while y + 1 < img.height && img.at(xi, y + 1) < thr {
                y += 1;
            }
            Blob {
                x,
                bottom: y as f64 + 0.5,
                width: w,
            }
        })
        .collect();
    // Keep blobs of typical width.
    let mut widths: Vec<f64> = blobs.iter().map(|b| b.width).collect();
    widths.sort_by(f64::total_cmp);
    let wmed = *widths.get(widths.len() / 2)?;
    blobs.retain(|b| b.width > wmed * 0.5 && b.width < wmed * 1.8);
    let xs: Vec<f64> = blobs.iter().map(|b| b.x).collect();
    let (assigned, _) = assign_phases(&xs)?;
    let units: Vec<f64> = assigned.iter().flatten().copied().collect();
    let (kb, shift) = choose_keyboard(&units, params)?;
    let white = kb.white_keys() as f64;
    let origin = super::keyboard::absolute_span(kb.lowest_note).0 as f64;
    // Keyboard fraction U of an absolute white-key position.
    let to_u = |u_abs: f64| (u_abs - origin) / white;

    // Correspondences in (U, V') where V' = 0 at the back edge, 1 at the black keys' ends.
    let mut src: Vec<[f64; 2]> = Vec::new();
    let mut dst: Vec<[f64; 2]> = Vec::new();
    let mut bottoms: Vec<(f64, [f64; 2])> = Vec::new();
    for (b, u) in blobs.iter().zip(&assigned) {
        if let Some(u) = u {
            bottoms.push((to_u(u + shift), [b.x, b.bottom]));
        }
    }
    // Black key ends: robust to hands by comparing with the median length.
    let mut ends: Vec<f64> = bottoms.iter().map(|b| b.1[1]).collect();
    ends.sort_by(f64::total_cmp);
    let end_med = *ends.get(ends.len() / 2)?;
    let black_len_px = (end_med - ym as f64).max(2.0) * 2.0;
    // Back edge: above the middle row, where the white keys between black keys end.
    let mut tops = Vec::new();
    for w in assigned.windows(2).zip(xs.windows(2)) {
        let (Some(u0), Some(u1)) = (w.0[0], w.0[1]) else {
            continue;
        };
        if u1 - u0 > 1.3 {
            continue; // across E-F or B-C: the midpoint is a gap line
        }
        let xm = (w.1[0] + w.1[1]) / 2.0;
        let xi = xm.round() as usize;
        let mut y = ym;
        // Up while bright (white key), stop at the panel.
        while y > 0 && img.at(xi, y - 1) >= thr {
            y -= 1;
        }
        if (ym - y) as f64 > black_len_px * 1.2 {
            continue;
        }
        tops.push((to_u((u0 + u1) / 2.0 + shift), [xm, y as f64]));
    }
    if tops.len() < 3 || bottoms.len() < 3 {
        return None;
    }
    // Reject outliers of each row by their residual to a straight line.
    let clean = |pts: &mut Vec<(f64, [f64; 2])>| {
        for _ in 0..2 {
            let n = pts.len() as f64;
            let (mx, my) = pts
                .iter()
                .fold((0.0, 0.0), |a, p| (a.0 + p.1[0] / n, a.1 + p.1[1] / n));
            let sxx: f64 = pts.iter().map(|p| (p.1[0] - mx).powi(2)).sum();
            let sxy: f64 = pts.iter().map(|p| (p.1[0] - mx) * (p.1[1] - my)).sum();
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let mut res: Vec<f64> = pts
                .iter()
                .map(|p| (p.1[1] - my - slope * (p.1[0] - mx)).abs())
                .collect();
            let mut sorted = res.clone();
            sorted.sort_by(f64::total_cmp);
            let lim = (sorted[sorted.len() / 2] * 3.0).max(1.5);
            let mut i = 0;
            pts.retain(|_| {
                let keep = res[i] <= lim;
                i += 1;
                keep
            });
            res.clear();
        }
    };
    clean(&mut tops);
    clean(&mut bottoms);
    for (u, p) in &tops {
        src.push([*u, 0.0]);
        dst.push(*p);
    }
    for (u, p) in &bottoms {
        src.push([*u, 1.0]);
        dst.push(*p);
    }
    // A first map, from the back edge and the black keys' ends. Black keys stand above the
    // white ones, so in a wide view their ends lean outwards (parallax): this map only guides
    // the search below, and the corners come from features on the white keys' plane.
    let h0 = robust_fit(&src, &dst)?;
    let front0 = front_edge(img, &kb, &h0, thr, (0.0, 1.0))?;
    let vf0 = median(front0.iter().map(|f| f.0).collect())?;
    let top_line = fit_line(&tops.iter().map(|t| t.1).collect::<Vec<_>>())?;
    let front_line = fit_line(&front0.iter().map(|f| f.1).collect::<Vec<_>>())?;
    // White key boundaries below the black keys, at two depths: each gives a line, which
    // meets the back and front edges at that boundary's ends. Twice: the second search is
    // guided by the plane fit of the first.
    let plane =
        |guide: &Homography, va: f64, vb: f64, window: f64| -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
            let gaps_a = white_gaps(img, &kb, guide, va, window);
            let gaps_b = white_gaps(img, &kb, guide, vb, window);
            let mut ps = Vec::new();
            let mut pd = Vec::new();
            for (u, pa) in &gaps_a {
                let Some((_, pb)) = gaps_b.iter().find(|g| (g.0 - u).abs() < 1e-9) else {
                    continue;
                };
                if (pb[1] - pa[1]).abs() < 1.0 {
                    continue;
                }
                // x = c y + d through both points, met with y = a x + b.
                let c = (pb[0] - pa[0]) / (pb[1] - pa[1]);
                let d = pa[0] - c * pa[1];
                for (line, v) in [(top_line, 0.0), (front_line, 1.0)] {
                    let y = (line.0 * d + line.1) / (1.0 - line.0 * c);
                    ps.push([*u, v]);
                    pd.push([c * y + d, y]);
                }
            }
            (ps, pd)
        };
    // The first map's parallax grows towards the ends: start from the middle of the keys and
    // widen the range step by step, each step guided by the fit of the one before, so no
    // boundary is searched for far from where it should be.
    let within = |(ps, pd): (Vec<[f64; 2]>, Vec<[f64; 2]>), lo: f64, hi: f64| {
        ps.into_iter()
            .zip(pd)
            .filter(|(p, _)| p[0] >= lo && p[0] <= hi)
            .unzip::<_, _, Vec<[f64; 2]>, Vec<[f64; 2]>>()
    };
    let (va, vb) = (1.0 + (vf0 - 1.0) * 0.3, 1.0 + (vf0 - 1.0) * 0.8);
    let mut guide = h0;
    let mut window = 0.45;
    let mut rows = (va, vb);
    let mut last = (Vec::new(), Vec::new());
    for half in [0.2, 0.33, 0.42, 0.5] {
        let (ps, pd) = within(
            plane(&guide, rows.0, rows.1, window),
            0.5 - half,
            0.5 + half,
        );
        if ps.len() >= 12 {
            if let Some(h) = robust_fit(&ps, &pd) {
                guide = h;
                // From now on the guide is in the key plane's own frame.
                rows = (0.75, 0.93);
                window = 0.3;
            }
            last = (ps, pd);
        }
    }
    let (plane_src, plane_dst) = last;
    if plane_src.len() < 16 {
        return None;
    }
    // Lenses bend straight rows a little, which one homography cannot follow: take each end's
    // corners from a fit to the boundaries of that third only.
    let local = |lo: f64, hi: f64| -> Option<Homography> {
        let (s3, d3): (Vec<[f64; 2]>, Vec<[f64; 2]>) = plane_src
            .iter()
            .zip(&plane_dst)
            .filter(|(p, _)| p[0] >= lo && p[0] <= hi)
            .map(|(a, b)| (*a, *b))
            .unzip();
        robust_fit(&s3, &d3)
    };
    let h = robust_fit(&plane_src, &plane_dst)?;
    // A local fit may only refine the global one (by less than half a white key); a larger
    // disagreement means a mislabelled boundary at the end, and the global fit is safer.
    let key_px = {
        let (a, b) = (h.apply([0.0, 1.0]), h.apply([1.0, 1.0]));
        ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt() / kb.white_keys() as f64
    };
    let refine = |local: Option<Homography>, u: f64| -> [[f64; 2]; 2] {
        let global = [h.apply([u, 0.0]), h.apply([u, 1.0])];
        let Some(l) = local else { return global };
        let cand = [l.apply([u, 0.0]), l.apply([u, 1.0])];
        let off = cand
            .iter()
            .zip(&global)
            .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
            .fold(0.0, f64::max);
        if off < 0.5 * key_px { cand } else { global }
    };
    let [tl, bl] = refine(local(0.0, 0.35), 0.0);
    let [tr, br] = refine(local(0.65, 1.0), 1.0);
    let corners = [tl, tr, br, bl];
    let expected = kb.notes().filter(|&n| super::keyboard::is_black(n)).count();
    Some(Detection {
        corners,
        keyboard: kb,
        confidence: (bottoms.len() as f32 / expected as f32).min(1.0),
    })
}

/// Fit, drop points far off the fit (hands), fit again.
fn robust_fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
    let h = Homography::fit(src, dst)?;
    let err: Vec<f64> = src
        .iter()
        .zip(dst)
        .map(|(s, d)| {
            let p = h.apply(*s);
            ((p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2)).sqrt()
        })
        .collect();
    let mut sorted = err.clone();
    sorted.sort_by(f64::total_cmp);
    let lim = (sorted[sorted.len() / 2] * 3.0).max(1.0);
    let (s2, d2): (Vec<[f64; 2]>, Vec<[f64; 2]>) = src
        .iter()
        .zip(dst)
        .zip(&err)
        .filter(|(_, e)| **e <= lim)
        .map(|((s, d), _)| (*s, *d))
        .unzip();
    Homography::fit(&s2, &d2)
}

/// Luma at a sub-pixel point (bilinear), or None outside.
fn sample(img: &GrayImage, x: f64, y: f64) -> Option<f64> {
    if !(x >= 0.0 && y >= 0.0 && x < (img.width - 1) as f64 && y < (img.height - 1) as f64) {
        return None;
    }
    let (x0, y0) = (x as usize, y as usize);
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let a = img.at(x0, y0) as f64 * (1.0 - fx) + img.at(x0 + 1, y0) as f64 * fx;
    let b = img.at(x0, y0 + 1) as f64 * (1.0 - fx) + img.at(x0 + 1, y0 + 1) as f64 * fx;
    Some(a * (1.0 - fy) + b * fy)
}

/// Image positions of the gap lines between white keys at depth `v` (in the frame of `h`):
/// for each predicted boundary, the dark dip nearest to it within `window` white keys.
fn white_gaps(
    img: &GrayImage,
    kb: &Keyboard,
    h: &Homography,
    v: f64,
    window: f64,
) -> Vec<(f64, [f64; 2])> {
    const STEPS: usize = 60;
    let white: Vec<u8> = kb
        .notes()
        .filter(|&n| !super::keyboard::is_black(n))
        .collect();
    let wk = 1.0 / white.len() as f64;
    let mut out = Vec::new();
    for n in white.iter().skip(1) {
        let Some((a, _)) = kb.span(*n) else { continue };
        let u = a as f64;
        let du = |i: usize| (i as f64 / STEPS as f64 - 0.5) * 2.0 * window * wk;
        let l: Option<Vec<f64>> = (0..=STEPS)
            .map(|i| {
                let [x, y] = h.apply([u + du(i), v]);
                sample(img, x, y)
            })
            .collect();
        let Some(l) = l else { continue };
        // Dips: local minima darker by 12 than the brightest within a quarter key each side.
        let reach = ((0.25 / (2.0 * window)) * STEPS as f64).ceil() as usize;
        let mut best: Option<(f64, usize)> = None;
        for i in 1..STEPS {
            if !(l[i] <= l[i - 1] && l[i] <= l[i + 1]) {
                continue;
            }
            let left = l[i.saturating_sub(reach)..i]
                .iter()
                .copied()
                .fold(f64::MIN, f64::max);
            let right = l[i + 1..(i + 1 + reach).min(l.len())]
                .iter()
                .copied()
                .fold(f64::MIN, f64::max);
            let side = left.min(right);
            if side - l[i] < 12.0 || side < 110.0 {
                continue;
            }
            let dist = (i as f64 - STEPS as f64 / 2.0).abs();
            if best.is_none_or(|b| dist < b.0) {
                best = Some((dist, i));
            }
        }
        let Some((_, i)) = best else { continue };
        // Parabola through the minimum and its neighbours.
        let (a0, a1, a2) = (l[i - 1], l[i], l[i + 1]);
        let den = a0 - 2.0 * a1 + a2;
        let off = if den.abs() > 1e-9 {
            0.5 * (a0 - a2) / den
        } else {
            0.0
        };
        let uu = u + du(i) + off.clamp(-1.0, 1.0) * (du(1) - du(0));
        let [x, y] = h.apply([uu, v]);
        out.push((u, [x, y]));
    }
    out
}

/// Depth (in the frame of `h`) of the white keys' front edge: per white key, the strongest
/// fall in light below the black keys; the median over keys (hands cover some).
fn front_edge(
    img: &GrayImage,
    kb: &Keyboard,
    h: &Homography,
    thr: u8,
    (lo, hi): (f64, f64),
) -> Option<Vec<(f64, [f64; 2])>> {
    let mut fronts = Vec::new();
    for n in kb.notes().filter(|&n| !super::keyboard::is_black(n)) {
        let (a, b) = kb.span(n)?;
        let u = ((a + b) / 2.0) as f64;
        if u < lo || u > hi {
            continue;
        }
        let samples: Vec<(f64, f64)> = (0..=120)
            .map(|i| {
                let v = 1.15 + 1.35 * i as f64 / 120.0;
                let [x, y] = h.apply([u, v]);
                let (xi, yi) = (x.round(), y.round());
                let l = if xi >= 0.0
                    && yi >= 0.0
                    && (xi as usize) < img.width
                    && (yi as usize) < img.height
                {
                    img.at(xi as usize, yi as usize) as f64
                } else {
                    -1.0
                };
                (v, l)
            })
            .collect();
        let drops: Vec<(f64, f64)> = (2..samples.len() - 2)
            .map(|i| {
                if samples[i + 2].1 < 0.0 || samples[i - 2].1 < 0.0 {
                    return (samples[i].0, 0.0);
                }
                let above = (samples[i - 2].1 + samples[i - 1].1) / 2.0;
                let below = (samples[i + 1].1 + samples[i + 2].1) / 2.0;
                let drop = if above >= thr as f64 {
                    above - below
                } else {
                    0.0
                };
                (samples[i].0, drop)
            })
            .collect();
        let strongest = drops.iter().map(|d| d.1).fold(0.0, f64::max);
        // The nearest strong fall: a light lip or table beyond the keys can fall further
        // into a dark floor.
        let mut best = (0.0, 0.0);
        for (i, d) in drops.iter().enumerate() {
            if d.1 >= 0.6 * strongest && d.1 > best.1 {
                best = *d;
            } else if best.1 > 0.0 && d.1 < best.1 && drops.get(i + 1).is_none_or(|n| n.1 < best.1)
            {
                break;
            }
        }
        if best.1 > 25.0 {
            fronts.push((best.0, h.apply([u, best.0])));
        }
    }
    (fronts.len() >= 5).then_some(fronts)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Robust line y = a x + b through points (least squares, then again without outliers).
fn fit_line(pts: &[[f64; 2]]) -> Option<(f64, f64)> {
    let fit = |p: &[[f64; 2]]| -> Option<(f64, f64)> {
        let n = p.len() as f64;
        if p.len() < 2 {
            return None;
        }
        let (mx, my) = p
            .iter()
            .fold((0.0, 0.0), |a, q| (a.0 + q[0] / n, a.1 + q[1] / n));
        let sxx: f64 = p.iter().map(|q| (q[0] - mx).powi(2)).sum();
        let sxy: f64 = p.iter().map(|q| (q[0] - mx) * (q[1] - my)).sum();
        let a = if sxx > 1e-9 { sxy / sxx } else { 0.0 };
        Some((a, my - a * mx))
    };
    let mut line = fit(pts)?;
    for _ in 0..2 {
        let res: Vec<f64> = pts
            .iter()
            .map(|q| (q[1] - line.0 * q[0] - line.1).abs())
            .collect();
        let lim = (median(res.clone())? * 3.0).max(0.75);
        let kept: Vec<[f64; 2]> = pts
            .iter()
            .zip(&res)
            .filter(|(_, r)| **r <= lim)
            .map(|(q, _)| *q)
            .collect();
        line = fit(&kept)?;
    }
    Some(line)
}

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
struct Turn {
    cos: f64,
    sin: f64,
    src_c: [f64; 2],
    view_c: [f64; 2],
    view_w: usize,
    view_h: usize,
}

impl Turn {
    fn new(angle: f64, w: usize, h: usize) -> Turn {
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
    fn to_src(self, p: [f64; 2]) -> [f64; 2] {
        let (x, y) = (p[0] - self.view_c[0], p[1] - self.view_c[1]);
        [
            self.src_c[0] + self.cos * x - self.sin * y,
            self.src_c[1] + self.sin * x + self.cos * y,
        ]
    }

    /// Fill `row` with view row `y` (nearest pixel; 0 outside the frame).
    fn sample_row(&self, img: &GrayImage, y: usize, row: &mut [u8]) {
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
    fn warp(&self, img: &GrayImage, out: &mut Vec<u8>) {
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
    fn band_score(&self, img: &GrayImage) -> usize {
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
const TILTS: [f64; 9] = [0.0, -2.5, 2.5, -5.0, 5.0, -7.5, 7.5, -10.0, 10.0];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keyboard::PIANO_88;

    #[test]
    fn rectifier_maps_the_quad_and_pads_missing_keys() {
        // A 100x40 image: left half 50, right half 200.
        let mut data = vec![50u8; 100 * 40];
        for y in 0..40 {
            for x in 50..100 {
                data[y * 100 + x] = 200;
            }
        }
        let img = GrayImage {
            data: &data,
            width: 100,
            height: 40,
            stride: 100,
        };
        let corners = [[0.0, 0.0], [100.0, 0.0], [100.0, 40.0], [0.0, 40.0]];
        let r = Rectifier::new(&corners, PIANO_88, (100, 40, 100), 20, 4).unwrap();
        let mut out = vec![0u8; 80];
        r.rectify(&img, &mut out);
        assert!(out[..8].iter().all(|&v| v == 50) && out[12..20].iter().all(|&v| v == 200));
        // A 61-key keyboard fills only its part of the strip.
        let k61 = Keyboard::standard(61).unwrap();
        let r = Rectifier::new(&corners, k61, (100, 40, 100), 52, 2).unwrap();
        let mut out = vec![0u8; 104];
        r.rectify(&img, &mut out);
        assert_eq!(out[0], PAD);
        assert_eq!(out[51], PAD);
        assert_eq!(out[20], 50);
        assert!(r.fits(&img));
    }
}
