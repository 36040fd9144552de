//! Prism Split's buses: the remix on the main output, each stem on its own output.

use nice_plug::prelude::*;
use prism_shared::split::NUM_STEMS;

/// `None` for the main input: nice-plug 0.4.2 names the main *output* after `main_input` too
/// (`AudioIOLayout::main_output_name`), so any name there gives the JACK standalone two ports
/// of the same name and it cannot start. Without one the ports are input_N / output_N (and
/// drums_N, bass_N, other_N).
const fn names(layout: &'static str) -> PortNames {
    PortNames {
        layout: Some(layout),
        main_input: None,
        main_output: Some("Remix"),
        aux_inputs: &[],
        aux_outputs: &["Drums", "Bass", "Other"],
    }
}

/// Stereo and mono, each with three stem buses of the main output's width.
pub const LAYOUTS: &[AudioIOLayout] = &[
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        aux_output_ports: &[new_nonzero_u32(2); NUM_STEMS],
        names: names("Stereo"),
        ..AudioIOLayout::const_default()
    },
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(1),
        main_output_channels: NonZeroU32::new(1),
        aux_output_ports: &[new_nonzero_u32(1); NUM_STEMS],
        names: names("Mono"),
        ..AudioIOLayout::const_default()
    },
];

/// Copies `stems[stem * nc + ch][..span.len()]` to the stem buses at `span` (pre-fader). A bus
/// the host deactivated has no channels; a host channel beyond the layout's gets the last.
pub fn write_stems(
    aux_outputs: &mut [Buffer],
    stems: &[Vec<f32>],
    nc: usize,
    span: std::ops::Range<usize>,
) {
    for (s, bus) in aux_outputs.iter_mut().enumerate().take(NUM_STEMS) {
        for (ch, out) in bus.as_slice().iter_mut().enumerate() {
            if let Some(out) = out.get_mut(span.clone()) {
                out.copy_from_slice(&stems[s * nc + ch.min(nc - 1)][..span.len()]);
            }
        }
    }
}
