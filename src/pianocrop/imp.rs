// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::VideoFormat;
use gst_video::prelude::*;

use crate::caps;
use crate::core::geometry::check_quad;
use crate::core::keyboard::{Keyboard, PIANO_88};
use crate::core::keyfind::{
    self, DetectParams, Detection, GrayImage, KeyboardTracker, PAD, Rectifier, TrackEvent,
    TrackerConfig,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pianocrop",
        gst::DebugColorFlags::empty(),
        Some("Keyboard finder and rectifier"),
    )
});

const DEFAULT_WIDTH: u32 = 900;
const DEFAULT_HEIGHT: u32 = 100;
const DEFAULT_TIMEOUT: f64 = 10.0;
const DEFAULT_CONFIRM: u32 = 3;
const DEFAULT_RECHECK: u32 = 15;
pub const KEYBOARD_MESSAGE: &str = "pianocrop-keyboard";

const INPUT_FORMATS: [VideoFormat; 17] = [
    VideoFormat::Gray8,
    VideoFormat::I420,
    VideoFormat::Yv12,
    VideoFormat::Nv12,
    VideoFormat::Nv21,
    VideoFormat::Y42b,
    VideoFormat::Y444,
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Argb,
    VideoFormat::Abgr,
];

/// How the keyboard is turned in the frame (the `orientation` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPianolaPianoCropOrientation")]
pub enum Orientation {
    #[enum_value(name = "Found by detection", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "Upright: A0 at the left, back of the keys up", nick = "0")]
    Deg0 = 1,
    #[enum_value(name = "Turned 90 degrees clockwise: A0 at the top", nick = "90")]
    Deg90 = 2,
    #[enum_value(
        name = "Upside down (seen from the far side): A0 at the right",
        nick = "180"
    )]
    Deg180 = 3,
    #[enum_value(name = "Turned 270 degrees clockwise: A0 at the bottom", nick = "270")]
    Deg270 = 4,
}

impl Orientation {
    /// The quarter turn it fixes, if any.
    fn quarter(self) -> Option<u16> {
        match self {
            Orientation::Auto => None,
            Orientation::Deg0 => Some(0),
            Orientation::Deg90 => Some(90),
            Orientation::Deg180 => Some(180),
            Orientation::Deg270 => Some(270),
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    width: u32,
    height: u32,
    corners: Option<String>,
    keys: u32,
    lowest_note: u32,
    timeout: f64,
    confirm: u32,
    recheck: u32,
    draw: bool,
    orientation: Orientation,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            corners: None,
            keys: 0,
            lowest_note: 0,
            timeout: DEFAULT_TIMEOUT,
            confirm: DEFAULT_CONFIRM,
            recheck: DEFAULT_RECHECK,
            draw: false,
            orientation: Orientation::Auto,
        }
    }
}

struct State {
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
    tracker: KeyboardTracker,
    /// Manual corners and keyboard (override detection).
    manual: Option<Detection>,
    rectifier: Option<Rectifier>,
    gray: Vec<u8>,
    first_pts: Option<gst::ClockTime>,
    last_pts: Option<gst::ClockTime>,
    timed_out: bool,
    /// A keyboard was found (or given) at some point of the stream.
    locked_once: bool,
    /// Whether upstream is live (asked at the first frame): only a live source gives up
    /// searching after `timeout`; a file is searched to its end.
    live: Option<bool>,
}

pub struct PianoCrop {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// Parse "x0,y0,x1,y1,x2,y2,x3,y3".
fn parse_corners(s: &str) -> Result<[[f64; 2]; 4], String> {
    let v: Result<Vec<f64>, _> = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<f64>())
        .collect();
    match v {
        Ok(v) if v.len() == 8 && v.iter().all(|x| x.is_finite()) => {
            Ok([[v[0], v[1]], [v[2], v[3]], [v[4], v[5]], [v[6], v[7]]])
        }
        _ => Err(format!(
            "corners \"{s}\" must be 8 numbers: x0,y0,x1,y1,x2,y2,x3,y3 (top-left, top-right, bottom-right, bottom-left)"
        )),
    }
}

