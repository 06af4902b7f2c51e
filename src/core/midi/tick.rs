// SPDX-License-Identifier: MPL-2.0
//! The ticks midiparse sends between events.

use super::Nanos;

/// The 0xF9 "tick" message GStreamer's midiparse sends every 10 ms between events.
pub const TICK: u8 = 0xF9;
/// How often midiparse sends a tick.
pub const TICK_INTERVAL: Nanos = 10_000_000;

/// When to send ticks in a live MIDI event stream, as midiparse does: on every multiple of
/// [`TICK_INTERVAL`] between events, none before the first one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickSchedule {
    pos: Option<Nanos>,
}

impl TickSchedule {
    /// Start again (a new stream: no ticks before its first output).
    pub fn reset(&mut self) {
        self.pos = None;
    }

    /// The ticks due after the last position and before `t`, and at `t` too when no event
    /// is sent there; the position moves to `t`.
    pub fn until(&mut self, t: Nanos, event_at_t: bool) -> Vec<Nanos> {
        let iv = TICK_INTERVAL;
        let Some(from) = self.pos else {
            self.pos = Some(t);
            return if !event_at_t && t.is_multiple_of(iv) {
                vec![t]
            } else {
                Vec::new()
            };
        };
        let mut out = Vec::new();
        let mut g = (from / iv + 1) * iv;
        while g < t || (g == t && !event_at_t) {
            out.push(g);
            g += iv;
        }
        self.pos = Some(t.max(from));
        out
    }
}
