// SPDX-License-Identifier: MPL-2.0

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::caps;
use crate::core::rest::RestEstimator;
use crate::core::roll::{ProbFrame, RollLayout, ValueFormat};
use crate::core::strip;
use crate::core::strip::{HALF, TRAINED_RATE, window_indices_every, window_step};
use crate::latency::ProcessingMargin;
use crate::model::{Model, ModelMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "video2roll",
        gst::DebugColorFlags::empty(),
        Some("Pressed-key prediction"),
    )
});

const DEFAULT_DEVICE: &str = "auto";
const DEFAULT_BATCH_SIZE: u32 = 1;
const DEFAULT_THREADS: u32 = 0;
/// One forward pass at a time (the live default: batches of one frame).
const DEFAULT_WORKERS: u32 = 1;
/// -1: measure the processing margin that the latency answer adds.
const DEFAULT_PROCESSING_MARGIN: i64 = -1;
/// The window's rate: the nets' training rate (see [`window_step`]).
const DEFAULT_WINDOW_RATE: f64 = TRAINED_RATE;
/// Blank forward passes run in `start()` so the first real frames are not slow.
const WARM_UP_PASSES: usize = 2;

/// Inference threads when the property is 0: all cores but one (at least one). The model
/// is the pipeline's slowest stage, but decoding and pianocrop run beside it in their own
/// threads; with every core for libtorch its threads spin waiting for each other while
/// those run (Bach on 2 cores: 18.1 s with 2 threads, 14.9 s with 1). None when
/// `OMP_NUM_THREADS` is set: libtorch follows it (a cluster's worker sets it per task).
fn auto_threads() -> Option<usize> {
    if std::env::var_os("OMP_NUM_THREADS").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    Some(crate::model::all_cores_but_one())
}

/// Where the default model is looked for, in order.
pub fn default_model_paths() -> Vec<PathBuf> {
    crate::model::search_paths("PIANOLA_MODEL", "video2roll.safetensors")
}

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    device: String,
    batch_size: u32,
    threads: u32,
    workers: u32,
    processing_margin: i64,
    window_rate: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            device: DEFAULT_DEVICE.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            threads: DEFAULT_THREADS,
            workers: DEFAULT_WORKERS,
            processing_margin: DEFAULT_PROCESSING_MARGIN,
            window_rate: DEFAULT_WINDOW_RATE,
        }
    }
}

struct Frame {
    /// Shared with the windows that read it (no copy a window).
    data: Arc<Vec<u8>>,
    /// The keyboard at rest as of this frame (nets that use it).
    rest: Option<Arc<Vec<u8>>>,
    pts: gst::ClockTime,
    duration: gst::ClockTime,
}

/// A window's images: its frames, then the keyboard at rest when the net uses it.
type Window = Vec<Arc<Vec<u8>>>;

struct Stream {
    frame_duration: gst::ClockTime,
    /// Frames between a window's images (1 up to about 37 frames/s, 2 at 50 and 60).
    step: usize,
    /// Frames kept for windows: the last `HALF * step` already predicted, then those
    /// waiting.
    frames: VecDeque<Frame>,
    /// Index in `frames` of the next frame to predict.
    next: usize,
    /// Windows ready to predict (their images), with their frame's timing.
    batch: Vec<(Window, gst::ClockTime, gst::ClockTime)>,
    next_pts: Option<gst::ClockTime>,
    /// Time for a forward pass, added to the latency answer.
    margin: ProcessingMargin,
    /// The keyboard at rest, for nets that use it; restarted with the stream and when the
    /// strip jumps.
    rest: Option<RestEstimator>,
}

impl Stream {
    /// Nothing pending: the next frame starts a new run of windows.
    fn restart(&mut self) {
        self.frames.clear();
        self.next = 0;
        self.next_pts = None;
        if let Some(r) = self.rest.as_mut() {
            r.reset();
        }
    }
}

#[derive(Default)]
struct State {
    /// Behind its own lock: inference holds it, not the state lock.
    model: Option<Arc<Mutex<Model>>>,
    /// The loaded model's sidecar, answered from without the model's lock.
    meta: Option<ModelMeta>,
    stream: Option<Stream>,
}

