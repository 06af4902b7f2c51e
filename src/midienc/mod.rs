// SPDX-License-Identifier: MPL-2.0
//! `midienc`: notes to a Standard MIDI File.
//!
//! Takes a piano roll (`application/x-piano-roll`; probabilities are binarised at 0.5 with
//! velocity 100) or MIDI events (`audio/x-midi-event`) and, at end of stream, outputs one
//! buffer holding a complete format-0 SMF (`audio/midi`), with times exact to 1 ms from the
//! input's running time. midiparse and other MIDI tools read it back. Until then it sends a
//! bytes segment and gap events, so the sink after it prerolls (a `tee` feeding midienc and
//! midisynth runs as written). A malformed event (or roll buffer of the wrong size, or a time
//! past the ~37 h a file holds) is left out with a warning; the rest of the file is written.
//!
//! ```text
//! gst-launch-1.0 ... ! roll2midi ! midienc ! filesink location=out.mid
//! gst-launch-1.0 filesrc location=in.mid ! midiparse ! midienc ! filesink location=copy.mid
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct MidiEnc(ObjectSubclass<imp::MidiEnc>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "midienc",
        gst::Rank::NONE,
        MidiEnc::static_type(),
    )
}
