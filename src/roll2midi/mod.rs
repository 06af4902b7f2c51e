// SPDX-License-Identifier: MPL-2.0
//! `roll2midi`: key probabilities to notes.
//!
//! Takes `application/x-piano-roll` probabilities (one buffer per video frame, as video2roll
//! makes them) and outputs either a velocity roll (`format=U8, channels=frame+onset`) or MIDI
//! events (`audio/x-midi-event`, one message per buffer with 0xF9 ticks every 10 ms, as
//! midiparse sends them), whichever downstream accepts (the roll first).
//!
//! `mode=rule-based` (the default): optional Gaussian smoothing over time, a threshold with
//! hysteresis, re-strikes from the onset channel, dropout bridging and a minimum note length.
//! It holds back `smoothing radius + minimum note frames + dropout frames - 1` frames, which it
//! reports as latency.
//!
//! `mode=learned`: Audeo's Roll2Midi refinement first. A trained generator (`refiner`, see
//! `pianola train-refiner`) sees `window` frames at a time; windows overlap by half and
//! cross-fade, the last one is aligned to the end of the stream so no frame is dropped, and the
//! refined probabilities go through the same rules. It adds `window - 1` frames of latency, so
//! when upstream is live it uses `live-window` instead, with a window starting at every frame
//! (one refinement a frame), so that frames come out one for one as they came in, not in
//! bursts of half a window that would hold a synchronised sink and drop live frames. The
//! README's ablation says which mode wins on which data.
//!
//! ```text
//! gst-launch-1.0 ... ! video2roll ! roll2midi threshold=0.4 ! fluiddec ! autoaudiosink
//! gst-launch-1.0 ... ! video2roll ! roll2midi ! midienc ! filesink location=out.mid
//! gst-launch-1.0 ... ! video2roll ! roll2midi mode=learned window=100 ! midienc ! filesink location=out.mid
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Roll2Midi(ObjectSubclass<imp::Roll2Midi>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "roll2midi",
        gst::Rank::NONE,
        Roll2Midi::static_type(),
    )
}
