//! Main-thread calls on a plugin instance: ports, parameters, latency, state and GUI.

use super::*;

impl ClapPlugin {
    // ---------------- ports ----------------

    /// Audio ports (`is_input` selects inputs or outputs). Empty if `clap.audio-ports` is absent.
    pub fn audio_ports(&mut self, is_input: bool) -> Vec<AudioPort> {
        let Some(ext) = self.ext::<PluginAudioPorts>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        (0..ext.count(&handle, is_input))
            .filter_map(|i| {
                ext.get(&handle, i, is_input, &mut buf).map(|p| AudioPort {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    channel_count: p.channel_count,
                    is_main: p.flags.contains(AudioPortFlags::IS_MAIN),
                    port_type: p.port_type.map(|t| t.0.to_string_lossy().into_owned()),
                    in_place_pair: p.in_place_pair.map(|id| id.get()),
                })
            })
            .collect()
    }

    /// Note ports. Empty if `clap.note-ports` is absent.
    pub fn note_ports(&mut self, is_input: bool) -> Vec<NotePort> {
        let Some(ext) = self.ext::<PluginNotePorts>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = NotePortInfoBuffer::new();
        (0..ext.count(&handle, is_input))
            .filter_map(|i| {
                ext.get(&handle, i, is_input, &mut buf).map(|p| NotePort {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    supports_clap: p.supported_dialects.contains(NoteDialects::CLAP),
                    supports_midi: p.supported_dialects.contains(NoteDialects::MIDI),
                })
            })
            .collect()
    }

