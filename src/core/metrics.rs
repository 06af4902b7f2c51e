// SPDX-License-Identifier: MPL-2.0
//! Transcription metrics: frame-level and note-onset precision, recall and F-measure.
//!
//! Definitions follow what `mir_eval` computes, so numbers are comparable with published
//! piano-transcription results:
//!
//! * Frame level: M. Bay, A. F. Ehmann and J. S. Downie, "Evaluation of multiple-F0 estimation
//!   and tracking systems", ISMIR 2009, as implemented by `mir_eval.multipitch.metrics`
//!   (true/false positives and false negatives summed over all frames before dividing).
//! * Note level: the MIREX "Note Tracking" onset-only criterion (same pitch, onset within
//!   ±50 ms), as implemented by `mir_eval.transcription.precision_recall_f1_overlap` with
//!   `offset_ratio=None`: a maximum bipartite matching between estimated and reference notes.
//!   C. Raffel et al., "mir_eval: A Transparent Implementation of Common MIR Metrics",
//!   ISMIR 2014.
//! * F-measure: `mir_eval.util.f_measure` with beta = 1.
//!
//! Differences from `mir_eval`: pitches are MIDI numbers, so "same pitch" means equal numbers
//! (mir_eval compares frequencies within 50 cents, which for semitone-quantised pitches is the
//! same thing); onset distances are compared in integer nanoseconds, whereas mir_eval rounds
//! them to 4 decimals (0.1 ms) before comparing, so a distance of e.g. 50.001 ms matches in
//! mir_eval with a 50 ms tolerance but not here.

use std::fmt;

use super::notes::{Nanos, Note, SECOND};

/// Frame-level counts and scores.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FrameMetrics {
    /// TP / (TP + FP), 0 when there are no estimated active keys.
    pub precision: f64,
    /// TP / (TP + FN), 0 when there are no reference active keys.
    pub recall: f64,
    /// TP / (TP + FP + FN), 0 when all three are 0.
    pub accuracy: f64,
    /// 2PR / (P + R), 0 when P + R = 0.
    pub f1: f64,
    /// (frame, key) pairs down in both estimate and reference.
    pub true_positives: u64,
    /// (frame, key) pairs down in the estimate only.
    pub false_positives: u64,
    /// (frame, key) pairs down in the reference only.
    pub false_negatives: u64,
}

/// Note-level counts and scores.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct NoteMetrics {
    /// matched / n_estimate (0 when either list is empty).
    pub precision: f64,
    /// matched / n_reference (0 when either list is empty).
    pub recall: f64,
    /// 2PR / (P + R), 0 when P + R = 0.
    pub f1: f64,
    /// Size of the maximum matching.
    pub matched: usize,
    /// Number of estimated notes.
    pub n_estimate: usize,
    /// Number of reference notes.
    pub n_reference: usize,
}

impl FrameMetrics {
    /// Scores of (frame, key) counts, by the same rules as [`frame_metrics`].
    pub fn from_counts(true_positives: u64, false_positives: u64, false_negatives: u64) -> Self {
        let (t, p, n) = (
            true_positives as f64,
            false_positives as f64,
            false_negatives as f64,
        );
        let precision = ratio(t, t + p);
        let recall = ratio(t, t + n);
        FrameMetrics {
            precision,
            recall,
            accuracy: ratio(t, t + p + n),
            f1: f_measure(precision, recall),
            true_positives,
            false_positives,
            false_negatives,
        }
    }

    /// The scores of both sets of frames together (counts summed before dividing, as
    /// mir_eval does over frames).
    pub fn merge(&self, other: &FrameMetrics) -> FrameMetrics {
        FrameMetrics::from_counts(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
        )
    }
}

impl NoteMetrics {
    /// Scores of note counts, by the same rules as [`onset_metrics`].
    pub fn from_counts(matched: usize, n_estimate: usize, n_reference: usize) -> Self {
        let precision = ratio(matched as f64, n_estimate as f64);
        let recall = ratio(matched as f64, n_reference as f64);
        NoteMetrics {
            precision,
            recall,
            f1: f_measure(precision, recall),
            matched,
            n_estimate,
            n_reference,
        }
    }

