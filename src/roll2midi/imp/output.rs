// SPDX-License-Identifier: MPL-2.0
//! Tracked frames out: a velocity roll, or MIDI events with their 10 ms ticks.

use gst::prelude::*;

use super::{Output, Roll2Midi, State};
use crate::caps::MIDI_TICK;
use crate::core::notes::NoteEvent;
use crate::core::transcribe::TrackedFrame;

impl Roll2Midi {
    /// Turn final frames into output buffers.
    pub(super) fn render(
        &self,
        state: &mut State,
        frames: Vec<TrackedFrame>,
        tail: Vec<NoteEvent>,
        end: Option<gst::ClockTime>,
    ) -> Vec<gst::Buffer> {
        let mut out = Vec::new();
        match state.output {
            Output::Roll => {
                for f in frames {
                    let mut buf = gst::Buffer::from_mut_slice(f.roll.to_bytes());
                    {
                        let b = buf.get_mut().expect("new buffer is writable");
                        b.set_pts(gst::ClockTime::from_nseconds(f.time.pts));
                        b.set_duration(gst::ClockTime::from_nseconds(f.time.duration));
                    }
                    out.push(buf);
                }
            }
            Output::Midi => {
                for f in frames {
                    let t = gst::ClockTime::from_nseconds(f.time.pts);
                    self.midi_until(state, t, !f.events.is_empty(), &mut out);
                    for e in &f.events {
                        out.push(midi_buffer(&e.to_midi(0), t));
                    }
                }
                if let Some(end) = end {
                    self.midi_until(state, end, !tail.is_empty(), &mut out);
                    for e in &tail {
                        out.push(midi_buffer(&e.to_midi(0), end));
                    }
                    // Ticks after the last note-off, so a synthesiser renders the release.
                    let tail_end =
                        end + gst::ClockTime::from_mseconds(self.settings().tail_ms as u64);
                    self.midi_until(state, tail_end, false, &mut out);
                }
            }
        }
        out
    }

    /// MIDI ticks on every multiple of 10 ms after the last position and before `t` (at `t` too
    /// when no event is sent there), as midiparse does.
    fn midi_until(
        &self,
        state: &mut State,
        t: gst::ClockTime,
        event_at_t: bool,
        out: &mut Vec<gst::Buffer>,
    ) {
        for g in state.ticks.until(t.nseconds(), event_at_t) {
            out.push(midi_buffer(&[MIDI_TICK], gst::ClockTime::from_nseconds(g)));
        }
    }

    pub(super) fn push_all(
        &self,
        bufs: Vec<gst::Buffer>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if bufs.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut list = gst::BufferList::new_sized(bufs.len());
        {
            let l = list.get_mut().expect("new list is writable");
            for b in bufs {
                l.add(b);
            }
        }
        self.srcpad.push_list(list)
    }
}

fn midi_buffer(bytes: &[u8], pts: gst::ClockTime) -> gst::Buffer {
    let mut buf = gst::Buffer::from_slice(bytes.to_vec());
    buf.get_mut().expect("new buffer is writable").set_pts(pts);
    buf
}
