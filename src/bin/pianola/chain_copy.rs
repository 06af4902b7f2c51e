// SPDX-License-Identifier: MPL-2.0
//! The re-dub's copy of the input: parsebin's first video stream into the muxer as it is
//! when the container takes its codec (encoded again otherwise), the input's own audio into
//! the muxer with `--keep-audio` or away, anything else away.

use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use gst::prelude::*;

use crate::chain_rolls::Rolls;
use crate::chain_types::{Container, element, element_with};

/// Encoders for a stream the container does not take (or for the generated audio).
pub fn encoders(container: Container, video: bool) -> Result<Vec<gst::Element>> {
    if video {
        let enc = element("x264enc")?;
        enc.set_property_from_str("speed-preset", "medium");
        enc.set_property_from_str("tune", "film");
        return Ok(vec![element("videoconvert")?, enc, element("h264parse")?]);
    }
    match container {
        Container::Mp4 | Container::Mov => Ok(vec![
            element("audioconvert")?,
            element_with("avenc_aac", &[("bitrate", &192_000i32)])?,
            element("aacparse")?,
        ]),
        Container::Matroska => {
            let caps = gst::Caps::builder("audio/x-raw")
                .field("rate", 48_000i32)
                .build();
            Ok(vec![
                element("audioconvert")?,
                element("audioresample")?,
                element_with("capsfilter", &[("caps", &caps)])?,
                element_with("opusenc", &[("bitrate", &160_000i32)])?,
            ])
        }
    }
}

/// A decodebin whose first pad of the right kind feeds `next`.
fn decoder_into(next: &gst::Element) -> Result<gst::Element> {
    let dec = element("decodebin")?;
    let next = next.downgrade();
    dec.connect_pad_added(move |_, pad| {
        if let Some(sink) = next.upgrade().and_then(|n| n.static_pad("sink"))
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
    Ok(dec)
}

/// Route parsebin's streams (see the module doc).
pub fn link_parsed_streams(parsebin: &gst::Element, copier: Copier) {
    let copier = Arc::new(copier);
    parsebin.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let media = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        if let Err(e) = copier.route(pad, &media)
            && let Ok(mut le) = copier.rolls.link_error.lock()
        {
            le.get_or_insert(format!("{media} stream of the input: {e}"));
        }
    });
}

/// Where the input's parsed streams go.
pub struct Copier {
    pub pipeline: gst::glib::WeakRef<gst::Pipeline>,
    pub mux: gst::Element,
    pub container: Container,
    pub keep_audio: bool,
    pub rolls: Arc<Rolls>,
    pub have_video: Mutex<bool>,
}

impl Copier {
    /// queue (and decoder + encoders when the container does not take the codec).
    fn elements(
        &self,
        media: &str,
        video: bool,
        template: &str,
    ) -> Result<(Vec<gst::Element>, bool)> {
        let fits = self
            .mux
            .pad_template(template)
            .is_some_and(|t| t.caps().iter().any(|s| s.name().as_str() == media));
        let q = element_with(
            "queue",
            &[("max-size-buffers", &0u32), ("max-size-bytes", &0u32)],
        )?;
        self.rolls.hold(&q, crate::chain_types::COPY_QUEUE_NS);
        if fits {
            return Ok((vec![q], true));
        }
        let enc = encoders(self.container, video)?;
        let dec = decoder_into(&enc[0])?;
        let mut v = vec![q, dec];
        v.extend(enc);
        Ok((v, false))
    }

    fn route(&self, pad: &gst::Pad, media: &str) -> Result<()> {
        let pipeline = self
            .pipeline
            .upgrade()
            .ok_or_else(|| anyhow!("pipeline gone"))?;
        let is_video = media.starts_with("video/") || media.starts_with("image/");
        let first_video = is_video && {
            let mut h = self.have_video.lock().map_err(|_| anyhow!("lock"))?;
            !std::mem::replace(&mut *h, true)
        };
        if !(first_video || (media.starts_with("audio/") && self.keep_audio)) {
            let sink = element_with("fakesink", &[("sync", &false)])?;
            pipeline.add(&sink)?;
            sink.sync_state_with_parent()?;
            pad.link(&sink.static_pad("sink").ok_or_else(|| anyhow!("no pad"))?)?;
            return Ok(());
        }
        let template = if first_video { "video_%u" } else { "audio_%u" };
        let (chain, fits) = self.elements(media, first_video, template)?;
        for e in &chain {
            pipeline.add(e)?;
        }
        // queue ! [decodebin, linked when it has a pad] ! encoders
        chain[0].link(&chain[1.min(chain.len() - 1)]).ok();
        if chain.len() > 2 {
            gst::Element::link_many(&chain[2..])?;
        }
        let last = chain.last().ok_or_else(|| anyhow!("empty chain"))?;
        let mux_pad = self.mux.request_pad_simple(template).ok_or_else(|| {
            anyhow!(
                "{} takes no more {template} streams",
                self.container.muxer()
            )
        })?;
        last.static_pad("src")
            .ok_or_else(|| anyhow!("no src pad"))?
            .link(&mux_pad)?;
        pad.link(
            &chain[0]
                .static_pad("sink")
                .ok_or_else(|| anyhow!("no sink pad"))?,
        )?;
        for e in &chain {
            e.sync_state_with_parent()?;
        }
        if first_video {
            *self
                .rolls
                .video_copied
                .lock()
                .map_err(|_| anyhow!("lock"))? = Some(fits);
        }
        Ok(())
    }
}
