// SPDX-License-Identifier: MPL-2.0
//! Latency queries of elements that hold data back.

use gst::prelude::*;

/// Answer a latency query on a source pad: upstream's latency (asked through `sinkpad`)
/// plus `ours`. False when upstream does not answer.
pub fn answer(sinkpad: &gst::Pad, q: &mut gst::query::Latency, ours: gst::ClockTime) -> bool {
    let mut upstream = gst::query::Latency::new();
    if !sinkpad.peer_query(&mut upstream) {
        return false;
    }
    let (live, min, max) = upstream.result();
    q.set(live, min + ours, max.map(|m| m + ours));
    true
}

/// Whether the source upstream of `sinkpad` is live (a camera, a capture), by its latency
/// answer; false when it does not answer.
pub fn upstream_is_live(sinkpad: &gst::Pad) -> bool {
    let mut q = gst::query::Latency::new();
    sinkpad.peer_query(&mut q) && q.result().0
}

/// The processing time an element adds to its latency answer, so that a live sink's clock
/// leaves room for the work: either set by the user, or measured (the slowest recent
/// forward pass, plus half, rounded up to a millisecond). Measured margins only grow, so
/// the pipeline's latency is re-configured a few times at the start and then stays put.
#[derive(Clone, Debug)]
pub struct ProcessingMargin {
    fixed: Option<gst::ClockTime>,
    reported: gst::ClockTime,
    /// Passes still to skip before measuring (the first ones allocate and warm up).
    warmup: u32,
}

/// Passes not measured at the start of a stream.
const WARMUP_PASSES: u32 = 2;

impl ProcessingMargin {
    /// `fixed`: the user's margin, or None to measure it, starting from `initial`.
    pub fn new(fixed: Option<gst::ClockTime>, initial: gst::ClockTime) -> Self {
        ProcessingMargin {
            fixed,
            reported: fixed.unwrap_or(initial),
            warmup: WARMUP_PASSES,
        }
    }

    /// From a `processing-margin` property in nanoseconds: -1 (any negative) to measure,
    /// starting from `initial`; otherwise that margin, fixed.
    pub fn from_property(ns: i64, initial: gst::ClockTime) -> Self {
        Self::new(
            u64::try_from(ns).ok().map(gst::ClockTime::from_nseconds),
            initial,
        )
    }

    /// No margin at all (an element whose work is negligible).
    pub fn none() -> Self {
        Self::new(Some(gst::ClockTime::ZERO), gst::ClockTime::ZERO)
    }

    /// The margin to report now.
    pub fn get(&self) -> gst::ClockTime {
        self.reported
    }

    /// Record how long one pass took; true when the margin grew and the element should post
    /// a latency message.
    pub fn observe(&mut self, took: std::time::Duration) -> bool {
        if self.fixed.is_some() {
            return false;
        }
        if self.warmup > 0 {
            self.warmup -= 1;
            return false;
        }
        let want_ns = (took.as_nanos() as u64).saturating_mul(3) / 2;
        let ms = gst::ClockTime::MSECOND.nseconds();
        let want = gst::ClockTime::from_nseconds(want_ns.div_ceil(ms) * ms);
        if want > self.reported {
            self.reported = want;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn margin_grows_after_warmup_and_a_fixed_one_never_moves() {
        gst::init().unwrap();
        let mut m = ProcessingMargin::new(None, gst::ClockTime::from_mseconds(40));
        // Warm-up passes are slow and ignored.
        assert!(!m.observe(Duration::from_millis(900)));
        assert!(!m.observe(Duration::from_millis(900)));
        assert!(!m.observe(Duration::from_millis(20)));
        assert_eq!(m.get(), gst::ClockTime::from_mseconds(40));
        assert!(m.observe(Duration::from_micros(30_100)));
        assert_eq!(m.get(), gst::ClockTime::from_mseconds(46));
        assert!(!m.observe(Duration::from_millis(10)));
        let mut f =
            ProcessingMargin::new(Some(gst::ClockTime::from_mseconds(5)), gst::ClockTime::ZERO);
        for _ in 0..5 {
            assert!(!f.observe(Duration::from_secs(1)));
        }
        assert_eq!(f.get(), gst::ClockTime::from_mseconds(5));
    }
}
