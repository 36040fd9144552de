//! Prism Chroma's parameters, `prism chroma`'s flags and the analyser's sanitiser all come
//! from `prism_shared::analyzer::schema` (see `schema/mod.rs`).

mod schema;

use nice_plug::prelude::Plugin;
use prism_shared::analyzer::schema as spec;
use prism_shared::ChromaSettings;

#[test]
fn chroma_parameters_flags_and_sanitiser_come_from_the_schema() {
    let mut problems = schema::check_plugin(
        "Prism Chroma",
        prism_chroma::PrismChroma::default().params(),
        &schema::expected(spec::ALL, &[("", "")]),
    );
    problems.extend(schema::check_cli("chroma", spec::ALL));
    schema::assert_none(problems);
    assert!(spec::ALL.iter().filter(|s| s.flag().is_some()).count() >= 6);

    for (x, pick) in [(-1e9f32, 0), (1e9, 1), (f32::NAN, 2)] {
        let s = ChromaSettings {
            reference_hz: x,
            smoothing_ms: x,
            compression: x,
            ..ChromaSettings::default()
        }
        .sanitized();
        for (got, r) in [
            (s.reference_hz, &spec::REFERENCE_HZ),
            (s.smoothing_ms, &spec::SMOOTHING_MS),
            (s.compression, &spec::COMPRESSION),
        ] {
            assert_eq!(got, [r.min, r.max, r.default][pick], "{}: {x}", r.id);
        }
    }
}
