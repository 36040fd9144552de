//! Activation and the audio thread: what one `process` call sends and returns.

use super::*;

/// How the host lays out the audio buffers for one `process` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Separate input and output buffers (output pre-filled with NaN, so untouched output shows).
    #[default]
    OutOfPlace,
    /// Output channel pointers equal the input channel pointers (main ports only).
    InPlace,
}

/// Options for [`ClapPlugin::process`].
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    /// Buffer placement.
    pub placement: Placement,
    /// Input events for this block.
    pub events: Vec<InEvent>,
}

/// Result of one `process` call.
#[derive(Debug, Clone)]
pub struct ProcessResult {
    /// Main output port audio, one `Vec` per channel.
    pub audio: Vec<Vec<f32>>,
    /// The other output ports' audio, in port order (`aux[port][channel]`).
    pub aux: Vec<Vec<Vec<f32>>>,
    /// Output events.
    pub events: Vec<OutEvent>,
    /// The status the plugin returned.
    pub status: ProcessStatus,
}

/// Result of [`ClapPlugin::process_signal`].
#[derive(Debug, Clone, Default)]
pub struct SignalResult {
    /// Main output port audio, one `Vec` per channel, all blocks concatenated.
    pub audio: Vec<Vec<f32>>,
    /// Output events with `time` rebased to the start of the whole signal (as absolute sample
    /// index, saturating at `u32::MAX`).
    pub events: Vec<OutEvent>,
}

impl ClapPlugin {
    // ---------------- lifecycle ----------------

    /// The current activation, if active.
    pub fn activation(&self) -> Option<Activation> {
        self.activation
    }

    /// Activates at `sample_rate` with block sizes in `min_frames..=max_frames` and starts
    /// processing.
    pub fn activate(&mut self, sample_rate: f64, min_frames: u32, max_frames: u32) -> Result<()> {
        if self.activation.is_some() {
            bail!("already active");
        }
        let inputs: Vec<AudioPort> = self.audio_ports(true);
        let outputs: Vec<AudioPort> = self.audio_ports(false);
        let layout = PortLayout {
            main_input: inputs
                .iter()
                .position(|p| p.is_main)
                .or(if inputs.is_empty() { None } else { Some(0) }),
            main_output: outputs
                .iter()
                .position(|p| p.is_main)
                .or(if outputs.is_empty() { None } else { Some(0) }),
            inputs: inputs.iter().map(|p| p.channel_count).collect(),
            outputs: outputs.iter().map(|p| p.channel_count).collect(),
        };
        let max = max_frames as usize;
        self.aux_in = layout
            .inputs
            .iter()
            .map(|&c| vec![vec![0.0f32; max]; c as usize])
            .collect();
        self.aux_out = layout
            .outputs
            .iter()
            .map(|&c| vec![vec![0.0f32; max]; c as usize])
            .collect();

        let stopped = self
            .instance
            .activate(
                |_, _| HostAudioProcessor,
                PluginAudioConfiguration {
                    sample_rate,
                    min_frames_count: min_frames,
                    max_frames_count: max_frames,
                },
            )
            .map_err(|e| anyhow!("activate({sample_rate} Hz, {min_frames}..={max_frames}): {e}"))?;
        let started = match stopped.start_processing() {
            Ok(s) => s,
            Err(e) => {
                let stopped = e.into_stopped_processor();
                self.instance.deactivate(stopped);
                bail!("start_processing failed");
            }
        };
        self.processor = Some(started.into());
        self.activation = Some(Activation {
            sample_rate,
            min_frames,
            max_frames,
        });
        self.layout = Some(layout);
        self.steady_time = 0;
        self.pump_main_thread();
        Ok(())
    }

    /// Stops processing and deactivates (no-op if inactive).
    pub fn deactivate(&mut self) {
        if let Some(mut p) = self.processor.take() {
            let _ = p.stop_processing();
            let stopped = p.into_stopped();
            self.instance.deactivate(stopped);
        }
        self.activation = None;
        self.layout = None;
        self.pump_main_thread();
    }

    /// `stop_processing` (the plugin stays active).
    pub fn stop_processing(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.stop_processing()
            .map_err(|e| anyhow!("stop_processing: {e}"))?;
        Ok(())
    }

    /// `start_processing` after a [`stop_processing`](Self::stop_processing).
    pub fn start_processing(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.start_processing()
            .map_err(|e| anyhow!("start_processing: {e}"))?;
        Ok(())
    }

    /// `reset` while active.
    pub fn reset(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.reset();
        self.steady_time = 0;
        Ok(())
    }

