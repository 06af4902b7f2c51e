// SPDX-License-Identifier: MPL-2.0
//! `pianocrop`: finds, tracks and rectifies the keyboard in a top-view video.
//!
//! Takes raw video in most formats (grey, planar and packed YUV, packed RGB) and outputs the
//! keyboard rectified to the canonical 88-key strip: `video/x-raw, format=GRAY8,
//! width=900, height=100` by default, same frame rate and timestamps. Key `n` always sits at
//! the same x-span (see `keyboard::canonical_span`); a 61 or 76 key instrument is placed at
//! its true position with the missing keys padded dark. Until the keyboard is locked, frames
//! are padded and flagged GAP.
//!
//! The keyboard is detected in the first frames (hands may be on the keys), confirmed over
//! `confirm-frames` frames, locked, and checked again every `recheck-interval` frames: when
//! the camera moves or the scene cuts it is found again. Each lock posts an element message
//! `pianocrop-keyboard` (`corners` x0,y0,...,x3,y3 top-left, top-right, bottom-right,
//! bottom-left, where top is the back of the keys and left is the lowest key, whatever the
//! keyboard's turn in the frame; `keys`; `lowest-note`; `orientation`, the keyboard's quarter
//! turn clockwise, 0, 90, 180 or 270; `angle`, the same in degrees with the tilt of an oblique
//! view; `confidence`; `relock`). The keyboard may lie any way up: upright (A0 at the left),
//! upside down (filmed from the far side), in a portrait video, or tilted by an oblique
//! camera; the strip always has A0 at the left. The `orientation` property (auto, 0, 90, 180,
//! 270) fixes the quarter turn. The `corners`, `keys` and `lowest-note` properties override
//! detection. With `draw=true` the element instead passes
//! RGBA video through with the keyboard outline and key grid drawn on it.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! pianocrop ! videoconvert ! autovideosink
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! pianocrop draw=true ! videoconvert ! autovideosink
//! gst-launch-1.0 ... ! pianocrop corners="9,286,1275,300,1258,450,24,434" keys=88 ! ...
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PianoCrop(ObjectSubclass<imp::PianoCrop>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "pianocrop",
        gst::Rank::NONE,
        PianoCrop::static_type(),
    )
}
