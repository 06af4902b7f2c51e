// SPDX-License-Identifier: MPL-2.0
//! Pipeline helpers shared by the benches (the plugin exports none: it is the product).
#![allow(dead_code)]

use gst::prelude::*;

/// Parse `desc` and find its appsrc called `name`; it takes as many buffers as are pushed
/// before the pipeline plays (no size limit).
pub fn launch_with_appsrc(desc: &str, name: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    let pipeline = launch(desc);
    let src = pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .unwrap_or_else(|| panic!("no appsrc called {name}"));
    src.set_max_bytes(0);
    (pipeline, src)
}

/// Parse `desc` and find its appsink called `name`.
pub fn launch_with_appsink(desc: &str, name: &str) -> (gst::Pipeline, gst_app::AppSink) {
    let pipeline = launch(desc);
    let sink = pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .unwrap_or_else(|| panic!("no appsink called {name}"));
    (pipeline, sink)
}

pub fn launch(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Play `pipeline` to its end; panics with the bus error.
pub fn run_to_eos(pipeline: &gst::Pipeline) {
    let bus = pipeline.bus().expect("bus");
    pipeline.set_state(gst::State::Playing).expect("play");
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
}

/// A file of the shared data (not part of the project): under `$PIANOLA_SHARED` when set,
/// else under `../shared` beside the project.
pub fn shared_data(rel: &str) -> std::path::PathBuf {
    std::env::var_os("PIANOLA_SHARED")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join(rel)
}
