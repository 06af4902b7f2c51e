// SPDX-License-Identifier: MPL-2.0
//! midisynth: MIDI files and rolls to audio.

mod common;

use common::*;
use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::midi::notes_to_smf;
use gstpianola::core::notes::{MSECOND, Note};
use gstpianola::core::roll::{RollLayout, ValueFormat, VelocityFrame};

/// A short piece: C major arpeggio, last note-off at 2.0 s.
fn test_notes() -> Vec<Note> {
    [60u8, 64, 67, 72]
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            Note::new(
                p,
                i as u64 * 500 * MSECOND,
                (i as u64 + 1) * 500 * MSECOND,
                100,
            )
        })
        .collect()
}

fn write_midi(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("arpeggio.mid");
    std::fs::write(&path, notes_to_smf(&test_notes(), Some(0)).unwrap()).unwrap();
    path
}

#[test]
fn midi_file_to_wav_has_music_and_release_tail() {
    init();
    let dir = tmpdir("wav");
    let mid = write_midi(&dir);
    let wav = dir.join("out.wav");
    let p = parse(&format!(
        "filesrc location={} ! midiparse ! midisynth ! wavenc ! filesink location={}",
        mid.display(),
        wav.display()
    ));
    run(&p, std::time::Duration::from_secs(60)).unwrap();
    let mut r = hound::WavReader::open(&wav).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 44100));
    let s: Vec<f32> = r.samples::<f32>().map(|v| v.unwrap()).collect();
    let secs = s.len() as f64 / 2.0 / 44100.0;
    // The MIDI lasts 2.0 s; the release/reverb tail follows, ending when silent or at the
    // default max-tail of 3 s.
    assert!(secs > 2.1 && secs <= 5.0 + 0.011, "length {secs} s");
    let at = |t: f64| ((t * 44100.0) as usize) * 2;
    assert!(rms(&s[at(0.1)..at(1.9)]) > 0.01, "music is silent");
    // The tail after the last note-off is not cut: sound continues past 2.0 s and fades.
    assert!(rms(&s[at(2.0)..at(2.1)]) > 1e-3, "release tail missing");
    let end = s.len();
    assert!(
        rms(&s[end - 882..]) < rms(&s[at(2.0)..at(2.1)]) / 10.0,
        "tail does not fade"
    );
}

fn rate_of(rate: i32) -> (usize, i32) {
    init();
    let dir = tmpdir(&format!("rate{rate}"));
    let mid = write_midi(&dir);
    let (bufs, caps) = collect(&format!(
        "filesrc location={} ! midiparse ! midisynth max-tail=0 ! audio/x-raw,rate={rate} ! appsink name=out",
        mid.display()
    ))
    .unwrap();
    let caps = caps.unwrap();
    let got = caps.structure(0).unwrap().get::<i32>("rate").unwrap();
    (samples(&bufs).len() / 2, got)
}

#[test]
fn rates_48000_and_16000_work_and_keep_time() {
    for rate in [48000, 16000] {
        let (n, got) = rate_of(rate);
        assert_eq!(got, rate);
        // 2.0 s of music; max-tail=0 stops right at the end of the input.
        let expect = 2 * rate as usize;
        assert!(
            n.abs_diff(expect) <= 1,
            "{rate} Hz: {n} samples, expected {expect}"
        );
    }
}

fn roll_buffers(frames: &[VelocityFrame], fps: u64) -> Vec<gst::Buffer> {
    let d = gst::ClockTime::SECOND / fps;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| timed(f.to_bytes(), d * i as u64, Some(d)))
        .collect()
}

#[test]
fn roll_input_is_sample_accurate() {
    init();
    // 25 fps, 88 keys: silent for 10 frames, then middle C (key 39) for 10 frames.
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let mut frames = vec![VelocityFrame::silent(88, false); 20];
    for f in &mut frames[10..] {
        f.frame[39] = 100;
    }
    let p = with_appsrc(
        "midisynth reverb-chorus=false max-tail=0 ! appsink name=out",
        &caps::roll_caps(&layout, gst::Fraction::new(25, 1)),
        roll_buffers(&frames, 25),
    );
    let (bufs, _) = collect_with(p).unwrap();
    let s = samples(&bufs);
    assert_eq!(s.len() / 2, 44100 * 20 / 25);
    // Timestamps are contiguous from 0.
    let mut next = gst::ClockTime::ZERO;
    for b in &bufs {
        assert_eq!(b.pts(), Some(next));
        next = b.pts().unwrap() + b.duration().unwrap();
    }
    let first = s.iter().position(|v| v.abs() > 1e-4).unwrap() / 2;
    let onset = 44100 * 10 / 25; // 400 ms
    assert!(
        first >= onset && first < onset + 64,
        "sound starts at sample {first}, note at {onset}"
    );
}

