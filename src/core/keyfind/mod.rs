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

mod gray;
mod rectify;
mod runs;
mod track;
mod turn;
pub use gray::{GrayImage, luma, luma_rgba};
pub use rectify::{PAD, Rectifier};
use runs::{assign_phases, dark_runs, find_band};
pub use track::{KeyboardTracker, TrackEvent, TrackerConfig, fit_score};
pub use turn::{angle_of, detect_any, detect_turned, quarter_of};

/// The smallest frame (width, height) a keyboard is looked for in.
pub const MIN_FRAME: (usize, usize) = (64, 16);

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
