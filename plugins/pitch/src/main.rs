//! Standalone Prism Pitch (JACK / ALSA for live use, `--backend dummy` for headless tests).

fn main() {
    nice_plug::prelude::nice_export_standalone::<prism_pitch::PrismPitch>();
}