#[test]
fn missing_soundfont_is_a_clear_bus_error() {
    init();
    let p = parse("audiotestsrc num-buffers=1 ! fakesink");
    let synth = gst::ElementFactory::make("midisynth")
        .property("soundfont", "/nonexistent/piano.sf2")
        .build()
        .unwrap();
    p.add(&synth).unwrap();
    let err = run(&p, std::time::Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("/nonexistent/piano.sf2"), "{err}");
    assert!(err.contains("soundfont property"), "{err}");
    assert!(err.contains("fluid-soundfont-gm"), "{err}");
}

#[test]
fn flush_resets_and_restarts_at_new_time() {
    init();
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let mut h = gst_check::Harness::new("midisynth");
    h.set_src_caps(caps::roll_caps(&layout, gst::Fraction::new(25, 1)));
    let mut on = VelocityFrame::silent(88, false);
    on.frame[40] = 100;
    let d = gst::ClockTime::from_mseconds(40);
    h.push(timed(on.to_bytes(), gst::ClockTime::ZERO, Some(d)))
        .unwrap();
    let b = h.pull().unwrap();
    assert_eq!(b.pts(), Some(gst::ClockTime::ZERO));
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
    seg.set_start(gst::ClockTime::from_seconds(10));
    assert!(h.push_event(gst::event::Segment::new(&seg)));
    // After the flush the stream goes on at 10 s, silent (the note was cut) and marked DISCONT.
    let silent = VelocityFrame::silent(88, false);
    h.push(timed(
        silent.to_bytes(),
        gst::ClockTime::from_seconds(10),
        Some(d),
    ))
    .unwrap();
    let mut b = h.pull().unwrap();
    while b.pts() != Some(gst::ClockTime::from_seconds(10)) {
        b = h.pull().unwrap();
    }
    assert!(b.flags().contains(gst::BufferFlags::DISCONT));
    let s = samples(&[b]);
    assert!(rms(&s) < 1e-3, "sound survived the flush: {}", rms(&s));
}

/// A copy of a real SF2 whose preset table points past its zone table (the last preset
/// header's bag index set to 0xFFFF), which makes rustysynth panic while loading it.
fn corrupt_soundfont(to: &std::path::Path) {
    use gstpianola::core::soundfont::{find_default, search_dirs};
    let sf = search_dirs()
        .iter()
        .map(|d| d.join("TimGM6mb.sf2"))
        .find(|p| p.is_file())
        .or_else(find_default)
        .expect("a SoundFont installed");
    let mut bytes = std::fs::read(&sf).unwrap();
    let at = bytes.windows(4).rposition(|w| w == b"phdr").unwrap();
    let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    let last = at + 8 + len - 38;
    bytes[last + 24..last + 26].copy_from_slice(&0xFFFFu16.to_le_bytes());
    std::fs::write(to, bytes).unwrap();
}

/// Issue 13 item 7: a SoundFont that panics inside the SF2 reader is reported as an unusable
/// SF2 naming the property to change, not as a panic.
#[test]
fn corrupt_soundfont_is_a_clear_bus_error() {
    init();
    let dir = tmpdir("corrupt-sf2");
    let sf = dir.join("corrupt.sf2");
    corrupt_soundfont(&sf);
    let p = parse("audiotestsrc num-buffers=1 ! fakesink");
    let synth = gst::ElementFactory::make("midisynth")
        .property("soundfont", sf.to_str().unwrap())
        .build()
        .unwrap();
    p.add(&synth).unwrap();
    let err = run(&p, std::time::Duration::from_secs(30)).unwrap_err();
    assert!(err.contains(sf.to_str().unwrap()), "{err}");
    assert!(err.contains("not a usable SF2"), "{err}");
    assert!(err.contains("corrupt"), "{err}");
    assert!(err.contains("soundfont property"), "{err}");
    assert!(!err.contains("anicked"), "{err}");
}

