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
