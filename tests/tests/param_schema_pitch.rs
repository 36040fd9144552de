//! Prism Pitch's parameters, `prism pitch`'s flags and the tracker's sanitisers all come
//! from `prism_shared::pitch::schema` (see `schema/mod.rs`).

mod schema;

use nice_plug::prelude::Plugin;
use prism_shared::pitch::notes::NoteSettings;
use prism_shared::pitch::schema as spec;
use prism_shared::PitchSettings;

#[test]
fn pitch_parameters_flags_and_sanitisers_come_from_the_schema() {
    let mut problems = schema::check_plugin(
        "Prism Pitch",
        prism_pitch::PrismPitch::default().params(),
        &schema::expected(spec::ALL, &[("", "")]),
    );
    problems.extend(schema::check_cli("pitch", spec::ALL));
    schema::assert_none(problems);
    assert!(spec::ALL.iter().filter(|s| s.flag().is_some()).count() >= 7);

    for (x, pick) in [(-1e9f32, 0), (1e9, 1), (f32::NAN, 2)] {
        let s = PitchSettings {
            min_hz: x,
            max_hz: x,
            reference_hz: x,
            voicing_threshold: x,
        }
        .sanitized();
        // Both ends of the search range at one extreme: it opens to an octave inward.
        let (lo, hi) = [
            (spec::MIN_HZ.min, 2.0 * spec::MIN_HZ.min),
            (spec::MAX_HZ.max / 2.0, spec::MAX_HZ.max),
            (spec::MIN_HZ.default, spec::MAX_HZ.default),
        ][pick];
        assert_eq!((s.min_hz, s.max_hz), (lo, hi), "{x}");
        let n = NoteSettings {
            min_note_ms: x,
            ..NoteSettings::default()
        }
        .sanitized();
        for (got, r) in [
            (s.reference_hz, &spec::REFERENCE_HZ),
            (s.voicing_threshold, &spec::VOICING_THRESHOLD),
            (n.min_note_ms, &spec::MIN_NOTE_MS),
        ] {
            assert_eq!(got, [r.min, r.max, r.default][pick], "{}: {x}", r.id);
        }
    }
    for (x, pick) in [(i32::MIN, 0), (i32::MAX, 1)] {
        let n = NoteSettings {
            bend_range: x,
            transpose: x,
            ..NoteSettings::default()
        }
        .sanitized();
        for (got, r) in [
            (n.bend_range, &spec::BEND_RANGE),
            (n.transpose, &spec::TRANSPOSE),
        ] {
            assert_eq!(got, [r.min, r.max][pick], "{}: {x}", r.id);
        }
    }
}
