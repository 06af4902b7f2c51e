// SPDX-License-Identifier: MPL-2.0
//! Plane projective geometry: homographies from four point pairs.

/// A 3x3 homography (row-major), mapping (x, y, 1) to (x', y', w').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    pub const IDENTITY: Homography = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);

    /// The homography taking `src[i]` to `dst[i]` (four points, no three collinear).
    pub fn from_points(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> Option<Homography> {
        // Unknowns h0..h7 (h8 = 1): two equations per pair.
        let mut a = [[0f64; 9]; 8];
        for i in 0..4 {
            let [x, y] = src[i];
            let [u, v] = dst[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let x = solve(a)?;
        let mut h = [1f64; 9];
        h[..8].copy_from_slice(&x);
        Some(Homography(h))
    }

    /// The homography taking the unit square (0,0), (1,0), (1,1), (0,1) to `corners` (a
    /// quadrilateral given top-left, top-right, bottom-right, bottom-left).
    pub fn from_unit_square(corners: &[[f64; 2]; 4]) -> Option<Homography> {
        const UNIT: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        Homography::from_points(&UNIT, corners)
    }

    /// Least-squares homography taking `src[i]` near `dst[i]` (at least four pairs), with
    /// Hartley normalisation of both point sets.
    pub fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
        if src.len() < 4 || src.len() != dst.len() {
            return None;
        }
        let norm = |pts: &[[f64; 2]]| {
            let n = pts.len() as f64;
            let (mx, my) = pts
                .iter()
                .fold((0.0, 0.0), |a, p| (a.0 + p[0] / n, a.1 + p[1] / n));
            let d = pts
                .iter()
                .map(|p| ((p[0] - mx).powi(2) + (p[1] - my).powi(2)).sqrt())
                .sum::<f64>()
                / n;
            let k = if d > 1e-12 {
                std::f64::consts::SQRT_2 / d
            } else {
                1.0
            };
            Homography([k, 0.0, -k * mx, 0.0, k, -k * my, 0.0, 0.0, 1.0])
        };
        let (ts, td) = (norm(src), norm(dst));
        // Normal equations of the 8-unknown linear system (h8 = 1).
        let mut ata = [[0f64; 9]; 8];
        for (s, d) in src.iter().zip(dst) {
            let [x, y] = ts.apply(*s);
            let [u, v] = td.apply(*d);
            for row in [
                [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u],
                [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v],
            ] {
                for i in 0..8 {
                    for j in 0..9 {
                        ata[i][j] += row[i] * row[j];
                    }
                }
            }
        }
        let h = solve(ata)?;
        let hn = Homography([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]);
        // Undo the normalisation: H = Td^-1 * Hn * Ts.
        Some(td.inverse()?.then(&hn).then(&ts))
    }

    /// `self * other` (apply `other` first).
    pub fn then(&self, other: &Homography) -> Homography {
        let (a, b) = (&self.0, &other.0);
        let mut m = [0f64; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        let s = if m[8].abs() > 1e-15 { m[8] } else { 1.0 };
        Homography(m.map(|v| v / s))
    }

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let m = &self.0;
        let w = m[6] * p[0] + m[7] * p[1] + m[8];
        [
            (m[0] * p[0] + m[1] * p[1] + m[2]) / w,
            (m[3] * p[0] + m[4] * p[1] + m[5]) / w,
        ]
    }

    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let c = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        let det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
        if det.abs() < 1e-15 {
            return None;
        }
        Some(Homography(c.map(|v| v / det)))
    }
}

/// Solve an NxN system given as rows [a0..a(N-1) | b] (M = N + 1 columns) by Gaussian
/// elimination with partial pivoting; `None` when it is singular.
pub(crate) fn solve<const N: usize, const M: usize>(mut a: [[f64; M]; N]) -> Option<[f64; N]> {
    debug_assert_eq!(M, N + 1);
    for c in 0..N {
        let p = (c..N).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        let pivot = a[c];
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][N] / a[i][i]))
}