impl PianoCrop {
    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The instrument the properties describe, if they describe one.
    fn keyboard_of(settings: &Settings) -> Result<Option<Keyboard>, String> {
        match (settings.keys, settings.lowest_note) {
            (0, 0) => Ok(None),
            (0, _) => Err("lowest-note needs keys as well".into()),
            (k, 0) => Keyboard::standard(k as usize)
                .map(Some)
                .map_err(|e| e.to_string()),
            (k, l) => Keyboard::new(k as usize, l as u8)
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }

    /// Luma of a frame: the Y plane itself when possible, else converted into `scratch`.
    fn luma<'a>(
        frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
        scratch: &'a mut Vec<u8>,
    ) -> Option<GrayImage<'a>> {
        let info = frame.info();
        let (w, h) = (info.width() as usize, info.height() as usize);
        let finfo = info.format_info();
        if finfo.is_yuv() || finfo.is_gray() {
            let stride = frame.plane_stride()[0] as usize;
            let pstride = finfo.pixel_stride()[0] as usize;
            let data = frame.plane_data(0).ok()?;
            if pstride == 1 {
                return Some(GrayImage {
                    data,
                    width: w,
                    height: h,
                    stride,
                });
            }
            let off = finfo.poffset()[0] as usize;
            scratch.resize(w * h, 0);
            for y in 0..h {
                for x in 0..w {
                    scratch[y * w + x] = data[y * stride + x * pstride + off];
                }
            }
        } else {
            let stride = frame.plane_stride()[0] as usize;
            let pstride = finfo.pixel_stride()[0] as usize;
            let off = finfo.poffset();
            let (r, g, b) = (off[0] as usize, off[1] as usize, off[2] as usize);
            let data = frame.plane_data(0).ok()?;
            scratch.resize(w * h, 0);
            for y in 0..h {
                let row = &data[y * stride..];
                for x in 0..w {
                    let p = x * pstride;
                    scratch[y * w + x] = keyfind::luma(row[p + r], row[p + g], row[p + b]);
                }
            }
        }
        Some(GrayImage {
            data: scratch,
            width: w,
            height: h,
            stride: w,
        })
    }

    /// The frame's position in the stream (stream time times the frame rate), so that
    /// re-checks fall on the same frames whether the video was seeked or not.
    fn frame_position(
        &self,
        pts: Option<gst::ClockTime>,
        info: &gst_video::VideoInfo,
    ) -> Option<u64> {
        let fps = info.fps();
        if fps.numer() <= 0 || fps.denom() <= 0 {
            return None;
        }
        let segment = self.obj().segment();
        let segment = segment.downcast_ref::<gst::ClockTime>()?;
        let t = segment.to_stream_time(pts?)?;
        let frames = t.nseconds() as f64 * fps.numer() as f64 / fps.denom() as f64 / 1e9;
        Some(frames.round() as u64)
    }

    fn post_lock(&self, d: &Detection, relock: bool, pts: Option<gst::ClockTime>) {
        let angle = keyfind::angle_of(&d.corners);
        gst::info!(
            CAT,
            imp = self,
            "{} keyboard {:?} at {:?} (turned {:.1} degrees, confidence {:.2}) at {}",
            if relock { "re-locked" } else { "locked" },
            d.keyboard,
            d.corners,
            angle,
            d.confidence,
            pts.display()
        );
        let s = gst::Structure::builder(KEYBOARD_MESSAGE)
            .field(
                "corners",
                gst::Array::new(d.corners.iter().flat_map(|p| [p[0], p[1]])),
            )
            .field("keys", d.keyboard.keys as i32)
            .field("orientation", keyfind::quarter_of(angle) as i32)
            .field("angle", angle)
            .field("lowest-note", d.keyboard.lowest_note as i32)
            .field("confidence", d.confidence as f64)
            .field("relock", relock)
            .field("timestamp", pts.map(|t| t.nseconds()).unwrap_or(u64::MAX))
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PianoCrop {
    const NAME: &'static str = "GstPianolaPianoCrop";
    type Type = super::PianoCrop;
    type ParentType = gst_base::BaseTransform;

    fn new() -> Self {
        PianoCrop {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
        }
    }
}

impl ObjectImpl for PianoCrop {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Width of the canonical strip (Audeo: 900)")
                    .minimum(88)
                    .maximum(8192)
                    .default_value(DEFAULT_WIDTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Height of the canonical strip (Audeo: 100)")
                    .minimum(8)
                    .maximum(4096)
                    .default_value(DEFAULT_HEIGHT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("corners")
                    .nick("Corners")
                    .blurb("Keyboard corners in input pixels, \"x0,y0,x1,y1,x2,y2,x3,y3\" (top-left, top-right, bottom-right, bottom-left; top = back of the keys, bottom = front edge of the white keys); set: no detection")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("keys")
                    .nick("Keys")
                    .blurb("Number of keys (88, 76, 61, 49); 0: detected")
                    .maximum(128)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("lowest-note")
                    .nick("Lowest note")
                    .blurb("MIDI note of the lowest key (with keys); 0: the standard one for that size")
                    .maximum(127)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("timeout")
                    .nick("Timeout")
                    .blurb("Live sources: seconds without finding a keyboard before a bus error (0: never); a file is searched to its end")
                    .minimum(0.0)
                    .maximum(3600.0)
                    .default_value(DEFAULT_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("confirm-frames")
                    .nick("Confirm frames")
                    .blurb("Consistent detections needed to lock or move the keyboard")
                    .minimum(1)
                    .maximum(100)
                    .default_value(DEFAULT_CONFIRM)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("recheck-interval")
                    .nick("Re-check interval")
                    .blurb("Once locked, look for the keyboard again every this many frames (camera moves, scene cuts)")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_RECHECK)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("orientation", Orientation::Auto)
                    .nick("Orientation")
                    .blurb("How the keyboard is turned in the frame, clockwise: 0 upright (A0 at the left), 90 (A0 at the top), 180 upside down (seen from the far side), 270; auto: found by detection, oblique views included")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("draw")
                    .nick("Draw")
                    .blurb("Debug view: pass RGBA video through with the found keyboard and key grid drawn on it")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "width" => s.width = value.get().expect("type checked upstream"),
            "height" => s.height = value.get().expect("type checked upstream"),
            "corners" => {
                s.corners = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|c| !c.trim().is_empty())
            }
            "keys" => s.keys = value.get().expect("type checked upstream"),
            "lowest-note" => s.lowest_note = value.get().expect("type checked upstream"),
            "timeout" => s.timeout = value.get().expect("type checked upstream"),
            "confirm-frames" => s.confirm = value.get().expect("type checked upstream"),
            "recheck-interval" => s.recheck = value.get().expect("type checked upstream"),
            "draw" => s.draw = value.get().expect("type checked upstream"),
            "orientation" => s.orientation = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "corners" => s.corners.to_value(),
            "keys" => s.keys.to_value(),
            "lowest-note" => s.lowest_note.to_value(),
            "timeout" => s.timeout.to_value(),
            "confirm-frames" => s.confirm.to_value(),
            "recheck-interval" => s.recheck.to_value(),
            "draw" => s.draw.to_value(),
            "orientation" => s.orientation.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for PianoCrop {}

impl ElementImpl for PianoCrop {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Piano keyboard crop",
                "Filter/Converter/Video",
                "Finds and tracks the keyboard in a top-view video and rectifies it to the \
                 canonical 88-key strip",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Frames smaller than a keyboard can be found in are refused at negotiation.
            let sink = gst_video::VideoCapsBuilder::new()
                .format_list(INPUT_FORMATS)
                .width_range(keyfind::MIN_FRAME.0 as i32..=i32::MAX)
                .height_range(keyfind::MIN_FRAME.1 as i32..=i32::MAX)
                .build();
            let src = gst_video::VideoCapsBuilder::new()
                .format_list([VideoFormat::Gray8, VideoFormat::Rgba])
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PianoCrop {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings();
        if let Some(c) = &s.corners {
            parse_corners(c)
                .and_then(|q| check_quad(&q, None))
                .map_err(|e| {
                    gst::error_msg!(gst::LibraryError::Settings, ("Bad corners property: {e}"))
                })?;
        }
        Self::keyboard_of(&s).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("Bad keys/lowest-note properties: {e}")
            )
        })?;
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state().take() {
            gst::debug!(
                CAT,
                imp = self,
                "searched {} frames in full (first lock and the re-checks a quick look at the lock did not settle)",
                state.tracker.searches()
            );
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state().as_mut()
        {
            // A seek: the search timeout starts again from the next frame, and a move being
            // confirmed is dropped (the frames around a seek are not consecutive). The lock
            // stays: it is the same video.
            state.first_pts = None;
            state.last_pts = None;
            state.timed_out = false;
            state.tracker.interrupt();
        }
        if let gst::EventView::Eos(_) = event.view() {
            // A clip shorter than the timeout that never showed a keyboard: say so instead
            // of ending with nothing but padding.
            let never = self.state().as_ref().and_then(|s| {
                let (first, last) = (s.first_pts?, s.last_pts?);
                (!s.locked_once && !s.timed_out && s.manual.is_none())
                    .then(|| last.saturating_sub(first).seconds_f64())
            });
            if let Some(secs) = never {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("No piano keyboard found in the whole video ({secs:.1} s). Set the pianocrop properties corners=\"x0,y0,x1,y1,x2,y2,x3,y3\" (top-left, top-right, bottom-right, bottom-left of the keys) and keys (88, 76, 61)")
                );
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let s = self.settings();
        let mut out = gst::Caps::new_empty();
        {
            let out = out.get_mut().expect("new caps are writable");
            for st in caps.iter() {
                let mut b = if direction == gst::PadDirection::Sink {
                    if s.draw {
                        gst::Structure::builder("video/x-raw").field("format", "RGBA")
                    } else {
                        gst::Structure::builder("video/x-raw")
                            .field("format", "GRAY8")
                            .field("width", s.width as i32)
                            .field("height", s.height as i32)
                            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    }
                } else if s.draw {
                    gst::Structure::builder("video/x-raw").field("format", "RGBA")
                } else {
                    gst::Structure::builder("video/x-raw")
                        .field(
                            "format",
                            gst::List::new(INPUT_FORMATS.iter().map(|f| f.to_str())),
                        )
                        .field(
                            "width",
                            gst::IntRange::new(keyfind::MIN_FRAME.0 as i32, i32::MAX),
                        )
                        .field(
                            "height",
                            gst::IntRange::new(keyfind::MIN_FRAME.1 as i32, i32::MAX),
                        )
                };
                if s.draw {
                    for f in ["width", "height", "pixel-aspect-ratio"] {
                        if let Ok(v) = st.value(f) {
                            b = b.field(f, v.clone());
                        }
                    }
                }
                if let Ok(v) = st.value("framerate") {
                    b = b.field("framerate", v.clone());
                }
                out.append_structure(b.build());
            }
        }
        Some(match filter {
            Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
            None => out,
        })
    }

    fn unit_size(&self, caps: &gst::Caps) -> Option<usize> {
        gst_video::VideoInfo::from_caps(caps).ok().map(|i| i.size())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let in_info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "bad input caps {incaps}"))?;
        let out_info = gst_video::VideoInfo::from_caps(outcaps)
            .map_err(|_| gst::loggable_error!(CAT, "bad output caps {outcaps}"))?;
        let s = self.settings();
        let kb = Self::keyboard_of(&s).map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        let manual = s
            .corners
            .as_deref()
            .map(parse_corners)
            .transpose()
            .map_err(|e| gst::loggable_error!(CAT, "{e}"))?
            .map(|corners| Detection {
                corners,
                keyboard: kb.unwrap_or(PIANO_88),
                confidence: 1.0,
            });
        if let Some(m) = &manual {
            let frame = (in_info.width() as f64, in_info.height() as f64);
            if let Err(e) = check_quad(&m.corners, Some(frame)) {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    (
                        "Bad corners property for this {}x{} video: {e}",
                        frame.0,
                        frame.1
                    )
                );
                return Err(gst::loggable_error!(CAT, "bad corners: {e}"));
            }
        }
        let params = DetectParams {
            keys: kb.map(|k| k.keys),
            lowest_note: kb.map(|k| k.lowest_note),
        };
        let config = TrackerConfig {
            confirm: s.confirm as usize,
            recheck_interval: s.recheck as usize,
            quarter: s.orientation.quarter(),
            ..Default::default()
        };
        let mut state = self.state();
        // A caps change keeps the lock (same camera, new format) only if the size is the same.
        let tracker = match state.as_ref() {
            Some(old)
                if old.in_info.width() == in_info.width()
                    && old.in_info.height() == in_info.height() =>
            {
                old.tracker.clone()
            }
            _ => KeyboardTracker::new(config, params),
        };
        let first_pts = state.as_ref().and_then(|s| s.first_pts);
        let locked_once = state.as_ref().is_some_and(|s| s.locked_once);
        *state = Some(State {
            in_info,
            out_info,
            tracker,
            manual,
            rectifier: None,
            gray: Vec::new(),
            first_pts,
            last_pts: None,
            timed_out: false,
            locked_once,
            live: None,
        });
        Ok(())
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings();
        let mut guard = self.state();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let in_frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &state.in_info)
                .map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ("Cannot map input frame")
                    );
                    gst::FlowError::Error
                })?;
        let pts = inbuf.pts();
        if state.first_pts.is_none() {
            state.first_pts = pts;
        }
        if pts.is_some() {
            state.last_pts = pts;
        }
        let mut scratch = std::mem::take(&mut state.gray);
        let img = Self::luma(&in_frame, &mut scratch).ok_or_else(|| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("Cannot read input frame"));
            gst::FlowError::Error
        })?;
        let mut lock_changed = None;
        let current = match state.manual {
            Some(m) => {
                if state.rectifier.is_none() {
                    lock_changed = Some((m, false));
                }
                Some(m)
            }
            None => {
                let frame = self.frame_position(pts, &state.in_info);
                match state.tracker.push_at(&img, frame) {
                    TrackEvent::Locked(d) => lock_changed = Some((d, false)),
                    TrackEvent::Relocked(d) => lock_changed = Some((d, true)),
                    _ => {}
                }
                state.tracker.locked().copied()
            }
        };
        if let Some((d, _)) = lock_changed {
            state.locked_once = true;
            state.rectifier = Rectifier::new(
                &d.corners,
                d.keyboard,
                (img.width, img.height, img.stride),
                state.out_info.width() as usize,
                state.out_info.height() as usize,
            );
        }
        // A live source still searching after the timeout: tell the user what to set. A
        // file is searched to its end (a title card may come first).
        if current.is_none() && state.live.is_none() {
            state.live = Some(crate::latency::upstream_is_live(self.obj().sink_pad()));
        }
        if current.is_none()
            && state.live == Some(true)
            && settings.timeout > 0.0
            && !state.timed_out
            && let (Some(t0), Some(t)) = (state.first_pts, pts)
            && t.saturating_sub(t0).seconds_f64() > settings.timeout
        {
            state.timed_out = true;
            drop(in_frame);
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                (
                    "No piano keyboard found in the first {:.0} s of video. Set the pianocrop properties corners=\"x0,y0,x1,y1,x2,y2,x3,y3\" (top-left, top-right, bottom-right, bottom-left of the keys) and keys (88, 76, 61), or raise timeout",
                    settings.timeout
                )
            );
            return Err(gst::FlowError::Error);
        }
        let mut out_frame = gst_video::VideoFrameRef::from_buffer_ref_writable(
            outbuf,
            &state.out_info,
        )
        .map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("Cannot map output frame"));
            gst::FlowError::Error
        })?;
        let (ow, oh) = (
            state.out_info.width() as usize,
            state.out_info.height() as usize,
        );
        let ostride = out_frame.plane_stride()[0] as usize;
        if settings.draw {
            // RGBA in, RGBA out: copy, then draw.
            let src = in_frame.plane_data(0).map_err(|_| gst::FlowError::Error)?;
            let istride = in_frame.plane_stride()[0] as usize;
            let dst = out_frame
                .plane_data_mut(0)
                .map_err(|_| gst::FlowError::Error)?;
            for y in 0..oh {
                dst[y * ostride..y * ostride + ow * 4]
                    .copy_from_slice(&src[y * istride..y * istride + ow * 4]);
            }
            if let Some(d) = current {
                crate::core::overlay::draw_keyboard(dst, ow, oh, ostride, &d);
            }
        } else {
            let dst = out_frame
                .plane_data_mut(0)
                .map_err(|_| gst::FlowError::Error)?;
            match (&state.rectifier, current) {
                (Some(r), Some(_)) if r.fits(&img) => {
                    if ostride == ow {
                        r.rectify(&img, &mut dst[..ow * oh]);
                    } else {
                        let mut tmp = vec![0u8; ow * oh];
                        r.rectify(&img, &mut tmp);
                        for y in 0..oh {
                            dst[y * ostride..y * ostride + ow]
                                .copy_from_slice(&tmp[y * ow..(y + 1) * ow]);
                        }
                    }
                }
                _ => {
                    dst.fill(PAD);
                    drop(out_frame);
                    outbuf.set_flags(gst::BufferFlags::GAP);
                }
            }
        }
        drop(in_frame);
        state.gray = scratch;
        drop(guard);
        if let Some((d, relock)) = lock_changed {
            if relock {
                // Before this frame, the first from the new lock: the strip jumps here.
                let _ = self
                    .obj()
                    .src_pad()
                    .push_event(caps::keyboard_moved_event());
            }
            self.post_lock(&d, relock, pts);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
