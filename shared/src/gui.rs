//! Audio → GUI channels. Scalars go through atomics; frames through a fixed-capacity SPSC
//! ring (`rtrb`) of `Copy` payloads, so the audio thread only ever does a wait-free push
//! and drops frames when the GUI is not draining.

use crate::analyzer::ChromaFrame;

/// Frames buffered between the audio thread and the editor (≈ 12 s at 43 frames/s).
pub const FRAME_RING_CAPACITY: usize = 512;

/// Producer half, owned by the audio thread.
pub type FrameProducer = rtrb::Producer<ChromaFrame>;
/// Consumer half, owned by the editor.
pub type FrameConsumer = rtrb::Consumer<ChromaFrame>;

/// Creates the ring (allocates; call from `initialize` or construction, never `process`).
pub fn frame_ring() -> (FrameProducer, FrameConsumer) {
    rtrb::RingBuffer::new(FRAME_RING_CAPACITY)
}

/// Pushes a frame if there is room. Never blocks or allocates; returns false when dropped.
#[inline]
pub fn push_frame(producer: &mut FrameProducer, frame: &ChromaFrame) -> bool {
    producer.push(*frame).is_ok()
}
