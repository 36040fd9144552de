//! A private X server (Xvfb) for editor tests, plus child-process and screenshot helpers.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `Xvfb :N`; killed (by its own pid) on drop.
pub struct Xvfb {
    display: u32,
    child: Child,
}

impl Xvfb {
    /// Starts Xvfb on the first free display at or above a pseudo-random base in 97..=596,
    /// and waits (up to 10 s) for its socket. Requires `Xvfb` on `PATH`.
    pub fn start() -> Result<Self> {
        require_tool("Xvfb", "apt-get install xvfb")?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let base = 97 + (nanos ^ std::process::id()) % 500;
        let mut last_err = None;
        for display in (base..base + 50).filter(|d| !display_in_use(*d)) {
            match Self::start_on(display) {
                Ok(x) => return Ok(x),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no free X display found")))
    }

    fn start_on(display: u32) -> Result<Self> {
        let log = std::env::temp_dir().join(format!("prism-xvfb-{display}.log"));
        let log_file = std::fs::File::create(&log).context("creating Xvfb log")?;
        let mut cmd = Command::new("Xvfb");
        die_with_parent(&mut cmd);
        let mut child = cmd
            .arg(format!(":{display}"))
            .args([
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
                "-ac",
                "-noreset",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("spawning Xvfb")?;
        let socket = socket_path(display);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("Xvfb :{display} exited early ({status}): {text}");
            }
            if socket.exists() {
                // Give the server a moment to accept connections.
                std::thread::sleep(Duration::from_millis(200));
                return Ok(Self { display, child });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "Xvfb :{display} did not create {} within 10 s",
            socket.display()
        )
    }

    /// `Ok(())` while the server runs; an error with its exit status and log once it died.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                let log = std::env::temp_dir().join(format!("prism-xvfb-{}.log", self.display));
                let text = std::fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "Xvfb :{} has exited ({status}); its log:\n{text}",
                    self.display
                )
            }
        }
    }

    /// The display number.
    pub fn display_number(&self) -> u32 {
        self.display
    }

    /// The `DISPLAY` value (`:N`).
    pub fn display(&self) -> String {
        format!(":{}", self.display)
    }

    /// A command with `DISPLAY` set to this server.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", self.display());
        c
    }

    /// Runs a command against this display and returns its output (error on failure to spawn).
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {program}"))
    }

    /// Polls `xdotool search --onlyvisible --name <name>` until a window appears; returns the
    /// window ids found (empty on timeout).
    pub fn wait_for_window(&self, name: &str, timeout: Duration) -> Result<Vec<String>> {
        require_tool("xdotool", "apt-get install xdotool")?;
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run("xdotool", &["search", "--onlyvisible", "--name", name])?;
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() || Instant::now() >= deadline {
                return Ok(ids);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Screenshot of the whole root window into `png` (imagemagick `import`).
    pub fn screenshot_root(&self, png: &Path) -> Result<()> {
        require_tool("import", "apt-get install imagemagick")?;
        if let Some(dir) = png.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let png_str = png.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let out = self.run("import", &["-window", "root", png_str])?;
        if !out.status.success() || !png.exists() {
            bail!(
                "import -window root failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_path(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{display}"))
}

fn display_in_use(display: u32) -> bool {
    socket_path(display).exists() || Path::new(&format!("/tmp/.X{display}-lock")).exists()
}

/// Linux: the child gets SIGKILL when the thread that spawned it exits, so a crashing test
/// process leaves no X server or standalone behind. No-op elsewhere.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        extern "C" {
            fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
        }
        const PR_SET_PDEATHSIG: i32 = 1;
        const SIGKILL: u64 = 9;
        // SAFETY: prctl is async-signal-safe and touches only the child's own settings.
        unsafe {
            cmd.pre_exec(|| {
                prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// `Ok` if `tool` is on `PATH`, else an error naming the package to install.
pub fn require_tool(tool: &str, install_hint: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        bail!("`{tool}` not found on PATH (install it: {install_hint})")
    }
}

/// A child process killed (by its own pid) and reaped on drop.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// `Some(status)` if the child has exited.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.0.try_wait()?)
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Simple statistics of an image, from imagemagick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageStats {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of unique colours (`%k`).
    pub unique_colors: u64,
    /// Normalised standard deviation over all channels (0..1).
    pub std_dev: f64,
}

/// Unique colours and standard deviation of an image (`identify -format "%w %h %k
/// %[fx:standard_deviation]"`). Optionally cropped to `WxH+X+Y` first.
pub fn image_stats(png: &Path, crop: Option<&str>) -> Result<ImageStats> {
    require_tool("convert", "apt-get install imagemagick")?;
    let path = png.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
    let mut cmd = Command::new("convert");
    cmd.arg(path);
    if let Some(c) = crop {
        cmd.args(["-crop", c, "+repage"]);
    }
    cmd.args(["-format", "%w %h %k %[fx:standard_deviation]", "info:"]);
    let out = cmd.output().context("running convert")?;
    if !out.status.success() {
        bail!("convert failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() < 4 {
        bail!("unexpected convert output: {text:?}");
    }
    Ok(ImageStats {
        width: parts[0].parse()?,
        height: parts[1].parse()?,
        unique_colors: parts[2].parse()?,
        std_dev: parts[3].parse()?,
    })
}

/// A plain top-level X11 window owned by the test, to embed a plugin editor in
/// (`clap.gui` with the `x11` API). Destroyed on drop.
pub struct X11ParentWindow {
    conn: x11rb::rust_connection::RustConnection,
    window: u32,
}

impl X11ParentWindow {
    /// Creates and maps a `width`×`height` window at (`x`, `y`) on `display` (e.g. `:97`).
    pub fn create(
        display: &str,
        (x, y): (i16, i16),
        (width, height): (u16, u16),
        title: &str,
    ) -> Result<Self> {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::{
            AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode, WindowClass,
        };
        use x11rb::wrapper::ConnectionExt as _;

        let (conn, screen_num) =
            x11rb::connect(Some(display)).map_err(|e| anyhow!("connecting to X {display}: {e}"))?;
        let screen = &conn.setup().roots[screen_num];
        let window = conn.generate_id()?;
        let aux = CreateWindowAux::new()
            .background_pixel(screen.black_pixel)
            .event_mask(EventMask::STRUCTURE_NOTIFY | EventMask::EXPOSURE);
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            screen.root,
            x,
            y,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )?
        .check()
        .context("create_window")?;
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )?;
        conn.map_window(window)?.check().context("map_window")?;
        conn.flush()?;
        Ok(Self { conn, window })
    }

    /// The X11 window id (what `clap_window.x11` carries).
    pub fn id(&self) -> u32 {
        self.window
    }

    /// Reads and discards pending events (keeps the connection's queue short).
    pub fn drain_events(&self) {
        use x11rb::connection::Connection;
        while let Ok(Some(_)) = self.conn.poll_for_event() {}
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::{ConfigureWindowAux, ConnectionExt as _};
        self.conn.configure_window(
            self.window,
            &ConfigureWindowAux::new().width(width).height(height),
        )?;
        self.conn.flush()?;
        Ok(())
    }
}

impl Drop for X11ParentWindow {
    fn drop(&mut self) {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::ConnectionExt as _;
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}

/// Geometry of a window, from `xdotool getwindowgeometry --shell`.
pub fn window_geometry(xvfb: &Xvfb, window_id: &str) -> Result<(i32, i32, u32, u32)> {
    let out = xvfb.run("xdotool", &["getwindowgeometry", "--shell", window_id])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| -> Result<i64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .ok_or_else(|| anyhow!("no {key} in {text:?}"))?
            .trim()
            .parse::<i64>()
            .map_err(|e| anyhow!("{key}: {e}"))
    };
    Ok((
        get("X")? as i32,
        get("Y")? as i32,
        get("WIDTH")? as u32,
        get("HEIGHT")? as u32,
    ))
}