    /// Audio-port configurations. Empty if `clap.audio-ports-config` is absent.
    pub fn audio_port_configs(&mut self) -> Vec<PortConfig> {
        let Some(ext) = self.ext::<PluginAudioPortsConfig>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortsConfigBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                ext.get(&handle, i, &mut buf).map(|c| PortConfig {
                    id: c.id.get(),
                    name: String::from_utf8_lossy(c.name).into_owned(),
                    main_input_channels: c.main_input.as_ref().map_or(0, |m| m.channel_count),
                    main_output_channels: c.main_output.as_ref().map_or(0, |m| m.channel_count),
                    input_port_count: c.input_port_count,
                    output_port_count: c.output_port_count,
                })
            })
            .collect()
    }

    /// Selects an audio-port configuration (plugin must be inactive).
    pub fn select_audio_port_config(&mut self, config_id: u32) -> Result<()> {
        if self.activation.is_some() {
            bail!("select_audio_port_config while active");
        }
        let ext = self
            .ext::<PluginAudioPortsConfig>()
            .ok_or_else(|| anyhow!("no clap.audio-ports-config"))?;
        let handle = self.instance.plugin_handle();
        ext.select(&handle, ClapId::new(config_id))
            .map_err(|_| anyhow!("select({config_id}) refused"))?;
        self.pump_main_thread();
        Ok(())
    }

    // ---------------- params ----------------

    /// All parameters. Empty if `clap.params` is absent.
    pub fn params(&mut self) -> Vec<Param> {
        let Some(ext) = self.ext::<PluginParams>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = ParamInfoBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                ext.get_info(&handle, i, &mut buf).map(|p| Param {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    module: String::from_utf8_lossy(p.module).into_owned(),
                    min: p.min_value,
                    max: p.max_value,
                    default: p.default_value,
                    is_stepped: p.flags.contains(ParamInfoFlags::IS_STEPPED),
                    is_enum: p.flags.contains(ParamInfoFlags::IS_ENUM),
                    is_hidden: p.flags.contains(ParamInfoFlags::IS_HIDDEN),
                    is_readonly: p.flags.contains(ParamInfoFlags::IS_READONLY),
                    is_bypass: p.flags.contains(ParamInfoFlags::IS_BYPASS),
                    is_automatable: p.flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
                })
            })
            .collect()
    }

    /// The parameter whose display name equals `name` (case-insensitive).
    pub fn param_by_name(&mut self, name: &str) -> Option<Param> {
        self.params()
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Current plain value of a parameter.
    pub fn param_value(&mut self, id: u32) -> Option<f64> {
        let ext = self.ext::<PluginParams>()?;
        let handle = self.instance.plugin_handle();
        ext.get_value(&handle, ClapId::new(id))
    }

    /// `value_to_text` for a plain value.
    pub fn param_value_to_text(&mut self, id: u32, value: f64) -> Option<String> {
        let ext = self.ext::<PluginParams>()?;
        let handle = self.instance.plugin_handle();
        let mut buf = [0u8; 256];
        ext.value_to_text(&handle, ClapId::new(id), value, &mut buf)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// `text_to_value`, returning a plain value.
    pub fn param_text_to_value(&mut self, id: u32, text: &str) -> Option<f64> {
        let ext = self.ext::<PluginParams>()?;
        let text = CString::new(text).ok()?;
        let handle = self.instance.plugin_handle();
        ext.text_to_value(&handle, ClapId::new(id), &text)
    }

    /// Sets parameters while the plugin is **inactive**, through `clap.params` `flush`.
    /// While active, pass the changes as [`InEvent::ParamValue`] to a process call instead
    /// (or use [`set_params`](Self::set_params), which handles both).
    pub fn flush_params(&mut self, changes: &[(u32, f64)]) -> Result<Vec<OutEvent>> {
        let ext = self
            .ext::<PluginParams>()
            .ok_or_else(|| anyhow!("no clap.params"))?;
        let events: Vec<InEvent> = changes
            .iter()
            .map(|&(id, value)| InEvent::ParamValue { time: 0, id, value })
            .collect();
        fill_input_events(&mut self.in_events, &events);
        self.out_events.clear();
        {
            let mut handle = self
                .instance
                .inactive_plugin_handle()
                .ok_or_else(|| anyhow!("flush_params: plugin is active"))?;
            let input = self.in_events.as_input();
            let mut output = self.out_events.as_output();
            ext.flush(&mut handle, &input, &mut output);
        }
        let out = self.out_events.iter().map(convert_out_event).collect();
        self.pump_main_thread();
        Ok(out)
    }

    /// Sets parameters (plain values) whether or not the plugin is active: inactive → `flush`,
    /// active → a silent one-sample process call carrying the events.
    pub fn set_params(&mut self, changes: &[(u32, f64)]) -> Result<()> {
        if self.activation.is_none() {
            self.flush_params(changes)?;
            return Ok(());
        }
        let channels = self.main_input_channels();
        let input = vec![vec![0.0f32; 1]; channels];
        let events = changes
            .iter()
            .map(|&(id, value)| InEvent::ParamValue { time: 0, id, value })
            .collect();
        self.process(
            &input,
            &ProcessOptions {
                placement: Placement::OutOfPlace,
                events,
            },
        )?;
        Ok(())
    }

    // ---------------- latency / state ----------------

    /// `clap.latency` `get`, or `None` if the extension is absent.
    pub fn latency(&mut self) -> Option<u32> {
        let ext = self.ext::<PluginLatency>()?;
        let handle = self.instance.plugin_handle();
        Some(ext.get(&handle))
    }

    /// Breaks the host contract on purpose, as some hosts do: from now on, blocks longer
    /// than the activation's `max_frames` are sent instead of refused.
    pub fn allow_oversized_blocks(&mut self) {
        self.oversized_blocks = true;
    }

    /// `clap.render`: switches between real-time and offline ("freewheeling") rendering.
    /// Returns false if the plugin lacks the extension or refuses the mode.
    pub fn set_render_offline(&mut self, offline: bool) -> bool {
        use clack_extensions::render::{PluginRender, RenderMode};
        let Some(ext) = self.ext::<PluginRender>() else {
            return false;
        };
        let handle = self.instance.plugin_handle();
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        ext.set(&handle, mode).is_ok()
    }

    /// `clap.state` `save` into a byte vector.
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.save_state_into(&mut out)?;
        Ok(out)
    }

    /// `clap.state` `save` into any writer (use [`ChunkedWriter`] to test short writes).
    pub fn save_state_into<W: Write>(&mut self, writer: &mut W) -> Result<()> {
        let ext = self
            .ext::<PluginState>()
            .ok_or_else(|| anyhow!("no clap.state"))?;
        let handle = self.instance.plugin_handle();
        ext.save(&handle, writer)
            .map_err(|e| anyhow!("state save failed: {e:?}"))?;
        self.pump_main_thread();
        Ok(())
    }

    /// `clap.state` `load` from a byte slice.
    pub fn load_state(&mut self, data: &[u8]) -> Result<()> {
        let mut reader = data;
        self.load_state_from(&mut reader)
    }

    /// `clap.state` `load` from any reader (use [`ChunkedReader`] to test short reads).
    pub fn load_state_from<R: Read>(&mut self, reader: &mut R) -> Result<()> {
        let ext = self
            .ext::<PluginState>()
            .ok_or_else(|| anyhow!("no clap.state"))?;
        let handle = self.instance.plugin_handle();
        let res = ext.load(&handle, reader);
        self.pump_main_thread();
        res.map_err(|e| anyhow!("state load failed: {e:?}"))
    }

    // ---------------- GUI ----------------

    /// `clap.gui`, if the plugin offers it.
    pub fn gui(&mut self) -> Option<PluginGui> {
        self.ext::<PluginGui>()
    }

    /// `is_api_supported(x11, floating)`.
    pub fn gui_x11_supported(&mut self, floating: bool) -> bool {
        let Some(gui) = self.gui() else { return false };
        let handle = self.instance.plugin_handle();
        gui.is_api_supported(
            &handle,
            GuiConfiguration {
                api_type: GuiApiType::X11,
                is_floating: floating,
            },
        )
    }

    /// Creates an embedded X11 editor, parents it to `parent_window` (an X11 window id), and
    /// shows it. Returns the editor's reported size.
    ///
    /// # Safety
    /// `parent_window` must be a live X11 window on the display the plugin will connect to
    /// (`DISPLAY`), and it must outlive the editor (call [`gui_close`](Self::gui_close) first).
    pub unsafe fn gui_open_embedded_x11(&mut self, parent_window: u64) -> Result<Option<GuiSize>> {
        let gui = self.gui().ok_or_else(|| anyhow!("no clap.gui"))?;
        let handle = self.instance.plugin_handle();
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        if !gui.is_api_supported(&handle, config) {
            bail!("plugin does not support embedded X11 GUIs");
        }
        gui.create(&handle, config)
            .map_err(|e| anyhow!("gui create: {e}"))?;
        let _ = gui.set_scale(&handle, 1.0);
        let size = gui.get_size(&handle);
        // SAFETY: upheld by the caller.
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent_window as _)) }
            .map_err(|e| anyhow!("gui set_parent: {e}"))?;
        gui.show(&handle).map_err(|e| anyhow!("gui show: {e}"))?;
        self.pump_main_thread();
        Ok(size)
    }

    /// Hides and destroys the editor.
    pub fn gui_close(&mut self) -> Result<()> {
        let gui = self.gui().ok_or_else(|| anyhow!("no clap.gui"))?;
        let handle = self.instance.plugin_handle();
        let _ = gui.hide(&handle);
        gui.destroy(&handle);
        self.pump_main_thread();
        Ok(())
    }
}