    /// Channel count of the main input port for the current activation (or as currently
    /// reported, when inactive). 0 if there is none.
    pub fn main_input_channels(&mut self) -> usize {
        if let Some(l) = &self.layout {
            return l.main_input.map_or(0, |i| l.inputs[i] as usize);
        }
        let ports = self.audio_ports(true);
        ports
            .iter()
            .find(|p| p.is_main)
            .or(ports.first())
            .map_or(0, |p| p.channel_count as usize)
    }

    /// Channel count of the main output port (see [`main_input_channels`](Self::main_input_channels)).
    pub fn main_output_channels(&mut self) -> usize {
        if let Some(l) = &self.layout {
            return l.main_output.map_or(0, |i| l.outputs[i] as usize);
        }
        let ports = self.audio_ports(false);
        ports
            .iter()
            .find(|p| p.is_main)
            .or(ports.first())
            .map_or(0, |p| p.channel_count as usize)
    }

    /// Processes one block. `input` holds the main input port's channels (all the same length,
    /// at most the activation's `max_frames`); other input ports get silence. Returns the main
    /// output port's channels and the output events.
    ///
    /// With [`Placement::InPlace`] the main output port shares the input's channel buffers
    /// (the returned audio is then the processed copy of `input`).
    pub fn process(
        &mut self,
        input: &[Vec<f32>],
        options: &ProcessOptions,
    ) -> Result<ProcessResult> {
        let act = self
            .activation
            .ok_or_else(|| anyhow!("process: not active"))?;
        let layout = self.layout.as_ref().expect("layout set while active");
        let frames = input.first().map_or(0, Vec::len);
        if input.iter().any(|c| c.len() != frames) {
            bail!("process: channels of different lengths");
        }
        if frames > act.max_frames as usize {
            if !self.oversized_blocks {
                bail!("process: {frames} frames > max_frames {}", act.max_frames);
            }
            for ch in self
                .aux_in
                .iter_mut()
                .chain(self.aux_out.iter_mut())
                .flatten()
            {
                if ch.len() < frames {
                    ch.resize(frames, 0.0);
                }
            }
        }
        let main_in = layout.main_input;
        let main_out = layout.main_output;
        let main_in_ch = main_in.map_or(0, |i| layout.inputs[i] as usize);
        let main_out_ch = main_out.map_or(0, |i| layout.outputs[i] as usize);
        if input.len() != main_in_ch {
            bail!(
                "process: got {} input channels, main input port has {main_in_ch}",
                input.len()
            );
        }
        let in_place = options.placement == Placement::InPlace;
        if in_place && main_in_ch != main_out_ch {
            bail!("process: in-place needs equal main in/out channel counts ({main_in_ch} vs {main_out_ch})");
        }

        // Working copies: the main input (mutable so in-place can write to it) and the main
        // output, pre-filled with NaN so untouched output is caught.
        let mut main_in_buf: Vec<Vec<f32>> = input.to_vec();
        let mut main_out_buf: Vec<Vec<f32>> = if in_place {
            Vec::new()
        } else {
            vec![vec![f32::NAN; frames]; main_out_ch]
        };
        for port in self.aux_in.iter_mut() {
            for ch in port.iter_mut() {
                ch[..frames].fill(0.0);
            }
        }
        // Untouched auxiliary output shows as NaN.
        for port in self.aux_out.iter_mut() {
            for ch in port.iter_mut() {
                ch[..frames].fill(f32::NAN);
            }
        }

        // Channel pointer arrays, one per port.
        let in_ptrs: Vec<Vec<*mut f32>> = self
            .aux_in
            .iter_mut()
            .enumerate()
            .map(|(i, port)| {
                if Some(i) == main_in {
                    main_in_buf.iter_mut().map(|c| c.as_mut_ptr()).collect()
                } else {
                    port.iter_mut().map(|c| c.as_mut_ptr()).collect()
                }
            })
            .collect();
        let out_ptrs: Vec<Vec<*mut f32>> = self
            .aux_out
            .iter_mut()
            .enumerate()
            .map(|(i, port)| {
                if Some(i) == main_out {
                    if in_place {
                        in_ptrs[main_in.expect("main input")].clone()
                    } else {
                        main_out_buf.iter_mut().map(|c| c.as_mut_ptr()).collect()
                    }
                } else {
                    port.iter_mut().map(|c| c.as_mut_ptr()).collect()
                }
            })
            .collect();
        let mut in_ptrs = in_ptrs;
        let mut out_ptrs = out_ptrs;
        let in_bufs: Vec<clap_audio_buffer> = in_ptrs
            .iter_mut()
            .map(|p| clap_audio_buffer {
                data32: p.as_mut_ptr(),
                data64: std::ptr::null_mut(),
                channel_count: p.len() as u32,
                latency: 0,
                constant_mask: 0,
            })
            .collect();
        let mut out_bufs: Vec<clap_audio_buffer> = out_ptrs
            .iter_mut()
            .map(|p| clap_audio_buffer {
                data32: p.as_mut_ptr(),
                data64: std::ptr::null_mut(),
                channel_count: p.len() as u32,
                latency: 0,
                constant_mask: 0,
            })
            .collect();

        fill_input_events(&mut self.in_events, &options.events);
        self.out_events.clear();

        let frames_u32 = frames as u32;
        // SAFETY: every channel pointer points at a buffer of at least `frames` f32s that lives
        // until the end of this function; the pointer arrays outlive the call as well.
        let audio_in = unsafe { InputAudioBuffers::from_raw_buffers(&in_bufs, frames_u32) };
        // SAFETY: as above.
        let mut audio_out =
            unsafe { OutputAudioBuffers::from_raw_buffers(&mut out_bufs, frames_u32) };

        let processor = self
            .processor
            .as_mut()
            .expect("processor present while active");
        // The plugin's audio-thread calls run in RealtimeSanitizer's real-time context: in a
        // test binary built with RTSAN_ENABLE (`cargo xtask test`'s RTSan step) any
        // allocation, lock, sleep or blocking system call in the plugin aborts the test with
        // a stack trace; in other builds the guard does nothing. Nothing of the host's own
        // runs inside it (the event buffers are preallocated).
        let status = {
            // Zero-length calls stay outside: nice-plug 0.4.2's *debug* wrapper logs a debug
            // assertion for them (compiled out of release builds), which allocates.
            let _rt = (frames > 0).then(rtsan_standalone::ScopedSanitizeRealtime::default);
            let started = processor.ensure_processing_started();
            match started {
                Ok(started) => started.process(
                    &audio_in,
                    &mut audio_out,
                    &self.in_events.as_input(),
                    &mut self.out_events.as_output(),
                    Some(self.steady_time),
                    None,
                ),
                Err(e) => {
                    drop(_rt);
                    return Err(anyhow!("start_processing: {e}"));
                }
            }
        }
        .map_err(|e| anyhow!("process({frames} frames): {e}"))?;
        self.steady_time += u64::from(frames_u32);

        let events: Vec<OutEvent> = self.out_events.iter().map(convert_out_event).collect();
        // Every event the plugin sends lies inside the block it is sent in, in time order
        // (Ardour aborted once while recording a plugin's MIDI; CLAP requires both).
        let mut last = 0;
        for e in &events {
            let t = e.time();
            if frames > 0 && t as usize >= frames {
                bail!("output event {e:?} at sample {t}, outside the {frames}-sample block");
            }
            if t < last {
                bail!("output event {e:?} at sample {t} after one at {last}: out of order");
            }
            last = t;
        }
        drop(out_bufs);
        drop(in_bufs);
        drop(out_ptrs);
        drop(in_ptrs);
        let audio = if in_place { main_in_buf } else { main_out_buf };
        let aux = self
            .aux_out
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != main_out)
            .map(|(_, port)| port.iter().map(|c| c[..frames].to_vec()).collect())
            .collect();
        self.pump_main_thread();
        Ok(ProcessResult {
            audio,
            aux,
            events,
            status,
        })
    }

    /// Processes a whole multi-channel signal, cut into blocks of the given sizes (which must
    /// sum to the signal length). Event times are rebased to absolute sample positions.
    pub fn process_signal(
        &mut self,
        signal: &[Vec<f32>],
        block_sizes: &[usize],
        placement: Placement,
    ) -> Result<SignalResult> {
        let total = signal.first().map_or(0, Vec::len);
        if block_sizes.iter().sum::<usize>() != total {
            bail!("block sizes do not cover the signal");
        }
        let out_ch = self.main_output_channels();
        let mut result = SignalResult {
            audio: vec![Vec::with_capacity(total); out_ch],
            events: Vec::new(),
        };
        let mut pos = 0usize;
        let options = ProcessOptions {
            placement,
            events: Vec::new(),
        };
        for &n in block_sizes {
            let block: Vec<Vec<f32>> = signal.iter().map(|c| c[pos..pos + n].to_vec()).collect();
            let r = self
                .process(&block, &options)
                .with_context(|| format!("block at sample {pos} ({n} frames)"))?;
            for (dst, src) in result.audio.iter_mut().zip(r.audio) {
                dst.extend_from_slice(&src);
            }
            let offset = pos as u32;
            result.events.extend(r.events.into_iter().map(|mut e| {
                match &mut e {
                    OutEvent::NoteOn { time, .. }
                    | OutEvent::NoteOff { time, .. }
                    | OutEvent::Midi { time, .. }
                    | OutEvent::ParamValue { time, .. }
                    | OutEvent::Other { time, .. } => *time = time.saturating_add(offset),
                }
                e
            }));
            pos += n;
        }
        Ok(result)
    }
}
