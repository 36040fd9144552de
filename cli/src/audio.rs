//! Audio file input (symphonia: WAV, FLAC, OGG/Vorbis, MP3, …) and WAV output (hound).

use std::fs::File;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// A decoded file: planar channels at one sample rate.
#[derive(Debug, Clone)]
pub struct Audio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Planar samples, one `Vec` per channel, all the same length.
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// No samples (an empty file is rejected when read, so never true for a read file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of sample frames.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, |c| c.len())
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.len() as f64 / self.sample_rate as f64
    }
}

/// Decodes a whole file. Errors name the file and say what went wrong.
pub fn read(path: &Path) -> Result<Audio> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| anyhow!("{}: not a supported audio file ({e})", path.display()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| anyhow!("{}: no audio track", path.display()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| anyhow!("{}: unsupported codec ({e})", path.display()))?;
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut num_channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(0);
    let mut interleaved: Vec<f32> = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => bail!("{}: read error ({e})", path.display()),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A corrupt packet is skipped, as every player does.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => bail!("{}: decode error ({e})", path.display()),
        };
        let spec = *decoded.spec();
        sample_rate = spec.rate;
        num_channels = spec.channels.count();
        let needed = decoded.capacity() as u64;
        let buf = match &mut buffer {
            Some(b) if b.capacity() as u64 >= needed * num_channels as u64 => b,
            _ => buffer.insert(SampleBuffer::new(needed, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        interleaved.extend_from_slice(buf.samples());
    }
    if sample_rate == 0 || num_channels == 0 {
        bail!("{}: no decodable audio", path.display());
    }
    if interleaved.is_empty() {
        bail!("{}: the file contains no samples", path.display());
    }
    let frames = interleaved.len() / num_channels;
    let mut channels = vec![Vec::with_capacity(frames); num_channels];
    for frame in interleaved.chunks_exact(num_channels) {
        for (ch, &x) in channels.iter_mut().zip(frame) {
            ch.push(x);
        }
    }
    Ok(Audio {
        sample_rate,
        channels,
    })
}

/// Writes planar channels as a 32-bit float WAV.
pub fn write_wav(path: &Path, sample_rate: u32, channels: &[&[f32]]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let len = channels.iter().map(|c| c.len()).min().unwrap_or(0);
    for i in 0..len {
        for ch in channels {
            writer.write_sample(ch[i])?;
        }
    }
    writer.finalize()?;
    Ok(())
}
