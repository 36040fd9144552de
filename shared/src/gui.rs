//! Audio → GUI channels. Scalars go through atomics; frames through a fixed-capacity SPSC
//! ring (`rtrb`) of `Copy` payloads, so the audio thread only ever does a wait-free push
//! and drops frames when the GUI is not draining.

use crate::analyzer::ChromaFrame;

/// Frames buffered between the audio thread and the editor (≈ 12 s at 43 frames/s).
pub const FRAME_RING_CAPACITY: usize = 512;

/// Producer half, owned by the audio thread.
pub type FrameProducer<T = ChromaFrame> = rtrb::Producer<T>;
/// Consumer half, owned by the editor.
pub type FrameConsumer<T = ChromaFrame> = rtrb::Consumer<T>;

/// Creates a ring of [`FRAME_RING_CAPACITY`] frames (allocates; call from `initialize` or
/// construction, never `process`).
pub fn frame_ring<T: Copy>() -> (FrameProducer<T>, FrameConsumer<T>) {
    frame_ring_with_capacity(FRAME_RING_CAPACITY)
}

/// Creates a ring of `capacity` frames (allocates).
pub fn frame_ring_with_capacity<T: Copy>(capacity: usize) -> (FrameProducer<T>, FrameConsumer<T>) {
    rtrb::RingBuffer::new(capacity)
}

/// Pushes a frame if there is room. Never blocks or allocates; returns false when dropped.
#[inline]
pub fn push_frame<T: Copy>(producer: &mut FrameProducer<T>, frame: &T) -> bool {
    producer.push(*frame).is_ok()
}