    /// The scores of both note sets together (counts summed).
    pub fn merge(&self, other: &NoteMetrics) -> NoteMetrics {
        NoteMetrics::from_counts(
            self.matched + other.matched,
            self.n_estimate + other.n_estimate,
            self.n_reference + other.n_reference,
        )
    }
}

/// `num / den`, or 0 when `den` is 0 (as mir_eval does for empty inputs).
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// F-measure with beta = 1, 0 when both are 0 (as `mir_eval.util.f_measure`).
fn f_measure(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Frame-level metrics of Bay et al. 2009 as computed by `mir_eval.multipitch` (counts summed
/// over all frames, P = TP/(TP+FP), R = TP/(TP+FN), Acc = TP/(TP+FP+FN); each 0.0 when its
/// denominator is 0, as mir_eval does), F1 = 2PR/(P+R) (0 when P+R = 0, as
/// `mir_eval.util.f_measure`).
///
/// Inputs: per frame, which keys are down (index = key). Frames beyond the shorter sequence
/// count as all-up. Keys beyond the shorter frame count as up.
pub fn frame_metrics<E: AsRef<[bool]>, R: AsRef<[bool]>>(
    estimate: &[E],
    reference: &[R],
) -> FrameMetrics {
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for i in 0..estimate.len().max(reference.len()) {
        let est: &[bool] = estimate.get(i).map_or(&[], |f| f.as_ref());
        let rf: &[bool] = reference.get(i).map_or(&[], |f| f.as_ref());
        for k in 0..est.len().max(rf.len()) {
            let e = est.get(k).copied().unwrap_or(false);
            let r = rf.get(k).copied().unwrap_or(false);
            match (e, r) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
    }
    FrameMetrics::from_counts(tp, fp, fn_)
}

/// Size of a maximum matching between sorted onsets `est` and `rf` (one pitch) where a pair
/// may match when `|e - r| <= tol`.
///
/// Why the greedy two-pointer sweep is optimal: let `e` and `r` be the smallest onsets not yet
/// consumed.
/// * If `e < r - tol`, `e` cannot match `r` nor any later reference (all are >= `r`), so
///   dropping `e` loses nothing. Symmetrically, if `e > r + tol`, `r` can match no remaining
///   estimate (all are >= `e`), so dropping `r` loses nothing.
/// * Otherwise `|e - r| <= tol`, and some maximum matching of the remaining onsets pairs `e`
///   with `r` (exchange argument). Take any maximum matching M. If `e` is matched to `r'` and
///   `r` to `e'` (with `r' >= r`, `e' >= e`), then `e' >= e >= r' - tol` and
///   `e' <= r + tol <= r' + tol`, so `(e', r')` is an allowed pair and swapping to
///   `(e, r), (e', r')` keeps the size. If only one of them is matched (say `e` to `r'`), replace
///   that pair by `(e, r)`. If neither is matched, M was not maximum. Hence matching `e` with
///   `r` and solving the rest optimally is optimal, and by induction so is the sweep.
///
/// Different pitches never match, so the maximum matching over all notes is the sum of the
/// per-pitch maxima.
fn greedy_match_count(est: &[Nanos], rf: &[Nanos], tol: Nanos) -> usize {
    let (mut i, mut j, mut matched) = (0, 0, 0);
    while i < est.len() && j < rf.len() {
        let (e, r) = (est[i], rf[j]);
        if e.saturating_add(tol) < r {
            i += 1;
        } else if e > r.saturating_add(tol) {
            j += 1;
        } else {
            matched += 1;
            i += 1;
            j += 1;
        }
    }
    matched
}

/// Onsets grouped by pitch, each group sorted.
fn onsets_by_pitch(notes: &[Note]) -> Vec<Vec<Nanos>> {
    let mut by_pitch = vec![Vec::new(); 256];
    for n in notes {
        by_pitch[n.pitch as usize].push(n.start);
    }
    for v in &mut by_pitch {
        v.sort_unstable();
    }
    by_pitch
}

/// Note onset P/R/F1 as `mir_eval.transcription.precision_recall_f1_overlap` with
/// `offset_ratio=None`: an estimated note matches a reference note of the same pitch whose
/// onset is within `onset_tolerance_s` seconds (inclusive; the distance is compared in integer
/// nanoseconds, i.e. at 1e-9 s resolution, to avoid float issues at the boundary); each note
/// matches at most once; the matching is a maximum bipartite matching. Offsets and velocities
/// are ignored. An empty estimate or empty reference gives zero scores (as mir_eval, which
/// warns); the counts are still filled in. A negative or NaN tolerance counts as 0.
pub fn onset_metrics(estimate: &[Note], reference: &[Note], onset_tolerance_s: f64) -> NoteMetrics {
    let n_estimate = estimate.len();
    let n_reference = reference.len();
    if n_estimate == 0 || n_reference == 0 {
        return NoteMetrics {
            n_estimate,
            n_reference,
            ..NoteMetrics::default()
        };
    }
    // `as` saturates and maps NaN to 0.
    let tol = (onset_tolerance_s.max(0.0) * SECOND as f64).round() as Nanos;
    let est = onsets_by_pitch(estimate);
    let rf = onsets_by_pitch(reference);
    let matched: usize = est
        .iter()
        .zip(&rf)
        .map(|(e, r)| greedy_match_count(e, r, tol))
        .sum();
    NoteMetrics::from_counts(matched, n_estimate, n_reference)
}

/// Signed onset errors (estimate minus reference, seconds) of the notes `onset_metrics`
/// would match at `tolerance_s`: per pitch, the same greedy sweep, each pair's difference.
/// Negative: the estimate comes early.
pub fn onset_errors(estimate: &[Note], reference: &[Note], tolerance_s: f64) -> Vec<f64> {
    let tol = (tolerance_s.max(0.0) * SECOND as f64).round() as Nanos;
    let est = onsets_by_pitch(estimate);
    let rf = onsets_by_pitch(reference);
    let mut out = Vec::new();
    for (e, r) in est.iter().zip(&rf) {
        let (mut i, mut j) = (0, 0);
        while i < e.len() && j < r.len() {
            if e[i].saturating_add(tol) < r[j] {
                i += 1;
            } else if e[i] > r[j].saturating_add(tol) {
                j += 1;
            } else {
                out.push((e[i] as f64 - r[j] as f64) / SECOND as f64);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The `q` quantile (0..=1) of `values` by linear interpolation; None when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// Shift all notes by `offset_ns` (signed): notes that would start before 0 are dropped, ends
/// are clamped to be no earlier than the new start (and saturate at the top of the range). Used
/// to align a reference MIDI with a video (video_t = midi_t + offset). Order is kept.
pub fn shift_notes(notes: &[Note], offset_ns: i64) -> Vec<Note> {
    let shift = |t: Nanos| -> i128 { t as i128 + offset_ns as i128 };
    let clamp = |t: i128| -> Nanos { t.clamp(0, Nanos::MAX as i128) as Nanos };
    notes
        .iter()
        .filter_map(|n| {
            let start = shift(n.start);
            if start < 0 {
                return None;
            }
            let start = clamp(start);
            let end = clamp(shift(n.end)).max(start);
            Some(Note { start, end, ..*n })
        })
        .collect()
}

impl fmt::Display for FrameMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "P {:.3} R {:.3} Acc {:.3} F1 {:.3} (TP {} FP {} FN {})",
            self.precision,
            self.recall,
            self.accuracy,
            self.f1,
            self.true_positives,
            self.false_positives,
            self.false_negatives
        )
    }
}

impl fmt::Display for NoteMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "P {:.3} R {:.3} F1 {:.3} ({} matched, {} estimated, {} reference)",
            self.precision, self.recall, self.f1, self.matched, self.n_estimate, self.n_reference
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_scores_are_those_of_the_frames_and_notes_together() {
        let a = vec![vec![true, false, true], vec![false, false, true]];
        let ra = vec![vec![true, true, false], vec![false, false, true]];
        let b = vec![vec![false, true, false]];
        let rb = vec![vec![false, true, true]];
        let whole = frame_metrics(
            &[a.clone(), b.clone()].concat(),
            &[ra.clone(), rb.clone()].concat(),
        );
        assert_eq!(frame_metrics(&a, &ra).merge(&frame_metrics(&b, &rb)), whole);
        let n = |pitch, ms: u64| Note {
            pitch,
            velocity: 100,
            start: ms * 1_000_000,
            end: ms * 1_000_000 + 100_000_000,
        };
        let (ea, rfa) = (vec![n(60, 0), n(62, 500)], vec![n(60, 10)]);
        let (eb, rfb) = (vec![n(64, 0)], vec![n(64, 30), n(65, 900)]);
        let whole = onset_metrics(
            &[ea.clone(), eb.clone()].concat(),
            &[rfa.clone(), rfb.clone()].concat(),
            0.05,
        );
        assert_eq!(
            onset_metrics(&ea, &rfa, 0.05).merge(&onset_metrics(&eb, &rfb, 0.05)),
            whole
        );
        assert_eq!(
            NoteMetrics::from_counts(0, 0, 3),
            onset_metrics(&[], &rfb, 0.05).merge(&onset_metrics(&[], &[n(1, 0)], 0.05))
        );
    }
    use crate::core::notes::MSECOND;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    const T: bool = true;
    const F: bool = false;

    #[test]
    fn frame_hand_worked() {
        // 3 frames, 3 keys.
        // frame 0: est [T T F], ref [T F F] -> TP 1, FP 1, FN 0
        // frame 1: est [F F F], ref [F T F] -> TP 0, FP 0, FN 1
        // frame 2: est [T F T], ref [T T T] -> TP 2, FP 0, FN 1
        // totals TP 3, FP 1, FN 2:
        // P = 3/4 = 0.75, R = 3/5 = 0.6, Acc = 3/6 = 0.5,
        // F1 = 2 * 0.75 * 0.6 / (0.75 + 0.6) = 0.9 / 1.35 = 2/3.
        let est = [[T, T, F], [F, F, F], [T, F, T]];
        let rf = [[T, F, F], [F, T, F], [T, T, T]];
        let m = frame_metrics(&est, &rf);
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (3, 1, 2)
        );
        assert!(close(m.precision, 0.75));
        assert!(close(m.recall, 0.6));
        assert!(close(m.accuracy, 0.5));
        assert!(close(m.f1, 2.0 / 3.0));
        assert_eq!(
            m.to_string(),
            "P 0.750 R 0.600 Acc 0.500 F1 0.667 (TP 3 FP 1 FN 2)"
        );
    }

    #[test]
    fn frame_perfect() {
        let r = vec![vec![T, F, T], vec![F, F, F], vec![F, T, F]];
        let m = frame_metrics(&r, &r);
        assert_eq!(
            (m.precision, m.recall, m.accuracy, m.f1),
            (1.0, 1.0, 1.0, 1.0)
        );
        assert_eq!(m.true_positives, 3);
    }

    #[test]
    fn frame_empty_estimate() {
        let r = vec![vec![T, F], vec![T, T]];
        // No frames at all, and frames that are all up, give the same result.
        for est in [vec![], vec![vec![F, F], vec![F, F]]] {
            let m = frame_metrics(&est, &r);
            assert_eq!(
                (m.precision, m.recall, m.accuracy, m.f1),
                (0.0, 0.0, 0.0, 0.0)
            );
            assert_eq!(
                (m.true_positives, m.false_positives, m.false_negatives),
                (0, 0, 3)
            );
        }
    }

    #[test]
    fn frame_empty_reference() {
        let e = vec![vec![F, T], vec![T, T]];
        let m = frame_metrics::<_, Vec<bool>>(&e, &[]);
        assert_eq!(
            (m.precision, m.recall, m.accuracy, m.f1),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (0, 3, 0)
        );
    }

    #[test]
    fn frame_both_empty() {
        assert_eq!(
            frame_metrics::<Vec<bool>, Vec<bool>>(&[], &[]),
            FrameMetrics::default()
        );
        let silent = vec![vec![F; 88]; 4];
        assert_eq!(frame_metrics(&silent, &silent), FrameMetrics::default());
    }

    #[test]
    fn frame_different_lengths() {
        // Estimate has 2 frames of 3 keys, reference 3 frames of 2 keys.
        // frame 0: est [T F T], ref [T F] (+ up) -> TP 1, FP 1
        // frame 1: est [F T F], ref [F T]        -> TP 1
        // frame 2: est (none),  ref [T T]        -> FN 2
        // TP 2, FP 1, FN 2: P = 2/3, R = 2/4, Acc = 2/5, F1 = 2 * (1/3) / (7/6) = 4/7.
        let est = vec![vec![T, F, T], vec![F, T, F]];
        let rf = vec![vec![T, F], vec![F, T], vec![T, T]];
        let m = frame_metrics(&est, &rf);
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (2, 1, 2)
        );
        assert!(close(m.precision, 2.0 / 3.0));
        assert!(close(m.recall, 0.5));
        assert!(close(m.accuracy, 0.4));
        assert!(close(m.f1, 4.0 / 7.0));
    }

    fn note(pitch: u8, start: Nanos) -> Note {
        Note::new(pitch, start, start + 100 * MSECOND, 80)
    }

    #[test]
    fn onset_tolerance_boundary() {
        let rf = [note(60, SECOND)];
        // Exactly 50 ms either side matches.
        for e in [SECOND + 50 * MSECOND, SECOND - 50 * MSECOND] {
            let m = onset_metrics(&[note(60, e)], &rf, 0.05);
            assert_eq!(m.matched, 1);
            assert_eq!((m.precision, m.recall, m.f1), (1.0, 1.0, 1.0));
        }
        // 50.001 ms does not.
        for e in [SECOND + 50_001_000, SECOND - 50_001_000] {
            let m = onset_metrics(&[note(60, e)], &rf, 0.05);
            assert_eq!(m.matched, 0);
            assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
            assert_eq!((m.n_estimate, m.n_reference), (1, 1));
        }
    }

    #[test]
    fn onset_wrong_pitch_never_matches() {
        // Same onsets, neighbouring pitches, huge tolerance: nothing matches.
        let rf = [note(60, SECOND), note(62, SECOND)];
        let est = [note(59, SECOND), note(61, SECOND), note(63, SECOND)];
        let m = onset_metrics(&est, &rf, 10.0);
        assert_eq!(m.matched, 0);
        assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
        // Adding the right pitch far away in time still matches it (10 s window) and only it.
        let mut est = est.to_vec();
        est.push(note(62, 5 * SECOND));
        assert_eq!(onset_metrics(&est, &rf, 10.0).matched, 1);
    }

    #[test]
    fn onset_one_estimate_two_references() {
        let rf = [note(60, SECOND), note(60, SECOND + 30 * MSECOND)];
        let est = [note(60, SECOND + 15 * MSECOND)];
        let m = onset_metrics(&est, &rf, 0.05);
        assert_eq!(m.matched, 1);
        assert!(close(m.precision, 1.0));
        assert!(close(m.recall, 0.5));
        assert!(close(m.f1, 2.0 / 3.0));
        assert_eq!(
            m.to_string(),
            "P 1.000 R 0.500 F1 0.667 (1 matched, 1 estimated, 2 reference)"
        );
    }

    #[test]
    fn onset_empty_inputs() {
        let n = [note(60, 0)];
        let m = onset_metrics(&[], &n, 0.05);
        assert_eq!((m.precision, m.recall, m.f1, m.matched), (0.0, 0.0, 0.0, 0));
        assert_eq!((m.n_estimate, m.n_reference), (0, 1));
        let m = onset_metrics(&n, &[], 0.05);
        assert_eq!((m.precision, m.recall, m.f1, m.matched), (0.0, 0.0, 0.0, 0));
        assert_eq!((m.n_estimate, m.n_reference), (1, 0));
        assert_eq!(onset_metrics(&[], &[], 0.05), NoteMetrics::default());
    }

    /// Simple LCG (Knuth's MMIX constants); high bits are the usable ones.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Maximum bipartite matching by augmenting paths (Kuhn), over all pairs.
    fn brute_force_matching(est: &[Note], rf: &[Note], tol: Nanos) -> usize {
        let adj: Vec<Vec<usize>> = est
            .iter()
            .map(|e| {
                (0..rf.len())
                    .filter(|&j| rf[j].pitch == e.pitch && e.start.abs_diff(rf[j].start) <= tol)
                    .collect()
            })
            .collect();
        fn augment(
            i: usize,
            adj: &[Vec<usize>],
            seen: &mut [bool],
            owner: &mut [Option<usize>],
        ) -> bool {
            for &j in &adj[i] {
                if !seen[j] {
                    seen[j] = true;
                    if owner[j].is_none_or(|k| augment(k, adj, seen, owner)) {
                        owner[j] = Some(i);
                        return true;
                    }
                }
            }
            false
        }
        let mut owner = vec![None; rf.len()];
        (0..est.len())
            .filter(|&i| augment(i, &adj, &mut vec![false; rf.len()], &mut owner))
            .count()
    }

    #[test]
    fn onset_greedy_matches_brute_force() {
        let mut rng = Lcg(0x5eed_1234);
        let tol = 50 * MSECOND;
        for _ in 0..2000 {
            // Few pitches and onsets on a coarse grid close together, so that windows overlap,
            // ties and exact-boundary distances are frequent.
            let gen_notes = |rng: &mut Lcg| -> Vec<Note> {
                let n = rng.below(9) as usize;
                (0..n)
                    .map(|_| note(60 + rng.below(3) as u8, rng.below(40) * 10 * MSECOND))
                    .collect()
            };
            let est = gen_notes(&mut rng);
            let rf = gen_notes(&mut rng);
            let m = onset_metrics(&est, &rf, 0.05);
            let expected = if est.is_empty() || rf.is_empty() {
                0
            } else {
                brute_force_matching(&est, &rf, tol)
            };
            assert_eq!(m.matched, expected, "est {est:?} ref {rf:?}");
        }
    }

    #[test]
    fn shift_negative_and_positive() {
        let notes = [
            Note::new(60, 100 * MSECOND, 500 * MSECOND, 90),
            Note::new(62, 300 * MSECOND, 400 * MSECOND, 70),
            Note::new(64, 200 * MSECOND, 250 * MSECOND, 60),
            Note::new(65, 250 * MSECOND, 200 * MSECOND, 60), // malformed: end before start
        ];
        let off = -(200 * MSECOND as i64);
        assert_eq!(
            shift_notes(&notes, off),
            vec![
                // 60 would start at -100 ms: dropped.
                Note::new(62, 100 * MSECOND, 200 * MSECOND, 70),
                Note::new(64, 0, 50 * MSECOND, 60),
                Note::new(65, 50 * MSECOND, 50 * MSECOND, 60),
            ]
        );
        let shifted = shift_notes(&notes[..1], SECOND as i64);
        assert_eq!(
            shifted,
            vec![Note::new(60, 1100 * MSECOND, 1500 * MSECOND, 90)]
        );
        let far = shift_notes(&[Note::new(1, Nanos::MAX - 5, Nanos::MAX, 1)], 10);
        assert_eq!(far, vec![Note::new(1, Nanos::MAX, Nanos::MAX, 1)]);
    }

    #[test]
    fn onset_errors_are_signed_and_matched() {
        let r = [
            Note::new(60, 1_000_000_000, 1_500_000_000, 90),
            Note::new(62, 2_000_000_000, 2_100_000_000, 90),
        ];
        let e = [
            Note::new(60, 920_000_000, 1_400_000_000, 90),
            Note::new(62, 2_030_000_000, 2_100_000_000, 90),
            Note::new(64, 0, 1, 1),
        ];
        let mut v = onset_errors(&e, &r, 0.1);
        v.sort_by(f64::total_cmp);
        assert_eq!(v.len(), 2);
        assert!(
            (v[0] + 0.08).abs() < 1e-9 && (v[1] - 0.03).abs() < 1e-9,
            "{v:?}"
        );
        assert_eq!(quantile(&v, 0.5), Some(-0.025));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
