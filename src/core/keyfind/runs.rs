// SPDX-License-Identifier: MPL-2.0
//! Rows of black keys: dark runs of a row, their spacing, the band of rows that shows them
//! best, and the pitch classes their pattern names.

use super::{BLACK_PHASES, GrayImage, fit_line};

/// Luma threshold between the black and white keys of a row: halfway between its 10th and
/// 90th percentiles.
pub(super) fn row_threshold(img: &GrayImage, y: usize) -> (u8, u8, u8) {
    slice_threshold(&img.data[y * img.stride..y * img.stride + img.width])
}

/// [`row_threshold`] of one row's pixels.
pub(super) fn slice_threshold(row: &[u8]) -> (u8, u8, u8) {
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
pub(super) fn dark_runs(
    img: &GrayImage,
    y: usize,
    thr: u8,
    wmin: usize,
    wmax: usize,
) -> Vec<(f64, f64)> {
    slice_dark_runs(
        &img.data[y * img.stride..y * img.stride + img.width],
        thr,
        wmin,
        wmax,
    )
}

/// [`dark_runs`] of one row's pixels.
pub(super) fn slice_dark_runs(row: &[u8], thr: u8, wmin: usize, wmax: usize) -> Vec<(f64, f64)> {
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
pub(super) fn regular_runs(runs: &[(f64, f64)]) -> usize {
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
pub(super) fn find_band(img: &GrayImage, wmin: usize, wmax: usize) -> Option<(usize, u8)> {
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
pub(super) struct EvenPitch {
    a: f64,
    b: f64,
    x0: f64,
    /// Pitch at `x0`.
    p0: f64,
}

impl EvenPitch {
    /// None when the pitch is about even already (within 15% from end to end) or no fit
    /// holds: the row is used as it is.
    pub(super) fn fit(xs: &[f64]) -> Option<EvenPitch> {
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

    pub(super) fn q(&self, x: f64) -> f64 {
        (self.a + self.b * x).max(1e-3)
    }

    /// The even coordinate of `x` (equal at `x0`, same scale there).
    pub(super) fn map(&self, x: f64) -> f64 {
        let q0 = self.q(self.x0);
        self.x0 + self.p0 * (1.0 / q0 - 1.0 / self.q(x)) / self.b
    }

    /// How much lengths near `x` grow in the even coordinate.
    pub(super) fn stretch(&self, x: f64) -> f64 {
        self.p0 / self.q(x).powi(2)
    }
}

/// Pitch of each blob as a position in white-key units from C-1 (MIDI 0), up to whole
/// octaves: a global scale and offset found by search, then a quadratic fit refined over
/// the assignment (perspective makes keys slightly wider on one side).
pub(super) fn assign_phases(xs: &[f64]) -> Option<(Vec<Option<f64>>, [f64; 3])> {
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

pub(super) fn fit_quadratic(pts: &[(f64, f64)]) -> Option<[f64; 3]> {
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
    let [a, b, c] = crate::core::geometry::solve(m)?;
    // Back from t = u - mu to u.
    Some([a - b * mu + c * mu * mu, b - 2.0 * c * mu, c])
}