/// Why a keyboard quadrilateral (top-left, top-right, bottom-right, bottom-left of the keys,
/// in image pixels, y down) cannot be a keyboard: not finite, degenerate (a point repeated,
/// all zeros, no area), crossed or not convex, in the wrong order (counter-clockwise on the
/// screen, e.g. corners given bottom-first), or outside a `width` x `height` frame (when
/// known). Ok when it can be rectified.
pub fn check_quad(q: &[[f64; 2]; 4], frame: Option<(f64, f64)>) -> Result<(), String> {
    const NAMES: [&str; 4] = ["top-left", "top-right", "bottom-right", "bottom-left"];
    if q.iter().flatten().any(|v| !v.is_finite()) {
        return Err("corners must be finite numbers".into());
    }
    for i in 0..4 {
        for j in i + 1..4 {
            if (q[i][0] - q[j][0]).hypot(q[i][1] - q[j][1]) < 2.0 {
                return Err(format!(
                    "the {} and {} corners are the same point: give the four corners of the keys",
                    NAMES[i], NAMES[j]
                ));
            }
        }
    }
    // Cross products at each corner: all positive for a convex quadrilateral that runs
    // clockwise on the screen (y down), as top-left, top-right, bottom-right, bottom-left do.
    let cross: Vec<f64> = (0..4)
        .map(|i| {
            let (a, b, c) = (q[i], q[(i + 1) % 4], q[(i + 2) % 4]);
            (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
        })
        .collect();
    if cross.iter().all(|&c| c < 0.0) {
        return Err("the corners run the wrong way round: give top-left, top-right, bottom-right, bottom-left".into());
    }
    if !cross.iter().all(|&c| c > 0.0) {
        return Err("the corners make a crossed or non-convex shape: give top-left, top-right, bottom-right, bottom-left of the keys".into());
    }
    let area = 0.5
        * (0..4)
            .map(|i| q[i][0] * q[(i + 1) % 4][1] - q[(i + 1) % 4][0] * q[i][1])
            .sum::<f64>()
            .abs();
    if area < 100.0 {
        return Err(format!(
            "the corners enclose {area:.0} square pixels: too small for a keyboard"
        ));
    }
    if let Some((w, h)) = frame {
        let margin = 0.02 * w.max(h);
        if let Some((i, p)) = q.iter().enumerate().find(|(_, p)| {
            p[0] < -margin || p[1] < -margin || p[0] > w + margin || p[1] > h + margin
        }) {
            return Err(format!(
                "the {} corner ({}, {}) is outside the {w}x{h} frame",
                NAMES[i], p[0], p[1]
            ));
        }
    }
    Ok(())
}

/// Resample the quadrilateral `corners` (top-left, top-right, bottom-right, bottom-left) of
/// an RGBA image into an `out_w` x `out_h` RGBA rectangle (bilinear).
pub fn rectify_rgba(
    rgba: &[u8],
    width: usize,
    height: usize,
    corners: &[[f64; 2]; 4],
    out_w: usize,
    out_h: usize,
) -> Option<Vec<u8>> {
    if rgba.len() < width * height * 4 || width < 2 || height < 2 {
        return None;
    }
    let h = Homography::from_unit_square(corners)?;
    let mut out = vec![0u8; out_w * out_h * 4];
    for y in 0..out_h {
        for x in 0..out_w {
            let [u, v] = h.apply([
                (x as f64 + 0.5) / out_w as f64,
                (y as f64 + 0.5) / out_h as f64,
            ]);
            let u = (u - 0.5).clamp(0.0, (width - 2) as f64);
            let v = (v - 0.5).clamp(0.0, (height - 2) as f64);
            let (x0, y0) = (u as usize, v as usize);
            let (fx, fy) = (u - x0 as f64, v - y0 as f64);
            let i = (y0 * width + x0) * 4;
            let o = (y * out_w + x) * 4;
            for c in 0..4 {
                let a = rgba[i + c] as f64 * (1.0 - fx) + rgba[i + 4 + c] as f64 * fx;
                let b = rgba[i + width * 4 + c] as f64 * (1.0 - fx)
                    + rgba[i + width * 4 + 4 + c] as f64 * fx;
                out[o + c] = (a * (1.0 - fy) + b * fy).round() as u8;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_points_map_exactly_and_inverse_undoes() {
        let src = [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]];
        let dst = [
            [9.0, 286.0],
            [1275.0, 300.0],
            [1258.0, 450.0],
            [24.0, 434.0],
        ];
        let h = Homography::from_points(&src, &dst).unwrap();
        for (s, d) in src.iter().zip(&dst) {
            let p = h.apply(*s);
            assert!(
                (p[0] - d[0]).abs() < 1e-6 && (p[1] - d[1]).abs() < 1e-6,
                "{p:?} {d:?}"
            );
        }
        let inv = h.inverse().unwrap();
        let q = inv.apply(h.apply([37.0, 11.0]));
        assert!((q[0] - 37.0).abs() < 1e-9 && (q[1] - 11.0).abs() < 1e-9);
        assert!(Homography::from_points(&src, &[[0.0, 0.0]; 4]).is_none());
        // A least-squares fit to many exact points gives the same map.
        let pts: Vec<[f64; 2]> = (0..20)
            .map(|i| [(i * 7 % 100) as f64, (i * 3 % 20) as f64])
            .collect();
        let img: Vec<[f64; 2]> = pts.iter().map(|p| h.apply(*p)).collect();
        let f = Homography::fit(&pts, &img).unwrap();
        for p in &pts {
            let (a, b) = (f.apply(*p), h.apply(*p));
            assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn rectify_takes_the_quad() {
        // A 4x4 image whose right half is white: rectifying the right half gives all white.
        let mut img = vec![0u8; 4 * 4 * 4];
        for y in 0..4 {
            for x in 2..4 {
                img[(y * 4 + x) * 4..(y * 4 + x) * 4 + 4].copy_from_slice(&[255; 4]);
            }
        }
        let quad = [[2.5, 0.0], [4.0, 0.0], [4.0, 4.0], [2.5, 4.0]];
        let out = rectify_rgba(&img, 4, 4, &quad, 3, 2).unwrap();
        assert!(out.iter().all(|&v| v == 255), "{out:?}");
        let left = [[0.0, 0.0], [1.5, 0.0], [1.5, 4.0], [0.0, 4.0]];
        assert!(
            rectify_rgba(&img, 4, 4, &left, 3, 2)
                .unwrap()
                .iter()
                .all(|&v| v == 0)
        );
    }

    #[test]
    fn quads_that_are_no_keyboard_are_refused_with_a_reason() {
        let good = [[10.0, 100.0], [630.0, 100.0], [630.0, 160.0], [10.0, 160.0]];
        assert_eq!(check_quad(&good, Some((640.0, 360.0))), Ok(()));
        let zeros = [[0.0; 2]; 4];
        assert!(check_quad(&zeros, None).unwrap_err().contains("same point"));
        let twice = [[10.0, 100.0], [10.0, 100.0], [630.0, 160.0], [10.0, 160.0]];
        assert!(check_quad(&twice, None).unwrap_err().contains("same point"));
        let reversed = [good[3], good[2], good[1], good[0]];
        assert!(
            check_quad(&reversed, None)
                .unwrap_err()
                .contains("wrong way")
        );
        let crossed = [good[0], good[1], good[3], good[2]];
        assert!(check_quad(&crossed, None).unwrap_err().contains("crossed"));
        let outside = [[10.0, 100.0], [900.0, 100.0], [900.0, 160.0], [10.0, 160.0]];
        assert!(
            check_quad(&outside, Some((640.0, 360.0)))
                .unwrap_err()
                .contains("outside")
        );
        // Slightly negative (a keyboard cut by the frame's edge) is fine.
        let edge = [[-3.0, 100.0], [630.0, 100.0], [630.0, 160.0], [-3.0, 160.0]];
        assert_eq!(check_quad(&edge, Some((640.0, 360.0))), Ok(()));
    }
}
