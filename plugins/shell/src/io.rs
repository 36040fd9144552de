//! What the shell hands a plugin: its setup at activation and each host block.

use nice_plug::prelude::*;

/// Stereo and mono, input and output: the pass-through analysers' layouts.
pub const PASSTHROUGH_LAYOUTS: &[AudioIOLayout] = &[
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    },
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(1),
        main_output_channels: NonZeroU32::new(1),
        ..AudioIOLayout::const_default()
    },
];

/// What a plugin is prepared for at activation.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub sample_rate: f32,
    /// The largest block the host announced (at least 1).
    pub max_block: usize,
    /// Main input channels, 1 or 2.
    pub num_channels: usize,
    /// The host announced an offline render (CLAP `render`, VST3 `setupProcessing`).
    pub offline: bool,
}

/// One host block.
pub struct Io<'a, 'b, 'c> {
    pub buffer: &'a mut Buffer<'b>,
    pub aux: &'a mut AuxiliaryBuffers<'c>,
    /// The editor is open: feed it (and only then).
    pub editor_open: bool,
    /// This call is an offline render (the host's per-call mode).
    pub offline: bool,
}

impl Io<'_, '_, '_> {
    /// For pass-through plugins: the audio stays as it is, except that subnormals become zero
    /// (hosts and validators reject subnormal output). Returns the (at most two) input
    /// channels to analyse, empty when the host gave none.
    pub fn passthrough(&mut self) -> Channels<'_> {
        for channel in self.buffer.as_slice().iter_mut() {
            prism_shared::sanitize::flush_subnormals(channel);
        }
        let slices = self.buffer.as_slice_immutable();
        let mut channels = Channels {
            slices: [&[], &[]],
            len: slices.len().min(2),
        };
        for (dst, src) in channels.slices.iter_mut().zip(slices.iter()) {
            *dst = src;
        }
        channels
    }
}

/// Up to two borrowed input channels.
pub struct Channels<'a> {
    slices: [&'a [f32]; 2],
    len: usize,
}

impl<'a> Channels<'a> {
    /// The channels as planar slices.
    pub fn get(&self) -> &[&'a [f32]] {
        &self.slices[..self.len]
    }
}