/// Roll frames pushed with a segment that stops at the end of the input, as a demuxer's
/// segment does (the stream's duration).
fn with_stopped_segment(rest: &str, frames: &[VelocityFrame], fps: u64) -> gst::Pipeline {
    let layout = RollLayout::piano88(ValueFormat::U8, false);
    let p = parse(&format!(
        "appsrc name=src format=time handle-segment-change=true ! {rest}"
    ));
    let src = p
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let caps = caps::roll_caps(&layout, gst::Fraction::new(fps as i32, 1));
    src.set_caps(Some(&caps));
    src.set_property("max-buffers", 0u64);
    src.set_property("max-bytes", 0u64);
    let bufs = roll_buffers(frames, fps);
    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
    seg.set_stop(gst::ClockTime::SECOND * frames.len() as u64 / fps);
    for b in bufs {
        let sample = gst::Sample::builder()
            .buffer(&b)
            .caps(&caps)
            .segment(&seg)
            .build();
        src.push_sample(&sample).unwrap();
    }
    src.end_of_stream().unwrap();
    p
}

/// Issue 13 item 6: the release tail lies after the input's end, so after the stop of its
/// segment; forwarded unchanged, audioresample (and encoders, sinks) cut it off and the WAV
/// ended exactly with the input.
#[test]
fn release_tail_survives_audioconvert_and_audioresample() {
    init();
    let dir = tmpdir("tail");
    let wav = dir.join("out.wav");
    // 2 s at 25 fps; a C major chord held over the last second, up to the end.
    let mut frames = vec![VelocityFrame::silent(88, false); 50];
    for f in &mut frames[25..] {
        for k in [39, 43, 46] {
            f.frame[k] = 100;
        }
    }
    let p = with_stopped_segment(
        &format!(
            "midisynth ! audioconvert ! audioresample ! audio/x-raw,rate=48000 ! wavenc ! filesink location={}",
            wav.display()
        ),
        &frames,
        25,
    );
    run(&p, std::time::Duration::from_secs(60)).unwrap();
    let mut r = hound::WavReader::open(&wav).unwrap();
    let rate = r.spec().sample_rate as usize;
    assert_eq!(rate, 48000);
    let s: Vec<f32> = r.samples::<f32>().map(|v| v.unwrap()).collect();
    let secs = s.len() as f64 / 2.0 / rate as f64;
    assert!(
        secs > 2.2,
        "the WAV lasts {secs} s, the input 2 s: the tail was cut"
    );
    let at = |t: f64| ((t * rate as f64) as usize) * 2;
    assert!(
        rms(&s[at(2.0)..at(2.2)]) > 1e-3,
        "the tail is silent: {}",
        rms(&s[at(2.0)..at(2.2)])
    );
}

/// Issue 13 item 6, the re-dub path: the tail survives an AAC encoder (which clips its input to
/// the segment) and MP4.
#[test]
fn release_tail_survives_aac_in_mp4() {
    init();
    let dir = tmpdir("tail-aac");
    let m4a = dir.join("out.m4a");
    let mut frames = vec![VelocityFrame::silent(88, false); 50];
    for f in &mut frames[25..] {
        for k in [39, 43, 46] {
            f.frame[k] = 100;
        }
    }
    let p = with_stopped_segment(
        &format!(
            "midisynth ! audioconvert ! audioresample ! avenc_aac ! mp4mux ! filesink location={}",
            m4a.display()
        ),
        &frames,
        25,
    );
    run(&p, std::time::Duration::from_secs(60)).unwrap();
    let (bufs, _) = collect(&format!(
        "filesrc location={} ! qtdemux ! avdec_aac ! audioconvert ! audioresample ! \
         audio/x-raw,format=F32LE,channels=2,rate=44100,layout=interleaved ! appsink name=out",
        m4a.display()
    ))
    .unwrap();
    let s = samples(&bufs);
    let secs = s.len() as f64 / 2.0 / 44100.0;
    assert!(
        secs > 2.2,
        "the AAC lasts {secs} s, the input 2 s: the tail was cut"
    );
    let at = |t: f64| ((t * 44100.0) as usize) * 2;
    let tail = rms(&s[at(2.05)..at(2.2)]);
    assert!(tail > 1e-3, "the tail is silent: {tail}");
}