pub struct Video2Roll {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

impl Video2Roll {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings();
        let threads = if s.threads > 0 {
            Some(s.threads as usize)
        } else {
            auto_threads()
        };
        if let Some(n) = threads {
            tch::set_num_threads(n as i32);
        }
        gst::debug!(
            CAT,
            imp = self,
            "{} inference threads",
            tch::get_num_threads()
        );
        let (path, mut model) = crate::loading::load(
            &s.device,
            s.model.as_deref(),
            default_model_paths(),
            |all| {
                format!(
                    "No video2roll model found (looked in {all:?}). Set the model property to a .safetensors file (train one with `pianola train`)"
                )
            },
            "video2roll model",
            |p, d| {
                Model::load(p, d).map(|mut m| {
                    m.freeze();
                    m
                })
            },
        )?;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({:?})",
            path.display(),
            model.meta()
        );
        // The first passes of a fresh model are several times slower than the rest: make
        // them here, not on the first frames of a live stream.
        model
            .warm_up(
                s.batch_size.max(1) as usize,
                s.workers.max(1) as usize,
                WARM_UP_PASSES,
            )
            .map_err(|e| crate::loading::warm_up_failed("video2roll model", &path, "model", &e))?;
        let mut st = self.state();
        st.meta = Some(model.meta().clone());
        st.model = Some(Arc::new(Mutex::new(model)));
        Ok(())
    }

    /// Roll caps with the model's thresholds from its sidecar.
    fn out_caps(&self, layout: &RollLayout, framerate: gst::Fraction, step: usize) -> gst::Caps {
        let c = caps::with_window_step(caps::roll_caps(layout, framerate), step);
        match self.state().meta.as_ref() {
            Some(m) => caps::with_thresholds(c, m.threshold, m.onset_threshold),
            None => c,
        }
    }

    fn out_layout(&self) -> Option<RollLayout> {
        let st = self.state();
        let m = st.meta.clone()?;
        Some(RollLayout {
            format: ValueFormat::F32,
            keys: m.keys,
            lowest_note: m.lowest_note,
            onset: m.arch.has_onset(),
        })
    }

    fn set_caps(&self, caps: &gst::Caps) -> bool {
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
            return false;
        };
        let Some(layout) = self.out_layout() else {
            return false;
        };
        // Variable-rate video (0/1): 25 frames/s for the timing, and the window as
        // trained, every frame.
        let known = (info.fps().numer() > 0 && info.fps().denom() > 0).then(|| info.fps());
        let framerate = known.unwrap_or(gst::Fraction::new(25, 1));
        let fps = known.map_or(0.0, |f| f64::from(f.numer()) / f64::from(f.denom()));
        let step = {
            let settings = self.settings();
            let step = window_step(fps, settings.window_rate);
            let margin = settings.processing_margin;
            let frame_duration = caps::frame_duration(framerate);
            gst::debug!(
                CAT,
                imp = self,
                "{fps} frames/s: a window every {step} frame(s)"
            );
            let mut st = self.state();
            // The rest picture samples one strip in EVERY of the window's own rate, so it
            // remembers the same time at any frame rate.
            let rest = st.meta.as_ref().filter(|m| m.arch.uses_rest()).map(|m| {
                RestEstimator::with_sampling(
                    m.width * m.height,
                    crate::core::rest::EVERY * step,
                    crate::core::rest::KEEP,
                )
            });
            st.stream = Some(Stream {
                rest,
                step,
                frame_duration,
                frames: VecDeque::new(),
                next: 0,
                batch: Vec::new(),
                next_pts: None,
                margin: ProcessingMargin::from_property(margin, frame_duration),
            });
            step
        };
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        self.srcpad.push_event(gst::event::Caps::new(
            &self.out_caps(&layout, framerate, step),
        ))
    }

    /// The window around `frames[i]` (every `step`-th frame), edge frames repeated, then the
    /// keyboard at rest as of that frame when the net uses it.
    fn window(frames: &VecDeque<Frame>, i: usize, step: usize) -> Window {
        let mut w: Window = window_indices_every(i, frames.len(), step)
            .map(|j| frames[j].data.clone())
            .collect();
        w.extend(frames[i].rest.clone());
        w
    }

    /// Queue the windows that are complete (all, at the end of the stream).
    fn collect_windows(stream: &mut Stream, at_end: bool) {
        let reach = HALF * stream.step;
        while stream.next < stream.frames.len()
            && (at_end || stream.next + reach < stream.frames.len())
        {
            let i = stream.next;
            let w = Self::window(&stream.frames, i, stream.step);
            let f = &stream.frames[i];
            stream.batch.push((w, f.pts, f.duration));
            stream.next += 1;
        }
        // Keep the window's reach of history before the next one to predict.
        while stream.next > reach {
            stream.frames.pop_front();
            stream.next -= 1;
        }
    }

    /// Predict the batch (if full, or `force`) and make roll buffers. The state lock is
    /// not held during the forward pass, so queries (latency) answer meanwhile.
    fn run_batch(&self, force: bool) -> Result<Vec<gst::Buffer>, gst::FlowError> {
        let (batch_size, workers) = {
            let s = self.settings();
            (s.batch_size.max(1) as usize, s.workers.max(1) as usize)
        };
        let mut out = Vec::new();
        loop {
            let (model, windows, times) = {
                let mut st = self.state();
                let State { model, stream, .. } = &mut *st;
                let (Some(model), Some(stream)) = (model.as_ref(), stream.as_mut()) else {
                    return Ok(out);
                };
                if stream.batch.is_empty() || !(force || stream.batch.len() >= batch_size) {
                    return Ok(out);
                }
                let take = stream.batch.len().min(batch_size);
                let (windows, times): (Vec<Window>, Vec<_>) = stream
                    .batch
                    .drain(..take)
                    .map(|(w, pts, dur)| (w, (pts, dur)))
                    .unzip();
                (model.clone(), windows, times)
            };
            let Ok(mut model) = model.lock() else {
                return Err(gst::FlowError::Error);
            };
            let started = std::time::Instant::now();
            let images: Vec<Vec<&[u8]>> = windows
                .iter()
                .map(|w| w.iter().map(|i| i.as_slice()).collect())
                .collect();
            let views: Vec<&[&[u8]]> = images.iter().map(Vec::as_slice).collect();
            let result = model.predict_images_parallel(&views, workers);
            let grew = self
                .state()
                .stream
                .as_mut()
                .is_some_and(|s| s.margin.observe(started.elapsed()));
            if grew {
                gst::debug!(CAT, imp = self, "processing margin now {}", self.latency());
                let _ = self
                    .obj()
                    .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
            }
            let probs = match result {
                Ok(p) if p.len() == windows.len() => p,
                Ok(p) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        (
                            "The {} model gave {} outputs for {} frames: check the model file",
                            model.meta().arch.name(),
                            p.len(),
                            windows.len()
                        )
                    );
                    return Err(gst::FlowError::Error);
                }
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        ("The {} model failed: {e}", model.meta().arch.name())
                    );
                    return Err(gst::FlowError::Error);
                }
            };
            for (probs, (pts, dur)) in probs.into_iter().zip(&times) {
                let f = ProbFrame {
                    frame: probs.frame,
                    onset: probs.onset,
                };
                let mut buf = gst::Buffer::from_mut_slice(f.to_bytes());
                if let Some(b) = buf.get_mut() {
                    b.set_pts(*pts);
                    b.set_duration(*dur);
                }
                out.push(buf);
            }
        }
    }

    fn push_all(&self, bufs: Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        for b in bufs {
            self.srcpad.push(b)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        {
            let mut st = self.state();
            let (w, h) = match st.meta.as_ref() {
                Some(m) => (m.width, m.height),
                None => return Err(gst::FlowError::NotNegotiated),
            };
            let Some(stream) = st.stream.as_mut() else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("No caps before the first buffer")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            // GRAY8 rows may be padded to 4 bytes.
            let stride = map.len().checked_div(h).unwrap_or(0);
            if stride < w || map.len() < stride * h {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Frame of {} bytes is not a {w}x{h} GRAY8 image", map.len())
                );
                return Err(gst::FlowError::Error);
            }
            let mut data = Vec::with_capacity(w * h);
            for y in 0..h {
                data.extend_from_slice(&map[y * stride..y * stride + w]);
            }
            drop(map);
            let pts = buffer
                .pts()
                .or(stream.next_pts)
                .unwrap_or(gst::ClockTime::ZERO);
            let duration = buffer.duration().unwrap_or(stream.frame_duration);
            stream.next_pts = Some(pts + duration);
            // A gap (pianocrop has no keyboard yet: padding) says nothing of the keys at rest.
            let gap = buffer.flags().contains(gst::BufferFlags::GAP);
            let rest = match stream.rest.as_mut() {
                None => None,
                Some(r) if gap => Some(r.current().unwrap_or_else(|| Arc::new(data.clone()))),
                Some(r) => match r.push(&data) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        gst::element_imp_error!(self, gst::StreamError::Format, ("{e}"));
                        return Err(gst::FlowError::Error);
                    }
                },
            };
            stream.frames.push_back(Frame {
                rest,
                data: Arc::new(data),
                pts,
                duration,
            });
            Self::collect_windows(stream, false);
        }
        let out = self.run_batch(false)?;
        self.push_all(out)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        {
            let mut st = self.state();
            if let Some(stream) = st.stream.as_mut() {
                Self::collect_windows(stream, true);
            }
        }
        let out = self.run_batch(true)?;
        if let Some(s) = self.state().stream.as_mut() {
            s.restart();
        }
        self.push_all(out)
    }

    fn latency(&self) -> gst::ClockTime {
        let batch = self.settings().batch_size.max(1) as u64;
        self.state()
            .stream
            .as_ref()
            .map(|s| s.frame_duration * ((HALF * s.step) as u64 + batch - 1) + s.margin.get())
            .unwrap_or(gst::ClockTime::ZERO)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                if self.state().stream.is_some() && self.drain().is_err() {
                    return false;
                }
                self.set_caps(&caps)
            }
            EventView::Eos(_) => {
                let _ = self.drain();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::Segment(_) => {
                // A new segment without a flush (a segment seek looping): the old segment's
                // last windows end with its own last frame, not the new segment's first.
                if self.state().stream.is_some() && self.drain().is_err() {
                    return false;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::CustomDownstream(_) if caps::is_keyboard_moved(&event) => {
                // The strip jumps here (pianocrop re-locked): the windows of the frames
                // before it end with their own last frame, not with frames of the new lock.
                if self.state().stream.is_some() && self.drain().is_err() {
                    return false;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::FlushStop(_) => {
                if let Some(s) = self.state().stream.as_mut() {
                    s.restart();
                    s.batch.clear();
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                let (w, h) = {
                    let st = self.state();
                    st.meta
                        .as_ref()
                        .map(|m| (m.width as i32, m.height as i32))
                        .unwrap_or((strip::WIDTH as i32, strip::HEIGHT as i32))
                };
                let caps = gst_video::VideoCapsBuilder::new()
                    .format(gst_video::VideoFormat::Gray8)
                    .width(w)
                    .height(h)
                    .build();
                let caps = match q.filter() {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Latency(q) => crate::latency::answer(&self.sinkpad, q, self.latency()),
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Video2Roll {
    const NAME: &'static str = "GstPianolaVideo2Roll";
    type Type = super::Video2Roll;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad =
            gst::Pad::builder_from_template(&klass.pad_template("sink").expect("template"))
                .chain_function(|pad, parent, buffer| {
                    Video2Roll::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(pad, buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    Video2Roll::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(pad, event),
                    )
                })
                .query_function(|pad, parent, query| {
                    Video2Roll::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_query(pad, query),
                    )
                })
                .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").expect("template"))
            .query_function(|pad, parent, query| {
                Video2Roll::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        Video2Roll {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for Video2Roll {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Weights (.safetensors, with its .json sidecar); unset: the installed default ($PIANOLA_MODEL, then video2roll.safetensors in $PIANOLA_MODEL_DIR, in models/ of the source tree when the plugin is loaded from its target/, then in pianola/models/ under $XDG_DATA_HOME and $XDG_DATA_DIRS)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("auto (CUDA when present, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Frames per forward pass; each frame more adds a frame of latency (1 for live)")
                    .minimum(1)
                    .maximum(256)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt64::builder("processing-margin")
                    .nick("Processing margin")
                    .blurb("Nanoseconds of processing time the latency answer adds for live pipelines; -1: measured (1.5 times the slowest forward pass after the first two)")
                    .minimum(-1)
                    .maximum(10_000_000_000)
                    .default_value(DEFAULT_PROCESSING_MARGIN)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for inference (0: all cores but one, at least one, as decoding and the other elements need a core; or OMP_NUM_THREADS when set)")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("workers")
                    .nick("Workers")
                    .blurb("Forward passes run side by side on a batch's frames, each in its own thread with `threads` libtorch threads: on a CPU whole frames in parallel scale with the cores where the net's own threads do not (use with batch-size >= workers, e.g. 2 and 2 on 2 cores for a file; 1 for live)")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_WORKERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("window-rate")
                    .nick("Window rate")
                    .blurb("Frames/s the net's five-frame window is sampled at: a faster video's window takes every Nth frame, N = round(fps / window-rate), so it spans the time the net was trained on (at 60 fps: every 2nd frame, 2 x the latency); 0: every frame")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(DEFAULT_WINDOW_RATE)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "model" => s.model = value.get().expect("type checked upstream"),
            "device" => {
                s.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "workers" => s.workers = value.get().expect("type checked upstream"),
            "processing-margin" => {
                s.processing_margin = value.get().expect("type checked upstream")
            }
            "window-rate" => s.window_rate = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "model" => s.model.to_value(),
            "device" => s.device.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "threads" => s.threads.to_value(),
            "workers" => s.workers.to_value(),
            "processing-margin" => s.processing_margin.to_value(),
            "window-rate" => s.window_rate.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for Video2Roll {}

impl ElementImpl for Video2Roll {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Video to piano roll",
                "Filter/Analyzer/Video",
                "Predicts, per video frame, which keys of the canonical keyboard strip are down \
                 and struck, with a libtorch net",
                "Pianola developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Gray8)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps::roll_template_caps(&[ValueFormat::F32]),
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

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady
            && let Err(err) = self.start()
        {
            self.post_error_message(err);
            return Err(gst::StateChangeError);
        }
        let ret = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PausedToReady => self.state().stream = None,
            gst::StateChange::ReadyToNull => *self.state() = State::default(),
            _ => {}
        }
        Ok(ret)
    }
}
