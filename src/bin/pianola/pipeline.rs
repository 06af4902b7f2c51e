// SPDX-License-Identifier: MPL-2.0
//! Running whole pipelines from a description, for the CLI, the dataset tools and re-dubbing.

use anyhow::{Result, anyhow};
use gst::prelude::*;

/// Parse `desc` and find its appsink called `name`.
pub fn launch_with_appsink(desc: &str, name: &str) -> Result<(gst::Pipeline, gst_app::AppSink)> {
    let pipeline = gst::parse::launch(desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("no appsink called {name}"))?;
    Ok((pipeline, sink))
}

/// Play `pipeline` to its end. A bus error becomes one line: the element, its message (which
/// says what to change) and the last line of its debug text.
pub fn run_to_eos(pipeline: &gst::Pipeline) -> Result<()> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline has no bus"))?;
    let started = pipeline.set_state(gst::State::Playing);
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                let detail = e
                    .debug()
                    .map(|d| {
                        d.rsplit(":\n")
                            .next()
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    })
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                result = Err(anyhow!("{from}: {}{detail}", e.error()));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    if result.is_ok() {
        started.map_err(|_| anyhow!("pipeline failed to start"))?;
    }
    result
}
